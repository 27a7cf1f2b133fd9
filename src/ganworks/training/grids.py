"""Sample grids over time: the generator's output on the same fixed noise at every snapshot, so the
grids of one run can be compared frame by frame (``RUN/samples/fakesNNNNNN.png``)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..images import make_grid, plot_points, save_png, to_uint8
from ..sampling import latents

GRID_SEED = 2014  # fixed noise for the grids over time: the same latents in every snapshot


class SampleGrids:
    """8 x 8 images from fixed noise (conditional: one row per class, up to 10 classes shown); for
    2-D points, 2,500 generated points (white) over 2,500 real ones (blue). Written by rank 0 only."""

    def __init__(self, G: nn.Module, data, z_dim: int, num_classes: int, run_dir: Path, device: torch.device,
                 main: bool):
        self.G, self.data, self.run_dir, self.main = G, data, run_dir, main
        self.points = data.images.dtype.is_floating_point
        rows = min(num_classes, 10) if num_classes else 8
        self.z = latents(8 * rows, z_dim, GRID_SEED).to(device)
        self.y = torch.arange(rows, device=device).repeat_interleave(8) if num_classes else None
        if self.points:
            self.z = latents(2500, z_dim, GRID_SEED).to(device)
            self.y = torch.arange(2500, device=device) % num_classes if num_classes else None
        if not main:
            return
        if self.points:
            save_png(plot_points(data.images[:2500]), run_dir / "samples" / "reals.png")
        else:
            save_png(make_grid(data.images[:64], nrow=8), run_dir / "samples" / "reals.png", scale=2)

    def snapshot(self, kimg: int) -> None:
        """``RUN/samples/fakesNNNNNN.png``: G now, at ``kimg``."""
        self.write(self.run_dir / "samples" / f"fakes{kimg:06d}.png")

    def write(self, path: Path, G: nn.Module | None = None) -> None:
        """The grid of G as it is now (or of ``G``, a kept copy), to ``path`` (``RUN/picked/fakes.png``,
        ``RUN/best/fakes.png``: a kept G)."""
        if not self.main:
            return
        G = self.G if G is None else G
        was_training = G.training
        G.eval()
        with torch.no_grad():
            out = G(self.z, self.y)
        G.train(was_training)
        if self.points:
            save_png(plot_points(out, self.data.images[:2500]), path)
        else:
            save_png(make_grid(to_uint8(out).cpu(), nrow=8), path, scale=2)
