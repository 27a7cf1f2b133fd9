"""Schedules as data: when events fall due, and how the learning rates, the instance noise and
lazy R1 and R2 change over a run.

Everything is counted in real images shown to D (StyleGAN's ``cur_nimg``), so changing the batch
size or the number of D steps does not move an event or bend a schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class Every:
    """An event due every ``interval`` images (0: never): a tick, a sample grid, an evaluation, a
    checkpoint. ``next`` is the image count at which it next falls due; it is resume state."""

    interval: float
    next: float

    @classmethod
    def kimg(cls, kimg: float) -> "Every":
        return cls(kimg * 1000, kimg * 1000)

    def due(self, nimg: int, at_end: bool = False) -> bool:
        """True when ``nimg`` images reach the next event (or, with ``at_end``, at the run's last step)."""
        return self.interval > 0 and (nimg >= self.next or at_end)

    def advance(self, nimg: int) -> None:
        """Move past ``nimg``: one event per call however many intervals a step jumped."""
        while self.next <= nimg:
            self.next += self.interval

    def restart(self, nimg: int) -> None:
        """The first multiple of the interval after ``nimg`` (a resumed run whose interval changed)."""
        self.next = (nimg // self.interval + 1) * self.interval if self.interval > 0 else 0.0


def lr_factor(schedule: str, t: float) -> float:
    """The learning-rate multiplier at fraction t in [0, 1] of the run (``--lr-schedule``)."""
    t = min(max(t, 0.0), 1.0)
    if schedule == "linear":
        return 1.0 - t
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    return 1.0


@dataclass(frozen=True)
class Schedules:
    """What changes with the images seen: learning rates, instance noise, lazy R1's and R2's weights."""

    total: int  # images in the whole run
    lr: str  # --lr-schedule: constant, linear or cosine
    nan_lr_factor: float  # learning rates x this after each rollback (--on-nan rollback)
    noise: float  # instance noise std at the start (0: off)
    noise_end: float  # images at which the noise reaches 0
    r1_gamma: float
    r1_interval: int  # lazy R1: the penalty on every r1_interval-th D step
    r2_gamma: float = 0.0  # R2 (on fakes), on R1's lazy schedule; defaulted, so callers may leave it out

    @classmethod
    def of(cls, cfg, total: int) -> "Schedules":
        end = 1000 * (cfg.instance_noise_kimg if cfg.instance_noise_kimg is not None else cfg.kimg)
        return cls(total=total, lr=cfg.lr_schedule, nan_lr_factor=cfg.nan_lr_factor, noise=cfg.instance_noise,
                   noise_end=end, r1_gamma=cfg.r1_gamma, r1_interval=cfg.r1_interval, r2_gamma=cfg.r2_gamma)

    def noise_std(self, nimg: int) -> float:
        """Instance noise annealed linearly from ``noise`` to 0 at ``noise_end`` (Sonderby et al. 2017)."""
        return self.noise * max(0.0, 1.0 - nimg / self.noise_end) if self.noise > 0 else 0.0

    def r1_weight(self, d_step: int) -> float:
        """Lazy R1 (Karras et al. 2020): gamma / 2 on every r1_interval-th D step, times the interval
        so the penalty's average strength stays gamma / 2; 0 on the steps between."""
        if self.r1_gamma > 0 and d_step % self.r1_interval == 0:
            return self.r1_gamma / 2 * self.r1_interval
        return 0.0

    def r2_weight(self, d_step: int) -> float:
        """R2 on the fakes, on R1's lazy schedule (the same D steps, the same interval scaling)."""
        if self.r2_gamma > 0 and d_step % self.r1_interval == 0:
            return self.r2_gamma / 2 * self.r1_interval
        return 0.0

    def penalty_weights(self, d_step: int) -> tuple[float, float]:
        """(R1's weight, R2's weight) at this D step."""
        return self.r1_weight(d_step), self.r2_weight(d_step)

    def set_learning_rates(self, rates: list[tuple[torch.optim.Optimizer, float]], nimg: int, rollbacks: int) -> None:
        """Each optimizer's base rate, times the rollback factor, times the schedule at ``nimg``."""
        scale = self.nan_lr_factor ** rollbacks * lr_factor(self.lr, nimg / self.total)
        for opt, lr in rates:
            for group in opt.param_groups:
                group["lr"] = lr * scale
