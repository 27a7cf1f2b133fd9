"""Experiments 1-5 of the lab: the theory of GANs measured on 1-D and 2-D distributions.

Each function trains the package's own MLP discriminator (or WGAN critic) against a *fixed*
generator distribution, measures what the theory predicts, returns JSON-able numbers with the
closed form beside each, and draws one figure. ``quick`` runs a smaller version (the tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.toy import GaussianMixture, Uniform
from ..objectives import get_objective
from .common import (
    LOG2,
    LOG4,
    Fit,
    as_points,
    bound,
    check,
    d_logit,
    d_prob,
    fit_discriminator,
    jsd_densities,
    jsd_discrete,
    mlp_discriminator,
    mlp_generator,
    pyplot,
    sampler,
    save_figure,
    value_at_optimum,
    value_estimate,
)


def _normal(mu: float, sd: float) -> GaussianMixture:
    return GaussianMixture(means=((mu,),), std=sd)


def _describe(dist) -> str:
    if isinstance(dist, GaussianMixture):
        mu, sd, w = dist._arrays()
        parts = [f"N({m[0]:g}, {s:g}^2)" for m, s in zip(mu, sd)]
        return parts[0] if len(parts) == 1 else " + ".join(f"{wi:g}*{p}" for wi, p in zip(w, parts))
    if isinstance(dist, Uniform):
        return f"U[{dist.low[0]:g}, {dist.high[0]:g}]"
    return repr(dist)


# ------------------------------------------------------------------------------ 1. optimal-d
def optimal_d(seed: int = 0, quick: bool = False, out: Path | None = None) -> dict[str, Any]:
    """Fix p_g, train D to convergence, compare D(x) with D*(x) = p_data / (p_data + p_g)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    p_data = GaussianMixture(means=((-1.5,), (1.0,)), std=0.5)  # bimodal: D* is not a plain sigmoid
    p_g = _normal(0.5, 1.0)
    fit = Fit(steps=800 if quick else 3000, batch=512 if quick else 1024)
    D = mlp_discriminator(1)
    fit_discriminator(D, sampler(p_data, rng), sampler(p_g, rng), fit)

    x = np.linspace(-5, 5, 2001)
    pd, pg = p_data.pdf(x), p_g.pdf(x)
    d_star = pd / (pd + pg)
    d_hat = d_prob(D, x)
    threshold = 0.05  # "non-negligible": p_data + p_g >= 0.05 (peaks are about 0.4)
    region = (pd + pg) >= threshold
    err = np.abs(d_hat - d_star)
    max_err = float(err[region].max())
    weighted = float((err * (pd + pg) / 2).sum() / ((pd + pg) / 2).sum())  # E_{(p_data + p_g)/2} |D - D*|
    n_eval = 20_000 if quick else 200_000
    real, fake = as_points(p_data.sample(n_eval, rng)[0]), as_points(p_g.sample(n_eval, rng)[0])
    jsd = jsd_densities(p_data.pdf, p_g.pdf, -12, 12)
    v_hat = value_estimate(D, real, fake)

    if out is not None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.fill_between(x, pd, color="k", alpha=0.15, label="$p_{data}$")
        ax.plot(x, pg, "g", label="$p_g$ (fixed)")
        ax.plot(x, d_star, "b--", lw=2, label="$D^*(x) = p_{data}/(p_{data}+p_g)$")
        ax.plot(x, d_hat, "r", lw=1.2, label="trained $D(x)$")
        ax.axhline(0.5, color="gray", lw=0.5)
        ax.set_xlabel("x")
        ax.set_title(f"optimal discriminator (Goodfellow et al. 2014, Fig. 1b): max |D - D*| = {max_err:.3f}")
        ax.legend(fontsize=8, loc="upper right")
        save_figure(fig, out)
    return {
        "settings": {"p_data": _describe(p_data), "p_g": _describe(p_g), "steps": fit.steps, "batch": fit.batch,
                     "discriminator": "ganworks mlp D, hidden (128, 128), no dropout; objective ns (BCE)",
                     "region": f"x in [-5, 5] where p_data(x) + p_g(x) >= {threshold}"},
        "measured": {"max_abs_error": max_err, "weighted_mean_abs_error": weighted,
                     "region_fraction_of_mass": float(((pd + pg) / 2 * region).sum() / ((pd + pg) / 2).sum()),
                     "V_trained_D": v_hat, "V_closed_form": value_at_optimum(jsd), "jsd": jsd},
        "checks": [check("max |D(x) - D*(x)| over the region", max_err, 0.0, 0.05),
                   check("V(D, G) with the trained D vs. -log 4 + 2 JSD", v_hat, value_at_optimum(jsd), 0.02,
                         note="the trained D can only under-estimate max_D V")],
    }


