"""Issue 18, classes 3, 4 and 7: sizes checked before allocation, 64-bit seeds, and named pipes.

Each bad request must end as one line naming the flag or file, exit 2, before anything big is
allocated or a blocking file is opened. The FIFO tests run a real process with a timeout: the bug
they guard against is a process that never returns.
"""

from __future__ import annotations

import pytest
from gwtest import cli, needs_mnist5k, one_line_error

SEED_MAX = 2**64 - 1


# ------------------------------------------------------------------------------------- seeds
@pytest.mark.parametrize("args", [
    ["interpolate", "{run}", "--out", "{t}/w.png"],
    ["lab", "vanishing-gradients", "--quick"],
    ["classifier", "train", "--data", "mnist-5k", "--out", "{t}"],
], ids=["interpolate", "lab", "classifier"])
def test_seed_beyond_64_bits_is_one_line(args, capsys, tmp_path):
    args = [a.format(run=tmp_path / "no-run", t=tmp_path) for a in args]
    r = cli(capsys, *args, "--seed", str(SEED_MAX + 1))
    one_line_error(r, "--seed", str(SEED_MAX + 1), str(SEED_MAX))
    assert list(tmp_path.iterdir()) == []


def test_seed_range_in_the_python_api():
    from ganworks.config import TrainConfig
    from ganworks.errors import GanworksError

    with pytest.raises(GanworksError, match=f"--seed must be an integer in \\[0, {SEED_MAX}\\]"):
        TrainConfig(data="ring8", seed=SEED_MAX + 1)
    assert TrainConfig(data="ring8", seed=SEED_MAX).seed == SEED_MAX


