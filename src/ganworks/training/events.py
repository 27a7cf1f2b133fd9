"""What a run does besides its steps: at its start, after each iteration, and at its end.

After an iteration the events that fall due run in one fixed order: the tick (statistics, the log line,
and the ``--minutes`` budget, which may end the run there), the evaluation, the score of ``--pick-tail``,
the sample grid, and last the checkpoint, so that a checkpoint holds exactly what the next iteration starts
from. That order is part of the exact-resume guarantee (docs/guarantees.md): a resumed run meets the same
events at the same image counts as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import TrainConfig
from . import distributed
from .evaluation import Evaluator, Picker
from .grids import SampleGrids
from .schedule import Schedules
from .setup import save_state
from .state import EVENTS, TrainState
from .steps import DInput
from .tracking import Tracker


@dataclass
class RunEvents:
    """The events of one run. ``state`` holds the networks, optimizers, progress and clock;
    ``sees`` is what D sees (its instance noise std goes into the tick's record)."""

    cfg: TrainConfig
    state: TrainState
    schedules: Schedules
    tracker: Tracker
    evaluate: Evaluator
    grids: SampleGrids
    run_dir: Path
    dist: distributed.Dist
    sees: DInput
    probabilistic: bool  # the objective's D outputs a probability: the tick's alarms read D's accuracy
    pick: Picker | None = None  # --pick-tail: scores G in the run's tail and keeps the best

    def start(self, ckpt: Path | None, skipped: list[str], start_line: str) -> None:
        """The first lines of the log (``ckpt``: the checkpoint a resumed run continues from); a fresh run's
        first grid, and its first checkpoint under ``--on-nan rollback`` (a good state to return to)."""
        progress = self.state.progress
        for why in skipped:
            self.tracker.log(f"WARNING: skipped checkpoint: {why}")
        if ckpt is not None:
            self.tracker.log(f"resumed {self.run_dir} from {ckpt.name} at kimg {progress.nimg / 1000:.3f} "
                             f"(tick {progress.tick}) on {self.dist.world} process(es); "
                             f"training for {self.cfg.length_text()}")
            return
        self.tracker.log(start_line)
        self.grids.snapshot(0)
        if self.cfg.on_nan == "rollback" and self.dist.main:
            save_state(self.run_dir, self.state, self.cfg.keep_checkpoints)

    def after_iteration(self, done: bool) -> None:
        """Run what falls due at the images shown so far; ``done``: this was the run's last iteration by its
        image count (the tick's budget check may also end it). A run's last grid and checkpoint come from
        :meth:`end`."""
        progress = self.state.progress
        nimg = progress.nimg
        ticks, snaps, evals, ckpts, picks = (progress.events[name] for name in EVENTS)
        if ticks.due(nimg, at_end=done):
            stats = self.tracker.tick(progress.tick, nimg, self.tick_extra(), self.probabilistic)
            progress.last_d_acc = stats.get("D_acc")
            progress.tick += 1
            ticks.advance(nimg)
            spent = self.schedules.budget.tick(self.state.clock.elapsed(), self.dist, self.state.device, ticks, nimg)
            done = spent or done  # --minutes: the loop stops at the first tick past the budget
        if evals.due(nimg, at_end=done):
            self.evaluate(round(nimg / 1000, 3))
            evals.advance(nimg)
        if picks.due(nimg, at_end=done) and self.pick is not None:
            self.pick(round(nimg / 1000, 3), at_end=done)
            picks.advance(nimg)
        if snaps.due(nimg) and not done:
            self.grids.snapshot(nimg // 1000)
            snaps.advance(nimg)
        if ckpts.due(nimg) and not done:
            ckpts.advance(nimg)
            if self.dist.main:
                save_state(self.run_dir, self.state, self.cfg.keep_checkpoints)

    def tick_extra(self) -> dict:
        """What a tick records beyond the step statistics: the rates in effect now (--lr-schedule,
        rollbacks) and the instance noise std of the tick's last step."""
        extra = {"lr_G": self.state.opt_g.param_groups[0]["lr"], "lr_D": self.state.opt_d.param_groups[0]["lr"]}
        if self.cfg.instance_noise > 0:
            extra["instance_noise"] = round(self.sees.noise_std, 6)
        return extra

    def end(self) -> None:
        """A last resume state (so that ``--resume RUN --kimg MORE`` can extend the run) and the last grid."""
        if self.dist.main:
            save_state(self.run_dir, self.state, self.cfg.keep_checkpoints)
            self.grids.snapshot(self.state.progress.nimg // 1000)
