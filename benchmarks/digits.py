"""Shared by the benchmarks: a small CNN digit classifier trained on mnist-5k, and the metrics
computed with it (class histogram, confidence, Frechet distance of its penultimate features).

This is a benchmark-local judge, not a shipped metric: it is trained on 4,500 of the 5,000
mnist-5k digits (500 held out, 50 per class) in about 15 s on a 2-core CPU.

Run on its own it reports how good a judge it is: held-out accuracy, and the FD-cnn floor
(two disjoint halves of the real digits).
Usage: python benchmarks/digits.py [--epochs 10] [--seed 0] [--out benchmarks/results/digits.json]
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganworks.data import load_dataset
from ganworks.metrics import frechet_distance  # noqa: F401  (re-exported for the benchmarks)
from provenance import cpu_name, write_json  # noqa: F401  (cpu_name lived here; kept importable)
from ganworks.cli import OneLineParser


class DigitCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 13, 13)
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 5, 5)
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 5 * 5, 128), nn.ReLU(),  # (B, 128)
        )
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        return self.head(self.features(x))


def to_input(u8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) or (N, 1, 28, 28) -> float (N, 1, 28, 28) in [-1, 1]."""
    if u8.ndim == 3:
        u8 = u8[:, None]
    return u8.float().div(127.5).sub(1.0)


def train_classifier(seed: int = 0, epochs: float = 10, device: str = "cpu") -> tuple[DigitCNN, float]:
    """The judge and its accuracy on the 500 held-out digits. A fractional ``epochs`` stops part-way
    through the last epoch (0.2 trains a rough judge in a second, enough for a smoke test)."""
    data = load_dataset("mnist-5k")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    val_idx = torch.cat([torch.nonzero(data.labels == c).flatten()[:50] for c in range(10)])
    mask = torch.ones(len(data), dtype=torch.bool)
    mask[val_idx] = False
    xtr, ytr = to_input(data.images[mask]).to(device), data.labels[mask].to(device)
    xva, yva = to_input(data.images[val_idx]).to(device), data.labels[val_idx].to(device)
    net = DigitCNN().to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    per_epoch = math.ceil(len(xtr) / 64)
    net.train()
    for step in range(round(epochs * per_epoch)):
        if step % per_epoch == 0:  # a new epoch: a new order
            perm = torch.randperm(len(xtr), generator=g).to(device)
        b = perm[step % per_epoch * 64:][:64]
        dx, dy = torch.randint(-2, 3, (2,), generator=g).tolist()  # small shifts: robust to off-centre strokes
        loss = nn.functional.cross_entropy(net(torch.roll(xtr[b], shifts=(dy, dx), dims=(2, 3))), ytr[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        acc = (net(xva).argmax(1) == yva).float().mean().item()
    return net, acc


@torch.no_grad()
def features_and_probs(net: DigitCNN, u8: torch.Tensor, batch: int = 500) -> tuple[np.ndarray, torch.Tensor]:
    device = next(net.parameters()).device
    feats, probs = [], []
    for xb in to_input(u8).split(batch):
        f = net.features(xb.to(device))
        feats.append(f.double().cpu())
        probs.append(torch.softmax(net.head(f), 1).cpu())
    return torch.cat(feats).numpy(), torch.cat(probs)


def class_metrics(probs: torch.Tensor) -> dict:
    pred, conf = probs.argmax(1), probs.max(1).values
    hist = torch.bincount(pred, minlength=10)
    p = hist.double() / hist.sum()
    kl = float(sum(pi * math.log(pi * 10) for pi in p.tolist() if pi > 0))
    return {"histogram": hist.tolist(), "classes_present": int((hist > 0).sum()),
            "classes_with_at_least_2pct": int((p >= 0.02).sum()),
            "confident_fraction": round((conf >= 0.9).float().mean().item(), 4),
            "mean_max_softmax": round(conf.mean().item(), 4), "kl_to_uniform": round(kl, 4)}


def main() -> int:
    ap = OneLineParser(description="Train the benchmarks' digit classifier; report how good a judge it is.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=float, default=10, help="training epochs (0.2 is enough for a smoke test)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "digits.json"))
    a = ap.parse_args()
    t0 = time.perf_counter()
    net, acc = train_classifier(a.seed, epochs=a.epochs)
    seconds = time.perf_counter() - t0
    real = load_dataset("mnist-5k").images
    feats, probs = features_and_probs(net, real)
    # Two disjoint halves of the real digits: the FD-cnn a perfect generator would get.
    perm = torch.randperm(len(real), generator=torch.Generator().manual_seed(a.seed)).numpy()
    floor = frechet_distance(feats[perm[:2500]], feats[perm[2500:]])
    res = {"benchmark": "digits", "seed": a.seed, "epochs": a.epochs, "val_accuracy": round(acc, 4),
           "train_seconds": round(seconds, 1), "fd_cnn_floor": round(floor, 2), "real": class_metrics(probs)}
    print(f"classifier: val accuracy {acc:.3f} on 500 held-out digits ({seconds:.0f}s); FD-cnn floor {floor:.2f}")
    print(f"wrote {write_json(a.out, res)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