@needs_mnist5k
def test_largest_seed_samples(tiny_run, capsys, tmp_path):
    """2**64 - 1 is a valid seed end to end (the bound is torch's, not an arbitrary one)."""
    r = cli(capsys, "sample", str(tiny_run), "--n", "4", "--seed", str(SEED_MAX), "--npy", str(tmp_path / "s.npy"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "s.npy").stat().st_size > 4 * 28 * 28


# ------------------------------------------------------------------------------ named pipes
def _snapshot_with_fifo(run, tmp_path, name: str):
    import os
    import shutil

    snap = tmp_path / "snap"
    snap.mkdir()
    for f in ("generator.safetensors", "generator.json"):
        if f != name:
            shutil.copy(run / f, snap / f)
    os.mkfifo(snap / name)
    return snap


@pytest.mark.slow
@needs_mnist5k
def test_fifo_generator_json_does_not_block_sample(tiny_run, tmp_path):
    """The issue's case, in a real process: before the fix it never returned (the timeout fails it)."""
    from gwtest import run_cli

    snap = _snapshot_with_fifo(tiny_run, tmp_path, "generator.json")
    r = run_cli("sample", str(snap), "--out", str(tmp_path / "s.png"), timeout=60)
    one_line_error(r, "generator.json", "named pipe", "regular file")
    assert not (tmp_path / "s.png").exists()


class _Unblock:
    """In-process FIFO checks that cannot hang the suite: if the code under test opens the FIFO after
    all, a writer process opens it after a few seconds, so the reader gets EOF and the test fails
    instead. (A process, not a thread: safetensors blocks in open() holding the GIL.)"""

    def __init__(self, fifo):
        self.fifo = fifo

    def __enter__(self):
        import subprocess

        script = 'sleep 5; while :; do : > "$0"; sleep 0.2; done'
        self.writer = subprocess.Popen(["sh", "-c", script, str(self.fifo)])
        return self

    def __exit__(self, *exc):
        self.writer.kill()
        self.writer.wait()


@needs_mnist5k
@pytest.mark.parametrize("name", ["generator.safetensors", "generator.json"])
def test_fifo_in_a_snapshot_is_one_line(name, tiny_run, tmp_path, capsys):
    snap = _snapshot_with_fifo(tiny_run, tmp_path, name)
    with _Unblock(snap / name):
        r = cli(capsys, "sample", str(snap), "--out", str(tmp_path / "s.png"))
    one_line_error(r, name, "named pipe")


def test_fifo_npy_is_one_line(tmp_path, capsys):
    import os

    import numpy as np

    os.mkfifo(tmp_path / "x.npy")
    np.save(tmp_path / "ref.npy", np.zeros((4, 28, 28), np.uint8))
    for args in (["evaluate", str(tmp_path / "x.npy")], ["evaluate", str(tmp_path / "ref.npy"), "--reference",
                                                          str(tmp_path / "x.npy")]):
        with _Unblock(tmp_path / "x.npy"):
            r = cli(capsys, *args, "--data", "mnist-5k", "--metrics", "fd")
        one_line_error(r, "x.npy", "named pipe")


# ------------------------------------------------------------------------------------- sizes
@pytest.mark.parametrize("arch", ["mlp", "dcgan", "resnet", "r3"])
def test_parameter_count_is_exact_without_building(arch):
    from ganworks.models import build_discriminator, build_generator, make_model_config, parameter_count

    cfg = make_model_config(arch, num_classes=3, image_shape=(1, 28, 28))
    real = sum(p.numel() for net in (build_generator(arch, cfg), build_discriminator(arch, cfg)) for p in net.parameters())
    assert parameter_count(arch, cfg) == real


@needs_mnist5k
@pytest.mark.parametrize("args, named", [
    (["sample", "{run}", "--nrow", "1000000000", "--out", "{t}/s.png"], "--nrow 1000000000"),
    (["interpolate", "{run}", "--steps", "100000", "--rows", "100000", "--out", "{t}/w.png"], "--steps 100000"),
    (["interpolate", "{run}", "--steps", "1000", "--rows", "1000", "--scale", "50", "--out", "{t}/w.gif"], "--scale 50"),
    (["train", "--data", "ring8", "--g-hidden", "1000000000", "--run-dir", "{t}/r"], "--g-hidden"),
    (["train", "--data", "ring8", "--model", "mlp", "--d-hidden", "100000,100000,100000", "--run-dir", "{t}/r"],
     "--d-hidden"),
], ids=["sample-nrow", "interpolate-png", "interpolate-gif", "g-hidden", "d-hidden"])
def test_too_big_is_refused_before_allocating(args, named, tiny_run, tmp_path, capsys):
    r = cli(capsys, *[a.format(run=tiny_run, t=tmp_path) for a in args])
    one_line_error(r, named, "GiB", "available")
    assert list(tmp_path.iterdir()) == []


def test_resolution_bound(tmp_path, capsys):
    r = cli(capsys, "train", "--data", f"folder:{tmp_path}", "--resolution", "100000", "--run-dir", str(tmp_path / "r"))
    one_line_error(r, "--resolution", "100000", "1024")


# ------------------------------------------------------------------ --npy / --dir streamed to disk
@needs_mnist5k
@pytest.mark.parametrize("out", ["--npy", "--dir"])
def test_a_request_larger_than_the_disk_is_one_line(out, tiny_run, tmp_path, capsys):
    """--npy / --dir are written a chunk at a time: --n is bounded by the disk, checked before drawing."""
    r = cli(capsys, "sample", str(tiny_run), "--n", "1000000000000", out, str(tmp_path / "s.npy"))
    one_line_error(r, "--n 1000000000000", "GiB", "on the disk of", "free")
    assert list(tmp_path.iterdir()) == []


@needs_mnist5k
def test_streamed_npy_and_dir_equal_the_samples_in_one_piece(tiny_run, tmp_path, capsys, monkeypatch):
    import numpy as np
    from PIL import Image

    import ganworks.sampling as sampling
    from ganworks import load_generator

    monkeypatch.setattr(sampling, "CHUNK_ROWS", 48)  # several chunks and a short last one
    n = 203
    r = cli(capsys, "sample", str(tiny_run), "--n", str(n), "--seed", "3", "--npy", str(tmp_path / "s.npy"),
            "--dir", str(tmp_path / "d"))
    assert r.returncode == 0, r.stderr
    whole = sampling.sample(load_generator(tiny_run), n, seed=3).numpy()[:, 0]  # (N, H, W): one channel
    assert np.array_equal(np.load(tmp_path / "s.npy"), whole)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [f"{i:06d}.png" for i in range(n)]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "d" / "000202.png")), whole[202])


