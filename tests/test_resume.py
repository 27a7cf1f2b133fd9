"""Resume: checkpoints that survive SIGKILL, bitwise-exact continuation, corrupt files, safe loading."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ganworks import GanworksError, train
from ganworks.config import RECIPES, TrainConfig
from ganworks.training.logs import read_scalars
from ganworks.training.resume import latest_checkpoint, list_checkpoints, verify

from gwtest import ONE_THREAD, RING, TINY, assert_bitwise, cli, needs_mnist5k, one_line_error, run_cli, stats

@pytest.mark.slow
def test_sigkill_then_resume_is_bitwise_exact(tmp_path, capsys):
    """A real `ganworks train` process is killed with SIGKILL after its first checkpoint and resumed;
    its final weights equal an uninterrupted run's bit for bit, and stats.jsonl has no duplicates."""
    flags = [*RING, "--kimg", "20", "--checkpoint-kimg", "1", "--d-dropout", "0.2"]
    ref = tmp_path / "ref"  # the uninterrupted run: the same command, in this process (one thread too)
    r = cli(capsys, "train", *flags, "--run-dir", str(ref))
    assert r.returncode == 0, r.stderr

    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "ganworks", "train", *flags, "--run-dir", str(run)],
                            env={**os.environ, **ONE_THREAD}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list_checkpoints(run):
        time.sleep(0.005)
    time.sleep(0.15)  # somewhere in the middle of training (and maybe of writing the next checkpoint)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not (run / "generator.safetensors").exists(), "the run finished before it was killed"
    killed_at = [p.name for p in list_checkpoints(run)]
    assert killed_at

    r = run_cli("train", "--resume", str(run), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(run) and "resumed" in r.stderr
    assert_bitwise(ref, run)
    assert stats(run) == stats(ref)  # continued, not duplicated
    assert len(list_checkpoints(run)) == 3  # --keep-checkpoints default
    # TensorBoard, read with its own reader, shows each tick once: the killed run's points past the
    # checkpoint are purged, as stats.jsonl's were.
    steps = [s for s, _ in read_scalars(run)["loss/D"]]
    assert steps == [int(round(r["kimg"] * 1000)) for r in stats(run)]


@needs_mnist5k
@pytest.mark.slow
def test_resume_from_every_checkpoint_equals_uninterrupted(tmp_path):
    """EMA, replay buffer, dropout, lazy R1 and two D steps: every piece of state must come back."""
    kw = {**TINY, "kimg": 1.0, "tick_kimg": 0.3, "checkpoint_kimg": 0.2, "keep_checkpoints": 100, "ema_kimg": 0.1,
          "replay_size": 96, "r1_gamma": 0.1, "r1_interval": 4, "d_steps": 2}
    ref = train(run_dir=str(tmp_path / "ref"), **kw)
    ckpts = list_checkpoints(ref)
    assert [int(p.name.split("-")[1]) for p in ckpts] == [256, 448, 640, 832, 1024]  # + the final one
    for ckpt in ckpts[:-1]:
        run = tmp_path / f"from-{ckpt.name}"
        shutil.copytree(ref, run)
        for later in list_checkpoints(run):
            if later.name > ckpt.name:
                shutil.rmtree(later)
        for name in ("generator.safetensors", "generator_raw.safetensors", "discriminator.safetensors"):
            (run / name).unlink()
        assert train(resume=str(run)) == run
        assert_bitwise(ref, run)
        assert torch.equal(load_file(str(ref / "generator_raw.safetensors"))["net.0.weight"],
                           load_file(str(run / "generator_raw.safetensors"))["net.0.weight"])
        assert stats(run) == stats(ref), ckpt.name
        # The copied event files hold the whole reference run; TensorBoard's own reader must show
        # each tick once (the points past the checkpoint purged on resume), as stats.jsonl does.
        steps = [s for s, _ in read_scalars(run)["loss/D"]]
        assert steps == [int(round(r["kimg"] * 1000)) for r in stats(run)], ckpt.name


def test_checkpoint_files_and_manifest(tmp_path, capsys):
    run = tmp_path / "r"
    r = cli(capsys, "train", *RING, "--kimg", "5", "--checkpoint-kimg", "1", "--keep-checkpoints", "2",
            "--run-dir", str(run))
    assert r.returncode == 0, r.stderr
    ckpts = list_checkpoints(run)
    assert [p.name for p in ckpts] == ["ckpt-000004032", "ckpt-000005056"]  # the newest 2; older ones deleted
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]  # no temporary leftovers
    for ckpt in ckpts:
        assert sorted(p.name for p in ckpt.iterdir()) == ["manifest.json", "state.json", "state.safetensors"]
        manifest = json.loads((ckpt / "manifest.json").read_text())
        for name, entry in manifest["files"].items():
            assert entry["size"] == (ckpt / name).stat().st_size and len(entry["sha256"]) == 64
        state = load_file(str(ckpt / "state.safetensors"))
        for key in ("rng.torch", "rng.numpy", "rng.python", "data.gen", "G.net.0.weight", "opt_g.state.0.exp_avg"):
            assert key in state, key
        assert state["rng.torch"].dtype == torch.uint8
        meta = json.loads((ckpt / "state.json").read_text())
        assert meta["counters"]["nimg"] == int(ckpt.name.split("-")[1])
    assert verify(ckpts[-1]) is None


