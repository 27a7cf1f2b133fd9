"""DCGAN (Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks").

G projects z onto a small feature map (4×4, or 7×7 for 28 px images), then each stride-2
transposed convolution (kernel 4, stride 2, padding 1) doubles the resolution while halving the
width, with BatchNorm + ReLU between and tanh at the output. The transposed convolution is the
whole story here: all information is in the noise, and a learned upsampling kernel raises the
resolution step by step. D mirrors it with stride-2 convolutions and LeakyReLU(0.2), then one
linear layer to a logit.

D has no BatchNorm by default (``d_batchnorm``): BatchNorm makes each image's logit depend on
the rest of its batch, which breaks per-sample gradient penalties (WGAN-GP, R1) and lets D tell
real from fake batches by their statistics; spectral normalization (``sn``) is the better
regularizer for D.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import (MinibatchStd, add_spectral_norm, cut_latent, generator_embedding, labels_for, num_upsamplings,
                     pack_samples, project, projection_embedding, with_class)
from .configs import BASE_SIZE, DCGANConfig, generator_input_width


class DCGANGenerator(nn.Module):
    """z (B, z_dim), y (B,) or None -> image (B, C, H, W) in [-1, 1]."""

    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        self.cfg = cfg
        c, side = cfg.image_shape[0], cfg.image_shape[1]
        n = num_upsamplings(side)
        widths = [cfg.g_channels * 2 ** i for i in reversed(range(n))]  # e.g. 256, 128, 64 for 32 px
        self.embed = generator_embedding(cfg)
        n_in = generator_input_width(cfg)
        # (B, n_in, 1, 1) -> (B, widths[0], base, base): a linear projection written as a convolution.
        layers: list[nn.Module] = [nn.ConvTranspose2d(n_in, widths[0], BASE_SIZE[side], bias=False),
                                   nn.BatchNorm2d(widths[0]), nn.ReLU(), *_refine(widths[0], cfg.g_extra)]
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.ReLU(),
                       *_refine(w_out, cfg.g_extra)]
        layers += [nn.ConvTranspose2d(widths[-1], c, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        z = with_class(cut_latent(z, self.cfg.z_categories), y, self.embed, self.cfg.num_classes)
        return self.net(z[:, :, None, None])


def _refine(width: int, n: int) -> list[nn.Module]:
    """``n`` shape-preserving 3x3 convolutions, each followed by BatchNorm and ReLU (``--g-extra``)."""
    out: list[nn.Module] = []
    for _ in range(n):
        out += [nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    return out


class DCGANDiscriminator(nn.Module):
    """image (B, C, H, W), y (B,) or None -> logit (B,)."""

    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        self.cfg = cfg
        c, side = cfg.image_shape[0], cfg.image_shape[1]
        n = num_upsamplings(side)
        widths = [c * cfg.pack] + [cfg.d_channels * 2 ** i for i in range(n)]
        layers: list[nn.Module] = []
        for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:])):
            bn = cfg.d_batchnorm and i > 0  # never on the input layer (Radford et al.)
            layers.append(nn.Conv2d(w_in, w_out, 4, 2, 1, bias=not bn))
            if bn:
                layers.append(nn.BatchNorm2d(w_out))
            layers.append(nn.LeakyReLU(0.2))
            for _ in range(cfg.d_extra):  # --d-extra: shape-preserving 3x3 convolutions at this resolution
                layers += [nn.Conv2d(w_out, w_out, 3, 1, 1), nn.LeakyReLU(0.2)]
        if cfg.mbstd:
            layers.append(MinibatchStd(cfg.mbstd))
        self.features = nn.Sequential(*layers, nn.Flatten())  # phi(x): (B, (widths[-1] [+ 1]) * base * base)
        n_features = (widths[-1] + (1 if cfg.mbstd else 0)) * BASE_SIZE[side] ** 2
        self.fc = nn.Linear(n_features, 1)
        self.embed = projection_embedding(cfg.num_classes, n_features)
        if cfg.sn:
            add_spectral_norm(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        y = labels_for(y, self.cfg.num_classes)
        h = self.features(pack_samples(x, self.cfg.pack))
        return project(self.fc(h).squeeze(1), h, y, self.embed)
