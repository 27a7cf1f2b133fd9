"""End-to-end evaluation: samples (a run, or a .npy) against a dataset's reference split.

>>> from ganworks.metrics.evaluate import evaluate
>>> r = evaluate("runs/00001-mnist-5k-mlp-ns", data="mnist-5k", metrics="fd,kid,pr,dc,score,modes")
>>> r["metrics"]["fd"]["value"]

What it compares (every choice is recorded in the result):

* **Fakes**: a run or snapshot directory is sampled with ``ganworks.sample(G, n, seed)``
  (``n`` default 10,000; 26,000 for ``stacked-mnist``, the VEEGAN/PacGAN protocol); a ``.npy``
  of uint8 images (N, H, W) or (N, C, H, W) is used as it is (its first ``n`` images when ``n``
  is given). For the 2-D mixtures (``ring8``, ``grid25``) the fakes are float points (N, 2).
* **Reference**: the dataset's ``test`` split when it has one, else ``train`` (mnist-5k has
  only ``train``: the same 5,000 digits a GAN trained on mnist-5k saw), or ``split=``, or
  your own ``.npy`` (``reference=``). FD uses the whole reference; KID, precision/recall and
  density/coverage use min(N_ref, N_fake) reference rows, chosen with ``seed``, because the
  k-NN metrics depend on the two set sizes.
* **Extractor**: ``lenet-mnist`` for mnist, mnist-5k and stacked-mnist, ``lenet-fashion`` for
  fashion-mnist (see :mod:`ganworks.metrics.extractors`); ``extractor=`` overrides it. On
  3-channel data a 1-channel classifier is applied to each channel: features are the three
  channels' features side by side (3 x 128-d), the classifier score uses the 1,000-way product
  of the channels' probabilities, and ``modes`` counts the 1,000 Stacked MNIST modes
  (:func:`~ganworks.metrics.stacked_modes`).
* **Parzen** (Goodfellow et al. 2014): pixels in [0, 1]; sigma chosen from
  ``DEFAULT_SIGMAS`` (0.1 to 1, 10 values) on a validation set, mean log-likelihood (nats)
  and its standard error on a test set. With a test split: validation = the last 1,000
  training images, test = the whole test split. Without one (mnist-5k): 1,000 training images
  for validation and another 1,000 for test, from a fixed permutation (seed 0), the same for
  every evaluation. These images were seen in training, so the number is optimistic.

Reference features (and their mean and covariance) are cached in
``<ganworks home>/cache/refstats/``, keyed by dataset, split, extractor, the sha256 of the
extractor's weights and the sha256 of the reference pixels: a changed dataset or classifier is
never read from a stale cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import __version__
from ..errors import GanworksError, unknown_name
from . import (DEFAULT_SIGMAS, METRICS, class_histogram, classifier_score, density_coverage, feature_statistics,
               frechet_distance_from_statistics, get_metric, kid, mixture_modes, parzen_log_likelihood,
               parzen_select_sigma, precision_recall, stacked_modes)
from .classifier import sha256_file
from .extractors import EXTRACTORS, Extractor, get_extractor

__all__ = ["DEFAULT_EXTRACTOR", "DEFAULT_METRICS", "default_n", "evaluate", "format_table", "parse_metrics",
           "refstats_dir"]

#: The feature extractor each dataset uses unless told otherwise.
DEFAULT_EXTRACTOR = {"mnist": "lenet-mnist", "mnist-5k": "lenet-mnist", "stacked-mnist": "lenet-mnist",
                     "fashion-mnist": "lenet-fashion"}
#: What ``ganworks evaluate`` computes without ``--metrics`` (parzen is slower and mostly historical).
DEFAULT_METRICS = ("fd", "kid", "pr", "dc", "score", "modes")
DEFAULT_N = 10_000
STACKED_N = 26_000  # VEEGAN / PacGAN: 26,000 samples for the Stacked MNIST mode count
PARZEN_VALIDATION = 1_000
PARZEN_TEST_NO_SPLIT = 1_000
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000
PR_K, DC_K = 3, 5
_CACHE_FORMAT = 1


def default_n(data: str) -> int:
    return STACKED_N if data == "stacked-mnist" else DEFAULT_N


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


def refstats_dir(home: Path | None = None) -> Path:
    from ..paths import ganworks_home

    return (Path(home) if home is not None else ganworks_home()) / "cache" / "refstats"


def _sha256_array(a: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(f"{a.dtype.str}{tuple(a.shape)}".encode())
    h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


# ------------------------------------------------------------------------------------- inputs
def _load_npy(path: Path, what: str = "samples file") -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise GanworksError(f"no such {what}: {path}") from None
    except (OSError, ValueError, EOFError) as e:
        detail = " ".join(str(e).split()) or type(e).__name__
        raise GanworksError(f"cannot read {what} {path}: not a readable .npy array ({detail[:160]})") from None
    if not isinstance(arr, np.ndarray):
        raise GanworksError(f"{what} {path} holds no single array (a .npz archive?); expected a .npy")
    return arr


def _fit_count(arr: np.ndarray, n: int | None, path: Path, what: str = "samples file") -> np.ndarray:
    if len(arr) == 0:
        raise GanworksError(f"{what} {path} holds no samples")
    if n is not None:
        if n > len(arr):
            raise GanworksError(f"{what} {path} holds {len(arr)} samples; --n {n} asks for more")
        arr = arr[:n]
    return arr


def _npy_images(path: Path, shape: tuple[int, int, int], n: int | None, data: str, what: str = "samples file"
                ) -> np.ndarray:
    arr = _load_npy(path, what)
    c, h, w = shape
    want = f"uint8 images of shape (N, {c}, {h}, {w})" + (f" or (N, {h}, {w})" if c == 1 else "")
    if arr.dtype != np.uint8:
        raise GanworksError(f"{what} {path} holds {arr.dtype} values; dataset {data!r} needs {want}")
    if arr.ndim == 3 and c == 1:
        arr = arr[:, None]
    if arr.ndim != 4 or tuple(arr.shape[1:]) != (c, h, w):
        raise GanworksError(f"{what} {path} holds an array of shape {tuple(arr.shape)}; dataset {data!r} "
                            f"needs {want}")
    return _fit_count(arr, n, path, what)


def _npy_points(path: Path, n: int | None, data: str) -> np.ndarray:
    arr = _load_npy(path)
    if arr.ndim == 4 and arr.shape[2:] == (1, 1):
        arr = arr[:, :, 0, 0]
    if arr.ndim != 2 or arr.shape[1] != 2 or not np.issubdtype(arr.dtype, np.floating):
        raise GanworksError(f"samples file {path} holds a {arr.dtype} array of shape {tuple(arr.shape)}; "
                            f"dataset {data!r} needs float 2-D points (N, 2)")
    return _fit_count(arr.astype(np.float64), n, path)


def _load_fakes(source, *, shape, points: bool, n: int | None, seed: int, data: str,
                log: Callable[[str], None]) -> tuple[np.ndarray, dict[str, Any]]:
    """The fake samples and a description of where they came from."""
    p = Path(source)
    if p.suffix.lower() == ".npy":
        if not p.is_file():
            raise GanworksError(f"no such samples file: {p}")
        arr = _npy_points(p, n, data) if points else _npy_images(p, shape, n, data)
        return arr, {"kind": "npy", "path": str(p.resolve()), "sha256": sha256_file(p), "count": len(arr),
                     "shape": list(arr.shape[1:])}
    if not p.exists():
        raise GanworksError(f"no such run, snapshot or samples file: {p} (pass a run directory or a .npy)")
    from ..checkpoint import load_generator
    from ..sampling import is_points, sample

    G = load_generator(p)
    n = default_n(data) if n is None else n
    if is_points(G) != points:
        what = "2-D points" if is_points(G) else "images"
        raise GanworksError(f"{p} holds a generator of {what}; dataset {data!r} holds "
                            f"{'2-D points' if points else 'images'}")
    log(f"sampling {n:,} images from {p} (seed {seed})")
    x = sample(G, n, seed=seed)
    if points:
        arr = x.reshape(n, -1).double().numpy()
    else:
        arr = x.numpy()
        if tuple(arr.shape[1:]) != tuple(shape):
            raise GanworksError(f"{p} makes images of shape {tuple(arr.shape[1:])}; dataset {data!r} has "
                                f"{tuple(shape)}")
    return arr, {"kind": "run", "path": str(p.resolve()), "arch": getattr(G, "arch", None), "count": n,
                 "shape": list(arr.shape[1:]), "sample_seed": seed}


# ----------------------------------------------------------------------------------- features
def _per_channel(extractor: Extractor, shape) -> bool:
    """True when a 1-channel classifier must read each channel of colour data separately."""
    c_in = extractor.input_shape[0]
    return shape[0] == 3 and c_in == 1


def _extract(extractor: Extractor, images: np.ndarray, batch_size: int, per_channel: bool
             ) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, D) or (N, 3D), probs (N, K) or (N, 3, K))."""
    if not per_channel:
        return extractor.features_and_probs(images, batch_size)
    fs, ps = zip(*(extractor.features_and_probs(images[:, c:c + 1], batch_size) for c in range(images.shape[1])))
    return np.concatenate(fs, axis=1), np.stack(ps, axis=1)


