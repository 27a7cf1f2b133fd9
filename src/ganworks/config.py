"""Typed training configuration, validated at the boundary.

Every check names the CLI flag and the bad value, so the same messages serve the command line
and the Python API (``ganworks.train(TrainConfig(...))``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import GanworksError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16")


@dataclass
class TrainConfig:
    """Everything a training run depends on. Stored as ``config.json`` in the run directory."""

    data: str = "mnist"
    """Dataset name (``ganworks data list``)."""
    model: str = "mlp"
    """Architecture name."""
    objective: str = "ns"
    """Objective name: ``ns`` (non-saturating, default) or ``minimax`` (the paper's saturating loss)."""
    model_options: dict[str, Any] = field(default_factory=dict)
    """Architecture options (z_dim, g_hidden, d_hidden, d_dropout for ``mlp``)."""
    kimg: float = 600.0
    """Training length in thousands of real images shown to D (independent of batch size)."""
    batch_size: int = 64
    d_steps: int = 1
    """k: discriminator steps per generator step (Goodfellow et al. 2014, Algorithm 1)."""
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    seed: int = 0
    ema_kimg: float = 0.0
    """Half-life, in thousands of images, of an exponential moving average of G's weights
    (0: off). Sampling uses the average when a run has one (Karras et al. 2018; Yazici et al. 2019)."""
    tick_kimg: float = 10.0
    """One status line and one stats.jsonl record per tick."""
    snapshot_kimg: float = 50.0
    """A grid of samples from fixed noise every this many kimg (0: only at the end)."""
    device: str = "auto"
    precision: str = "fp32"
    """``bf16`` runs forward passes under bfloat16 autocast (CPU with AMX, or CUDA)."""
    run_dir: str | None = None
    """Run directory; default: a new numbered folder under ``runs_root``."""
    runs_root: str = "runs"
    progress: bool = True
    """Show a progress bar on stderr."""

    def __post_init__(self) -> None:
        from .data import list_datasets
        from .models import check_model, make_model_config
        from .objectives import get_objective

        if self.data not in list_datasets():
            from .errors import unknown_name
            raise unknown_name("dataset", self.data, list_datasets())
        check_model(self.model)
        get_objective(self.objective)
        _positive_int("--batch-size", self.batch_size)
        _positive_int("--d-steps", self.d_steps)
        _positive_float("--kimg", self.kimg)
        _positive_float("--lr-g", self.lr_g)
        _positive_float("--lr-d", self.lr_d)
        _positive_float("--tick-kimg", self.tick_kimg)
        _nonneg_float("--snapshot-kimg", self.snapshot_kimg)
        _nonneg_float("--ema-kimg", self.ema_kimg)
        for flag, b in (("--beta1", self.beta1), ("--beta2", self.beta2)):
            if not (isinstance(b, (int, float)) and math.isfinite(b) and 0.0 <= b < 1.0):
                raise GanworksError(f"{flag} must be in [0, 1), got {b!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise GanworksError(f"--seed must be a non-negative integer, got {self.seed!r}")
        if self.device not in DEVICES:
            raise GanworksError(f"unknown device {self.device!r}; valid: {', '.join(DEVICES)}")
        if self.precision not in PRECISIONS:
            raise GanworksError(f"unknown precision {self.precision!r}; valid: {', '.join(PRECISIONS)}")
        # Validates option names and values; the image shape is filled in from the data later.
        make_model_config(self.model, **self.model_options)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        valid = {f.name for f in fields(cls)}
        bad = sorted(set(d) - valid)
        if bad:
            raise GanworksError(f"unknown config key {bad[0]!r}; valid: {', '.join(sorted(valid))}")
        return cls(**d)


def _positive_int(flag: str, v: Any) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise GanworksError(f"{flag} must be a positive integer, got {v!r}")


def _positive_float(flag: str, v: Any) -> None:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
        raise GanworksError(f"{flag} must be a positive finite number, got {v!r}")


def _nonneg_float(flag: str, v: Any) -> None:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
        raise GanworksError(f"{flag} must be a non-negative finite number, got {v!r}")
