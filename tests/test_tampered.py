"""Issue 18, classes 5, 6 and 12: a full disk, tampered files and misleading messages.

Tampered files are copies of a real tiny run, edited; a checkpoint's manifest is rewritten to
match the edit (as ``training/resume.py`` writes it), so the damage reaches the loaders and only
the checks of what each file holds can stop it.
"""

from __future__ import annotations

import hashlib
import json
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from gwtest import ONE_THREAD, RING, cli, one_line_error, rewind_copy
from safetensors.torch import load_file, save_file

from ganworks.errors import GanworksError


def forge(ckpt: Path, edit_json=None, edit_tensors=None) -> None:
    """Edit a checkpoint's state.json / state.safetensors and rewrite its manifest to match."""
    from ganworks.training.resume import FILES, FORMAT

    if edit_json:
        meta = json.loads((ckpt / "state.json").read_text())
        edit_json(meta)
        (ckpt / "state.json").write_text(json.dumps(meta))
    if edit_tensors:
        tensors = load_file(str(ckpt / "state.safetensors"))
        edit_tensors(tensors)
        save_file(tensors, str(ckpt / "state.safetensors"), metadata={"format": FORMAT})
    manifest = {"format": FORMAT, "nimg": int(ckpt.name[5:]), "files": {
        n: {"size": (ckpt / n).stat().st_size, "sha256": hashlib.sha256((ckpt / n).read_bytes()).hexdigest()}
        for n in FILES}}
    (ckpt / "manifest.json").write_text(json.dumps(manifest))


def _counters(f):
    return lambda m: f(m["counters"])


TAMPERED_CHECKPOINTS = {  # id: (state.json edit, tensors edit, fragments of the one line)
    "unknown-counter-key": (_counters(lambda c: c.update(bogus=1)), None, ["state.json", "counters.bogus"]),
    "huge-nimg": (_counters(lambda c: c.update(nimg=10 ** 400)), None, ["state.json", "counters.nimg"]),
    "string-elapsed": (_counters(lambda c: c.update(elapsed_s="soon")), None, ["counters.elapsed_s", "'soon'"]),
    "counters-a-list": (lambda m: m.update(counters=[1, 2]), None, ["state.json", "counters"]),
    "missing-rng-meta": (lambda m: m["rng"].pop("numpy"), None, ["rng.numpy", "missing"]),
    "missing-optimizer-entry": (lambda m: m["optimizers"].pop("D"), None, ["optimizers.D", "missing"]),
    "optimizer-param-out-of-range": (lambda m: m["optimizers"]["G"]["state"].update({"99": {}}), None,
                                     ["generator optimizer", "'99'"]),
    "missing-optimizer-tensor": (None, lambda t: t.pop("opt_g.state.0.exp_avg"), ["opt_g.state.0.exp_avg", "missing"]),
    "optimizer-tensor-wrong-shape": (None, lambda t: t.update({"opt_d.state.0.exp_avg_sq": torch.zeros(3)}),
                                     ["opt_d.state.0.exp_avg_sq", "(3,)"]),
    "missing-rng-tensor": (None, lambda t: t.pop("rng.numpy"), ["rng.numpy", "missing"]),
    "rng-tensor-wrong-dtype": (None, lambda t: t.update({"rng.python": t["rng.python"].float()}),
                               ["rng.python", "float32", "int64"]),
    "weight-wrong-dtype": (None, lambda t: t.update({"G.net.0.weight": t["G.net.0.weight"].double()}),
                           ["G.net.0.weight", "float64"]),
    "missing-data-order": (None, lambda t: t.pop("data.gen"), ["data.gen", "missing"]),
}


@pytest.mark.parametrize("edit", TAMPERED_CHECKPOINTS.values(), ids=TAMPERED_CHECKPOINTS.keys())
def test_a_forged_checkpoint_is_one_line(edit, tiny_run, tmp_path, capsys):
    run = rewind_copy(tiny_run, tmp_path / "run", 512)
    edit_json, edit_tensors, fragments = edit
    forge(run / "checkpoints" / "ckpt-000000512", edit_json, edit_tensors)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}  # config.json, logs, checkpoints, ...
    r = cli(capsys, "train", "--resume", str(run))
    one_line_error(r, "ckpt-000000512", *fragments)
    assert {p: p.read_bytes() for p in before} == before  # a rejected resume changes nothing the run had


