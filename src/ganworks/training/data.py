"""What the loop draws each step: real minibatches in a resumable order, latent noise and classes.

Under torchrun every process draws the same global batch (of indices, of noise) and keeps its own
slice of it, so the union over processes is exactly the one-process batch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..errors import GanworksError
from ..images import to_float


class IndexBatches:
    """Endless minibatches of dataset indices: a fresh permutation per epoch, and a batch never
    straddles two epochs. Its state is the generator's state at the start of the epoch and the
    position in it, so the data order resumes exactly (the permutation is re-drawn on load)."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size = n, batch_size
        self.gen = torch.Generator().manual_seed(seed)
        self.epoch_start: Tensor | None = None  # gen's state before this epoch's randperm
        self.perm: Tensor | None = None
        self.pos = 0

    def __next__(self) -> Tensor:
        if self.perm is None or self.pos + self.batch_size > self.n:
            self.epoch_start = self.gen.get_state()
            self.perm = torch.randperm(self.n, generator=self.gen)
            self.pos = 0
        batch = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return batch

    def __iter__(self):
        return self

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        tensors = {"data.gen": self.gen.get_state()}
        if self.epoch_start is not None:
            tensors["data.epoch_start"] = self.epoch_start
        return tensors, {"n": self.n, "batch_size": self.batch_size, "pos": self.pos,
                         "started": self.perm is not None}

    def load(self, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
        if meta["n"] != self.n or meta["batch_size"] != self.batch_size:
            raise GanworksError(f"the checkpoint's data order is for {meta['n']} images in batches of "
                                f"{meta['batch_size']}, this run has {self.n} in batches of {self.batch_size}")
        if meta["started"]:
            self.gen.set_state(tensors["data.epoch_start"])
            self.epoch_start = tensors["data.epoch_start"].clone()
            self.perm = torch.randperm(self.n, generator=self.gen)  # leaves gen where it was after the epoch's draw
            self.pos = meta["pos"]
        else:
            self.gen.set_state(tensors["data.gen"])


class Feed:
    """This process's share of each global minibatch: real samples (with labels), noise, classes."""

    def __init__(self, data, batch_size: int, z_dim: int, num_classes: int, seed: int, dist,
                 device: torch.device):
        self.images = data.images.to(device)  # uint8 (N, C, H, W): the whole dataset, batches drawn by index
        self.labels = data.labels.to(device) if num_classes else None
        self.points = data.images.dtype.is_floating_point  # 2-D toy data: float points, not uint8 pixels
        # One global order of the data for every process; each keeps its slice of each global batch.
        self.order = IndexBatches(len(self.images), batch_size, seed)
        self.batch_size, self.z_dim, self.num_classes = batch_size, z_dim, num_classes
        self.local = slice(dist.rank * batch_size // dist.world, (dist.rank + 1) * batch_size // dist.world)
        self.device = device

    def real(self) -> tuple[Tensor, Tensor | None]:
        idx = next(self.order)[self.local].to(self.device)
        x = self.images[idx] if self.points else to_float(self.images[idx])  # (b, C, H, W) in [-1, 1]
        return x, (self.labels[idx] if self.labels is not None else None)

    def noise(self) -> Tensor:
        # (b, z_dim): this process's rows of the global batch, drawn whole so every process agrees
        return torch.randn(self.batch_size, self.z_dim, device=self.device)[self.local]

    def classes(self) -> Tensor | None:
        if not self.num_classes:
            return None
        return torch.randint(0, self.num_classes, (self.batch_size,), device=self.device)[self.local]
