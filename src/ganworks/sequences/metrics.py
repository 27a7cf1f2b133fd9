"""Metrics of generated token sequences, each one entry that computes itself with its provenance.

Quality and diversity pull apart for language models, so both sides are reported (Caccia et al.
2020, "Language GANs Falling Short"; Semeniuta et al. 2018):

- ``nll-oracle`` (oracle data): the oracle's NLL of G's samples, nats per token (SeqGAN's NLL;
  lower = samples the true model finds likely: quality).
- ``nll-gen``: G's NLL of the held-out real sequences (lower = G covers the data: diversity), under
  the model the samples came from (softmax(logits / T) at sampling temperature T).
- ``bleu``: BLEU-4 of the samples against the held-out sequences as references (quality);
  ``self-bleu``: of each sample against the other samples (higher = less diverse; Zhu et al. 2018).
- ``validity`` (brackets): share of samples in the language; ``unique``: share of distinct samples;
  ``novel``: share of samples that are not training sequences.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .._version import __version__
from ..errors import GanworksError, unknown_name
from .data import ORACLES, TokenDataset, is_balanced, oracle_fingerprint, oracle_model, sequence_key

BLEU_N = 4
BLEU_SAMPLES = 500  # bleu and self-bleu score this many samples (references: the whole held-out split)


@dataclass
class SequenceInputs:
    """What a metric reads: the samples, the generator (for nll-gen), the run's data splits."""

    samples: torch.Tensor  # (N, L) token ids
    G: torch.nn.Module | None
    train: TokenDataset
    test: TokenDataset
    temperature: float = 1.0  # the samples' sampling temperature: nll-gen scores the same tempered model

    def keys(self) -> list[tuple[int, ...]]:
        return [sequence_key(r, self.train.eos) for r in self.samples.tolist()]


# ------------------------------------------------------------------------------------------- BLEU
def _ngrams(seq: tuple, n: int) -> Counter:
    return Counter(seq[i:i + n] for i in range(len(seq) - n + 1))


class _References:
    """Per n-gram the largest count in any one reference (BLEU's clipping), and the second largest with
    who holds the largest, so a sample can be scored against every reference but itself (self-BLEU)."""

    def __init__(self, refs: list[tuple], max_n: int):
        self.best: dict[tuple, tuple[int, int, int]] = {}  # n-gram -> (max count, its reference, second max)
        self.lengths = sorted({len(r) for r in refs})
        for idx, ref in enumerate(refs):
            for n in range(1, max_n + 1):
                for g, c in _ngrams(ref, n).items():
                    m1, i1, m2 = self.best.get(g, (0, -1, 0))
                    self.best[g] = (c, idx, m1) if c > m1 else (m1, i1, max(m2, c))

    def clip(self, g: tuple, exclude: int) -> int:
        m1, i1, m2 = self.best.get(g, (0, -1, 0))
        return m2 if i1 == exclude else m1


def bleu_scores(hyps: list[tuple], refs: list[tuple], max_n: int = BLEU_N, self_refs: bool = False) -> list[float]:
    """Sentence BLEU-``max_n`` (Papineni et al. 2002) of each hypothesis against every reference, with
    "+1" smoothing of the higher orders (Lin & Och 2004) and the brevity penalty of the closest reference
    length. ``self_refs``: hyps are the references, each scored against all the others (self-BLEU)."""
    book = _References(refs, max_n)
    scores = []
    for i, h in enumerate(hyps):
        if not h:
            scores.append(0.0)
            continue
        log_p = 0.0
        for n in range(1, max_n + 1):
            grams = _ngrams(h, n)
            total = sum(grams.values())
            hit = sum(min(c, book.clip(g, i if self_refs else -1)) for g, c in grams.items())
            smooth = 1 if n > 1 else 0
            if hit + smooth == 0 or total + smooth == 0:
                log_p = -math.inf
                break
            log_p += math.log((hit + smooth) / (total + smooth)) / max_n
        closest = min(book.lengths, key=lambda r: (abs(r - len(h)), r))
        bp = 1.0 if len(h) >= closest else math.exp(1 - closest / len(h))
        scores.append(bp * math.exp(log_p) if log_p > -math.inf else 0.0)
    return scores


# ---------------------------------------------------------------------------------------- metrics
def _nll_oracle(x: SequenceInputs) -> tuple[dict, dict]:
    if x.train.name not in ORACLES:
        raise GanworksError(f"metric nll-oracle needs oracle data (oracle, oracle40), not {x.train.name!r}")
    seq_len = ORACLES[x.train.name]
    with torch.no_grad():
        nll = oracle_model(seq_len).nll(x.samples.cpu()).mean().item()
    return {"nll_oracle": nll}, {"oracle_sha256": oracle_fingerprint(seq_len), "unit": "nats per token"}


