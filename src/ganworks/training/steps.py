"""The two moves of the game: one update of D, one update of G, each with the other network frozen.

These functions are the training loop's own steps; the theory lab and the benchmarks call them too,
so they take plain modules, an objective and an optimizer, and know nothing of run directories.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn

from ..augment import diff_augment
from ..objectives import Objective, d_loss_gan_smoothed, discriminator_stats
from ..regularizers import gradient_penalty, r1_penalty, r2_penalty
from .replay import ReplayBuffer


@dataclass
class DInput:
    """What D sees of a batch, in both steps: DiffAugment (when a policy is set), then instance
    noise (when ``noise_std`` > 0). The loop sets ``noise_std`` from its schedule before each iteration."""

    policy: tuple[str, ...] = ()
    noise_std: float = 0.0
    # Swappable so that the caller decides which function augments (the loop passes its own
    # module-level name, which the tests replace with a spy).
    augment_fn: Callable[[Tensor, tuple[str, ...]], Tensor] = field(default=diff_augment, repr=False)

    def __call__(self, x: Tensor) -> Tensor:
        x = self.augment_fn(x, self.policy) if self.policy else x
        return x + self.noise_std * torch.randn_like(x) if self.noise_std > 0 else x


@dataclass
class DOptions:
    """How D's loss is formed beyond the objective itself (all off by default).

    What D sees is ``sees`` when given; otherwise it is built from ``augment`` and ``noise_std``
    (the spelling older callers use)."""

    clip: float = 0.0  # clamp D's weights to [-clip, clip] after the step (WGAN)
    gp_weight: float = 0.0  # lambda of the gradient penalty (WGAN-GP)
    gp_one_sided: bool = False
    r1_weight: float = 0.0  # gamma / 2 * lazy interval, on this step only (0 on the others)
    r2_weight: float = 0.0  # the same for R2, the penalty on the fakes D judged (R3GAN)
    label_smoothing: float = 0.0
    augment: tuple[str, ...] = ()
    replay: ReplayBuffer | None = None
    noise_std: float = 0.0  # instance noise on D's inputs, real and fake (its value at this step)
    sees: DInput | None = None

    def d_input(self) -> DInput:
        return self.sees if self.sees is not None else DInput(self.augment, self.noise_std)


def discriminator_step(G: nn.Module, D: nn.Module, objective: Objective, real: Tensor, z: Tensor,
                       opt_d: torch.optim.Optimizer, autocast=contextlib.nullcontext, y_real: Tensor | None = None,
                       y_fake: Tensor | None = None, opt: DOptions | None = None,
                       fake: Tensor | None = None) -> dict[str, Tensor]:
    """One update of D on a real and a generated minibatch. G is frozen: its parameters get no gradient.
    ``fake``: G(z, y_fake) already computed by the caller (``--reuse-fakes``); D sees it detached."""
    opt = opt or DOptions()
    sees = opt.d_input()
    G.requires_grad_(False)
    try:
        with autocast():
            if fake is not None:
                fresh = fake.detach()
            else:
                with torch.no_grad():
                    fresh = G(z, y_fake).float()  # (B, C, H, W), a constant for this step
            fake, y_d = opt.replay.mix(fresh, y_fake) if opt.replay is not None else (fresh, y_fake)
            real_in, fake_in = sees(real), sees(fake)
            real_logits, fake_logits = D(real_in, y_real).float(), D(fake_in, y_d).float()  # (B,), (B,)
        if opt.label_smoothing > 0:
            loss = d_loss_gan_smoothed(real_logits, fake_logits, opt.label_smoothing)
        else:
            loss = objective.d_loss(real_logits, fake_logits)
        extra: dict[str, Tensor] = {}
        if opt.gp_weight > 0:
            # Interpolates between real and this step's fresh fakes (same labels as the real batch).
            gp = gradient_penalty(D, real_in, sees(fresh), y_real, one_sided=opt.gp_one_sided)
            loss = loss + opt.gp_weight * gp
            extra["GP"] = gp.detach()
        if opt.r1_weight > 0:
            r1 = r1_penalty(D, real_in.detach(), y_real)
            loss = loss + opt.r1_weight * r1
            extra["R1"] = r1.detach()
        if opt.r2_weight > 0:
            r2 = r2_penalty(D, fake_in.detach(), y_d)
            loss = loss + opt.r2_weight * r2
            extra["R2"] = r2.detach()
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = _grad_norm(D)  # ||dloss_D/dtheta_D||: explodes before a divergence, vanishes when D is stuck
        opt_d.step()
        if opt.clip > 0:
            with torch.no_grad():
                for p in D.parameters():
                    p.clamp_(-opt.clip, opt.clip)
        if opt.replay is not None:
            opt.replay.push(fresh, y_fake)
    finally:
        G.requires_grad_(True)
    stats = {"loss_D": loss.detach(), "grad_D": grad_norm, **extra}
    rl, fl = real_logits.detach(), fake_logits.detach()
    if objective.probabilistic:
        stats.update(discriminator_stats(rl, fl))
    else:
        stats.update({"D_real": rl.mean(), "D_fake": fl.mean()})  # raw critic outputs
    return stats


def generator_step(G: nn.Module, D: nn.Module, objective: Objective, z: Tensor, opt_g: torch.optim.Optimizer,
                   autocast=contextlib.nullcontext, y: Tensor | None = None, real: Tensor | None = None,
                   y_real: Tensor | None = None, augment: tuple[str, ...] = (),
                   noise_std: float = 0.0, sees: DInput | None = None, fake: Tensor | None = None
                   ) -> dict[str, Tensor]:
    """One update of G through D's judgement. D is frozen: gradients pass through it to G's
    output, but D's parameters get none. ``real`` is needed only by relativistic objectives.
    ``sees``: what D sees, as in D's step (else built from ``augment`` and ``noise_std``).
    ``fake``: G(z, y) with its graph, from the forward pass D's step already used (``--reuse-fakes``)."""
    sees = sees if sees is not None else DInput(augment, noise_std)
    D.requires_grad_(False)
    try:
        with autocast():
            fake_logits = D(sees(G(z, y) if fake is None else fake), y).float()  # (B,)
            real_logits = None
            if objective.g_needs_real:
                with torch.no_grad():
                    real_logits = D(sees(real), y_real).float()
        loss = objective.g_loss(fake_logits, real_logits)
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = _grad_norm(G)  # ||dloss_G/dtheta_G||: tends to 0 when D wins and the loss saturates
        opt_g.step()
    finally:
        D.requires_grad_(True)
    return {"loss_G": loss.detach(), "grad_G": grad_norm}


@torch.no_grad()
def _grad_norm(m: nn.Module) -> Tensor:
    grads = [p.grad.detach() for p in m.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    # One fused call for every tensor's norm (the loop calls this on every step).
    return torch.linalg.vector_norm(torch.stack([n.float() for n in torch._foreach_norm(grads)]))


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    """G_ema <- beta * G_ema + (1 - beta) * G for weights; buffers (BatchNorm statistics) are copied."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.lerp_(p, 1.0 - beta)
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)
