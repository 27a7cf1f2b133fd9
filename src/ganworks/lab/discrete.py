"""Why a gradient cannot pass through a discrete choice, and what the two estimators of sequence GANs do.

A tiny problem with an exact answer: K = 5 outcomes, y ~ Categorical(softmax(theta)), a downstream
loss f(y) = (c . y - t)^2 of the one-hot y. Its expectation is sum_k p_k f(e_k), so the exact gradient
is p_k (f_k - sum_j p_j f_j). Measured against it (``ganworks lab discrete-gradient``):

- argmax: f(onehot(argmax theta)) is piecewise constant in theta: its gradient is exactly 0;
- softmax: f(softmax(theta)) has a gradient, of a different function (biased, no noise);
- Gumbel-softmax at temperatures tau: the bias falls and the variance grows as tau -> 0
  (Jang et al. 2017; Maddison et al. 2017); straight-through stays biased;
- REINFORCE, with and without a leave-one-out baseline: unbiased, the variance measured.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from ..sequences.estimators import gumbel_softmax, leave_one_out_baseline
from .common import bound, pyplot, save_figure

THETA = (1.0, 0.5, 0.0, -0.5, -1.0)
C, TARGET = (2.0, -1.0, 0.5, 3.0, -2.0), 0.5
TAUS = (10.0, 3.0, 1.0, 0.5, 0.25, 0.1, 0.05)


def _f(y: torch.Tensor) -> torch.Tensor:
    return ((y * torch.tensor(C, dtype=y.dtype)).sum(-1) - TARGET) ** 2  # f(y) = (c . y - t)^2


def _per_sample_grads(fn, n: int) -> torch.Tensor:
    """(n, K) one gradient of fn(theta) per sample (fn returns one loss per sample)."""
    theta = torch.tensor(THETA, dtype=torch.float64).expand(n, -1).clone().requires_grad_(True)
    fn(theta).sum().backward()
    return theta.grad


def _summary(g: torch.Tensor, exact: torch.Tensor) -> dict[str, float]:
    mean = g.mean(0)
    return {"bias": float((mean - exact).norm()), "std": float(g.var(0).sum().sqrt()),
            "max_z": float(((mean - exact).abs() / (g.std(0) / math.sqrt(len(g)) + 1e-300)).max())}


def discrete_gradient(*, seed: int = 0, quick: bool = False, out: Path | None = None) -> dict[str, Any]:
    torch.manual_seed(seed)
    n = 20_000 if quick else 200_000
    theta = torch.tensor(THETA, dtype=torch.float64)
    p = torch.softmax(theta, 0)
    f_k = _f(torch.eye(len(THETA), dtype=torch.float64))
    exact = p * (f_k - (p * f_k).sum())  # d/dtheta E[f(y)]

    t = theta.clone().requires_grad_(True)
    loss = _f(torch.nn.functional.one_hot(t.argmax(), len(THETA)).double())  # an index: autograd sees no path
    argmax_grad = torch.autograd.grad(loss, t)[0] if loss.requires_grad else torch.zeros_like(theta)

    t = theta.clone().requires_grad_(True)
    _f(torch.softmax(t, 0)).backward()
    softmax_bias = float((t.grad - exact).norm())

    rows = []
    for tau in TAUS:
        g = _per_sample_grads(lambda th: _f(gumbel_softmax(th, 1.0 / tau)[0]), n)
        rows.append({"tau": tau, **_summary(g, exact)})
    st = _summary(_per_sample_grads(lambda th: _f(gumbel_softmax(th, 1.0, straight_through=True)[0]), n), exact)

    k = torch.multinomial(p, n, replacement=True)
    score = torch.nn.functional.one_hot(k, len(THETA)).double() - p  # grad log p(k)
    r = f_k[k]
    plain = _summary(r[:, None] * score, exact)
    base = _summary((r - leave_one_out_baseline(r))[:, None] * score, exact)

    checks = [
        bound("argmax: |gradient| (exactly zero almost everywhere)", float(argmax_grad.norm()), "<=", 0.0),
        bound("REINFORCE: max |mean - exact| / standard error (unbiased)", plain["max_z"], "<=", 4.5),
        bound("REINFORCE + baseline: max |mean - exact| / standard error", base["max_z"], "<=", 4.5),
        bound("REINFORCE: baseline std / plain std (variance cut)", base["std"] / plain["std"], "<=", 1.0),
        bound("Gumbel-softmax: bias at tau 0.1 / bias at tau 3 (bias falls)",
              rows[5]["bias"] / rows[1]["bias"], "<=", 0.5),
        bound("Gumbel-softmax: std at tau 0.05 / std at tau 3 (variance grows)",
              rows[6]["std"] / rows[1]["std"], ">=", 2.0),
    ]
    if out is not None:
        plt = pyplot()
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
        taus = [r_["tau"] for r_ in rows]
        ax[0].loglog(taus, [r_["bias"] for r_ in rows], "o-", label="Gumbel-softmax")
        ax[0].axhline(softmax_bias, color="C2", ls="--", label="softmax relaxation")
        ax[0].axhline(st["bias"], color="C3", ls=":", label="straight-through (tau 1)")
        ax[0].axhline(float(exact.norm()), color="k", lw=0.8, label="argmax (gradient 0)")
        ax[0].set(xlabel="temperature tau", ylabel="|E[estimate] - exact gradient|", title="bias")
        ax[1].loglog(taus, [r_["std"] for r_ in rows], "o-", label="Gumbel-softmax")
        ax[1].axhline(plain["std"], color="C1", ls="--", label="REINFORCE")
        ax[1].axhline(base["std"], color="C4", ls="-.", label="REINFORCE + baseline")
        ax[1].set(xlabel="temperature tau", ylabel="per-sample std (sqrt of summed variance)", title="variance")
        for a in ax:
            a.invert_xaxis()
            a.legend(fontsize=8)
        fig.suptitle(f"gradient of E[f(y)], y ~ softmax(theta), K = {len(THETA)}; {n} samples each")
        save_figure(fig, out)
    return {"exact_gradient": exact.tolist(), "argmax_gradient": argmax_grad.tolist(), "softmax_bias": softmax_bias,
            "gumbel": rows, "straight_through": st, "reinforce": plain, "reinforce_baseline": base, "samples": n,
            "checks": checks}
