"""The in-memory dataset that every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ganworks.errors import GanworksError

__all__ = ["ImageDataset", "make_image_dataset"]


# eq=False: dataclass equality would compare tensors elementwise, which is ambiguous.
@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A whole image dataset split held in memory as one uint8 tensor.

    ``images`` is uint8 ``(N, C, H, W)`` (C=1 for the MNIST family); ``labels`` is int64
    ``(N,)`` with values in ``[0, num_classes)``, or None for unlabelled data. ``source``
    records where the data was read from, for provenance.
    """

    name: str
    split: str
    images: torch.Tensor = field(repr=False)
    labels: torch.Tensor | None = field(repr=False)
    num_classes: int | None
    source: str

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of one image, ``(C, H, W)``."""
        c, h, w = self.images.shape[1:]
        return (c, h, w)

    def __len__(self) -> int:
        return self.images.shape[0]


def make_image_dataset(
    name: str,
    split: str,
    images: np.ndarray,
    labels: np.ndarray | None,
    *,
    num_classes: int | None,
    shape: tuple[int, int, int],
    source: str,
) -> ImageDataset:
    """Validate numpy ``images`` ((N, H, W) or (N, C, H, W)) and ``labels``; wrap as tensors."""
    where = f"dataset {name!r} split {split!r} (from {source})"
    if images.ndim == 3:
        images = images[:, None]  # (N, H, W) -> (N, 1, H, W)
    if images.dtype != np.uint8 or images.ndim != 4 or tuple(images.shape[1:]) != tuple(shape):
        raise GanworksError(
            f"{where} has images of dtype {images.dtype} and shape {list(images.shape)}; "
            f"expected uint8 [N, {', '.join(map(str, shape))}]"
        )
    label_tensor = None
    if labels is not None:
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise GanworksError(
                f"{where} has {images.shape[0]} images but labels of shape {list(labels.shape)}; "
                f"expected [{images.shape[0]}]"
            )
        labels = labels.astype(np.int64)
        if labels.size and num_classes is not None and (labels.min() < 0 or labels.max() >= num_classes):
            raise GanworksError(
                f"{where} has labels from {labels.min()} to {labels.max()}; valid: 0 to {num_classes - 1}"
            )
        label_tensor = torch.from_numpy(labels)
    return ImageDataset(
        name=name,
        split=split,
        images=torch.from_numpy(np.ascontiguousarray(images)),
        labels=label_tensor,
        num_classes=num_classes,
        source=source,
    )
