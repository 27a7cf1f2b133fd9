"""End-to-end evaluation: samples (a run, a generator, a .npy or an array) against a dataset's reference split.

>>> from ganworks.metrics.evaluate import evaluate
>>> r = evaluate("runs/00001-mnist-5k-mlp-ns", data="mnist-5k", metrics="fd,kid,pr,dc,score,modes")
>>> r["metrics"]["fd"]["value"]

:func:`evaluate` is a short driver over the registry :data:`ganworks.metrics.METRICS`: it checks
the request, gets the fakes, computes once what the chosen metrics need (features and class
probabilities, reference statistics) into a :class:`~ganworks.metrics.inputs.MetricInputs`, and
calls each metric's ``compute``; :func:`format_table` calls each metric's ``format``.

What it compares (every choice is recorded in the result):

* **Fakes**: a run or snapshot directory, or a generator in memory, is sampled with
  ``ganworks.sample(G, n, seed)`` (``n`` default 10,000; 26,000 for ``stacked-mnist``, the
  VEEGAN/PacGAN protocol); a ``.npy`` or a numpy array of uint8 images (N, H, W) or
  (N, C, H, W) is used as it is (its first ``n`` images when ``n`` is given). For the 2-D
  mixtures (``ring8``, ``grid25``) the fakes are float points (N, 2). The path forms load the
  file or the generator and go on as the in-memory forms do.
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

from .._version import __version__
from ..errors import GanworksError, unknown_name
from ..files import regular_file
from . import METRICS, feature_statistics
from .classifier import sha256_file
from .extractors import EXTRACTORS, Extractor, get_extractor
from .frechet import loaded_torch, short_number
from .inputs import MetricInputs
from .registry import DEFAULT_METRICS, parse_metrics

__all__ = ["DEFAULT_EXTRACTOR", "DEFAULT_METRICS", "default_n", "evaluate", "format_table", "parse_metrics",
           "refstats_dir"]

#: The feature extractor each dataset uses unless told otherwise.
DEFAULT_EXTRACTOR = {"mnist": "lenet-mnist", "mnist-5k": "lenet-mnist", "stacked-mnist": "lenet-mnist",
                     "fashion-mnist": "lenet-fashion"}
DEFAULT_N = 10_000
STACKED_N = 26_000  # VEEGAN / PacGAN: 26,000 samples for the Stacked MNIST mode count
_CACHE_FORMAT = 1


def default_n(data: str) -> int:
    return STACKED_N if data == "stacked-mnist" else DEFAULT_N


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
    regular_file(path, what)  # a FIFO would block np.load forever
    try:
        # memory-mapped: a header claiming millions of images costs nothing until rows are read (--n slices)
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except FileNotFoundError:
        raise GanworksError(f"no such {what}: {path}") from None
    except (OSError, ValueError, EOFError) as e:
        detail = " ".join(str(e).split()) or type(e).__name__
        raise GanworksError(f"cannot read {what} {path}: not a readable .npy array ({detail[:160]})") from None
    if not isinstance(arr, np.ndarray):
        raise GanworksError(f"{what} {path} holds no single array (a .npz archive?); expected a .npy")
    return arr


def _fit_count(arr: np.ndarray, n: int | None, label: str) -> np.ndarray:
    """The first ``n`` rows (all when None). ``label`` names the array in errors: "samples file PATH"."""
    if n is not None and n > len(arr):
        raise GanworksError(f"{label} holds {len(arr)} samples; --n {n} asks for more")
    if len(arr) < 2:  # every metric compares two sets of samples: one sample has no spread (FD, KID, PRDC)
        raise GanworksError(f"{label} holds {len(arr)} sample{'s' * (len(arr) != 1)}; an evaluation needs at "
                            "least 2 (save more samples, e.g. ganworks sample RUN --n 1000 --npy FILE)")
    if n is not None:
        arr = arr[:n]
    from ..files import check_fits

    # the rows asked for are read from the memory-mapped file into memory: refuse what cannot fit first
    check_fits(arr.nbytes, f"{label} ({len(arr):,} samples)", "evaluate fewer with --n")
    return np.array(arr)


def _check_images(arr: np.ndarray, shape: tuple[int, int, int], n: int | None, data: str, label: str) -> np.ndarray:
    """uint8 images (N, C, H, W) of the dataset's shape ((N, H, W) is read as one channel)."""
    c, h, w = shape
    want = f"uint8 images of shape (N, {c}, {h}, {w})" + (f" or (N, {h}, {w})" if c == 1 else "")
    if arr.dtype != np.uint8:
        raise GanworksError(f"{label} holds {arr.dtype} values; dataset {data!r} needs {want}")
    if arr.ndim == 3 and c == 1:
        arr = arr[:, None]
    if arr.ndim != 4 or tuple(arr.shape[1:]) != (c, h, w):
        raise GanworksError(f"{label} holds an array of shape {tuple(arr.shape)}; dataset {data!r} needs {want}")
    return _fit_count(arr, n, label)


