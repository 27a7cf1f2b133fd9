"""Evaluation end to end: shipped classifiers, feature extractors, Stacked MNIST, the reference
cache, ``ganworks.metrics.evaluate`` and the ``ganworks evaluate`` / ``classifier`` commands,
on real digits (mnist-5k)."""

import importlib.util
import json
import shutil
from dataclasses import dataclass

import numpy as np
import pytest
from gwtest import cli, one_line_error as _one_line_error, TINY, needs_mnist5k, run_cli

from ganworks.errors import GanworksError
from ganworks.metrics.classifier import sha256_file
from ganworks.metrics.extractors import WEIGHTS_DIR, Extractor, get_extractor

PROVENANCE = ("metric", "extractor", "reference", "fake_count", "seed", "ganworks_version", "time_s")


@pytest.fixture(scope="module")
def digits():
    """mnist-5k as uint8 (5000, 28, 28) and labels."""
    from ganworks.data import load_dataset

    d = load_dataset("mnist-5k")
    return d.images.numpy()[:, 0], d.labels.numpy()


@pytest.fixture(scope="module")
def npys(digits, tmp_path_factory):
    """Two disjoint random halves of mnist-5k, uniform noise and all the 7s, as .npy files."""
    x, y = digits
    d = tmp_path_factory.mktemp("npy")
    perm = np.random.default_rng(123).permutation(len(x))
    files = {"a": x[perm[:2500]], "b": x[perm[2500:]], "noise": np.random.default_rng(1).integers(
        0, 256, (1000, 28, 28), dtype=np.uint8), "sevens": x[y == 7]}
    out = {}
    for name, arr in files.items():
        out[name] = d / f"{name}.npy"
        np.save(out[name], arr)
    return out


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    """Each test gets its own ganworks home, so the reference cache starts empty."""
    monkeypatch.setenv("GANWORKS_HOME", str(tmp_path / "home"))


# ------------------------------------------------------------------------------- shipped weights
@pytest.mark.parametrize("name, data, min_acc", [("lenet-mnist", "mnist-5k", 0.95),
                                                  ("lenet-fashion", "fashion-mnist", 0.85)])
def test_shipped_weights_match_their_record(name, data, min_acc):
    info = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
    assert info["sha256"] == sha256_file(WEIGHTS_DIR / f"{name}.safetensors")
    assert info["test_accuracy"] >= min_acc
    assert info["training_data"]["dataset"] == data and info["arch"]["name"] == "lenet"
    assert info["test_split"]["count"] in (500, 10_000) and info["epochs"] >= 1 and "seed" in info
    assert info["ganworks_version"]
    ex = get_extractor(name)
    assert ex.weights_sha256 == info["sha256"]
    assert (ex.num_classes, ex.feature_dim, ex.input_shape) == (10, 128, (1, 28, 28))
    if name == "lenet-mnist":
        assert "not available offline" in info["training_data"]["note"]


@needs_mnist5k
def test_extractor_outputs_do_not_depend_on_batch_size(digits):
    x, y = digits
    ex = get_extractor("lenet-mnist")
    imgs = x[:200]
    f, p = ex.features_and_probs(imgs, batch_size=200)
    assert f.shape == (200, 128) and p.shape == (200, 10) and f.dtype == p.dtype == np.float64
    assert np.allclose(p.sum(1), 1.0)
    assert (p.argmax(1) == y[:200]).mean() >= 0.95
    for bs in (1, 7, 64, 150):
        assert np.array_equal(ex.features(imgs, batch_size=bs), f), bs
        assert np.array_equal(ex.probs(imgs, batch_size=bs), p), bs
    assert np.array_equal(ex.features(imgs[:, None]), f)  # (N, 1, 28, 28) is the same as (N, 28, 28)


