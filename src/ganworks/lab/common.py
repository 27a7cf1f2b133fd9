"""What the lab's experiments share: closed forms, small networks, a discriminator fit, figures.

The closed forms are computed in float64 numpy by quadrature on a fine grid; the networks are
the package's own MLP pair (``ganworks.models``), trained with the package's own objectives and
gradient penalty, so the lab measures the code that ``ganworks train`` runs.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from ..images import atomic_path
from ..models import build_discriminator, build_generator, make_model_config
from ..objectives import get_objective
from ..regularizers import gradient_penalty

LOG2 = math.log(2.0)
LOG4 = math.log(4.0)


# ------------------------------------------------------------------------------- closed forms
def _js_terms(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Pointwise p log(p/m)/2 + q log(q/m)/2 with m = (p + q)/2 and 0 log 0 = 0. Written as
    log 2 + log a - log(p + q), since m itself can underflow to 0 when p and q are subnormal."""
    s = p + q
    with np.errstate(divide="ignore", invalid="ignore"):
        tp = np.where(p > 0, p * (LOG2 + np.log(p) - np.log(s)), 0.0)
        tq = np.where(q > 0, q * (LOG2 + np.log(q) - np.log(s)), 0.0)
    return 0.5 * (tp + tq)


def jsd_discrete(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence in nats of discrete distributions along the last axis;
    disjoint supports give log 2 up to rounding."""
    return _js_terms(np.asarray(p, np.float64), np.asarray(q, np.float64)).sum(-1)


def jsd_densities(pdf_p: Callable, pdf_q: Callable, lo: float, hi: float, n: int = 200_001) -> float:
    """JSD(p || q) in nats of two 1-D densities, by the trapezoid rule on [lo, hi]."""
    x = np.linspace(lo, hi, n)
    integrand = _js_terms(pdf_p(x), pdf_q(x))
    return float(((integrand[1:] + integrand[:-1]) * 0.5 * np.diff(x)).sum())  # trapezoid rule


def value_at_optimum(jsd: float) -> float:
    """Goodfellow et al. 2014, Theorem 1: V(D*_G, G) = -log 4 + 2 JSD(p_data || p_g)."""
    return -LOG4 + 2.0 * jsd


# ----------------------------------------------------------------------------------- networks
def mlp_discriminator(dim: int, hidden: tuple[int, ...] = (128, 128)) -> nn.Module:
    """The package's MLP discriminator for D-dimensional points (no dropout: the lab wants the optimum)."""
    cfg = make_model_config("mlp", image_shape=(dim, 1, 1), d_hidden=hidden, d_dropout=0.0)
    return build_discriminator("mlp", cfg)


def mlp_generator(dim: int, z_dim: int = 2, hidden: tuple[int, ...] = (64, 64)) -> nn.Module:
    """The package's MLP generator for D-dimensional points (linear output)."""
    cfg = make_model_config("mlp", image_shape=(dim, 1, 1), z_dim=z_dim, g_hidden=hidden, output="linear")
    return build_generator("mlp", cfg)


def as_points(x: np.ndarray) -> Tensor:
    """(N, D) float64 numpy -> (N, D, 1, 1) float32, the shape the MLP pair takes."""
    x = np.asarray(x, dtype=np.float32)
    x = x.reshape(len(x), -1)
    return torch.from_numpy(x).view(len(x), x.shape[1], 1, 1)


Sampler = Callable[[int], Tensor]


def sampler(dist, rng: np.random.Generator) -> Sampler:
    """n -> n points of ``dist`` (a :mod:`ganworks.data.toy` distribution) as (n, D, 1, 1)."""
    return lambda n: as_points(dist.sample(n, rng)[0])


@dataclass
class Fit:
    """How a discriminator or critic is fit to two fixed distributions."""

    objective: str = "ns"  # "ns": the GAN's binary cross-entropy; "wgan": the critic's dual
    steps: int = 2000
    batch: int = 512
    lr: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    gp_weight: float = 0.0
    clip: float = 0.0
    optimizer: str = "adam"
    decay: bool = True  # lr decays linearly to 1/10 over the fit: less minibatch noise at the end
    record_every: tuple[int, ...] = field(default_factory=tuple)


def fit_discriminator(D: nn.Module, real: Sampler, fake: Sampler, fit: Fit,
                      on_record: Callable[[int], None] | None = None) -> list[float]:
    """Train D alone on fresh minibatches of ``real`` vs. ``fake`` (the generator is fixed) with the
    package's objective ``fit.objective``. Calls ``on_record(step)`` after each step in
    ``fit.record_every`` (step 0 = before training). Returns the loss per step."""
    objective = get_objective(fit.objective)
    if fit.optimizer == "rmsprop":
        opt: torch.optim.Optimizer = torch.optim.RMSprop(D.parameters(), lr=fit.lr)
    else:
        opt = torch.optim.Adam(D.parameters(), lr=fit.lr, betas=fit.betas)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 1.0 - 0.9 * min(s / max(fit.steps, 1), 1.0) if fit.decay else 1.0)
    records = set(fit.record_every)
    if on_record is not None and 0 in records:
        on_record(0)
    losses = []
    for step in range(1, fit.steps + 1):
        x_real, x_fake = real(fit.batch), fake(fit.batch)
        loss = objective.d_loss(D(x_real), D(x_fake))
        if fit.gp_weight > 0:
            loss = loss + fit.gp_weight * gradient_penalty(D, x_real, x_fake)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if fit.clip > 0:
            with torch.no_grad():
                for p in D.parameters():
                    p.clamp_(-fit.clip, fit.clip)
        losses.append(float(loss.detach()))
        if on_record is not None and step in records:
            on_record(step)
    return losses