# ---------------------------------------------------------------------------- 2. equilibrium
def equilibrium(seed: int = 0, quick: bool = False, out: Path | None = None) -> dict[str, Any]:
    """V(D*, G) = -log 4 + 2 JSD(p_data || p_g) for several p_g; D = 1/2 and V = -log 4 at p_g = p_data."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    p_data = _normal(0.0, 1.0)
    cases = [(0.0, 1.0), (0.5, 1.0), (1.0, 1.0), (2.0, 1.0), (0.0, 0.5), (3.0, 0.5)]
    if quick:
        cases = [(0.0, 1.0), (1.0, 1.0), (3.0, 0.5)]
    fit = Fit(steps=300 if quick else 2000, batch=256 if quick else 1024)
    n_eval = 20_000 if quick else 200_000
    x = np.linspace(-5, 5, 2001)
    rows, checks, curves = [], [], []
    for mu, sd in cases:
        p_g = _normal(mu, sd)
        D = mlp_discriminator(1)
        fit_discriminator(D, sampler(p_data, rng), sampler(p_g, rng), fit)
        real, fake = as_points(p_data.sample(n_eval, rng)[0]), as_points(p_g.sample(n_eval, rng)[0])
        jsd = jsd_densities(p_data.pdf, p_g.pdf, -15, 15)
        v_closed = value_at_optimum(jsd)
        v_hat = value_estimate(D, real, fake)
        # The same V with the exact D*: the Monte-Carlo error of the estimate itself.
        xr, xf = real.view(-1).double().numpy(), fake.view(-1).double().numpy()
        ds_r = p_data.pdf(xr) / (p_data.pdf(xr) + p_g.pdf(xr))
        ds_f = p_data.pdf(xf) / (p_data.pdf(xf) + p_g.pdf(xf))
        v_star_mc = float(np.log(ds_r).mean() + np.log1p(-np.clip(ds_f, 0, 1 - 1e-16)).mean())
        row = {"p_g": _describe(p_g), "jsd": jsd, "V_closed_form": v_closed, "V_trained_D": v_hat,
               "V_exact_D_monte_carlo": v_star_mc, "abs_error": abs(v_hat - v_closed)}
        checks.append(check(f"V(D, G) for p_g = {_describe(p_g)}", v_hat, v_closed, 0.02))
        if mu == 0.0 and sd == 1.0:  # p_g = p_data: the equilibrium
            region = (p_data.pdf(x) + p_g.pdf(x)) >= 0.05
            dev = float(np.abs(d_prob(D, x)[region] - 0.5).max())
            row["max_abs_D_minus_half"] = dev
            checks.append(check("p_g = p_data: max |D(x) - 1/2| over the region", dev, 0.0, 0.05))
            checks.append(check("p_g = p_data: V(D, G) = -log 4", v_hat, -LOG4, 0.01))
        rows.append(row)
        curves.append((_describe(p_g), d_prob(D, x)))

    if out is not None:
        plt = pyplot()
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
        js = np.linspace(0, LOG2, 50)
        a1.plot(js, [value_at_optimum(j) for j in js], "b--", label="closed form $-\\log 4 + 2\\,JSD$")
        a1.plot([r["jsd"] for r in rows], [r["V_trained_D"] for r in rows], "ro", label="trained D")
        a1.axhline(-LOG4, color="gray", lw=0.5)
        a1.set_xlabel("JSD($p_{data}$ || $p_g$) (nats)")
        a1.set_ylabel("V(D, G)")
        a1.set_title("Theorem 1: V at the optimal D")
        a1.legend(fontsize=8)
        for name, dx in curves:
            a2.plot(x, dx, label=f"$p_g$ = {name}")
        a2.axhline(0.5, color="k", lw=0.8, ls=":")
        a2.set_ylim(-0.02, 1.02)
        a2.set_xlabel("x")
        a2.set_ylabel("D(x)")
        a2.set_title("trained D; $p_g = p_{data}$ gives D = 1/2")
        a2.legend(fontsize=7)
        save_figure(fig, out)
    return {
        "settings": {"p_data": _describe(p_data), "steps": fit.steps, "batch": fit.batch, "eval_samples": n_eval},
        "measured": {"cases": rows},
        "checks": checks,
    }


# --------------------------------------------------------------------------- 3. js-saturation
def js_saturation(seed: int = 0, quick: bool = False, out: Path | None = None) -> dict[str, Any]:
    """Arjovsky et al. 2017, Example 1: P0 = (0, Z), P_theta = (theta, Z), Z ~ U[0, 1].
    JS = log 2 for theta != 0 (and 0 at theta = 0) while W = |theta|."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    thetas = [-0.5, 0.0, 0.1] if quick else [-1.0, -0.5, -0.2, -0.1, -0.05, 0.0, 0.05, 0.1, 0.2, 0.5, 1.0]
    steps, batch = (300, 128) if quick else (1500, 512)
    n_eval = 10_000 if quick else 50_000

    def line(theta: float):
        return lambda n: as_points(np.stack([np.full(n, theta), rng.random(n)], 1))

    rows = []
    for theta in thetas:
        D = mlp_discriminator(2)
        fit_discriminator(D, line(0.0), line(theta), Fit(steps=steps, batch=batch))
        js_hat = (value_estimate(D, line(0.0)(n_eval), line(theta)(n_eval)) + LOG4) / 2  # V = -log 4 + 2 JSD
        C = mlp_discriminator(2)
        fit_discriminator(C, line(0.0), line(theta), Fit(objective="wgan", steps=steps, batch=batch, gp_weight=10.0,
                                                          betas=(0.5, 0.9)))
        with torch.no_grad():
            w_hat = float(C(line(0.0)(n_eval)).double().mean() - C(line(theta)(n_eval)).double().mean())
        rows.append({"theta": theta, "jsd_closed_form": LOG2 if theta != 0 else 0.0, "jsd_estimate": js_hat,
                     "w_closed_form": abs(theta), "w_estimate": w_hat})

    bounds = _jsd_bounds(rng, pairs=2000 if quick else 20_000)
    nonzero = [r for r in rows if r["theta"] != 0]
    checks = [
        check("max |W estimate - |theta||", max(abs(r["w_estimate"] - r["w_closed_form"]) for r in rows), 0.0, 0.1),
        check("JS estimate at theta = 0", next(r["jsd_estimate"] for r in rows if r["theta"] == 0), 0.0, 0.02),
        bound("min JS estimate over |theta| >= 0.1", min(r["jsd_estimate"] for r in nonzero if abs(r["theta"]) >= 0.1),
              ">=", 0.9 * LOG2, closed_form=LOG2, note="a trained D approaches log 2 from below"),
        bound("JSD of random pairs outside [0, log 2] (count)", bounds["violations"], "<=", 0),
        check("JSD of disjoint pairs (max |JSD - log 2|)", bounds["disjoint_max_abs_error"], 0.0, 1e-12),
        check("JSD of identical pairs (max JSD)", bounds["identical_max"], 0.0, 1e-15),
    ]
    if out is not None:
        plt = pyplot()
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
        th = np.array([r["theta"] for r in rows])
        fine = np.linspace(min(thetas), max(thetas), 401)
        a1.plot(fine, np.where(fine == 0, 0, LOG2), "b--", label="JS closed form (log 2 for $\\theta \\neq 0$)")
        a1.plot([0], [0], "bo", mfc="none")
        a1.plot(th, [r["jsd_estimate"] for r in rows], "ro-", label="estimated with a trained D")
        a1.set_xlabel("$\\theta$")
        a1.set_ylabel("JS($P_0$, $P_\\theta$) (nats)")
        a1.set_title("Jensen-Shannon: flat, no gradient in $\\theta$")
        a1.legend(fontsize=8)
        a2.plot(fine, np.abs(fine), "b--", label="W closed form $|\\theta|$")
        a2.plot(th, [r["w_estimate"] for r in rows], "ro-", label="estimated with a WGAN-GP critic")
        a2.set_xlabel("$\\theta$")
        a2.set_ylabel("W($P_0$, $P_\\theta$)")
        a2.set_title("Earth mover: continuous in $\\theta$")
        a2.legend(fontsize=8)
        save_figure(fig, out)
    return {
        "settings": {"P0": "(0, Z), Z ~ U[0, 1]", "P_theta": "(theta, Z)", "steps": steps, "eval_samples": n_eval,
                     "critic": "ganworks mlp D as critic, wgan objective + gradient penalty 10"},
        "measured": {"thetas": rows, "jsd_bounds": bounds},
        "checks": checks,
    }


