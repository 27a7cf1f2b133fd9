"""Token-sequence datasets: the synthetic oracle, a formal language, names and any text file.

Every dataset is a (N, L) int64 tensor of token ids with a train and a held-out ``test`` split (for
NLL_gen, the generator's likelihood of real sequences it never saw). With an end token (``eos``),
token 0 ends a sequence and pads it to length L; the oracle has fixed length and no end token.

- ``oracle`` / ``oracle40``: SeqGAN's synthetic benchmark (Yu et al. 2017, Sec. 5): a randomly
  initialised LSTM (vocabulary 5,000, hidden 32, embedding 32, every weight N(0, 1), seed
  :data:`ORACLE_SEED`) is the true distribution; 10,000 of its samples of length 20 (40) are the
  training set. Its own NLL of generated sequences, NLL_oracle, measures their quality.
- ``brackets``: balanced strings over ( ) [ ] of 2 to 16 symbols (Dyck-2); validity is exact.
- ``names``: 5,000-odd US census first names (the ``names`` package ships them), one character a token.
- ``text:PATH``: the non-empty lines of a UTF-8 file, character or word tokens (``--tokens``).
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import GanworksError
from ..data.registry import DatasetSpec

TEXT_PREFIX = "text:"
EOS = "<eos>"  # token 0 of every vocabulary with an end token
ORACLE_SEED = 0  # the oracle's weights: torch.Generator().manual_seed(ORACLE_SEED), in parameter order
ORACLE_VOCAB, ORACLE_DIM = 5000, 32
HELD_OUT = 0.1  # share of names / text lines held out as the test split
AUTO_MAX_LEN = 256  # text:PATH: a longer longest line needs an explicit --max-len
TOKENS = ("char", "word")


@dataclass
class TokenDataset:
    """One split of a sequence dataset: ``tokens`` (N, L) int64; ``vocab`` the token strings (None: the
    oracle's tokens are plain ids); ``join`` what goes between tokens when a sequence is written as text."""

    name: str
    split: str
    tokens: Tensor
    vocab: tuple[str, ...] | None
    vocab_size: int
    eos: bool
    source: str
    join: str = ""
    train_sequences: frozenset = field(default_factory=frozenset, repr=False)  # for novelty (train split's own)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def seq_len(self) -> int:
        return int(self.tokens.shape[1])

    @property
    def shape(self) -> list[int]:
        return [self.seq_len]

    num_classes = None

    def decode(self, tokens: Tensor) -> list[str]:
        return decode(tokens, self.vocab, self.join, self.eos)

    def vocab_record(self) -> dict[str, Any]:
        """What ``vocab.json`` in a run directory holds: enough to write samples as text."""
        return {"data": self.name, "vocab": list(self.vocab) if self.vocab is not None else None,
                "vocab_size": self.vocab_size, "join": self.join, "eos": self.eos, "seq_len": self.seq_len}


def decode(tokens: Tensor, vocab, join: str, eos: bool) -> list[str]:
    """(N, L) token ids -> N strings, each cut at its first end token."""
    out = []
    for row in tokens.tolist():
        if eos and 0 in row:
            row = row[:row.index(0)]
        out.append(join.join(vocab[t] for t in row) if vocab is not None else " ".join(map(str, row)))
    return out


def sequence_key(row: list[int], eos: bool) -> tuple[int, ...]:
    """A sequence as a hashable tuple, cut at its first end token (for uniqueness and novelty)."""
    return tuple(row[:row.index(0)]) if eos and 0 in row else tuple(row)


# ------------------------------------------------------------------------------------------ the oracle
@functools.lru_cache(maxsize=2)
def oracle_model(seq_len: int):
    """SeqGAN's oracle: an LSTM generator whose every weight and bias is N(0, 1), drawn from
    ``manual_seed(ORACLE_SEED)`` in parameter order; the same weights for every length."""
    from ..models import build_generator, make_model_config

    cfg = make_model_config("seq", vocab_size=ORACLE_VOCAB, seq_len=seq_len, eos=False, emb_dim=ORACLE_DIM,
                            hidden_dim=ORACLE_DIM)
    with torch.random.fork_rng(devices=[]):
        G = build_generator("seq", cfg)
    gen = torch.Generator().manual_seed(ORACLE_SEED)
    with torch.no_grad():
        for p in G.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return G.eval().requires_grad_(False)


def oracle_fingerprint(seq_len: int) -> str:
    """sha256 of the oracle's weights (provenance of NLL_oracle)."""
    import hashlib

    h = hashlib.sha256()
    for name, t in oracle_model(seq_len).state_dict().items():
        h.update(name.encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=4)
def _oracle_split(seq_len: int, split: str, n: int) -> Tensor:
    """The oracle's ``n`` samples for ``split`` (seed 1: train, 2: test), cached under the ganworks home
    as .npy named by the oracle's weight hash (drawing them takes seconds)."""
    from ..images import atomic_path
    from ..paths import ganworks_home

    path = ganworks_home() / "datasets" / f"oracle{seq_len}" / f"{split}-{n}-{oracle_fingerprint(seq_len)[:16]}.npy"
    try:
        cached = np.load(path, allow_pickle=False)
        if cached.shape == (n, seq_len) and cached.dtype == np.int64:
            return torch.from_numpy(cached)
    except (OSError, ValueError):
        pass
    gen = torch.Generator().manual_seed({"train": 1, "test": 2}[split])
    G = oracle_model(seq_len)
    rows = torch.cat([G.sample(min(2000, n - i), generator=gen) for i in range(0, n, 2000)])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, rows.numpy())
    except (OSError, GanworksError):
        pass  # a read-only home: draw them again next time
    return rows


