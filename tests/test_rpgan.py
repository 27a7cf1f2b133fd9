"""R3GAN's pieces: the relativistic pairing loss (``--objective rpgan``) against closed forms, the R2
penalty on generated data (``--r2-gamma``) on discriminators whose input gradient is known, its lazy
schedule, its validation, and a short ring8 run with R1 and R2 together."""

import json
import math

import pytest
import torch

from ganworks import TrainConfig, load_generator, sample, train
from ganworks.config import RECIPES
from ganworks.data.toy import ring8_modes
from ganworks.objectives import d_loss_ragan, get_objective
from ganworks.regularizers import r1_penalty, r2_penalty
from ganworks.training.schedule import Schedules
from ganworks.training.steps import DOptions, discriminator_step

from gwtest import cli, one_line_error, pair
from test_objective_family import close as _close, grads as _grads  # float64 loss + gradients

RP = get_objective("rpgan")
REAL, FAKE = [2.0, -1.0, 0.5], [-3.0, 0.25, 1.5]


def _neg_log_sigmoid(t: float) -> float:
    return -math.log(1.0 / (1.0 + math.exp(-t)))  # -log sigmoid(t), in plain floats


# ----------------------------------------------------------------------------- the pairing loss
def test_d_loss_matches_its_closed_form():
    # Pairs (2, -3), (-1, 0.25), (0.5, 1.5): differences C(x_r) - C(x_f) = 5, -1.25, -1.
    d, (gr, gf) = _grads(RP.d_loss, REAL, FAKE)
    assert d == pytest.approx((_neg_log_sigmoid(5.0) + _neg_log_sigmoid(-1.25) + _neg_log_sigmoid(-1.0)) / 3,
                              rel=1e-12)
    # d/dr_i -log sigmoid(r_i - f_i) / n = -sigmoid(f_i - r_i) / n, and the opposite for f_i.
    s = torch.sigmoid(torch.tensor(FAKE, dtype=torch.float64) - torch.tensor(REAL, dtype=torch.float64)) / 3
    _close(gr, -s), _close(gf, s)
    # Hand-computed numbers: equal logits give log 2; a pair 2 apart gives softplus(-2) = 0.126928...
    assert RP.d_loss(torch.zeros(4), torch.zeros(4)).item() == pytest.approx(math.log(2.0), rel=1e-6)
    assert RP.d_loss(torch.tensor([3.0]), torch.tensor([1.0])).item() == pytest.approx(0.1269280110, rel=1e-6)


def test_g_loss_matches_its_closed_form():
    g, (gf,) = _grads(lambda f: RP.g_loss(f, torch.tensor(REAL, dtype=torch.float64)), FAKE)
    assert g == pytest.approx((_neg_log_sigmoid(-5.0) + _neg_log_sigmoid(1.25) + _neg_log_sigmoid(1.0)) / 3,
                              rel=1e-12)
    # d/df_i -log sigmoid(f_i - r_i) / n = -sigmoid(r_i - f_i) / n: every fake is pushed up.
    s = torch.sigmoid(torch.tensor(REAL, dtype=torch.float64) - torch.tensor(FAKE, dtype=torch.float64)) / 3
    _close(gf, -s)
    # G's loss is D's with the roles swapped.
    a, b = torch.tensor(REAL), torch.tensor(FAKE)
    assert RP.g_loss(a, b).item() == RP.d_loss(a, b).item()


def test_both_losses_are_relativistic():
    """Only differences C(x_r) - C(x_f) matter: a constant added to every logit changes nothing."""
    real, fake = torch.tensor(REAL, dtype=torch.float64), torch.tensor(FAKE, dtype=torch.float64)
    for c in (-7.0, 0.3, 40.0):
        assert RP.d_loss(real + c, fake + c).item() == pytest.approx(RP.d_loss(real, fake).item(), rel=1e-12)
        assert RP.g_loss(fake + c, real + c).item() == pytest.approx(RP.g_loss(fake, real).item(), rel=1e-12)
    # An absolute shift of the fakes alone does change them (the test above can fail).
    assert RP.d_loss(real, fake + 1).item() > RP.d_loss(real, fake).item()


def test_pairs_not_averages():
    # RpGAN compares each real sample with its partner: pairs 2 apart give (softplus(-2) + softplus(2)) / 2,
    # re-paired (fakes reversed) every pair is equal and the loss is log 2.
    real, fake = torch.tensor([1.0, -1.0]), torch.tensor([-1.0, 1.0])
    assert RP.d_loss(real, fake).item() == pytest.approx((0.1269280110 + 2.1269280110) / 2, rel=1e-6)
    assert RP.d_loss(real, fake.flip(0)).item() == pytest.approx(math.log(2.0), rel=1e-6)
    # RaGAN compares with the other side's batch MEAN, so the pairing does not matter to it.
    assert d_loss_ragan(real, fake).item() == pytest.approx(d_loss_ragan(real, fake.flip(0)).item(), rel=1e-7)


