"""A finished (or running) sequence run as the commands see it: sample text, evaluate.

>>> from ganworks.sequences.run import sample_text, evaluate_run
>>> sample_text("runs/00001-brackets-seq-ns-gumbel", n=5)
>>> evaluate_run("runs/00001-brackets-seq-ns-gumbel", "validity,unique,novel")["metrics"]["validity"]["value"]
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import torch

from .._version import __version__
from ..errors import GanworksError
from .data import decode, load_sequences
from .metrics import SequenceInputs, compute, default_metrics, parse_metrics

MAX_SAMPLES = 10**6


def _json(path: Path) -> dict[str, Any] | None:
    """The JSON object in a regular file, else None: a named pipe is never opened (it could block), and a
    missing, unreadable or garbled file, or JSON that is not an object, is left to the loaders to explain."""
    try:
        if not path.is_file():
            return None
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _arch(record: dict[str, Any]) -> Any:
    model = record.get("model")
    return model.get("arch") if isinstance(model, dict) else None


def is_sequence_run(path: str | Path) -> bool:
    """True when ``path`` is a run or snapshot of the ``seq`` model (its generator.json or config.json says so)."""
    p = Path(path)
    d = p.parent if p.is_file() else p
    gen, cfg = _json(d / "generator.json") or {}, _json(d / "config.json") or {}
    return _arch(gen) == "seq" or _arch(cfg) == "seq"


def _vocab(run: Path) -> dict[str, Any]:
    """How the run writes tokens: RUN/vocab.json, else the record in generator.json (a snapshot directory)."""
    record = _json(run / "vocab.json") or (_json(run / "generator.json") or {}).get("tokens")
    if not isinstance(record, dict) or "join" not in record:
        raise GanworksError(f"{run} has no vocab.json (nor a vocabulary in generator.json): cannot write its "
                            "tokens as text")
    return record


def _draw(G, n: int, seed: int, temperature: float) -> torch.Tensor:
    if not (temperature > 0 and temperature < float("inf")):
        raise GanworksError(f"--temperature must be a positive finite number, got {temperature!r}")
    if n > MAX_SAMPLES:
        raise GanworksError(f"--n must be at most {MAX_SAMPLES} sequences, got {n}")
    gen = torch.Generator().manual_seed(seed)
    return torch.cat([G.sample(min(4096, n - i), temperature=temperature, generator=gen) for i in range(0, n, 4096)])


def sample_text(run: str | Path, n: int = 64, seed: int = 0, temperature: float = 1.0) -> list[str]:
    """``n`` sequences of a run's generator as text, drawn from softmax(logits / temperature)."""
    from ..release import load_generator

    run = Path(run)
    G = load_generator(run)
    v = _vocab(run if run.is_dir() else run.parent)
    return decode(_draw(G, n, seed, temperature), v["vocab"], v["join"], v["eos"])


def evaluate_run(run: str | Path, metrics: str | None = None, *, n: int | None = None, seed: int = 0,
                 temperature: float = 1.0, data: str | None = None,
                 log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score a sequence run's samples (``n``, default 2,000, at ``temperature``) with sequence metrics
    (default per dataset, :func:`default_metrics`) against its own dataset's splits."""
    from ..release import load_generator

    log = log or (lambda s: None)
    t0 = time.perf_counter()
    run = Path(run)
    config = _json(run / "config.json")
    if config is None or "train" not in config:
        raise GanworksError(f"{run} is not a sequence run directory (no readable config.json)")
    train_cfg = config["train"]
    if data is not None and data != train_cfg["data"]:
        raise GanworksError(f"--data {data}: run {run} was trained on {train_cfg['data']!r}; a sequence run is "
                            "scored against its own data (leave --data out)")
    names = parse_metrics(metrics or default_metrics(train_cfg["data"]))
    kw = {"tokens": train_cfg.get("tokens", "char"), "max_len": train_cfg.get("max_len"),
          "max_vocab": train_cfg.get("max_vocab", 10_000)}
    train, test = load_sequences(train_cfg["data"], "train", **kw), load_sequences(train_cfg["data"], "test", **kw)
    G = load_generator(run)
    n = n or 2000
    log(f"sampling {n} sequences at temperature {temperature:g}")
    samples = _draw(G, n, seed, temperature)
    results = compute(names, SequenceInputs(samples, G, train, test, temperature), seed)
    return {"ganworks_version": __version__, "data": train_cfg["data"], "seed": seed,
            "source": {"kind": "run", "path": str(run.resolve()), "temperature": temperature,
                       "sample_count": n},
            "metrics": results, "total_time_s": round(time.perf_counter() - t0, 3)}


def format_table(result: dict[str, Any]) -> str:
    rows = [f"{'metric':<12} {'value':>10}  better"]
    for name, r in result["metrics"].items():
        rows.append(f"{name:<12} {r['value']:>10.4f}  {'higher' if r['higher_is_better'] else 'lower'}")
    return "\n".join(rows)