def test_extractor_errors(tmp_path):
    ex = get_extractor("lenet-mnist")
    with pytest.raises(GanworksError, match=r"lenet-mnist.*expects uint8 grayscale 28x28.*\(5, 3, 28, 28\)"):
        ex.features(np.zeros((5, 3, 28, 28), np.uint8))
    with pytest.raises(GanworksError, match="lenet-mnist.*expects.*32, 32"):
        ex.features(np.zeros((5, 32, 32), np.uint8))
    with pytest.raises(GanworksError, match="uint8.*float32"):
        ex.features(np.zeros((5, 28, 28), np.float32))
    with pytest.raises(GanworksError, match="unknown feature extractor 'resnet'; valid: inception, lenet-fashion, "
                                            "lenet-mnist"):
        get_extractor("resnet")
    # A weights file that is not the one its JSON describes is refused, naming the file.
    for suffix in (".safetensors", ".json"):
        shutil.copy(WEIGHTS_DIR / f"lenet-mnist{suffix}", tmp_path / f"lenet-mnist{suffix}")
    w = tmp_path / "lenet-mnist.safetensors"
    raw = bytearray(w.read_bytes())
    raw[-10] ^= 0xFF
    w.write_bytes(bytes(raw))
    with pytest.raises(GanworksError, match=f"weights file {w} has sha256"):
        get_extractor("lenet-mnist", weights=w)


@pytest.mark.skipif(importlib.util.find_spec("torch_fidelity") is not None, reason="torch-fidelity is installed")
def test_inception_without_torch_fidelity_is_one_clear_line():
    with pytest.raises(GanworksError) as e:
        get_extractor("inception")
    msg = str(e.value)
    assert "pip install 'ganworks[inception]'" in msg and "--inception-weights" in msg and "\n" not in msg


# --------------------------------------------------------------------------------- stacked MNIST
@needs_mnist5k
@pytest.mark.slow
def test_stacked_mnist(digits, tmp_path):
    from ganworks import train
    from ganworks.data import dataset_info, load_dataset
    from ganworks.metrics.evaluate import evaluate

    x, y = digits
    d = load_dataset("stacked-mnist")
    assert d.images.shape == (25_600, 3, 28, 28) and d.num_classes == 1000  # mnist-5k source here
    assert "from mnist-5k" in d.source and dataset_info("stacked-mnist")["splits"] == {"train": 25_600}
    assert np.array_equal(load_dataset("stacked-mnist").images.numpy(), d.images.numpy())  # deterministic
    # Every channel is a real digit, and the label is 100 d_r + 10 d_g + d_b.
    label_of = {img.tobytes(): lab for img, lab in zip(x, y)}
    for i in range(50):
        digs = [label_of[d.images[i, c].numpy().tobytes()] for c in range(3)]
        assert int(d.labels[i]) == 100 * digs[0] + 10 * digs[1] + digs[2]
    assert len(np.unique(d.labels.numpy())) == 1000

    # The modes metric classifies each channel with lenet-mnist (1,000 modes).
    real = tmp_path / "stacked.npy"
    np.save(real, d.images.numpy()[:2000])
    r = evaluate(real, data="stacked-mnist", metrics="modes,score")
    modes, truth = r["metrics"]["modes"], len(np.unique(d.labels.numpy()[:2000]))
    assert modes["num_classes"] == 1000 and abs(modes["modes_covered"] - truth) <= 0.03 * truth
    assert r["extractor"]["per_channel"] and r["metrics"]["score"]["num_classes"] == 1000
    assert r["metrics"]["score"]["score"] > 500  # sharp, varied 1,000-way predictions

    run = train(run_dir=str(tmp_path / "run"), **{**TINY, "data": "stacked-mnist", "kimg": 0.1})
    assert json.loads((run / "generator.json").read_text())["model"]["image_shape"] == [3, 28, 28]


# ---------------------------------------------------------------------- real vs. real vs. broken
@needs_mnist5k
@pytest.mark.slow
def test_real_data_scores_near_the_floor_and_broken_samples_far_off(npys):
    from ganworks.metrics.evaluate import evaluate

    m = "fd,pr,dc,score,modes"
    real = evaluate(npys["a"], data="mnist-5k", reference=npys["b"], metrics=m)["metrics"]
    noise = evaluate(npys["noise"], data="mnist-5k", reference=npys["b"], metrics=m)["metrics"]
    sevens = evaluate(npys["sevens"], data="mnist-5k", reference=npys["b"], metrics=m)["metrics"]

    assert real["fd"]["value"] < 5.0  # two disjoint halves of real digits: about 2
    assert noise["fd"]["value"] > 100 * real["fd"]["value"] and sevens["fd"]["value"] > 100 * real["fd"]["value"]
    assert real["pr"]["precision"] > 0.85 and real["pr"]["recall"] > 0.85
    assert real["dc"]["density"] > 0.8 and real["dc"]["coverage"] > 0.9
    # Noise: no recall, no coverage, low density. Its precision is not reliably low (0.06 to 0.6 with other
    # halves): the noise features sit in one small clump that a real outlier's large k-NN ball may cover,
    # the weakness of precision that density (Naeem et al. 2020) was designed to fix.
    assert noise["pr"]["recall"] < 0.05 and noise["dc"]["coverage"] < 0.05 and noise["dc"]["density"] < 0.5
    assert sevens["pr"]["recall"] < 0.3 and sevens["dc"]["coverage"] < 0.3  # real-looking, but one class
    assert real["score"]["value"] > 8.0 and noise["score"]["value"] < 2.0 and sevens["score"]["value"] < 2.0
    assert real["modes"]["modes_covered"] == 10 and not real["modes"]["collapsed"]
    assert noise["modes"]["collapsed"] and sevens["modes"]["collapsed"]
    assert sevens["modes"]["modes_well_covered"] <= 2


