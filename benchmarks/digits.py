"""Shared by the benchmarks: a small CNN digit classifier trained on mnist-5k, and the metrics
computed with it (class histogram, confidence, Frechet distance of its penultimate features).

This is a benchmark-local judge, not a shipped metric: it is trained on 4,500 of the 5,000
mnist-5k digits (500 held out, 50 per class) in about 15 s on a 2-core CPU.
"""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganworks.data import load_dataset
from ganworks.metrics import frechet_distance  # noqa: F401  (re-exported for the benchmarks)


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


def train_classifier(seed: int = 0, epochs: int = 10, device: str = "cpu") -> tuple[DigitCNN, float]:
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
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=g).to(device)
        for i in range(0, len(perm), 64):
            b = perm[i:i + 64]
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


def cpu_name() -> str:
    """The CPU model and core count, for benchmark results."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} cores)"
    except OSError:
        pass
    return platform.processor() or "cpu"
