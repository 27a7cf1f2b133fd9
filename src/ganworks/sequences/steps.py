"""The moves of a sequence run: a maximum-likelihood step of G, a step of D, a step of G through the
discrete tokens (Gumbel-softmax or REINFORCE). Plain modules, an objective and an optimizer in; a dict
of 0-d statistics out, as ``ganworks.training.steps``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..objectives import Objective, discriminator_stats
from ..training.steps import _grad_norm
from .estimators import leave_one_out_baseline, reinforce_surrogate


def _update(loss: Tensor, net: nn.Module, opt: torch.optim.Optimizer) -> Tensor:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    grad = _grad_norm(net)
    opt.step()
    return grad


def mle_step(G: nn.Module, real: Tensor, opt_g: torch.optim.Optimizer) -> dict[str, Tensor]:
    """Teacher forcing: minimize the NLL of a real batch, -mean log p(x_t | x_<t) per counted token."""
    loss = G.nll(real).mean()
    grad = _update(loss, G, opt_g)
    return {"loss_mle": loss.detach(), "grad_G": grad}


def discriminator_step(G: nn.Module, D: nn.Module, objective: Objective, real: Tensor,
                       opt_d: torch.optim.Optimizer, clip: float = 0.0) -> dict[str, Tensor]:
    """D on a real batch of token ids against G's hard samples (D judges ids the same way as one-hots)."""
    fake = G.sample(len(real))
    real_logits, fake_logits = D(real), D(fake)
    loss = objective.d_loss(real_logits, fake_logits)
    grad = _update(loss, D, opt_d)
    if clip > 0:  # WGAN: a Lipschitz critic by clamping its weights
        with torch.no_grad():
            for p in D.parameters():
                p.clamp_(-clip, clip)
    stats = {"loss_D": loss.detach(), "grad_D": grad}
    if objective.probabilistic:
        stats.update(discriminator_stats(real_logits.detach(), fake_logits.detach()))
    return stats


def gumbel_generator_step(G: nn.Module, D: nn.Module, objective: Objective, n: int, beta: float,
                          opt_g: torch.optim.Optimizer, straight_through: bool = False,
                          real: Tensor | None = None) -> dict[str, Tensor]:
    """RelGAN's G step: D judges Gumbel-softmax samples, and G descends the objective's loss through them."""
    y, _ = G.sample_relaxed(n, beta, straight_through)
    real_logits = D(real) if objective.g_needs_real else None
    loss = objective.g_loss(D(y), real_logits)
    grad = _update(loss, G, opt_g)
    return {"loss_G": loss.detach(), "grad_G": grad, "beta": torch.tensor(float(beta))}


@torch.no_grad()
def rewards(G: nn.Module, D: nn.Module, tokens: Tensor, probabilistic: bool, rollouts: int) -> Tensor:
    """D's output as the reward: sigmoid(logit) (D's probability of "real", SeqGAN) for a probabilistic
    objective, else the logit. ``rollouts`` 0: (B,) the reward of each whole sequence; N > 0: (B, L)
    Q(y_<=t), the mean reward of N completions of each prefix by G (SeqGAN, Eq. 4), the last the sequence's own."""
    def judge(x: Tensor) -> Tensor:
        logits = D(x)
        return torch.sigmoid(logits) if probabilistic else logits

    if rollouts == 0:
        return judge(tokens)
    n, length = tokens.shape
    q = torch.empty(n, length, device=tokens.device)
    for t in range(1, length):
        prefix = tokens[:, :t].repeat(rollouts, 1)  # (N B, t)
        q[:, t - 1] = judge(G.sample(len(prefix), prefix=prefix)).view(rollouts, n).mean(0)
    q[:, -1] = judge(tokens)
    return q


def reinforce_generator_step(G: nn.Module, D: nn.Module, objective: Objective, n: int,
                             opt_g: torch.optim.Optimizer, rollouts: int = 0) -> dict[str, Tensor]:
    """SeqGAN's G step: sample, reward by D, ascend E[(r - b) grad log p(y)] with a leave-one-out baseline."""
    tokens = G.sample(n)
    r = rewards(G, D, tokens, objective.probabilistic, rollouts)
    loss = reinforce_surrogate(G.token_logp(tokens), r - leave_one_out_baseline(r))
    grad = _update(loss, G, opt_g)
    return {"loss_G": loss.detach(), "grad_G": grad, "reward": r.mean()}
