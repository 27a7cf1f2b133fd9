"""Gaussian Parzen-window log-likelihood, the evaluation of the original GAN paper.

Goodfellow et al. 2014, "Generative Adversarial Nets" (NeurIPS), Sec. 5 and Table 1, after
Breuleux, Bengio & Vincent 2011, "Quickly Generating Representative Samples from an RBM-Derived
Process" (Neural Computation): fit a Gaussian kernel density estimate with an isotropic
bandwidth sigma to N generated samples s_i and report the mean log-likelihood of the test set,

    log p(x) = logsumexp_i(-|x - s_i|^2 / (2 sigma^2)) - log N - (d/2) log(2 pi sigma^2),

in nats per example, with sigma chosen by maximising the likelihood of a validation set. Pixels
are scaled to [0, 1]: the paper reports 225 +- 2 on the MNIST test set with 10,000 samples
(the +- is the standard error over test examples). uint8 inputs are divided by 255 here; float
inputs are used as given, so scale them to [0, 1] yourself (``images / 255``, or
``(x + 1) / 2`` for a generator's [-1, 1] output) to compare with the paper.

Theis, van den Oord & Bethge 2016 ("A note on the evaluation of generative models", ICLR) show
that this estimate is far from the true log-likelihood in high dimensions and can rank models
wrongly (a window on k-means centroids scores higher than one on real data), so it is here for reproducing
the 2014 paper, not as a recommended metric.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import GanworksError
from .frechet import as_float64, check_same_dim, loaded_torch

if TYPE_CHECKING:
    from .inputs import MetricInputs

__all__ = ["DEFAULT_SIGMAS", "parzen_log_likelihood", "parzen_select_sigma"]

#: The bandwidths the 2014 code searches: 10 values log-spaced from 0.1 to 1.
DEFAULT_SIGMAS = np.logspace(-1, 0, 10)
_BLOCK_ELEMENTS = 1 << 22  # doubles per distance block when batch_size is None (32 MB)


def _pixels(x, name: str) -> np.ndarray:
    """(N, ...) as float64 (N, D); uint8 images are scaled to [0, 1]."""
    torch = loaded_torch()
    is_u8 = (torch is not None and isinstance(x, torch.Tensor) and x.dtype == torch.uint8) or \
        (isinstance(x, np.ndarray) and x.dtype == np.uint8)
    a = as_float64(x, name, flatten=True)
    return a / 255.0 if is_u8 else a


def _sigmas(sigmas) -> np.ndarray:
    s = np.atleast_1d(np.asarray(sigmas, dtype=np.float64))
    if s.ndim != 1 or len(s) == 0 or not (np.isfinite(s).all() and (s > 0).all()):
        raise GanworksError(f"sigmas must be positive finite numbers; got {sigmas!r}")
    return s


def _log_p(samples: np.ndarray, test: np.ndarray, sigmas: np.ndarray, batch_size: int | None) -> np.ndarray:
    """log p(test_j) under the Parzen window for each sigma: (M, S), float64."""
    import torch  # here, not at the top: importing the metrics package must not load torch

    check_same_dim(samples, test, "samples and test")
    n, d = samples.shape
    if batch_size is None:
        batch_size = max(1, _BLOCK_ELEMENTS // n)
    elif int(batch_size) < 1:
        raise GanworksError(f"batch_size must be a positive number of rows; got {batch_size}")
    center = samples.mean(0)  # distances are shift-invariant; centring limits cancellation below
    s = torch.from_numpy(samples - center)
    t = torch.from_numpy(test - center)
    s_sq = (s * s).sum(1)
    out = torch.empty(len(t), len(sigmas), dtype=torch.float64)
    for j0 in range(0, len(t), int(batch_size)):
        tb = t[j0:j0 + int(batch_size)]
        d2 = ((tb * tb).sum(1)[:, None] + s_sq[None, :] - 2.0 * (tb @ s.T)).clamp_min_(0.0)
        for k, sigma in enumerate(sigmas.tolist()):
            out[j0:j0 + len(tb), k] = torch.logsumexp(d2 * (-0.5 / sigma ** 2), dim=1)
    norm = -math.log(n) - 0.5 * d * np.log(2.0 * math.pi * sigmas ** 2)  # (S,)
    return out.numpy() + norm[None, :]


def parzen_log_likelihood(samples, test, *, sigma: float, batch_size: int | None = None) -> tuple[float, float]:
    """(mean log-likelihood in nats per example, its standard error) of ``test`` under a Parzen window.

    Goodfellow et al. 2014 / Breuleux et al. 2011. ``samples`` (N, ...) are the generated
    points or images that the window is centred on, ``test`` (M, ...) the held-out data; both are
    flattened to vectors, and uint8 is scaled to [0, 1]. The standard error is std / sqrt(M)
    (numpy's ddof=0, as in the 2014 code). Computed with torch in float64 on blocks of
    ``batch_size`` test rows (None: automatic, about 32 MB per block) with logsumexp; the result
    does not depend on ``batch_size`` (beyond rounding in the last bits). Higher is better. Pick ``sigma`` with
    :func:`parzen_select_sigma` on a validation set, never on the test set.
    """
    samples, test = _pixels(samples, "samples"), _pixels(test, "test")
    ll = _log_p(samples, test, _sigmas(sigma), batch_size)[:, 0]
    return float(ll.mean()), float(ll.std() / math.sqrt(len(ll)))


def parzen_select_sigma(samples, validation, sigmas=DEFAULT_SIGMAS, *, batch_size: int | None = None) -> float:
    """The sigma in ``sigmas`` that maximises the mean log-likelihood of ``validation``.

    The 2014 code's cross-validation: a grid search (default ``np.logspace(-1, 0, 10)``, for pixels
    in [0, 1]); the first of equal maxima wins. The distances are computed once and reused for
    every sigma. ``batch_size`` as in :func:`parzen_log_likelihood`.
    """
    samples, validation = _pixels(samples, "samples"), _pixels(validation, "validation")
    sig = _sigmas(sigmas)
    means = _log_p(samples, validation, sig, batch_size).mean(0)
    return float(sig[int(np.argmax(means))])


# ------------------------------------------------------------------------- in an evaluation
#: Validation images (the end of the training split); without a test split, as many test images too.
PARZEN_VALIDATION = 1_000
PARZEN_TEST_NO_SPLIT = 1_000


def parzen_sets(data: str, splits, load_split: Callable[[str], np.ndarray]
                ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(validation images, test images, description) of dataset ``data`` for the Parzen-window estimate."""
    train = load_split("train")
    if "test" in splits:
        test = load_split("test")
        val = train[-PARZEN_VALIDATION:]
        desc = {"validation": {"dataset": data, "split": "train", "count": len(val),
                               "description": f"the last {len(val):,} images of the training split"},
                "test": {"dataset": data, "split": "test", "count": len(test),
                         "description": "the whole test split"}}
        return val, test, desc
    perm = np.random.default_rng(0).permutation(len(train))
    nv = min(PARZEN_VALIDATION, len(train) // 2)
    nt = min(PARZEN_TEST_NO_SPLIT, len(train) - nv)
    val, test = train[np.sort(perm[:nv])], train[np.sort(perm[nv:nv + nt])]
    note = (f"{data} has no test split: {nv:,} and {nt:,} disjoint training images, from a fixed permutation "
            "(seed 0); a GAN trained on this split saw them, so the estimate is optimistic")
    desc = {"validation": {"dataset": data, "split": "train (subset)", "count": nv, "description": note},
            "test": {"dataset": data, "split": "train (subset, disjoint from validation)", "count": nt,
                     "description": note}}
    return val, test, desc


def compute_parzen(x: MetricInputs) -> tuple[dict, dict]:
    """Sigma chosen on validation images, then the test images' log-likelihood: (values, provenance)."""
    val, test, desc = parzen_sets(x.data, x.spec.splits, x.load_split)
    x.log(f"parzen: choosing sigma on {len(val):,} validation images, then {len(test):,} test images")
    sigma = parzen_select_sigma(x.fakes, val, DEFAULT_SIGMAS)
    ll, se = parzen_log_likelihood(x.fakes, test, sigma=sigma)
    edge = sigma in (float(DEFAULT_SIGMAS[0]), float(DEFAULT_SIGMAS[-1]))
    note = ({"note": "sigma is at the end of the grid: the samples may contain the test images themselves "
                     "(memorised), or be far from them"} if edge else {})
    values = {"log_likelihood": ll, "standard_error": se, "sigma": sigma, "sigmas": [float(s) for s in DEFAULT_SIGMAS],
              "sigma_at_grid_edge": edge, "units": "nats per test example, pixels in [0, 1]", **note}
    return values, {"extractor": None, "reference": {"dataset": x.data, "split": desc["test"]["split"],
                                                     "count": desc["test"]["count"], **desc}}


def format_parzen(r: dict) -> tuple[str, str]:
    return (f"{r['log_likelihood']:.1f} ± {r['standard_error']:.1f}",
            f"nats, sigma {r['sigma']:.3g}, {r['reference']['count']:,} test images")
