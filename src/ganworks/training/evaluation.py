"""Evaluation during training (``--eval-every``): metrics of G on fresh samples, the best generator
kept in ``RUN/best/`` with its sample grid, and an alarm when the samples collapse while D's accuracy sits at chance."""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from ..config import PICK_METRICS
from ..release import save_network
from .rundir import write_json
from .state import Progress
from .tracking import Tracker, append_jsonl


def _collapsed(result: dict) -> str | None:
    """A description of mode collapse in one evaluation's results, or None."""
    for name, r in result["metrics"].items():
        if name == "modes" and r.get("collapsed"):
            return (f"mode collapse: {r['modes_covered']}/{r['num_classes']} classes covered, "
                    f"KL(hist || uniform) {r['kl_to_uniform']:.3f}")
        if name == "mixture" and r["modes_captured"] < 0.75 * r["num_modes"]:
            return f"mode collapse: {r['modes_captured']}/{r['num_modes']} modes captured"
    return None


def keep_generator(directory: Path, judge, kimg: float, record_name: str, record: dict) -> None:
    """Keep the G a judge (Evaluator, Picker) scored best: ``generator.*``, its grid ``fakes.png`` (the fixed noise
    of ``samples/``, whose grids show the last G) and the record of its score, in ``directory``."""
    directory.mkdir(exist_ok=True)
    save_network(directory, "generator", judge.G, judge.cfg.model, judge.model_cfg, {"ema": judge.ema, "kimg": kimg})
    judge.grids.write(directory / "fakes.png")
    write_json(directory / record_name, record)


class Evaluator:
    """Evaluates G (the EMA when kept) on ``cfg.eval_n`` samples; rank 0 only (a no-op elsewhere)."""

    def __init__(self, cfg, G: nn.Module, ema: bool, model_cfg, run_dir: Path, tracker: Tracker, progress: Progress,
                 grids):
        self.cfg, self.G, self.ema, self.model_cfg, self.grids = cfg, G, ema, model_cfg, grids
        self.run_dir, self.tracker, self.progress = run_dir, tracker, progress
        self.names = cfg.eval_metric_names() if cfg.eval_every > 0 else []
        self.best_name = cfg.best_metric or (self.names[0] if self.names else "")

    def __call__(self, kimg: float) -> list[str]:
        """Evaluate now, record the results, keep the best generator; returns the alarms raised."""
        from ..metrics.evaluate import evaluate

        if not self.tracker.main:  # evaluation writes files: rank 0's work
            return []
        cfg, run_dir = self.cfg, self.run_dir
        # G in memory: sampled in eval mode from its own seeded noise, so the run trains on unchanged.
        res = evaluate(self.G, data=cfg.data, metrics=self.names, n=cfg.eval_n, seed=cfg.seed)
        append_jsonl(run_dir / "metrics.jsonl", {"kimg": kimg, **res})
        values = {m: r["value"] for m, r in res["metrics"].items()}
        self.tracker.tb.metrics(kimg, values)
        self.tracker.log(f"eval kimg {kimg:<8.1f} " + "  ".join(f"{m} {v:.4g}" for m, v in values.items()))
        self._keep_best(kimg, values[self.best_name], res["metrics"][self.best_name]["higher_is_better"])
        alarms = []
        collapse = _collapsed(res)
        if collapse:
            alarms.append(collapse)
            d_acc = self.progress.last_d_acc
            if d_acc is not None and abs(d_acc - 0.5) <= 0.05:
                alarms.append(f"D's accuracy is {d_acc:.1%} while the samples are collapsed: D's feedback "
                              "has stopped being informative, and G now trains on noise")
        for alarm in alarms:
            self.tracker.log(f"ALARM kimg {kimg:.1f}: {alarm}")
        return alarms

    def _keep_best(self, kimg: float, value: float, higher_is_better: bool) -> None:
        best = self.progress.best_value
        if best is not None and not (value > best if higher_is_better else value < best):
            return
        self.progress.best_value = value
        keep_generator(self.run_dir / "best", self, kimg, "best.json",
                       {"metric": self.best_name, "value": value, "kimg": kimg, "higher_is_better": higher_is_better})


class Picker:
    """``--pick-tail``: over the run's last share, G (the average when kept) is scored every ``--pick-kimg`` kimg
    and at the run's end by ``--pick-metric`` (FD against the training split, or the class histogram's KL to
    uniform), on ``--pick-n`` samples of its own noise (seed + 1: the run trains on unchanged); the best so far is
    kept in ``RUN/picked/`` (``generator``, ``picked.json`` and its sample grid ``fakes.png``), each score in
    ``RUN/picked/scores.jsonl``, and at the end it becomes the run's ``generator``. The best score and where it
    was taken are resume state (``Progress.picked_value``, ``picked_at``): a run resumed with a longer ``--kimg``
    or ``--minutes`` forgets a pick that lies before its new tail. Rank 0 only."""

    def __init__(self, cfg, G: nn.Module, ema: bool, model_cfg, run_dir: Path, tracker: Tracker, progress: Progress,
                 schedules, grids):
        self.cfg, self.G, self.ema, self.model_cfg, self.grids = cfg, G, ema, model_cfg, grids
        self.run_dir, self.tracker, self.progress, self.schedules = run_dir, tracker, progress, schedules
        self.dir = run_dir / "picked"
        self.metric, self.key, self.name = PICK_METRICS[cfg.pick_metric]
        from ..metrics.evaluate import default_n

        self.n = cfg.pick_n or default_n(cfg.data)  # as ganworks evaluate samples

    def __call__(self, kimg: float, at_end: bool = False) -> None:
        """Score G now (``at_end``: the run's end, which a score one G step before stands for)."""
        from ..metrics.evaluate import evaluate

        progress, cfg, n = self.progress, self.cfg, self.n
        if not self.tracker.main or not self.schedules.in_pick(progress.nimg):
            return
        if at_end and progress.scored_step is not None and progress.g_step_count - progress.scored_step <= 1:
            return  # a scheduled score one step before the end: G has hardly moved since
        progress.scored_step = progress.g_step_count
        if progress.picked_at is not None and not self.schedules.in_pick(*progress.picked_at):
            progress.picked_value = progress.picked_at = None  # a pick from before this run's (longer) tail
        res = evaluate(self.G, data=cfg.data, metrics=self.metric, n=n, seed=cfg.seed + 1, split="train")
        value = float(res["metrics"][self.metric][self.key])
        best = progress.picked_value
        better = best is None or value < best
        self.dir.mkdir(exist_ok=True)
        append_jsonl(self.dir / "scores.jsonl", {"kimg": kimg, self.name: value, "picked": better})
        self.tracker.log(f"pick kimg {kimg:<8g} {self.name} {value:.4g}"
                         + (" (the best so far: kept)" if better else f" (best {best:.4g})"))
        if better:
            split = "train" if cfg.pick_metric == "fd" else None  # the KL needs no reference images
            keep_generator(self.dir, self, kimg, "picked.json", {"metric": cfg.pick_metric, "split": split, "n": n,
                                                                 "value": value, "kimg": kimg})
            progress.picked_value, progress.picked_at = value, [progress.nimg, progress.budget.at_tick_s]

    def picked(self) -> dict | None:
        """What was picked (``picked.json``), or None: no score in this run's tail."""
        if self.progress.picked_value is None or not (self.dir / "picked.json").is_file():
            return None
        return json.loads((self.dir / "picked.json").read_text())
