"""Kill, resume, repeat: a soak test of one live run (a benchmark script, not a unit test).

For --minutes (default 3) it trains tiny ring8 runs (the MLP pair of tests/gwtest.py's RING, with a
checkpoint every --checkpoint-kimg) through the real ``ganworks train`` command and, at a random
moment of each process (uniform in [--min-delay, --max-delay] seconds after its start), kills it
with SIGKILL or SIGTERM (alternately), then resumes it with ``ganworks train --resume RUN``
(or, while the run holds no checkpoint yet, ``train ... --resume auto --run-dir RUN``), until the
run completes. Meanwhile two reader threads run ``ganworks sample RUN`` and ``ganworks report RUN``
against the live run in a loop, writing outside it. When the time is up the run being killed is
resumed once more and left to finish; when a run finishes before the time is up a new one starts
(a new round, the next seed).

Each round's configuration is also trained uninterrupted (a reference, keeping every checkpoint),
and the soak checks:
- after every kill, that each checkpoint left in the live run holds the same tensors, bit for bit,
  and the same state.json as the reference's checkpoint at the same images-seen point (all but the
  unseeded global RNGs and the wall clock: see UNSEEDED below; one written at a point the reference
  never wrote, e.g. on SIGTERM, has no twin; a kill after which no checkpoint had a twin is counted
  as unmatched);
- at the end of each round, that the final generator and discriminator equal the reference's bit for
  bit, and stats.jsonl equals the reference's without its wall-clock fields (no lost or duplicated
  records);
- temporary files left in the run (names starting with "." or holding ".tmp"; the lock file RUN/.lock
  is not one);
- every reader exit: 0 is ok; 2 with a one-line message while the run had neither a generator nor
  a checkpoint when the reader started is "not ready yet" (expected); anything else is an error.

Usage: python benchmarks/soak.py [--minutes 3] [--cycles N] [--kimg 200] [--checkpoint-kimg 1]
                                 [--seed 0] [--out benchmarks/results/soak.json] [--work DIR]
Writes the JSON results and a Markdown table beside them (soak.md), both with their provenance.
Targets: every cycle bitwise exact, zero leftovers, zero reader errors.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import torch
from safetensors.torch import load_file

from provenance import cpu_name, markdown_footer, provenance, write_json
from ganworks.cli import OneLineParser

# tests/gwtest.py's RING: a tiny MLP pair on the 2-D ring, a whole run in seconds on one thread.
RING = ["--data", "ring8", "--batch-size", "64", "--z-dim", "4", "--g-hidden", "32", "--d-hidden", "32",
        "--no-progress", "--tick-kimg", "1", "--snapshot-kimg", "4"]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
NETS = ("generator", "discriminator")
# Not compared in checkpoints: the process-global Python and numpy RNGs, which ganworks saves and
# restores but never seeds or draws from in these runs (two uninterrupted runs of one config differ
# here too, while their weights are equal), the wall clock (counters.elapsed_s), and the settings
# --keep-checkpoints / --run-dir that the reference sets differently (state.json's "train").
UNSEEDED = ("rng.python", "rng.numpy")


def ganworks(*args: str) -> list[str]:
    return [sys.executable, "-m", "ganworks", *map(str, args)]


def env() -> dict:
    return {**os.environ, **ONE_THREAD}


def checkpoints(run: Path) -> list[Path]:
    """Checkpoint directories (ckpt-NNNNNNNNN), oldest first; temporaries are not listed."""
    root = run / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("ckpt-") and p.name[5:].isdigit())


def tensors_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], skip: tuple[str, ...] = ()) -> bool:
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k])
                                        for k in a if k not in skip)


def state_json(ckpt: Path) -> dict:
    """A checkpoint's state.json without what may differ between two exact runs (see UNSEEDED)."""
    s = json.loads((ckpt / "state.json").read_text())
    s.pop("train", None)
    s.get("counters", {}).pop("elapsed_s", None)
    return s


