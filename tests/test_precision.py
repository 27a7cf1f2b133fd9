"""--precision auto: bf16 where the hardware has native bf16, fp32 elsewhere; recorded in config.json and
kept by a resumed run."""

from __future__ import annotations

import json

import pytest
import torch

from ganworks import train
from ganworks.config import TrainConfig
from ganworks.training import precision

CPU = torch.device("cpu")
TINY = dict(data="mnist-5k", model="mlp", kimg=0.128, batch_size=32, tick_kimg=0.064, snapshot_kimg=0,
            progress=False, model_options={"z_dim": 8, "g_hidden": [16], "d_hidden": [16]})


@pytest.mark.parametrize("flags, points, expect", [
    (frozenset({"amx_bf16", "avx512_bf16", "avx512f"}), False, "bf16"),
    (frozenset({"avx512_bf16"}), False, "bf16"),
    (frozenset({"avx512f", "avx2"}), False, "fp32"),  # AVX-512 without bf16: emulated, slower
    (frozenset(), False, "fp32"),  # no /proc/cpuinfo
    (frozenset({"amx_bf16"}), True, "fp32"),  # point data: always fp32
])
def test_auto_follows_the_cpu_flags(monkeypatch, flags, points, expect):
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    got, why = precision.choose("auto", CPU, points)
    assert got == expect and why.startswith("auto")
    if expect == "bf16":
        assert all(f in why for f in sorted(flags & set(precision.BF16_CPU_FLAGS)))


def test_an_explicit_precision_and_a_resumed_runs_precision_win(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    assert precision.choose("fp32", CPU, False) == ("fp32", "--precision fp32")
    assert precision.choose("bf16", CPU, True)[0] == "bf16"  # asked for, even on points
    assert precision.choose("auto", CPU, False, previous="fp32")[0] == "fp32"


def test_cpu_flags_reads_this_machine():
    flags = precision.cpu_flags()
    assert isinstance(flags, frozenset)
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        assert flags == frozenset()
        return
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    assert flags == frozenset(line.partition(":")[2].split())


def test_auto_is_the_default_and_config_json_says_what_ran_and_why(tmp_path, monkeypatch):
    assert TrainConfig().precision == "auto"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f"}))
    run = train(run_dir=str(tmp_path / "r"), **TINY)
    env = json.loads((run / "config.json").read_text())["environment"]
    assert env["precision"] == "fp32" and "neither amx_bf16 nor avx512_bf16" in env["precision_why"]
    assert ", fp32" in (run / "log.txt").read_text().splitlines()[0]


def test_a_resumed_run_keeps_its_precision_on_another_cpu(tmp_path, monkeypatch):
    """Started where auto meant fp32, resumed where it would mean bf16: the run stays fp32 (and exact)."""
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset())
    ref = train(run_dir=str(tmp_path / "ref"), **{**TINY, "kimg": 0.256})
    part = train(run_dir=str(tmp_path / "part"), **TINY)
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    done = train(resume=str(part), kimg=0.256)
    env = json.loads((done / "config.json").read_text())["environment"]
    assert env["precision"] == "fp32" and "kept" in env["precision_why"]
    from safetensors.torch import load_file

    a, b = load_file(ref / "generator.safetensors"), load_file(done / "generator.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bf16_trains_with_fp32_weights(tmp_path):
    run = train(run_dir=str(tmp_path / "r"), precision="bf16", **TINY)
    env = json.loads((run / "config.json").read_text())["environment"]
    assert env["precision"] == "bf16" and env["precision_why"] == "--precision bf16"
    from safetensors.torch import load_file

    assert {t.dtype for t in load_file(run / "generator.safetensors").values()} == {torch.float32}
