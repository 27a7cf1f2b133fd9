"""Evaluation during training (``--eval-every``): metrics of G on fresh samples, the best generator
kept in ``RUN/best/`` with its sample grid, and an alarm when the samples collapse while D's accuracy sits at chance;
``--pick-tail``'s scores of the run's tail; and the Gs both keep, which are resume state."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from ..config import PICK_METRICS
from ..errors import GanworksError
from ..release import save_network
from .resume import take
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


class KeptGenerators:
    """The generators the run's judges keep: ``RUN/best/`` (``--eval-every``) and ``RUN/picked/`` (``--pick-tail``),
    each with ``generator.*``, its grid ``fakes.png`` (the fixed noise of ``samples/``, whose grids show the last G)
    and the record of its score. They are resume state: a checkpoint holds the kept weights and records, and a run
    that continues from one (``--resume``, ``--on-nan rollback``) writes the directories back as they were then, so a
    kept G is always one of the run's own history, never one of a branch it left (a G kept after the checkpoint is
    removed, or replaced by the one kept before it). A checkpoint of an earlier version says nothing of them: the
    directories are then left as they are. Rank 0 only (the judges keep nothing elsewhere)."""

    RECORDS = {"best": "best.json", "picked": "picked.json"}  # the directory and its record's file name

    def __init__(self, run_dir: Path, G: nn.Module, arch: str, model_cfg, ema: bool, grids, main: bool):
        self.run_dir, self.G, self.arch, self.model_cfg, self.ema, self.grids = run_dir, G, arch, model_cfg, ema, grids
        self.main = main
        self.kept: dict[str, dict[str, Any]] = {}  # name -> {"kimg", "record", "tensors"}
        self.known = True  # False after loading a checkpoint that did not record what was kept

    def keep(self, name: str, kimg: float, record: dict) -> None:
        """Keep G as it is now in ``RUN/<name>/``, and its weights for the next checkpoint."""
        self._write(name, kimg, record, self.G)
        self.kept[name] = {"kimg": kimg, "record": record,
                           "tensors": {k: v.detach().to("cpu", copy=True) for k, v in self.G.state_dict().items()}}

    def _write(self, name: str, kimg: float, record: dict, G: nn.Module) -> None:
        directory = self.run_dir / name
        directory.mkdir(exist_ok=True)
        save_network(directory, "generator", G, self.arch, self.model_cfg, {"ema": self.ema, "kimg": kimg})
        self.grids.write(directory / "fakes.png", G)
        write_json(directory / self.RECORDS[name], record)

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any] | None]:
        """(tensors ``kept.<name>.*``, the record for state.json's ``kept``; None: not known)."""
        if not self.known:
            return {}, None
        tensors = {f"kept.{name}.{k}": v for name, e in self.kept.items() for k, v in e["tensors"].items()}
        return tensors, {name: {"kimg": e["kimg"], "record": e["record"]} for name, e in self.kept.items()}

    def load(self, tensors: dict[str, Tensor], record: dict[str, Any] | None, source: str) -> None:
        """Put back what a checkpoint kept (``record``: its state.json's ``kept``) and write the directories as
        they were at it; None: a checkpoint that did not record them, whose directories are left alone."""
        self.known = record is not None
        self.kept = {name: {**e, "tensors": take(tensors, f"kept.{name}")} for name, e in (record or {}).items()}
        networks = {}
        for name, e in self.kept.items():  # every kept G must fit before any directory is written
            networks[name] = copy.deepcopy(self.G)
            try:
                networks[name].load_state_dict(e["tensors"])
            except RuntimeError as err:
                raise GanworksError(f"{source}: its kept generator {name!r} does not fit this run's generator: "
                                    f"{str(err).strip().splitlines()[0]}") from None
        if not self.main or record is None:
            return
        for name, file in self.RECORDS.items():
            if name in networks:
                self._write(name, self.kept[name]["kimg"], self.kept[name]["record"], networks[name])
            else:  # a G kept after the checkpoint goes (scores.jsonl, which the tracker cuts back, stays)
                for stale in ("generator.safetensors", "generator.json", "fakes.png", file):
                    (self.run_dir / name / stale).unlink(missing_ok=True)


class Evaluator:
    """Evaluates G (the EMA when kept) on ``cfg.eval_n`` samples; rank 0 only (a no-op elsewhere)."""

    def __init__(self, cfg, G: nn.Module, run_dir: Path, tracker: Tracker, progress: Progress, kept: KeptGenerators):
        self.cfg, self.G, self.kept = cfg, G, kept
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
        self.kept.keep("best", kimg, {"metric": self.best_name, "value": value, "kimg": kimg,
                                      "higher_is_better": higher_is_better})


class Picker:
    """``--pick-tail``: over the run's last share, G (the average when kept) is scored every ``--pick-kimg`` kimg
    and at the run's end by ``--pick-metric`` (FD against the training split, or the class histogram's KL to
    uniform), on ``--pick-n`` samples of its own noise (seed + 1: the run trains on unchanged); the best so far is
    kept in ``RUN/picked/`` (``generator``, ``picked.json`` and its sample grid ``fakes.png``), each score in
    ``RUN/picked/scores.jsonl``, and at the end it becomes the run's ``generator``. The best score and where it
    was taken are resume state (``Progress.picked_value``, ``picked_at``; the G itself: :class:`KeptGenerators`): a
    run resumed with a longer ``--kimg`` or ``--minutes`` forgets a pick that lies before its new tail. Rank 0 only."""

    def __init__(self, cfg, G: nn.Module, run_dir: Path, tracker: Tracker, progress: Progress, schedules,
                 kept: KeptGenerators):
        self.cfg, self.G, self.kept = cfg, G, kept
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
            self.kept.keep("picked", kimg, {"metric": cfg.pick_metric, "split": split, "n": n, "value": value,
                                            "kimg": kimg})
            progress.picked_value, progress.picked_at = value, [progress.nimg, progress.budget.at_tick_s]

    def picked(self) -> dict | None:
        """What was picked (``picked.json``), or None: no score in this run's tail."""
        if self.progress.picked_value is None or not (self.dir / "picked.json").is_file():
            return None
        return json.loads((self.dir / "picked.json").read_text())
