"""The loop's speed levers compute what the plain code computed: the fused gradient norm, the per-step
non-finite check on the loss and gradient norm (weights scanned every WEIGHT_SCAN_EVERY iterations), and
bf16 autocast within its rounding. (The golden runs of tests/test_golden.py pin the weights bit for bit.)"""

from __future__ import annotations

import contextlib
import math

import pytest
import torch

from ganworks.models import build_discriminator, build_generator, make_model_config
from ganworks.objectives import get_objective
from ganworks.training.guard import WEIGHT_SCAN_EVERY, Guard, nonfinite, nonfinite_weights
from ganworks.training.steps import _grad_norm, discriminator_step, generator_step


def pair(arch="dcgan", **opts):
    torch.manual_seed(0)
    cfg = make_model_config(arch, image_shape=(1, 28, 28), **opts)
    return build_generator(arch, cfg), build_discriminator(arch, cfg)


def test_fused_gradient_norm_equals_the_per_tensor_formula():
    G, D = pair(g_channels=8, d_channels=8)
    D(G(torch.randn(16, 100))).mean().backward()
    for net in (G, D):
        plain = torch.linalg.vector_norm(torch.stack([p.grad.float().norm() for p in net.parameters()]))
        assert torch.allclose(_grad_norm(net), plain, rtol=1e-6, atol=0)
    assert _grad_norm(torch.nn.Linear(2, 2)).item() == 0.0  # no gradients yet


def test_nonfinite_names_the_loss_then_the_gradients():
    one, nan, inf = torch.tensor(1.0), torch.tensor(float("nan")), torch.tensor(float("inf"))
    assert nonfinite("generator", one, one) is None
    assert "non-finite loss_G (nan) in the generator step" == nonfinite("generator", nan, one)
    assert "non-finite loss_D (inf)" in nonfinite("discriminator", inf, nan)  # the loss first
    assert nonfinite("discriminator", one, inf) == "non-finite gradients (inf) in the discriminator step"
    assert nonfinite("generator", None, None) is None


def test_weights_are_scanned_every_few_iterations():
    G, D = pair(g_channels=8, d_channels=8)
    assert nonfinite_weights({"generator": G, "discriminator": D}) is None
    with torch.no_grad():
        next(D.parameters())[0].view(-1)[0] = float("nan")
    assert nonfinite_weights({"generator": G, "discriminator": D}) == \
        "non-finite weights in the discriminator after its step"

    class State:
        pass

    state = State()
    state.G, state.D, state.device = G, D, torch.device("cpu")
    guard = Guard.__new__(Guard)  # only the scan is exercised: no run directory, no rollback
    guard.state, guard.iterations = state, 0
    seen = []
    guard.diverged = seen.append
    guard.tracker = type("T", (), {"dist": type("Dist", (), {"active": False})()})()
    results = [guard.tripped(None) for _ in range(WEIGHT_SCAN_EVERY)]
    assert results == [False] * (WEIGHT_SCAN_EVERY - 1) + [True]
    assert seen == ["non-finite weights in the discriminator after its step"]


def _steps(precision: str, n: int = 3):
    G, D = pair(g_channels=8, d_channels=8)
    obj = get_objective("ns")
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")  # noqa: E731
    g = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(n):
        real = torch.rand(16, 1, 28, 28, generator=g) * 2 - 1
        s = discriminator_step(G, D, obj, real, torch.randn(16, 100, generator=g), opt_d, autocast)
        s.update(generator_step(G, D, obj, torch.randn(16, 100, generator=g), opt_g, autocast))
        losses.append((s["loss_D"].item(), s["loss_G"].item()))
    return losses, [p.detach().clone() for p in G.parameters()]


def test_bf16_steps_follow_fp32_within_bf16_rounding():
    (l32, w32), (l16, w16) = _steps("fp32"), _steps("bf16")
    assert all(math.isfinite(x) for pair_ in l16 for x in pair_)
    for a, b in zip(l32, l16):
        assert a == pytest.approx(b, rel=0.05)  # bf16 keeps 8 bits of mantissa: about 0.4% per rounding
    for a, b in zip(w32, w16):  # three Adam steps of size <= lr move each weight by at most ~6e-4
        assert torch.allclose(a, b, atol=2e-3)


