"""GAN objectives as small pure functions of discriminator logits.

D(x) = sigmoid(l(x)), where l is the discriminator's logit. Working on logits keeps every term
finite: log D = -softplus(-l) and log(1 - D) = -softplus(l), exact identities that never take
the log of a rounded-to-zero probability.

Goodfellow et al. 2014, Eq. 1:
    min_G max_D V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]
D ascends V, i.e. minimizes the binary cross-entropy below. G either descends V itself (the
saturating "minimax" loss) or, as the paper recommends in Sec. 3 because log(1 - D(G(z)))
saturates early in training, maximizes log D(G(z)) instead (the "non-saturating" loss).

The other objectives (WGAN, WGAN-GP, hinge, LSGAN, RaGAN, RpGAN and the f-GAN family) follow the same
convention: ``d_loss(real_logits, fake_logits)`` is minimized by D and
``g_loss(fake_logits, real_logits=None)`` by G, where "logits" means D's raw output, whatever it
means for the objective (a critic value, a variational function's pre-activation, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

import torch
from torch import Tensor
from torch.nn.functional import relu, softplus

from .errors import unknown_name

LOG2 = math.log(2.0)


# --- Goodfellow et al. 2014 -----------------------------------------------------------------

def d_loss_gan(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-V(D, G): the discriminator's binary cross-entropy, real labelled 1 and fake 0."""
    return softplus(-real_logits).mean() + softplus(fake_logits).mean()  # -E log D(x) - E log(1 - D(G(z)))


def d_loss_gan_smoothed(real_logits: Tensor, fake_logits: Tensor, smoothing: float) -> Tensor:
    """d_loss_gan with one-sided label smoothing: real target 1 - s, fake target 0 (Salimans et al.
    2016, Sec. 3.4; smoothing only the real side keeps D*(x) from rewarding fakes)."""
    s = smoothing
    real = (1 - s) * softplus(-real_logits) + s * softplus(real_logits)  # BCE(sigmoid(l), 1 - s)
    return real.mean() + softplus(fake_logits).mean()


