"""The ``ganworks`` command: the workflow and --help in real subprocesses; the error paths through
the same ``main`` in this process (a subprocess would add a second or two of start-up to each)."""

import json
import os

import numpy as np
import pytest
from gwtest import cli, needs_mnist5k, one_line_error as _one_line_error, run_cli
from PIL import Image

TINY_FLAGS = ["--data", "mnist-5k", "--kimg", "0.5", "--batch-size", "32", "--z-dim", "8", "--g-hidden", "32",
              "--d-hidden", "32", "--no-progress", "--tick-kimg", "0.25"]


@pytest.mark.slow
def test_help_lists_commands():
    r = run_cli("--help")
    assert r.returncode == 0
    for cmd in ("train", "sample", "interpolate", "data"):
        assert cmd in r.stdout
    r = run_cli("train", "--help")
    assert r.returncode == 0 and "--kimg" in r.stdout and "--run-dir" in r.stdout and "--d-steps" in r.stdout


@needs_mnist5k
@pytest.mark.slow
def test_train_sample_interpolate_workflow(tmp_path, capsys):
    run = tmp_path / "run"
    r = run_cli("train", *TINY_FLAGS, "--run-dir", str(run))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(run)  # the result on stdout, logs on stderr
    assert "tick" in r.stderr
    assert (run / "generator.safetensors").is_file() and (run / "discriminator.safetensors").is_file()

    r = run_cli("sample", str(run), "--n", "30", "--seed", "5", "--out", str(tmp_path / "g.png"),
                "--npy", str(tmp_path / "x.npy"), "--dir", str(tmp_path / "pngs"))
    assert r.returncode == 0, r.stderr
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (30, 28, 28) and x.dtype == np.uint8
    files = sorted((tmp_path / "pngs").iterdir())
    assert [f.name for f in files[:2]] == ["000000.png", "000001.png"] and len(files) == 30
    assert np.array_equal(np.asarray(Image.open(files[3])), x[3])  # the folder holds the same samples
    grid = Image.open(tmp_path / "g.png")
    assert grid.size == (2 * (2 + 6 * 30), 2 * (2 + 5 * 30))  # 6 x 5 grid of 28 px + 2 px padding, scale 2

    # Same seed -> same samples from a fresh process.
    r = run_cli("sample", str(run), "--n", "30", "--seed", "5", "--npy", str(tmp_path / "y.npy"))
    assert r.returncode == 0 and np.array_equal(np.load(tmp_path / "y.npy"), x)

    for flag in ([], ["--slerp"]):  # in this process: the GIF below runs interpolate in a real one
        out = tmp_path / f"walk{len(flag)}.png"
        r = cli(capsys, "interpolate", str(run), "--steps", "7", "--rows", "3", *flag, "--out", str(out),
                "--scale", "1")
        assert r.returncode == 0, r.stderr
        assert Image.open(out).size == (2 + 7 * 30, 2 + 3 * 30)
    r = run_cli("interpolate", str(run), "--steps", "4", "--rows", "2", "--out", str(tmp_path / "walk.gif"))
    assert r.returncode == 0, r.stderr
    gif = Image.open(tmp_path / "walk.gif")
    assert gif.n_frames == 6  # 4 steps there, 2 back


# The full table of bad inputs (damaged files, unknown names, unwritable outputs, other models'
# runs, conflicting flags) is tests/test_bad_input.py; these are the quick argument-level ones.
@pytest.mark.parametrize("args, fragments", [
    (["train", "--kimg", "0"], ["--kimg", "got 0"]),
    (["train", "--batch-size", "-4"], ["--batch-size", "got -4"]),
    (["train", "--g-hidden", "12,x"], ["--g-hidden", "'12,x'"]),
    (["train", "--bogus-flag"], ["unrecognized arguments: --bogus-flag"]),
    (["train", "--reuse-fakes", "--objective", "wgan-gp"], ["--reuse-fakes", "--d-steps is 5", "wgan-gp"]),
    (["sample", "/no/such/run"], ["no such run or snapshot: /no/such/run"]),
    (["interpolate", "/no/such/run"], ["no such run or snapshot: /no/such/run"]),
    (["data", "info", "imagenet"], ["unknown dataset 'imagenet'"]),
    (["frobnicate"], ["invalid choice: 'frobnicate'"]),
])
def test_bad_input_is_one_line_exit_2(args, fragments, capsys):
    _one_line_error(cli(capsys, *args), *fragments)


