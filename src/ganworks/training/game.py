"""One iteration of the game (Goodfellow et al. 2014, Algorithm 1): k steps on D with G frozen, then
one step on G with D frozen, each checked for a non-finite loss or gradient."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import Tensor, nn
from torch.optim import Optimizer

from ..objectives import Objective
from .data import Feed
from .guard import nonfinite
from .schedule import Schedules
from .state import Progress
from .steps import DInput, DOptions, discriminator_step, generator_step


@dataclass
class Game:
    """The two players, their optimizers and what each step needs (built once by the loop)."""

    G: nn.Module
    D: nn.Module
    objective: Objective
    opt_g: Optimizer
    opt_d: Optimizer
    autocast: Callable
    d_setup: DOptions  # what D's step adds to the objective (clip, penalties, replay, ...)
    sees: DInput  # what D sees in both steps
    d_steps: int = 1
    freeze_discriminator: bool = False  # a pre-trained D that is only judged against
    reuse_fakes: bool = False  # one forward of G serves both steps (needs d_steps == 1)

    def play(self, feed: Feed, schedules: Schedules, progress: Progress) -> tuple[dict[str, Tensor], str | None]:
        """One iteration: the steps' statistics, and what went non-finite (None when all is well)."""
        stats: dict[str, Tensor] = {}
        shared = None
        for _ in range(self.d_steps):
            real, y_real = feed.real()
            if self.freeze_discriminator:
                continue
            z = feed.noise()
            progress.d_step_count += 1
            self.d_setup.r1_weight, self.d_setup.r2_weight = schedules.penalty_weights(progress.d_step_count)
            if self.reuse_fakes:  # G(z) with its graph: D's step sees it detached, G's step backpropagates it
                with self.autocast():
                    shared = self.G(z, y_real).float()
            stats.update(discriminator_step(self.G, self.D, self.objective, real, z, self.opt_d, self.autocast,
                                            y_real=y_real, y_fake=y_real, opt=self.d_setup, fake=shared))
            problem = nonfinite("discriminator", stats["loss_D"], stats["grad_D"])
            if problem:
                return stats, problem
        # G's step on fresh noise, or on the D step's noise and fakes (--reuse-fakes).
        z, y = (z, y_real) if shared is not None else (feed.noise(), feed.classes())
        real_g, y_real_g = feed.real() if self.objective.g_needs_real else (None, None)
        stats.update(generator_step(self.G, self.D, self.objective, z, self.opt_g, self.autocast, y=y,
                                    real=real_g, y_real=y_real_g, sees=self.sees, fake=shared))
        return stats, nonfinite("generator", stats["loss_G"], stats["grad_G"])