def g_loss_minimax(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """The paper's saturating generator loss: minimize E log(1 - D(G(z)))."""
    return -softplus(fake_logits).mean()  # log(1 - sigmoid(l)) = -softplus(l)


def g_loss_ns(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """The non-saturating generator loss: maximize E log D(G(z)), i.e. minimize -E log D(G(z))."""
    return softplus(-fake_logits).mean()  # -log(sigmoid(l)) = softplus(-l)


# --- Wasserstein GAN: Arjovsky, Chintala & Bottou 2017; Gulrajani et al. 2017 -----------------

def d_loss_wgan(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """The critic f maximizes the Kantorovich-Rubinstein dual E[f(x)] - E[f(G(z))]; this is its negative.
    The Lipschitz constraint is not part of the loss: weight clipping (WGAN) or a gradient penalty
    (WGAN-GP, :func:`ganworks.regularizers.gradient_penalty`) enforces it."""
    return fake_logits.mean() - real_logits.mean()  # -(E f(x) - E f(G(z)))


def g_loss_wgan(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """G minimizes the critic's estimate of W(P_r, P_g); only -E f(G(z)) depends on G."""
    return -fake_logits.mean()  # -E f(G(z))


# --- Hinge loss: Lim & Ye 2017 (Geometric GAN); Miyato et al. 2018 (SN-GAN) --------------------

def d_loss_hinge(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Margin loss of a linear SVM separating real (label +1) from fake (label -1)."""
    return relu(1 - real_logits).mean() + relu(1 + fake_logits).mean()  # E max(0, 1 - D(x)) + E max(0, 1 + D(G(z)))


# G's hinge loss is g_loss_wgan: -E D(G(z)).


# --- Least squares GAN: Mao et al. 2017, a = 0 (fake), b = 1 (real), c = 1 (G's target) ------

def d_loss_lsgan(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """1/2 E (D(x) - b)^2 + 1/2 E (D(G(z)) - a)^2 with b = 1, a = 0."""
    return 0.5 * (real_logits - 1).pow(2).mean() + 0.5 * fake_logits.pow(2).mean()


def g_loss_lsgan(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """1/2 E (D(G(z)) - c)^2 with c = 1."""
    return 0.5 * (fake_logits - 1).pow(2).mean()


# --- Relativistic average standard GAN: Jolicoeur-Martineau 2018 ------------------------------
# D_ra(x_r, x_f) = sigmoid(C(x_r) - E C(x_f)): the probability that real data is more realistic
# than the average fake (and symmetrically for fakes). The batch mean stands in for E.

def d_loss_ragan(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-E log D_ra(x_r, x_f) - E log(1 - D_ra(x_f, x_r))."""
    return (softplus(-(real_logits - fake_logits.mean())).mean()  # -log sigmoid(C(x_r) - mean C(x_f))
            + softplus(fake_logits - real_logits.mean()).mean())  # -log(1 - sigmoid(C(x_f) - mean C(x_r)))


def g_loss_ragan(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """D's loss with real and fake swapped. Needs D(real): constant for G, but G's fakes enter
    both terms (the second through the fake batch mean)."""
    if real_logits is None:
        raise ValueError("the relativistic generator loss needs real_logits (Objective.g_needs_real)")
    return (softplus(-(fake_logits - real_logits.mean())).mean()  # -log sigmoid(C(x_f) - mean C(x_r))
            + softplus(real_logits - fake_logits.mean()).mean())  # -log(1 - sigmoid(C(x_r) - mean C(x_f)))


# --- Relativistic pairing GAN: Jolicoeur-Martineau 2019 (RSGAN); Huang et al. 2024 (R3GAN) ----
# D_rp(x_r, x_f) = sigmoid(C(x_r) - C(x_f)) on PAIRS: the i-th real sample against the i-th fake,
# not against a batch mean as in RaGAN. Huang et al. 2024 ("The GAN is dead; long live the GAN! A
# Modern GAN Baseline", NeurIPS) show that this loss together with zero-centred R1 and R2 penalties
# (--r1-gamma, --r2-gamma) converges locally, and build R3GAN on it.

def _paired(real_logits: Tensor, fake_logits: Tensor) -> None:
    if real_logits.shape != fake_logits.shape:
        raise ValueError("the relativistic pairing loss pairs real and fake samples one to one; got logits of "
                         f"shapes {tuple(real_logits.shape)} and {tuple(fake_logits.shape)}")


def d_loss_rpgan(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-E log D_rp(x_r, x_f) over paired samples: D wants each real above its fake."""
    _paired(real_logits, fake_logits)
    return softplus(-(real_logits - fake_logits)).mean()  # -log sigmoid(C(x_r) - C(x_f))


def g_loss_rpgan(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """D's loss with real and fake swapped: G wants each fake above its real. Needs D(real), a
    constant for G."""
    if real_logits is None:
        raise ValueError("the relativistic generator loss needs real_logits (Objective.g_needs_real)")
    _paired(real_logits, fake_logits)
    return softplus(-(fake_logits - real_logits)).mean()  # -log sigmoid(C(x_f) - C(x_r))


# --- f-GAN: Nowozin, Cseke & Tomioka 2016 -----------------------------------------------------
# D_f(P||Q) = E_Q f(p/q) >= sup_T E_P[T(x)] - E_Q[f*(T(x))], tight at T*(x) = f'(p(x)/q(x)).
# The network outputs v; T = g_f(v) is an output activation mapping R onto dom f* (Table 2).
# f, f' and f* are from Table 6. ``conj_of_g`` is f*(g_f(v)) simplified by hand so that it is
# computed from v without overflow or cancellation where possible.

@dataclass(frozen=True)
class FDivergence:
    """One row of the f-GAN tables. Every function maps a Tensor to a Tensor elementwise."""

    name: str
    f: Callable[[Tensor], Tensor]  # generator function, u = p/q > 0, convex; f(1) = 0 (gan: -log 4)
    f_prime: Callable[[Tensor], Tensor]  # f'(u): T*(x) = f'(p(x)/q(x))
    f_star: Callable[[Tensor], Tensor]  # Fenchel conjugate f*(t) = sup_u (u t - f(u)), t in dom f*
    g_f: Callable[[Tensor], Tensor]  # output activation R -> dom f*
    g_f_inv: Callable[[Tensor], Tensor]  # its inverse: the v with g_f(v) = t
    conj_of_g: Callable[[Tensor], Tensor]  # f*(g_f(v)), in closed form
    dom_sup: float  # dom f* = (-inf, dom_sup) (open; R when inf)


F_DIVERGENCES: dict[str, FDivergence] = {d.name: d for d in (
    FDivergence("kl",  # KL(P||Q) = E_P log(p/q)
                f=lambda u: torch.xlogy(u, u),  # u log u
                f_prime=lambda u: 1 + torch.log(u),
                f_star=lambda t: torch.exp(t - 1),
                g_f=lambda v: v,
                g_f_inv=lambda t: t,
                conj_of_g=lambda v: torch.exp(v - 1),  # overflows to +inf for v > ~89 in float32
                dom_sup=math.inf),
    FDivergence("reverse-kl",  # KL(Q||P) = E_Q log(q/p)
                f=lambda u: -torch.log(u),
                f_prime=lambda u: -1 / u,
                f_star=lambda t: -1 - torch.log(-t),
                g_f=lambda v: -torch.exp(-v),
                g_f_inv=lambda t: -torch.log(-t),
                conj_of_g=lambda v: v - 1,  # -1 - log(exp(-v))
                dom_sup=0.0),
    FDivergence("pearson",  # Pearson chi^2 = E_Q (p/q - 1)^2
                f=lambda u: (u - 1).pow(2),
                f_prime=lambda u: 2 * (u - 1),
                f_star=lambda t: t.pow(2) / 4 + t,  # conjugate over all real u, as in the paper
                g_f=lambda v: v,
                g_f_inv=lambda t: t,
                conj_of_g=lambda v: v.pow(2) / 4 + v,
                dom_sup=math.inf),
    FDivergence("hellinger",  # squared Hellinger = E_Q (sqrt(p/q) - 1)^2
                f=lambda u: (torch.sqrt(u) - 1).pow(2),
                f_prime=lambda u: 1 - torch.rsqrt(u),
                f_star=lambda t: t / (1 - t),
                g_f=lambda v: -torch.expm1(-v),  # 1 - exp(-v)
                g_f_inv=lambda t: -torch.log1p(-t),
                conj_of_g=lambda v: torch.expm1(v),  # (1 - e^-v) / e^-v = e^v - 1
                dom_sup=1.0),
    FDivergence("js",  # with the paper's f, D_f = 2 JSD(P||Q) = KL(P||M) + KL(Q||M), M = (P+Q)/2
                f=lambda u: -(u + 1) * torch.log((1 + u) / 2) + torch.xlogy(u, u),
                f_prime=lambda u: LOG2 + torch.log(u) - torch.log1p(u),  # log(2u / (1 + u))
                f_star=lambda t: -torch.log(2 - torch.exp(t)),
                g_f=lambda v: LOG2 - softplus(-v),  # log 2 - log(1 + exp(-v)) = log(2 sigmoid(v))
                g_f_inv=lambda t: -torch.log(2 * torch.exp(-t) - 1),
                conj_of_g=lambda v: softplus(v) - LOG2,  # -log(2 - 2 sigmoid(v)) = -log 2 - log sigmoid(-v)
                dom_sup=LOG2),
    FDivergence("gan",  # D_f = 2 JSD(P||Q) - log 4: Goodfellow et al.'s game
                f=lambda u: torch.xlogy(u, u) - (u + 1) * torch.log1p(u),
                f_prime=lambda u: torch.log(u) - torch.log1p(u),  # log(u / (1 + u))
                f_star=lambda t: -torch.log(-torch.expm1(t)),  # -log(1 - exp(t))
                g_f=lambda v: -softplus(-v),  # -log(1 + exp(-v)) = log sigmoid(v)
                g_f_inv=lambda t: -torch.log(torch.expm1(-t)),
                conj_of_g=lambda v: softplus(v),  # -log(1 - sigmoid(v)) = softplus(v)
                dom_sup=0.0),
)}


def f_gan_losses(name: str) -> tuple[Callable[[Tensor, Tensor], Tensor], Callable[..., Tensor]]:
    """(d_loss, g_loss) of the f-GAN for divergence ``name`` (a key of :data:`F_DIVERGENCES`).

    D maximizes F = E_P[g_f(v(x))] - E_Q[f*(g_f(v(G(z))))], so d_loss = -F. G's loss is the
    paper's alternative (Sec. 3.2): maximize E_Q[g_f(v(G(z)))] instead of minimizing F, chosen
    for the same reason as Goodfellow et al.'s non-saturating loss: it gives G strong gradients
    early in training when D rejects the fakes, and for ``gan`` it is exactly ``ns``.
    """
    div = F_DIVERGENCES[name]

    def d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return -div.g_f(real_logits).mean() + div.conj_of_g(fake_logits).mean()  # -(E_P T - E_Q f*(T))

    def g_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return -div.g_f(fake_logits).mean()  # -E_Q g_f(v)

    d_loss.__name__, g_loss.__name__ = f"d_loss_f_{name}", f"g_loss_f_{name}"
    return d_loss, g_loss


# --- The registry ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Objective:
    """A pair of losses. ``d_loss(real_logits, fake_logits)`` and ``g_loss(fake_logits, real_logits=None)``
    are minimized by D and G respectively; ``g_needs_real`` says whether ``g_loss`` needs D's logits
    on a real batch (relativistic losses), which the loop then computes in G's step.

    ``probabilistic`` says whether sigmoid(logit) is D's probability that the input is real, so
    D(x), D(G(z)) and D's accuracy are meaningful statistics (not so for critics, hinge, LSGAN or
    most f-GAN outputs). ``defaults`` are the paper's training settings that the loop applies
    unless the user sets them: ``optimizer`` ("adam" or "rmsprop"), ``lr``, ``betas``,
    ``d_steps``, ``clip`` (critic weight clipping) and ``gp_weight`` (gradient penalty weight);
    it is read-only, merge it as ``{**objective.defaults, **user_settings}``.
    """

    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[..., Tensor]
    description: str
    probabilistic: bool = True
    g_needs_real: bool = False
    defaults: Mapping[str, Any] = field(default_factory=dict, compare=False)  # stays hashable
    citation: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))


GOODFELLOW = "Goodfellow et al. 2014, Generative Adversarial Nets"
_F_TITLES = {"kl": "Kullback-Leibler KL(P||Q)", "reverse-kl": "reverse KL(Q||P)", "pearson": "Pearson chi^2",
             "hellinger": "squared Hellinger", "js": "Jensen-Shannon (2 JSD)", "gan": "GAN (2 JSD - log 4)"}

OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("minimax", d_loss_gan, g_loss_minimax,
              "saturating minimax game of Goodfellow et al. 2014 (G minimizes log(1 - D(G(z))))",
              citation=f"{GOODFELLOW}, Eq. 1"),
    Objective("ns", d_loss_gan, g_loss_ns,
              "non-saturating GAN (G maximizes log D(G(z))), Goodfellow et al. 2014 Sec. 3",
              citation=f"{GOODFELLOW}, Sec. 3"),
    Objective("wgan", d_loss_wgan, g_loss_wgan,
              "Wasserstein GAN with a weight-clipped critic", probabilistic=False,
              defaults={"optimizer": "rmsprop", "lr": 5e-5, "d_steps": 5, "clip": 0.01},
              citation="Arjovsky, Chintala & Bottou 2017, Wasserstein GAN, Algorithm 1"),
    Objective("wgan-gp", d_loss_wgan, g_loss_wgan,
              "Wasserstein GAN with a gradient penalty on the critic", probabilistic=False,
              defaults={"optimizer": "adam", "lr": 1e-4, "betas": (0.0, 0.9), "d_steps": 5, "gp_weight": 10.0},
              citation="Gulrajani et al. 2017, Improved Training of Wasserstein GANs, Algorithm 1"),
    Objective("hinge", d_loss_hinge, g_loss_wgan,
              "hinge loss (D: SVM margin, G: -E D(G(z)))", probabilistic=False,
              citation="Lim & Ye 2017, Geometric GAN; Miyato et al. 2018, Spectral Normalization for GANs"),
    Objective("lsgan", d_loss_lsgan, g_loss_lsgan,
              "least squares GAN, targets a=0 (fake), b=1 (real), c=1 (G)", probabilistic=False,
              citation="Mao et al. 2017, Least Squares Generative Adversarial Networks"),
    Objective("ragan", d_loss_ragan, g_loss_ragan,
              "relativistic average standard GAN (D judges real vs. the average fake)",
              probabilistic=False, g_needs_real=True,
              citation="Jolicoeur-Martineau 2018, The relativistic discriminator: a key element missing "
                       "from standard GAN"),
    # Adam with beta1 = 0, beta2 = 0.99 is R3GAN's optimizer setting (Huang et al. 2024); its learning rate
    # depends on the data set and is decayed over the run, so the project's lr stays the default here.
    Objective("rpgan", d_loss_rpgan, g_loss_rpgan,
              "relativistic pairing GAN (D judges each real sample against one fake); with --r1-gamma and "
              "--r2-gamma it is R3GAN's loss", probabilistic=False, g_needs_real=True,
              defaults={"optimizer": "adam", "betas": (0.0, 0.99)},
              citation="Jolicoeur-Martineau 2019, The relativistic discriminator: a key element missing from "
                       "standard GAN (RSGAN); Huang et al. 2024, The GAN is dead; long live the GAN! A Modern "
                       "GAN Baseline"),
    *(Objective(f"f:{name}", *f_gan_losses(name), f"f-GAN minimizing the {_F_TITLES[name]} divergence",
                # g_f(v) = log(2 sigmoid(v)) resp. log sigmoid(v): sigmoid(v) is D's probability of "real"
                probabilistic=name in ("js", "gan"),
                citation="Nowozin, Cseke & Tomioka 2016, f-GAN: Training Generative Neural Samplers using "
                         "Variational Divergence Minimization, Tables 2 and 6, Sec. 3.2")
      for name in F_DIVERGENCES),
)}


def get_objective(name: str) -> Objective:
    """The objective called ``name``; raises a GanworksError listing the valid names otherwise."""
    if name not in OBJECTIVES:
        raise unknown_name("objective", name, OBJECTIVES)
    return OBJECTIVES[name]


def list_objectives() -> list[str]:
    """All objective names, sorted."""
    return sorted(OBJECTIVES)


#: Not a game: ``--objective mle`` trains a sequence generator by maximum likelihood alone, with no D
#: (the baseline that language GANs must beat; Caccia et al. 2020). The sequence loop
#: (``ganworks.sequences.loop``) runs it, so it is a name ``--objective`` accepts, not an Objective.
MLE = "mle"


def list_objective_choices() -> list[str]:
    """What ``--objective`` accepts: every objective, and ``mle`` (sequence data only)."""
    return [*list_objectives(), MLE]


def check_objective_choice(name: str) -> None:
    if name != MLE and name not in OBJECTIVES:
        raise unknown_name("objective", name, list_objective_choices())


@torch.no_grad()
def discriminator_stats(real_logits: Tensor, fake_logits: Tensor) -> dict[str, Tensor]:
    """D(x), D(G(z)) and D's accuracy (real classified real, fake classified fake), as 0-d tensors.

    At the game's equilibrium p_g = p_data, D*(x) = 1/2 everywhere and the accuracy is 50%.
    """
    d_real = torch.sigmoid(real_logits.float()).mean()
    d_fake = torch.sigmoid(fake_logits.float()).mean()
    acc = 0.5 * ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean())
    return {"D(x)": d_real, "D(G(z))": d_fake, "D_acc": acc}
