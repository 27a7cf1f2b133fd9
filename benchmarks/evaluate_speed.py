"""How long ``ganworks evaluate`` takes on this machine, stage by stage.

Scores 10,000 "generated" images against mnist-5k with every image metric (fd, kid, pr, dc,
score, modes, parzen), once with an empty reference cache (cold) and once with it filled
(warm). Without ``--run`` the 10,000 images are the 5,000 mnist-5k digits plus a copy of each
shifted by one pixel in a random direction (real-looking digits, no training needed); with
``--run RUN`` they are sampled from a trained generator. ``--stacked`` also times the Stacked
MNIST mode count (26,000 images, each channel classified).

Usage: python benchmarks/evaluate_speed.py [--run RUN] [--n 10000] [--metrics fd,kid,...] [--no-stacked] [--threads N]
                                          [--json benchmarks/results/evaluate_speed.json]
Prints a table of seconds per stage and writes the JSON with its provenance.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ganworks.data import load_dataset
from ganworks.metrics.evaluate import evaluate

from provenance import RUNS_NOT_KEPT, cpu_name, provenance, run_ref, write_json
from ganworks.cli import OneLineParser

METRICS = "fd,kid,pr,dc,score,modes,parzen"


def _real_ish(n: int, tmp: Path) -> Path:
    x = load_dataset("mnist-5k").images.numpy()[:, 0]
    rng = np.random.default_rng(0)
    out = [x]
    while sum(len(a) for a in out) < n:
        dy, dx = rng.integers(-1, 2, size=(2, len(x)))
        out.append(np.stack([np.roll(img, (a, b), axis=(0, 1)) for img, a, b in zip(x, dy, dx)]))
    path = tmp / "fakes.npy"
    np.save(path, np.concatenate(out)[:n])
    return path


def main() -> int:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", help="a trained run on mnist-5k to sample (default: 10,000 real-ish digits)")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--metrics", default=METRICS, help=f"image metrics to time (default {METRICS})")
    ap.add_argument("--no-stacked", action="store_true", help="skip the Stacked MNIST mode count")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        os.environ["GANWORKS_HOME"] = str(tmp / "home")  # an empty reference cache
        source = a.run or _real_ish(a.n, tmp)
        n = a.n if a.run else None
        runs = {}
        for label in ("cold", "warm"):
            t = time.perf_counter()
            r = evaluate(source, data="mnist-5k", metrics=a.metrics, n=n, seed=0)
            wall = time.perf_counter() - t
            runs[label] = r
            for stage, sec in r["timings_s"].items():
                rows.append({"run": label, "data": "mnist-5k", "stage": stage, "seconds": sec})
            rows.append({"run": label, "data": "mnist-5k", "stage": "total", "seconds": round(wall, 3)})
        if not a.no_stacked:
            st = load_dataset("stacked-mnist").images.numpy()
            reps = -(-26_000 // len(st))
            path = tmp / "stacked.npy"
            np.save(path, np.concatenate([st] * reps)[:26_000])
            t = time.perf_counter()
            r = evaluate(path, data="stacked-mnist", metrics="modes,score")
            wall = time.perf_counter() - t
            for stage, sec in r["timings_s"].items():
                rows.append({"run": "stacked", "data": "stacked-mnist", "stage": stage, "seconds": sec})
            rows.append({"run": "stacked", "data": "stacked-mnist", "stage": "total", "seconds": round(wall, 3)})
            runs["stacked"] = r

    values = {name: {k: v for k, v in m.items() if k in ("value", "kid_std", "precision", "recall", "density",
                                                          "coverage", "modes_covered", "standard_error", "sigma")}
              for name, m in runs["warm"]["metrics"].items()}
    print(f"{'run':8s} {'stage':28s} {'seconds':>9s}")
    for r in rows:
        print(f"{r['run']:8s} {r['stage']:28s} {r['seconds']:9.3f}")
    prov = provenance()
    fakes = (run_ref(a.run) or f"a run {RUNS_NOT_KEPT}") if a.run else \
        f"{a.n} real-ish mnist-5k digits (originals + 1-px shifted copies)"
    info = {"device": "cpu", "cpu": cpu_name(), "torch": prov["torch"], "threads": prov["threads"],
            "ganworks_version": prov["ganworks"], "fakes": fakes, "fake_count": runs["warm"]["source"]["count"],
            "data": "mnist-5k",
            "reference": {k: runs["warm"]["reference"][k] for k in ("dataset", "split", "count")},
            "extractor": runs["warm"]["extractor"]["name"], "metrics": a.metrics.split(","), "rows": rows,
            "values_warm": values,
            "stacked": None if a.no_stacked else {"fake_count": 26_000,
                                                  "modes_covered": runs["stacked"]["metrics"]["modes"]["value"]},
            "note": "a timing benchmark on the machine in provenance (on a shared machine other jobs may have "
                    "been running: treat differences under ~30% as noise); without --run the fakes contain the "
                    "reference digits themselves, so values_warm (e.g. Parzen at the smallest sigma) say nothing "
                    "about quality"}
    out = write_json(a.json or Path(__file__).parent / "results" / "evaluate_speed.json", info, prov)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
