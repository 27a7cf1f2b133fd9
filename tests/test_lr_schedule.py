"""--lr-schedule: the multiplier, the rates a run really used, resume, and the CLI's errors."""

import json
import math

import pytest

from ganworks import GanworksError, TrainConfig, train
from ganworks.training.loop import lr_factor

from gwtest import RING, assert_bitwise, cli, one_line_error, rewind_copy, stats

RING_KW = dict(data="ring8", model="mlp", batch_size=64, tick_kimg=0.256, snapshot_kimg=0, progress=False,
               model_options={"z_dim": 4, "g_hidden": [32], "d_hidden": [32], "output": "linear"})


def test_lr_factor_closed_forms():
    assert [lr_factor("constant", t) for t in (0, 0.5, 1)] == [1.0, 1.0, 1.0]
    assert [lr_factor("linear", t) for t in (0, 0.25, 1)] == [1.0, 0.75, 0.0]
    assert lr_factor("cosine", 0) == 1.0 and lr_factor("cosine", 1) == 0.0
    assert lr_factor("cosine", 0.5) == pytest.approx(0.5, abs=1e-15)
    assert lr_factor("cosine", 0.25) == pytest.approx((1 + math.sqrt(0.5)) / 2)
    assert lr_factor("linear", 1.5) == 0.0 and lr_factor("linear", -1) == 1.0  # clamped to the run
    # cooldown: constant for the first 80%, then linear to 0 over the last 20%
    assert [lr_factor("cooldown", t) for t in (0, 0.5, 0.79)] == [1.0, 1.0, 1.0]
    assert lr_factor("cooldown", 0.9) == pytest.approx(0.5) and lr_factor("cooldown", 0.95) == pytest.approx(0.25)
    assert lr_factor("cooldown", 1) == 0.0 and lr_factor("cooldown", 2) == 0.0


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine", "cooldown"])
def test_rates_logged_each_tick_follow_the_schedule(tmp_path, schedule):
    """stats.jsonl records the rates in effect at each tick: base x f(images shown so far / total),
    where the last step of a tick ran at the rate set before it (one batch earlier)."""
    run = train(run_dir=str(tmp_path / "r"), kimg=1.024, lr_g=2e-4, lr_d=8e-4, lr_schedule=schedule, **RING_KW)
    recs = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert len(recs) == 4
    for r in recs:
        t = (r["kimg"] * 1000 - 64) / 1024  # the last step of the tick set its rate before its batch
        assert r["lr_G"] == pytest.approx(2e-4 * lr_factor(schedule, t), rel=1e-12)
        assert r["lr_D"] == pytest.approx(8e-4 * lr_factor(schedule, t), rel=1e-12)
    if schedule in ("linear", "cosine"):
        assert recs[-1]["lr_G"] < 2e-4 * 0.1  # close to zero at the end of the run
    if schedule == "cooldown":  # full rate until 80% of the run, then falling: 0.3125 at t = 960 / 1024
        assert [r["lr_G"] for r in recs[:3]] == [2e-4] * 3 and recs[-1]["lr_G"] == pytest.approx(2e-4 * 0.3125)


def test_resume_mid_schedule_is_bitwise_exact(tmp_path):
    kw = dict(kimg=1.024, lr_schedule="cosine", checkpoint_kimg=0.256, keep_checkpoints=10, **RING_KW)
    ref = train(run_dir=str(tmp_path / "ref"), **kw)
    run = rewind_copy(ref, tmp_path / "resumed", 512)
    train(resume=str(run))
    assert_bitwise(ref, run)
    assert stats(run) == stats(ref)


def test_unknown_schedule_is_refused():
    with pytest.raises(GanworksError, match=r"unknown --lr-schedule 'step'; valid: constant, linear, cosine, cooldown"):
        TrainConfig(data="ring8", lr_schedule="step")


def test_cli_flag_and_error(capsys, tmp_path):
    r = cli(capsys, "train", *RING, "--kimg", "1", "--lr-schedule", "exp", "--run-dir", str(tmp_path / "x"))
    one_line_error(r, "--lr-schedule 'exp'", "constant, linear, cosine, cooldown")
    assert not (tmp_path / "x").exists()
    r = cli(capsys, "train", *RING, "--kimg", "0.256", "--lr-schedule", "linear", "--run-dir", str(tmp_path / "y"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "y" / "config.json").read_text())["train"]["lr_schedule"] == "linear"
    assert "(linear schedule)" in (tmp_path / "y" / "log.txt").read_text()
