"""Does a trained MNIST generator make all ten digits? (issue 2's acceptance check)

1. Trains a small CNN digit classifier on 4,500 of the 5,000 real mnist-5k digits and reports its
   accuracy on the 500 held out (50 per class).
2. Runs the real CLI, ``ganworks sample RUN --n N --npy x.npy``, in a subprocess.
3. Classifies the N generated digits: class histogram, classes present, the fraction the
   classifier is confident about (max softmax >= 0.9), and KL(histogram || uniform).

Usage: python benchmarks/digit_classes.py RUN_DIR [--n 1000] [--seed 0] [--json out.json]
Prints a table and writes JSON (default benchmarks/results/digit_classes.json).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganworks.data import load_dataset


def classifier() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 13, 13)
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 5, 5)
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def to_input(u8: torch.Tensor) -> torch.Tensor:
    return u8.float().div(255.0).sub(0.5).div(0.5)  # [-1, 1], as the GAN sees data


def train_classifier(seed: int, epochs: int = 10) -> tuple[nn.Module, float]:
    data = load_dataset("mnist-5k")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    val_idx = torch.cat([torch.nonzero(data.labels == c).flatten()[:50] for c in range(10)])
    mask = torch.ones(len(data), dtype=torch.bool)
    mask[val_idx] = False
    xtr, ytr = to_input(data.images[mask]), data.labels[mask]
    xva, yva = to_input(data.images[val_idx]), data.labels[val_idx]
    net = classifier()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(perm), 64):
            b = perm[i:i + 64]
            # Small random shifts (up to 2 px) make the classifier robust to off-centre strokes.
            dx, dy = torch.randint(-2, 3, (2,), generator=g).tolist()
            x = torch.roll(xtr[b], shifts=(dy, dx), dims=(2, 3))
            loss = nn.functional.cross_entropy(net(x), ytr[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = (net(xva).argmax(1) == yva).float().mean().item()
    return net, acc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=str(Path(__file__).parent / "results" / "digit_classes.json"))
    a = ap.parse_args()

    t0 = time.perf_counter()
    net, val_acc = train_classifier(a.seed)
    t_clf = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        npy = Path(tmp) / "x.npy"
        subprocess.run([sys.executable, "-m", "ganworks", "sample", a.run, "--n", str(a.n), "--seed", str(a.seed),
                        "--npy", str(npy)], check=True, stdout=subprocess.DEVNULL)
        fakes = torch.from_numpy(np.load(npy))
    assert fakes.shape == (a.n, 28, 28) and fakes.dtype == torch.uint8, fakes.shape
    with torch.no_grad():
        probs = torch.softmax(net(to_input(fakes[:, None])), dim=1)
    pred, conf = probs.argmax(1), probs.max(1).values
    hist = torch.bincount(pred, minlength=10)
    p = hist.double() / hist.sum()
    kl = float(sum(pi * math.log(pi * 10) for pi in p.tolist() if pi > 0))
    res = {
        "run": a.run, "n": a.n, "seed": a.seed,
        "classifier": {"arch": "2-conv CNN", "train": "mnist-5k minus 500 held out", "val_accuracy": round(val_acc, 4),
                       "train_seconds": round(t_clf, 1)},
        "histogram": hist.tolist(), "classes_present": int((hist > 0).sum()),
        "classes_with_at_least_2pct": int((p >= 0.02).sum()),
        "confident_fraction": round((conf >= 0.9).float().mean().item(), 4),
        "mean_max_softmax": round(conf.mean().item(), 4),
        "kl_to_uniform": round(kl, 4),
    }
    print(f"classifier: val accuracy {val_acc:.3f} on 500 held-out real digits ({t_clf:.0f}s to train)")
    print("digit      " + " ".join(f"{c:>5d}" for c in range(10)))
    print("generated  " + " ".join(f"{h:>5d}" for h in hist.tolist()))
    print(f"classes present {res['classes_present']}/10, >=2%: {res['classes_with_at_least_2pct']}/10, "
          f"confident (max softmax >= 0.9) {res['confident_fraction']:.1%}, KL(hist || uniform) {kl:.3f} nats")
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
