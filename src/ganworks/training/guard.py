"""The divergence guard (``--on-nan``): notice non-finite losses or weights right after a step,
then stop with a message naming the step, or roll back to the last good checkpoint with lower
learning rates."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import GanworksError
from . import distributed
from .resume import latest_checkpoint
from .schedule import Schedules
from .state import TrainState
from .tracking import Tracker


@torch.no_grad()
def nonfinite(name: str, loss: Tensor | None, module: nn.Module) -> str | None:
    """What is non-finite after a step of ``module`` (its loss, else its weights), or None."""
    if loss is not None and not torch.isfinite(loss).all():
        return f"non-finite loss_{name[0].upper()} ({float(loss)}) in the {name} step"
    total = torch.stack([p.detach().float().sum() for p in module.parameters()]).sum()
    if not torch.isfinite(total):  # any NaN/inf weight makes the sum non-finite
        return f"non-finite weights in the {name} after its step"
    return None


class Guard:
    """What the loop does when a step went non-finite, the same in every process."""

    def __init__(self, cfg, run_dir: Path, state: TrainState, tracker: Tracker, schedules: Schedules,
                 rates: list[tuple[torch.optim.Optimizer, float]]):
        self.on_nan, self.max_rollbacks, self.factor = cfg.on_nan, cfg.max_rollbacks, cfg.nan_lr_factor
        self.run_dir, self.state, self.tracker = run_dir, state, tracker
        self.schedules, self.rates = schedules, rates

    def tripped(self, problem: str | None) -> bool:
        """True when this or another process found a problem; then the run has been rolled back
        (or this raises GanworksError: --on-nan stop, or no rollback left)."""
        if not distributed.any_across(problem is not None, self.tracker.dist, self.state.device):
            return False
        self.diverged(problem or "non-finite values in another process")
        return True

    def diverged(self, problem: str) -> None:
        """--on-nan: stop with the step and network, or roll back to the last good checkpoint."""
        progress = self.state.progress
        where = f"{problem} at step {progress.g_step_count + 1} (kimg {progress.nimg / 1000:.3f})"
        if self.on_nan == "stop":
            self.tracker.note(f"STOP: {where}")  # the error itself reaches stderr through the CLI
            raise GanworksError(f"{where}; stopped (--on-nan stop): lower the learning rate, or use "
                                f"--on-nan rollback to return to the last good checkpoint")
        if progress.rollbacks >= self.max_rollbacks:
            self.tracker.note(f"STOP: {where}; already rolled back {progress.rollbacks} times")
            raise GanworksError(f"{where}; gave up after {progress.rollbacks} rollbacks (--max-rollbacks "
                                f"{self.max_rollbacks}) with learning rates x{self.factor ** progress.rollbacks:g}")
        good, _ = latest_checkpoint(self.run_dir)
        if good is None:
            raise GanworksError(f"{where}; no checkpoint to roll back to in {self.run_dir / 'checkpoints'}")
        rollbacks = progress.rollbacks + 1
        self.state.load(good, self.run_dir / "config.json")
        self.tracker.rewind(progress.nimg)
        progress.rollbacks = rollbacks
        self.schedules.set_learning_rates(self.rates, progress.nimg, rollbacks)
        scale = self.factor ** rollbacks
        (opt_g, lr_g), (opt_d, lr_d) = self.rates
        self.tracker.log(f"ROLLBACK {rollbacks}/{self.max_rollbacks}: {where}; restored {good.name} "
                         f"(kimg {progress.nimg / 1000:.3f}), learning rates x{scale:g}: G {lr_g * scale:g}, "
                         f"D {lr_d * scale:g}")
        self.tracker.seek(progress.nimg)