def _check_points(arr: np.ndarray, n: int | None, data: str, label: str) -> np.ndarray:
    """float 2-D points as float64 (N, 2) ((N, 2, 1, 1), what a points generator makes, is accepted too)."""
    if arr.ndim == 4 and arr.shape[2:] == (1, 1):
        arr = arr[:, :, 0, 0]
    if arr.ndim != 2 or arr.shape[1] != 2 or not np.issubdtype(arr.dtype, np.floating):
        raise GanworksError(f"{label} holds a {arr.dtype} array of shape {tuple(arr.shape)}; "
                            f"dataset {data!r} needs float 2-D points (N, 2)")
    arr = _fit_count(arr.astype(np.float64), n, label)
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))  # points, not values: a point with one NaN is one bad point
    if len(bad):
        rows = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
        raise GanworksError(f"{label} holds {len(bad)} of {len(arr)} points with NaN or infinite coordinates "
                            f"(rows {rows}); dataset {data!r} needs finite 2-D points")
    return arr


def _sample_generator(G, where: Path | None, *, shape, points: bool, n: int | None, seed: int, data: str,
                      log: Callable[[str], None]) -> np.ndarray:
    """``n`` samples of G from noise ``seed``; ``where``: the directory it was loaded from (None: in memory)."""
    from ..release import unwrap
    from ..sampling import is_points, sample

    G = unwrap(G)
    if not hasattr(G, "cfg"):
        raise GanworksError(f"cannot evaluate a {type(G).__name__}: pass a ganworks generator (from "
                            "ganworks.load_generator or ganworks.models.build_generator)")
    n = default_n(data) if n is None else n
    made, wanted = ("2-D points" if is_points(G) else "images"), ("2-D points" if points else "images")
    if made != wanted:
        lead = f"{where} holds a generator of" if where is not None else "the generator makes"
        raise GanworksError(f"{lead} {made}; dataset {data!r} holds {wanted}")
    log(f"sampling {n:,} images from {where if where is not None else 'the generator'} (seed {seed})")
    x = sample(G, n, seed=seed)
    if points:
        return x.reshape(n, -1).double().numpy()
    arr = x.numpy()
    if tuple(arr.shape[1:]) != tuple(shape):
        lead = str(where) if where is not None else "the generator"
        raise GanworksError(f"{lead} makes images of shape {tuple(arr.shape[1:])}; dataset {data!r} has {tuple(shape)}")
    return arr


def _fakes_from_path(p: Path, **kw) -> tuple[np.ndarray, dict[str, Any]]:
    """The path forms: a .npy file or a run/snapshot directory, loaded and then read like the in-memory forms."""
    if p.suffix.lower() == ".npy":
        regular_file(p, "samples file")
        label = f"samples file {p}"
        arr = _load_npy(p)
        arr = _check_points(arr, kw["n"], kw["data"], label) if kw["points"] else \
            _check_images(arr, kw["shape"], kw["n"], kw["data"], label)
        return arr, {"kind": "npy", "path": str(p.resolve()), "sha256": sha256_file(p), "count": len(arr),
                     "shape": list(arr.shape[1:])}
    if not p.exists():
        raise GanworksError(f"no such run, snapshot or samples file: {p} (pass a run directory or a .npy)")
    from ..release import load_generator

    G = load_generator(p)
    arr = _sample_generator(G, p, **kw)
    return arr, {"kind": "run", "path": str(p.resolve()), "arch": getattr(G, "arch", None), "count": len(arr),
                 "shape": list(arr.shape[1:]), "sample_seed": kw["seed"]}