@needs_mnist5k
def test_evaluate_input_errors(npys, tmp_path):
    from ganworks.metrics.evaluate import evaluate

    with pytest.raises(GanworksError, match="unknown metric 'fid'; valid: dc, fd, kid, mixture, modes, parzen"):
        evaluate(npys["a"], data="mnist-5k", metrics="fd,fid")
    np.save(tmp_path / "f.npy", np.zeros((10, 28, 28), np.float32))
    with pytest.raises(GanworksError, match=f"samples file {tmp_path / 'f.npy'} holds float32"):
        evaluate(tmp_path / "f.npy", data="mnist-5k", metrics="fd")
    np.save(tmp_path / "rgb.npy", np.zeros((10, 3, 28, 28), np.uint8))
    with pytest.raises(GanworksError, match=r"rgb.npy holds an array of shape \(10, 3, 28, 28\); dataset "
                                            r"'mnist-5k' needs uint8 images of shape \(N, 1, 28, 28\)"):
        evaluate(tmp_path / "rgb.npy", data="mnist-5k", metrics="fd")
    with pytest.raises(GanworksError, match="holds 2500 samples; --n 3000 asks for more"):
        evaluate(npys["a"], data="mnist-5k", metrics="fd", n=3000)
    with pytest.raises(GanworksError, match="metric 'mixture' is for the 2-D mixtures"):
        evaluate(npys["a"], data="mnist-5k", metrics="mixture")
    with pytest.raises(GanworksError, match="metric 'fd' needs images; dataset 'ring8' holds 2-D points"):
        evaluate(npys["a"], data="ring8", metrics="fd")
    with pytest.raises(GanworksError, match="no such samples file"):
        evaluate(tmp_path / "missing.npy", data="mnist-5k", metrics="fd")


def test_mixture_metric_on_points(tmp_path):
    from ganworks.data import load_dataset
    from ganworks.metrics.evaluate import evaluate

    pts = load_dataset("ring8", "test").images.reshape(-1, 2).numpy()
    np.save(tmp_path / "p.npy", pts)
    r = evaluate(tmp_path / "p.npy", data="ring8", metrics="mixture")["metrics"]["mixture"]
    assert r["modes_captured"] == 8 and r["high_quality_fraction"] > 0.97 and r["fake_count"] == 2500


# ----------------------------------------------------------------------------- reference cache
def _memory_dataset(images, labels):
    from ganworks.data.dataset import make_image_dataset
    from ganworks.data.registry import DatasetSpec

    @dataclass(frozen=True, kw_only=True)
    class MemorySpec(DatasetSpec):
        arrays: dict

        def sources(self):
            return ["memory"]

        def is_cached(self, home=None):
            return True

        def load(self, split="train", *, download=True, home=None):
            imgs, labs = self.arrays[split]
            return make_image_dataset(self.name, split, imgs, labs, num_classes=10, shape=self.shape, source="memory")

    return MemorySpec(name="tiny-digits", description="test", shape=(1, 28, 28), num_classes=10,
                      splits={"train": len(images)}, license="test", citation="test",
                      arrays={"train": (images.copy(), labels)})


