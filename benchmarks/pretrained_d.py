"""Can a pre-trained discriminator train a new generator?

Starting from a finished run (its D), trains a fresh MLP generator on mnist-5k for the same
budget in three ways and judges N (1,000) samples of each with the CNN digit classifier:
  fresh      - new G, new D (the baseline)
  init       - new G, D initialized from the finished run and trained on as usual
  frozen     - new G, D initialized from the finished run and never updated
Usage: python benchmarks/pretrained_d.py SOURCE_RUN [--kimg 100] [--n 1000] [--out DIR] [--runs DIR]
                                        [--classifier-epochs 10]
Writes pretrained_d.json (with its provenance) and a sample grid per variant into --out (default
benchmarks/results); the runs go under --runs (default runs/ in the repository).
"""

from __future__ import annotations

from pathlib import Path

import torch

import ganworks
from digits import class_metrics, features_and_probs, frechet_distance, train_classifier
from provenance import REPO, RUNS_NOT_KEPT, run_ref, write_json
from ganworks.data import load_dataset
from ganworks.images import make_grid, save_png, to_float
from ganworks.cli import OneLineParser

# The demo's settings (Makefile), so the source run's D fits.
DEMO = dict(data="mnist-5k", model="mlp", objective="ns", batch_size=128, lr_g=1e-3, lr_d=5e-4, ema_kimg=10,
            model_options={"g_batchnorm": True}, progress=False, snapshot_kimg=0)


def main() -> int:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("source")
    ap.add_argument("--kimg", type=float, default=100.0)
    ap.add_argument("--n", type=int, default=1000, help="samples judged per variant")
    ap.add_argument("--runs", default=str(REPO / "runs"),
                    help="runs root (results name a run only inside the repository)")
    ap.add_argument("--classifier-epochs", type=float, default=10,
                    help="epochs of the judge (0.2 for a smoke test)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    out = Path(a.out)
    (out / "pretrained_d").mkdir(parents=True, exist_ok=True)
    net, acc = train_classifier(epochs=a.classifier_epochs)
    reals = load_dataset("mnist-5k").images
    f_real, _ = features_and_probs(net, reals)
    variants = {"fresh": {}, "init": {"init_discriminator": a.source},
                "frozen": {"init_discriminator": a.source, "freeze_discriminator": True}}
    rows = []
    for name, extra in variants.items():
        run = ganworks.train(**DEMO, kimg=a.kimg, tick_kimg=a.kimg / 4, runs_root=a.runs, seed=1, **extra)
        fakes = ganworks.sample(ganworks.load_generator(run), a.n, seed=0)
        # The run's final D (eval mode): how real does it find G's samples, and the real digits?
        D = ganworks.load_discriminator(run)
        with torch.no_grad():
            d_fake = torch.sigmoid(D(to_float(fakes))).mean().item()
            d_real = torch.sigmoid(D(to_float(reals))).mean().item()
        f_fake, probs = features_and_probs(net, fakes)
        m = class_metrics(probs)
        fd = frechet_distance(f_real, f_fake)
        save_png(make_grid(fakes[:64], nrow=16), out / "pretrained_d" / f"{name}.png", scale=1)
        rows.append({"variant": name, "fd_cnn": round(fd, 2), **{k: m[k] for k in ("classes_present", "confident_fraction",
                     "kl_to_uniform", "histogram")}, "D_on_real": round(d_real, 4), "D_on_fakes": round(d_fake, 4),
                     "run": run_ref(run) or RUNS_NOT_KEPT})
        print(f"{name:7s} FD-cnn {fd:8.2f}  classes {m['classes_present']}/10  confident {m['confident_fraction']:.1%}  "
              f"KL {m['kl_to_uniform']:.3f}  final D: mean D(real) {d_real:.3f}, mean D(G(z)) {d_fake:.3f}", flush=True)
    write_json(out / "pretrained_d.json", {"source": run_ref(a.source) or RUNS_NOT_KEPT, "kimg": a.kimg,
                                           "n": a.n, "classifier_val_acc": acc, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
