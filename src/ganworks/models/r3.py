"""R3GAN's simple modern ResNet (Huang et al. 2024, "The GAN is dead; long live the GAN! A Modern GAN
Baseline", NeurIPS): residual blocks that are inverted bottlenecks with a grouped 3×3
convolution, leaky ReLU, and no normalization of any kind.

Block: 1×1 conv (ch -> expansion·ch), leaky ReLU, grouped 3×3 conv (``group_size`` channels per
group), leaky ReLU, 1×1 conv back to ch, added to the input. Without normalization the residual
sum would grow with depth, so the branch's last convolution starts at zero and the other two are
scaled by L^(-1/4) for L blocks (Fixup, Zhang et al. 2019, which the paper adopts): every block starts
as the identity.

G: z -> a learned base×base feature map ("basis") scaled per channel by a linear map of z, then
``blocks`` residual blocks per resolution with bilinear ×2 upsampling between resolutions, and a
1×1 conv to the image (tanh: every ganworks G outputs [-1, 1]). D mirrors it: a 1×1 conv from the
image, blocks and 2×2 average-pool downsampling, then a depthwise base×base convolution over the
last map (one feature per channel) and a linear logit. Every resolution keeps the same width
(``g_channels``, ``d_channels``). Base map by image side: 28 -> 7×7, 32 and 64 -> 4×4.

Conditional (``num_classes > 0``): G concatenates a class embedding to z; D is a projection
discriminator on its features (Miyato & Koyama 2018).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import (add_spectral_norm, generator_embedding, labels_for, num_upsamplings, pack_samples, project,
                     projection_embedding, with_class)
from .configs import BASE_SIZE, R3Config, generator_input_width

SLOPE = 0.2  # leaky ReLU's negative slope


class Block(nn.Module):
    """x + conv1x1(lrelu(grouped conv3x3(lrelu(conv1x1(x))))): (B, ch, H, W) -> (B, ch, H, W)."""

    def __init__(self, ch: int, expansion: int, group_size: int, num_blocks: int):
        super().__init__()
        hidden = ch * expansion
        self.expand = nn.Conv2d(ch, hidden, 1)
        self.conv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden // group_size)
        self.project = nn.Conv2d(hidden, ch, 1, bias=False)
        with torch.no_grad():  # Fixup: the branch starts at 0, its inner layers scaled by L^(-1/4)
            self.expand.weight.mul_(num_blocks ** -0.25)
            self.conv.weight.mul_(num_blocks ** -0.25)
            self.project.weight.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.expand(x), SLOPE)
        h = F.leaky_relu(self.conv(h), SLOPE)
        return x + self.project(h)


def _stages(cfg: R3Config, ch: int, side: int) -> nn.ModuleList:
    """One run of ``cfg.blocks`` blocks per resolution, from the base map to the image or back."""
    n = num_upsamplings(side) + 1
    return nn.ModuleList(nn.Sequential(*(Block(ch, cfg.expansion, cfg.group_size, n * cfg.blocks)
                                         for _ in range(cfg.blocks))) for _ in range(n))


class R3Generator(nn.Module):
    """z (B, z_dim), y (B,) or None -> image (B, C, H, W) in [-1, 1]."""

    def __init__(self, cfg: R3Config):
        super().__init__()
        self.cfg = cfg
        c, side = cfg.image_shape[0], cfg.image_shape[1]
        ch, self.base = cfg.g_channels, BASE_SIZE[side]
        self.embed = generator_embedding(cfg)
        z_in = generator_input_width(cfg)
        self.basis = nn.Parameter(torch.randn(1, ch, self.base, self.base))
        self.fc = nn.Linear(z_in, ch)
        self.stages = _stages(cfg, ch, side)
        self.out = nn.Conv2d(ch, c, 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        code = with_class(z, y, self.embed, self.cfg.num_classes)
        h = self.basis * self.fc(code)[:, :, None, None]  # (B, ch, base, base)
        for i, stage in enumerate(self.stages):
            if i:
                h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
            h = stage(h)
        return torch.tanh(self.out(h))


class R3Discriminator(nn.Module):
    """image (B, C, H, W), y (B,) or None -> logit (B,)."""

    def __init__(self, cfg: R3Config):
        super().__init__()
        self.cfg = cfg
        c, side = cfg.image_shape[0], cfg.image_shape[1]
        ch, base = cfg.d_channels, BASE_SIZE[side]
        self.inp = nn.Conv2d(c * cfg.pack, ch, 1)
        self.stages = _stages(cfg, ch, side)
        self.basis = nn.Conv2d(ch, ch, base, groups=ch)  # depthwise over the whole base map: (B, ch, 1, 1)
        self.fc = nn.Linear(ch, 1)
        self.embed = projection_embedding(cfg.num_classes, ch)
        if cfg.sn:
            add_spectral_norm(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        y = labels_for(y, self.cfg.num_classes)
        h = self.inp(pack_samples(x, self.cfg.pack))
        for i, stage in enumerate(self.stages):
            if i:
                h = F.avg_pool2d(h, 2)
            h = stage(h)
        h = self.basis(F.leaky_relu(h, SLOPE)).flatten(1)  # phi(x), (B / pack, ch)
        return project(self.fc(h).squeeze(1), h, y, self.embed)
