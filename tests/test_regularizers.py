"""Gradient penalty and R1 against hand-computed values on linear and tiny nonlinear discriminators."""

import pytest
import torch
from torch import nn

from ganworks.regularizers import gradient_penalty, r1_penalty


class Linear(nn.Module):
    """D(x) = w . flatten(x) + b: grad_x D = w for every input."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))
        self.b = nn.Parameter(torch.tensor(0.7))

    def forward(self, x):
        return x.flatten(1) @ self.w + self.b


def test_linear_penalty_is_exact_for_any_shape_and_trains_d():
    D = Linear([0.0, 3.0, 0.0, 4.0])  # ||w|| = 5
    real, fake = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2)
    gp = gradient_penalty(D, real, fake)
    assert gp.item() == pytest.approx(16.0)  # (5 - 1)^2 for every sample
    gp.backward()  # create_graph: the penalty reaches D's weights, d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    torch.testing.assert_close(D.w.grad, 1.6 * D.w.detach())
    assert not real.requires_grad and not fake.requires_grad
    flat = Linear([2.0, 1.0, 2.0])  # (B, features) inputs, ||w|| = 3
    assert gradient_penalty(flat, torch.randn(4, 3), torch.randn(4, 3)).item() == pytest.approx(4.0)


def test_one_sided():
    real, fake = torch.randn(5, 4), torch.randn(5, 4)
    small, big = Linear([0.3, 0.0, 0.4, 0.0]), Linear([0.0, 3.0, 0.0, 4.0])  # norms 0.5 and 5
    assert gradient_penalty(small, real, fake).item() == pytest.approx(0.25)
    assert gradient_penalty(small, real, fake, one_sided=True).item() == 0.0
    assert gradient_penalty(big, real, fake, one_sided=True).item() == pytest.approx(16.0)


def test_matches_a_per_sample_autograd_computation():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Flatten(), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 1))
    real, fake = torch.randn(4, 1, 2, 3), torch.randn(4, 1, 2, 3)
    eps = torch.tensor([0.0, 0.25, 0.6, 1.0]).view(4, 1, 1, 1)
    want = 0.0
    for i in range(4):
        x = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).unsqueeze(0).requires_grad_(True)
        (g,) = torch.autograd.grad(D(x).sum(), x)
        want += (g.norm() - 1) ** 2 / 4
    for e in (eps, eps.flatten()):  # (B, 1, 1, 1) or (B,)
        assert gradient_penalty(D, real, fake, eps=e).item() == pytest.approx(want.item(), rel=1e-5)
    with pytest.raises(ValueError, match="one value per sample"):
        gradient_penalty(D, real, fake, eps=torch.rand(4, 1, 2, 3))


def test_eps_is_one_uniform_per_sample():
    seen = []

    def D(x):
        seen.append(x.detach())
        return x.flatten(1).sum(1)

    torch.manual_seed(1)
    real, fake = torch.randn(8, 3, 4, 4), torch.randn(8, 3, 4, 4)
    gradient_penalty(D, real, fake)
    eps = ((seen[0] - fake) / (real - fake)).flatten(1)  # x_hat = eps real + (1 - eps) fake
    torch.testing.assert_close(eps, eps[:, :1].expand_as(eps), rtol=1e-4, atol=1e-4)  # constant in a sample
    assert ((eps >= 0) & (eps <= 1)).all() and eps[:, 0].unique().numel() == 8  # different across samples


class ClassLinear(nn.Module):
    """D(x, y) = W[y] . x: a projection-like conditional D, grad_x = W[y]."""

    def __init__(self):
        super().__init__()
        self.W = nn.Parameter(torch.tensor([[0.0, 2.0, 0.0], [3.0, 0.0, 0.0]]))  # row norms 2, 3

    def forward(self, x, y):
        return (x * self.W[y]).sum(1)


def test_labels_are_passed_to_d():
    D, y = ClassLinear(), torch.tensor([0, 1, 1, 0])
    x1, x2 = torch.randn(4, 3), torch.randn(4, 3)
    assert gradient_penalty(D, x1, x2, y).item() == pytest.approx(2.5)  # mean(1, 4, 4, 1)
    assert r1_penalty(D, x1, y).item() == pytest.approx(6.5)  # mean(4, 9, 9, 4)


def test_r1():
    D = Linear([0.0, 3.0, 0.0, 4.0])
    real = torch.randn(5, 1, 2, 2)
    r1 = r1_penalty(D, real)
    assert r1.item() == pytest.approx(25.0)  # ||w||^2
    r1.backward()
    torch.testing.assert_close(D.w.grad, 2 * D.w.detach())
    # D(x) = ||x||^2 per sample: grad = 2x, so R1 = mean_i 4 ||x_i||^2, a per-sample norm averaged.
    x = torch.tensor([[1.0, 2.0], [0.0, 3.0]])
    assert r1_penalty(lambda v: v.pow(2).sum(1), x).item() == pytest.approx((4 * 5 + 4 * 9) / 2)