def _train_dcgan_pair(make) -> list[torch.Tensor]:
    """Four steps of a small DCGAN pair with the optimizers ``make(module)`` builds; the weights after."""
    G, D = pair(g_channels=8, d_channels=8, d_batchnorm=True)
    opt_g, opt_d = make(G), make(D)
    gen = torch.Generator().manual_seed(1)
    for _ in range(4):
        real = torch.rand(16, 1, 28, 28, generator=gen) * 2 - 1
        fake = G(torch.randn(16, 100, generator=gen))
        loss_d = torch.nn.functional.softplus(-D(real)).mean() + torch.nn.functional.softplus(D(fake.detach())).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        torch.nn.functional.softplus(-D(fake)).mean().backward()
        opt_g.step()
    return [t.detach().clone() for t in (*G.parameters(), *D.parameters())]


def test_fused_adam_takes_the_plain_loops_steps_within_float32_rounding():
    """The loop's Adam runs torch's fused kernel (one pass per tensor); a few steps of a DCGAN pair equal
    the per-parameter loop that torch uses by default on the CPU, to float32 rounding, and differ from
    another optimizer's."""
    from ganworks.training.loop import make_optimizer

    assert make_optimizer("adam", torch.nn.Linear(1, 1).parameters(), 2e-4, (0.5, 0.999)).defaults["fused"] is True
    fast = _train_dcgan_pair(lambda m: make_optimizer("adam", m.parameters(), 2e-4, (0.5, 0.999)))
    slow = _train_dcgan_pair(lambda m: torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999), foreach=False))
    start = _train_dcgan_pair(lambda m: torch.optim.SGD(m.parameters(), lr=0.0))  # the initial weights
    for a, b, w0 in zip(fast, slow, start):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
        assert torch.allclose(a - w0, b - w0, rtol=1e-3, atol=1e-7)  # the updates themselves, not only the weights
    assert any(not torch.equal(a, w0) for a, w0 in zip(fast, start))


def test_foreach_rmsprop_takes_the_plain_loops_steps_bit_for_bit():
    """RMSprop has no fused kernel: the loop's RMSprop runs its multi-tensor (foreach) kernels, bitwise the same as
    the per-parameter loop."""
    from ganworks.training.loop import make_optimizer

    assert make_optimizer("rmsprop", torch.nn.Linear(1, 1).parameters(), 2e-4, (0.5, 0.999)).defaults["foreach"] is True
    fast = _train_dcgan_pair(lambda m: make_optimizer("rmsprop", m.parameters(), 2e-4, (0.5, 0.999)))
    slow = _train_dcgan_pair(lambda m: torch.optim.RMSprop(m.parameters(), lr=2e-4, foreach=False))
    assert all(torch.equal(a, b) for a, b in zip(fast, slow))
    other = _train_dcgan_pair(lambda m: torch.optim.SGD(m.parameters(), lr=0.1))
    assert not all(torch.equal(a, b) for a, b in zip(fast, other))


