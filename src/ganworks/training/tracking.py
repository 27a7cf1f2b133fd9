"""What a run reports while it trains: ``log.txt``, ``stats.jsonl``, TensorBoard, the progress bar.

Statistics of every step are summed over a tick and written once per tick as means (StyleGAN's
"one status line per tick"), with alarms about the state of the game. Only rank 0 writes: the
:class:`Tracker` decides that once, when it is made; every process still takes part in the
all-reduce of the tick means.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

from ..images import atomic_path
from . import distributed
from .logs import TensorBoardLog

# Alarms, checked at every tick (printed, logged and recorded in stats.jsonl): when D is too good G
# gets no meaningful gradient, and once D's feedback is random G trains on junk. Thresholds are
# deliberately conservative.
D_WINS_ACC = 0.99


def tick_alarms(stats: dict[str, float], probabilistic: bool) -> list[str]:
    """Warnings about the state of the game from one tick's averaged statistics."""
    alarms = []
    if probabilistic and stats.get("D_acc", 0.0) >= D_WINS_ACC:
        alarms.append(f"D wins: accuracy {stats['D_acc']:.1%} on real vs. fake, D(G(z)) {stats.get('D(G(z))', 0):.3f}; "
                      f"G's gradient norm {stats.get('grad_G', float('nan')):.2e} (saturating losses vanish here)")
    if any(not math.isfinite(v) for v in stats.values()):
        bad = ", ".join(k for k, v in stats.items() if not math.isfinite(v))
        alarms.append(f"non-finite statistics: {bad}")
    return alarms


def status_line(tick: int, nimg: int, elapsed: float, ips: float, stats: dict[str, float]) -> str:
    parts = [f"tick {tick:<4d} kimg {nimg / 1000:<8.1f} time {elapsed:6.1f}s  img/s {ips:7.0f}"]
    parts += [f"{k} {v:.3f}" for k, v in stats.items()]
    return "  ".join(parts)


