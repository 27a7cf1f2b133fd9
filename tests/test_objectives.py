"""Objectives against hand-computed values and their closed-form gradients."""

import math

import pytest
import torch

from ganworks.errors import GanworksError
from ganworks.objectives import (d_loss_gan, discriminator_stats, g_loss_minimax, g_loss_ns, get_objective,
                                 list_objectives)

LOG2 = math.log(2.0)


def test_zero_logits_give_log2_per_term():
    # D(x) = sigmoid(0) = 1/2: -log(1/2) = log 2 for the real term and for the fake term.
    zeros = torch.zeros(7)
    assert d_loss_gan(zeros, zeros).item() == pytest.approx(2 * LOG2, abs=1e-7)
    assert g_loss_ns(zeros).item() == pytest.approx(LOG2, abs=1e-7)
    assert g_loss_minimax(zeros).item() == pytest.approx(-LOG2, abs=1e-7)  # log(1 - 1/2)


def test_values_match_the_paper_formulas():
    real = torch.tensor([2.0, -1.0, 0.5])
    fake = torch.tensor([-3.0, 0.25, 1.5])
    D = torch.sigmoid
    want_d = -(torch.log(D(real)).mean() + torch.log(1 - D(fake)).mean())  # -V(D, G)
    assert d_loss_gan(real, fake).item() == pytest.approx(want_d.item(), rel=1e-6)
    assert g_loss_minimax(fake).item() == pytest.approx(torch.log(1 - D(fake)).mean().item(), rel=1e-6)
    assert g_loss_ns(fake).item() == pytest.approx((-torch.log(D(fake))).mean().item(), rel=1e-6)
    # A hand-computed number: softplus(-2) = log(1 + e^-2) = 0.126928...
    assert d_loss_gan(torch.tensor([2.0]), torch.tensor([-1e4])).item() == pytest.approx(0.1269280110, rel=1e-6)


def test_stable_for_extreme_logits():
    big = torch.tensor([-200.0, 200.0])
    for v in (d_loss_gan(big, big), g_loss_ns(big), g_loss_minimax(big)):
        assert torch.isfinite(v)
    # log D(G(z)) for a confidently rejected fake: -log sigmoid(-200) = 200 exactly, not inf.
    assert g_loss_ns(torch.tensor([-200.0])).item() == pytest.approx(200.0)


def test_gradients_match_closed_forms_and_show_saturation():
    # d/dl of log(1 - sigmoid(l)) = -sigmoid(l); of -log sigmoid(l) = -(1 - sigmoid(l)).
    l = torch.tensor([-8.0, -2.0, 0.0, 3.0], requires_grad=True)
    (gm,) = torch.autograd.grad(g_loss_minimax(l), l)
    (gn,) = torch.autograd.grad(g_loss_ns(l), l)
    s = torch.sigmoid(l.detach())
    torch.testing.assert_close(gm, -s / 4)
    torch.testing.assert_close(gn, -(1 - s) / 4)
    # When D confidently rejects the fake (l = -8), the minimax gradient vanishes (Goodfellow et al. Sec. 3)
    # while the non-saturating one stays near its maximum.
    assert abs(gm[0]) < 1e-3 * abs(gn[0])


def test_d_gradient_closed_form():
    real = torch.tensor([0.3, -1.2], requires_grad=True)
    fake = torch.tensor([0.7, 2.0], requires_grad=True)
    gr, gf = torch.autograd.grad(d_loss_gan(real, fake), (real, fake))
    torch.testing.assert_close(gr, -(1 - torch.sigmoid(real.detach())) / 2)
    torch.testing.assert_close(gf, torch.sigmoid(fake.detach()) / 2)


def test_discriminator_stats():
    real = torch.tensor([1.0, -1.0, 2.0, 3.0])  # 3 of 4 classified real
    fake = torch.tensor([-1.0, 1.0, -2.0, -3.0])  # 3 of 4 classified fake
    s = discriminator_stats(real, fake)
    assert s["D_acc"].item() == pytest.approx(0.75)
    assert s["D(x)"].item() == pytest.approx(torch.sigmoid(real).mean().item())
    eq = discriminator_stats(torch.zeros(4), torch.zeros(4))  # D = 1/2 everywhere
    assert eq["D(x)"].item() == eq["D(G(z))"].item() == 0.5


def test_registry():
    assert {"minimax", "ns"} <= set(list_objectives())
    with pytest.raises(GanworksError, match="unknown objective 'wgan-typo'; valid: .*minimax.*ns"):
        get_objective("wgan-typo")
