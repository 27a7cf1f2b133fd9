"""A run's process lifecycle (issue 18, classes 1, 8, 9, 10): one trainer per run (an OS lock that dies
with its process), readers of a live run, SIGINT/SIGTERM stop with a checkpoint and resume exactly, and
what killed processes left behind is cleaned on the next start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ganworks.training import game, lock
from ganworks.training.resume import list_checkpoints

from gwtest import ONE_THREAD, RING, assert_bitwise, cli, one_line_error

FLAGS = [*RING, "--checkpoint-kimg", "1"]


def _start(run, *extra):
    return subprocess.Popen([sys.executable, "-m", "ganworks", "train", *FLAGS, *extra, "--run-dir", str(run)],
                            env={**os.environ, **ONE_THREAD}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for(cond, proc, what):
    deadline = time.time() + 120
    while not cond():
        assert proc.poll() is None and time.time() < deadline, f"no {what}: {proc.communicate()}"
        time.sleep(0.01)


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


@pytest.mark.slow
def test_a_live_run_has_one_trainer_and_still_serves_readers(tmp_path, capsys):
    run = tmp_path / "live"
    proc = _start(run, "--kimg", "100000")  # trains until killed
    try:
        _wait_for(lambda: list_checkpoints(run) and (run / "stats.jsonl").is_file()
                  and (run / "stats.jsonl").read_text().strip(), proc, "checkpoint and tick")
        # A second trainer is refused, by either spelling, naming the run and the holder.
        for args in (["--resume", str(run)], ["--resume", "auto", "--run-dir", str(run)]):
            r = cli(capsys, "train", *args, "--no-progress")
            one_line_error(r, str(run), f"PID {proc.pid}", "--resume")
        # Readers work on the live run: sample from its latest checkpoint, report what it has so far.
        r = cli(capsys, "sample", str(run), "--n", "16", "--npy", str(tmp_path / "s.npy"))
        assert r.returncode == 0, r.stderr
        assert np.load(tmp_path / "s.npy").shape == (16, 2)
        r = cli(capsys, "report", str(run), "--out", str(tmp_path / "report.html"))
        assert r.returncode == 0, r.stderr
        assert "not finished" in (tmp_path / "report.html").read_text()
        assert proc.poll() is None, "the readers disturbed the trainer"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    # kill -9 leaves no stale lock: the next trainer takes the run at once (and finishes it).
    r = cli(capsys, "train", "--resume", str(run), "--kimg", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert (run / "generator.safetensors").is_file()


@pytest.mark.slow
def test_sigterm_writes_a_checkpoint_exits_143_and_resumes_bitwise(tmp_path, capsys):
    ref = tmp_path / "ref"
    # 20 kimg: after the first checkpoint (1 kimg) the process trains on for a second or more, time
    # enough for the signal to land before the end (which the assertion below would catch).
    assert cli(capsys, "train", *FLAGS, "--kimg", "20", "--run-dir", str(ref)).returncode == 0
    run = tmp_path / "term"
    proc = _start(run, "--kimg", "20")
    _wait_for(lambda: list_checkpoints(run), proc, "checkpoint")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert "SIGTERM" in last and "checkpoint written" in last and f"--resume {run}" in last and "Traceback" not in err
    assert not (run / "generator.safetensors").exists(), "the run finished before the signal"
    stopped_at = list_checkpoints(run)[-1]
    r = cli(capsys, "train", "--resume", str(run), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert f"from {stopped_at.name}" in r.stderr
    assert_bitwise(ref, run)


def test_sigint_in_the_loop_stops_after_the_step_with_a_checkpoint(tmp_path, capsys, monkeypatch):
    """Ctrl-C the same way (in this process, at a chosen step): exit 130, one line, exact resume."""
    ref = tmp_path / "ref"
    assert cli(capsys, "train", *FLAGS, "--kimg", "3", "--run-dir", str(ref)).returncode == 0
    real_step, calls = game.generator_step, []

    def step_then_signal(*a, **kw):
        out = real_step(*a, **kw)
        calls.append(1)
        if len(calls) == 7:  # mid-run, between two checkpoints (every 1 kimg = 16 steps)
            signal.raise_signal(signal.SIGINT)
        return out

    monkeypatch.setattr(game, "generator_step", step_then_signal)
    run = tmp_path / "int"
    r = cli(capsys, "train", *FLAGS, "--kimg", "3", "--run-dir", str(run))
    assert r.returncode == 130 and len(calls) == 7, (r.returncode, len(calls), r.stderr)
    assert r.stderr.strip().splitlines()[-1].startswith("ganworks: interrupted by SIGINT: checkpoint written")
    assert list_checkpoints(run)[-1].name == f"ckpt-{7 * 64:09d}"
    monkeypatch.undo()
    assert cli(capsys, "train", "--resume", str(run), "--no-progress").returncode == 0
    assert_bitwise(ref, run)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or signal.getsignal(signal.SIGTERM) != lock._on_signal


def test_a_start_or_resume_removes_only_dead_processes_temporaries(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli(capsys, "train", *FLAGS, "--kimg", "1", "--run-dir", str(run)).returncode == 0
    dead, live = _dead_pid(), os.getppid()
    ckpts, samples = run / "checkpoints", run / "samples"
    stale = [ckpts / f".ckpt-000000512.tmp-{dead}", ckpts / f".ckpt-000000576.tmp-{live}",
             ckpts / f".ckpt-000000640.old-{dead}",
             run / ".generator.safetensors.x8k2_q.tmp.safetensors", run / ".config.json.ab12cd.tmp.json",
             samples / ".fakes000001.png.zz91aa.tmp.png", run / f".report.html.pid{dead}.k3j4h5.tmp.html"]
    kept = [run / f".report.html.pid{live}.q1w2e3.tmp.html",  # a reader still writing
            run / "notes.tmp", samples / "mine.png"]  # the user's own files
    for p in stale[:3]:
        p.mkdir()
        (p / "state.safetensors").write_bytes(b"x" * 100)
    for p in stale[3:] + kept:
        p.write_bytes(b"half")
    r = cli(capsys, "train", "--resume", str(run), "--kimg", "2", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert [p.name for p in stale if p.exists()] == []
    assert all(p.exists() for p in kept)


def test_a_run_lock_is_held_for_the_call_and_released_after(tmp_path):
    """In-process: train() releases the lock however it ends, so the same process may train the run again."""
    held = lock.RunLock(tmp_path).acquire()
    try:
        with pytest.raises(Exception, match=f"PID {os.getpid()}"):
            lock.RunLock(tmp_path).acquire()
    finally:
        held.release()
    lock.RunLock(tmp_path).acquire().release()  # free again


def test_atomic_temporaries_name_their_writer(tmp_path):
    """atomic_path's temporary carries the writer's PID, the name the start-up clean-up reads."""
    import os

    from ganworks.images import atomic_path
    from ganworks.training.lock import _ATOMIC_TMP

    with atomic_path(tmp_path / "report.html") as tmp:
        m = _ATOMIC_TMP.match(tmp.name)
        assert m is not None and m["pid"] == str(os.getpid()) and m["name"] == "report.html", tmp.name
        tmp.write_text("x")
    assert (tmp_path / "report.html").read_text() == "x"


def test_sigterm_while_a_command_starts_is_one_line_and_143(capsys, monkeypatch):
    """Before train() installs its own handler (torch and the data loading), SIGTERM still ends the command
    with one line and status 143, not a silent -15; afterwards the previous handler is back."""
    import os
    import signal

    import ganworks.data

    def slow_start():
        os.kill(os.getpid(), signal.SIGTERM)  # as a scheduler would, mid-start
        raise AssertionError("SIGTERM did not interrupt the command")

    monkeypatch.setattr(ganworks.data, "list_datasets", slow_start)
    before = signal.getsignal(signal.SIGTERM)
    r = cli(capsys, "data", "list")
    assert r.returncode == 143, r
    assert r.stderr.strip().splitlines() == ["ganworks: interrupted by SIGTERM"]
    assert signal.getsignal(signal.SIGTERM) is before
