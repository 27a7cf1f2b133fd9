"""Metrics of a domain classifier's predictions: classifier score, class histograms, Stacked MNIST.

- :func:`classifier_score`: the Inception score of Salimans, Goodfellow, Zaremba, Cheung,
  Radford & Chen 2016, "Improved Techniques for Training GANs" (NeurIPS), with a classifier of
  the data's own domain (e.g. a LeNet on MNIST) in place of Inception-v3.
- :func:`class_histogram`: which classes the samples fall in, how far that is from uniform, and
  whether it looks like mode collapse (rule below).
- :func:`stacked_modes`: the 1,000 modes of Stacked MNIST (Srivastava, Valkov, Russell, Gutmann
  & Sutton 2017, "VEEGAN", NeurIPS; Lin, Khetan, Fanti & Oh 2018, "PacGAN", NeurIPS).

Probabilities are (N, K) rows that sum to 1 (softmax outputs, not logits); labels are (N,)
integers in [0, K).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..errors import GanworksError
from .frechet import as_float64, loaded_torch

if TYPE_CHECKING:
    from .inputs import MetricInputs

__all__ = ["COLLAPSE_RULE", "class_histogram", "classifier_score", "stacked_modes"]

#: A class is "well covered" when it holds at least this fraction of its fair share N/K.
WELL_COVERED_SHARE = 0.5
#: Collapsed when fewer than this fraction of the K classes are well covered, ...
MIN_WELL_COVERED = 0.9
#: ... or when the effective number of classes exp(H(p)) = K exp(-KL(p || uniform)) is below this fraction of K.
MIN_EFFECTIVE = 0.75
COLLAPSE_RULE = (f"collapsed = fewer than {MIN_WELL_COVERED:.0%} of the K classes hold at least "
                 f"{WELL_COVERED_SHARE:g}/K of the samples, or the effective number of classes "
                 f"exp(entropy) = K*exp(-KL(hist||uniform)) is below {MIN_EFFECTIVE:.0%} of K "
                 f"(KL > log(1/{MIN_EFFECTIVE:g}) = {math.log(1 / MIN_EFFECTIVE):.3f} nats)")


def _probs(probs, name: str = "probs") -> np.ndarray:
    p = as_float64(probs, name)
    if p.shape[1] < 1:
        raise GanworksError(f"{name} must have at least one class column; got shape {p.shape}")
    if (p < 0).any():
        raise GanworksError(f"{name} has negative entries; pass softmax probabilities, not logits")
    sums = p.sum(1)
    if np.abs(sums - 1.0).max() > 1e-3:
        raise GanworksError(f"{name} rows must sum to 1 (one sums to {sums[np.argmax(np.abs(sums - 1))]:.4g}); "
                            f"pass softmax probabilities, not logits")
    return p / sums[:, None]


def _labels(probs_or_labels, num_classes: int, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(labels (N,) int64, probs (N, K) or None) from probabilities (argmax) or integer labels."""
    torch = loaded_torch()
    if torch is not None and isinstance(probs_or_labels, torch.Tensor):
        probs_or_labels = probs_or_labels.detach().cpu()
        if probs_or_labels.dtype == torch.bfloat16:
            probs_or_labels = probs_or_labels.float()
        probs_or_labels = probs_or_labels.numpy()
    x = np.asarray(probs_or_labels)
    if len(x) < 1:
        raise GanworksError(f"{name} is empty")
    if x.ndim == 2:
        if x.shape[1] != num_classes:
            raise GanworksError(f"{name} has {x.shape[1]} class columns but num_classes is {num_classes}")
        p = _probs(x, name)
        return p.argmax(1), p
    if x.ndim == 1:
        if not (np.issubdtype(x.dtype, np.integer) or x.dtype == bool):
            raise GanworksError(f"{name} (N,) must hold integer class labels; got dtype {x.dtype}")
        labels = x.astype(np.int64)
        bad = (labels < 0) | (labels >= num_classes)
        if bad.any():
            raise GanworksError(f"{name} has label {labels[bad][0]} outside [0, {num_classes})")
        return labels, None
    raise GanworksError(f"{name} must be probabilities (N, K) or labels (N,); got shape {x.shape}")


def _kl_to_uniform(p: np.ndarray) -> float:
    """KL(p || uniform over len(p)) in nats = log K - H(p), with 0 log 0 = 0."""
    nz = p[p > 0]
    return float(max((nz * np.log(nz * len(p))).sum(), 0.0))


