"""Residual GAN networks after the CIFAR-10 ResNets of Gulrajani et al. 2017 ("Improved Training
of Wasserstein GANs") and Miyato et al. 2018 ("Spectral Normalization for GANs").

G: linear z -> (ch, base, base), residual up-blocks (BN-ReLU-upsample-conv3-BN-ReLU-conv3, with an
upsample + 1×1 conv shortcut), then BN-ReLU-conv3-tanh. D: residual down-blocks (ReLU-conv3-
ReLU-conv3-avgpool, 1×1 conv + avgpool shortcut; the first block has no leading ReLU), ReLU,
global sum pooling and a linear logit. Every block keeps the same width (``g_channels``,
``d_channels``). Base map and block count by image side: 28 -> 7×7, 2 blocks; 32 -> 4×4, 3; 64 -> 4×4, 4.

Conditional (``num_classes > 0``): G uses class-conditional BatchNorm (a per-class scale and
shift) and D is a projection discriminator on the pooled features (Miyato & Koyama 2018).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import (ClassBatchNorm2d, add_spectral_norm, labels_for, num_upsamplings, pack_samples,
                     project, projection_embedding)
from .configs import BASE_SIZE, ResNetConfig


class UpBlock(nn.Module):
    # Convolutions feed BatchNorm (directly or through the residual sum), so they need no bias.
    def __init__(self, ch_in: int, ch_out: int, num_classes: int):
        super().__init__()
        self.bn1 = ClassBatchNorm2d(ch_in, num_classes)
        self.conv1 = nn.Conv2d(ch_in, ch_out, 3, padding=1, bias=False)
        self.bn2 = ClassBatchNorm2d(ch_out, num_classes)
        self.conv2 = nn.Conv2d(ch_out, ch_out, 3, padding=1, bias=False)
        self.shortcut = nn.Conv2d(ch_in, ch_out, 1, bias=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DownBlock(nn.Module):
    def __init__(self, ch_in: int, ch_out: int, first: bool):
        super().__init__()
        self.first = first  # the "optimized" input block: no ReLU on the image itself
        self.conv1 = nn.Conv2d(ch_in, ch_out, 3, padding=1)
        self.conv2 = nn.Conv2d(ch_out, ch_out, 3, padding=1)
        self.shortcut = nn.Conv2d(ch_in, ch_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x if self.first else F.relu(x))
        h = F.avg_pool2d(self.conv2(F.relu(h)), 2)
        return h + F.avg_pool2d(self.shortcut(x), 2)


class ResNetGenerator(nn.Module):
    """z (B, z_dim), y (B,) or None -> image (B, C, H, W) in [-1, 1]."""

    def __init__(self, cfg: ResNetConfig):
        super().__init__()
        self.cfg = cfg
        c, side = cfg.image_shape[0], cfg.image_shape[1]
        ch, self.base = cfg.g_channels, BASE_SIZE[side]
        self.fc = nn.Linear(cfg.z_dim, ch * self.base ** 2, bias=False)
        self.blocks = nn.ModuleList(UpBlock(ch, ch, cfg.num_classes) for _ in range(num_upsamplings(side)))
        self.bn = nn.BatchNorm2d(ch)
        self.out = nn.Conv2d(ch, c, 3, padding=1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        y = labels_for(y, self.cfg.num_classes)
        h = self.fc(z).view(z.shape[0], -1, self.base, self.base)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.out(F.relu(self.bn(h))))


class ResNetDiscriminator(nn.Module):
    """image (B, C, H, W), y (B,) or None -> logit (B,)."""

    def __init__(self, cfg: ResNetConfig):
        super().__init__()
        self.cfg = cfg
        c, side = cfg.image_shape[0], cfg.image_shape[1]
        ch = cfg.d_channels
        self.blocks = nn.Sequential(*(DownBlock(c * cfg.pack if i == 0 else ch, ch, first=i == 0)
                                      for i in range(num_upsamplings(side))))
        self.fc = nn.Linear(ch, 1)
        self.embed = projection_embedding(cfg.num_classes, ch)
        if cfg.sn:
            add_spectral_norm(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        y = labels_for(y, self.cfg.num_classes)
        h = F.relu(self.blocks(pack_samples(x, self.cfg.pack))).sum(dim=(2, 3))  # phi(x): sum pooling, (B / pack, ch)
        return project(self.fc(h).squeeze(1), h, y, self.embed)