def _product_probs(probs3: np.ndarray) -> np.ndarray:
    """(N, 3, 10) per-channel probabilities -> (N, 1000) joint ones (channels independent given the image)."""
    r, g, b = probs3[:, 0], probs3[:, 1], probs3[:, 2]
    return np.einsum("ni,nj,nk->nijk", r, g, b).reshape(len(r), -1)


def _reference_stats(ref_images: np.ndarray, *, key_parts: dict[str, str], extractor: Extractor, batch_size: int,
                     per_channel: bool, home: Path | None, log: Callable[[str], None]) -> tuple[dict, dict]:
    """Reference features, probabilities, mean and covariance: from the cache, or computed and cached."""
    fingerprint = _sha256_array(ref_images)
    parts = [key_parts["dataset"], key_parts["split"], extractor.name, extractor.weights_sha256[:16],
             fingerprint[:16], "perchannel" if per_channel else "whole", f"v{_CACHE_FORMAT}"]
    key = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts))
    path = refstats_dir(home) / f"{key}.npz"
    meta = {"format": _CACHE_FORMAT, "dataset": key_parts["dataset"], "split": key_parts["split"],
            "extractor": extractor.name, "weights_sha256": extractor.weights_sha256, "fingerprint": fingerprint,
            "per_channel": per_channel, "count": int(len(ref_images))}
    info = {"cache_file": str(path), "fingerprint_sha256": fingerprint}
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                stored = json.loads(str(z["meta"]))
                if stored == meta:
                    stats = {k: z[k] for k in ("features", "probs", "mu", "cov")}
                    log(f"reference statistics: cache hit ({path})")
                    return stats, {**info, "cache": "hit"}
        except (OSError, ValueError, KeyError, EOFError):
            pass  # unreadable or stale: recompute and overwrite
    log(f"features of {len(ref_images):,} reference images ({extractor.name})")
    t = time.perf_counter()
    feats, probs = _extract(extractor, ref_images, batch_size, per_channel)
    mu, cov = feature_statistics(feats)
    stats = {"features": feats, "probs": probs, "mu": mu, "cov": cov}
    info["extract_time_s"] = round(time.perf_counter() - t, 3)
    try:
        from ..images import atomic_path

        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, meta=np.array(json.dumps(meta)), **stats)
    except (GanworksError, OSError) as e:
        log(f"warning: cannot cache reference statistics: {e}")
    return stats, {**info, "cache": "miss"}


