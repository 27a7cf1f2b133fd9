"""Precision/recall and density/coverage: fidelity and diversity as separate numbers.

Both estimate each distribution's support ("manifold") as a union of balls around its samples,
each ball reaching to the sample's k-th nearest neighbour within its own set (the sample itself
excluded; duplicates count as neighbours at distance 0). Balls are closed: a point at exactly
the radius is inside. Distances are Euclidean, in float64.

- Precision and recall: Kynkäänniemi, Karras, Laine, Lehtinen & Aila 2019, "Improved Precision
  and Recall Metric for Assessing Generative Models" (NeurIPS). Precision is the fraction of
  fake samples inside the real manifold (are the samples realistic?), recall the fraction of
  real samples inside the fake manifold (is all of the data covered?). Swapping the sets swaps
  the two numbers.
- Density and coverage: Naeem, Oh, Uh, Choi & Yoo 2020, "Reliable Fidelity and Diversity
  Metrics for Generative Models" (ICML). Only the real set gets balls, so outliers among the
  fakes cannot inflate the fake manifold. Density counts how many real balls each fake sample
  falls in, divided by k (expected value 1 when the distributions are equal; it can exceed 1);
  coverage is the fraction of real balls that contain at least one fake sample. Not symmetric.
  (The reference code tests ``distance < radius``; closed balls differ only at exact ties.)

All pairwise distances are computed in blocks of ``chunk_size`` rows against the whole other set
(|x|^2 + |y|^2 - 2 x.y, after centring both sets on the real mean to limit cancellation), so
memory stays near ``chunk_size`` x N doubles: the default chunk keeps each block at about
32 MB, e.g. 10,000 x 10,000 sets of 128-d features never hold the full 800 MB matrix (peak
memory about 370 MB, 6 s for precision/recall on 2 CPU cores). Results do not depend on
``chunk_size``: the counts are identical, and distances differ at most in the last bit (BLAS may
round a 1-row product differently), which could only matter for a point exactly on a ball's edge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import GanworksError
from .frechet import as_float64, check_same_dim

if TYPE_CHECKING:
    from .inputs import MetricInputs

__all__ = ["density_coverage", "knn_radii", "precision_recall"]

_BLOCK_ELEMENTS = 1 << 22  # doubles per distance block when chunk_size is None (32 MB)


def _rows_per_chunk(n_cols: int, chunk_size: int | None) -> int:
    if chunk_size is None:
        return max(1, _BLOCK_ELEMENTS // max(n_cols, 1))
    if int(chunk_size) < 1:
        raise GanworksError(f"chunk_size must be a positive number of rows; got {chunk_size}")
    return int(chunk_size)


def _sq_dists(x: np.ndarray, y: np.ndarray, y_sq: np.ndarray) -> np.ndarray:
    d2 = (x * x).sum(1)[:, None] + y_sq[None, :] - 2.0 * (x @ y.T)
    return np.maximum(d2, 0.0, out=d2)


def _knn_radii_sq(x: np.ndarray, k: int, chunk_size: int | None, name: str) -> np.ndarray:
    n = len(x)
    if n < k + 1:
        raise GanworksError(f"{name} has {n} samples; the k-NN radius with k={k} needs at least {k + 1}")
    x_sq = (x * x).sum(1)
    out = np.empty(n)
    step = _rows_per_chunk(n, chunk_size)
    for i0 in range(0, n, step):
        i1 = min(i0 + step, n)
        d2 = _sq_dists(x[i0:i1], x, x_sq)
        d2[np.arange(i1 - i0), np.arange(i0, i1)] = 0.0  # self: exactly 0, so it is always index 0 below
        out[i0:i1] = np.partition(d2, k, axis=1)[:, k]
    return out


def _check_k(k: int) -> int:
    if int(k) != k or k < 1:
        raise GanworksError(f"k must be a positive integer; got {k}")
    return int(k)


def _prepare(real, fake) -> tuple[np.ndarray, np.ndarray]:
    real, fake = as_float64(real, "real"), as_float64(fake, "fake")
    check_same_dim(real, fake, "real and fake")
    center = real.mean(0)
    return real - center, fake - center


def knn_radii(x, *, k: int, chunk_size: int | None = None) -> np.ndarray:
    """Distance from each row of ``x`` (N, D) to its k-th nearest other row, shape (N,)."""
    k = _check_k(k)
    x = as_float64(x, "x")
    x = x - x.mean(0)
    return np.sqrt(_knn_radii_sq(x, k, chunk_size, "x"))


def precision_recall(real, fake, *, k: int = 3, chunk_size: int | None = None) -> tuple[float, float]:
    """(precision, recall) of ``fake`` (M, D) against ``real`` (N, D), each in [0, 1]; higher is better.

    Kynkäänniemi et al. 2019, with their default k = 3. precision = fraction of fake samples
    within the k-NN ball of at least one real sample; recall = fraction of real samples within
    the k-NN ball of at least one fake sample. ``precision_recall(b, a)`` is
    ``precision_recall(a, b)`` reversed. ``chunk_size``: rows per distance block (None: automatic).
    """
    k = _check_k(k)
    real, fake = _prepare(real, fake)
    r2_real = _knn_radii_sq(real, k, chunk_size, "real")
    r2_fake = _knn_radii_sq(fake, k, chunk_size, "fake")
    real_sq = (real * real).sum(1)
    fake_in = np.zeros(len(fake), dtype=bool)
    real_in = np.zeros(len(real), dtype=bool)
    step = _rows_per_chunk(len(real), chunk_size)
    for j0 in range(0, len(fake), step):  # one pass over the fake x real distances serves both
        j1 = min(j0 + step, len(fake))
        d2 = _sq_dists(fake[j0:j1], real, real_sq)
        fake_in[j0:j1] = (d2 <= r2_real[None, :]).any(1)
        real_in |= (d2 <= r2_fake[j0:j1, None]).any(0)
    return float(fake_in.mean()), float(real_in.mean())


def density_coverage(real, fake, *, k: int = 5, chunk_size: int | None = None) -> tuple[float, float]:
    """(density, coverage) of ``fake`` (M, D) against ``real`` (N, D); higher is better.

    Naeem et al. 2020, with their default k = 5. With B_i the ball around real sample i reaching
    its k-th nearest real neighbour: density = sum_j #{i : fake_j in B_i} / (k M), which is 1 in
    expectation when fake and real come from one distribution and can exceed 1; coverage =
    fraction of real i whose B_i holds at least one fake sample, in [0, 1] (for equal
    distributions it approaches 1 - 2^-k as N = M grows). ``chunk_size``: rows per distance block.
    """
    k = _check_k(k)
    real, fake = _prepare(real, fake)
    r2 = _knn_radii_sq(real, k, chunk_size, "real")
    fake_sq = (fake * fake).sum(1)
    counts = np.zeros(len(fake), dtype=np.int64)
    covered = np.zeros(len(real), dtype=bool)
    step = _rows_per_chunk(len(fake), chunk_size)
    for i0 in range(0, len(real), step):
        i1 = min(i0 + step, len(real))
        inside = _sq_dists(real[i0:i1], fake, fake_sq) <= r2[i0:i1, None]
        counts += inside.sum(0)
        covered[i0:i1] = inside.any(1)
    return float(counts.sum() / (k * len(fake))), float(covered.mean())


# ------------------------------------------------------------------------- in an evaluation
#: The k of an evaluation's k-NN balls, as in the two papers.
PR_K, DC_K = 3, 5


def _subset_provenance(x: MetricInputs) -> dict:
    """The reference rows these metrics read: a subset of as many rows as there are fakes."""
    return {"extractor": x.extractor, "reference": {**x.reference, "count": int(len(x.ref_subset)),
                                                    "subset_of": x.reference["count"]}}


def compute_pr(x: MetricInputs) -> tuple[dict, dict]:
    """Precision and recall of the fakes' features against the reference subset: (values, provenance)."""
    p, r = precision_recall(x.ref_subset, x.features, k=PR_K)
    return {"precision": p, "recall": r, "k": PR_K}, _subset_provenance(x)


def format_pr(r: dict) -> tuple[str, str]:
    return f"P {r['precision']:.3f}  R {r['recall']:.3f}", f"k={r['k']}"


def compute_dc(x: MetricInputs) -> tuple[dict, dict]:
    """Density and coverage of the fakes' features against the reference subset: (values, provenance)."""
    d, c = density_coverage(x.ref_subset, x.features, k=DC_K)
    return {"density": d, "coverage": c, "k": DC_K}, _subset_provenance(x)


def format_dc(r: dict) -> tuple[str, str]:
    return f"D {r['density']:.3f}  C {r['coverage']:.3f}", f"k={r['k']}"
