"""Toy distributions with known structure: 1-D densities and the 2-D mode-collapse testbeds.

Each is a small frozen dataclass that can draw samples and, where one exists in closed form,
evaluate its density. The theory lab (:mod:`ganworks.lab`) compares trained discriminators with
these densities; registered as datasets they train with ``ganworks train --data NAME``.

2-D mixtures of PacGAN (Lin et al. 2018, Sec. 5.1), after VEEGAN (Srivastava et al. 2017):

- ``ring8``: 8 Gaussians evenly spaced on a circle of radius 1, standard deviation 0.01. The
  angles are 2*pi*k/8 for k = 0..7; ``linspace(0, 2*pi, 8)`` would repeat angle 0 as 2*pi and
  leave only 7 distinct modes.
- ``grid25``: 25 Gaussians at {-4, -2, 0, 2, 4}^2, standard deviation 0.05.

1-D (known densities): ``normal1d`` N(0, 1); ``mog1d`` three Gaussians at -2, 0, 2 with std 0.3;
``uniform1d`` U[-1, 1]. For pictures: ``spiral`` and ``moons`` (2-D, no closed-form density).

Points are stored as float32 "images" of shape (N, D, 1, 1) so the MLP pair and the training
loop handle them unchanged. A mixture's label is the index of the component a point came from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import GanworksError
from .dataset import ImageDataset
from .registry import DatasetSpec


# ------------------------------------------------------------------------------- distributions
@dataclass(frozen=True)
class GaussianMixture:
    """Isotropic Gaussians: ``means`` (M, D), one ``std`` shared by every component and axis
    (or one per component), mixing ``weights`` (default equal)."""

    means: tuple[tuple[float, ...], ...]
    std: float | tuple[float, ...]
    weights: tuple[float, ...] | None = None

    @property
    def dim(self) -> int:
        return len(self.means[0])

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mu = np.asarray(self.means, dtype=np.float64)  # (M, D)
        m = len(mu)
        sd = np.broadcast_to(np.asarray(self.std, dtype=np.float64), (m,)).copy()  # (M,)
        w = np.full(m, 1.0 / m) if self.weights is None else np.asarray(self.weights, dtype=np.float64)
        return mu, sd, w / w.sum()

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        mu, sd, w = self._arrays()
        labels = rng.choice(len(mu), size=n, p=w) if self.weights is not None else rng.integers(0, len(mu), n)
        return mu[labels] + sd[labels, None] * rng.standard_normal((n, self.dim)), labels

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density at points ``x`` (N, D) (or (N,) in 1-D)."""
        mu, sd, w = self._arrays()
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.dim)
        d2 = ((x[:, None, :] - mu[None]) ** 2).sum(-1)  # (N, M)
        norm = (2 * math.pi * sd ** 2) ** (-self.dim / 2)  # (M,)
        return (w * norm * np.exp(-d2 / (2 * sd ** 2))).sum(1)


@dataclass(frozen=True)
class Uniform:
    """The uniform distribution on the box [low, high] (per axis)."""

    low: tuple[float, ...]
    high: tuple[float, ...]

    @property
    def dim(self) -> int:
        return len(self.low)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, None]:
        lo, hi = np.asarray(self.low), np.asarray(self.high)
        return lo + (hi - lo) * rng.random((n, self.dim)), None

    def pdf(self, x: np.ndarray) -> np.ndarray:
        lo, hi = np.asarray(self.low), np.asarray(self.high)
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.dim)
        inside = ((x >= lo) & (x <= hi)).all(1)
        return inside / float(np.prod(hi - lo))


@dataclass(frozen=True)
class Spiral:
    """A two-armed spiral in 2-D with Gaussian noise (no closed-form density)."""

    turns: float = 1.5
    noise: float = 0.05

    dim = 2

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        arm = rng.integers(0, 2, n)
        t = np.sqrt(rng.random(n))  # uniform along the area the arm sweeps
        angle = 2 * math.pi * self.turns * t + math.pi * arm
        pts = np.stack([t * np.cos(angle), t * np.sin(angle)], 1) * 2.0
        return pts + self.noise * rng.standard_normal((n, 2)), arm


@dataclass(frozen=True)
class Moons:
    """Two interleaving half circles (the classic 'moons'), with Gaussian noise."""

    noise: float = 0.05

    dim = 2

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        moon = rng.integers(0, 2, n)
        t = math.pi * rng.random(n)
        upper = np.stack([np.cos(t), np.sin(t)], 1)
        lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
        pts = np.where(moon[:, None] == 0, upper, lower) - np.array([0.5, 0.25])
        return pts + self.noise * rng.standard_normal((n, 2)), moon


def ring8_modes() -> np.ndarray:
    k = np.arange(8)
    return np.stack([np.cos(2 * math.pi * k / 8), np.sin(2 * math.pi * k / 8)], axis=1)  # (8, 2)