# ------------------------------------------------------------------------------------- parzen
def _parzen_sets(data: str, spec_splits, split_loader) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(validation images, test images, description) for the Parzen-window estimate."""
    train = split_loader("train")
    if "test" in spec_splits:
        test = split_loader("test")
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


# ----------------------------------------------------------------------------------- evaluate
def evaluate(source: str | os.PathLike, *, data: str, metrics=DEFAULT_METRICS, n: int | None = None, seed: int = 0,
             extractor: str | None = None, split: str | None = None, batch_size: int = 500,
             reference: str | os.PathLike | None = None, extractor_weights: str | os.PathLike | None = None,
             home: str | os.PathLike | None = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evaluate samples against dataset ``data``; returns a JSON-serializable dict.

    ``source``: a run or snapshot directory (sampled: ``n`` images, default 10,000, 26,000 for
    stacked-mnist, from noise ``seed``) or a ``.npy`` of uint8 images (all of them, or the first
    ``n``). ``metrics``: names from :data:`ganworks.metrics.METRICS` (``fd, kid, pr, dc, score,
    modes, parzen``; ``mixture`` for ``ring8``/``grid25``), a list or a comma-separated string.
    ``split``: the reference split (default ``test`` if the dataset has one, else ``train``);
    ``reference``: a ``.npy`` of reference images instead. ``extractor``: a name from
    :data:`~ganworks.metrics.extractors.EXTRACTORS` (default per dataset,
    :data:`DEFAULT_EXTRACTOR`), ``extractor_weights`` its weights file. ``batch_size``: images
    per forward pass (results do not depend on it). ``home``: the ganworks home for the cache.
    ``log``: called with progress lines (the CLI prints them to stderr).

    The result holds ``metrics`` (name -> values and provenance: extractor name and weights
    sha256, reference dataset/split/count, fake count, seed, ganworks version and ``time_s``, the
    seconds of that metric's own computation), ``source``, ``reference`` (with ``cache``: hit or
    miss), ``extractor``, ``timings_s`` (the shared stages: sampling, features, cache) and
    ``total_time_s``.
    """
    from ..data import load_dataset
    from ..data.registry import get_spec
    from ..data.toy import ToySpec

    t_start = time.perf_counter()
    log = log or (lambda s: None)
    names = parse_metrics(metrics)
    if n is not None and int(n) < 2:
        raise GanworksError(f"--n must be at least 2, got {n}")
    if batch_size < 1:
        raise GanworksError(f"batch size must be positive, got {batch_size}")
    spec = get_spec(data)  # unknown dataset -> one line listing the valid ones
    if extractor is not None and extractor not in EXTRACTORS:
        raise unknown_name("feature extractor", extractor, EXTRACTORS)
    points = isinstance(spec, ToySpec)
    timings: dict[str, float] = {}
    home_p = Path(home) if home is not None else None

    for m in names:
        kind = METRICS[m].input
        if points and kind != "points":
            raise GanworksError(f"metric {m!r} needs images; dataset {data!r} holds 2-D points (use: mixture)")
        if not points and kind == "points":
            raise GanworksError(f"metric {m!r} is for the 2-D mixtures (ring8, grid25); dataset {data!r} holds images")

    # Everything the user named is checked before the work (sampling can take minutes).
    if split is not None:
        spec.check_split(split)
    ref_npy = None
    if reference is not None and not points:
        ref_npy = _npy_images(Path(reference), tuple(spec.shape), None, data, what="reference file")

    # --- fakes
    t = time.perf_counter()
    fakes, source_info = _load_fakes(source, shape=tuple(spec.shape), points=points, n=n, seed=seed, data=data,
                                     log=log)
    timings["load_or_sample_fakes"] = time.perf_counter() - t
    n_fake = len(fakes)
    base = {"fake_count": n_fake, "seed": seed, "ganworks_version": __version__}
    results: dict[str, dict[str, Any]] = {}

    def record(name: str, values: dict[str, Any], seconds: float, **prov) -> None:
        ms = METRICS[name]
        results[name] = {"metric": name, **values, "higher_is_better": ms.higher_is_better,
                         "citation": ms.citation, **prov, **base, "time_s": round(seconds, 4)}

    if points:
        for m in names:  # only "mixture" gets here
            t = time.perf_counter()
            r = mixture_modes(fakes, spec.modes(), spec.std)
            record(m, {"value": r["modes_captured"], **r}, time.perf_counter() - t,
                   reference={"dataset": data, "modes": len(spec.modes()), "std": spec.std})
        return {"ganworks_version": __version__, "data": data, "seed": seed, "source": source_info,
                "extractor": None, "reference": None, "metrics": results,
                "timings_s": {k: round(v, 4) for k, v in timings.items()},
                "total_time_s": round(time.perf_counter() - t_start, 3)}

    needs_features = [m for m in names if METRICS[m].input == "features"]
    needs_probs = [m for m in names if METRICS[m].input == "probs"]
    ex = None
    ex_prov = None
    fake_feats = fake_probs = None
    per_channel = False
    if needs_features or needs_probs:
        ex_name = extractor or DEFAULT_EXTRACTOR.get(data)
        if ex_name is None:
            raise GanworksError(f"dataset {data!r} has no default feature extractor; pass --extractor "
                                f"(valid: {', '.join(sorted(EXTRACTORS))})")
        t = time.perf_counter()
        ex = get_extractor(ex_name, extractor_weights)
        timings["load_extractor"] = time.perf_counter() - t
        ex_prov = {"name": ex.name, "weights_sha256": ex.weights_sha256}
        per_channel = _per_channel(ex, spec.shape)
        log(f"features of {n_fake:,} fake images ({ex.name}{', per channel' if per_channel else ''})")
        t = time.perf_counter()
        fake_feats, fake_probs = _extract(ex, fakes, batch_size, per_channel)
        timings["fake_features"] = time.perf_counter() - t

    # --- reference (features metrics only)
    ref_info = None
    ref_stats = None
    if needs_features:
        t = time.perf_counter()
        if reference is not None:
            rp = Path(reference)
            ref_images = ref_npy
            ref_split, ref_desc = "custom", f"{rp}"
            ref_dataset = f"npy:{rp.name}"
        else:
            ref_split = split or ("test" if "test" in spec.splits else "train")
            ref = load_dataset(data, ref_split)
            ref_images = ref.images.numpy()
            ref_dataset, ref_desc = data, ref.source
        timings["load_reference"] = time.perf_counter() - t
        t = time.perf_counter()
        ref_stats, cache_info = _reference_stats(ref_images, key_parts={"dataset": ref_dataset, "split": ref_split},
                                                 extractor=ex, batch_size=batch_size, per_channel=per_channel,
                                                 home=home_p, log=log)
        timings["reference_features" if cache_info["cache"] == "miss" else "reference_cache_read"] = \
            time.perf_counter() - t
        ref_info = {"dataset": ref_dataset, "split": ref_split, "count": int(len(ref_images)), "source": ref_desc,
                    **({"note": f"{data} has no test split; the reference is its training split"}
                       if reference is None and ref_split == "train" and "test" not in spec.splits else {}),
                    **cache_info}
        n_sub = min(len(ref_images), n_fake)
        sub_idx = np.sort(np.random.default_rng(seed).permutation(len(ref_images))[:n_sub])
        ref_sub = ref_stats["features"][sub_idx]
    ref_prov = None if ref_info is None else {k: ref_info[k] for k in ("dataset", "split", "count")}

    for m in names:
        t = time.perf_counter()
        if m == "fd":
            mu, cov = feature_statistics(fake_feats)
            v = frechet_distance_from_statistics(ref_stats["mu"], ref_stats["cov"], mu, cov)
            record(m, {"value": v, "fd": v}, time.perf_counter() - t, extractor=ex_prov, reference=ref_prov,
                   feature_dim=int(fake_feats.shape[1]))
        elif m == "kid":
            size = min(KID_SUBSET_SIZE, len(ref_stats["features"]), n_fake)
            mean, std = kid(ref_stats["features"], fake_feats, subsets=KID_SUBSETS, subset_size=size, seed=seed)
            record(m, {"value": mean, "kid": mean, "kid_std": std, "subsets": KID_SUBSETS, "subset_size": size},
                   time.perf_counter() - t, extractor=ex_prov, reference=ref_prov)
        elif m == "pr":
            p, r = precision_recall(ref_sub, fake_feats, k=PR_K)
            record(m, {"value": p, "precision": p, "recall": r, "k": PR_K}, time.perf_counter() - t,
                   extractor=ex_prov, reference={**ref_prov, "count": int(len(ref_sub)),
                                                 "subset_of": ref_prov["count"]})
        elif m == "dc":
            d, c = density_coverage(ref_sub, fake_feats, k=DC_K)
            record(m, {"value": d, "density": d, "coverage": c, "k": DC_K}, time.perf_counter() - t,
                   extractor=ex_prov, reference={**ref_prov, "count": int(len(ref_sub)),
                                                 "subset_of": ref_prov["count"]})
        elif m == "score":
            probs = _product_probs(fake_probs) if per_channel else fake_probs
            v = classifier_score(probs)
            record(m, {"value": v, "score": v, "num_classes": int(probs.shape[1]),
                       **({"note": "1,000-way probabilities: product of the three channels' digit "
                                   "probabilities"} if per_channel else {})},
                   time.perf_counter() - t, extractor=ex_prov, reference=None)
        elif m == "modes":
            if per_channel:
                r = stacked_modes(fake_probs[:, 0], fake_probs[:, 1], fake_probs[:, 2])
                extra = {"protocol": "Stacked MNIST (VEEGAN/PacGAN): each channel classified, "
                                     "mode = 100 d_r + 10 d_g + d_b"}
            else:
                r = class_histogram(fake_probs, ex.num_classes)
                extra = {}
            record(m, {"value": r["modes_covered"], **r, **extra}, time.perf_counter() - t, extractor=ex_prov,
                   reference=None)
        elif m == "parzen":
            def loader(s: str) -> np.ndarray:
                return load_dataset(data, s).images.numpy()
            val, test, desc = _parzen_sets(data, spec.splits, loader)
            log(f"parzen: choosing sigma on {len(val):,} validation images, then {len(test):,} test images")
            sigma = parzen_select_sigma(fakes, val, DEFAULT_SIGMAS)
            ll, se = parzen_log_likelihood(fakes, test, sigma=sigma)
            edge = sigma in (float(DEFAULT_SIGMAS[0]), float(DEFAULT_SIGMAS[-1]))
            record(m, {"value": ll, "log_likelihood": ll, "standard_error": se, "sigma": sigma,
                       "sigmas": [float(s) for s in DEFAULT_SIGMAS], "sigma_at_grid_edge": edge,
                       "units": "nats per test example, pixels in [0, 1]",
                       **({"note": "sigma is at the end of the grid: the samples may contain the test images "
                                   "themselves (memorised), or be far from them"} if edge else {})},
                   time.perf_counter() - t, extractor=None,
                   reference={"dataset": data, "split": desc["test"]["split"], "count": desc["test"]["count"], **desc})
        else:  # pragma: no cover - every registered image metric is handled above
            raise GanworksError(f"metric {m!r} is not supported by evaluate")
        timings[f"metric_{m}"] = time.perf_counter() - t

    return {
        "ganworks_version": __version__,
        "data": data,
        "seed": seed,
        "source": source_info,
        "extractor": None if ex is None else {**ex.provenance(), "per_channel": per_channel},
        "reference": ref_info,
        "metrics": results,
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
        "total_time_s": round(time.perf_counter() - t_start, 3),
    }


