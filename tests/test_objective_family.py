"""WGAN, hinge, LSGAN, RaGAN and the f-GAN family against hand-computed values, closed-form
gradients and, for every f-divergence, the true divergence of two discrete distributions."""

import math

import pytest
import torch

from ganworks.errors import GanworksError
from ganworks.objectives import F_DIVERGENCES, d_loss_gan, g_loss_ns, get_objective, list_objectives

LOG2 = math.log(2.0)
sig = torch.sigmoid


def grads(loss_fn, *xs):
    xs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    loss = loss_fn(*xs)
    return loss.item(), torch.autograd.grad(loss, xs)


def close(got, want):
    torch.testing.assert_close(got, torch.as_tensor(want, dtype=got.dtype), rtol=1e-9, atol=1e-12)


def test_registry_names_fields_and_defaults():
    assert set(list_objectives()) == {"minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan", "ragan", "rpgan", "f:kl",
                                      "f:reverse-kl", "f:pearson", "f:hellinger", "f:js", "f:gan"}
    with pytest.raises(GanworksError, match="unknown objective 'f:chi'; valid: f:gan, .*ragan.*wgan-gp$"):
        get_objective("f:chi")
    objs = [get_objective(n) for n in list_objectives()]
    assert all(o.citation and o.description for o in objs)
    assert all(set(o.defaults) <= {"optimizer", "lr", "betas", "d_steps", "clip", "gp_weight"} for o in objs)
    assert dict(get_objective("wgan").defaults) == {"optimizer": "rmsprop", "lr": 5e-5, "d_steps": 5, "clip": 0.01}
    assert dict(get_objective("wgan-gp").defaults) == {"optimizer": "adam", "lr": 1e-4, "betas": (0.0, 0.9),
                                                       "d_steps": 5, "gp_weight": 10.0}
    with pytest.raises(TypeError):
        get_objective("wgan").defaults["lr"] = 1.0  # shared registry entries are read-only
    assert {o.name for o in objs if o.probabilistic} == {"minimax", "ns", "f:js", "f:gan"}
    assert {o.name for o in objs if o.g_needs_real} == {"ragan", "rpgan"}


def test_every_g_loss_takes_real_logits():
    fake, real = torch.tensor([0.3, -0.7]), torch.tensor([1.1, 0.2])  # rpgan pairs them one to one
    for name in list_objectives():
        o = get_objective(name)
        if o.g_needs_real:
            with pytest.raises(ValueError, match="real_logits"):
                o.g_loss(fake)
        else:  # the real batch is accepted and ignored
            assert o.g_loss(fake, real).item() == o.g_loss(fake).item()
        assert torch.isfinite(o.g_loss(fake, real_logits=real))


def test_wgan():
    o = get_objective("wgan")
    # d = mean(fake) - mean(real) = -0.5 - 3; each real logit gets -1/n, each fake +1/m.
    d, (gr, gf) = grads(o.d_loss, [1.0, 2.0, 6.0], [-1.0, 0.0])
    assert d == pytest.approx(-3.5)
    close(gr, [-1 / 3] * 3), close(gf, [0.5, 0.5])
    g, (gg,) = grads(o.g_loss, [-1.0, 0.0])
    assert g == pytest.approx(0.5)
    close(gg, [-0.5, -0.5])
    # WGAN-GP has the same losses (the penalty lives in ganworks.regularizers).
    gp = get_objective("wgan-gp")
    assert (gp.d_loss, gp.g_loss) == (o.d_loss, o.g_loss)