def grid25_modes() -> np.ndarray:
    g = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    return np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)  # (25, 2)


def _mixture(modes: np.ndarray, std: float) -> GaussianMixture:
    return GaussianMixture(means=tuple(tuple(float(v) for v in m) for m in modes), std=std)


# ------------------------------------------------------------------------------------ datasets
@dataclass(frozen=True, kw_only=True)
class ToySpec(DatasetSpec):
    """A dataset of points drawn deterministically (from ``seed``) from a toy distribution."""

    dist: Any
    seed: int = 0
    labelled: bool = True
    shape: tuple[int, int, int] = field(default=(2, 1, 1))

    @property
    def dim(self) -> int:
        return int(self.dist.dim)

    @property
    def is_mixture(self) -> bool:
        """Gaussian mixtures with one shared std have modes that the ``mixture`` metric counts."""
        return isinstance(self.dist, GaussianMixture) and np.ndim(self.dist.std) == 0 and self.dist.dim == 2

    def modes(self) -> np.ndarray:
        if not self.is_mixture:
            raise GanworksError(f"dataset {self.name!r} is not a 2-D Gaussian mixture with known modes "
                                "(the mixture metric needs ring8 or grid25)")
        return np.asarray(self.dist.means, dtype=np.float64)

    @property
    def std(self) -> float:
        return float(self.dist.std)

    def sources(self) -> list[str]:
        return ["generated by ganworks (no files)"]

    def is_cached(self, home: Path | None = None) -> bool:
        return True

    def fetch(self, home: Path | None = None) -> list[Path]:
        return []

    def load(self, split: str = "train", *, download: bool = True, home: Path | None = None) -> ImageDataset:
        self.check_split(split)
        n = self.splits[split]
        rng = np.random.default_rng(self.seed + (0 if split == "train" else 1))
        pts, labels = self.dist.sample(n, rng)
        has_labels = self.labelled and labels is not None
        return ImageDataset(name=self.name, split=split,
                            images=torch.from_numpy(pts.astype(np.float32)).view(n, self.dim, 1, 1),
                            labels=torch.from_numpy(labels.astype(np.int64)) if has_labels else None,
                            num_classes=self.num_classes if has_labels else None,
                            source=f"{self.name}: {self.description}; seed {self.seed}")

    def info(self, home: Path | None = None) -> dict[str, Any]:
        out = {**super().info(home), "kind": "points", "dim": self.dim}
        if self.is_mixture:
            out.update(modes=self.modes().tolist(), std=self.std)
        return out


_SPLITS = {"train": 100_000, "test": 2_500}
_PACGAN = "Lin et al. 2018, PacGAN (Sec. 5.1)"
RING8 = ToySpec(name="ring8",
                description="8 Gaussians on a circle of radius 1, std 0.01 (PacGAN's 2D-ring); 2-D points",
                num_classes=8, splits=_SPLITS, license="synthetic", citation=_PACGAN,
                dist=_mixture(ring8_modes(), 0.01))
GRID25 = ToySpec(name="grid25", description="25 Gaussians at {-4,-2,0,2,4}^2, std 0.05 (PacGAN's 2D-grid); 2-D points",
                 num_classes=25, splits=_SPLITS, license="synthetic", citation=_PACGAN,
                 dist=_mixture(grid25_modes(), 0.05))
NORMAL1D = ToySpec(name="normal1d", description="N(0, 1); 1-D points with a known density", shape=(1, 1, 1),
                   num_classes=None, splits=_SPLITS, license="synthetic", citation="-", labelled=False,
                   dist=GaussianMixture(means=((0.0,),), std=1.0))
MOG1D = ToySpec(name="mog1d", description="3 Gaussians at -2, 0, 2 with std 0.3; 1-D points with a known density",
                shape=(1, 1, 1), num_classes=3, splits=_SPLITS, license="synthetic", citation="-",
                dist=GaussianMixture(means=((-2.0,), (0.0,), (2.0,)), std=0.3))
UNIFORM1D = ToySpec(name="uniform1d", description="U[-1, 1]; 1-D points with a known density", shape=(1, 1, 1),
                    num_classes=None, splits=_SPLITS, license="synthetic", citation="-", labelled=False,
                    dist=Uniform(low=(-1.0,), high=(1.0,)))
SPIRAL = ToySpec(name="spiral", description="two-armed spiral with noise 0.05; 2-D points", num_classes=2,
                 splits=_SPLITS, license="synthetic", citation="-", dist=Spiral())
MOONS = ToySpec(name="moons", description="two interleaving half circles with noise 0.05; 2-D points", num_classes=2,
                splits=_SPLITS, license="synthetic", citation="-", dist=Moons())
TOY_DATASETS = (RING8, GRID25, NORMAL1D, MOG1D, UNIFORM1D, SPIRAL, MOONS)