@pytest.mark.parametrize("z_dim, n, rows", [(3, 4097, 4096), (1, 33, 16), (5, 100, 32), (128, 10, 16)])
def test_latent_chunks_equal_one_draw(z_dim, n, rows):
    import torch

    from ganworks.sampling import latent_chunks, latents

    assert torch.equal(torch.cat(list(latent_chunks(n, z_dim, 11, rows))), latents(n, z_dim, 11))


@pytest.mark.parametrize("labels", [None, 2])
def test_sample_chunks_of_a_conditional_generator_equal_sample(labels):
    import torch

    from ganworks.models import build_generator, make_model_config
    from ganworks.sampling import sample, sample_chunks

    torch.manual_seed(0)
    G = build_generator("mlp", make_model_config("mlp", image_shape=(1, 4, 4), z_dim=4, g_hidden=(8,),
                                                 d_hidden=(8,), num_classes=3))
    pieces = torch.cat(list(sample_chunks(G, 70, seed=5, labels=labels, rows=16)))
    assert torch.equal(pieces, sample(G, 70, seed=5, labels=labels))


@needs_mnist5k
@pytest.mark.parametrize("name", ["manifest.json", "state.json"])
def test_fifo_in_a_checkpoint_is_skipped_not_read(name, tiny_run, tmp_path, capsys):
    """A FIFO in place of a checkpoint file: resume skips that checkpoint (with its reason) instead of blocking."""
    import os

    from gwtest import rewind_copy

    from ganworks.training.resume import latest_checkpoint

    run = rewind_copy(tiny_run, tmp_path / "run", 512)
    ckpt = run / "checkpoints" / "ckpt-000000512"
    (ckpt / name).unlink()
    os.mkfifo(ckpt / name)
    with _Unblock(ckpt / name):
        found, skipped = latest_checkpoint(run)
    assert found != ckpt and any(f"{name} is not a regular file" in why for why in skipped), skipped


def test_fifo_json_through_the_schema_reader(tmp_path):
    import os

    from ganworks.errors import GanworksError
    from ganworks.schema import load_json

    os.mkfifo(tmp_path / "x.json")
    with _Unblock(tmp_path / "x.json"), pytest.raises(GanworksError, match="named pipe"):
        load_json(tmp_path / "x.json", dict)


def test_an_npy_larger_than_memory_without_n_is_one_line(tmp_path, capsys, monkeypatch):
    """A real .npy is memory-mapped; reading all of it (no --n) is checked against the memory available."""
    import numpy as np

    import ganworks.files as files

    np.save(tmp_path / "s.npy", np.zeros((50, 28, 28), np.uint8))
    monkeypatch.setattr(files, "available_memory", lambda: 10_000)  # less than the file's 39,200 bytes
    r = cli(capsys, "evaluate", str(tmp_path / "s.npy"), "--data", "mnist-5k", "--metrics", "fd")
    one_line_error(r, "s.npy", "50 samples", "--n")
    from ganworks.metrics.evaluate import _fit_count, _load_npy

    assert _fit_count(_load_npy(tmp_path / "s.npy"), 10, "samples file").shape == (10, 28, 28)  # 7,840 bytes fit


def test_evaluate_n_1_is_one_line(tmp_path, capsys):
    import numpy as np

    np.save(tmp_path / "s.npy", np.zeros((20, 28, 28), np.uint8))
    one_line_error(cli(capsys, "evaluate", str(tmp_path / "s.npy"), "--data", "mnist-5k", "--n", "1"), "--n", "at least 2")
    from ganworks.errors import GanworksError
    from ganworks.metrics.evaluate import evaluate

    with pytest.raises(GanworksError, match=r"--n must be at least 2, got 1"):
        evaluate(tmp_path / "s.npy", data="mnist-5k", metrics="fd", n=1)  # the Python API too
