"""Turning noise into data: sampling and latent interpolation."""

from __future__ import annotations

import torch
from torch import nn

from .images import to_uint8


def latents(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """n standard-normal latent vectors, a pure function of (n, z_dim, seed)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, z_dim, generator=g)


@torch.no_grad()
def generate(G: nn.Module, z: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """G(z) as uint8 images (N, C, H, W), in batches; the result does not depend on batch_size."""
    device = next(G.parameters()).device
    out = [to_uint8(G(zb.to(device))).cpu() for zb in z.split(batch_size)]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.uint8)


def sample(G: nn.Module, n: int, seed: int = 0, batch_size: int = 256) -> torch.Tensor:
    """n samples from G as uint8 images (N, C, H, W), reproducible from ``seed``."""
    was_training = G.training
    G.eval()
    try:
        return generate(G, latents(n, G.cfg.z_dim, seed), batch_size)
    finally:
        G.train(was_training)


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of z0 and z1 at fractions t (Shoemake 1985).

    Gaussian latents concentrate near a sphere of radius sqrt(d); slerp stays near it, where
    linear interpolation passes through the low-norm interior the generator rarely saw
    (White 2016, "Sampling Generative Networks").
    """
    z0n, z1n = z0 / z0.norm(dim=-1, keepdim=True), z1 / z1.norm(dim=-1, keepdim=True)
    omega = torch.arccos((z0n * z1n).sum(-1).clamp(-1.0, 1.0)).unsqueeze(-1)  # (R, 1)
    so = torch.sin(omega)
    t = t.view(1, -1, 1)  # (1, K, 1)
    omega, so = omega.unsqueeze(1), so.unsqueeze(1)  # (R, 1, 1)
    z0, z1 = z0.unsqueeze(1), z1.unsqueeze(1)
    sph = (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / so.clamp_min(1e-12)
    lin = (1 - t) * z0 + t * z1
    return torch.where(so < 1e-6, lin, sph)  # (R, K, d); nearly parallel endpoints: lerp


def interpolation_latents(z_dim: int, rows: int, steps: int, seed: int = 0, spherical: bool = False) -> torch.Tensor:
    """(rows, steps, z_dim): each row walks from one random latent to another."""
    ends = latents(2 * rows, z_dim, seed)
    z0, z1 = ends[:rows], ends[rows:]
    t = torch.linspace(0.0, 1.0, steps)
    if spherical:
        return slerp(z0, z1, t)
    return (1 - t.view(1, -1, 1)) * z0.unsqueeze(1) + t.view(1, -1, 1) * z1.unsqueeze(1)


def interpolate(G: nn.Module, steps: int = 10, rows: int = 8, seed: int = 0, spherical: bool = False) -> torch.Tensor:
    """Images along latent walks: uint8 (rows, steps, C, H, W)."""
    z = interpolation_latents(G.cfg.z_dim, rows, steps, seed, spherical)
    was_training = G.training
    G.eval()
    try:
        imgs = generate(G, z.reshape(rows * steps, -1))
    finally:
        G.train(was_training)
    return imgs.view(rows, steps, *imgs.shape[1:])