def test_an_untampered_forge_still_resumes(tiny_run, tmp_path, capsys):
    """The forging itself is harmless: a rewritten manifest over unchanged content resumes."""
    run = rewind_copy(tiny_run, tmp_path / "run", 512)
    forge(run / "checkpoints" / "ckpt-000000512", lambda m: None, lambda t: None)
    assert cli(capsys, "train", "--resume", str(run)).returncode == 0


# ------------------------------------------------------------------------------------ report
def _report(run: Path) -> str:
    from ganworks.report import render_report

    return render_report(run)


def test_report_skips_records_and_files_of_the_wrong_shape(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    lines = (run / "stats.jsonl").read_text().splitlines()
    good = json.loads(lines[-1])
    lines += [json.dumps({**good, "kimg": 10 ** 400}), json.dumps({**good, "time_s": "late"}),
              json.dumps([1, 2]), json.dumps({**good, "alarms": "not a list"})]
    (run / "stats.jsonl").write_text("\n".join(lines) + "\n")
    (run / "config.json").write_text("[1, 2, 3]")
    (run / "metrics.jsonl").write_text(json.dumps({"kimg": 1, "metrics": ["fd"]}) + "\n"
                                       + json.dumps({"kimg": 1, "metrics": {"fd": {"value": "x"}}}) + "\n")
    page = _report(run)
    assert "stats.jsonl: 4 unreadable line(s) skipped" in page
    assert "config.json could not be read" in page and "expected an object" in page
    assert "metrics.jsonl: 2 unreadable line(s) skipped (line 1: metrics: expected an object" in page


def test_report_of_a_config_with_string_params_is_a_note(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "params": {"generator": "many"}}))
    r = cli(capsys, "report", str(run), "--out", str(tmp_path / "r.html"))
    assert r.returncode == 0, r.stderr
    assert "params.generator: expected an integer, got &#x27;many&#x27;" in (tmp_path / "r.html").read_text()


def test_report_with_no_valid_record_names_the_line_and_key(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "stats.jsonl").write_text(json.dumps({"kimg": "1.0", "tick": 0}) + "\n")
    one_line_error(cli(capsys, "report", str(run), "--out", str(tmp_path / "r.html")),
                   "stats.jsonl", "line 1: kimg: expected a number, got '1.0'")


# --------------------------------------------------------------------------- release, extractor
@pytest.mark.parametrize("edit, fragment", [
    (lambda j: j.update(model=[1]), "model: expected an object"),
    (lambda j: j["model"].pop("arch"), "model.arch: is missing"),
    (lambda j: j["model"].update(arch=7), "model.arch: expected a string"),
    (lambda j: j["model"].update(arch="vit"), "'vit'"),
    (lambda j: j.update(kind="decoder"), "kind: expected one of"),
], ids=["model-a-list", "no-arch", "arch-a-number", "unknown-arch", "unknown-kind"])
def test_a_tampered_generator_json_is_one_line(edit, fragment, tiny_run, tmp_path):
    from ganworks.release import load_generator

    for name in ("generator.safetensors", "generator.json"):
        shutil.copy(tiny_run / name, tmp_path / name)
    info = json.loads((tmp_path / "generator.json").read_text())
    edit(info)
    (tmp_path / "generator.json").write_text(json.dumps(info))
    with pytest.raises(GanworksError, match="generator.json") as e:
        load_generator(tmp_path)
    assert fragment in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("arch, fragment", [
    ({"name": "vgg"}, "arch.name: expected one of 'lenet', got 'vgg'"),
    ("lenet", "arch: expected an object"),
    ({"name": "lenet", "num_classes": 10 ** 9}, "arch.num_classes"),
], ids=["unknown-arch", "arch-a-string", "absurd-classes"])
def test_extractor_weights_json_naming_an_unknown_architecture(arch, fragment, tmp_path):
    from ganworks.metrics.extractors import WEIGHTS_DIR, get_extractor

    shutil.copy(WEIGHTS_DIR / "lenet-mnist.safetensors", tmp_path / "w.safetensors")
    info = json.loads((WEIGHTS_DIR / "lenet-mnist.json").read_text())
    (tmp_path / "w.json").write_text(json.dumps({**info, "arch": arch}))
    with pytest.raises(GanworksError, match="w.json") as e:
        get_extractor("lenet-mnist", weights=tmp_path / "w.safetensors")
    assert fragment in str(e.value)


