"""Turning noise into data: sampling and latent interpolation."""

from __future__ import annotations

import torch
from torch import nn

from .images import to_uint8


def latents(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """n standard-normal latent vectors, a pure function of (n, z_dim, seed)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, z_dim, generator=g)


def num_classes(G: nn.Module) -> int:
    """How many classes a conditional generator knows (0: unconditional)."""
    return int(getattr(G.cfg, "num_classes", 0) or 0)


def is_points(G: nn.Module) -> bool:
    """True for generators of 2-D points (image_shape (2, 1, 1), linear output), not images."""
    return getattr(G.cfg, "output", "tanh") == "linear"


def check_sample_size(G: nn.Module, n: int, request: str, grid: tuple[int | None, int] | None = None) -> None:
    """Refuse, before anything is drawn, n samples (their latents and uint8 images, float points) that
    cannot fit in memory; ``grid`` = (nrow, scale): also the PNG grid of them. ``request`` names the flags."""
    from .files import check_fits
    from .images import grid_bytes

    c, h, w = G.cfg.image_shape
    need = n * (4 * G.cfg.z_dim + 8 + c * h * w * (4 if is_points(G) else 1))
    if grid is not None and not is_points(G):
        need += grid_bytes(n, (c, h, w), *grid)
    check_fits(need, request, "ask for fewer or smaller images")


#: Rows of latents drawn at once when streaming samples to disk; a multiple of 16, so each chunk's
#: draw starts where torch's normal sampler starts a block and the chunks equal one draw of all n.
CHUNK_ROWS = 4096


def latent_chunks(n: int, z_dim: int, seed: int, rows: int = CHUNK_ROWS):
    """The rows of :func:`latents` (n, z_dim, seed), ``rows`` at a time, without holding all n.

    torch draws normals in blocks of 16 values and finishes a draw whose size is not a multiple of 16
    with one more block over its last 16 values; a last chunk of fewer than 16 values would be drawn
    another way, so it is joined to the chunk before it. The concatenation equals ``latents(n, ...)``
    exactly (tested).
    """
    assert rows % 16 == 0
    g = torch.Generator().manual_seed(seed)
    start = 0
    while start < n:
        take = min(rows, n - start)
        if 0 < (n - start - take) * z_dim < 16:
            take = n - start  # a short tail joins this chunk
        yield torch.randn(take, z_dim, generator=g)
        start += take


def sample_chunks(G: nn.Module, n: int, seed: int = 0, labels: int | None = None, rows: int = CHUNK_ROWS):
    """:func:`sample` (G, n, seed, labels) in pieces of about ``rows`` samples, for requests larger than
    memory (``ganworks sample --npy/--dir``): the concatenation equals ``sample(G, n, seed, labels=labels)``."""
    k = _check_class(G, labels)
    m = -(-n // k) if k else 0  # class_rows: class c at positions [c*m, (c+1)*m)
    was_training = G.training
    G.eval()
    try:
        start = 0
        for z in latent_chunks(n, G.cfg.z_dim, seed, rows):
            y = None
            if k:
                y = (torch.full((len(z),), labels, dtype=torch.long) if labels is not None
                     else torch.arange(start, start + len(z)) // m)
            yield generate(G, z, 256, y)
            start += len(z)
    finally:
        G.train(was_training)


def class_rows(n: int, k: int) -> torch.Tensor:
    """Labels for n samples of k classes in blocks, class c at positions [c*m, (c+1)*m), m = ceil(n/k):
    a grid with m images per row shows one class per row."""
    m = -(-n // k)
    return torch.arange(k).repeat_interleave(m)[:n]


@torch.no_grad()
def generate(G: nn.Module, z: torch.Tensor, batch_size: int = 256, labels: torch.Tensor | None = None) -> torch.Tensor:
    """G(z, labels) as uint8 images (N, C, H, W), in batches; the result does not depend on batch_size.
    A generator with a linear output (2-D points) returns its raw float output instead."""
    device = next(G.parameters()).device
    post = (lambda x: x.float()) if is_points(G) else to_uint8
    ys = labels.split(batch_size) if labels is not None else [None] * len(z.split(batch_size))
    out = [post(G(zb.to(device), None if yb is None else yb.to(device))).cpu()
           for zb, yb in zip(z.split(batch_size), ys)]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.uint8)


def _check_class(G: nn.Module, labels) -> int:
    k = num_classes(G)
    if k == 0 and labels is not None:
        from .errors import GanworksError
        raise GanworksError("this generator is unconditional: it takes no class (train with --conditional)")
    if k and isinstance(labels, int) and not 0 <= labels < k:
        from .errors import GanworksError
        raise GanworksError(f"--class {labels} is out of range; this generator knows classes 0..{k - 1}")
    return k


def sample(G: nn.Module, n: int, seed: int = 0, batch_size: int = 256, labels: torch.Tensor | int | None = None
           ) -> torch.Tensor:
    """n samples from G as uint8 images (N, C, H, W), reproducible from ``seed``.

    For a conditional G, ``labels`` is one class for all samples or a tensor of n classes; by
    default the classes come in blocks (:func:`class_rows`), one class per grid row.
    """
    k = _check_class(G, labels)
    if k:
        if labels is None:
            labels = class_rows(n, k)
        elif isinstance(labels, int):
            labels = torch.full((n,), labels, dtype=torch.long)
    was_training = G.training
    G.eval()
    try:
        return generate(G, latents(n, G.cfg.z_dim, seed), batch_size, labels)
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
    k = num_classes(G)
    # Conditional G: each walk keeps one class (classes 0, 1, 2, ... down the rows).
    labels = (torch.arange(rows) % k).repeat_interleave(steps) if k else None
    was_training = G.training
    G.eval()
    try:
        imgs = generate(G, z.reshape(rows * steps, -1), labels=labels)
    finally:
        G.train(was_training)
    return imgs.view(rows, steps, *imgs.shape[1:])