@torch.no_grad()
def d_prob(D: nn.Module, x: np.ndarray) -> np.ndarray:
    """D(x) = sigmoid(logit) at 1-D or 2-D points x, as float64."""
    return torch.sigmoid(D(as_points(x)).double()).numpy()


@torch.no_grad()
def d_logit(D: nn.Module, x: np.ndarray) -> np.ndarray:
    return D(as_points(x)).double().numpy()


def value_estimate(D: nn.Module, real: Tensor, fake: Tensor) -> float:
    """V(D, G) = E log D(x) + E log(1 - D(G(z))), from logits (never the log of a rounded 0)."""
    with torch.no_grad():
        lr_, lf = D(real).double(), D(fake).double()
        return float(-torch.nn.functional.softplus(-lr_).mean() - torch.nn.functional.softplus(lf).mean())


def check(name: str, measured: float, expected: float, tolerance: float, *, note: str = "") -> dict[str, Any]:
    """One claim: a measured number next to its closed form, and whether it is within tolerance."""
    ok = bool(abs(measured - expected) <= tolerance)
    out = {"claim": name, "measured": float(measured), "closed_form": float(expected),
           "abs_error": float(abs(measured - expected)), "tolerance": tolerance, "ok": ok}
    if note:
        out["note"] = note
    return out


def bound(name: str, measured: float, op: str, limit: float, *, closed_form: float | None = None,
          note: str = "") -> dict[str, Any]:
    """A one-sided claim: ``measured <= limit`` or ``measured >= limit`` (``op`` is "<=" or ">=")."""
    assert op in ("<=", ">="), op
    ok = bool(measured <= limit) if op == "<=" else bool(measured >= limit)
    out = {"claim": name, "measured": float(measured), "bound": f"{op} {limit:g}", "ok": ok}
    if closed_form is not None:
        out["closed_form"] = float(closed_form)
    if note:
        out["note"] = note
    return out


# ------------------------------------------------------------------------------------ figures
def pyplot():
    """matplotlib's pyplot on the Agg backend (no screen needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write a matplotlib figure as PNG, atomically, and close it."""
    plt = pyplot()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return Path(path)
