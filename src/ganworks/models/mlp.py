"""The fully connected generator and discriminator of the original GAN paper.

Goodfellow et al. 2014 ("Generative Adversarial Nets", Sec. 5) used a ReLU/sigmoid MLP generator
and a maxout discriminator with dropout on MNIST. We keep the shape of that design (noise -> MLP
-> 784 pixels; pixels -> MLP -> one logit, with dropout in D) with the now-standard LeakyReLU and a
tanh output in [-1, 1], which trains reliably with Adam.

Conditional (``num_classes > 0``): G concatenates a learned class embedding (z_dim wide) to z;
D is a projection discriminator on its last hidden layer. ``sn`` puts spectral normalization on D.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .common import (add_spectral_norm, cut_latent, generator_embedding, labels_for, pack_samples, project,
                     projection_embedding, with_class)
from .configs import MLPConfig, generator_input_width


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
    """z (B, z_dim), y (B,) or None -> image (B, C, H, W) in [-1, 1]."""

    def __init__(self, cfg: MLPConfig):
        super().__init__()
        self.cfg = cfg
        n_out = math.prod(cfg.image_shape)
        self.embed = generator_embedding(cfg)
        n_in = generator_input_width(cfg)
        self.net = nn.Sequential(
            *_stack([n_in, *cfg.g_hidden], batchnorm=cfg.g_batchnorm),
            nn.Linear(cfg.g_hidden[-1], n_out),
            nn.Tanh() if cfg.output == "tanh" else nn.Identity(),
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        z = with_class(self.cut_latent(z), y, self.embed, self.cfg.num_classes)
        return self.net(z).view(z.shape[0], *self.cfg.image_shape)  # (B, C, H, W)

    def cut_latent(self, z: torch.Tensor) -> torch.Tensor:
        """(B, z_dim) -> (B, z_dim - 1 + K): the last coordinate replaced by its bin, one-hot."""
        return cut_latent(z, self.cfg.z_categories)


class MLPDiscriminator(nn.Module):
    """image (B, C, H, W), y (B,) or None -> logit (B / pack,); D(x) = sigmoid(logit)."""

    def __init__(self, cfg: MLPConfig):
        super().__init__()
        self.cfg = cfg
        n_in = math.prod(cfg.image_shape) * cfg.pack
        self.net = nn.Sequential(
            *_stack([n_in, *cfg.d_hidden], dropout=cfg.d_dropout),
            nn.Linear(cfg.d_hidden[-1], 1),
        )
        self.embed = projection_embedding(cfg.num_classes, cfg.d_hidden[-1])
        if cfg.sn:
            add_spectral_norm(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        y = labels_for(y, self.cfg.num_classes)
        h = self.net[:-1](pack_samples(x, self.cfg.pack).flatten(1))  # phi(x): (B / pack, d_hidden[-1])
        return project(self.net[-1](h).squeeze(1), h, y, self.embed)  # (B,)