def _jsd_bounds(rng: np.random.Generator, pairs: int) -> dict[str, Any]:
    """0 <= JSD <= log 2 on random pairs of discrete distributions (Dirichlet, 2-50 outcomes, some
    sparse) and 1-D Gaussians (by quadrature); log 2 exactly for disjoint supports, 0 for equal ones."""
    values = []
    for k in rng.integers(2, 51, size=pairs // 100):
        p = rng.dirichlet(np.full(k, rng.choice([0.05, 0.5, 1.0, 5.0])), size=100)
        q = rng.dirichlet(np.full(k, rng.choice([0.05, 0.5, 1.0, 5.0])), size=100)
        values.append(jsd_discrete(p, q))
    v = np.concatenate(values)
    gauss = [jsd_densities(_normal(*rng.normal(0, 2, 1), rng.uniform(0.2, 3)).pdf,
                           _normal(*rng.normal(0, 2, 1), rng.uniform(0.2, 3)).pdf, -40, 40, 20_001)
             for _ in range(20)]
    disjoint = []
    for k in rng.integers(2, 51, size=50):  # p on the first half of the outcomes, q on the rest
        p, q = np.zeros(2 * k), np.zeros(2 * k)
        p[:k], q[k:] = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))
        disjoint.append(jsd_discrete(p, q))
    same = [jsd_discrete(p, p) for p in rng.dirichlet(np.ones(10), size=50)]
    allv = np.concatenate([v, gauss])
    return {"pairs": int(len(allv)), "min": float(allv.min()), "max": float(allv.max()), "log2": LOG2,
            "violations": int(((allv < 0) | (allv > LOG2)).sum()),
            "disjoint_max_abs_error": float(np.max(np.abs(np.array(disjoint) - LOG2))),
            "identical_max": float(np.max(same))}