def weights(run: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {n: load_file(str(run / f"{n}.safetensors")) for n in NETS}


def stats(run: Path) -> list[dict]:
    """stats.jsonl without its wall-clock fields."""
    return [{k: v for k, v in json.loads(x).items() if k not in ("time_s", "img_per_s")}
            for x in (run / "stats.jsonl").read_text().splitlines()]


# The run's lock file (an flock on it dies with its holder): kept on purpose, not a temporary.
LOCK_FILE = ".lock"


def leftovers(run: Path) -> list[str]:
    """Temporary files or folders anywhere in the run: a name starting with '.' or holding '.tmp'
    (all but the lock file RUN/.lock)."""
    return sorted(str(p.relative_to(run)) for p in run.rglob("*")
                  if (p.name.startswith(".") or ".tmp" in p.name) and p != run / LOCK_FILE)


class Readers:
    """Threads running ``ganworks sample RUN`` and ``ganworks report RUN`` in a loop against ``run``."""

    def __init__(self, scratch: Path, pause: float = 0.0):
        self.scratch, self.run, self.stop, self.pause = scratch, None, threading.Event(), pause
        self.lock = threading.Lock()
        self.counts = {cmd: Counter() for cmd in ("sample", "report")}
        self.errors: list[dict] = []
        self.not_ready: Counter = Counter()
        self.threads = [threading.Thread(target=self.loop, args=(cmd,), daemon=True) for cmd in self.counts]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def loop(self, cmd: str) -> None:
        i = 0
        while not self.stop.is_set():
            run = self.run
            if run is None or not run.is_dir():
                time.sleep(0.1)
                continue
            i += 1
            # "Not ready" is honest only when the run had nothing to read when the reader started.
            ready = (run / "generator.safetensors").exists() or bool(checkpoints(run))
            out = self.scratch / f"{cmd}-{i}"
            args = (["sample", run, "--n", "16", "--out", f"{out}.png"] if cmd == "sample"
                    else ["report", run, "--out", f"{out}.html"])
            try:
                r = subprocess.run(ganworks(*args), env=env(), capture_output=True, text=True, timeout=120)
                rc, err = r.returncode, r.stderr.strip()
            except subprocess.TimeoutExpired:
                rc, err = "timeout", "no exit within 120 s"
            for f in (f"{out}.png", f"{out}.html"):
                Path(f).unlink(missing_ok=True)
            self.stop.wait(self.pause)  # --reader-pause: fewer readers, less CPU taken from the trainer
            lines = err.splitlines()
            with self.lock:
                if rc == 0:
                    self.counts[cmd]["ok"] += 1
                elif rc == 2 and len(lines) == 1 and "Traceback" not in err and not ready:
                    self.counts[cmd]["not_ready"] += 1
                    self.not_ready[f"{cmd}: {lines[0][:300]}"] += 1
                else:
                    self.counts[cmd]["error"] += 1
                    self.errors.append({"command": cmd, "exit": rc, "run_had_checkpoint_or_generator": ready,
                                        "stderr_tail": "\n".join(lines[-3:])[-600:]})


def start_train(args: list, log: Path) -> subprocess.Popen:
    with open(log, "ab") as f:
        return subprocess.Popen(ganworks("train", *args), env=env(), stdout=f, stderr=subprocess.STDOUT)


def config_args(a, seed: int) -> list[str]:
    return [*RING, "--kimg", f"{a.kimg:g}", "--checkpoint-kimg", f"{a.checkpoint_kimg:g}", "--seed", str(seed)]


def reference(a, seed: int, work: Path) -> Path:
    ref = work / f"ref-{seed}"
    # Every checkpoint kept, so each checkpoint of the live run has its twin (--keep-checkpoints may
    # change on resume: it does not touch the training).
    p = start_train([*config_args(a, seed), "--keep-checkpoints", "100000", "--run-dir", ref], work / f"ref-{seed}.log")
    if p.wait() != 0:
        sys.exit(f"soak: the uninterrupted reference run failed (exit {p.returncode}); see {work}/ref-{seed}.log")
    return ref


def compare_checkpoints(run: Path, ref: Path) -> str:
    """Every checkpoint of ``run`` against its twin in ``ref``: 'no checkpoint yet', 'exact' (all
    with a twin equal, at least one), 'unmatched' (none has a twin), 'differs: NAME' or 'unreadable: ...'."""
    found = checkpoints(run)
    if not found:
        return "no checkpoint yet"
    matched = 0
    for ckpt in found:
        twin = ref / "checkpoints" / ckpt.name
        if not twin.is_dir():
            continue
        try:
            mine = load_file(str(ckpt / "state.safetensors"))
        except Exception as e:  # noqa: BLE001  (a benchmark reports what it found, whatever it was)
            return f"unreadable: {ckpt.name}: {type(e).__name__}: {str(e)[:200]}"
        if not tensors_equal(mine, load_file(str(twin / "state.safetensors")), skip=UNSEEDED):
            return f"differs: {ckpt.name}"
        if state_json(ckpt) != state_json(twin):
            return f"differs: {ckpt.name}/state.json"
        matched += 1
    return "exact" if matched else "unmatched"


def soak_round(a, seed: int, work: Path, readers: Readers, deadline: float, rng: random.Random,
               cycles_left: list[int]) -> dict:
    readers.run = None  # no reading while the reference trains: it would only slow it down
    ref = reference(a, seed, work)
    run, log = work / f"run-{seed}", work / f"run-{seed}.log"
    readers.run = run
    res = {"seed": seed, "cycles": [], "resume_failures": [], "completed": False}
    first = True
    while True:
        if first:
            args = [*config_args(a, seed), "--run-dir", run]
        elif checkpoints(run):
            args = ["--resume", run]
        else:  # killed before its first checkpoint: start it again in the same directory
            args = [*config_args(a, seed), "--resume", "auto", "--run-dir", run]
        first = False
        out_of_time = time.monotonic() >= deadline or cycles_left[0] <= 0
        t0 = time.monotonic()
        log_at = log.stat().st_size if log.exists() else 0
        p = start_train(args, log)
        if out_of_time:  # the last process of this round: left to finish
            rc = p.wait()
            if rc == 0:
                res["completed"] = True
            else:
                res["resume_failures"].append({"exit": rc, "args": [str(x) for x in args],
                                               "log_tail": log.read_text()[-600:]})
                if res["cycles"]:
                    res["cycles"][-1]["resume_failed"] = True
            break
        delay = rng.uniform(a.min_delay, a.max_delay)
        sig = (signal.SIGKILL, signal.SIGTERM)[len(res["cycles"]) % 2]  # alternate; the moment is random
        try:
            rc = p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            rc = None
        if rc is not None:  # it ended before the kill: finished, or failed to resume
            if rc == 0:
                res["completed"] = True
                break
            res["resume_failures"].append({"exit": rc, "args": [str(x) for x in args],
                                           "log_tail": log.read_text()[-600:]})
            if res["cycles"]:
                res["cycles"][-1]["resume_failed"] = True
            break
        p.send_signal(sig)
        try:
            rc = p.wait(timeout=60)
            hung = False
        except subprocess.TimeoutExpired:  # SIGTERM ignored for a minute: kill it
            p.kill()
            rc, hung = p.wait(), True
        cycles_left[0] -= 1
        ck = checkpoints(run)
        res["cycles"].append({"signal": sig.name, "after_s": round(time.monotonic() - t0, 2), "exit": rc,
                              "hung": hung, "output_bytes": log.stat().st_size - log_at,
                              "newest_checkpoint": ck[-1].name if ck else None,
                              "check": compare_checkpoints(run, ref),
                              "temporaries_after_kill": len(leftovers(run))})
        if rc == 0:  # it finished between the timeout and the signal
            res["completed"] = True
            break
    if res["completed"]:
        try:
            mine, theirs = weights(run), weights(ref)
            res["final_bitwise"] = all(tensors_equal(mine[n], theirs[n]) for n in NETS)
        except Exception as e:  # noqa: BLE001
            res["final_bitwise"] = False
            res["final_error"] = f"{type(e).__name__}: {str(e)[:200]}"
        try:
            res["stats_equal"] = stats(run) == stats(ref)
        except (OSError, ValueError) as e:
            res["stats_equal"], res["stats_error"] = False, str(e)[:200]
    res["leftovers"] = leftovers(run)
    return res


def main() -> int:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0, help="how long to keep killing (default 3)")
    ap.add_argument("--cycles", type=int, default=None, help="stop killing after this many kills (default: no limit)")
    ap.add_argument("--kimg", type=float, default=200.0, help="length of each run (default 200)")
    ap.add_argument("--checkpoint-kimg", type=float, default=1.0, help="checkpoint interval (default 1)")
    ap.add_argument("--min-delay", type=float, default=0.5, help="earliest kill, seconds after a start (default 0.5)")
    ap.add_argument("--max-delay", type=float, default=10.0, help="latest kill, seconds after a start (default 10)")
    ap.add_argument("--seed", type=int, default=0, help="first training seed and the kill schedule's seed")
    ap.add_argument("--out", default="benchmarks/results/soak.json", help="results JSON (and .md beside it)")
    ap.add_argument("--reader-pause", type=float, default=0.0,
                    help="seconds each reader waits between runs (default 0: back to back)")
    ap.add_argument("--work", default=None, help="where the runs go (default: a temporary folder, removed)")
    a = ap.parse_args()
    if not (a.minutes >= 0 and a.kimg > 0 and a.checkpoint_kimg > 0 and 0 <= a.min_delay <= a.max_delay):
        ap.error("need --minutes >= 0, --kimg > 0, --checkpoint-kimg > 0 and 0 <= --min-delay <= --max-delay")
    torch.set_num_threads(1)
    tmp = None if a.work else tempfile.TemporaryDirectory(prefix="soak-")
    work = Path(a.work or tmp.name)
    (work / "readers").mkdir(parents=True, exist_ok=True)
    rng = random.Random(a.seed)
    readers = Readers(work / "readers", a.reader_pause)
    readers.start()
    t0 = time.monotonic()
    deadline = t0 + 60 * a.minutes
    cycles_left = [a.cycles if a.cycles is not None else 10 ** 9]
    rounds = []
    seed = a.seed
    scrub = str(work)  # results name no path of the temporary work folder: "<work>" stands for it
    while True:
        rounds.append(soak_round(a, seed, work, readers, deadline, rng, cycles_left))
        print(f"round {seed}: {len(rounds[-1]['cycles'])} kills, completed {rounds[-1]['completed']}, "
              f"final bitwise {rounds[-1].get('final_bitwise')}", file=sys.stderr)
        seed += 1
        if time.monotonic() >= deadline or cycles_left[0] <= 0 or not rounds[-1]["completed"]:
            break
    readers.stop.set()
    for t in readers.threads:
        t.join()
    elapsed = time.monotonic() - t0

    cycles = [c for r in rounds for c in r["cycles"]]
    checks = Counter(c["check"].split(":")[0] for c in cycles)  # differs / unreadable without the name
    res = {
        "settings": {"minutes": a.minutes, "cycles": a.cycles, "kimg": a.kimg, "checkpoint_kimg": a.checkpoint_kimg,
                     "delay_s": [a.min_delay, a.max_delay], "seed": a.seed, "train_args": config_args(a, a.seed)},
        "elapsed_s": round(elapsed, 1),
        "rounds": len(rounds),
        "rounds_completed": sum(r["completed"] for r in rounds),
        "kills": len(cycles),
        "kills_by_signal": dict(Counter(c["signal"] for c in cycles)),
        "exit_codes": {f"{s} -> {e}": n for (s, e), n in Counter((c["signal"], c["exit"]) for c in cycles).items()},
        "sigterm_hangs": sum(c["hung"] for c in cycles),
        # A SIGTERM that lands before the process has written anything (Python still importing torch)
        # meets no handler yet: exit -15 there is the default action, not a lost checkpoint.
        "sigterm_default_before_output": sum(c["signal"] == "SIGTERM" and c["exit"] == -15 and c["output_bytes"] == 0
                                             for c in cycles),
        "checkpoint_checks": dict(checks),
        # A kill is survived when no checkpoint is damaged or different and the resume after it ran.
        "cycles_survived": sum(c["check"] in ("exact", "unmatched", "no checkpoint yet") and not c.get("resume_failed")
                               for c in cycles),
        "resume_failures": sum(len(r["resume_failures"]) for r in rounds),
        "final_bitwise": [r.get("final_bitwise") for r in rounds],
        "stats_equal": [r.get("stats_equal") for r in rounds],
        "leftovers": sum(len(r["leftovers"]) for r in rounds),
        "leftover_names": sorted({n for r in rounds for n in r["leftovers"]})[:20],
        "max_temporaries_after_a_kill": max((c["temporaries_after_kill"] for c in cycles), default=0),
        "readers": {cmd: dict(c) for cmd, c in readers.counts.items()},
        "reader_errors": len(readers.errors),
        "reader_error_examples": readers.errors[:10],
        "reader_not_ready_messages": dict(readers.not_ready.most_common(5)),
        "rounds_detail": rounds,
    }
    res = json.loads(json.dumps(res).replace(json.dumps(scrub)[1:-1], "<work>"))
    prov = provenance()
    out = write_json(a.out, res, prov)
    rd = res["readers"]
    md = [f"Soak of `ganworks train` on ring8 (tiny MLP, {a.kimg:g} kimg, a checkpoint every {a.checkpoint_kimg:g} "
          f"kimg), kills at uniform random moments {a.min_delay:g}-{a.max_delay:g} s after each start, "
          f"{res['elapsed_s']:.0f} s on {cpu_name()}.", "",
          "| measure | result | target |", "|---|---|---|",
          f"| kills survived (checkpoints exact or unmatched, resumed) | {res['cycles_survived']} of "
          f"{res['kills']} ({', '.join(f'{k} {v}' for k, v in res['kills_by_signal'].items())}) | all |",
          f"| checkpoints after a kill vs the uninterrupted run's | "
          f"{', '.join(f'{k} {v}' for k, v in sorted(checks.items())) or '—'} | no `differs`, no `unreadable` |",
          f"| exits after the signal | {', '.join(f'{k}: {v}' for k, v in sorted(res['exit_codes'].items()))} | "
          f"SIGTERM -> 143 (-15 only before any output: {res['sigterm_default_before_output']} such) |",
          f"| resumes that failed | {res['resume_failures']} | 0 |",
          f"| rounds completed / final weights bitwise equal / stats.jsonl equal | {res['rounds_completed']} of "
          f"{res['rounds']} / {sum(x is True for x in res['final_bitwise'])} / "
          f"{sum(x is True for x in res['stats_equal'])} | all |",
          f"| temporary files left in the runs | {res['leftovers']} | 0 |",
          f"| reader runs: sample ok / not ready / error | {rd['sample'].get('ok', 0)} / "
          f"{rd['sample'].get('not_ready', 0)} / {rd['sample'].get('error', 0)} | errors 0 |",
          f"| reader runs: report ok / not ready / error | {rd['report'].get('ok', 0)} / "
          f"{rd['report'].get('not_ready', 0)} / {rd['report'].get('error', 0)} | errors 0 |",
          "", "_Not ready: exit 2 with one line while the run had neither a generator nor a checkpoint "
          "(expected); error: any other failure._", "", markdown_footer(prov)]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
