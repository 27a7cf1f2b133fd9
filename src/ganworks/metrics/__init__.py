"""Sample-quality metrics for GANs: pure functions of features, probabilities, pixels or points.

Every function takes numpy arrays or torch tensors, works in float64 numpy (Parzen: float64
torch), and has its paper cited in its docstring:

========================  =========================================  ==========================================
name in :data:`METRICS`   function                                   needs
========================  =========================================  ==========================================
``fd``                    :func:`frechet_distance`                   features of real and fake samples
``kid``                   :func:`kid`                                features of real and fake samples
``pr``                    :func:`precision_recall`                   features of real and fake samples
``dc``                    :func:`density_coverage`                   features of real and fake samples
``score``                 :func:`classifier_score`                   a classifier's probabilities on fakes
``modes``                 :func:`class_histogram`                    a classifier's probabilities (or labels)
``parzen``                :func:`parzen_log_likelihood`              pixels of fakes and of held-out real data
``mixture``               :func:`mixture_modes`                      2-D points and the mixture's modes
========================  =========================================  ==========================================

:func:`stacked_modes` (Stacked MNIST) needs one classifier's probabilities per colour channel
and is not in the registry. Feature extractors and the end-to-end evaluation live in other
modules of this package; this one imports none of them, and none of the modules it imports loads
torch at import time.

Each entry of :data:`METRICS` also names how the metric runs inside
:func:`ganworks.metrics.evaluate.evaluate`: ``compute`` takes the evaluation's
:class:`~ganworks.metrics.inputs.MetricInputs` and returns (values, provenance), ``format`` turns
a result into the (value, detail) cells of the text table. Both live beside the metric, in its
own module. Adding a metric = its module (function, ``compute_x``, ``format_x``) + one entry below.

>>> import numpy as np
>>> from ganworks.metrics import frechet_distance, METRICS
>>> x = np.random.default_rng(0).normal(size=(500, 8))
>>> frechet_distance(x, x) < 1e-9
True
>>> METRICS["kid"].input
'features'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

from ..errors import unknown_name
from .classes import (COLLAPSE_RULE, class_histogram, classifier_score, compute_modes, compute_score, format_modes,
                      format_score, stacked_modes)
from .frechet import compute_fd, feature_statistics, format_fd, frechet_distance, frechet_distance_from_statistics
from .kid import compute_kid, format_kid, kid, mmd2_unbiased
from .mixtures import compute_mixture, format_mixture, mixture_modes
from .parzen import DEFAULT_SIGMAS, compute_parzen, format_parzen, parzen_log_likelihood, parzen_select_sigma
from .prdc import compute_dc, compute_pr, density_coverage, format_dc, format_pr, knn_radii, precision_recall

__all__ = [
    "COLLAPSE_RULE",
    "DEFAULT_SIGMAS",
    "INPUT_KINDS",
    "METRICS",
    "MetricSpec",
    "class_histogram",
    "classifier_score",
    "density_coverage",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_from_statistics",
    "get_metric",
    "kid",
    "knn_radii",
    "mixture_modes",
    "mmd2_unbiased",
    "parzen_log_likelihood",
    "parzen_select_sigma",
    "precision_recall",
    "stacked_modes",
]

InputKind = Literal["features", "probs", "pixels", "points"]
#: What a metric consumes: ``features`` (an extractor's embeddings of real and fake samples),
#: ``probs`` (a classifier's softmax on fake samples), ``pixels`` (fake and held-out real images),
#: ``points`` (fake 2-D points of a toy mixture with known modes).
INPUT_KINDS: tuple[str, ...] = ("features", "probs", "pixels", "points")


@dataclass(frozen=True)
class MetricSpec:
    """How to call one metric and how to read its result.

    ``input``: one of :data:`INPUT_KINDS` (what an evaluation computes for it). ``reference``:
    what besides the fake samples it needs (None: nothing). ``outputs``: the names of the
    returned values, in order (a single name for a float, several for a tuple; ``dict`` metrics
    name their headline keys); the first is the result's ``value``. ``higher_is_better``: for the
    first output. ``compute``: ``MetricInputs -> (values, provenance)`` in an evaluation;
    ``format``: an evaluation's result for this metric -> (value, detail) cells of the table.
    """

    name: str
    input: InputKind
    fn: Callable
    reference: str | None
    outputs: tuple[str, ...]
    higher_is_better: bool
    citation: str
    summary: str
    compute: Callable[..., tuple[dict, dict]]
    format: Callable[[dict], tuple[str, str]]


METRICS: dict[str, MetricSpec] = {s.name: s for s in (
    MetricSpec("fd", "features", frechet_distance, "real features", ("fd",), False,
               "Heusel et al. 2017 (FID)", "Frechet distance between Gaussians fitted to the two feature sets",
               compute_fd, format_fd),
    MetricSpec("kid", "features", kid, "real features", ("kid", "kid_std"), False,
               "Binkowski et al. 2018", "unbiased MMD^2 with a cubic polynomial kernel, mean and std over subsets",
               compute_kid, format_kid),
    MetricSpec("pr", "features", precision_recall, "real features", ("precision", "recall"), True,
               "Kynkaanniemi et al. 2019", "fraction of fakes on the real k-NN manifold, and of reals on the fake one",
               compute_pr, format_pr),
    MetricSpec("dc", "features", density_coverage, "real features", ("density", "coverage"), True,
               "Naeem et al. 2020", "k-NN density and coverage of the real balls by fakes",
               compute_dc, format_dc),
    MetricSpec("score", "probs", classifier_score, None, ("score",), True,
               "Salimans et al. 2016 (Inception score)", "exp E KL(p(y|x) || p(y)) with a domain classifier, in [1, K]",
               compute_score, format_score),
    MetricSpec("modes", "probs", class_histogram, None, ("modes_covered", "kl_to_uniform", "collapsed"), True,
               "mode counting as in Srivastava et al. 2017; Lin et al. 2018",
               "class histogram, classes covered, KL to uniform and a collapse verdict; needs num_classes",
               compute_modes, format_modes),
    MetricSpec("parzen", "pixels", parzen_log_likelihood, "held-out real pixels (sigma chosen on validation data)",
               ("log_likelihood", "standard_error"), True, "Goodfellow et al. 2014; Breuleux et al. 2011",
               "Gaussian Parzen-window log-likelihood of test data in nats, pixels in [0, 1]",
               compute_parzen, format_parzen),
    MetricSpec("mixture", "points", mixture_modes, "the mixture's modes and std",
               ("modes_captured", "high_quality_fraction", "reverse_kl"), True,
               "Srivastava et al. 2017; Lin et al. 2018 (PacGAN)",
               "modes with a sample within 3 std per axis, share of such samples, KL(mode histogram || uniform)",
               compute_mixture, format_mixture),
)}


def get_metric(name: str) -> MetricSpec:
    """The :class:`MetricSpec` called ``name``; a :class:`~ganworks.errors.GanworksError` listing the valid names
    otherwise."""
    if name not in METRICS:
        raise unknown_name("metric", name, METRICS)
    return METRICS[name]
