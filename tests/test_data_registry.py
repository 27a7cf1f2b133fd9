"""Registry, public API, mnist-5k (mlxtend) and the Debian fashion-mnist copy."""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ganworks.data import (
    DATASETS,
    ImageDataset,
    dataset_info,
    fetch_dataset,
    is_cached,
    list_datasets,
    load_dataset,
    register_dataset,
)
from ganworks.errors import GanworksError

HAS_MLXTEND = importlib.util.find_spec("mlxtend") is not None
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def _empty_home(tmp_path, monkeypatch):
    """Never read or write the user's real cache."""
    monkeypatch.setenv("GANWORKS_HOME", str(tmp_path / "home"))


def test_list_datasets():
    names = list_datasets()
    assert names == sorted(names)
    assert {"mnist", "mnist-5k", "fashion-mnist"} <= set(names)


@pytest.mark.parametrize("call", [load_dataset, dataset_info, fetch_dataset, is_cached])
def test_unknown_name_lists_valid_names(call):
    with pytest.raises(GanworksError) as info:
        call("cifar-11")
    msg = str(info.value)
    assert msg.startswith("unknown dataset 'cifar-11'; valid: ")
    assert all(name in msg for name in list_datasets())


def test_unknown_split_lists_valid_splits():
    with pytest.raises(GanworksError, match=r"dataset 'mnist' has no split 'validation'; valid splits: train, test"):
        load_dataset("mnist", "validation")  # checked before any file is looked for
    with pytest.raises(GanworksError, match=r"dataset 'mnist-5k' has no split 'test'; valid splits: train$"):
        load_dataset("mnist-5k", "test")


@pytest.mark.parametrize("name", ["mnist", "mnist-5k", "fashion-mnist"])
def test_dataset_info_is_json(name, tmp_path):
    info = dataset_info(name)
    again = json.loads(json.dumps(info))
    assert again == info
    assert info["name"] == name and info["shape"] == [1, 28, 28] and info["num_classes"] == 10
    assert set(info) >= {"description", "splits", "license", "citation", "sources", "cached", "cache_dir"}
    assert all(isinstance(n, int) and n > 0 for n in info["splits"].values())
    if name == "mnist":
        assert info["splits"] == {"train": 60000, "test": 10000}
        assert info["cached"] is False
        assert info["cache_dir"] == str(tmp_path / "home" / "datasets" / "mnist")
        assert info["mirror_env"] == "GANWORKS_MNIST_MIRRORS"
        assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in info["files"])


def test_mirror_env_override(monkeypatch):
    spec = DATASETS["fashion-mnist"]
    assert spec.mirror_env == "GANWORKS_FASHION_MNIST_MIRRORS"
    monkeypatch.setenv(spec.mirror_env, " file:///srv/a/ ,,http://h/b ")
    assert spec.active_mirrors() == ["file:///srv/a/", "http://h/b"]
    monkeypatch.setenv(spec.mirror_env, "")
    assert spec.active_mirrors() == list(spec.mirrors)


def test_register_dataset():
    spec = dataclasses.replace(DATASETS["mnist"], name="mnist-copy")
    register_dataset(spec)
    try:
        assert "mnist-copy" in list_datasets()
        with pytest.raises(GanworksError, match="already registered"):
            register_dataset(spec)
        register_dataset(spec, replace=True)
        assert dataset_info("mnist-copy")["mirror_env"] == "GANWORKS_MNIST_COPY_MIRRORS"
    finally:
        DATASETS.pop("mnist-copy", None)


def test_image_dataset_basics():
    images = torch.zeros(3, 1, 28, 28, dtype=torch.uint8)
    ds = ImageDataset("x", "train", images, None, None, "/nowhere")
    assert len(ds) == 3 and ds.shape == (1, 28, 28)
    assert "tensor" not in repr(ds)  # the repr does not dump the images
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "y"


# -- mnist-5k ----------------------------------------------------------------------------