@needs_mnist5k
def test_reference_statistics_are_cached_and_invalidated(digits, npys, monkeypatch, tmp_path):
    from ganworks.data import DATASETS
    from ganworks.metrics.evaluate import evaluate, refstats_dir

    x, y = digits
    spec = _memory_dataset(x[:600], y[:600])
    monkeypatch.setitem(DATASETS, "tiny-digits", spec)
    seen = []
    original = Extractor.features_and_probs

    def counting(self, images, *a, **k):
        seen.append(len(images))
        return original(self, images, *a, **k)

    monkeypatch.setattr(Extractor, "features_and_probs", counting)
    fakes = tmp_path / "fakes.npy"
    np.save(fakes, x[4000:4300])
    kw = dict(data="tiny-digits", extractor="lenet-mnist", metrics="fd,pr")

    first = evaluate(fakes, **kw)
    assert first["reference"]["cache"] == "miss" and sorted(seen) == [300, 600]
    assert len(list(refstats_dir().iterdir())) == 1
    seen.clear()
    second = evaluate(fakes, **kw)
    assert second["reference"]["cache"] == "hit" and seen == [300]  # only the fakes went through the network
    assert second["metrics"]["fd"]["value"] == first["metrics"]["fd"]["value"]
    assert second["metrics"]["pr"]["precision"] == first["metrics"]["pr"]["precision"]

    spec.arrays["train"][0][17, 14, 14] ^= 0xFF  # one pixel of the dataset changes
    seen.clear()
    third = evaluate(fakes, **kw)
    assert third["reference"]["cache"] == "miss" and sorted(seen) == [300, 600]
    assert third["reference"]["fingerprint_sha256"] != first["reference"]["fingerprint_sha256"]
    assert len(list(refstats_dir().iterdir())) == 2

    cache_file = third["reference"]["cache_file"]  # a damaged cache file is recomputed, not trusted
    with open(cache_file, "wb") as f:
        f.write(b"garbage")
    assert evaluate(fakes, **kw)["reference"]["cache"] == "miss"
    assert evaluate(fakes, **kw)["reference"]["cache"] == "hit"


