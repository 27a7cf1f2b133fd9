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


#: Iterations between two scans of every weight (the per-step check reads only the loss and the gradient norm).
WEIGHT_SCAN_EVERY = 64


@torch.no_grad()
def nonfinite(name: str, loss: Tensor | None, grad_norm: Tensor | None) -> str | None:
    """What is non-finite after a step (its loss, else its gradient norm), or None. One host sync.

    Finite gradients keep finite weights finite: Adam's and RMSProp's steps are bounded by the learning
    rate times a ratio of moments (a gradient whose square overflows makes its step 0, not inf), and
    clipping only shrinks weights. So the weights themselves are scanned only every
    ``WEIGHT_SCAN_EVERY`` iterations (:func:`nonfinite_weights`), as a safety net."""
    parts = [t.reshape(-1) for t in (loss, grad_norm) if t is not None]
    if not parts or bool(torch.isfinite(torch.cat(parts).float()).all()):
        return None
    if loss is not None and not torch.isfinite(loss).all():
        return f"non-finite loss_{name[0].upper()} ({float(loss)}) in the {name} step"
    return f"non-finite gradients ({float(grad_norm)}) in the {name} step"


@torch.no_grad()
def nonfinite_weights(modules: dict[str, nn.Module]) -> str | None:
    """Which network holds a non-finite weight, or None (one reduction per network)."""
    for name, module in modules.items():
        params = [p.detach() for p in module.parameters()]
        if params and not torch.isfinite(torch.stack([p.float().sum() for p in params]).sum()):
            return f"non-finite weights in the {name} after its step"  # any NaN/inf weight makes the sum non-finite
    return None


class Guard:
    """What the loop does when a step went non-finite, the same in every process."""

    def __init__(self, cfg, run_dir: Path, state: TrainState, tracker: Tracker, schedules: Schedules,
                 rates: list[tuple[torch.optim.Optimizer, float]]):
        self.on_nan, self.max_rollbacks, self.factor = cfg.on_nan, cfg.max_rollbacks, cfg.nan_lr_factor
        self.run_dir, self.state, self.tracker = run_dir, state, tracker
        self.schedules, self.rates = schedules, rates
        self.iterations = 0

    def tripped(self, problem: str | None) -> bool:
        """True when this or another process found a problem; then the run has been rolled back
        (or this raises GanworksError: --on-nan stop, or no rollback left). Every WEIGHT_SCAN_EVERY
        iterations the weights of both networks are scanned too."""
        self.iterations += 1
        if problem is None and self.iterations % WEIGHT_SCAN_EVERY == 0:
            problem = nonfinite_weights({"generator": self.state.G, "discriminator": self.state.D})
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
