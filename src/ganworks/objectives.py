"""GAN objectives as small pure functions of discriminator logits.

D(x) = sigmoid(l(x)), where l is the discriminator's logit. Working on logits keeps every term
finite: log D = -softplus(-l) and log(1 - D) = -softplus(l), exact identities that never take
the log of a rounded-to-zero probability.

Goodfellow et al. 2014, Eq. 1:
    min_G max_D V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]
D ascends V, i.e. minimizes the binary cross-entropy below. G either descends V itself (the
saturating "minimax" loss) or, as the paper recommends in Sec. 3 because log(1 - D(G(z)))
saturates early in training, maximizes log D(G(z)) instead (the "non-saturating" loss).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor
from torch.nn.functional import softplus

from .errors import unknown_name


def d_loss_gan(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-V(D, G): the discriminator's binary cross-entropy, real labelled 1 and fake 0."""
    return softplus(-real_logits).mean() + softplus(fake_logits).mean()  # -E log D(x) - E log(1 - D(G(z)))


def g_loss_minimax(fake_logits: Tensor) -> Tensor:
    """The paper's saturating generator loss: minimize E log(1 - D(G(z)))."""
    return -softplus(fake_logits).mean()  # log(1 - sigmoid(l)) = -softplus(l)


def g_loss_ns(fake_logits: Tensor) -> Tensor:
    """The non-saturating generator loss: maximize E log D(G(z)), i.e. minimize -E log D(G(z))."""
    return softplus(-fake_logits).mean()  # -log(sigmoid(l)) = softplus(-l)


@dataclass(frozen=True)
class Objective:
    """A pair of losses. ``d_loss(real_logits, fake_logits)`` and ``g_loss(fake_logits)`` are
    minimized by D and G respectively. ``probabilistic`` says whether sigmoid(logit) is D's
    probability that the input is real (true for the GAN family), so D(x), D(G(z)) and D's
    accuracy are meaningful statistics."""

    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]
    description: str
    probabilistic: bool = True


OBJECTIVES: dict[str, Objective] = {
    "minimax": Objective("minimax", d_loss_gan, g_loss_minimax,
                         "saturating minimax game of Goodfellow et al. 2014 (G minimizes log(1 - D(G(z))))"),
    "ns": Objective("ns", d_loss_gan, g_loss_ns,
                    "non-saturating GAN (G maximizes log D(G(z))), Goodfellow et al. 2014 Sec. 3"),
}


def get_objective(name: str) -> Objective:
    if name not in OBJECTIVES:
        raise unknown_name("objective", name, OBJECTIVES)
    return OBJECTIVES[name]


def list_objectives() -> list[str]:
    return sorted(OBJECTIVES)


@torch.no_grad()
def discriminator_stats(real_logits: Tensor, fake_logits: Tensor) -> dict[str, Tensor]:
    """D(x), D(G(z)) and D's accuracy (real classified real, fake classified fake), as 0-d tensors.

    At the game's equilibrium p_g = p_data, D*(x) = 1/2 everywhere and the accuracy is 50%.
    """
    d_real = torch.sigmoid(real_logits.float()).mean()
    d_fake = torch.sigmoid(fake_logits.float()).mean()
    acc = 0.5 * ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean())
    return {"D(x)": d_real, "D(G(z))": d_fake, "D_acc": acc}