# -------------------------------------------------------------------------------------- table
def _fmt(x: float) -> str:
    return f"{x:.4g}" if abs(x) < 1e5 else f"{x:.3e}"


def format_table(result: dict[str, Any]) -> str:
    """A compact text table of an :func:`evaluate` result (what ``ganworks evaluate`` prints)."""
    src = result["source"]
    ref = result.get("reference")
    ex = result.get("extractor")
    what = "samples" if src["kind"] == "npy" else "generated"
    head = f"# {src['path']} ({src['count']:,} {what}) vs {result['data']}"
    if ref:
        head += f" {ref['split']} ({ref['count']:,}, cache {ref['cache']})"
    if ex:
        head += f"; extractor {ex['name']} ({ex['weights_sha256'][:12]})"
    head += f"; seed {result['seed']}"
    rows = []
    for name, r in result["metrics"].items():
        arrow = "higher is better" if r["higher_is_better"] else "lower is better"
        if name == "fd":
            val, detail = _fmt(r["fd"]), ""
        elif name == "kid":
            val, detail = f"{_fmt(r['kid'])} ± {_fmt(r['kid_std'])}", f"{r['subsets']} subsets of {r['subset_size']}"
        elif name == "pr":
            val, detail = f"P {r['precision']:.3f}  R {r['recall']:.3f}", f"k={r['k']}"
        elif name == "dc":
            val, detail = f"D {r['density']:.3f}  C {r['coverage']:.3f}", f"k={r['k']}"
        elif name == "score":
            val, detail = f"{r['score']:.3f}", f"of at most {r['num_classes']}"
        elif name == "modes":
            val = f"{r['modes_covered']}/{r['num_classes']}"
            detail = (f"KL {r['kl_to_uniform']:.3f} nats, {r['modes_well_covered']} well covered, "
                      f"{'COLLAPSED' if r['collapsed'] else 'not collapsed'}")
        elif name == "parzen":
            val = f"{r['log_likelihood']:.1f} ± {r['standard_error']:.1f}"
            detail = f"nats, sigma {r['sigma']:.3g}, {r['reference']['count']:,} test images"
        elif name == "mixture":
            val = f"{r['modes_captured']}/{r['num_modes']}"
            kl = "n/a" if r["reverse_kl"] is None else f"{r['reverse_kl']:.3f}"
            detail = f"high quality {r['high_quality_fraction']:.1%}, reverse KL {kl}"
        else:  # pragma: no cover
            val, detail = _fmt(float(r["value"])), ""
        rows.append((name, val, f"{detail}{'; ' if detail else ''}{arrow}; {r['time_s']:.2f} s"))
    w0 = max(len("metric"), *(len(r[0]) for r in rows))
    w1 = max(len("value"), *(len(r[1]) for r in rows))
    lines = [head, f"{'metric':<{w0}}  {'value':<{w1}}  detail"]
    lines += [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    return "\n".join(lines)