def test_hinge():
    o = get_objective("hinge")
    # relu(1 - [2, .5, -1]) = [0, .5, 2]; relu(1 + [-3, 0, .5]) = [0, 1, 1.5]: 2.5/3 + 2.5/3.
    d, (gr, gf) = grads(o.d_loss, [2.0, 0.5, -1.0], [-3.0, 0.0, 0.5])
    assert d == pytest.approx(5 / 3)
    close(gr, [0.0, -1 / 3, -1 / 3])  # no gradient from real logits beyond the margin (>= 1)
    close(gf, [0.0, 1 / 3, 1 / 3])  # nor from fakes below -1
    g, (gg,) = grads(o.g_loss, [-3.0, 0.0, 0.5])
    assert g == pytest.approx(2.5 / 3)
    close(gg, [-1 / 3] * 3)


def test_lsgan():
    o = get_objective("lsgan")
    # 1/2 mean((real - 1)^2) = 1/2 mean(0, 4) = 1; 1/2 mean(fake^2) = 1/2 mean(0, 4) = 1.
    d, (gr, gf) = grads(o.d_loss, [1.0, 3.0], [0.0, 2.0])
    assert d == pytest.approx(2.0)
    close(gr, [0.0, 1.0]), close(gf, [0.0, 1.0])  # (real - 1) / n, fake / m
    g, (gg,) = grads(o.g_loss, [0.0, 2.0])
    assert g == pytest.approx(0.5)  # 1/2 mean(1, 1)
    close(gg, [-0.5, 0.5])  # (fake - 1) / m


def test_ragan_values():
    o = get_objective("ragan")
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])  # mean real 2, mean fake -1
    # D: softplus(-(r - (-1))) over r = 1, 3 -> sp(-2), sp(-4); softplus(f - 2) over f = 0, -2 -> sp(-2), sp(-4).
    sp2, sp4 = math.log1p(math.exp(-2)), math.log1p(math.exp(-4))
    assert o.d_loss(real, fake).item() == pytest.approx(sp2 + sp4, rel=1e-6)
    assert o.d_loss(real, fake).item() == pytest.approx(0.1450779379, rel=1e-6)
    # G: softplus(-(f - 2)) -> sp(2), sp(4); softplus(r - (-1)) -> sp(2), sp(4); sp(x) = x + sp(-x).
    assert o.g_loss(fake, real).item() == pytest.approx(6 + sp2 + sp4, rel=1e-6)


def test_ragan_gradients():
    # With n real, m fake logits, rbar/fbar their means:
    # dD/dr_k = -(1/n) [sig(fbar - r_k) + mean_j sig(f_j - rbar)]
    # dD/df_k = (1/m) [mean_i sig(fbar - r_i) + sig(f_k - rbar)]
    r = torch.tensor([0.4, -1.3, 2.2], dtype=torch.float64)
    f = torch.tensor([-0.5, 1.7], dtype=torch.float64)
    n, m, rbar, fbar = 3, 2, r.mean(), f.mean()
    o = get_objective("ragan")
    _, (gr, gf) = grads(o.d_loss, r.tolist(), f.tolist())
    close(gr, -(sig(fbar - r) + sig(f - rbar).mean()) / n)
    close(gf, (sig(fbar - r).mean() + sig(f - rbar)) / m)
    # G's loss is D's with real and fake swapped; G's gradient flows to every fake logit through
    # both terms: dG/df_k = -(1/m) [sig(rbar - f_k) + mean_i sig(r_i - fbar)].
    _, (gg, gr_g) = grads(lambda ff, rr: o.g_loss(ff, rr), f.tolist(), r.tolist())
    close(gg, -(sig(rbar - f) + sig(r - fbar).mean()) / m)
    assert (gr_g.abs() > 0).all()  # depends on D(real) too (constant for G in practice)


# --- f-GAN --------------------------------------------------------------------------------------

