"""Options as data: one dataclass field carries its flag, help, check and resume rule.

A training option is declared once, as a field of :class:`ganworks.config.TrainConfig` (or of a
model's config dataclass) built with :func:`option`. Everything else is read from that field: the
``ganworks train`` argparse parser, ``--help``, the validation of values from the command line and
the Python API, the ``--resume`` rule (which settings a continued run may change), the flag named
in error messages, and the options table in ``docs/options.md``.

This module imports nothing heavy (no torch), so the command line can parse and reject a bad value
before the training stack loads.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from dataclasses import MISSING, dataclass
from typing import Any, Callable, Iterable

from .errors import GanworksError

META = "ganworks"  # key of our entry in a dataclass field's metadata


# ------------------------------------------------------------------------------------------ checks
class Check:
    """How a value is read from the command line (``convert``) and what values are valid (``validate``).

    ``describe`` completes "FLAG ... , got VALUE", so the Python API and the command line give the same
    message for the same bad value.
    """

    describe = "is invalid"
    metavar: str | None = None

    def convert(self, text: str) -> Any:
        return text

    def ok(self, value: Any) -> bool:
        return True

    def validate(self, flag: str, value: Any) -> None:
        if not self.ok(value):
            raise GanworksError(f"{flag} {self.describe}, got {value!r}")

    def choices(self) -> list[str] | None:
        return None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Int(Check):
    """An integer of at least ``min`` (and at most ``max``, when given)."""

    def __init__(self, min: int = 1, describe: str | None = None, max: int | None = None):
        self.min, self.max = min, max
        self.metavar = "N"
        if describe is None and max is not None:
            describe = f"must be an integer in [{min}, {max}]"
        self.describe = describe or {1: "must be a positive integer", 0: "must be a non-negative integer"}.get(
            min, f"must be an integer of at least {min}")

    def convert(self, text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None

    def ok(self, v: Any) -> bool:
        return _is_int(v) and v >= self.min and (self.max is None or v <= self.max)


#: The largest seed: torch's generators take 64-bit seeds (``manual_seed(2**64)`` overflows).
SEED_MAX = 2**64 - 1
SEED = Int(0, max=SEED_MAX)


class Float(Check):
    """A finite number in a range: ``lo``/``hi`` bounds, each open or closed."""

    def __init__(self, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                 hi_open: bool = False, describe: str | None = None):
        self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open
        self.metavar = "X"
        if describe:
            self.describe = describe
        elif hi is None and lo == 0:
            self.describe = "must be a positive finite number" if lo_open else "must be a non-negative finite number"
        else:
            self.describe = (f"must be in {'(' if lo_open else '['}{lo:g}, "
                             f"{hi:g}{')' if hi_open else ']'}")

    def convert(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None

    def ok(self, v: Any) -> bool:
        if not _is_number(v) or not math.isfinite(v):
            return False
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return self.hi is None or (v < self.hi if self.hi_open else v <= self.hi)


POSITIVE = Float(0, lo_open=True)
NONNEGATIVE = Float(0)
UNIT = Float(0, 1, hi_open=True)  # [0, 1)


class Bool(Check):
    describe = "must be true or false"

    def ok(self, v: Any) -> bool:
        return isinstance(v, bool)


class Text(Check):
    """Any string (a path, a comma-separated list checked elsewhere)."""

    describe = "must be a string"

    def __init__(self, metavar: str | None = None):
        self.metavar = metavar

    def ok(self, v: Any) -> bool:
        return isinstance(v, str)


class Choice(Check):
    """One of a fixed list of names. ``noun`` words the error ("unknown device 'tpu'; valid: ...")."""

    def __init__(self, values: Iterable[str], noun: str | None = None):
        self.values = tuple(values)
        self.noun = noun

    def choices(self) -> list[str]:
        return [str(v) for v in self.values]

    def validate(self, flag: str, value: Any) -> None:
        if value not in self.values:
            raise GanworksError(f"unknown {self.noun or flag} {value!r}; valid: {', '.join(map(str, self.values))}")


class Registered(Check):
    """A name looked up in one of ganworks' registries (datasets, models, objectives, augment policies).

    ``checker`` is "module:function"; it is imported only when a value is validated, so parsing the
    command line does not load the registry's heavy dependencies.
    """

    def __init__(self, checker: str, metavar: str = "NAME", names: str | None = None):
        self.checker, self.metavar, self.names = checker, metavar, names

    def choices(self) -> list[str] | None:
        """The registered names ("module:function" in ``names``), for --help and the docs (imports the registry)."""
        if self.names is None:
            return None
        module, fn = self.names.split(":")
        return list(getattr(importlib.import_module(module), fn)())

    def validate(self, flag: str, value: Any) -> None:
        if not isinstance(value, str):
            raise GanworksError(f"{flag} must be a name, got {value!r}")
        module, fn = self.checker.split(":")
        getattr(importlib.import_module(module), fn)(value)


class Widths(Check):
    """Layer widths: a non-empty list of positive integers ("256,512" on the command line)."""

    describe = "must be a comma-separated list of positive widths"
    metavar = "W,W,..."

    def convert(self, text: str) -> tuple[int, ...]:
        try:
            return tuple(int(w) for w in text.split(","))
        except ValueError:
            raise ValueError(f"expected comma-separated integers like 256,512, got {text!r}") from None

    def ok(self, v: Any) -> bool:
        return isinstance(v, (tuple, list)) and bool(v) and all(_is_int(w) and w > 0 for w in v)


class Custom(Check):
    """A check given by a predicate (for the few options whose rule is not a plain range)."""

    def __init__(self, base: Check, predicate: Callable[[Any], bool], describe: str):
        self.base, self.predicate, self.describe, self.metavar = base, predicate, describe, base.metavar

    def convert(self, text: str) -> Any:
        return self.base.convert(text)

    def ok(self, v: Any) -> bool:
        return self.predicate(v)


# ----------------------------------------------------------------------------------------- fields
@dataclass(frozen=True)
class Option:
    """The command-line face of one config field."""

    flags: tuple[str, ...]  # the first is the canonical name; the others are aliases
    help: str
    check: Check
    resume: bool = False  # may a resumed run change it (``--resume RUN --kimg 1200``)?
    group: str = "how long and how"
    nullable: bool = False  # None is valid (the objective's or model's default applies)
    cli: bool = True  # False: set through other flags (model_options: each architecture option has its own)
    metavar: str | None = None  # the value's name in --help; default: the check's

    @property
    def flag(self) -> str:
        return self.flags[0]

    def validate(self, value: Any) -> None:
        if value is None and self.nullable:
            return
        self.check.validate(self.flag, value)


def option(default: Any = MISSING, *, flag: str | tuple[str, ...] | None = None, help: str, check: Check,
           resume: bool = False, group: str = "how long and how", default_factory: Any = MISSING,
           cli: bool = True, metavar: str | None = None) -> Any:
    """A dataclass field with its command-line option. ``flag`` (one name, or the name and its aliases)
    defaults to ``--FIELD-NAME``, filled in by :func:`options_of`."""
    flags = (flag,) if isinstance(flag, str) else tuple(flag or ())
    opt = Option(flags=flags, help=help, check=check, resume=resume, group=group, nullable=default is None,
                 cli=cli, metavar=metavar)
    return dataclasses.field(default=default, default_factory=default_factory, metadata={META: opt})


def options_of(cls) -> dict[str, Option]:
    """Field name -> Option of a config dataclass, in declaration order (fields without one are skipped)."""
    out = {}
    for f in dataclasses.fields(cls):
        opt = f.metadata.get(META)
        if opt is None:
            continue
        if not opt.flags:
            opt = dataclasses.replace(opt, flags=("--" + f.name.replace("_", "-"),))
        out[f.name] = opt
    return out


def field_default(cls, name: str) -> Any:
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def validate_fields(obj) -> None:
    """Run every field's check on a config object (the per-field half of its validation)."""
    for name, opt in options_of(type(obj)).items():
        opt.validate(getattr(obj, name))


def valid_values(check: Check) -> str:
    """What a check accepts, in words (for --help and the options table)."""
    names = check.choices()
    if names is not None:
        return ", ".join(names)
    if isinstance(check, Bool):
        return "on/off"
    if isinstance(check, Text):
        return "text"
    return check.describe.removeprefix("must be ")
