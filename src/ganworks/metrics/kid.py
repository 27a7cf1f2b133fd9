"""Kernel Inception Distance (KID), with any feature extractor.

Bińkowski, Sutherland, Arbel & Gretton 2018, "Demystifying MMD GANs" (ICLR): the squared
maximum mean discrepancy between the two feature distributions under the cubic polynomial kernel

    k(x, y) = (x . y / d + 1)^3          (d = feature dimension)

estimated without bias (Gretton et al. 2012, Lemma 6) on ``subsets`` random subsets of
``subset_size`` samples from each set, drawn without replacement. Unlike FD it has an unbiased
estimator, so its expectation does not depend on the number of samples and it can be negative
(its expectation is 0 when the two distributions are equal).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import GanworksError
from .frechet import as_float64, check_same_dim, short_number

if TYPE_CHECKING:
    from .inputs import MetricInputs

__all__ = ["kid", "mmd2_unbiased"]


def _kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    t = x @ y.T
    t /= x.shape[1]
    t += 1.0
    k = t * t
    k *= t  # (x.y/d + 1)^3, in place: faster than ** 3 on large blocks
    return k


def mmd2_unbiased(x, y) -> float:
    """Unbiased MMD^2 of two equal-sized samples ``x``, ``y`` (m, d) with the KID kernel.

    (sum_{i != j} k(x_i, x_j) + sum_{i != j} k(y_i, y_j)) / (m (m - 1)) - 2 sum_{i, j} k(x_i, y_j) / m^2.
    Memory: three m x m float64 matrices.
    """
    x, y = as_float64(x, "x", min_rows=2), as_float64(y, "y", min_rows=2)
    check_same_dim(x, y)
    if len(x) != len(y):
        raise GanworksError(f"mmd2_unbiased needs equal-sized samples; got {len(x)} and {len(y)}")
    return _mmd2(x, y)


def _mmd2(x: np.ndarray, y: np.ndarray) -> float:
    m = len(x)
    kxx, kyy, kxy = _kernel(x, x), _kernel(y, y), _kernel(x, y)
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2.0 * kxy.mean())


def kid(a, b, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID between feature sets ``a`` (N, D) and ``b`` (M, D): (mean, std) over subsets.

    Bińkowski et al. 2018. Each of ``subsets`` rounds draws ``subset_size`` rows of ``a`` and of
    ``b`` without replacement and computes the unbiased MMD^2 (:func:`mmd2_unbiased`); the result
    is the mean and the standard deviation (ddof=0, as in the reference implementations) of
    those values. ``subset_size`` is clipped to min(N, M). The draws come from
    ``numpy.random.default_rng(seed)``, so the result is deterministic given ``seed``. When both
    sets have exactly ``subset_size`` rows every round sees the whole sets, so one round is
    computed and the std is 0. Symmetric in ``a`` and ``b`` in distribution (exactly so in that
    whole-set case). Lower is better; values are often reported x 1000.
    """
    a, b = as_float64(a, "a", min_rows=2), as_float64(b, "b", min_rows=2)
    check_same_dim(a, b)
    if subsets < 1:
        raise GanworksError(f"kid needs subsets >= 1; got {subsets}")
    m = min(int(subset_size), len(a), len(b))
    if m < 2:
        raise GanworksError(f"kid needs subset_size >= 2; got {subset_size}")
    if len(a) == m and len(b) == m:
        return _mmd2(a, b), 0.0
    rng = np.random.default_rng(seed)
    vals = np.empty(subsets)
    for i in range(subsets):
        ia = rng.choice(len(a), m, replace=False)
        ib = rng.choice(len(b), m, replace=False)
        vals[i] = _mmd2(a[ia], b[ib])
    return float(vals.mean()), float(vals.std())


# ------------------------------------------------------------------------- in an evaluation
#: An evaluation's KID: 100 subsets of 1,000 rows (fewer when a set is smaller), as in the reference code.
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000


def compute_kid(x: MetricInputs) -> tuple[dict, dict]:
    """KID of the fakes' features against all reference features: (values, provenance)."""
    ref = x.ref_stats["features"]
    size = min(KID_SUBSET_SIZE, len(ref), len(x.fakes))
    mean, std = kid(ref, x.features, subsets=KID_SUBSETS, subset_size=size, seed=x.seed)
    return ({"kid": mean, "kid_std": std, "subsets": KID_SUBSETS, "subset_size": size},
            {"extractor": x.extractor, "reference": x.reference})


def format_kid(r: dict) -> tuple[str, str]:
    return f"{short_number(r['kid'])} ± {short_number(r['kid_std'])}", f"{r['subsets']} subsets of {r['subset_size']}"