def append_jsonl(path: Path, rec: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


def truncate_jsonl(path: Path, nimg: int) -> None:
    """Keep the records of ``path`` up to ``nimg`` images (a resumed run writes the later ones
    again); a torn last line from a killed process is dropped too."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if round(json.loads(line)["kimg"] * 1000) <= nimg:
                keep.append(line + "\n")
        except (ValueError, KeyError, TypeError):
            continue
    with atomic_path(path) as tmp:
        tmp.write_text("".join(keep))


class Clock:
    """Wall-clock seconds of training, carried over a resume (``elapsed_s`` in the resume state)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def carry(self, seconds: float) -> None:
        """Count ``seconds`` already trained before this process started."""
        self.start -= seconds


class TickMeans:
    """This tick's running sums of the step statistics, kept as tensors (no sync per step)."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, step_stats: dict[str, Tensor]) -> None:
        for k, v in step_stats.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
            self.counts[k] = self.counts.get(k, 0) + 1

    def means(self, dist: distributed.Dist) -> dict[str, float]:
        """The tick's means, averaged over processes (a collective call: every process makes it)."""
        keys = list(self.sums)
        means = distributed.mean_across(torch.stack([self.sums[k] / self.counts[k] for k in keys]), dist) \
            if dist.active else None
        return {k: round(float(means[i]) if means is not None else float(self.sums[k]) / self.counts[k], 6)
                for i, k in enumerate(keys)}

    def clear(self) -> None:
        self.sums.clear()
        self.counts.clear()

    def state(self) -> tuple[dict[str, Tensor], dict[str, int]]:
        return {f"tick_sum.{k}": v.detach().float().cpu().reshape(1) for k, v in self.sums.items()}, self.counts

    def load(self, sums: dict[str, Tensor], counts: dict[str, int], device: torch.device) -> None:
        self.clear()
        self.sums.update({k: v.to(device).reshape(()) for k, v in sums.items()})
        self.counts.update(counts)


class Tracker:
    """log.txt, stats.jsonl, TensorBoard and the progress bar of one run, written by rank 0 only.

    Made before the run's files are opened (so a resume can cut the records back first); use it
    as a context manager around the training loop: ``with tracker.open(...):``."""

    def __init__(self, run_dir: Path, dist: distributed.Dist, clock: Clock):
        self.run_dir, self.dist, self.clock = run_dir, dist, clock
        self.main = dist.main  # the one rank-0 decision: every write below is skipped elsewhere
        self.means = TickMeans()
        self.bar = self.tb = self._log_file = None

    def rewind(self, nimg: int) -> None:
        """Cut stats.jsonl, metrics.jsonl and picked/scores.jsonl back to ``nimg`` images (-1: empty), for a
        resumed run."""
        if self.main:
            for name in ("stats.jsonl", "metrics.jsonl", "picked/scores.jsonl"):
                truncate_jsonl(self.run_dir / name, nimg)

    def open(self, total: int, nimg: int, resumed: bool, progress: bool, desc: str) -> "Tracker":
        """Open log.txt, TensorBoard and the progress bar (a count without a bar for a run that only --minutes
        ends: ``total`` is then ``NO_IMAGE_LIMIT``)."""
        from tqdm import tqdm

        from ..config import NO_IMAGE_LIMIT

        self._log_file = open(self.run_dir / "log.txt" if self.main else os.devnull, "a")
        try:
            # purge_step (on resume): TensorBoard hides the killed run's points past the checkpoint.
            self.tb = TensorBoardLog(self.run_dir, enabled=self.main, purge_step=nimg + 1 if resumed else None)
            bar_total = None if total >= NO_IMAGE_LIMIT else total
            self.bar = tqdm(total=bar_total, initial=min(nimg, total), unit="img", unit_scale=True, file=sys.stderr,
                            dynamic_ncols=True, disable=None if progress and self.main else True, desc=desc,
                            leave=False)
        except BaseException:
            self.__exit__()
            raise
        self._t_tick, self._nimg_tick = time.perf_counter(), nimg
        return self

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, *exc) -> None:
        for part in (self.bar, self.tb, self._log_file):
            if part is not None:
                part.close()

    def log(self, line: str) -> None:
        """A line on stderr (above the progress bar) and in log.txt."""
        if self.main:
            from tqdm import tqdm
            tqdm.write(line, file=sys.stderr)
            self._log_file.write(line + "\n")
            self._log_file.flush()

    def note(self, line: str) -> None:
        """A line in log.txt only (what also reaches stderr another way, e.g. as the error raised)."""
        self._log_file.write(line + "\n")  # a no-op on other ranks: their log file is os.devnull

    def seek(self, nimg: int) -> None:
        """Put the progress bar at ``nimg`` (after a rollback)."""
        self.bar.n = nimg
        self.bar.refresh()

    def step(self, nimg: int, step_stats: dict[str, Tensor]) -> None:
        self.bar.update(nimg)
        self.means.add(step_stats)

    def tick(self, tick: int, nimg: int, extra: dict, probabilistic: bool) -> dict[str, float]:
        """Close a tick: one stats.jsonl record, TensorBoard scalars, a status line, alarms.
        ``extra`` (learning rates, noise) is recorded after the means. Returns the means."""
        now = time.perf_counter()
        stats = self.means.means(self.dist)
        ips = (nimg - self._nimg_tick) / max(now - self._t_tick, 1e-9)
        rec = {"tick": tick, "kimg": round(nimg / 1000, 3), "time_s": round(now - self.clock.start, 2),
               "img_per_s": round(ips, 1), **stats, **extra}
        if not all(math.isfinite(v) for v in stats.values()):
            rec["nonfinite"] = True
        alarms = tick_alarms(stats, probabilistic)
        if alarms:
            rec["alarms"] = alarms
        if self.main:
            append_jsonl(self.run_dir / "stats.jsonl", rec)
        self.tb.tick(rec)
        self.log(status_line(tick, nimg, now - self.clock.start, ips, stats))
        for alarm in alarms:
            self.log(f"ALARM tick {tick}: {alarm}")
        self.means.clear()
        self._t_tick, self._nimg_tick = now, nimg
        return stats
