"""What one evaluation hands to each metric: the fake samples and what was computed from them once.

:func:`ganworks.metrics.evaluate.evaluate` fills a :class:`MetricInputs` (features and class
probabilities only when a chosen metric needs them, the reference statistics only for the
``features`` metrics) and calls every chosen metric's ``compute`` with it; a metric reads the
fields its ``input`` kind promises and nothing else. No torch here: the metric modules import
this for their type hints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["MetricInputs"]


@dataclass
class MetricInputs:
    """The inputs of the metrics of one evaluation (see the module docstring)."""

    data: str
    """The dataset's name."""
    spec: Any
    """Its registry entry (splits; for the 2-D mixtures, ``modes()`` and ``std``)."""
    fakes: np.ndarray
    """uint8 images (N, C, H, W), or float64 points (N, 2) for the 2-D mixtures."""
    seed: int
    """The evaluation's seed: it picks reference subsets and KID's subsets."""
    features: np.ndarray | None = None
    """Extractor features of the fakes, (N, D) (per channel: (N, 3D))."""
    probs: np.ndarray | None = None
    """Classifier probabilities of the fakes, (N, K) (per channel: (N, 3, K))."""
    per_channel: bool = False
    """True when a 1-channel classifier read each channel of colour images separately."""
    num_classes: int = 0
    """The classifier's number of classes."""
    extractor: dict[str, str] | None = None
    """Provenance of the extractor: name and weights sha256."""
    reference: dict[str, Any] | None = None
    """Provenance of the reference: dataset, split, count."""
    ref_stats: dict[str, np.ndarray] | None = None
    """Reference ``features``, ``probs``, ``mu``, ``cov``."""
    ref_subset: np.ndarray | None = None
    """min(N_ref, N_fake) reference feature rows chosen with ``seed`` (the k-NN metrics depend on both sizes)."""
    load_split: Callable[[str], np.ndarray] | None = None
    """Images of one split of the dataset, uint8 (N, C, H, W) (Parzen's validation and test sets)."""
    log: Callable[[str], None] = field(default=lambda s: None)
    """Progress lines."""