# ------------------------------------------------------------------------------------------ brackets
BRACKETS = ("(", ")", "[", "]")
BRACKETS_LEN = 16


@functools.lru_cache(maxsize=4)
def brackets_strings(n: int, seed: int, max_len: int = BRACKETS_LEN) -> tuple[str, ...]:
    """``n`` random balanced strings over ( ) [ ]: m pairs uniform in 1..max_len/2, a uniformly random
    balanced arrangement of them (shuffles of m opening and m closing steps, keeping those whose running
    sum never goes below 0), each pair round or square at random."""
    rng = np.random.default_rng(seed)
    pairs = rng.integers(1, max_len // 2 + 1, size=n)
    walks: dict[int, list[np.ndarray]] = {}
    for m in range(1, max_len // 2 + 1):
        need, got = int((pairs == m).sum()), []
        while need > 0:  # accepted with probability 1 / (m + 1): draw (m + 1) times as many, in one go
            steps = np.where(rng.random((2 * need * (m + 1), 2 * m)).argsort(axis=1) < m, 1, -1)
            ok = steps[np.cumsum(steps, axis=1).min(axis=1) >= 0][:need]
            got.append(ok)
            need -= len(ok)
        walks[m] = list(np.concatenate(got)) if got else []
    out = []
    kinds = rng.integers(0, 2, size=(n, max_len // 2))
    for i, m in enumerate(pairs):
        stack, s, k = [], [], 0
        for step in walks[int(m)].pop():
            if step > 0:
                stack.append(int(kinds[i, k]))
                k += 1
                s.append("(["[stack[-1]])
            else:
                s.append(")]"[stack.pop()])
        out.append("".join(s))
    return tuple(out)


def is_balanced(s: str) -> bool:
    """The exact check of the brackets language: non-empty, and every ( ] pair matches and nests."""
    stack = []
    for ch in s:
        if ch in "([":
            stack.append(ch)
        elif ch in ")]":
            if not stack or stack.pop() != "(["[")]".index(ch)]:
                return False
        else:
            return False
    return bool(s) and not stack


# --------------------------------------------------------------------------------------- text and names
def _tokenize(lines: list[str], tokens: str) -> list[list[str]]:
    return [list(line) if tokens == "char" else line.split() for line in lines]


def _encode(name: str, seqs: list[list[str]], *, max_vocab: int, what: str) -> tuple[Tensor, tuple[str, ...]]:
    """Token strings -> (N, L) ids with 0 the end token; the vocabulary by frequency, then alphabetically."""
    counts = Counter(t for s in seqs for t in s)
    if len(counts) + 1 > max_vocab:
        raise GanworksError(f"{what} has a vocabulary of {len(counts) + 1} tokens (with the end token), more than "
                            f"--max-vocab {max_vocab}; use --tokens char, or raise --max-vocab")
    vocab = (EOS, *sorted(counts, key=lambda t: (-counts[t], t)))
    index = {t: i for i, t in enumerate(vocab)}
    length = max(len(s) for s in seqs)
    out = torch.zeros(len(seqs), length, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.tensor([index[t] for t in s], dtype=torch.long)
    return out, vocab


def _held_out_split(n: int) -> np.ndarray:
    """Indices of the test split: HELD_OUT of a fixed permutation (at least one when there are two)."""
    k = int(n * HELD_OUT) or (1 if n >= 2 else 0)
    return np.random.default_rng(0).permutation(n)[:k]


def _read_text(path: str, tokens: str, max_len: int | None) -> tuple[list[list[str]], str]:
    p = Path(path).expanduser()
    where = f"{TEXT_PREFIX}{path}"
    if not path:
        raise GanworksError(f"dataset {where!r} names no file; use text:PATH (a UTF-8 file, one sequence a line)")
    if not p.exists():
        raise GanworksError(f"{where}: no such file")
    if not p.is_file():
        raise GanworksError(f"{where}: not a regular file (a UTF-8 text file, one sequence a line)")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise GanworksError(f"{where}: not UTF-8 text (byte {e.start} cannot be decoded)") from None
    except OSError as e:
        raise GanworksError(f"{where}: cannot read: {e.strerror or e}") from None
    seqs = [s for s in _tokenize([line.strip() for line in text.splitlines()], tokens) if s]
    if not seqs:
        raise GanworksError(f"{where} holds no non-empty lines: nothing to learn from")
    longest = max(len(s) for s in seqs)
    if max_len is None and longest > AUTO_MAX_LEN:
        raise GanworksError(f"{where}: its longest line has {longest} {tokens} tokens (over {AUTO_MAX_LEN}); "
                            "set --max-len N (longer lines are left out)")
    if max_len is not None:
        kept = [s for s in seqs if len(s) <= max_len]
        if not kept:
            raise GanworksError(f"{where}: every line is longer than --max-len {max_len} {tokens} tokens "
                                f"(the shortest has {min(len(s) for s in seqs)})")
        if len(kept) < len(seqs):
            import warnings

            warnings.warn(f"{where}: {len(seqs) - len(kept)} of {len(seqs)} lines are longer than --max-len "
                          f"{max_len} and were left out")
        seqs = kept
    return seqs, f"{p.resolve()} ({tokens} tokens)"


def names_lines() -> list[str]:
    """The first names the ``names`` package ships (US census 1990, female and male), lower case, unique."""
    if importlib.util.find_spec("names") is None:
        raise GanworksError("dataset 'names' needs the names package (pip install names; make setup installs it)")
    from importlib import resources

    lines = set()
    for f in ("dist.female.first", "dist.male.first"):
        for row in (resources.files("names") / f).read_text().splitlines():
            if row.split():
                lines.add(row.split()[0].lower())
    return sorted(lines)


# ------------------------------------------------------------------------------------------ loading
def _from_strings(name: str, split: str, seqs: list[list[str]], *, max_vocab: int, what: str, source: str,
                  join: str) -> TokenDataset:
    """Encode every sequence (one vocabulary for both splits), then take the split."""
    ids, vocab = _encode(name, seqs, max_vocab=max_vocab, what=what)
    test = np.zeros(len(seqs), dtype=bool)
    test[_held_out_split(len(seqs))] = True
    train = ids[torch.from_numpy(~test)]
    rows = train if split == "train" else ids[torch.from_numpy(test)]
    seen = frozenset(sequence_key(r, True) for r in train.tolist())
    return TokenDataset(name=name, split=split, tokens=rows, vocab=vocab, vocab_size=len(vocab), eos=True,
                        source=source, join=join, train_sequences=seen)


def load_sequences(name: str, split: str = "train", *, tokens: str = "char", max_len: int | None = None,
                   max_vocab: int = 10_000) -> TokenDataset:
    """Split ``split`` ("train" or "test") of sequence dataset ``name`` (a key of :data:`SEQUENCE_DATASETS`
    or ``text:PATH``). ``tokens``, ``max_len``, ``max_vocab``: how text (and names) become tokens."""
    if split not in ("train", "test"):
        raise GanworksError(f"dataset {name!r} has no split {split!r}; valid splits: train, test")
    if name.startswith(TEXT_PREFIX):
        seqs, source = _read_text(name[len(TEXT_PREFIX):], tokens, max_len)
        data = _from_strings(name, split, seqs, max_vocab=max_vocab, what=name, source=source,
                             join="" if tokens == "char" else " ")
    elif name == "names":
        seqs = [list(s) for s in names_lines()]
        if max_len is not None:
            seqs = [s for s in seqs if len(s) <= max_len] or seqs[:0]
            if not seqs:
                raise GanworksError(f"dataset 'names': no name has at most --max-len {max_len} characters")
        data = _from_strings(name, split, seqs, max_vocab=max_vocab, what="dataset 'names'",
                             source="US census 1990 first names, from the names package", join="")
    elif name == "brackets":
        strings = brackets_strings({"train": 10_000, "test": 1_000}[split], seed={"train": 1, "test": 2}[split])
        index = {ch: i + 1 for i, ch in enumerate(BRACKETS)}
        ids = torch.zeros(len(strings), BRACKETS_LEN, dtype=torch.long)
        for i, s in enumerate(strings):
            ids[i, :len(s)] = torch.tensor([index[ch] for ch in s])
        train_set = frozenset(brackets_strings(10_000, seed=1))
        data = TokenDataset(name=name, split=split, tokens=ids, vocab=(EOS, *BRACKETS), vocab_size=5, eos=True,
                            source="balanced ( ) [ ] strings of 2 to 16 symbols drawn by ganworks",
                            train_sequences=frozenset(tuple(index[ch] for ch in s) for s in train_set))
    elif name in ORACLES:
        seq_len = ORACLES[name]
        rows = _oracle_split(seq_len, split, {"train": 10_000, "test": 2_000}[split])
        train_rows = _oracle_split(seq_len, "train", 10_000)
        data = TokenDataset(name=name, split=split, tokens=rows, vocab=None, vocab_size=ORACLE_VOCAB, eos=False,
                            source=f"SeqGAN oracle: LSTM, N(0, 1) weights, seed {ORACLE_SEED}, length {seq_len}",
                            train_sequences=frozenset(map(tuple, train_rows.tolist())))
    else:
        from ..errors import unknown_name

        raise unknown_name("sequence dataset", name, [*SEQUENCE_DATASETS, TEXT_PREFIX + "PATH"])
    if name != "names" and max_len is not None and not name.startswith(TEXT_PREFIX):
        raise GanworksError(f"--max-len applies to names and text:PATH; dataset {name!r} has a fixed length")
    return data


def is_sequence_data(name: str) -> bool:
    """True for the token-sequence datasets: ``oracle``, ``oracle40``, ``brackets``, ``names``, ``text:PATH``."""
    return name in SEQUENCE_DATASETS or name.startswith(TEXT_PREFIX)


ORACLES = {"oracle": 20, "oracle40": 40}


# ------------------------------------------------------------------------------------------ registry
@dataclass(frozen=True, kw_only=True)
class SequenceSpec(DatasetSpec):
    """A registry entry (``ganworks data list``) for a built-in sequence dataset; loading goes through
    :func:`load_sequences`. ``shape`` is (1, 1, L) for the registry's sake: one row of L tokens."""

    seq_len: int
    vocab_size: int
    package: str | None = None

    def sources(self) -> list[str]:
        return [f"the {self.package} package"] if self.package else ["generated by ganworks (no files)"]

    def is_cached(self, home: Path | None = None) -> bool:
        return self.package is None or importlib.util.find_spec(self.package) is not None

    def fetch(self, home: Path | None = None) -> list[Path]:
        return []

    def load(self, split: str = "train", *, download: bool = True, home: Path | None = None) -> TokenDataset:
        self.check_split(split)
        return load_sequences(self.name, split)

    def info(self, home: Path | None = None) -> dict[str, Any]:
        return {**super().info(home), "kind": "sequences", "seq_len": self.seq_len, "vocab_size": self.vocab_size}


def _spec(name: str, description: str, seq_len: int, vocab: int, splits: dict, citation: str,
          package: str | None = None, license: str = "synthetic") -> SequenceSpec:
    return SequenceSpec(name=name, description=description, shape=(1, 1, seq_len), num_classes=None,
                        splits=splits, license=license, citation=citation, seq_len=seq_len, vocab_size=vocab,
                        package=package)


_SEQGAN = "Yu et al. 2017, SeqGAN, Sec. 5 (synthetic data experiments)"
SEQUENCE_DATASETS: dict[str, SequenceSpec] = {s.name: s for s in (
    _spec("oracle", "SeqGAN's oracle: 10,000 sequences of 20 tokens from a random LSTM (vocabulary 5,000); tokens",
          20, ORACLE_VOCAB, {"train": 10_000, "test": 2_000}, _SEQGAN),
    _spec("oracle40", "SeqGAN's oracle with sequences of 40 tokens; tokens", 40, ORACLE_VOCAB,
          {"train": 10_000, "test": 2_000}, _SEQGAN),
    _spec("brackets", "balanced ( ) [ ] strings of 2 to 16 symbols (exact validity check); tokens", BRACKETS_LEN,
          len(BRACKETS) + 1, {"train": 10_000, "test": 1_000}, "Dyck-2 language"),
    _spec("names", "US census 1990 first names, one character a token (the names package); tokens", 11, 27,
          {"train": 4_647, "test": 516}, "US Census Bureau 1990 name files, via the names package",
          package="names", license="public domain data; the package is MIT"),
)}


def write_vocab(run_dir: Path, data: TokenDataset) -> Path:
    """``RUN/vocab.json``: how the run's tokens are written as text."""
    from ..images import atomic_path

    path = Path(run_dir) / "vocab.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data.vocab_record()) + "\n")
    return path
