"""DCGAN on mnist-5k with each main objective, for one fixed image budget.

For every objective: training throughput (img/s, median over ticks after the first), and the
quality of 5,000 samples from the final generator judged by a CNN digit classifier trained on
mnist-5k (benchmarks/digits.py): the Frechet distance between its 128-d penultimate features of
the samples and of the 5,000 real digits ("FD-cnn", lower is better; real vs. real held-out
halves gives the floor), the fraction of samples it classifies with max softmax >= 0.9, and
the number of digit classes present. Every objective runs with its paper defaults (WGAN:
RMSProp, lr 5e-5, 5 critic steps, clip 0.01; WGAN-GP: Adam (0, 0.9), lr 1e-4, 5 critic steps,
lambda 10), others Adam lr 2e-4 betas (0.5, 0.999), k = 1. The budget counts real images shown to
D, so the 5-critic-step objectives make one fifth as many generator steps.

Usage: python benchmarks/objectives_dcgan.py [--kimg 200] [--device cuda] [--objectives ns,wgan,...] [--out DIR]
                                            [--runs DIR] [--n 5000] [--classifier-epochs 10]
Writes objectives_dcgan.json, .md (both with their provenance) and one sample grid per objective
into --out (default benchmarks/results); the runs go under --runs (default runs/ in the repository).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch

import ganworks
from digits import class_metrics, features_and_probs, frechet_distance, train_classifier
from provenance import REPO, RUNS_NOT_KEPT, markdown_footer, provenance, run_ref, write_json
from ganworks.data import load_dataset
from ganworks.images import make_grid, save_png
from ganworks.cli import OneLineParser

MAIN = "ns,minimax,wgan,wgan-gp,hinge,lsgan,ragan,f:kl,f:js"


def main() -> int:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kimg", type=float, default=200.0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--objectives", default=MAIN)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--n", type=int, default=5000, help="samples judged per objective")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--runs", default=str(REPO / "runs"),
                    help="runs root (results name a run only inside the repository)")
    ap.add_argument("--classifier-epochs", type=float, default=10,
                    help="epochs of the judge (0.2 for a smoke test)")
    a = ap.parse_args()
    out = Path(a.out)
    (out / "objectives").mkdir(parents=True, exist_ok=True)
    torch.backends.cudnn.benchmark = True

    net, val_acc = train_classifier(epochs=a.classifier_epochs, device=a.device)
    real = load_dataset("mnist-5k").images
    f_real, _ = features_and_probs(net, real)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(real), generator=g)
    floor = frechet_distance(f_real[perm[:2500].numpy()], f_real[perm[2500:].numpy()])
    dev_name = torch.cuda.get_device_name() if a.device == "cuda" else "cpu"
    print(f"classifier val acc {val_acc:.3f}; FD-cnn floor (real 2,500 vs real 2,500): {floor:.2f}; {dev_name}")

    rows = []
    for obj in a.objectives.split(","):
        t0 = time.perf_counter()
        run = ganworks.train(data="mnist-5k", model="dcgan", objective=obj, kimg=a.kimg, batch_size=a.batch_size,
                             device=a.device, progress=False, tick_kimg=a.kimg / 8, snapshot_kimg=0,
                             runs_root=a.runs, seed=0)
        wall = time.perf_counter() - t0
        ticks = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
        ips = statistics.median(t["img_per_s"] for t in ticks[1:])
        G = ganworks.load_generator(run, device=a.device)
        fakes = ganworks.sample(G, a.n, seed=1)
        f_fake, probs = features_and_probs(net, fakes)
        m = class_metrics(probs)
        fd = frechet_distance(f_real, f_fake)
        name = obj.replace(":", "-")
        save_png(make_grid(fakes[:64], nrow=16), out / "objectives" / f"{name}.png", scale=1)
        row = {"objective": obj, "img_per_s": round(ips, 1), "train_s": round(wall, 1), "fd_cnn": round(fd, 2),
               "confident": m["confident_fraction"], "classes": m["classes_present"], "kl_uniform": m["kl_to_uniform"],
               "nonfinite": any(t.get("nonfinite") for t in ticks), "grid": f"objectives/{name}.png",
               "run": run_ref(run) or RUNS_NOT_KEPT}
        rows.append(row)
        print(f"{obj:12s} {ips:9.0f} img/s  FD-cnn {fd:8.2f}  confident {m['confident_fraction']:.1%}  "
              f"classes {m['classes_present']}/10  ({wall:.0f}s)", flush=True)

    res = {"device": a.device, "device_name": dev_name, "torch": torch.__version__, "kimg": a.kimg,
           "batch_size": a.batch_size, "classifier_val_acc": round(val_acc, 4), "fd_cnn_floor": round(floor, 2),
           "n_samples": a.n, "rows": rows}
    prov = provenance()
    write_json(out / "objectives_dcgan.json", res, prov)
    md = [f"DCGAN on mnist-5k, {a.kimg:g} kimg, batch {a.batch_size}, {dev_name}, torch {torch.__version__}. "
          f"FD-cnn floor (real vs. real): {floor:.2f}; classifier val. accuracy {val_acc:.1%}.", "",
          "| objective | img/s | FD-cnn ↓ | confident | classes | samples |", "|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| `{r['objective']}` | {r['img_per_s']:,.0f} | {r['fd_cnn']:.2f} | {r['confident']:.1%} | "
                  f"{r['classes']}/10 | ![](benchmarks/results/{r['grid']}) |")
    md += ["", markdown_footer(prov)]
    (out / "objectives_dcgan.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
