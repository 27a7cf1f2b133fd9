"""Fréchet distance between two sets of features, and the input checks shared by the metrics.

Fréchet distance (FD): Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule
Converge to a Local Nash Equilibrium" (NeurIPS), who call it FID when the features come from
Inception-v3. Both sets are summarised by a Gaussian (mean, covariance) and the distance is the
Fréchet (2-Wasserstein) distance between the two Gaussians (Dowson & Landau 1982):

    FD = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)

FD is biased upwards for a finite number of samples (Chong & Forsyth 2020, "Effectively Unbiased
FID and Inception Score and where to find them"), so only compare values computed with the same
number of samples and the same feature extractor.
"""

from __future__ import annotations

import sys
import warnings
from typing import TYPE_CHECKING

import numpy as np

from ..errors import GanworksError

if TYPE_CHECKING:
    from .inputs import MetricInputs

__all__ = ["as_float64", "feature_statistics", "frechet_distance", "frechet_distance_from_statistics"]


def loaded_torch():
    """torch if something imported it already, else None. An object can only be a tensor once torch is
    loaded, so the metrics check for tensors this way and stay importable and usable without torch."""
    return sys.modules.get("torch")


def as_float64(x, name: str, *, ndim: int | None = 2, flatten: bool = False, min_rows: int = 1) -> np.ndarray:
    """``x`` (numpy array, torch tensor or nested list) as a finite float64 numpy array.

    ``flatten=True`` turns (N, ...) into (N, prod(...)) first (images into pixel vectors).
    Raises :class:`~ganworks.errors.GanworksError` naming ``name`` when the shape is wrong,
    there are fewer than ``min_rows`` rows, or a value is NaN or infinite.
    """
    torch = loaded_torch()
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    a = np.asarray(x, dtype=np.float64)
    if flatten and a.ndim >= 2:
        a = a.reshape(len(a), -1)
    if ndim is not None and a.ndim != ndim:
        want = "(N, D)" if ndim == 2 else f"{ndim}-D"
        raise GanworksError(f"{name} must be {want}; got shape {tuple(a.shape)}")
    if a.ndim >= 1 and len(a) < min_rows:
        raise GanworksError(f"{name} needs at least {min_rows} rows; got {len(a)}")
    if not np.isfinite(a).all():
        raise GanworksError(f"{name} contains NaN or infinite values ({int((~np.isfinite(a)).sum())} of {a.size})")
    return a


def check_same_dim(a: np.ndarray, b: np.ndarray, names: str = "the two sets") -> None:
    """Raise unless the two (N, D) arrays have the same D."""
    if a.shape[1] != b.shape[1]:
        raise GanworksError(f"{names} have different feature dimensions: {a.shape[1]} and {b.shape[1]}")


def feature_statistics(x) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of the rows of ``x`` (N, D), float64.

    Cache these for a fixed reference set and pass them to
    :func:`frechet_distance_from_statistics`. Warns when N <= D: the sample covariance then
    has rank at most N - 1 < D, it is singular and FD is strongly biased.
    """
    x = as_float64(x, "features", min_rows=2)
    n, d = x.shape
    if n <= d:
        warnings.warn(f"Frechet distance from {n} samples of {d}-d features: the covariance has rank at most "
                      f"{n - 1} < {d}, so it is singular and FD is biased; use more than {d} samples",
                      stacklevel=3)
    mu = x.mean(0)
    xc = x - mu
    return mu, (xc.T @ xc) / (n - 1)


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (negative rounding clipped)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance_from_statistics(mu_a, cov_a, mu_b, cov_b) -> float:
    """FD between N(mu_a, cov_a) and N(mu_b, cov_b); see :func:`frechet_distance`."""
    mu_a, mu_b = as_float64(mu_a, "mu_a", ndim=1), as_float64(mu_b, "mu_b", ndim=1)
    cov_a, cov_b = as_float64(cov_a, "cov_a"), as_float64(cov_b, "cov_b")
    d = len(mu_a)
    if len(mu_b) != d or cov_a.shape != (d, d) or cov_b.shape != (d, d):
        raise GanworksError(f"statistics do not fit: means {len(mu_a)}, {len(mu_b)}; covariances "
                            f"{cov_a.shape}, {cov_b.shape}")
    # tr((S_a S_b)^1/2) = tr((S_a^1/2 S_b S_a^1/2)^1/2): the inner matrix is symmetric PSD, so
    # its square root comes from a symmetric eigendecomposition and is real by construction
    # (scipy.linalg.sqrtm on the non-symmetric S_a S_b returns tiny imaginary parts instead).
    ra = _sqrt_psd(cov_a)
    inner = ra @ cov_b @ ra
    cross = np.linalg.eigvalsh((inner + inner.T) / 2)
    diff = mu_a - mu_b
    fd = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.sqrt(np.clip(cross, 0.0, None)).sum()
    return float(max(fd, 0.0))  # identical sets give 0 up to rounding; never report -1e-13


def frechet_distance(a, b) -> float:
    """Fréchet distance between feature sets ``a`` (N, D) and ``b`` (M, D); lower is better.

    Heusel et al. 2017 (FID). Computed in float64; the matrix square root goes through
    symmetric eigendecompositions (no complex parts), and a result that rounding makes
    slightly negative is reported as 0, so identical sets give 0. Symmetric in ``a`` and ``b``.
    Warns (``UserWarning``) when a set has no more samples than dimensions, because its
    covariance is then singular and FD is biased. Accepts numpy arrays or torch tensors.
    """
    a, b = as_float64(a, "a", min_rows=2), as_float64(b, "b", min_rows=2)
    check_same_dim(a, b)
    return frechet_distance_from_statistics(*feature_statistics(a), *feature_statistics(b))


# ------------------------------------------------------------------------- in an evaluation
def short_number(x: float) -> str:
    """Four significant digits, or scientific notation for large values (the evaluation table)."""
    return f"{x:.4g}" if abs(x) < 1e5 else f"{x:.3e}"


def compute_fd(x: MetricInputs) -> tuple[dict, dict]:
    """FD of the fakes' features against the reference's cached mean and covariance: (values, provenance)."""
    mu, cov = feature_statistics(x.features)
    v = frechet_distance_from_statistics(x.ref_stats["mu"], x.ref_stats["cov"], mu, cov)
    return {"fd": v}, {"extractor": x.extractor, "reference": x.reference, "feature_dim": int(x.features.shape[1])}


def format_fd(r: dict) -> tuple[str, str]:
    return short_number(r["fd"]), ""