def _nll_gen(x: SequenceInputs) -> tuple[dict, dict]:
    if x.G is None:
        raise GanworksError("metric nll-gen needs the generator (a run), not a file of samples")
    if len(x.test) == 0:
        raise GanworksError(f"metric nll-gen needs held-out sequences; dataset {x.train.name!r} has none")
    device = next(x.G.parameters()).device
    with torch.no_grad():
        nll = torch.cat([x.G.nll(b.to(device), x.temperature).cpu()
                         for b in x.test.tokens.split(1000)]).mean().item()
    # At T != 1 the model scored is the one the samples came from, softmax(logits / T): a temperature sweep
    # then moves along the quality / diversity curve of Caccia et al. 2020 on both axes.
    return {"nll_gen": nll}, {"reference": f"{x.test.name} test split", "reference_count": len(x.test),
                              "temperature": x.temperature, "unit": "nats per token"}


def _texts(x: SequenceInputs) -> tuple[list[tuple], list[tuple]]:
    hyps = x.keys()[:BLEU_SAMPLES]
    refs = [sequence_key(r, x.test.eos) for r in x.test.tokens.tolist()]
    return hyps, refs


def _bleu(x: SequenceInputs) -> tuple[dict, dict]:
    hyps, refs = _texts(x)
    scores = bleu_scores(hyps, refs)
    return {"bleu": sum(scores) / len(scores)}, {"n": BLEU_N, "scored": len(hyps),
                                                  "reference": f"{x.test.name} test split",
                                                  "reference_count": len(refs), "smoothing": "+1 for n > 1"}


def _self_bleu(x: SequenceInputs) -> tuple[dict, dict]:
    hyps, _ = _texts(x)
    if len(hyps) < 2:
        raise GanworksError("metric self-bleu needs at least 2 samples")
    scores = bleu_scores(hyps, hyps, self_refs=True)
    return {"self_bleu": sum(scores) / len(scores)}, {"n": BLEU_N, "scored": len(hyps), "smoothing": "+1 for n > 1"}


def _validity(x: SequenceInputs) -> tuple[dict, dict]:
    if x.train.name != "brackets":
        raise GanworksError(f"metric validity needs a formal language (brackets), not {x.train.name!r}")
    ok = [is_balanced(s) for s in x.train.decode(x.samples.cpu())]
    return {"validity": sum(ok) / len(ok)}, {"language": "non-empty balanced ( ) [ ] strings (exact check)"}


def _unique(x: SequenceInputs) -> tuple[dict, dict]:
    keys = x.keys()
    return {"unique": len(set(keys)) / len(keys)}, {}


def _novel(x: SequenceInputs) -> tuple[dict, dict]:
    keys = x.keys()
    return {"novel": sum(k not in x.train.train_sequences for k in keys) / len(keys)}, \
        {"train_sequences": len(x.train.train_sequences)}


@dataclass(frozen=True)
class SequenceMetric:
    name: str
    compute: Callable[[SequenceInputs], tuple[dict[str, float], dict[str, Any]]]
    higher_is_better: bool
    citation: str


METRICS: dict[str, SequenceMetric] = {m.name: m for m in (
    SequenceMetric("nll-oracle", _nll_oracle, False, "Yu et al. 2017, SeqGAN, Sec. 5"),
    SequenceMetric("nll-gen", _nll_gen, False, "Caccia et al. 2020, Language GANs Falling Short"),
    SequenceMetric("bleu", _bleu, True, "Papineni et al. 2002; Yu et al. 2017"),
    SequenceMetric("self-bleu", _self_bleu, False, "Zhu et al. 2018, Texygen"),
    SequenceMetric("validity", _validity, True, "exact membership in the formal language"),
    SequenceMetric("unique", _unique, True, "share of distinct samples"),
    SequenceMetric("novel", _novel, True, "share of samples not in the training set"),
)}


def default_metrics(data: str) -> str:
    """What ``ganworks evaluate`` computes for a sequence run without ``--metrics``."""
    if data in ORACLES:
        return "nll-oracle,nll-gen,unique"
    if data == "brackets":
        return "validity,unique,novel,nll-gen"
    return "bleu,self-bleu,unique,novel,nll-gen"


def parse_metrics(metrics: str) -> list[str]:
    names = [m.strip() for m in metrics.split(",") if m.strip()]
    if not names:
        raise GanworksError(f"no metrics given; valid: {', '.join(METRICS)}")
    for m in names:
        if m not in METRICS:
            raise unknown_name("sequence metric", m, METRICS)
    return list(dict.fromkeys(names))


def compute(names: list[str], x: SequenceInputs, seed: int) -> dict[str, dict[str, Any]]:
    """Each metric's values with its provenance (sample count, seed, references, version, seconds)."""
    out = {}
    for name in names:
        m = METRICS[name]
        t = time.perf_counter()
        values, provenance = m.compute(x)
        out[name] = {"metric": name, "value": next(iter(values.values())), **values,
                     "higher_is_better": m.higher_is_better, "citation": m.citation, **provenance,
                     "sample_count": len(x.samples), "seed": seed, "ganworks_version": __version__,
                     "time_s": round(time.perf_counter() - t, 4)}
    return out
