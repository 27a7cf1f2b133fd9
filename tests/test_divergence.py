"""The divergence guard: non-finite losses or weights stop the run or roll it back."""

import json

import pytest
import torch
from safetensors.torch import load_file

from gwtest import RING, cli, run_cli


def error_after_progress(r, *fragments):
    """A run that fails while training: its progress lines, then exactly one error line, exit 2."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert [x for x in lines if x.startswith("ganworks: error:")] == [lines[-1]]
    for f in fragments:
        assert f in lines[-1], (f, lines[-1])


@pytest.mark.slow
def test_nan_stops_with_step_and_network(tmp_path, capsys):
    # An absurd learning rate: D's weights jump to ~1e30 in its first step, and G's loss through
    # that D is no longer finite. One real subprocess: the user's view is one line and exit 2.
    run = tmp_path / "boom"
    r = run_cli("train", *RING, "--kimg", "2", "--lr", "1e30", "--run-dir", str(run))
    error_after_progress(r, "non-finite", "step 1 (kimg 0.000)", "generator step", "--on-nan rollback")
    log = (run / "log.txt").read_text()
    assert "STOP: non-finite" in log
    assert not (run / "generator.safetensors").exists()  # no release snapshot of a diverged G


def test_rollback_restores_last_good_checkpoint_with_lower_lr(tmp_path, capsys):
    # lr 1e20 diverges at once; one rollback to the start with lr x 1e-22 (= 1e-2) trains on.
    run = tmp_path / "rb"
    r = cli(capsys, "train", *RING, "--kimg", "2", "--lr", "1e20", "--on-nan", "rollback",
            "--nan-lr-factor", "1e-22", "--run-dir", str(run))
    assert r.returncode == 0, r.stderr
    log = (run / "log.txt").read_text()
    assert log.count("ROLLBACK") == 1
    assert "ROLLBACK 1/3: non-finite" in log and "restored ckpt-000000000" in log and "G 0.01, D 0.01" in log
    for name in ("generator", "discriminator"):
        w = load_file(str(run / f"{name}.safetensors"))
        assert all(torch.isfinite(t).all() for t in w.values())
    # The lowered rates are part of the resume state.
    ckpt = sorted((run / "checkpoints").iterdir())[-1]
    groups = json.loads((ckpt / "state.json").read_text())["optimizers"]["G"]["param_groups"]
    assert groups[0]["lr"] == 1e20 * 1e-22
    assert [json.loads(x)["kimg"] for x in (run / "stats.jsonl").read_text().splitlines()] == [1.024, 2.048]


def test_rollback_gives_up(tmp_path, capsys):
    run = tmp_path / "hopeless"
    r = cli(capsys, "train", *RING, "--kimg", "2", "--lr", "1e30", "--on-nan", "rollback", "--max-rollbacks", "2",
            "--run-dir", str(run))
    error_after_progress(r, "non-finite", "gave up after 2 rollbacks (--max-rollbacks 2)", "x0.25")
    assert (run / "log.txt").read_text().count("ROLLBACK") == 2
