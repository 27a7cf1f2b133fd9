"""The fully connected generator and discriminator of the original GAN paper.

Goodfellow et al. 2014 ("Generative Adversarial Nets", Sec. 5) used a ReLU/sigmoid MLP generator
and a maxout discriminator with dropout on MNIST. We keep the shape of that design (noise -> MLP
-> 784 pixels; pixels -> MLP -> one logit, with dropout in D) with the now-standard LeakyReLU and a
tanh output in [-1, 1], which trains reliably with Adam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class MLPConfig:
    """Widths of the MLP pair. ``image_shape`` is (C, H, W) of the data."""

    image_shape: tuple[int, int, int] = (1, 28, 28)
    z_dim: int = 100
    g_hidden: tuple[int, ...] = (256, 512, 1024)
    d_hidden: tuple[int, ...] = (512, 256)
    d_dropout: float = 0.3
    g_batchnorm: bool = False
    """BatchNorm after each hidden layer of G (not in the 2014 paper; speeds up learning)."""


def _stack(widths: list[int], dropout: float = 0.0, batchnorm: bool = False) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for w_in, w_out in zip(widths[:-1], widths[1:]):
        layers.append(nn.Linear(w_in, w_out, bias=not batchnorm))
        if batchnorm:
            layers.append(nn.BatchNorm1d(w_out))
        layers.append(nn.LeakyReLU(0.2))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return layers


class MLPGenerator(nn.Module):
    """z (B, z_dim) -> image (B, C, H, W) in [-1, 1]."""

    def __init__(self, cfg: MLPConfig):
        super().__init__()
        self.cfg = cfg
        n_out = math.prod(cfg.image_shape)
        self.net = nn.Sequential(
            *_stack([cfg.z_dim, *cfg.g_hidden], batchnorm=cfg.g_batchnorm),
            nn.Linear(cfg.g_hidden[-1], n_out),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.cfg.image_shape)  # (B, C, H, W)


class MLPDiscriminator(nn.Module):
    """image (B, C, H, W) -> logit (B,); D(x) = sigmoid(logit)."""

    def __init__(self, cfg: MLPConfig):
        super().__init__()
        self.cfg = cfg
        n_in = math.prod(cfg.image_shape)
        self.net = nn.Sequential(
            *_stack([n_in, *cfg.d_hidden], dropout=cfg.d_dropout),
            nn.Linear(cfg.d_hidden[-1], 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)  # (B,)
