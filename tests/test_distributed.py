"""torchrun + DistributedDataParallel on CPU (gloo): 2 processes match 1 with the same global batch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ganworks import train
from gwtest import RING

TORCHRUN = Path(sys.executable).with_name("torchrun")
needs_torchrun = pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside python")
pytestmark = pytest.mark.slow  # each test starts torchrun and two or three processes that import torch
# No dropout: each process would draw its own masks for its half of the batch.
FLAGS = [*RING, "--d-dropout", "0", "--kimg", "2", "--checkpoint-kimg", "1"]
CFG = dict(data="ring8", batch_size=64, tick_kimg=1, snapshot_kimg=4, checkpoint_kimg=1, progress=False,
           model_options={"z_dim": 4, "g_hidden": [32], "d_hidden": [32], "d_dropout": 0.0})


def torchrun(nproc: int, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(TORCHRUN), "--standalone", f"--nproc_per_node={nproc}", "-m", "ganworks", *args],
                          env=env, capture_output=True, text=True, timeout=300)


def _close(a: Path, b: Path, atol: float) -> None:
    for name in ("generator", "discriminator"):
        wa, wb = load_file(str(a / f"{name}.safetensors")), load_file(str(b / f"{name}.safetensors"))
        assert wa.keys() == wb.keys()
        for k in wa:
            torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=atol, msg=f"{name}.{k}")


@needs_torchrun
def test_two_processes_match_one_and_resume_on_one(tmp_path):
    two = tmp_path / "two"
    r = torchrun(2, "train", *FLAGS, "--run-dir", str(two))
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == str(two)  # only rank 0 reports
    assert "x 2 processes" in (two / "log.txt").read_text()
    one = train(run_dir=str(tmp_path / "one"), kimg=2, **CFG)
    _close(one, two, atol=1e-5)  # the same global batch: gradients all-reduced = one process's
    s1 = [line for line in (one / "stats.jsonl").read_text().splitlines()]
    s2 = [line for line in (two / "stats.jsonl").read_text().splitlines()]
    assert len(s1) == len(s2) == 2  # rank 0 alone writes the log, with statistics averaged over ranks

    # The 2-process run's checkpoint continues on one process (a change of world size).
    train(resume=str(two), kimg=3)
    longer = train(run_dir=str(tmp_path / "longer"), kimg=3, **CFG)
    _close(longer, two, atol=1e-5)
    assert "on 1 process(es)" in (two / "log.txt").read_text()


@needs_torchrun
def test_reuse_fakes_under_ddp_matches_one_process(tmp_path):
    """--reuse-fakes keeps G's graph across D's step: DDP must still all-reduce G's gradients once per step."""
    two = tmp_path / "two"
    r = torchrun(2, "train", *FLAGS, "--reuse-fakes", "--run-dir", str(two))
    assert r.returncode == 0, r.stderr[-3000:]
    one = train(run_dir=str(tmp_path / "one"), kimg=2, reuse_fakes=True, **CFG)
    _close(one, two, atol=1e-5)
    plain = train(run_dir=str(tmp_path / "plain"), kimg=2, **CFG)
    assert not torch.equal(load_file(str(plain / "generator.safetensors"))["net.0.weight"],
                           load_file(str(one / "generator.safetensors"))["net.0.weight"])


@needs_torchrun
def test_batch_size_must_divide_among_processes(tmp_path):
    r = torchrun(2, "train", *FLAGS, "--batch-size", "63", "--run-dir", str(tmp_path / "odd"))
    assert r.returncode != 0
    assert "ganworks: error: --batch-size 63 must be divisible by the number of processes (2)" in r.stderr
    assert "Traceback" not in r.stderr.split("ganworks: error:")[0]  # our own processes fail cleanly