@pytest.mark.skipif(not HAS_MLXTEND, reason="mlxtend is not installed")
def test_mnist_5k_loads_real_digits():
    assert is_cached("mnist-5k")
    data = load_dataset("mnist-5k")
    assert data.images.shape == (5000, 1, 28, 28) and data.images.dtype == torch.uint8
    assert data.labels.dtype == torch.int64
    assert torch.bincount(data.labels).tolist() == [500] * 10
    assert data.num_classes == 10 and data.source.endswith("mnist_5k.csv.gz")
    # real digits: dark background, some ink in every image
    assert (data.images[:, :, 0, :] == 0).all()
    assert (data.images.amax(dim=(1, 2, 3)) > 128).all()
    assert [p.name for p in fetch_dataset("mnist-5k")] == ["mnist_5k.csv.gz"]
    assert not (Path(os.environ["GANWORKS_HOME"])).exists()  # read in place, no cache written


def _fake_package(root: Path, csv_rows: list[str] | bytes, name: str = "fake_mlx_pkg") -> str:
    pkg = root / name
    (pkg / "data" / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    raw = csv_rows if isinstance(csv_rows, bytes) else gzip.compress("\n".join(csv_rows).encode() + b"\n")
    (pkg / "data" / "data" / "mnist_5k.csv.gz").write_bytes(raw)
    return name


def test_mnist_5k_parser_on_a_fake_package(tmp_path, monkeypatch):
    rows = [",".join(map(str, [*(np.arange(784) % 256), label])) for label in (3, 7)]
    name = _fake_package(tmp_path, rows)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(DATASETS, "mnist-5k", dataclasses.replace(DATASETS["mnist-5k"], package=name))
    data = load_dataset("mnist-5k")
    assert data.labels.tolist() == [3, 7]
    assert data.images[1, 0, 0, :5].tolist() == [0, 1, 2, 3, 4]
    assert data.images[1, 0, 1, 0].item() == 28  # row-major 28x28


@pytest.mark.parametrize(
    "rows, message",
    [
        (["1,2,3"], r"has 1 rows of 3 columns; expected rows of 784 pixels and a label"),
        ([",".join(["0"] * 784 + ["x"])], r"is not a CSV of integers"),
        ([",".join(["300"] * 784 + ["1"])], r"pixel values from 300 to 300; valid: 0 to 255"),
        ([",".join(["0"] * 784 + ["10"])], r"labels from 10 to 10; valid: 0 to 9"),
        (b"not gzip at all", r"cannot read file"),
    ],
)
def test_mnist_5k_bad_csv(tmp_path, monkeypatch, rows, message):
    name = _fake_package(tmp_path, rows)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(DATASETS, "mnist-5k", dataclasses.replace(DATASETS["mnist-5k"], package=name))
    with pytest.raises(GanworksError, match=message) as info:
        load_dataset("mnist-5k")
    assert "mnist_5k.csv.gz" in str(info.value) and "\n" not in str(info.value)


def test_mnist_5k_without_the_package(monkeypatch):
    monkeypatch.setitem(
        DATASETS, "mnist-5k", dataclasses.replace(DATASETS["mnist-5k"], package="ganworks_no_such_package")
    )
    assert not is_cached("mnist-5k")
    assert dataset_info("mnist-5k")["cached"] is False
    with pytest.raises(GanworksError) as info:
        load_dataset("mnist-5k")
    assert str(info.value) == (
        "dataset 'mnist-5k' needs the PyPI package ganworks_no_such_package (pip install ganworks_no_such_package)"
    )


# -- Debian's dataset-fashion-mnist ----------------------------------------------------


@pytest.mark.skipif(not FASHION_SYSTEM_DIR.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian_package(monkeypatch):
    # a dead mirror proves no download is attempted
    monkeypatch.setenv("GANWORKS_FASHION_MNIST_MIRRORS", "http://127.0.0.1:9/")
    assert is_cached("fashion-mnist")
    data = load_dataset("fashion-mnist", "test")
    assert data.images.shape == (10000, 1, 28, 28) and data.images.dtype == torch.uint8
    assert torch.bincount(data.labels).tolist() == [1000] * 10
    assert data.source == str(FASHION_SYSTEM_DIR / "t10k-images-idx3-ubyte.gz")
