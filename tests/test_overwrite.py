"""Issue 18, classes 2 and 11: no output replaces a file the user had unless asked, and every file
ganworks writes gets the usual permissions (those of ``open(path, "w")``: 0666 less the umask).

The overwrite rule: a command that writes SEVERAL files (``sample --dir``, or two of
``--out/--npy/--dir``; ``classifier train``; ``lab`` with ``--json``; ``lab training-movie``)
checks every file it would write before any work and refuses, naming one that exists, unless
``--force`` (``--overwrite``). One named output file (``sample --out``) is replaced as before.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from gwtest import cli, one_line_error, pair

USER = b"the user's own bytes"


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _refused(r, path: Path) -> None:
    one_line_error(r, str(path), "exists", "--force")


# ------------------------------------------------------------------------------------- sample
def test_sample_dir_refuses_existing_pngs_and_writes_nothing(tiny_run, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "000003.png").write_bytes(USER)
    (photos / "000009.png").write_bytes(USER)  # outside --n 4: not a file this command writes
    (photos / "notes.txt").write_bytes(USER)
    before = _snapshot(tmp_path)
    _refused(cli(capsys, "sample", str(tiny_run), "--dir", str(photos), "--n", "4"), photos / "000003.png")
    assert _snapshot(tmp_path) == before  # not a half-written set: 000000..000002 were not written either


def test_sample_dir_force_and_overwrite_replace(tiny_run, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "000001.png").write_bytes(USER)
    for flag in ("--force", "--overwrite"):
        r = cli(capsys, "sample", str(tiny_run), "--dir", str(photos), "--n", "3", flag)
        assert r.returncode == 0, r.stderr
        assert sorted(p.name for p in photos.iterdir()) == ["000000.png", "000001.png", "000002.png"]
        assert (photos / "000001.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sample_dir_into_a_fresh_or_unrelated_folder_needs_no_force(tiny_run, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "000002.png").write_bytes(USER)  # --n 2 writes 000000 and 000001 only
    assert cli(capsys, "sample", str(tiny_run), "--dir", str(photos), "--n", "2").returncode == 0
    assert (photos / "000002.png").read_bytes() == USER
    assert (photos / "000001.png").exists()


def test_sample_two_outputs_refuse_either(tiny_run, tmp_path, capsys):
    grid, arr = tmp_path / "grid.png", tmp_path / "x.npy"
    arr.write_bytes(USER)
    _refused(cli(capsys, "sample", str(tiny_run), "--n", "4", "--out", str(grid), "--npy", str(arr)), arr)
    assert arr.read_bytes() == USER and not grid.exists()
    r = cli(capsys, "sample", str(tiny_run), "--n", "4", "--out", str(grid), "--npy", str(arr), "--force")
    assert r.returncode == 0, r.stderr
    assert np.load(arr).shape[0] == 4 and grid.exists()


def test_sample_one_named_file_is_replaced_as_before(tiny_run, tmp_path, capsys):
    grid = tmp_path / "grid.png"
    grid.write_bytes(USER)
    assert cli(capsys, "sample", str(tiny_run), "--n", "4", "--out", str(grid)).returncode == 0
    assert grid.read_bytes()[:4] == b"\x89PNG"


# ----------------------------------------------------------------------------------- classifier
def _tiny_splits(data_name):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8, generator=g)
    y = torch.arange(40) % 10
    desc = {"train": {"dataset": data_name, "count": 20}, "test": {"dataset": data_name, "count": 20}}
    return x[:20], y[:20], x[20:], y[20:], desc


@pytest.mark.parametrize("existing", ["lenet-mnist.json", "lenet-mnist.safetensors"])
def test_classifier_train_refuses_before_training(tmp_path, capsys, monkeypatch, existing):
    import ganworks.metrics.classifier as clf

    def no_training(name):
        raise AssertionError("the refusal must come before any work")

    monkeypatch.setattr(clf, "_splits", no_training)
    (tmp_path / existing).write_bytes(USER)
    before = _snapshot(tmp_path)
    r = cli(capsys, "classifier", "train", "--data", "mnist-5k", "--epochs", "1", "--out", str(tmp_path))
    _refused(r, tmp_path / existing)
    assert _snapshot(tmp_path) == before


def test_classifier_train_force_replaces_both(tmp_path, capsys, monkeypatch):
    import ganworks.metrics.classifier as clf

    monkeypatch.setattr(clf, "_splits", _tiny_splits)
    (tmp_path / "lenet-mnist.json").write_bytes(USER)
    r = cli(capsys, "classifier", "train", "--data", "mnist-5k", "--epochs", "1", "--out", str(tmp_path), "--force")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "lenet-mnist.json").read_text())["name"] == "lenet-mnist"
    assert (tmp_path / "lenet-mnist.safetensors").stat().st_size > 1000


# ------------------------------------------------------------------------------------------ lab
def test_training_movie_refuses_the_html_it_was_not_named(tmp_path, capsys):
    gif, html = tmp_path / "notes.gif", tmp_path / "notes.html"
    html.write_bytes(USER)
    _refused(cli(capsys, "lab", "training-movie", "--quick", "--out", str(gif)), html)
    assert html.read_bytes() == USER and not gif.exists()


def test_lab_json_and_figure_refuse_either(tmp_path, capsys):
    fig, js = tmp_path / "fig.png", tmp_path / "res.json"
    fig.write_bytes(USER)
    _refused(cli(capsys, "lab", "optimal-d", "--quick", "--out", str(fig), "--json", str(js)), fig)
    assert fig.read_bytes() == USER and not js.exists()


def test_training_movie_force_replaces(tmp_path, capsys):
    gif, html = tmp_path / "m.gif", tmp_path / "m.html"
    gif.write_bytes(USER)
    html.write_bytes(USER)
    r = cli(capsys, "lab", "training-movie", "--quick", "--kimg", "0.3", "--out", str(gif), "--overwrite")
    assert r.returncode == 0, r.stderr
    assert gif.read_bytes()[:3] == b"GIF" and b"data:image/png;base64," in html.read_bytes()


def test_training_movie_library_refuses_too(tmp_path):
    from ganworks.errors import GanworksError
    from ganworks.lab.movie import training_movie

    (tmp_path / "m.html").write_bytes(USER)
    with pytest.raises(GanworksError, match="m.html exists"):
        training_movie(quick=True, out=tmp_path / "m.gif", html=tmp_path / "m.html")


# ---------------------------------------------------------------------------------- permissions
@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda m: os.umask(m)
    os.umask(old)


def _mode(p: Path) -> int:
    return p.stat().st_mode & 0o777


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_release_files_get_the_usual_mode(tmp_path, umask, mask):
    from ganworks.release import save_network

    umask(mask)
    cfg, G, _ = pair("mlp")
    save_network(tmp_path, "generator", G, "mlp", cfg)
    modes = {p.name: _mode(p) for p in tmp_path.iterdir()}
    assert modes == {"generator.safetensors": 0o666 & ~mask, "generator.json": 0o666 & ~mask}


def test_checkpoint_files_get_the_usual_mode(tmp_path, umask):
    from ganworks.training.resume import save_checkpoint

    ckpt = save_checkpoint(tmp_path, 64, {"x": torch.zeros(3)}, {"counters": {"nimg": 64}}, keep=2)
    modes = {p.name: _mode(p) for p in ckpt.iterdir()}
    assert modes and all(m == 0o644 for m in modes.values()), modes


def test_atomic_path_and_every_sample_output_get_the_usual_mode(tiny_run, tmp_path, capsys, umask):
    from ganworks.images import atomic_path

    with atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("x")
    r = cli(capsys, "sample", str(tiny_run), "--n", "2", "--out", str(tmp_path / "g.png"),
            "--npy", str(tmp_path / "s.npy"), "--dir", str(tmp_path / "d"))
    assert r.returncode == 0, r.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 5 and all(_mode(p) == 0o644 for p in files), {str(p): oct(_mode(p)) for p in files}
