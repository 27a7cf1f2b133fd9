"""Pieces every architecture shares: class conditioning and spectral normalization.

The common interface: a generator is ``G(z, y=None) -> (B, C, H, W)`` in [-1, 1] and a
discriminator is ``D(x, y=None) -> (B,)`` logits. With ``num_classes == 0`` the labels ``y``
are ignored; with ``num_classes > 0`` they are required (int64, shape (B,)).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .configs import BASE_SIZE  # noqa: F401  (image sides the convolutional models build for)
from .configs import generator_embeds


def num_upsamplings(side: int) -> int:
    """How many ×2 steps lead from G's first feature map to a ``side``-pixel image (28: 2, 32: 3, 64: 4)."""
    return (side // BASE_SIZE[side]).bit_length() - 1


def labels_for(y: torch.Tensor | None, num_classes: int) -> torch.Tensor | None:
    """``y`` when the model is conditional (then it must be given), else None."""
    if num_classes == 0:
        return None
    if y is None:
        raise ValueError(f"this model is class-conditional ({num_classes} classes): pass labels y, int64 of shape (B,)")
    return y


def generator_embedding(cfg) -> nn.Embedding | None:
    """The learned class code (``--class-code embedding``, z_dim wide) that a conditional G concatenates to
    z; None when G is unconditional or sees its class one-hot."""
    return nn.Embedding(cfg.num_classes, cfg.z_dim) if generator_embeds(cfg) else None


def with_class(z: torch.Tensor, y: torch.Tensor | None, embed: nn.Embedding | None, num_classes: int) -> torch.Tensor:
    """[z, code of y] for a conditional G (its learned embedding, else its class one-hot), z itself otherwise
    (``y`` is then ignored; a conditional G must be given it: :func:`labels_for`)."""
    y = labels_for(y, num_classes)
    if y is None:
        return z
    code = embed(y) if embed is not None else nn.functional.one_hot(y, num_classes).to(z.dtype)
    return torch.cat([z, code], dim=1)


def cut_latent(z: torch.Tensor, k: int) -> torch.Tensor:
    """(B, z_dim) -> (B, z_dim - 1 + k): the last coordinate replaced by its bin of k equally likely ones
    (by its normal CDF), one-hot; z itself when k is 0 (``--z-categories``, Khayatkhoei et al. 2018)."""
    if not k:
        return z
    u = torch.special.ndtr(z[:, -1].float())  # uniform on (0, 1)
    bins = (u * k).long().clamp_(0, k - 1)
    return torch.cat([z[:, :-1], nn.functional.one_hot(bins, k).to(z.dtype)], dim=1)


def projection_embedding(num_classes: int, features: int) -> nn.Embedding | None:
    """The class embedding of a projection discriminator (Miyato & Koyama 2018), None if unconditional."""
    if not num_classes:
        return None
    embed = nn.Embedding(num_classes, features)
    nn.init.xavier_uniform_(embed.weight)  # N(0, 1) would make <embed(y), phi(x)> huge for wide features
    return embed


def project(logit: torch.Tensor, h: torch.Tensor, y: torch.Tensor | None, embed: nn.Embedding | None) -> torch.Tensor:
    """Projection discriminator: logit = psi(phi(x)) + <embed(y), phi(x)>; ``logit`` is psi(h) as (B,)."""
    return logit if embed is None else logit + (embed(y) * h).sum(dim=1)


class MinibatchStd(nn.Module):
    """Minibatch standard deviation (Karras et al. 2018, "Progressive Growing of GANs"), (B, C, H, W) ->
    (B, C + 1, H, W): the inputs are split into groups of ``group`` (the largest divisor of B that is at
    most ``group``; consecutive samples, all real or all generated as D's steps call it), the standard
    deviation of each feature over its group is averaged into one number per group, and every member
    gets that number as an extra channel. A G whose samples vary less than real data shows it here."""

    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        g = max(d for d in range(1, min(self.group, b) + 1) if b % d == 0)
        y = x.float().reshape(b // g, g, c, h, w)  # group i holds samples i*g .. i*g+g-1
        # (y - mean)^2 written out: torch's var over dim 1 of this (channels_last) view took 7 ms per call on a
        # 64x96x7x7 batch on CPU; the elementwise form takes about 1.3 ms, forward and backward.
        centred = y - y.mean(dim=1, keepdim=True)
        spread = (centred.square().mean(dim=1) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (B / g,)
        channel = spread.repeat_interleave(g).to(x.dtype).reshape(b, 1, 1, 1).expand(b, 1, h, w)
        return torch.cat([x, channel], dim=1)


def pack_samples(x: torch.Tensor, pack: int) -> torch.Tensor:
    """PacGAN packing (Lin et al. 2018): (B, C, H, W) -> (B / pack, pack * C, H, W).

    Each group of ``pack`` consecutive samples is concatenated along the channels, so D judges
    them jointly and gives one logit per group: a generator that keeps producing the same few
    points makes groups that look unlike groups of real data, which D can see. All samples of a
    group come from the same side (all real or all generated), as in the paper.
    """
    if pack == 1:
        return x
    if x.shape[0] % pack:
        raise ValueError(f"this discriminator judges packs of {pack} samples (--pack {pack}); "
                         f"got a batch of {x.shape[0]}, which is not a multiple of {pack}")
    return x.reshape(x.shape[0] // pack, pack * x.shape[1], *x.shape[2:])


def add_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalization (Miyato et al. 2018) on every conv, linear and embedding layer of ``module``.

    Each weight is divided by an estimate of its largest singular value, refreshed by one power
    iteration per forward pass in train mode, so every layer is (about) 1-Lipschitz.
    """
    for m in list(module.modules()):
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
            spectral_norm(m)
    return module


class ClassBatchNorm2d(nn.Module):
    """BatchNorm2d; with ``num_classes > 0`` its scale and shift are looked up per class
    (conditional batch normalization, de Vries et al. 2017; used by Miyato & Koyama 2018)."""

    def __init__(self, channels: int, num_classes: int = 0):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=num_classes == 0)
        if num_classes:
            self.gain = nn.Embedding(num_classes, channels)
            self.bias = nn.Embedding(num_classes, channels)
            nn.init.ones_(self.gain.weight)
            nn.init.zeros_(self.bias.weight)
        else:
            self.gain = self.bias = None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = self.bn(x)
        if self.gain is None:
            return x
        return x * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]
