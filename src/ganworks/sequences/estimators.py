"""Gradients through a discrete choice, as small pure functions.

A generator of text picks each token with an argmax or a draw from a softmax: a step function of
its logits, whose derivative is zero almost everywhere and undefined at the jumps. Max pooling
is different: it picks one of several *real numbers* and passes that number on, so the output
moves with the chosen input (derivative 1 there); a token id is an index, and nothing downstream
moves when a logit moves a little. Two ways around it (``ganworks lab discrete-gradient`` measures
both against the exact gradient of a tiny problem):

- Gumbel-softmax (Jang et al. 2017; Maddison et al. 2017; RelGAN, Nie et al. 2019): the draw
  argmax(o + g) with Gumbel noise g is exact; replacing the argmax by softmax(beta (o + g)) makes it
  differentiable, biased for finite inverse temperature beta, and its variance grows as beta rises.
  The straight-through variant uses the hard one-hot forward and the soft gradient backward.
- REINFORCE (Williams 1992; SeqGAN, Yu et al. 2017): grad E[f(y)] = E[f(y) grad log p(y)], unbiased
  for any f, with a variance that a baseline b (E[b grad log p] = 0) reduces without adding bias.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def gumbel_noise(shape: tuple[int, ...], *, generator: torch.Generator | None = None, device=None) -> Tensor:
    """Standard Gumbel noise -log(-log u), u ~ U(0, 1) (kept off 0 and 1 so both logs are finite)."""
    u = torch.rand(shape, generator=generator, device=device).clamp_(1e-10, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


def gumbel_softmax(logits: Tensor, beta: float, *, straight_through: bool = False,
                   noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(y, index): a relaxed one-hot y = softmax(beta (o + g)) over the last axis and the exact draw
    argmax(o + g) (Gumbel-max: index ~ softmax(o)). ``beta``: inverse temperature (RelGAN's beta; the
    temperature is 1 / beta). ``straight_through``: y is the hard one-hot in the forward pass and carries
    the soft gradient backward (y_hard - y_soft.detach() + y_soft)."""
    g = gumbel_noise(tuple(logits.shape), device=logits.device) if noise is None else noise
    perturbed = logits + g
    soft = F.softmax(beta * perturbed, dim=-1)  # softmax(beta (o + g))
    index = perturbed.argmax(dim=-1)
    if not straight_through:
        return soft, index
    hard = F.one_hot(index, logits.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft, index


def beta_at(beta_max: float, t: float, schedule: str = "exp") -> float:
    """RelGAN's inverse temperature at fraction t in [0, 1] of adversarial training: it rises from 1 to
    ``beta_max`` (Nie et al. 2019, Sec. 3.3: exp beta_max^t; also linear; constant: beta_max throughout)."""
    t = min(max(t, 0.0), 1.0)
    if schedule == "constant":
        return float(beta_max)
    if schedule == "linear":
        return 1.0 + (beta_max - 1.0) * t
    return float(beta_max) ** t


def leave_one_out_baseline(rewards: Tensor) -> Tensor:
    """b_i = the mean reward of the *other* samples of the batch (along dim 0): independent of sample i,
    so E[b_i grad log p(y_i)] = 0 and the estimator stays unbiased, with no running state to resume."""
    n = rewards.shape[0]
    if n < 2:
        return torch.zeros_like(rewards)
    return (rewards.sum(dim=0, keepdim=True) - rewards) / (n - 1)


def reinforce_surrogate(token_logp: Tensor, advantages: Tensor) -> Tensor:
    """A loss whose gradient is minus the REINFORCE estimate: -mean_i sum_t A_it log p(y_it | y_i,<t).

    ``token_logp`` (B, L): log-probabilities of the sampled tokens (0 where not counted); ``advantages``:
    (B,) one reward minus baseline per sequence, or (B, L) per token (SeqGAN's Monte-Carlo rollouts)."""
    adv = advantages.detach()
    if adv.dim() == 1:
        adv = adv[:, None]
    return -(adv * token_logp).sum(dim=1).mean()  # -E[A grad log p(y)]: descending it ascends E[reward]