def classifier_score(probs) -> float:
    """exp(E_x KL(p(y|x) || p(y))), p(y) = E_x p(y|x): the Inception score with a domain classifier.

    Salimans et al. 2016, eq. (5)/Sec. 4. ``probs`` (N, K): the classifier's softmax on the
    generated samples. It is K when every prediction is confident and the classes are used
    equally, 1 when all predictions are the same distribution (e.g. collapse onto one class);
    rounding is clipped so the result is always in [1, K]. Higher is better. Computed on all N
    samples at once (the original reports the mean over 10 splits of 5,000); like FD it depends
    on N, so compare at a fixed N.
    """
    p = _probs(probs)
    marginal = p.mean(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(marginal)[None, :]), 0.0)
    mean_kl = float(terms.sum(1).mean())
    return float(math.exp(min(max(mean_kl, 0.0), math.log(p.shape[1]))))


def class_histogram(probs_or_labels, num_classes: int) -> dict:
    """Class histogram of generated samples and a mode-collapse verdict; JSON-serializable.

    ``probs_or_labels``: a classifier's probabilities (N, K), whose argmax is the class, or
    integer labels (N,). Keys:

    - ``histogram``: count per class (list of K ints); ``num_samples``, ``num_classes``;
      ``min_count``, ``max_count``.
    - ``modes_covered``: classes with at least one sample.
    - ``modes_well_covered``: classes with at least half their fair share, count >= N / (2K).
      (A fixed share such as 1% would not scale with K: with K = 1,000 a uniform histogram has
      0.1% per class.)
    - ``kl_to_uniform``: KL(histogram / N || uniform) in nats, in [0, log K]; 0 for a perfectly
      balanced histogram. Sampling noise alone adds about (K - 1) / (2N).
    - ``effective_classes``: exp(entropy of the histogram) = K exp(-kl_to_uniform), in [1, K].
    - ``collapsed`` (:data:`COLLAPSE_RULE`): fewer than 90% of the classes have at least half their
      fair share, or the effective number of classes is below 75% of K. For K = 10 this flags two
      or more missing or starved classes, and strong imbalance such as one class holding 40% of the
      samples (effective 7.3 classes). It does not flag one missing class with the rest balanced
      (effective 9) or the README's demo generators (KL 0.017 to 0.046 nats, effective 9.5+). It
      assumes the real classes are roughly balanced (MNIST, Fashion-MNIST) and enough samples to
      make noise small: with N >= 50 K a balanced generator is essentially never flagged.
    - ``confident_fraction`` (share of samples whose max probability is >= 0.9) and
      ``mean_max_prob``: only from probabilities, else None. A collapsed generator of noise can
      still be classified confidently, so read these next to the histogram.
    """
    num_classes = int(num_classes)
    if num_classes < 1:
        raise GanworksError(f"num_classes must be >= 1; got {num_classes}")
    labels, p = _labels(probs_or_labels, num_classes, "probs_or_labels")
    hist = np.bincount(labels, minlength=num_classes)
    n = int(hist.sum())
    share = hist / n
    kl = _kl_to_uniform(share)
    effective = num_classes * math.exp(-kl)
    well = int((hist >= n * WELL_COVERED_SHARE / num_classes).sum())
    collapsed = well < MIN_WELL_COVERED * num_classes or effective < MIN_EFFECTIVE * num_classes
    maxp = None if p is None else p.max(1)
    return {
        "num_samples": n,
        "num_classes": num_classes,
        "histogram": hist.tolist(),
        "min_count": int(hist.min()),
        "max_count": int(hist.max()),
        "modes_covered": int((hist > 0).sum()),
        "modes_well_covered": well,
        "kl_to_uniform": kl,
        "effective_classes": effective,
        "collapsed": bool(collapsed),
        "confident_fraction": None if maxp is None else float((maxp >= 0.9).mean()),
        "mean_max_prob": None if maxp is None else float(maxp.mean()),
    }