def test_corrupt_latest_checkpoint_falls_back_with_a_warning(tmp_path, capsys):
    flags = [*RING, "--kimg", "6", "--checkpoint-kimg", "2"]
    ref, run = tmp_path / "ref", tmp_path / "run"
    for d in (ref, run):
        assert cli(capsys, "train", *flags, "--run-dir", str(d)).returncode == 0
    latest = list_checkpoints(run)[-1]
    w = latest / "state.safetensors"
    w.write_bytes(w.read_bytes()[:-100])  # truncated, as by a full disk or an interrupted copy
    (run / "generator.safetensors").unlink()
    r = cli(capsys, "train", "--resume", str(run), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert f"WARNING: skipped checkpoint: {w} is truncated" in r.stderr
    assert "resumed" in r.stderr and "ckpt-000004032" in r.stderr  # the previous one
    assert_bitwise(ref, run)  # resuming from any checkpoint is exact
    assert verify(list_checkpoints(run)[-1]) is None  # the final checkpoint was rewritten whole

    # A flipped byte with the size intact is caught by the hash.
    latest = list_checkpoints(run)[-1]
    data = bytearray((latest / "state.json").read_bytes())
    data[10] ^= 1
    (latest / "state.json").write_bytes(bytes(data))
    assert "sha256" in verify(latest) and str(latest / "state.json") in verify(latest)
    assert latest_checkpoint(run)[0] == list_checkpoints(run)[-2]
    # A checkpoint without its manifest was never completed.
    (latest / "manifest.json").unlink()
    assert "never completed" in verify(latest)


def test_resume_auto_starts_then_continues(tmp_path, capsys):
    run = tmp_path / "auto"
    flags = [*RING, "--kimg", "3", "--checkpoint-kimg", "1", "--resume", "auto", "--run-dir", str(run)]
    r = cli(capsys, "train", *flags)  # nothing there yet: a fresh start
    assert r.returncode == 0 and "resumed" not in r.stderr, r.stderr
    r = cli(capsys, "train", *flags[:-6], "--kimg", "5", "--resume", "auto", "--run-dir", str(run))
    assert r.returncode == 0 and "resumed" in r.stderr, r.stderr
    ref = tmp_path / "ref"
    assert cli(capsys, "train", *RING, "--kimg", "5", "--checkpoint-kimg", "1", "--run-dir", str(ref)).returncode == 0
    assert_bitwise(ref, run)  # extended from 3 to 5 kimg = an uninterrupted 5-kimg run


@pytest.mark.slow
def test_resume_errors_are_one_line(tmp_path, capsys):
    run = tmp_path / "r"
    assert cli(capsys, "train", *RING, "--kimg", "2", "--run-dir", str(run)).returncode == 0
    # Conflicting flags: anything but the safe ones must match the run's config.json. One real
    # subprocess shows the user's view (exit 2, one line); the rest go through the same main().
    one_line_error(run_cli("train", "--resume", str(run), "--batch-size", "32"),
                   "--batch-size 32 conflicts with the run's batch_size 64", "--kimg")
    one_line_error(cli(capsys, "train", "--resume", str(run), "--z-dim", "8"),
                   "--z-dim 8 conflicts with the run's z_dim 4")
    one_line_error(cli(capsys, "train", "--resume", str(run), "--lr", "0.1"), "--lr-g 0.1 conflicts")
    one_line_error(cli(capsys, "train", "--resume", str(run), "--objective", "hinge"), "--objective 'hinge' conflicts")
    # The same value is not a conflict; --kimg may change.
    r = cli(capsys, "train", "--resume", str(run), "--batch-size", "64", "--kimg", "3", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert json.loads((run / "config.json").read_text())["train"]["kimg"] == 3
    # Nothing to resume.
    empty = tmp_path / "empty-run"
    empty.mkdir()
    one_line_error(cli(capsys, "train", "--resume", str(empty)), str(empty), "not a ganworks run directory")
    shutil.copytree(run, tmp_path / "nockpt")
    shutil.rmtree(tmp_path / "nockpt" / "checkpoints")
    one_line_error(cli(capsys, "train", "--resume", str(tmp_path / "nockpt")), "nothing to resume",
                   "no valid checkpoint")
    one_line_error(cli(capsys, "train", "--resume", str(tmp_path / "missing")), "no such run directory")
    one_line_error(cli(capsys, "train", "--resume", "auto"), "--resume auto needs --run-dir")
    one_line_error(cli(capsys, "train", "--resume", str(run), "--run-dir", str(empty)), "name different runs")
    one_line_error(cli(capsys, "train", *RING, "--on-nan", "ignore"), "--on-nan 'ignore'", "stop, rollback")
    one_line_error(cli(capsys, "train", *RING, "--checkpoint-kimg", "-1"), "--checkpoint-kimg", "-1")
    one_line_error(cli(capsys, "train", *RING, "--nan-lr-factor", "2"), "--nan-lr-factor must be in (0, 1], got 2.0")
    assert sorted(p.name for p in empty.iterdir()) == []  # nothing was written where nothing was resumed


def test_checkpoint_of_another_architecture_is_refused(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli(capsys, "train", *RING, "--kimg", "1", "--run-dir", str(a)).returncode == 0
    assert cli(capsys, "train", *RING[:7], "16", *RING[8:], "--kimg", "1", "--run-dir", str(b)).returncode == 0
    shutil.rmtree(b / "checkpoints")
    shutil.copytree(a / "checkpoints", b / "checkpoints")  # a's resume state (g_hidden 32) in b (16)
    r = cli(capsys, "train", "--resume", str(b), "--no-progress")
    one_line_error(r, "holds a different model", "'g_hidden': [32]", "'g_hidden': [16]", str(b / "config.json"))


# ------------------------------------------------------------------------------ malicious pickles
class _Payload:
    """Unpickling this runs a shell command: what a crafted checkpoint could do to torch.load."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _evil_pt(path: Path, marker: Path) -> Path:
    torch.save({"state_dict": _Payload(marker)}, path)  # a real torch .pt (zip + pickle)
    return path


@pytest.mark.slow
def test_crafted_pickle_is_dangerous_and_refused_everywhere(tmp_path, capsys):
    marker = tmp_path / "PWNED"
    evil = _evil_pt(tmp_path / "evil.pt", marker)
    # The file really is a live payload: unpickling it without weights_only creates the marker ...
    subprocess.run([sys.executable, "-c", f"import torch; torch.load({str(evil)!r}, weights_only=False)"],
                   check=False, capture_output=True)
    assert marker.exists()
    marker.unlink()
    # ... and torch.load(weights_only=True) refuses it.
    with pytest.raises(Exception):
        torch.load(evil, weights_only=True)
    assert not marker.exists()

    run = tmp_path / "run"
    assert cli(capsys, "train", *RING, "--kimg", "1", "--checkpoint-kimg", "0.5", "--run-dir", str(run)).returncode == 0
    # 1. In place of a snapshot's weights: `ganworks sample`.
    snap = tmp_path / "snap"
    shutil.copytree(run, snap)
    shutil.copy(evil, snap / "generator.safetensors")
    one_line_error(run_cli("sample", str(snap), "--out", str(tmp_path / "x.png")), "generator.safetensors")
    one_line_error(cli(capsys, "sample", str(evil)), str(evil), "not a run or snapshot")
    # 2. As a pre-trained discriminator.
    shutil.copy(evil, snap / "discriminator.safetensors")
    one_line_error(cli(capsys, "train", *RING, "--kimg", "1", "--init-discriminator", str(snap),
                       "--run-dir", str(tmp_path / "t1")), "--init-discriminator", "discriminator.safetensors")
    one_line_error(cli(capsys, "train", *RING, "--kimg", "1", "--init-discriminator", str(evil),
                       "--run-dir", str(tmp_path / "t2")), "--init-discriminator", str(evil))
    # 3. As every resume state, with the manifest rewritten to match, so only the loader stands guard.
    for ckpt in list_checkpoints(run):
        shutil.copy(evil, ckpt / "state.safetensors")
        m = json.loads((ckpt / "manifest.json").read_text())
        import hashlib
        m["files"]["state.safetensors"] = {"size": evil.stat().st_size,
                                           "sha256": hashlib.sha256(evil.read_bytes()).hexdigest()}
        (ckpt / "manifest.json").write_text(json.dumps(m))
    one_line_error(cli(capsys, "train", "--resume", str(run)), "nothing to resume", "not a readable safetensors file")
    assert not marker.exists(), "a crafted pickle ran code"


def test_python_api_resume_errors(tmp_path):
    with pytest.raises(GanworksError, match="no such run directory"):
        train(resume=str(tmp_path / "nope"))


def test_train_help_lists_resume_flags(capsys):
    r = cli(capsys, "train", "--help")
    assert r.returncode == 0
    for flag in ("--resume", "--checkpoint-kimg", "--keep-checkpoints", "--on-nan", "--nan-lr-factor",
                 "--max-rollbacks", "--sync-bn"):
        assert flag in r.stdout, flag


@pytest.mark.slow
@needs_mnist5k
def test_resume_keeps_the_rates_and_betas_the_run_started_with(tmp_path):
    """A run that left the optimizer settings unset continues with those of its config.json "resolved", not
    with the defaults of the ganworks that resumes it (the image recipe's rate and betas changed between
    versions); settings the user gave stay as given."""
    from ganworks.training.resume import plan

    run = tmp_path / "run"
    train(data="mnist-5k", kimg=0.128, batch_size=32, tick_kimg=0.064, checkpoint_kimg=0.064,
          model_options={"g_channels": 8, "d_channels": 8}, lr_d=3e-4, run_dir=str(run))
    path = run / "config.json"
    written = json.loads(path.read_text())
    assert written["train"]["recipe"] == TrainConfig(data="mnist-5k").recipe and written["train"]["lr_g"] is None
    now = written["resolved"]
    today = RECIPES[written["train"]["recipe"]]["lr"]  # 6e-4; 1e-3 on a CPU without bf16 units
    assert (now["lr_g"], now["betas"]) == (today, [0.0, 0.99])  # the recipe's, today
    # As an older ganworks would have written it: the image recipe, with other rates, betas and G.
    written["resolved"].update(lr_g=4e-4, betas=[0.5, 0.999], lr_d=1e-3)
    old_options = {"g_channels": 8, "d_channels": 8, "sn": True, "g_extra": 1, "d_extra": 1}
    written["train"].update(recipe="images", model_options=old_options)
    path.write_text(json.dumps(written))
    cfg, resumed, ckpt, _ = plan({}, {}, str(run))
    assert resumed == run and ckpt is not None
    assert cfg.model_options == old_options  # the G the checkpoint holds, not today's recipe's
    r = cfg.resolved()
    assert (r.lr_g, r.betas) == (4e-4, (0.5, 0.999))
    assert r.lr_d == 3e-4  # given by the user: config.json's "train" holds it, "resolved" does not override it
    # A config.json without "resolved" resumes with today's defaults.
    del written["resolved"]
    path.write_text(json.dumps(written))
    again = plan({}, {}, str(run))[0]
    assert again.resolved().lr_g == RECIPES[again.recipe]["lr"] != 4e-4


@needs_mnist5k
def test_a_conditional_run_from_before_class_code_resumes_with_its_embedding(tmp_path):
    """A conditional G of a run written before ``--class-code`` existed learned a class embedding; its
    config.json names no class code, and resuming it must rebuild that G, not today's one-hot default."""
    from ganworks.training.resume import plan

    run = tmp_path / "run"
    options = {"g_channels": 4, "d_channels": 4, "class_code": "embedding"}
    train(data="mnist-5k", model="dcgan", conditional=True, kimg=0.064, batch_size=32, tick_kimg=0.032,
          checkpoint_kimg=0.032, model_options=options, run_dir=str(run))
    path = run / "config.json"
    written = json.loads(path.read_text())
    assert written["model"].pop("class_code") == "embedding"
    assert written["train"]["model_options"].pop("class_code") == "embedding"
    path.write_text(json.dumps(written))
    cfg = plan({}, {}, str(run))[0]
    assert cfg.model_options["class_code"] == "embedding"
    train(resume=str(run), kimg=0.128)
    assert stats(run)[-1]["kimg"] >= 0.128 and json.loads(path.read_text())["model"]["class_code"] == "embedding"
    # Without the rule it would not load: today's default builds a G without the embedding.
    written["train"]["model_options"]["class_code"] = "onehot"
    path.write_text(json.dumps(written))
    with pytest.raises(GanworksError):
        train(resume=str(run), kimg=0.192)
