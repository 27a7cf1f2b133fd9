"""The training loop: alternating updates with the other network frozen, run directories, weights."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganworks import GanworksError, Generator, TrainConfig, load_discriminator, load_generator, sample, train
from ganworks.cli import main
from ganworks.models import build_generator
from ganworks.objectives import get_objective
from ganworks.release import load_network
from ganworks.training.loop import discriminator_step, generator_step

from gwtest import TINY, assert_bitwise, grid_of, needs_mnist5k, pair, rewind_copy, stats


def _snapshot(m):
    return [p.detach().clone() for p in m.parameters()]


@pytest.mark.parametrize("objective", ["ns", "minimax"])
def test_d_step_leaves_generator_untouched(objective):
    cfg, G, D = pair()
    opt_d = torch.optim.Adam(D.parameters(), lr=0.1)
    g_before, d_before = _snapshot(G), _snapshot(D)
    discriminator_step(G, D, get_objective(objective), torch.rand(5, 1, 4, 4) * 2 - 1, torch.randn(5, 3), opt_d)
    assert all(p.grad is None for p in G.parameters()), "gradient flowed into the frozen generator"
    assert all(torch.equal(a, b) for a, b in zip(g_before, G.parameters()))
    assert all(p.grad is not None for p in D.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(d_before, D.parameters())), "D did not move"
    assert all(p.requires_grad for p in G.parameters()), "G must be unfrozen again after the D step"


@pytest.mark.parametrize("objective", ["ns", "minimax"])
def test_g_step_leaves_discriminator_untouched(objective):
    cfg, G, D = pair()
    opt_g = torch.optim.Adam(G.parameters(), lr=0.1)
    g_before, d_before = _snapshot(G), _snapshot(D)
    generator_step(G, D, get_objective(objective), torch.randn(5, 3), opt_g)
    assert all(p.grad is None for p in D.parameters()), "gradient flowed into the frozen discriminator"
    assert all(torch.equal(a, b) for a, b in zip(d_before, D.parameters()))
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(g_before, G.parameters())), "G did not move"
    assert all(p.requires_grad for p in D.parameters())


def test_g_step_follows_d_judgement():
    # With D fixed, the non-saturating step must raise D(G(z)) on the noise it was taken on.
    cfg, G, D = pair(seed=1)
    z = torch.randn(64, 3)
    opt_g = torch.optim.SGD(G.parameters(), lr=0.05)
    before = torch.sigmoid(D(G(z))).mean().item()
    for _ in range(20):
        generator_step(G, D, get_objective("ns"), z, opt_g)
    assert torch.sigmoid(D(G(z))).mean().item() > before + 0.01


@needs_mnist5k
def test_run_directory_contents(tiny_run):
    for name in ("config.json", "log.txt", "stats.jsonl", "generator.safetensors", "generator.json",
                 "discriminator.safetensors", "discriminator.json", "samples/reals.png", "samples/fakes000000.png",
                 "samples/fakes000001.png"):
        assert (tiny_run / name).is_file(), name
    cfg = json.loads((tiny_run / "config.json").read_text())
    assert cfg["train"]["data"] == "mnist-5k" and cfg["model"]["arch"] == "mlp"
    assert cfg["model"]["image_shape"] == [1, 28, 28] and cfg["data"]["images"] == 5000
    ticks = [json.loads(line) for line in (tiny_run / "stats.jsonl").read_text().splitlines()]
    assert len(ticks) == 2 and ticks[-1]["kimg"] >= 1.0
    for t in ticks:
        for key in ("loss_D", "loss_G", "D(x)", "D(G(z))", "D_acc", "img_per_s"):
            assert key in t
        assert 0.0 <= t["D(x)"] <= 1.0 and 0.0 <= t["D_acc"] <= 1.0


@needs_mnist5k
def test_save_load_gives_identical_samples(tiny_run):
    G = load_generator(tiny_run)
    a = sample(G, 20, seed=3)
    b = sample(load_generator(tiny_run / "generator.safetensors"), 20, seed=3)
    c = sample(Generator.from_pretrained(tiny_run), 20, seed=3)
    assert torch.equal(a, c)
    assert a.dtype == torch.uint8 and a.shape == (20, 1, 28, 28)
    assert torch.equal(a, b)
    assert not torch.equal(a, sample(G, 20, seed=4))
    # Batch size of sampling does not change the result.
    from ganworks.sampling import generate, latents
    z = latents(20, G.cfg.z_dim, 3)
    assert torch.equal(generate(G, z, batch_size=7), a)
    D = load_discriminator(tiny_run)
    assert D(torch.zeros(2, 1, 28, 28)).shape == (2,)


@needs_mnist5k
def test_training_is_reproducible(tmp_path):
    a = train(run_dir=str(tmp_path / "a"), **{**TINY, "kimg": 0.2})
    b = train(run_dir=str(tmp_path / "b"), **{**TINY, "kimg": 0.2})
    c = train(run_dir=str(tmp_path / "c"), **{**TINY, "kimg": 0.2, "seed": 1})
    ga, gb, gc = (load_generator(p).state_dict() for p in (a, b, c))
    assert all(torch.equal(ga[k], gb[k]) for k in ga)
    assert any(not torch.equal(ga[k], gc[k]) for k in ga)


@needs_mnist5k
def test_run_dir_is_never_overwritten(tmp_path):
    d = tmp_path / "taken"
    d.mkdir()
    (d / "precious.txt").write_text("keep me")
    with pytest.raises(GanworksError, match="already exists and is not empty"):
        train(run_dir=str(d), **TINY)
    assert (d / "precious.txt").read_text() == "keep me" and len(list(d.iterdir())) == 1


@needs_mnist5k
def test_numbered_run_dirs(tmp_path):
    a = train(runs_root=str(tmp_path), **{**TINY, "kimg": 0.1})
    b = train(runs_root=str(tmp_path), **{**TINY, "kimg": 0.1})
    assert a.name == "00001-mnist-5k-mlp-ns" and b.name == "00002-mnist-5k-mlp-ns"


@needs_mnist5k
def test_d_steps_count_real_images(tmp_path):
    run = train(run_dir=str(tmp_path / "k"), **{**TINY, "kimg": 0.64, "d_steps": 2, "tick_kimg": 10})
    last = json.loads((run / "stats.jsonl").read_text().splitlines()[-1])
    assert last["kimg"] == 0.64  # 10 iterations x 2 D steps x 32 images


@pytest.mark.parametrize("bad, match", [
    (dict(batch_size=0), "--batch-size must be a positive integer, got 0"),
    (dict(d_steps=-1), "--d-steps must be a positive integer, got -1"),
    (dict(kimg=float("nan")), "--kimg must be a positive finite number, got nan"),
    (dict(lr_g=0.0), "--lr-g must be a positive finite number"),
    (dict(beta1=1.0), r"--beta1 must be in \[0, 1\), got 1.0"),
    (dict(data="cifar-typo"), "unknown dataset 'cifar-typo'; valid: .*mnist-5k"),
    (dict(model="nope"), "unknown model 'nope'; valid: .*mlp"),
    (dict(device="tpu"), "unknown device 'tpu'; valid: auto, cpu, cuda"),
    (dict(model_options={"g_hidden": [0]}), "--g-hidden must be a comma-separated list of positive widths"),
    (dict(model="mlp", model_options={"depth": 3}), "model 'mlp' has no option 'depth'"),
    (dict(model_options={"depth": 3}), r"model 'dcgan' has no option 'depth'.*\(--model auto chose dcgan for mnist;"),
    (dict(model_options={"d_dropout": 1.5}), r"--d-dropout must be in \[0, 1\), got 1.5"),
    (dict(reuse_fakes=True, objective="wgan"),
     r"--reuse-fakes needs one D step per G step; --d-steps is 5 \(objective wgan's default\)"),
    (dict(reuse_fakes=True, d_steps=2), r"--reuse-fakes needs one D step per G step; --d-steps is 2: pass"),
    (dict(reuse_fakes=True, init_discriminator="r", freeze_discriminator=True),
     "--reuse-fakes shares G's forward pass.*no D step"),
])
def test_config_validation(bad, match):
    with pytest.raises(GanworksError, match=match):
        TrainConfig(**bad)


def test_config_round_trip():
    cfg = TrainConfig(data="mnist-5k", kimg=3, model_options={"g_hidden": [16, 32]})
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(GanworksError, match="unknown config key 'epochs'"):
        TrainConfig.from_dict({"epochs": 3})


def test_update_ema_is_a_half_life():
    from ganworks.training.loop import update_ema

    cfg, G, _ = pair()
    G_ema = build_generator("mlp", cfg)
    G_ema.load_state_dict(G.state_dict())
    start = [p.detach().clone() for p in G_ema.parameters()]
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
    # 10 steps of beta = 0.5 ** (1 / 10): the average moves half way towards G.
    for _ in range(10):
        update_ema(G_ema, G, 0.5 ** 0.1)
    for s, p_ema in zip(start, G_ema.parameters()):
        torch.testing.assert_close(p_ema, s + 0.5, rtol=0, atol=1e-5)


@needs_mnist5k
def test_ema_run_saves_average_for_sampling(tmp_path):
    run = train(run_dir=str(tmp_path / "ema"), **{**TINY, "kimg": 0.5, "ema_kimg": 0.1})
    assert json.loads((run / "generator.json").read_text())["ema"] is True
    ema, raw = load_generator(run), load_generator(run / "generator_raw.safetensors")
    assert any(not torch.equal(a, b) for a, b in zip(ema.parameters(), raw.parameters()))


@needs_mnist5k
def test_alarm_when_d_wins_and_saturating_gradient_vanishes(tmp_path):
    # G barely learns (lr 1e-7) while D learns fast: D's accuracy reaches 100% and the minimax
    # generator's gradient shrinks, while the non-saturating loss keeps a usable gradient.
    kw = dict(data="mnist-5k", kimg=3, batch_size=32, lr_g=1e-7, lr_d=2e-3, tick_kimg=1, snapshot_kimg=0,
              progress=False, model_options={"z_dim": 8, "g_hidden": [32], "d_hidden": [32], "d_dropout": 0.0})
    mm = [json.loads(x) for x in (train(run_dir=str(tmp_path / "mm"), objective="minimax", **kw)
                                  / "stats.jsonl").read_text().splitlines()]
    ns = [json.loads(x) for x in (train(run_dir=str(tmp_path / "ns"), objective="ns", **kw)
                                  / "stats.jsonl").read_text().splitlines()]
    assert mm[-1]["D_acc"] >= 0.99 and any("D wins" in a for a in mm[-1]["alarms"])
    assert "D wins" in (tmp_path / "mm" / "log.txt").read_text()
    assert mm[-1]["grad_G"] < 0.5 * mm[0]["grad_G"]  # vanishing as D gets better
    assert ns[-1]["grad_G"] > 10 * mm[-1]["grad_G"]  # the non-saturating loss does not saturate


def test_tick_alarms_rules():
    from ganworks.training.loop import tick_alarms

    assert tick_alarms({"D_acc": 0.7, "grad_G": 1.0}, True) == []
    assert "D wins" in tick_alarms({"D_acc": 0.995, "grad_G": 1e-4}, True)[0]
    assert tick_alarms({"D_acc": 1.0}, False) == []  # critics have no accuracy to read
    assert "non-finite" in tick_alarms({"loss_D": float("nan")}, False)[0]


@needs_mnist5k
def test_eval_during_training_tracks_best_and_flags_collapse(tmp_path):
    run = train(run_dir=str(tmp_path / "ev"), **{**TINY, "kimg": 1.0, "eval_every": 0.5, "eval_n": 300})
    evals = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["kimg"] for e in evals] == [0.512, 1.024]
    for e in evals:
        fd = e["metrics"]["fd"]
        assert fd["extractor"]["name"] == "lenet-mnist" and len(fd["extractor"]["weights_sha256"]) == 64
        assert fd["fake_count"] == 300 and fd["reference"]["dataset"] == "mnist-5k"
    best = json.loads((run / "best" / "best.json").read_text())
    fds = [e["metrics"]["fd"]["value"] for e in evals]
    assert best["metric"] == "fd" and best["value"] == min(fds)
    assert best["kimg"] == evals[fds.index(min(fds))]["kimg"]
    assert torch.equal(sample(load_generator(run / "best"), 4), sample(load_generator(run / "best"), 4))
    # best/ has the grid of the best G (the grids over time show the last), and the report shows it
    shown = np.asarray(Image.open(run / "best" / "fakes.png"), dtype=np.int16)
    z_dim = TINY["model_options"]["z_dim"]
    assert np.abs(shown - grid_of(load_network(run / "best", "generator"), z_dim, tmp_path / "b.png")).max() <= 1
    if best["kimg"] != evals[-1]["kimg"]:
        assert np.abs(shown - grid_of(load_network(run, "generator"), z_dim, tmp_path / "l.png")).max() > 1
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    assert f"<figcaption>best: {best['kimg']} kimg</figcaption>" in (tmp_path / "r.html").read_text()
    # The log raises a mode-collapse alarm exactly for the evaluations whose histogram collapsed
    # (a 1-kimg tiny generator makes a blur the classifier puts in one or two classes).
    log = (run / "log.txt").read_text()
    n_collapsed = sum(e["metrics"]["modes"]["collapsed"] for e in evals)
    assert log.count("mode collapse") == n_collapsed
    assert n_collapsed >= 1


# Evaluations at 256, 512, 768 and 1,024 images, a checkpoint at each.
EVALS = {**TINY, "kimg": 1.024, "eval_every": 0.256, "eval_n": 300, "checkpoint_kimg": 0.256, "keep_checkpoints": 100}


@needs_mnist5k
def test_a_run_continued_from_a_checkpoint_keeps_the_best_of_its_own_history(tmp_path):
    """best/ is resume state: a run continued from a checkpoint writes back the G it had kept by then, the best of
    the evaluations metrics.jsonl still holds, and forgets one kept later in the branch it left. Each copy of the
    run killed after a checkpoint is resumed to end there (--kimg N), so that nothing later is redone."""
    from safetensors.torch import load_file

    from ganworks.training.resume import take

    ref = train(run_dir=str(tmp_path / "ref"), **EVALS)
    evals = [json.loads(x) for x in (ref / "metrics.jsonl").read_text().splitlines()]
    assert [e["kimg"] for e in evals] == [0.256, 0.512, 0.768, 1.024]
    for nimg in (256, 512, 768):
        run = rewind_copy(ref, tmp_path / f"r{nimg}", nimg)
        train(resume=str(run), kimg=nimg / 1000)
        by_then = evals[:nimg // 256]
        assert [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()] == by_then
        fds = [e["metrics"]["fd"]["value"] for e in by_then]
        best = json.loads((run / "best" / "best.json").read_text())
        assert (best["kimg"], best["value"]) == (by_then[fds.index(min(fds))]["kimg"], min(fds))
        # its weights are G's at that evaluation, which its checkpoint holds; its grid is that G's
        then = load_file(str(ref / "checkpoints" / f"ckpt-{round(best['kimg'] * 1000):09d}" / "state.safetensors"))
        kept = load_file(str(run / "best" / "generator.safetensors"))
        assert kept.keys() == take(then, "G").keys() and all(torch.equal(kept[k], take(then, "G")[k]) for k in kept)
        shown = np.asarray(Image.open(run / "best" / "fakes.png"), dtype=np.int16)
        G = load_network(run / "best", "generator")
        assert np.abs(shown - grid_of(G, TINY["model_options"]["z_dim"], tmp_path / f"g{nimg}.png")).max() <= 1
        assert json.loads((run / "best" / "generator.json").read_text())["kimg"] == best["kimg"]


@needs_mnist5k
def test_a_checkpoint_that_did_not_record_the_kept_generators_leaves_them_alone(tmp_path):
    """Checkpoints of earlier versions say nothing of best/: resuming from one leaves the directory as it is."""
    from ganworks.training.resume import list_checkpoints, load_checkpoint, save_checkpoint

    ref = train(run_dir=str(tmp_path / "ref"), **{**EVALS, "kimg": 0.768})
    run = rewind_copy(ref, tmp_path / "r", 512)
    tensors, meta = load_checkpoint(list_checkpoints(run)[-1])
    assert "kept" in meta
    del meta["kept"]
    save_checkpoint(run, 512, {k: v for k, v in tensors.items() if not k.startswith("kept.")}, meta, keep=100)
    before = {p.name: p.read_bytes() for p in (run / "best").iterdir()}
    train(resume=str(run), kimg=0.512)
    assert {p.name: p.read_bytes() for p in (run / "best").iterdir()} == before


@needs_mnist5k
def test_eval_options_are_validated():
    with pytest.raises(GanworksError, match="--best-metric 'kid' is not among --eval-metrics"):
        TrainConfig(data="mnist-5k", eval_every=1, eval_metrics="fd,modes", best_metric="kid")
    with pytest.raises(GanworksError, match="unknown metric|valid"):
        TrainConfig(data="mnist-5k", eval_every=1, eval_metrics="fid-typo")
    with pytest.raises(GanworksError, match=r"--eval-n must be an integer in \[2, 1000000\], got 1"):
        TrainConfig(data="mnist-5k", eval_n=1)


def test_mixture_eval_alarm_rule():
    from ganworks.training.loop import _collapsed

    ok = {"metrics": {"mixture": {"modes_captured": 8, "num_modes": 8}}}
    bad = {"metrics": {"mixture": {"modes_captured": 3, "num_modes": 8}}}
    assert _collapsed(ok) is None and "3/8 modes" in _collapsed(bad)


def test_integer_betas_from_the_python_api_train():
    """TrainConfig(beta1=0) (an int) beside a float beta2: torch's Adam wants both floats."""
    from ganworks import TrainConfig, train

    cfg = TrainConfig(data="ring8", model="mlp", beta1=0, beta2=0.9, kimg=0.256, batch_size=64, progress=False,
                      model_options={"z_dim": 2, "g_hidden": [8], "d_hidden": [8], "d_dropout": 0.0})
    assert cfg.resolved().betas == (0.0, 0.9) and all(type(b) is float for b in cfg.resolved().betas)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        run = train(cfg, run_dir=f"{tmp}/run")
        assert (run / "generator.safetensors").exists()


@needs_mnist5k
@pytest.mark.parametrize("data", ["mnist-5k", "grid25"])
@pytest.mark.slow
def test_evaluating_during_training_does_not_change_the_run(tmp_path, data):
    """--eval-every loads G (and for images the LeNet extractor) mid-run; building those networks
    must not draw from the training RNG, or adding evaluations would change what the run learns."""
    opts = {**TINY, "data": data, "kimg": 1.0}
    if data == "grid25":
        opts["model_options"] = {"z_dim": 2, "g_hidden": [32], "d_hidden": [32], "d_dropout": 0.0}
    plain = train(run_dir=str(tmp_path / "plain"), **opts)
    evald = train(run_dir=str(tmp_path / "eval"), **{**opts, "eval_every": 0.25, "eval_n": 300})
    assert len((evald / "metrics.jsonl").read_text().splitlines()) == 4
    assert_bitwise(plain, evald)
    assert stats(plain) == stats(evald)
