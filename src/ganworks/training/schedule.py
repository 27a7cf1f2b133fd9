"""Schedules as data: when events fall due, and how the learning rates, the instance noise and
lazy R1 and R2 change over a run.

Everything is counted in real images shown to D (StyleGAN's ``cur_nimg``), so changing the batch
size or the number of D steps does not move an event or bend a schedule. The one exception is a
wall-clock budget (``--minutes``, :class:`Budget`): it is read only at tick boundaries, the
schedules that need the run's length then go by the fraction of the budget used, and it brings
the next tick forward so that ticks come at most a fiftieth of the budget apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ..config import COOLDOWN_SHARE


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


def lr_factor(schedule: str, t: float, cooldown_share: float = COOLDOWN_SHARE) -> float:
    """The learning-rate multiplier at fraction t in [0, 1] of the run (``--lr-schedule``; ``cooldown_share``:
    ``--cooldown-share``)."""
    t = min(max(t, 0.0), 1.0)
    if schedule == "linear":
        return 1.0 - t
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    if schedule == "cooldown":
        return min(1.0, (1.0 - t) / cooldown_share)
    return 1.0


@dataclass
class Budget:
    """A wall-clock training budget (``--minutes``), read at tick boundaries only.

    At each tick the training time (``Clock``, which a resume carries over) is recorded in
    ``at_tick_s``; the run stops at the first tick where it reaches ``seconds``, and until the next
    tick the schedules see the budget fraction of that moment, held constant. The budget also
    brings the next tick forward where ``--tick-kimg`` would leave it too far away
    (:meth:`next_tick`), so the held fraction moves in small steps and the last tick falls at the
    budget's end. ``at_tick_s`` is
    resume state, so what is exact and what is not:

    - exact: between two ticks everything is a deterministic function of the resume state; a run
      resumed from a checkpoint continues with the same held fraction (and under the same budget)
      that the uninterrupted run had at that point, so up to its next tick it computes bit for bit
      what the uninterrupted run computed;
    - wall-clock: the fraction taken at each later tick, and hence the learning rates and noise of
      the following tick and the tick at which the run stops, depend on the machine's speed (two
      runs, resumed or not, stop at different kimg on a busy and an idle machine; that is inherent).

    Without a budget (``seconds`` None) nothing here is read and a run computes exactly what it
    computed before ``--minutes`` existed.
    """

    seconds: float | None  # None: no budget
    at_tick_s: float = 0.0  # training seconds at the last tick boundary

    #: Under a budget, ticks come at most this share of it apart (and at least MIN_TICK_S, at most
    #: MAX_TICK_S): on a slow machine a --tick-kimg tick can take minutes, which would overrun the budget
    #: by as much and hold the schedules (a cooldown over the last 20%) still for as long.
    TICK_SHARE = 1 / 50
    MIN_TICK_S = 1.0
    MAX_TICK_S = 30.0

    @classmethod
    def minutes(cls, minutes: float | None) -> "Budget":
        return cls(None if minutes is None else 60.0 * minutes)

    def fraction(self, at_tick_s: float | None = None) -> float:
        """The share of the budget used at the last tick (or at a tick ``at_tick_s`` seconds in), in [0, 1] (0
        without a budget)."""
        at = self.at_tick_s if at_tick_s is None else at_tick_s
        return min(at / self.seconds, 1.0) if self.seconds else 0.0

    @property
    def spent(self) -> bool:
        return self.seconds is not None and self.at_tick_s >= self.seconds

    def tick(self, elapsed_s: float, dist=None, device=None, ticks: Every | None = None, nimg: int = 0) -> bool:
        """Record the training time at a tick boundary and bring the next of ``ticks`` forward where due
        (:meth:`next_tick`); True when the budget is spent. Under torchrun the processes' clocks are
        averaged first, so that every process takes the same decision."""
        if self.seconds is None:
            return False
        if dist is not None and dist.active:
            from .distributed import mean_across

            elapsed_s = float(mean_across(torch.tensor([elapsed_s], dtype=torch.float64, device=device), dist))
        self.at_tick_s = elapsed_s
        if ticks is not None:
            ticks.next = self.next_tick(nimg, ticks.next)
        return self.spent

    def next_tick(self, nimg: int, planned: float) -> float:
        """The image count of the next tick, given a tick ``planned`` there by ``--tick-kimg``: that one, or
        an earlier one, so that at the run's mean speed so far (images over training seconds at this tick,
        both carried over a resume) the next tick comes at most ``TICK_SHARE`` of the budget later and no
        later than the budget's end. The run then ends within about a step of its budget on a slow
        machine as on a fast one. Computed at a tick from what every process agrees on (``nimg``, the
        averaged clock), and stored as the tick's ``next`` in the resume state: a resume stays exact."""
        if self.seconds is None or self.at_tick_s <= 0 or nimg <= 0:
            return planned
        gap_s = min(max(self.seconds * self.TICK_SHARE, self.MIN_TICK_S), self.MAX_TICK_S)
        ahead_s = min(gap_s, self.seconds - self.at_tick_s)
        return min(planned, nimg + max(1.0, nimg / self.at_tick_s * ahead_s))

    def state(self) -> dict[str, float]:
        return {"at_tick_s": self.at_tick_s}

    def load(self, record: dict | None, elapsed_s: float) -> None:
        """From a resume state; one written before ``--minutes`` existed holds no tick time: the
        training time of the checkpoint stands in for it."""
        self.at_tick_s = float(record["at_tick_s"]) if record else elapsed_s


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
    # --minutes: the run ends at total images or when the budget is spent, whichever comes first.
    budget: Budget = field(default_factory=lambda: Budget(None))
    noise_to_end: bool = False  # the noise ends with the run (no --instance-noise-kimg): the budget bends it
    ema_kimg: float = 0.0  # EMA half-life of G's weights (0: no EMA)
    ema_rampup: float = 0.0  # the half-life is at most this share of the images seen so far (0: off)
    batch_size: int = 1
    cooldown_share: float = COOLDOWN_SHARE  # --lr-schedule cooldown: the rates fall to 0 over this last share
    ema_tail: float = 0.0  # over this last share of the run the EMA becomes a running mean (0: off)
    pick_tail: float = 0.0  # over this last share of the run G is scored and the best kept (0: off)

    @classmethod
    def of(cls, cfg, total: int) -> "Schedules":
        end = 1000 * cfg.instance_noise_kimg if cfg.instance_noise_kimg is not None else total
        return cls(total=total, lr=cfg.lr_schedule, nan_lr_factor=cfg.nan_lr_factor, noise=cfg.instance_noise,
                   noise_end=end, r1_gamma=cfg.r1_gamma, r1_interval=cfg.r1_interval, r2_gamma=cfg.r2_gamma,
                   budget=Budget.minutes(cfg.minutes), noise_to_end=cfg.instance_noise_kimg is None,
                   ema_kimg=cfg.ema_kimg, ema_rampup=cfg.ema_rampup, batch_size=cfg.batch_size,
                   cooldown_share=cfg.cooldown_share, ema_tail=cfg.ema_tail, pick_tail=cfg.pick_tail)

    def fraction(self, nimg: int, end: float, at_tick_s: float | None = None) -> float:
        """How far the run is towards ``end`` images. Under a budget: the larger of that and the share
        of the budget used (held since the last tick; ``at_tick_s``: at an earlier tick), since the run ends
        at whichever bound comes first; so the schedules reach their end value when the run ends, and a
        budget that never binds leaves them as they are without one."""
        if self.budget.seconds is None:
            return nimg / end
        return max(nimg / end, self.budget.fraction(at_tick_s))

    def noise_std(self, nimg: int) -> float:
        """Instance noise annealed linearly from ``noise`` to 0 at ``noise_end`` (Sonderby et al. 2017)."""
        if self.noise <= 0:
            return 0.0
        t = self.fraction(nimg, self.noise_end) if self.noise_to_end else nimg / self.noise_end
        return self.noise * max(0.0, 1.0 - t)

    def ema_beta(self, nimg: int, tail_steps: int | None = None) -> float:
        """The EMA's decay per step: its weights halve every ``ema_kimg`` thousand images, or, with a
        ramp-up, every ``ema_rampup`` x the images seen so far when that is shorter (Karras et al. 2020,
        StyleGAN2-ADA's ``ema_rampup``): early in a run G changes fast, and an average over a fixed long
        window would mostly hold the noise G started from. ``nimg``: images seen before this update.

        ``tail_steps``: G steps already averaged in the run's tail (``--ema-tail``; None before it). There
        the decay is at least n / (n + 1) for the (n + 1)-th update, so the average weighs every G of the
        tail equally (a running mean) once that is the longer memory, and its history before the tail
        fades as 1 / n."""
        half_life = self.ema_kimg * 1000
        if self.ema_rampup > 0:
            half_life = min(half_life, nimg * self.ema_rampup)
        beta = 0.5 ** (self.batch_size / half_life) if half_life > 0 else 0.0
        return beta if tail_steps is None else max(beta, tail_steps / (tail_steps + 1))

    def in_last(self, share: float, nimg: int, at_tick_s: float | None = None) -> bool:
        """True once the run has reached its last ``share`` (by images, or by the budget used); never for 0.
        ``at_tick_s``: where the run was by the budget at some earlier moment (default: at the last tick)."""
        return share > 0 and self.fraction(nimg, self.total, at_tick_s) >= 1.0 - share

    def in_tail(self, nimg: int) -> bool:
        """True once the run has reached its last ``ema_tail`` share (--ema-tail)."""
        return self.in_last(self.ema_tail, nimg)

    def in_pick(self, nimg: int, at_tick_s: float | None = None) -> bool:
        """True once the run has reached its last ``pick_tail`` share (--pick-tail); with ``at_tick_s``: whether
        a score taken at ``nimg`` images and that budget position lies in the tail of the run as it now stands
        (a run resumed with a longer --kimg or --minutes has a later tail)."""
        return self.in_last(self.pick_tail, nimg, at_tick_s)

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
        scale = self.nan_lr_factor ** rollbacks * lr_factor(self.lr, self.fraction(nimg, self.total),
                                                            self.cooldown_share)
        for opt, lr in rates:
            for group in opt.param_groups:
                group["lr"] = lr * scale