# ------------------------------------------------------------------------------------------ CLI
@needs_mnist5k
@pytest.mark.slow
def test_cli_evaluate_npy_writes_json_with_provenance(npys, tmp_path, digits):
    out = tmp_path / "r.json"
    b1000 = tmp_path / "b1000.npy"
    np.save(b1000, np.load(npys["b"])[:1000])
    r = run_cli("evaluate", str(npys["a"]), "--data", "mnist-5k", "--metrics", "fd,kid,pr,dc,score,modes",
                "--n", "1000", "--reference", str(b1000), "--json", str(out), env={"GANWORKS_HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert "evaluate:" in r.stderr and "fd " not in r.stderr  # progress on stderr, results on stdout
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("# ") and lines[1].split()[:2] == ["metric", "value"]
    assert [ln.split()[0] for ln in lines[2:]] == ["fd", "kid", "pr", "dc", "score", "modes"]
    res = json.loads(out.read_text())
    assert res["source"]["kind"] == "npy" and res["source"]["count"] == 1000
    sha = json.loads((WEIGHTS_DIR / "lenet-mnist.json").read_text())["sha256"]
    for name, m in res["metrics"].items():
        for key in PROVENANCE:
            assert key in m, (name, key)
        assert m["metric"] == name and m["fake_count"] == 1000 and m["seed"] == 0
        assert m["extractor"] == {"name": "lenet-mnist", "weights_sha256": sha}
        if name in ("fd", "kid", "pr", "dc"):
            assert m["reference"]["split"] == "custom" and m["reference"]["count"] == 1000
    assert res["metrics"]["kid"]["kid_std"] == 0.0  # both sets are exactly one subset of 1,000
    assert abs(res["metrics"]["kid"]["value"]) < 20 and res["metrics"]["modes"]["modes_covered"] == 10


@needs_mnist5k
@pytest.mark.slow
def test_cli_evaluate_a_trained_run(tmp_path, capsys):
    """Through the CLI's main() in this process (the real process is test_cli_evaluate_npy_...'s); the
    ganworks home is tmp_path / "home" (the _home fixture)."""
    from ganworks import train

    run = train(run_dir=str(tmp_path / "run"), **{**TINY, "kimg": 0.5})
    out = tmp_path / "run.json"
    r = cli(capsys, "evaluate", str(run), "--data", "mnist-5k", "--n", "1000", "--metrics", "fd,score,modes,parzen",
            "--json", str(out))
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert res["source"] == {**res["source"], "kind": "run", "path": str(run), "count": 1000, "sample_seed": 0}
    assert res["reference"]["dataset"] == "mnist-5k" and res["reference"]["split"] == "train"
    assert res["reference"]["count"] == 5000 and "no test split" in res["reference"]["note"]
    fd = res["metrics"]["fd"]
    assert fd["reference"] == {"dataset": "mnist-5k", "split": "train", "count": 5000} and fd["value"] > 0
    pz = res["metrics"]["parzen"]
    assert pz["reference"]["validation"]["count"] == 1000 and pz["reference"]["test"]["count"] == 1000
    assert np.isfinite(pz["log_likelihood"]) and pz["standard_error"] > 0 and pz["sigma"] in pz["sigmas"]
    assert pz["extractor"] is None and pz["fake_count"] == 1000
    # Same seed -> same samples -> same numbers (and the reference now comes from the cache).
    r2 = cli(capsys, "evaluate", str(run), "--data", "mnist-5k", "--n", "1000", "--metrics", "fd",
             "--json", str(tmp_path / "again.json"))
    again = json.loads((tmp_path / "again.json").read_text())
    assert r2.returncode == 0 and again["reference"]["cache"] == "hit"
    assert again["metrics"]["fd"]["value"] == fd["value"]


@needs_mnist5k
@pytest.mark.slow
def test_cli_evaluate_errors_are_one_line(npys, tmp_path, capsys):
    _one_line_error(cli(capsys, "evaluate", str(npys["a"]), "--data", "mnist-5k", "--metrics", "fd,fid"),
                    "unknown metric 'fid'", "valid: dc, fd, kid, mixture, modes, parzen, pr, score")
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"\x93NUMPY garbage")
    _one_line_error(cli(capsys, "evaluate", str(bad), "--data", "mnist-5k"), f"cannot read samples file {bad}")
    _one_line_error(cli(capsys, "evaluate", str(npys["a"]), "--data", "mnist-5k", "--extractor", "vgg"),
                    "unknown feature extractor 'vgg'", "valid: inception, lenet-fashion, lenet-mnist")


@needs_mnist5k
@pytest.mark.slow
def test_cli_classifier_train(tmp_path, capsys):
    r = cli(capsys, "classifier", "train", "--data", "mnist-5k", "--epochs", "1", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(tmp_path / "lenet-mnist.safetensors"), str(tmp_path / "lenet-mnist.json")]
    info = json.loads((tmp_path / "lenet-mnist.json").read_text())
    assert info["sha256"] == sha256_file(tmp_path / "lenet-mnist.safetensors")
    assert info["epochs"] == 1 and info["test_split"]["count"] == 500 and info["training_data"]["count"] == 4500
    assert info["test_accuracy"] > 0.8  # one epoch on 4,500 digits
    ex = get_extractor("lenet-mnist", weights=tmp_path / "lenet-mnist.safetensors")  # usable as an extractor
    assert ex.weights_sha256 == info["sha256"]
    _one_line_error(cli(capsys, "classifier", "train", "--data", "cifar10"), "unknown classifier training dataset",
                    "fashion-mnist")


def test_inception_wrapper_with_a_stand_in_for_torch_fidelity(monkeypatch, tmp_path):
    """The plumbing around torch-fidelity's FeatureExtractorInceptionV3 (its constructor arguments, uint8 RGB
    input, its two outputs), checked against a small stand-in module: the real one needs its weights."""
    import sys
    import types

    import torch

    calls = {}

    class StandIn(torch.nn.Module):
        def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
            super().__init__()
            calls.update(name=name, features=list(features_list), path=feature_extractor_weights_path)
            self.w = torch.load(feature_extractor_weights_path)["w"]  # (3, 2048)

        def forward(self, x):
            assert x.dtype == torch.uint8 and x.ndim == 4 and x.shape[1] == 3
            feats = x.float().mean((2, 3)) @ self.w
            return feats, feats[:, :1008] - feats[:, 1008:2016]

    pkg = types.ModuleType("torch_fidelity")
    sub = types.ModuleType("torch_fidelity.feature_extractor_inceptionv3")
    sub.FeatureExtractorInceptionV3 = StandIn
    monkeypatch.setitem(sys.modules, "torch_fidelity", pkg)
    monkeypatch.setitem(sys.modules, "torch_fidelity.feature_extractor_inceptionv3", sub)
    weights = tmp_path / "inception.pth"
    torch.save({"w": torch.randn(3, 2048, generator=torch.Generator().manual_seed(0))}, weights)

    with pytest.raises(GanworksError, match="--inception-weights .*missing.pth: no such file"):
        get_extractor("inception", weights=tmp_path / "missing.pth")
    ex = get_extractor("inception", weights=weights)
    assert calls == {"name": "inception-v3-compat", "features": ["2048", "logits_unbiased"], "path": str(weights)}
    assert ex.weights_sha256 == sha256_file(weights) and (ex.feature_dim, ex.num_classes) == (2048, 1008)
    gray = np.random.default_rng(0).integers(0, 256, (40, 28, 28), dtype=np.uint8)
    f, p = ex.features_and_probs(gray, batch_size=16)
    assert f.shape == (40, 2048) and p.shape == (40, 1008) and np.allclose(p.sum(1), 1.0)
    rgb = np.repeat(gray[:, None], 3, axis=1)  # grayscale is read as RGB with three equal channels
    assert np.array_equal(ex.features(rgb, batch_size=16), f)
    with pytest.raises(GanworksError, match="inception.*1 or 3 channels"):
        ex.features(np.zeros((2, 4, 28, 28), np.uint8))


# ------------------------------------------------------------------------- registry and in-memory
def test_a_new_metric_is_one_registry_entry(monkeypatch):
    """A metric registered with its compute and format is checked by name, computed by evaluate() with the
    shared provenance, and printed by format_table: no branch in evaluate knows it."""
    from ganworks.data import load_dataset
    from ganworks.metrics import METRICS, MetricSpec
    from ganworks.metrics.evaluate import evaluate, format_table
    from ganworks.metrics.registry import parse_metrics

    def spread(points) -> float:
        """Mean distance of the points from their centre."""
        return float(np.linalg.norm(points - points.mean(0), axis=1).mean())

    def compute(x):
        return {"spread": spread(x.fakes)}, {"reference": None}

    spec = MetricSpec("spread", "points", spread, None, ("spread",), True, "test", "mean distance from the centre",
                      compute, lambda r: (f"{r['spread']:.2f}", "from the centre"))
    monkeypatch.setitem(METRICS, "spread", spec)
    assert parse_metrics("mixture,spread") == ["mixture", "spread"]
    pts = load_dataset("ring8", "test").images.reshape(-1, 2).numpy()[:500]
    r = evaluate(pts, data="ring8", metrics="mixture,spread", seed=4)
    m = r["metrics"]["spread"]
    assert m["value"] == m["spread"] == pytest.approx(spread(pts.astype(np.float64)))
    assert (m["metric"], m["fake_count"], m["seed"], m["citation"], m["reference"]) == ("spread", 500, 4, "test", None)
    assert r["metrics"]["mixture"]["modes_captured"] == 8
    row = format_table(r).splitlines()[-1].split()
    assert row[:4] == ["spread", f"{m['spread']:.2f}", "from", "the"]


def test_in_memory_sources_are_checked_like_files():
    import torch

    from ganworks.metrics.evaluate import evaluate
    from ganworks.models import build_generator, make_model_config

    with pytest.raises(GanworksError, match="samples array holds float32 values; dataset 'mnist-5k' needs uint8"):
        evaluate(np.zeros((10, 28, 28), np.float32), data="mnist-5k", metrics="fd")
    with pytest.raises(GanworksError, match=r"samples array holds a float32 array of shape \(10, 28\); dataset "
                                            r"'ring8' needs float 2-D points \(N, 2\)"):
        evaluate(np.zeros((10, 28), np.float32), data="ring8", metrics="mixture")
    with pytest.raises(GanworksError, match="samples array holds 10 samples; --n 20 asks for more"):
        evaluate(torch.zeros(10, 2), data="ring8", metrics="mixture", n=20)  # a tensor is read as its array
    with pytest.raises(GanworksError, match="cannot evaluate a int: pass a run or snapshot directory, a .npy file, "
                                            "a generator or a numpy array"):
        evaluate(42, data="ring8", metrics="mixture")
    with pytest.raises(GanworksError, match="cannot evaluate a Linear: pass a ganworks generator"):
        evaluate(torch.nn.Linear(2, 2), data="ring8", metrics="mixture")
    G = build_generator("mlp", make_model_config("mlp", image_shape=(1, 28, 28), z_dim=4, g_hidden=(8,)))
    with pytest.raises(GanworksError, match="the generator makes images; dataset 'ring8' holds 2-D points"):
        evaluate(G, data="ring8", metrics="mixture")