# (g_f'(v), (f* o g_f)'(v)): derivatives by hand of the output activation and of the conjugate term.
DERIVATIVES = {
    "kl": (lambda v: torch.ones_like(v), lambda v: torch.exp(v - 1)),
    "reverse-kl": (lambda v: torch.exp(-v), lambda v: torch.ones_like(v)),
    "pearson": (lambda v: torch.ones_like(v), lambda v: v / 2 + 1),
    "hellinger": (lambda v: torch.exp(-v), lambda v: torch.exp(v)),
    "js": (lambda v: sig(-v), lambda v: sig(v)),
    "gan": (lambda v: sig(-v), lambda v: sig(v)),
}
# Hand-computed (real logits, fake logits, d_loss, g_loss).
HAND = {
    "kl": ([1.0, 3.0], [1.0], -2 + 1, -1.0),  # -mean(v) + exp(1 - 1)
    "reverse-kl": ([LOG2], [2.0], 0.5 + 1, math.exp(-2)),  # -(-e^-log2) + (2 - 1); -(-e^-2)
    "pearson": ([1.0, 2.0], [2.0], -1.5 + 3, -2.0),  # -mean(v) + (4/4 + 2)
    "hellinger": ([0.0], [math.log(3)], 0 + 2, -2 / 3),  # -(1 - e^0) + (3 - 1); -(1 - 1/3)
    "js": ([0.0], [0.0], 0.0, 0.0),  # D = 1/2: T = log 2 - log 2 = 0, f*(0) = -log 1 = 0
    "gan": ([0.0], [0.0], 2 * LOG2, LOG2),  # the GAN's log 2 per term
}
assert set(DERIVATIVES) == set(HAND) == set(F_DIVERGENCES)


@pytest.mark.parametrize("name", sorted(F_DIVERGENCES))
def test_f_gan_values_and_gradients(name):
    div, o = F_DIVERGENCES[name], get_objective(f"f:{name}")
    real, fake, want_d, want_g = HAND[name]
    assert o.d_loss(torch.tensor(real), torch.tensor(fake)).item() == pytest.approx(want_d, abs=1e-6)
    assert o.g_loss(torch.tensor(fake)).item() == pytest.approx(want_g, abs=1e-6)

    r, f = [-1.5, 0.2, 0.6], [-0.8, 0.1, 0.3, 1.4]
    d, (gr, gf) = grads(o.d_loss, r, f)
    rt, ft = torch.tensor(r, dtype=torch.float64), torch.tensor(f, dtype=torch.float64)
    # The closed form of f*(g_f(v)) against the table's f* composed with g_f.
    assert d == pytest.approx((-div.g_f(rt).mean() + div.f_star(div.g_f(ft)).mean()).item(), rel=1e-12)
    dg, dconj = DERIVATIVES[name]
    close(gr, -dg(rt) / len(r))
    close(gf, dconj(ft) / len(f))
    _, (gg,) = grads(o.g_loss, f)
    close(gg, -dg(ft) / len(f))


def test_f_gan_special_cases_are_the_gan():
    real, fake = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([-3.0, 0.25, 1.5])
    gan, js = get_objective("f:gan"), get_objective("f:js")
    assert gan.d_loss(real, fake).item() == pytest.approx(d_loss_gan(real, fake).item(), rel=1e-6)
    assert gan.g_loss(fake).item() == pytest.approx(g_loss_ns(fake).item(), rel=1e-6)
    assert js.d_loss(real, fake).item() == pytest.approx(d_loss_gan(real, fake).item() - 2 * LOG2, rel=1e-6)


# Two distributions on 5 atoms, all probabilities multiples of 1/20.
P = torch.tensor([0.10, 0.20, 0.30, 0.25, 0.15], dtype=torch.float64)
Q = torch.tensor([0.30, 0.25, 0.20, 0.15, 0.10], dtype=torch.float64)
M = (P + Q) / 2
NAMED = {  # each divergence written in its textbook form, independently of f
    "kl": (P * (P / Q).log()).sum(),
    "reverse-kl": (Q * (Q / P).log()).sum(),
    "pearson": ((P - Q) ** 2 / Q).sum(),
    "hellinger": ((P.sqrt() - Q.sqrt()) ** 2).sum(),
    "js": (P * (P / M).log()).sum() + (Q * (Q / M).log()).sum(),  # 2 JSD
    "gan": (P * (P / M).log()).sum() + (Q * (Q / M).log()).sum() - math.log(4),
}