# ------------------------------------------------------------------------------ a full disk
def _file_size_limit(limit: int):
    def apply():  # in the child: writes past ``limit`` bytes fail with EFBIG (SIGXFSZ would kill it instead)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.slow
def test_a_checkpoint_that_cannot_be_written_leaves_the_previous_one(tmp_path, capsys):
    """A real kernel refusal (EFBIG under RLIMIT_FSIZE) at the checkpoint's safetensors write: one
    line naming the checkpoint, no temporary directory left, the previous checkpoint still whole."""
    from ganworks.training.resume import latest_checkpoint, verify

    run = tmp_path / "run"
    assert cli(capsys, "train", *RING, "--kimg", "2", "--run-dir", str(run)).returncode == 0
    (before,) = list((run / "checkpoints").iterdir())
    # Every other file of this run is under 6 KiB; a checkpoint's state.safetensors is about 32 KiB.
    r = subprocess.run([sys.executable, "-m", "ganworks", "train", "--resume", str(run), "--kimg", "4"],
                       env={**__import__("os").environ, **ONE_THREAD}, capture_output=True, text=True,
                       preexec_fn=_file_size_limit(16 * 1024), timeout=120)
    # progress lines come first on stderr; the error is the last line, and alone
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ganworks: error: cannot write checkpoint " + str(run / "checkpoints")), last
    assert "File too large" in last and "previous checkpoint is kept" in last
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [before.name]
    assert verify(before) is None and latest_checkpoint(run)[0] == before


def test_a_safetensors_write_error_in_a_release_names_the_file(tmp_path, monkeypatch):
    """safetensors raises its own error type (not OSError) when the disk fills mid-write."""
    import safetensors.torch
    from safetensors import SafetensorError

    from ganworks.models import build_generator, make_model_config
    from ganworks.release import save_network

    def full(*a, **k):
        raise SafetensorError("Error while serializing: IoError(Os { code: 28, kind: StorageFull })")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    cfg = make_model_config("mlp", image_shape=(1, 4, 4), z_dim=3, g_hidden=(8,), d_hidden=(8,))
    with pytest.raises(GanworksError, match=r"cannot write .*generator\.safetensors: .*StorageFull"):
        save_network(tmp_path, "generator", build_generator("mlp", cfg), "mlp", cfg)
    assert list(tmp_path.iterdir()) == []  # no temporary file left


# -------------------------------------------------------------------------- messages (class 12)
def test_data_info_of_an_empty_folder_path(capsys):
    one_line_error(cli(capsys, "data", "info", "folder:"), "folder: needs a path", "folder:.")


@pytest.mark.parametrize("rows", [0, 1])
def test_evaluating_too_few_samples_names_the_file(rows, tmp_path, capsys):
    np.save(tmp_path / "one.npy", np.zeros((rows, 2), np.float32))
    one_line_error(cli(capsys, "evaluate", str(tmp_path / "one.npy"), "--data", "ring8", "--metrics", "mixture"),
                   str(tmp_path / "one.npy"), f"holds {rows} sample", "at least 2")


def test_nan_points_are_counted_as_points_and_name_the_file(tmp_path, capsys):
    pts = np.zeros((10, 2), np.float32)
    pts[3] = np.nan  # one point, two NaN values
    pts[7, 1] = np.inf
    np.save(tmp_path / "p.npy", pts)
    one_line_error(cli(capsys, "evaluate", str(tmp_path / "p.npy"), "--data", "ring8", "--metrics", "mixture"),
                   str(tmp_path / "p.npy"), "2 of 10 points", "rows 3, 7", "finite 2-D points")