# ---------------------------------------------------------------------- 4. vanishing-gradients
def vanishing_gradients(seed: int = 0, quick: bool = False, out: Path | None = None) -> dict[str, Any]:
    """Arjovsky & Bottou 2017, Sec. 2.2 / Fig. 2: with G fixed and D trained on disjoint supports,
    G's gradient under the saturating loss log(1 - D(G(z))) vanishes as D gets better, while the
    non-saturating -log D(G(z)) and a WGAN critic's -f(G(z)) still give usable gradients."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    p_data = Uniform(low=(2.0,), high=(3.0,))
    G = mlp_generator(1, z_dim=2, hidden=(64, 64)).requires_grad_(True)
    z_eval = [torch.randn(1024, 2, generator=torch.Generator().manual_seed((seed * 100 + i) % 2**64)) for i in range(4)]
    with torch.no_grad():
        g_pts = torch.cat([G(z) for z in z_eval]).view(-1)
    fake = lambda n: G(torch.randn(n, 2)).detach()  # noqa: E731  (G is fixed throughout)
    real = sampler(p_data, rng)
    last = 300 if quick else 3000
    records = tuple(s for s in (0, 1, 3, 10, 30, 100, 300, 1000, 3000) if s <= last)

    def grad_norm(C, loss_fn) -> float:
        """||grad_theta_G loss||, averaged over the fixed evaluation batches."""
        C.requires_grad_(False)
        norms = []
        for z in z_eval:
            G.zero_grad(set_to_none=True)
            loss_fn(C(G(z))).backward()
            norms.append(float(torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in G.parameters()]))))
        C.requires_grad_(True)
        return float(np.mean(norms))

    saturating, nonsat, critic_g, d_fake = [], [], [], []
    D = mlp_discriminator(1)

    def rec_d(step: int) -> None:
        saturating.append(grad_norm(D, get_objective("minimax").g_loss))
        nonsat.append(grad_norm(D, get_objective("ns").g_loss))
        with torch.no_grad():
            d_fake.append(float(torch.sigmoid(D(G(z_eval[0]))).mean()))

    fit_discriminator(D, real, fake, Fit(steps=last, batch=512, decay=False, record_every=records), rec_d)
    C = mlp_discriminator(1)
    fit_discriminator(C, real, fake, Fit(objective="wgan", steps=last, batch=512, gp_weight=10.0, betas=(0.5, 0.9),
                                         decay=False, record_every=records),
                      lambda step: critic_g.append(grad_norm(C, get_objective("wgan").g_loss)))
    ratio = saturating[-1] / nonsat[-1]
    checks = [
        bound("saturating / non-saturating gradient norm after the last D step", ratio, "<=", 1e-2,
              note="orders of magnitude smaller"),
        bound("saturating gradient norm: last / largest", saturating[-1] / max(saturating), "<=", 1e-2,
              note="it first grows while D is still near chance, then collapses"),
        bound("WGAN critic gradient norm: last / after 10 steps (usable: not vanishing)",
              critic_g[-1] / critic_g[records.index(10)], ">=", 0.1),
    ]
    if out is not None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 4.2))
        xs = [max(s, 0.5) for s in records]
        ax.loglog(xs, saturating, "r-o", label="saturating: $\\log(1 - D(G(z)))$")
        ax.loglog(xs, nonsat, "g-o", label="non-saturating: $-\\log D(G(z))$")
        ax.loglog(xs, critic_g, "b-o", label="WGAN-GP critic: $-f(G(z))$")
        ax.set_xlabel("D (or critic) training steps with G fixed (0 plotted at 0.5)")
        ax.set_ylabel("$\\|\\nabla_{\\theta_G}$ loss$_G\\|$")
        ax.set_title("vanishing gradients on disjoint supports (Arjovsky & Bottou 2017)")
        ax.legend(fontsize=8)
        save_figure(fig, out)
    return {
        "settings": {"p_data": _describe(p_data), "generator": "ganworks mlp G at initialization (fixed), z_dim 2",
                     "generator_support": [float(g_pts.min()), float(g_pts.max())], "batch": 512,
                     "eval": "4 fixed batches of 1024 noise vectors"},
        "measured": {"d_steps": list(records), "grad_norm_saturating": saturating, "grad_norm_non_saturating": nonsat,
                     "grad_norm_wgan_critic": critic_g, "mean_D_of_fakes": d_fake,
                     "ratio_saturating_to_non_saturating": ratio},
        "checks": checks,
    }


# ------------------------------------------------------------------- 5. critic-vs-discriminator
def critic_vs_discriminator(seed: int = 0, quick: bool = False, out: Path | None = None) -> dict[str, Any]:
    """Arjovsky et al. 2017, Fig. 2: two Gaussians far apart. The GAN discriminator saturates (flat,
    vanishing gradients where the fakes are); the WGAN critic is close to linear."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    p_data, p_g = _normal(2.0, 0.5), _normal(-2.0, 0.5)
    steps = 300 if quick else 2000
    D = mlp_discriminator(1)
    fit_discriminator(D, sampler(p_data, rng), sampler(p_g, rng), Fit(steps=steps, batch=512))
    C = mlp_discriminator(1)
    fit_discriminator(C, sampler(p_data, rng), sampler(p_g, rng),
                      Fit(objective="wgan", steps=steps, batch=512, gp_weight=10.0, betas=(0.5, 0.9)))
    Cc = mlp_discriminator(1)  # the WGAN paper's own critic: weight clipping and RMSProp
    fit_discriminator(Cc, sampler(p_data, rng), sampler(p_g, rng),
                      Fit(objective="wgan", steps=steps, batch=512, clip=0.01, optimizer="rmsprop", lr=5e-4))
    x = np.linspace(-4, 4, 801)  # both supports, +-4 std
    f_gp, f_clip, d_x = d_logit(C, x), d_logit(Cc, x), d_prob(D, x)

    def r2(f: np.ndarray) -> float:
        a, b = np.polyfit(x, f, 1)
        return float(1 - ((f - (a * x + b)) ** 2).sum() / ((f - f.mean()) ** 2).sum())

    def slope_at_fakes(net, transform) -> float:
        """E |d/dx transform(net(x))| over fresh fake samples."""
        xf = as_points(p_g.sample(4096, rng)[0]).requires_grad_(True)
        (g,) = torch.autograd.grad(transform(net(xf)).sum(), xf)
        return float(g.abs().mean())

    d_slope = slope_at_fakes(D, torch.sigmoid)  # |dD/dx| where G's samples are
    sat_slope = slope_at_fakes(D, lambda l: -torch.nn.functional.softplus(l))  # |d/dx log(1 - D(x))|
    c_slope = slope_at_fakes(C, lambda f: f)
    with torch.no_grad():
        d_at_fakes = float(torch.sigmoid(D(as_points(p_g.sample(4096, rng)[0]))).mean())
    checks = [
        bound("WGAN-GP critic: R^2 of a linear fit on [-4, 4]", r2(f_gp), ">=", 0.95, closed_form=1.0),
        bound("GAN D at the fakes, mean D(G(z))", d_at_fakes, "<=", 0.01, closed_form=0.0, note="saturated"),
        bound("|d/dx log(1 - D(x))| at the fakes / critic slope there", sat_slope / c_slope, "<=", 1e-2,
              note="the saturating loss gives G almost nothing to follow"),
    ]
    if out is not None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 4.2))
        ax.fill_between(x, p_data.pdf(x), color="b", alpha=0.2, label="real N(2, 0.5²)")
        ax.fill_between(x, p_g.pdf(x), color="g", alpha=0.2, label="fake N(-2, 0.5²)")
        ax.plot(x, d_x, "r", lw=2, label="GAN discriminator D(x)")

        def scaled(f: np.ndarray) -> np.ndarray:
            return (f - f.min()) / max(f.max() - f.min(), 1e-12)

        ax.plot(x, scaled(f_gp), "c", lw=2, label=f"WGAN-GP critic (rescaled), $R^2$ = {r2(f_gp):.3f}")
        ax.plot(x, scaled(f_clip), "m--", lw=1.5, label=f"WGAN critic, clipping (rescaled), $R^2$ = {r2(f_clip):.3f}")
        ax.set_xlabel("x")
        ax.set_title("critic vs. discriminator (Arjovsky et al. 2017, Fig. 2)")
        ax.legend(fontsize=7, loc="center left")
        save_figure(fig, out)
    return {
        "settings": {"p_data": _describe(p_data), "p_g": _describe(p_g), "steps": steps,
                     "critics": "wgan + gradient penalty 10 (Adam); wgan + clipping 0.01 (RMSProp, lr 5e-4)"},
        "measured": {"critic_gp_linear_r2": r2(f_gp), "critic_clip_linear_r2": r2(f_clip),
                     "mean_D_at_fakes": d_at_fakes, "mean_abs_dD_dx_at_fakes": d_slope,
                     "mean_abs_dlog1mD_dx_at_fakes": sat_slope, "mean_abs_critic_slope_at_fakes": c_slope},
        "checks": checks,
    }