def test_stable_for_extreme_logits():
    real, fake = torch.tensor([300.0, -300.0]), torch.tensor([-300.0, 300.0])
    assert RP.d_loss(real, fake).item() == pytest.approx(300.0)  # (softplus(-600) + softplus(600)) / 2
    assert RP.g_loss(fake, real).item() == pytest.approx(300.0)


def test_registry_entry_and_bad_calls():
    assert RP.g_needs_real and not RP.probabilistic
    assert dict(RP.defaults) == {"optimizer": "adam", "betas": (0.0, 0.99)}
    assert "Huang et al. 2024" in RP.citation and "Jolicoeur-Martineau" in RP.citation
    r = TrainConfig(objective="rpgan", model="dcgan").resolved()
    assert r.betas == (0.0, 0.99) and r.optimizer == "adam" and r.lr_g == r.lr_d == 2e-4 and r.d_steps == 1
    # no paper rate of its own: under the image recipe it trains at the recipe's rate, with its own betas
    cfg = TrainConfig(objective="rpgan")  # images, or images/cpu-without-bf16 on a CPU without bf16 units
    r = cfg.resolved()
    assert r.betas == (0.0, 0.99) and r.lr_g == r.lr_d == RECIPES[cfg.recipe]["lr"]
    with pytest.raises(ValueError, match="needs real_logits"):
        RP.g_loss(torch.zeros(3))
    with pytest.raises(ValueError, match=r"one to one; got logits of shapes \(3,\) and \(2,\)"):
        RP.d_loss(torch.zeros(3), torch.zeros(2))


# --------------------------------------------------------------------------------------- R2
def test_r2_of_a_linear_d_is_the_squared_weight_norm():
    w = torch.tensor([3.0, -4.0, 1.0, 2.0], requires_grad=True)  # ||w||^2 = 30
    D = lambda x: x.flatten(1) @ w + 0.5  # noqa: E731 -- grad_x D = w for every sample
    G_w = torch.tensor(2.0, requires_grad=True)
    fake = G_w * torch.randn(5, 1, 2, 2)  # a fake batch that is a function of "G"
    r2 = r2_penalty(D, fake)
    assert r2.item() == pytest.approx(30.0)
    r2.backward()
    _close(w.grad.double(), 2 * w.detach().double())  # d||w||^2/dw = 2w: D's parameters get the gradient
    assert G_w.grad is None  # the fakes are a constant: nothing reaches G


def test_r2_is_per_sample_on_the_fakes_it_is_given():
    # D(x) = ||x||^2 per sample: grad = 2x, so R2 = mean_i 4 ||x_i||^2 (||x_i||^2 = 5 and 25).
    fake = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert r2_penalty(lambda v: v.pow(2).sum(1), fake).item() == pytest.approx((4 * 5 + 4 * 25) / 2)
    # With labels, D(x, y) is called: here the label scales the sample's output.
    y = torch.tensor([1.0, 2.0])
    assert r2_penalty(lambda v, c: c * v.sum(1), fake, y).item() == pytest.approx((2 * 1 + 2 * 4) / 2)
    # Same function as R1, applied to whichever batch it is handed.
    assert r2_penalty(lambda v: v.pow(2).sum(1), fake).item() == r1_penalty(lambda v: v.pow(2).sum(1), fake).item()


def test_r2_enters_the_d_step_on_the_fakes():
    _, G, D = pair(seed=0)
    g = torch.Generator().manual_seed(1)
    real, z = torch.rand(8, 1, 4, 4, generator=g) * 2 - 1, torch.randn(8, 3, generator=g)

    def step(opt):
        torch.manual_seed(123)
        D.zero_grad(set_to_none=True)
        stats = discriminator_step(G, D, RP, real, z, torch.optim.SGD(D.parameters(), lr=0.0), opt=opt)
        return stats, [p.grad.clone() for p in D.parameters()]

    plain, g_plain = step(DOptions())
    pen, g_pen = step(DOptions(r2_weight=3.0))
    assert "R2" not in plain and "R1" not in pen
    with torch.no_grad():
        fakes = G(z, None)
    want = r2_penalty(D, fakes)  # lr 0: D is the D of the step
    assert pen["R2"] > 0
    torch.testing.assert_close(pen["R2"], want.detach())
    torch.testing.assert_close(pen["loss_D"], plain["loss_D"] + 3.0 * pen["R2"])
    assert any(not torch.allclose(a, b) for a, b in zip(g_plain, g_pen))
    # R1 and R2 together: each logged, both added.
    both, _ = step(DOptions(r1_weight=2.0, r2_weight=3.0))
    torch.testing.assert_close(both["R1"], r1_penalty(D, real).detach())
    torch.testing.assert_close(both["loss_D"], plain["loss_D"] + 2.0 * both["R1"] + 3.0 * both["R2"])