def test_not_a_run_directory(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    _one_line_error(cli(capsys, "sample", str(tmp_path)), str(tmp_path), "generator.safetensors")


@needs_mnist5k
def test_unwritable_output_keeps_existing_files(tiny_run, tmp_path, capsys):
    r = cli(capsys, "sample", str(tiny_run), "--out", str(tmp_path / "missing-dir" / "g.png"))
    _one_line_error(r, "cannot write", "missing-dir")
    # Outputs nobody can write, root included: under a file, and onto a folder of the user's files.
    notes = tmp_path / "notes"
    notes.write_bytes(b"old notes")
    r = cli(capsys, "sample", str(tiny_run), "--out", str(notes / "g.png"))
    _one_line_error(r, "cannot write", f"{notes} is not a directory")
    assert notes.read_bytes() == b"old notes"
    (tmp_path / "g.png").mkdir()
    (tmp_path / "g.png" / "mine.txt").write_bytes(b"old grid")
    r = cli(capsys, "sample", str(tiny_run), "--out", str(tmp_path / "g.png"))
    _one_line_error(r, "cannot write", str(tmp_path / "g.png"), "is a directory")
    assert [p.name for p in (tmp_path / "g.png").iterdir()] == ["mine.txt"]
    assert (tmp_path / "g.png" / "mine.txt").read_bytes() == b"old grid"
    # A folder without write permission refuses a user, and the old grid stays; root may write
    # through permission bits, so there the new grid replaces it.
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "g.png").write_bytes(b"old grid")
    ro.chmod(0o500)
    try:
        r = cli(capsys, "sample", str(tiny_run), "--out", str(ro / "g.png"))
    finally:
        ro.chmod(0o700)
    if os.geteuid() != 0:
        _one_line_error(r, "cannot write", str(ro / "g.png"))
        assert (ro / "g.png").read_bytes() == b"old grid"
    else:
        assert r.returncode == 0, r.stderr
        assert (ro / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _one_line_error(cli(capsys, "sample", str(tiny_run), "--out", str(tmp_path / "g.jpg")), "--out", "use .png")


@needs_mnist5k
def test_train_refuses_nonempty_run_dir(tmp_path, capsys):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "thesis.tex").write_text("precious")
    _one_line_error(cli(capsys, "train", *TINY_FLAGS, "--run-dir", str(d)), "--run-dir", str(d), "not empty")
    assert [p.name for p in d.iterdir()] == ["thesis.tex"]


def test_data_commands(capsys):
    r = cli(capsys, "data", "list")
    assert r.returncode == 0 and "mnist" in r.stdout and "fashion-mnist" in r.stdout
    r = cli(capsys, "data", "info", "mnist")
    info = json.loads(r.stdout)
    assert info["name"] == "mnist" and info["shape"] == [1, 28, 28] and info["num_classes"] == 10


def test_offline_download_error_names_alternatives(tmp_path, capsys, monkeypatch):
    # A closed port on 127.0.0.1 stands in for "no network": nothing leaves this machine.
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    monkeypatch.setenv("GANWORKS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GANWORKS_MNIST_MIRRORS", f"http://127.0.0.1:{port}/")
    r = cli(capsys, "data", "fetch", "mnist")
    _one_line_error(r, "mnist", "mnist-5k", f"127.0.0.1:{port}")
    r = cli(capsys, "train", "--data", "mnist", "--kimg", "1", "--run-dir", str(tmp_path / "run"))
    _one_line_error(r, "mnist-5k")
    assert not list((tmp_path / "home").rglob("*.gz"))  # no half-downloaded file left as if complete
    assert not (tmp_path / "run").exists()  # nothing created for a run that could not start
