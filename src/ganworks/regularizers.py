"""Gradient regularizers of the discriminator, added to D's loss in its step.

All differentiate D's output with respect to its input with ``create_graph=True``, so the
returned penalty can be backpropagated into D's parameters (a double backward).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def _call(D: Callable[..., Tensor], x: Tensor, y: Tensor | None) -> Tensor:
    return D(x) if y is None else D(x, y)


def _input_grad(D: Callable[..., Tensor], x: Tensor, y: Tensor | None) -> Tensor:
    """grad_x D(x) per sample, flattened to (B, features); D's outputs are independent per sample."""
    x = x.detach().requires_grad_(True)
    out = _call(D, x, y).float()
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1)


def gradient_penalty(D: Callable[..., Tensor], real: Tensor, fake: Tensor, y: Tensor | None = None, *,
                     one_sided: bool = False, eps: Tensor | None = None) -> Tensor:
    """WGAN-GP's penalty E[(||grad_x D(x_hat)||_2 - 1)^2] (Gulrajani et al. 2017, Eq. 3 / Algorithm 1).

    x_hat = eps * real + (1 - eps) * fake with ONE eps ~ U[0, 1] per sample, i.e. a random point on
    the segment between a real and a fake sample. ``eps`` fixes it (shape (B,) or (B, 1, ..., 1)).
    ``one_sided`` penalizes only norms above 1, E[max(0, ||grad|| - 1)^2] (Petzka et al. 2018, On the
    regularization of Wasserstein GANs). ``y`` (class labels) is passed on as D(x, y) when given.
    Inputs may have any shape (B, ...); real and fake are treated as constants. The caller
    multiplies by the weight lambda (10 in the paper). D must treat samples independently (no
    BatchNorm), or the per-sample gradient norm loses its meaning.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake shapes differ: {tuple(real.shape)} vs {tuple(fake.shape)}")
    bshape = (real.shape[0],) + (1,) * (real.dim() - 1)  # (B, 1, ..., 1): broadcast over a sample
    if eps is None:
        eps = torch.rand(bshape, device=real.device, dtype=real.dtype)
    elif eps.numel() != real.shape[0]:
        raise ValueError(f"eps needs one value per sample ({real.shape[0]}), got shape {tuple(eps.shape)}")
    eps = eps.reshape(bshape).to(real)
    x_hat = eps * real.detach() + (1 - eps) * fake.detach()
    norm = _input_grad(D, x_hat, y).norm(2, dim=1)  # (B,) ||grad_x D(x_hat)||_2
    excess = torch.relu(norm - 1) if one_sided else norm - 1
    return excess.pow(2).mean()


def r1_penalty(D: Callable[..., Tensor], real: Tensor, y: Tensor | None = None) -> Tensor:
    """R1 = E_{x ~ P_data} ||grad_x D(x)||^2, the batch mean of the squared gradient norm on real data
    (Mescheder, Geiger & Nowozin 2018, Which Training Methods for GANs do actually Converge?).

    The paper's regularizer is (gamma / 2) * R1: the caller multiplies by gamma / 2, and, when it
    applies the penalty only every k-th D step (lazy regularization, Karras et al. 2020), also by k
    so the regularizer keeps its average strength. ``y`` is passed on as D(x, y) when given.
    """
    return _input_grad(D, real, y).pow(2).sum(1).mean()


def r2_penalty(D: Callable[..., Tensor], fake: Tensor, y: Tensor | None = None) -> Tensor:
    """R2 = E_{x ~ P_G} ||grad_x D(x)||^2, R1's counterpart on generated data (Mescheder, Geiger &
    Nowozin 2018 define both; Huang et al. 2024 show that the relativistic pairing loss needs R1 and R2
    together to converge, and build R3GAN on them).

    The fakes are a constant here (no gradient reaches G). Weighting as for :func:`r1_penalty`: the
    caller multiplies by gamma / 2 (and by the lazy interval). ``y`` is passed on as D(x, y) when given.
    """
    return _input_grad(D, fake, y).pow(2).sum(1).mean()