def test_channels_last_under_bf16_for_convolutional_nets_only_with_the_same_values(tmp_path):
    from ganworks.release import load_generator
    from ganworks.training.loop import use_channels_last

    def convs(net):
        return [m.weight for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]

    G, D = pair(g_channels=8, d_channels=8)
    plain_G, plain_D = pair(g_channels=8, d_channels=8)
    assert use_channels_last(G, "fp32") is G and all(w.is_contiguous() for w in convs(G))  # fp32: as it was
    for net in (use_channels_last(G, "bf16"), use_channels_last(D, "bf16")):
        assert all(w.is_contiguous(memory_format=torch.channels_last) for w in convs(net))
        assert any(not w.is_contiguous() for w in convs(net))  # (a weight with one channel is both layouts)
    mlp_G, _ = pair("mlp", g_hidden=(16,), d_hidden=(16,))
    assert all(p.is_contiguous() for p in use_channels_last(mlp_G, "bf16").parameters())
    for a, b in ((G, plain_G), (D, plain_D)):  # the same weights, another layout
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    # One bf16 forward/backward in both layouts: equal within bf16 rounding.
    z = torch.randn(16, 100, generator=torch.Generator().manual_seed(0))
    outs = []
    for g, d in ((G, D), (plain_G, plain_D)):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = d(g(z)).float()
        out.mean().backward()
        outs.append((out.detach(), convs(g)[0].grad.clone()))
    assert torch.allclose(outs[0][0], outs[1][0], rtol=0.05, atol=0.05)
    # The gradient in norm: bf16 rounds each layout's sums differently, elementwise the small entries differ by
    # more than 10%. Measured ||a - b|| / ||b||: 0.08 on a CPU without bf16 units (emulated: AMD EPYC, AVX2);
    # a layout error (the same entries shuffled) gives 1.4.
    rel = ((outs[0][1] - outs[1][1]).norm() / outs[1][1].norm()).item()
    assert rel < 0.25, rel
    # A bf16 run writes its generator in the plain layout, which loads back to the same samples.
    import ganworks

    run = ganworks.train(data="mnist-5k", model="dcgan", model_options={"g_channels": 8, "d_channels": 8},
                         kimg=0.064, batch_size=32, precision="bf16", tick_kimg=0.064, snapshot_kimg=0,
                         progress=False, run_dir=str(tmp_path / "r"))
    loaded = load_generator(run)
    assert all(w.is_contiguous() for w in convs(loaded))


def _game(reuse: bool, **opts):
    from ganworks.training.game import Game
    from ganworks.training.steps import DInput, DOptions

    G, D = pair(g_channels=8, d_channels=8, **opts)
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    return Game(G, D, get_objective("ns"), opt_g, opt_d, contextlib.nullcontext, DOptions(), DInput(),
                reuse_fakes=reuse)


class _Feed:
    """Real batches and noise from a fixed stream; records every noise draw."""

    def __init__(self):
        self.g, self.drawn = torch.Generator().manual_seed(1), []

    def real(self):
        return torch.rand(16, 1, 28, 28, generator=self.g) * 2 - 1, None

    def noise(self):
        self.drawn.append(torch.randn(16, 100, generator=self.g))
        return self.drawn[-1]

    def classes(self):
        return None


class _Counts:
    d_step_count = 0


class _NoPenalty:
    def penalty_weights(self, step):
        return 0.0, 0.0


@pytest.mark.parametrize("opts", [{}, {"g_extra": 1, "sn": True}])
def test_reuse_fakes_takes_the_steps_of_g_on_the_d_steps_noise_with_one_forward_of_g(opts):
    """--reuse-fakes: G's step trains on the noise D's step used, and G runs forward once per iteration
    instead of twice; the weights after a few iterations equal those of the two-forward steps on that same
    noise, bit for bit (fp32; G has BatchNorm, in training mode in both forwards)."""
    fast, feed = _game(True, **opts), _Feed()
    calls = []
    fast.G.register_forward_hook(lambda *a: calls.append(1))
    for _ in range(3):
        stats, problem = fast.play(feed, _NoPenalty(), _Counts())
        assert problem is None and set(stats) >= {"loss_D", "loss_G", "grad_D", "grad_G"}
    assert len(calls) == 3 and len(feed.drawn) == 3  # one forward of G, one noise draw per iteration

    slow, g = _game(False, **opts), torch.Generator().manual_seed(1)
    for _ in range(3):
        real = torch.rand(16, 1, 28, 28, generator=g) * 2 - 1
        z = torch.randn(16, 100, generator=g)
        discriminator_step(slow.G, slow.D, slow.objective, real, z, slow.opt_d)
        generator_step(slow.G, slow.D, slow.objective, z, slow.opt_g)
    for a, b in ((fast.G, slow.G), (fast.D, slow.D)):
        assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    # and it is a real change from the default iteration, which draws fresh noise for G
    plain, feed2 = _game(False, **opts), _Feed()
    for _ in range(3):
        plain.play(feed2, _NoPenalty(), _Counts())
    assert len(feed2.drawn) == 6
    assert not all(torch.equal(x, y) for x, y in zip(plain.G.parameters(), fast.G.parameters()))