def test_r2_follows_the_lazy_r1_schedule():
    s = Schedules(total=1000, lr="constant", nan_lr_factor=0.5, noise=0.0, noise_end=1000.0, r1_gamma=0.0,
                  r1_interval=4, r2_gamma=1.0)
    assert [s.r2_weight(d) for d in (1, 2, 3, 4, 5, 8)] == [0.0, 0.0, 0.0, 2.0, 0.0, 2.0]  # gamma / 2 * 4
    assert [s.r1_weight(d) for d in (4, 8)] == [0.0, 0.0]  # R2 on its own: R1 stays off
    off = Schedules(total=1000, lr="constant", nan_lr_factor=0.5, noise=0.0, noise_end=1000.0, r1_gamma=1.0,
                    r1_interval=1)
    assert off.r2_gamma == 0.0 and [off.r2_weight(d) for d in (1, 2, 3)] == [0.0, 0.0, 0.0]
    cfg = TrainConfig(r1_gamma=0.5, r1_interval=2, r2_gamma=3.0)
    assert [Schedules.of(cfg, 1000).penalty_weights(d) for d in (1, 2)] == [(0.0, 0.0), (0.5, 3.0)]  # the loop's


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_bad_r2_gamma_is_a_one_line_error(tmp_path, capsys, value):
    r = cli(capsys, "train", "--data", "ring8", "--r2-gamma", value, "--run-dir", str(tmp_path / "run"))
    one_line_error(r, "--r2-gamma", "non-negative finite number", value)
    assert not (tmp_path / "run").exists()


def test_r2_gamma_in_help(capsys):
    r = cli(capsys, "train", "--help")
    assert r.returncode == 0 and "--r2-gamma" in r.stdout and "R3GAN" in r.stdout


# ---------------------------------------------------------------------------------- training
# About 2 s on one thread; lr 1e-3 so that 30 kimg (470 steps) are enough to reach the ring.
RING = dict(data="ring8", model="mlp", batch_size=64, tick_kimg=10.0, snapshot_kimg=0, progress=False, seed=3,
            lr_g=1e-3, lr_d=1e-3, model_options={"z_dim": 4, "g_hidden": [64, 64], "d_hidden": [64, 64],
                                                 "d_dropout": 0.0})


def _points(run):
    return sample(load_generator(run), 2000, seed=0).reshape(-1, 2)  # (N, 2)


def _off_circle(pts) -> float:
    """Mean distance from the unit circle on which ring8's modes lie."""
    return (pts.norm(dim=1) - 1).abs().mean().item()


@pytest.mark.slow
def test_r3gan_loss_trains_on_ring8_and_logs_r2(tmp_path):
    untrained = train(run_dir=str(tmp_path / "untrained"), **{**RING, "kimg": 0.064})
    run = train(run_dir=str(tmp_path / "r3"), objective="rpgan", r1_gamma=1.0, r2_gamma=1.0, r1_interval=4,
                kimg=30.0, **RING)
    ticks = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert len(ticks) == 3 and ticks[-1]["kimg"] == pytest.approx(30.016)
    for t in ticks:
        assert "nonfinite" not in t, t
        assert t["R1"] > 0 and t["R2"] > 0 and math.isfinite(t["R1"]) and math.isfinite(t["R2"]), t
        assert {"D_real", "D_fake"} <= set(t) and "D(x)" not in t  # not probabilistic: raw outputs
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["r2_gamma"] == 1.0 and cfg["resolved"]["betas"] == [0.0, 0.99]
    # It learned: the samples moved onto the ring (0.09-0.12 for seeds 0-3, untrained 0.9) and spread over
    # all eight modes (each the nearest mode of 8-16% of the samples for seeds 0-3; 12.5% is uniform).
    pts = _points(run)
    assert _off_circle(pts) < 0.25 * _off_circle(_points(untrained))
    share = torch.bincount(torch.cdist(pts, torch.tensor(ring8_modes(), dtype=pts.dtype)).argmin(1), minlength=8)
    assert (share >= 0.04 * len(pts)).all(), share.tolist()
    # Off (the default): no R2 in the log.
    plain = train(run_dir=str(tmp_path / "plain"), objective="rpgan", kimg=1.0, **RING)
    assert all("R2" not in json.loads(line) for line in (plain / "stats.jsonl").read_text().splitlines())
