"""The theory lab: one command per claim of GAN theory, measured and drawn.

>>> from ganworks.lab import run_experiment
>>> result = run_experiment("optimal-d", seed=0, out="optimal-d.png")
>>> [c["ok"] for c in result["checks"]]

Each experiment returns JSON-able numbers, with every measured value next to its closed form
(``checks``: claim, measured, closed form or bound, tolerance, ok), and draws one figure
(``training-movie``: a GIF and a standalone HTML page). ``quick`` runs a smaller version.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .._version import __version__
from ..errors import unknown_name


@dataclass(frozen=True)
class Experiment:
    name: str
    summary: str
    citation: str
    run: Callable[..., dict[str, Any]]
    figure_suffix: str = ".png"


def _theory(fn_name: str) -> Callable[..., dict[str, Any]]:
    def run(**kw):
        from . import theory

        return getattr(theory, fn_name)(**kw)
    return run


def _modes(**kw):
    from .modes import mode_collapse

    return mode_collapse(**kw)


def _discrete(**kw):
    from .discrete import discrete_gradient

    return discrete_gradient(**kw)


def _movie(**kw):
    from .movie import training_movie

    return training_movie(**kw)


EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment("optimal-d", "fix p_g, train D: D(x) against D*(x) = p_data / (p_data + p_g)",
               "Goodfellow et al. 2014, Prop. 1 and Fig. 1b", _theory("optimal_d")),
    Experiment("equilibrium", "V(D*, G) = -log 4 + 2 JSD for several p_g; D = 1/2 and V = -log 4 at p_g = p_data",
               "Goodfellow et al. 2014, Theorem 1", _theory("equilibrium")),
    Experiment("js-saturation", "parallel lines: JS = log 2 for every theta != 0 while W = |theta|; 0 <= JSD <= log 2",
               "Arjovsky, Chintala & Bottou 2017, Example 1", _theory("js_saturation")),
    Experiment("vanishing-gradients", "disjoint supports: G's saturating-loss gradient vanishes as D trains; "
               "non-saturating and WGAN gradients do not", "Arjovsky & Bottou 2017, Sec. 2.2, Fig. 2",
               _theory("vanishing_gradients")),
    Experiment("critic-vs-discriminator", "two far-apart Gaussians: the GAN D saturates, the WGAN critic is linear",
               "Arjovsky, Chintala & Bottou 2017, Fig. 2", _theory("critic_vs_discriminator")),
    Experiment("mode-collapse", "ring8 and grid25 with several objectives: modes, high-quality %, reverse KL, "
               "samples over time", "Lin et al. 2018 (PacGAN), Sec. 5.1; Srivastava et al. 2017 (VEEGAN)", _modes),
    Experiment("training-movie", "a 2-D run as a GIF and an HTML page: D's decision surface, real and fake "
               "points, G's gradient arrows", "after GAN Lab (Kahng et al. 2018)", _movie, ".gif"),
    Experiment("discrete-gradient", "no gradient through argmax; Gumbel-softmax bias falls and variance grows as the "
               "temperature falls; REINFORCE is unbiased (measured against an exact gradient)",
               "Jang et al. 2017; Maddison et al. 2017; Williams 1992; Yu et al. 2017 (SeqGAN)", _discrete),
)}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise unknown_name("lab experiment", name, EXPERIMENTS)
    return EXPERIMENTS[name]


def run_experiment(name: str, *, seed: int = 0, quick: bool = False, out: str | os.PathLike | None = None,
                   **options) -> dict[str, Any]:
    """Run one experiment; draw its figure at ``out`` (None: no figure). Returns its JSON record."""
    import torch  # here, not at the top: the command line lists the experiments without loading torch

    exp = get_experiment(name)
    t0 = time.perf_counter()
    res = exp.run(seed=seed, quick=quick, out=Path(out) if out is not None else None, **options)
    checks = res.get("checks", [])
    return {
        "experiment": name, "summary": exp.summary, "citation": exp.citation, "seed": seed, "quick": quick,
        "all_ok": all(c["ok"] for c in checks), **res,
        "figure": str(out) if out is not None else None, "time_s": round(time.perf_counter() - t0, 2),
        "environment": {"ganworks": __version__, "torch": torch.__version__, "python": platform.python_version(),
                        "threads": torch.get_num_threads()},
    }


__all__ = ["EXPERIMENTS", "Experiment", "get_experiment", "run_experiment"]