def _load_fakes(source, *, shape, points: bool, n: int | None, seed: int, data: str,
                log: Callable[[str], None]) -> tuple[np.ndarray, dict[str, Any]]:
    """The fake samples and a description of where they came from."""
    kw = dict(shape=shape, points=points, n=n, seed=seed, data=data, log=log)
    if isinstance(source, (str, os.PathLike)):
        return _fakes_from_path(Path(source), **kw)
    torch = loaded_torch()  # a tensor or a module can only exist once torch is loaded
    if torch is not None and isinstance(source, torch.Tensor):
        source = source.detach().cpu().numpy()
    if isinstance(source, np.ndarray):
        label = "samples array"
        arr = _check_points(source, n, data, label) if points else _check_images(source, shape, n, data, label)
        return arr, {"kind": "array", "sha256": _sha256_array(arr), "count": len(arr), "shape": list(arr.shape[1:])}
    if torch is not None and isinstance(source, torch.nn.Module):
        arr = _sample_generator(source, None, **kw)
        return arr, {"kind": "generator", "arch": getattr(source, "arch", None), "count": len(arr),
                     "shape": list(arr.shape[1:]), "sample_seed": seed}
    raise GanworksError(f"cannot evaluate a {type(source).__name__}: pass a run or snapshot directory, a .npy file, "
                        "a generator or a numpy array of samples")


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



def _fake_features(x: MetricInputs, ex_name: str | None, weights, batch_size: int, timings: dict[str, float]
                   ) -> Extractor:
    """Fill ``x``'s features, probabilities and extractor fields from one pass over the fakes."""
    if ex_name is None:
        raise GanworksError(f"dataset {x.data!r} has no default feature extractor; pass --extractor "
                            f"(valid: {', '.join(sorted(EXTRACTORS))})")
    t = time.perf_counter()
    ex = get_extractor(ex_name, weights)
    timings["load_extractor"] = time.perf_counter() - t
    x.extractor = {"name": ex.name, "weights_sha256": ex.weights_sha256}
    x.num_classes = ex.num_classes
    x.per_channel = _per_channel(ex, x.spec.shape)
    x.log(f"features of {len(x.fakes):,} fake images ({ex.name}{', per channel' if x.per_channel else ''})")
    t = time.perf_counter()
    x.features, x.probs = _extract(ex, x.fakes, batch_size, x.per_channel)
    timings["fake_features"] = time.perf_counter() - t
    return ex


def _reference(x: MetricInputs, ex: Extractor, *, ref_images: np.ndarray | None, reference, split: str | None,
               batch_size: int, home, timings: dict[str, float]) -> dict[str, Any]:
    """Fill ``x``'s reference statistics, subset and provenance; returns the result's ``reference`` block.

    ``ref_images``: the images of ``reference`` (a .npy, read before the work began), else the
    dataset's ``split`` (default: test if it has one, else train) is loaded.
    """
    from ..data import load_dataset

    t = time.perf_counter()
    if reference is not None:
        rp = Path(reference)
        ref_split, ref_desc, ref_dataset = "custom", f"{rp}", f"npy:{rp.name}"
    else:
        ref_split = split or ("test" if "test" in x.spec.splits else "train")
        ref = load_dataset(x.data, ref_split)
        ref_images = ref.images.numpy()
        ref_dataset, ref_desc = x.data, ref.source
    timings["load_reference"] = time.perf_counter() - t
    t = time.perf_counter()
    x.ref_stats, cache_info = _reference_stats(ref_images, key_parts={"dataset": ref_dataset, "split": ref_split},
                                               extractor=ex, batch_size=batch_size, per_channel=x.per_channel,
                                               home=Path(home) if home is not None else None, log=x.log)
    timings["reference_features" if cache_info["cache"] == "miss" else "reference_cache_read"] = \
        time.perf_counter() - t
    no_test = reference is None and ref_split == "train" and "test" not in x.spec.splits
    info = {"dataset": ref_dataset, "split": ref_split, "count": int(len(ref_images)), "source": ref_desc,
            **({"note": f"{x.data} has no test split; the reference is its training split"} if no_test else {}),
            **cache_info}
    n_sub = min(len(ref_images), len(x.fakes))
    sub_idx = np.sort(np.random.default_rng(x.seed).permutation(len(ref_images))[:n_sub])
    x.ref_subset = x.ref_stats["features"][sub_idx]
    x.reference = {k: info[k] for k in ("dataset", "split", "count")}
    return info


