"""Metric names, the default set and their validation, without the evaluation machinery.

``ganworks.config`` checks ``--eval-metrics`` and the CLI builds ``--metrics`` from this module:
it reads :data:`ganworks.metrics.METRICS` (numpy only) and never imports torch, the feature
extractors or :mod:`ganworks.metrics.evaluate`.

>>> from ganworks.metrics.registry import parse_metrics
>>> parse_metrics("fd, kid,fd")
['fd', 'kid']
"""

from __future__ import annotations

from ..errors import GanworksError
from . import METRICS, get_metric

__all__ = ["DEFAULT_METRICS", "METRIC_NAMES", "parse_metrics"]

#: Every metric name, in the registry's order.
METRIC_NAMES: tuple[str, ...] = tuple(METRICS)
#: What ``ganworks evaluate`` computes without ``--metrics`` (parzen is slower and mostly historical).
DEFAULT_METRICS = ("fd", "kid", "pr", "dc", "score", "modes")


def parse_metrics(metrics) -> list[str]:
    """``"fd,kid"`` or ``["fd", "kid"]`` -> validated names in order, without repeats."""
    names = [m.strip() for m in metrics.split(",")] if isinstance(metrics, str) else [str(m) for m in metrics]
    names = [m for m in names if m]
    if not names:
        raise GanworksError(f"no metrics given; valid: {', '.join(sorted(METRICS))}")
    out: list[str] = []
    for m in names:
        get_metric(m)  # unknown -> "unknown metric 'x'; valid: ..."
        if m not in out:
            out.append(m)
    return out