@pytest.mark.parametrize("name", sorted(F_DIVERGENCES))
def test_variational_bound_is_tight_at_t_star(name):
    div = F_DIVERGENCES[name]
    d_f = (Q * div.f(P / Q)).sum()
    assert d_f.item() == pytest.approx(NAMED[name].item(), abs=1e-12)

    def bound(T):  # E_P[T] - E_Q[f*(T)]
        return (P * T).sum() - (Q * div.f_star(T)).sum()

    t_star = div.f_prime(P / Q)
    assert bound(t_star).item() == pytest.approx(d_f.item(), abs=1e-6)
    # Any other T (moved in v space, so it stays in dom f*) gives a strictly smaller value.
    v_star = div.g_f_inv(t_star)
    torch.testing.assert_close(div.g_f(v_star), t_star, rtol=1e-12, atol=1e-12)
    gen = torch.Generator().manual_seed(0)
    for scale in (1e-2, 0.3, 2.0):
        v = v_star + scale * torch.randn(5, generator=gen, dtype=torch.float64)
        assert bound(div.g_f(v)) < d_f
    # The objective's d_loss at v* is -D_f: a batch where atom i appears 20 p_i (real) / 20 q_i (fake) times.
    real = v_star.repeat_interleave((20 * P).round().long())
    fake = v_star.repeat_interleave((20 * Q).round().long())
    o = get_objective(f"f:{name}")
    assert o.d_loss(real, fake).item() == pytest.approx(-d_f.item(), abs=1e-6)
    if o.probabilistic:  # sigmoid(v*) is the optimal discriminator p / (p + q) of Goodfellow et al.
        torch.testing.assert_close(sig(v_star), P / (P + Q))


@pytest.mark.parametrize("name", sorted(F_DIVERGENCES))
def test_output_activation_maps_into_dom_f_star(name):
    div = F_DIVERGENCES[name]
    t = div.g_f(torch.linspace(-30, 30, 601, dtype=torch.float64))
    assert (t < div.dom_sup).all() and torch.isfinite(div.f_star(t)).all()
    assert (t.diff() > 0).all()  # increasing: a larger logit always means "more real"


# Where the exact loss exceeds float32's range (about e^88) it is +inf, never NaN, and it is not
# clamped: an exp in f* or in g_f overflows. True for f:kl (f* = exp(v - 1) on fakes),
# f:reverse-kl (g_f = -exp(-v)) and f:hellinger (both). Each entry: (d_loss is +inf, g_loss is +inf)
# as a function of the real / fake logit sign.
OVERFLOWS = {
    "f:kl": lambda r, f: (f > 0, False),
    "f:reverse-kl": lambda r, f: (r < 0, f < 0),
    "f:hellinger": lambda r, f: (r < 0 or f > 0, f < 0),
}


@pytest.mark.parametrize("name", list_objectives())
def test_extreme_logits(name):
    o = get_objective(name)
    for r in (-1e3, 1e3):
        for f in (-1e3, 1e3):
            real = torch.tensor([r, r], requires_grad=True)
            fake = torch.tensor([f, f], requires_grad=True)
            d, g = o.d_loss(real, fake), o.g_loss(fake, real)
            d_inf, g_inf = OVERFLOWS.get(name, lambda r, f: (False, False))(r, f)
            for loss, inf in ((d, d_inf), (g, g_inf)):
                if inf:
                    assert loss.item() == math.inf
                else:
                    assert torch.isfinite(loss), (r, f)
                    assert all(torch.isfinite(x).all() for x in torch.autograd.grad(loss, (real, fake),
                                                                                     allow_unused=True,
                                                                                     materialize_grads=True))