# ----------------------------------------------------------------------------------- evaluate
def _check_request(metrics, data: str, n, batch_size: int, extractor: str | None, split: str | None):
    """(metric names, dataset spec, whether it holds 2-D points), or the first bad argument as an error."""
    from ..data.registry import get_spec
    from ..data.toy import ToySpec

    names = parse_metrics(metrics)
    if n is not None and int(n) < 2:
        raise GanworksError(f"--n must be at least 2, got {n}")
    if batch_size < 1:
        raise GanworksError(f"batch size must be positive, got {batch_size}")
    spec = get_spec(data)  # unknown dataset -> one line listing the valid ones
    if extractor is not None and extractor not in EXTRACTORS:
        raise unknown_name("feature extractor", extractor, EXTRACTORS)
    points = isinstance(spec, ToySpec)
    for m in names:
        kind = METRICS[m].input
        if points and kind != "points":
            raise GanworksError(f"metric {m!r} needs images; dataset {data!r} holds 2-D points (use: mixture)")
        if not points and kind == "points":
            raise GanworksError(f"metric {m!r} is for the 2-D mixtures (ring8, grid25); dataset {data!r} holds images")
    if split is not None:
        spec.check_split(split)
    return names, spec, points


def evaluate(source, *, data: str, metrics=DEFAULT_METRICS, n: int | None = None, seed: int = 0,
             extractor: str | None = None, split: str | None = None, batch_size: int = 500,
             reference: str | os.PathLike | None = None, extractor_weights: str | os.PathLike | None = None,
             home: str | os.PathLike | None = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evaluate samples against dataset ``data``; returns a JSON-serializable dict.

    ``source``: a run or snapshot directory, or a generator in memory (sampled: ``n`` images,
    default 10,000, 26,000 for stacked-mnist, from noise ``seed``); or a ``.npy`` or a numpy
    array of uint8 images (all of them, or the first ``n``); float points (N, 2) for the 2-D
    mixtures. ``metrics``: names from :data:`ganworks.metrics.METRICS` (``fd, kid, pr, dc,
    score, modes, parzen``; ``mixture`` for ``ring8``/``grid25``), a list or a comma-separated
    string. ``split``: the reference split (default ``test`` if the dataset has one, else
    ``train``); ``reference``: a ``.npy`` of reference images instead. ``extractor``: a name from
    :data:`~ganworks.metrics.extractors.EXTRACTORS` (default per dataset,
    :data:`DEFAULT_EXTRACTOR`), ``extractor_weights`` its weights file. ``batch_size``: images
    per forward pass (results do not depend on it). ``home``: the ganworks home for the cache.
    ``log``: called with progress lines (the CLI prints them to stderr).

    The result holds ``metrics`` (name -> values and provenance: extractor name and weights
    sha256, reference dataset/split/count, fake count, seed, ganworks version and ``time_s``, the
    seconds of that metric's own computation), ``source`` (``kind``: npy, run, array or
    generator), ``reference`` (with ``cache``: hit or miss), ``extractor``, ``timings_s`` (the
    shared stages: sampling, features, cache) and ``total_time_s``. The same samples give the
    same result whether they come as a path or in memory, ``source`` aside.
    """
    from ..data import load_dataset

    t_start = time.perf_counter()
    log = log or (lambda s: None)
    names, spec, points = _check_request(metrics, data, n, batch_size, extractor, split)
    # Everything the user named is checked before the work (sampling can take minutes).
    ref_images = None
    if reference is not None and not points:
        rp = Path(reference)
        ref_images = _check_images(_load_npy(rp, "reference file"), tuple(spec.shape), None, data,
                                   f"reference file {rp}")

    timings: dict[str, float] = {}
    t = time.perf_counter()
    fakes, source_info = _load_fakes(source, shape=tuple(spec.shape), points=points, n=n, seed=seed, data=data,
                                     log=log)
    timings["load_or_sample_fakes"] = time.perf_counter() - t
    x = MetricInputs(data=data, spec=spec, fakes=fakes, seed=seed, log=log,
                     load_split=lambda s: load_dataset(data, s).images.numpy())
    kinds = {METRICS[m].input for m in names}
    ex = None
    if kinds & {"features", "probs"}:
        ex = _fake_features(x, extractor or DEFAULT_EXTRACTOR.get(data), extractor_weights, batch_size, timings)
    ref_info = None
    if "features" in kinds:
        ref_info = _reference(x, ex, ref_images=ref_images, reference=reference, split=split, batch_size=batch_size,
                              home=home, timings=timings)

    base = {"fake_count": len(fakes), "seed": seed, "ganworks_version": __version__}
    results: dict[str, dict[str, Any]] = {}
    for m in names:
        ms = METRICS[m]
        t = time.perf_counter()
        values, provenance = ms.compute(x)
        seconds = time.perf_counter() - t
        results[m] = {"metric": m, "value": values[ms.outputs[0]], **values, "higher_is_better": ms.higher_is_better,
                      "citation": ms.citation, **provenance, **base, "time_s": round(seconds, 4)}
        if not points:  # the 2-D mixtures' timings_s has only ever listed the shared stages; kept comparable
            timings[f"metric_{m}"] = seconds

    return {
        "ganworks_version": __version__,
        "data": data,
        "seed": seed,
        "source": source_info,
        "extractor": None if ex is None else {**ex.provenance(), "per_channel": x.per_channel},
        "reference": ref_info,
        "metrics": results,
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
        "total_time_s": round(time.perf_counter() - t_start, 3),
    }


# -------------------------------------------------------------------------------------- table
def format_table(result: dict[str, Any]) -> str:
    """A compact text table of an :func:`evaluate` result (what ``ganworks evaluate`` prints).

    Each metric's cells come from its registry entry's ``format``.
    """
    src = result["source"]
    ref = result.get("reference")
    ex = result.get("extractor")
    what = "samples" if src["kind"] in ("npy", "array") else "generated"
    where = src.get("path") or f"({src['kind']} in memory)"
    head = f"# {where} ({src['count']:,} {what}) vs {result['data']}"
    if ref:
        head += f" {ref['split']} ({ref['count']:,}, cache {ref['cache']})"
    if ex:
        head += f"; extractor {ex['name']} ({ex['weights_sha256'][:12]})"
    head += f"; seed {result['seed']}"
    rows = []
    for name, r in result["metrics"].items():
        arrow = "higher is better" if r["higher_is_better"] else "lower is better"
        if name in METRICS:
            val, detail = METRICS[name].format(r)
        else:  # a result written by a version that knew another metric
            val, detail = short_number(float(r["value"])), ""
        rows.append((name, val, f"{detail}{'; ' if detail else ''}{arrow}; {r['time_s']:.2f} s"))
    w0 = max(len("metric"), *(len(r[0]) for r in rows))
    w1 = max(len("value"), *(len(r[1]) for r in rows))
    lines = [head, f"{'metric':<{w0}}  {'value':<{w1}}  detail"]
    lines += [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    return "\n".join(lines)