def stacked_modes(probs_r, probs_g, probs_b) -> dict:
    """Modes of Stacked MNIST: three MNIST digits stacked as the R, G and B channels.

    VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018, Sec. 5.2): a digit classifier
    labels each channel, and the sample's mode is 100 d_r + 10 d_g + d_b, one of 1,000. Each
    argument is the classifier's probabilities (N, 10) for one channel (argmax) or labels (N,).
    Returns :func:`class_histogram` of the modes with K = 1,000: ``modes_covered`` is the number
    of modes with at least one sample (out of 1,000), ``kl_to_uniform`` is KL(generated mode
    distribution || uniform over 1,000) in nats (the papers' "KL"; empty modes contribute 0, so it
    is finite), ``histogram`` has 1,000 counts, and ``collapsed`` applies the same rule (it needs
    tens of thousands of samples to be meaningful with 1,000 modes). Confidence keys are None.

    Where the KL comes from: the uniform distribution over the 1,000 modes is the product of three
    uniform digit distributions, so the KL splits exactly (with the histograms' own frequencies)
    into a part per channel and a part for the channels' dependence:

        KL(p || u_1000) = KL(p_r || u_10) + KL(p_g || u_10) + KL(p_b || u_10) + KL(p || p_r p_g p_b)

    - ``channel_histograms``: the digit counts of each channel (3 lists of 10);
      ``channel_kl``: the three per-channel terms: how unevenly each channel's digits are drawn
      (or classified); sampling noise alone adds about 9 / (2N) to each.
    - ``dependence_kl``: the last term, the channels' total correlation (Watanabe 1960): it
      holds most of the sampling noise, about (1,000 - 1 - 3 x 9) / (2N), 0.0187 nats at
      N = 26,000, and whatever G couples between the channels.
    """
    digits = []
    for name, x in (("probs_r", probs_r), ("probs_g", probs_g), ("probs_b", probs_b)):
        digits.append(_labels(x, 10, name)[0])
    if not len(digits[0]) == len(digits[1]) == len(digits[2]):
        raise GanworksError(f"the three channels have different sample counts: {[len(d) for d in digits]}")
    out = class_histogram(100 * digits[0] + 10 * digits[1] + digits[2], 1000)
    channels = [np.bincount(d, minlength=10) for d in digits]
    n = max(len(digits[0]), 1)
    channel_kl = [_kl_to_uniform(h / n) for h in channels]
    joint = np.asarray(out["histogram"], dtype=np.float64) / n
    product = np.einsum("i,j,k->ijk", *(h / n for h in channels)).reshape(-1)
    nz = joint > 0  # joint > 0 implies product > 0
    dependence = float(max((joint[nz] * np.log(joint[nz] / product[nz])).sum(), 0.0))
    return {**out, "channel_histograms": [h.tolist() for h in channels], "channel_kl": channel_kl,
            "dependence_kl": dependence}


# ------------------------------------------------------------------------- in an evaluation
def product_probs(probs3: np.ndarray) -> np.ndarray:
    """(N, 3, 10) per-channel probabilities -> (N, 1000) joint ones (channels independent given the image)."""
    r, g, b = probs3[:, 0], probs3[:, 1], probs3[:, 2]
    return np.einsum("ni,nj,nk->nijk", r, g, b).reshape(len(r), -1)


def compute_score(x: MetricInputs) -> tuple[dict, dict]:
    """The classifier score of the fakes (1,000-way on per-channel colour data): (values, provenance)."""
    probs = product_probs(x.probs) if x.per_channel else x.probs
    v = classifier_score(probs)
    note = ({"note": "1,000-way probabilities: product of the three channels' digit probabilities"}
            if x.per_channel else {})
    return {"score": v, "num_classes": int(probs.shape[1]), **note}, {"extractor": x.extractor, "reference": None}


def format_score(r: dict) -> tuple[str, str]:
    return f"{r['score']:.3f}", f"of at most {r['num_classes']}"


def compute_modes(x: MetricInputs) -> tuple[dict, dict]:
    """The fakes' class histogram, or the 1,000 Stacked MNIST modes on per-channel data: (values, provenance)."""
    if x.per_channel:
        values = {**stacked_modes(x.probs[:, 0], x.probs[:, 1], x.probs[:, 2]),
                  "protocol": "Stacked MNIST (VEEGAN/PacGAN): each channel classified, mode = 100 d_r + 10 d_g + d_b"}
    else:
        values = class_histogram(x.probs, x.num_classes)
    return values, {"extractor": x.extractor, "reference": None}


def format_modes(r: dict) -> tuple[str, str]:
    split = ""
    if "channel_kl" in r:  # Stacked MNIST: where the KL comes from
        split = (f" (channels {' + '.join(f'{v:.4f}' for v in r['channel_kl'])}, "
                 f"dependence {r['dependence_kl']:.4f})")
    return (f"{r['modes_covered']}/{r['num_classes']}",
            f"KL {r['kl_to_uniform']:.3f} nats{split}, {r['modes_well_covered']} well covered, "
            f"{'COLLAPSED' if r['collapsed'] else 'not collapsed'}")
