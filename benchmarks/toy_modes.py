"""Mode coverage on the 2-D Gaussian mixtures ring8 and grid25, over several seeds.

Trains the MLP pair with one fixed configuration per dataset (CONFIGS below) through the real
training loop (``ganworks.train``), then draws 2,500 samples from the saved generator (the EMA
of G) and scores them with the PacGAN protocol (``ganworks.metrics.mixture_modes``; Lin et al.
2018, Sec. 5.1): a sample is *high quality* when it lies within 3 standard deviations of its
nearest mode along each axis; a mode is *captured* when it has at least one high-quality
sample; the reverse KL compares the high-quality samples' histogram over the modes with the
uniform distribution. Target: 8/8 modes with >= 97% high quality on ring8 and 25/25 with >= 95%
on grid25, for every seed. How the configurations were found: docs/research/grid25.md.

Usage: python benchmarks/toy_modes.py [--seeds 0,1,2,3,4] [--datasets ring8,grid25] [--kimg K] [--batch-size B]
                                      [--set KEY=VALUE ...] [--runs-root DIR [--reuse]] [--eval-every KIMG] [--jobs N] [--out benchmarks/results/toy_modes.json]
Writes the JSON results and a markdown table beside them (toy_modes.md), both with their provenance.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

import ganworks
from ganworks.data.toy import GRID25, RING8
from ganworks.metrics import mixture_modes
from provenance import RUNS_NOT_KEPT, cpu_name, markdown_footer, provenance, run_ref, write_json
from ganworks.cli import OneLineParser

SPECS = {"ring8": RING8, "grid25": GRID25}
N_SAMPLES = 2500
SAMPLE_SEED = 2018  # latents for the judged samples: distinct from the training seeds

# The configuration, per dataset (``ganworks.train`` keyword arguments), chosen by a search on seed 0
# and then checked on seeds 0-4: docs/research/grid25.md records what was tried, with the results
# files each step left in benchmarks/results/. What mattered on grid25: a deep G with BatchNorm, D's
# rate 4x G's, instance noise falling to 0 over the whole run, and a latent cut into 100 bins.
_G7 = dict(z_dim=2, g_hidden=(128,) * 7, g_batchnorm=True, d_hidden=(128, 128, 128), d_dropout=0.0)
_G13 = {**_G7, "g_hidden": (128,) * 13}
_G7_CUT = {**_G7, "z_dim": 3, "z_categories": 100}
CONFIGS: dict[str, dict] = {
    "ring8": dict(objective="ns", kimg=2000, batch_size=256, lr_g=2e-4, lr_d=2e-4, lr_schedule="linear", ema_kimg=5,
                  model_options=_G13),
    "grid25": dict(objective="ns", kimg=32000, batch_size=512, lr_g=2e-4, lr_d=8e-4, lr_schedule="linear", ema_kimg=5,
                   instance_noise=0.5, instance_noise_kimg=32000, model_options=_G7_CUT),
}
TARGET = {"ring8": {"modes": 8, "hq": 0.97}, "grid25": {"modes": 25, "hq": 0.95}}
# PacGAN (Lin et al. 2018), Table 1: modes captured / high-quality % / reverse KL, mean over trials.
PAPER = {
    "ring8": {"GAN": (6.3, 98.2, 0.45), "PacGAN4": (7.8, 95.9, 0.07)},
    "grid25": {"GAN": (17.3, 94.8, 0.70), "PacGAN4": (24.8, 93.6, 0.04)},
}


def cli_command(data: str, cfg: dict) -> str:
    """The same configuration as a ``ganworks train`` command line (flags from the typed config)."""
    from ganworks.config import command_line

    return command_line({"data": data, "model": "mlp", **cfg})


def init_worker(threads: int, parent: int) -> None:
    """Set up one --jobs worker: its thread count, and (on Linux) death with the benchmark.

    Without the second part, killing the benchmark leaves its workers training, and taking
    the runs already queued, for up to an hour each.
    """
    torch.set_num_threads(threads)
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the benchmark died before prctl took effect
            os._exit(1)


def train_kwargs(data: str, cfg: dict, seed: int, eval_every: float) -> dict:
    """The ``ganworks.train`` arguments of one run. ``eval_every`` > 0 adds the mixture metric on
    2,500 samples every that many kimg (metrics.jsonl): a trajectory of modes and high quality.
    It samples from its own seeded generator, so the run trains exactly as without it."""
    kw = dict(data=data, model="mlp", seed=seed, progress=False, tick_kimg=cfg["kimg"] / 4, snapshot_kimg=0, **cfg)
    if eval_every > 0:
        kw.update(eval_every=eval_every, eval_metrics="mixture", eval_n=N_SAMPLES)
    return kw


def finished_run(run: Path, kw: dict) -> bool:
    """True when ``run`` holds a finished run of exactly this configuration (``--reuse``)."""
    if not (run / "generator.safetensors").is_file() or not (run / "config.json").is_file():
        return False
    want = ganworks.TrainConfig.from_dict({k: v for k, v in kw.items() if k != "progress"}).to_dict()
    # Through TrainConfig: fields added since the run was trained take their defaults.
    have = ganworks.TrainConfig.from_dict(json.loads((run / "config.json").read_text())["train"]).to_dict()
    ignore = {"run_dir", "runs_root", "progress", "eval_every", "eval_metrics", "eval_n"}  # do not change training
    same = lambda x, y: json.loads(json.dumps(x)) == json.loads(json.dumps(y))  # noqa: E731 (tuples as lists; 1 == 1.0)
    return all(same(have.get(k), v) for k, v in want.items() if k not in ignore)


def trajectory(run: Path) -> list[dict]:
    """Modes, high-quality fraction and the poorest mode's high-quality count (of 2,500 samples) at each
    evaluation during training (empty without --eval-every). "Captured" needs one sample, so a mode
    starved to 0-4 samples can pass by the luck of a draw: the poorest count shows it."""
    path = run / "metrics.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        m = rec["metrics"]["mixture"]
        out.append({"kimg": rec["kimg"], "modes": m["modes_captured"], "high_quality": round(m["high_quality_fraction"], 4),
                    "poorest": min(m["mode_counts"])})
    return out


def run_one(data: str, cfg: dict, seed: int, runs_root: str, eval_every: float = 0.0, reuse: bool = False) -> dict:
    run = Path(runs_root) / f"{data}-seed{seed}"
    kw = train_kwargs(data, cfg, seed, eval_every)
    reused = reuse and finished_run(run, kw)
    t0 = time.perf_counter()
    if not reused:
        run = ganworks.train(run_dir=str(run), **kw)
    train_s = time.perf_counter() - t0
    ticks = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    if reused:
        train_s = ticks[-1]["time_s"]  # the training time the run itself recorded
    G = ganworks.load_generator(run)  # the EMA of G
    pts = ganworks.sample(G, N_SAMPLES, seed=SAMPLE_SEED)  # float points (N, 2, 1, 1)
    spec = SPECS[data]
    r = mixture_modes(pts, spec.modes(), spec.std)
    ok = r["modes_captured"] == TARGET[data]["modes"] and r["high_quality_fraction"] >= TARGET[data]["hq"]
    return {"seed": seed, "modes": r["modes_captured"], "num_modes": r["num_modes"],
            "high_quality": round(r["high_quality_fraction"], 4), "reverse_kl": round(r["reverse_kl"], 4)
            if r["reverse_kl"] is not None else None, "mode_counts": r["mode_counts"],
            "seconds": round(train_s, 1), "img_per_s": round(statistics.median(t["img_per_s"] for t in ticks), 1),
            "meets_target": ok, "reused": reused, "trajectory": trajectory(run), "run": str(run)}


def summary(rows: list[dict]) -> dict:
    kls = [r["reverse_kl"] for r in rows if r["reverse_kl"] is not None]
    return {"modes": round(statistics.mean(r["modes"] for r in rows), 2),
            "high_quality": round(statistics.mean(r["high_quality"] for r in rows), 4),
            "reverse_kl": round(statistics.mean(kls), 4) if kls else None,
            "seconds": round(statistics.mean(r["seconds"] for r in rows), 1),
            "min_modes": min(r["modes"] for r in rows), "min_high_quality": min(r["high_quality"] for r in rows),
            "poorest": min(min(r["mode_counts"]) for r in rows),
            "every_seed_meets_target": all(r["meets_target"] for r in rows)}


def table(data: str, rows: list[dict], mean: dict) -> list[str]:
    t = TARGET[data]
    md = [f"**{data}** (target: {t['modes']}/{t['modes']} modes, ≥ {t['hq']:.0%} high quality, every seed)", "",
          "| run | modes | high quality | reverse KL | poorest mode | seconds |", "|---|---|---|---|---|---|"]
    for r in rows:
        kl = "n/a" if r["reverse_kl"] is None else f"{r['reverse_kl']:.3f}"
        md.append(f"| seed {r['seed']}{'' if r['meets_target'] else ' ✗'} | {r['modes']}/{r['num_modes']} | "
                  f"{r['high_quality']:.1%} | {kl} | {min(r['mode_counts'])} | {r['seconds']:.0f} |")
    kl = "n/a" if mean["reverse_kl"] is None else f"{mean['reverse_kl']:.3f}"
    md.append(f"| **ganworks, mean of {len(rows)}** | **{mean['modes']:g}** | **{mean['high_quality']:.1%}** | "
              f"**{kl}** | {mean['poorest']} | {mean['seconds']:.0f} |")
    for name, (m, hq, rkl) in PAPER[data].items():
        md.append(f"| PacGAN paper: {name} | {m:g} | {hq:.1f}% | {rkl:.2f} | | |")
    return md


def main() -> int:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--datasets", default="ring8,grid25")
    ap.add_argument("--kimg", type=float, default=None, help="override every configuration's training length")
    ap.add_argument("--batch-size", type=int, default=None, help="override every configuration's batch size")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override one ganworks.train argument of every configuration (VALUE as JSON), e.g. "
                         "--set instance_noise=0.25; repeatable")
    ap.add_argument("--runs-root", default=None, help="where run directories go (default: a temporary folder)")
    ap.add_argument("--reuse", action="store_true",
                    help="with --runs-root: score a finished run of the same configuration instead of training it again")
    ap.add_argument("--eval-every", type=float, default=0.0,
                    help="also record modes and high quality every this many kimg during training (a trajectory)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for these small MLPs)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="runs in parallel, one process each (2 on a 2-core machine halves the wall time)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "toy_modes.json"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    seeds = [int(s) for s in a.seeds.split(",")]
    datasets = a.datasets.split(",")
    for d in datasets:
        if d not in CONFIGS:
            ap.error(f"unknown dataset {d!r}; choose from {', '.join(CONFIGS)}")
    if a.reuse and not a.runs_root:
        ap.error("--reuse needs --runs-root (the folder that holds the earlier runs)")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = None if a.runs_root else tempfile.TemporaryDirectory(prefix="ganworks-toy-modes-")
    runs_root = a.runs_root or tmp.name

    t_all = time.perf_counter()
    over = {k: v for k, v in (("kimg", a.kimg), ("batch_size", a.batch_size)) if v is not None}
    fields = set(ganworks.TrainConfig().to_dict())
    for item in a.set:
        key, sep, value = item.partition("=")
        if not sep or key not in fields or key in ("data", "model", "seed", "run_dir", "runs_root"):
            ap.error(f"--set {item!r}: expected KEY=VALUE with KEY a TrainConfig field other than data, model, seed, "
                     "run_dir and runs_root")
        try:
            over[key] = json.loads(value)
        except ValueError:
            over[key] = value  # a bare string, e.g. --set lr_schedule=cosine
    cfgs = {d: {**CONFIGS[d], **over} for d in datasets}
    for d in datasets:
        print(f"{d}: {cli_command(d, cfgs[d])}", flush=True)
    # Longest runs first, so that --jobs N workers finish close together.
    jobs = sorted(((d, s) for d in datasets for s in seeds), key=lambda j: -cfgs[j[0]]["kimg"])
    done: dict[tuple[str, int], dict] = {}

    def report(d: str, r: dict) -> None:
        kl = "n/a" if r["reverse_kl"] is None else f"{r['reverse_kl']:.3f}"
        print(f"  {d} seed {r['seed']}: {r['modes']}/{r['num_modes']} modes  high quality {r['high_quality']:.1%}  "
              f"reverse KL {kl}  {r['seconds']:.0f}s  {'ok' if r['meets_target'] else 'MISSES TARGET'}", flush=True)

    if a.jobs == 1:
        for d, seed in jobs:
            done[d, seed] = run_one(d, cfgs[d], seed, runs_root, a.eval_every, a.reuse)
            report(d, done[d, seed])
    else:  # one single-threaded process per job, a.jobs at a time (each run is independent)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(a.jobs, mp_context=ctx, initializer=init_worker,
                                 initargs=(a.threads, os.getpid())) as pool:
            futures = {pool.submit(run_one, d, cfgs[d], seed, runs_root, a.eval_every, a.reuse): (d, seed) for d, seed in jobs}
            for f in as_completed(futures):
                done[futures[f]] = f.result()
                report(futures[f][0], done[futures[f]])
    results = {}
    for data in datasets:
        cfg = cfgs[data]
        rows = [done[data, seed] for seed in seeds]
        cfg_json = {**cfg, "model_options": {k: list(v) if isinstance(v, tuple) else v
                                             for k, v in cfg["model_options"].items()}}
        results[data] = {"config": cfg_json, "command": cli_command(data, cfg), "target": TARGET[data],
                         "paper": {k: dict(zip(("modes", "high_quality_pct", "reverse_kl"), v))
                                   for k, v in PAPER[data].items()},
                         "seeds": rows, "mean": summary(rows)}
    total_s = time.perf_counter() - t_all
    for res in results.values():
        for r in res["seeds"]:
            r["run"] = run_ref(r["run"]) or RUNS_NOT_KEPT  # the temporary default is gone by now
    if tmp is not None:
        tmp.cleanup()

    res = {"benchmark": "toy_modes", "cpu": cpu_name(), "torch": torch.__version__, "ganworks": ganworks.__version__,
           "threads": a.threads, "jobs": a.jobs, "n_samples": N_SAMPLES, "sample_seed": SAMPLE_SEED,
           "protocol": "PacGAN (Lin et al. 2018, Sec. 5.1): high quality = within 3 std per axis of the nearest "
                       "mode; a mode is captured with >= 1 high-quality sample; reverse KL of the high-quality "
                       "histogram vs. uniform",
           "datasets": results, "total_seconds": round(total_s, 1),
           "every_seed_meets_target": all(r["mean"]["every_seed_meets_target"] for r in results.values())}
    prov = provenance()
    write_json(out, res, prov)
    n_reused = sum(r.get("reused", False) for res in results.values() for r in res["seeds"])
    reused = (f" {n_reused} run(s) were trained by an earlier invocation (--reuse) and only scored here; their "
              "seconds are what those runs recorded." if n_reused else "")
    md = [f"2,500 samples per run from the EMA generator, PacGAN protocol; {cpu_name()}, torch {torch.__version__}, "
          f"{a.threads} thread(s) per run, {a.jobs} run(s) at a time; {total_s / 60:.1f} min in all.{reused} "
          "Poorest mode: the high-quality samples on the run's least-covered mode (a full share is 2,500 / modes); "
          "in the mean row, the least over the seeds.", ""]
    for data, r in results.items():
        md += table(data, r["seeds"], r["mean"]) + ["", f"`{r['command']}`", ""]
    md.append("Every seed meets the target: " + ("yes" if res["every_seed_meets_target"] else "**no**") + ".")
    md += ["", markdown_footer(prov)]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
