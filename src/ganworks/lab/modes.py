"""Experiment 6, mode collapse: ``ring8`` and ``grid25`` trained with several objectives.

Every run is a real ``ganworks train`` run (the one training loop, in a temporary run
directory), evaluated with the PacGAN protocol (Lin et al. 2018, Sec. 5.1; after VEEGAN,
Srivastava et al. 2017): 2,500 samples; a sample is high quality within 3 std per axis of its
nearest mode; a mode is captured with at least one high-quality sample; reverse KL of the
high-quality histogram against the uniform one. The figure shows each run's samples over time
(the generator that hops from mode to mode, the user's "lazy generator") and the modes captured
at each evaluation.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoint import load_generator
from ..config import TrainConfig
from ..data.toy import GRID25, RING8
from ..metrics.mixtures import mixture_modes
from ..sampling import sample
from ..training import train
from .common import check, pyplot, save_figure

N_SAMPLES = 2500  # the PacGAN protocol
SAMPLE_SEED = 123_456  # noise for the final 2,500 samples, apart from the training seeds


@dataclass(frozen=True)
class Setting:
    """One configuration of the comparison: a label and TrainConfig fields."""

    label: str
    fields: dict[str, Any] = field(default_factory=dict)


_SMALL = {"z_dim": 2, "g_hidden": [128, 128, 128], "d_hidden": [128, 128, 128], "d_dropout": 0.0}
# The configuration of benchmarks/toy_modes.py (deep G with BatchNorm, EMA), here at the lab's length.
DEEP_BN = {"model_options": {"z_dim": 2, "g_hidden": [128] * 7, "g_batchnorm": True, "d_hidden": [128, 128, 128],
                             "d_dropout": 0.0},
           "objective": "ns", "lr_g": 2e-4, "lr_d": 2e-4, "ema_kimg": 5.0}
SETTINGS = (
    Setting("vanilla GAN (ns)", {"objective": "ns", "model_options": _SMALL, "lr_g": 1e-3, "lr_d": 1e-3}),
    Setting("minimax (saturating)", {"objective": "minimax", "model_options": _SMALL, "lr_g": 1e-3, "lr_d": 1e-3}),
    Setting("WGAN-GP", {"objective": "wgan-gp", "model_options": _SMALL, "lr_g": 1e-4, "lr_d": 1e-4}),
    Setting("ns, 7-layer G + BatchNorm, EMA", DEEP_BN),
)


def evaluate_run(run_dir: Path, spec) -> dict[str, Any]:
    """The PacGAN protocol on the run's generator (the EMA when it kept one)."""
    G = load_generator(run_dir)
    pts = sample(G, N_SAMPLES, seed=SAMPLE_SEED).reshape(N_SAMPLES, -1).numpy()
    return mixture_modes(pts, spec.modes(), spec.std)


def mode_collapse(seed: int = 0, quick: bool = False, out: Path | None = None, kimg: float | None = None,
                  settings: tuple[Setting, ...] = SETTINGS) -> dict[str, Any]:
    specs = (RING8,) if quick else (RING8, GRID25)
    if quick:
        settings = settings[:1] + settings[2:3]
    kimg = kimg if kimg is not None else (8.0 if quick else 200.0)
    snap = max(kimg / 4, 1.0)
    rows, runs = [], []
    checks = []
    for spec in specs:  # the protocol on real data: what a perfect generator scores
        real = spec.load("test").images.reshape(-1, 2).numpy()[:N_SAMPLES]
        r = mixture_modes(real, spec.modes(), spec.std)
        checks.append(check(f"{spec.name} real data: modes captured", r["modes_captured"], len(spec.modes()), 0))
        checks.append(check(f"{spec.name} real data: high-quality fraction", r["high_quality_fraction"],
                            0.9973 ** 2, 0.01, note="P(|x| <= 3 std)^2 for a Gaussian"))
    with tempfile.TemporaryDirectory(prefix="ganworks-lab-") as tmp:
        for spec in specs:
            for s in settings:
                fields_ = {**s.fields}
                if quick:
                    fields_["model_options"] = {**_SMALL, "g_hidden": [64, 64], "d_hidden": [64, 64]}
                cfg = TrainConfig(data=spec.name, model="mlp", kimg=kimg, seed=seed, progress=False,
                                  tick_kimg=snap, snapshot_kimg=snap, eval_every=snap, eval_n=N_SAMPLES,
                                  runs_root=tmp, **{"batch_size": 256, **fields_})
                run_dir = train(cfg)
                res = evaluate_run(run_dir, spec)
                over_time = [{"kimg": rec["kimg"], "modes": rec["metrics"]["mixture"]["modes_captured"],
                              "high_quality_fraction": rec["metrics"]["mixture"]["high_quality_fraction"]}
                             for rec in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())]
                snaps = sorted((run_dir / "samples").glob("fakes*.png"))
                rows.append({"data": spec.name, "setting": s.label, "kimg": kimg,
                             "modes_captured": res["modes_captured"],
                             "num_modes": res["num_modes"], "high_quality_percent": 100 * res["high_quality_fraction"],
                             "reverse_kl": res["reverse_kl"], "mode_counts": res["mode_counts"], "over_time": over_time,
                             "config": cfg.to_dict()})
                runs.append((spec.name, s.label, [(int(p.stem[5:]), _read_png(p)) for p in snaps], over_time))
        if out is not None:
            _draw(runs, out)
    return {
        "settings": {"protocol": f"{N_SAMPLES} samples (noise seed {SAMPLE_SEED}); high quality within 3 std per "
                                 "axis of the nearest mode; a mode counts with >= 1 high-quality sample",
                     "kimg": kimg, "datasets": [s.name for s in specs]},
        "measured": {"runs": rows},
        "checks": checks,
    }


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _draw(runs, out: Path) -> None:
    plt = pyplot()
    cols = max(len(r[2]) for r in runs) + 1
    fig, axes = plt.subplots(len(runs), cols, figsize=(2.0 * cols, 2.1 * len(runs)), squeeze=False)
    for i, (data, label, snaps, over_time) in enumerate(runs):
        for j, ax in enumerate(axes[i]):
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(snaps):
                k, img = snaps[j]
                ax.imshow(img)
                ax.set_title(f"{k} kimg", fontsize=8)
        axes[i][0].set_ylabel(f"{data}\n{label}", fontsize=7)
        ax = axes[i][-1]
        ax.plot([r["kimg"] for r in over_time], [r["modes"] for r in over_time], "o-", ms=3)
        ax.set_ylim(0, 26 if data == "grid25" else 8.5)
        ax.set_title("modes captured", fontsize=8)
        ax.set_xticks([over_time[0]["kimg"], over_time[-1]["kimg"]] if over_time else [])
        ax.set_yticks([0, 8] if data == "ring8" else [0, 25])
        ax.tick_params(labelsize=7)
    fig.suptitle("mode collapse: generated (white) over real (blue) samples over training", fontsize=10)
    save_figure(fig, out, dpi=90)
