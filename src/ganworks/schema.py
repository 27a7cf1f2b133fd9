"""A small schema checker for the JSON files ganworks reads back from disk.

A file on disk may have been edited, truncated or forged (a checkpoint's manifest can be rewritten
to match), so every JSON document is checked at the boundary, before any of its values is used:

    STATE = Dict({"nimg": Int(0), "name": Str()}, optional={"note": Opt(Str())})
    record = load_json(path, STATE)          # or check(value, STATE, where=str(path))

A failure is one :class:`~ganworks.errors.GanworksError` line naming the file, the key path
(``counters.nimg``) and what was expected. A schema is a callable ``(value, key) -> None`` that
raises :class:`Invalid`; the combinators below build them.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable

from .errors import GanworksError

__all__ = ["Any_", "Bool", "Dict", "Float", "Int", "Invalid", "List", "Map", "Opt", "Str", "check", "load_json"]

Schema = Callable[[Any, str], None]


class Invalid(Exception):
    """A value does not fit its schema: ``key`` (dotted path) and what was expected."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key or 'the document'}: {message}")


def _show(v: Any) -> str:
    s = repr(v) if not isinstance(v, (dict, list)) else type(v).__name__
    return s if len(s) <= 40 else s[:37] + "..."


def Any_(value: Any, key: str) -> None:  # noqa: N802 (a schema, spelled like the others)
    """Anything JSON can hold."""


def Bool(value: Any, key: str) -> None:  # noqa: N802
    if not isinstance(value, bool):
        raise Invalid(key, f"expected true or false, got {_show(value)}")


def Int(lo: int | None = None, hi: int | None = None) -> Schema:  # noqa: N802
    """An integer (not a bool) in [lo, hi]."""
    def s(value: Any, key: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(key, f"expected an integer, got {_show(value)}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise Invalid(key, f"expected an integer in [{lo if lo is not None else '-inf'}, "
                               f"{hi if hi is not None else 'inf'}], got {_show(value)}")
    return s


def Float(lo: float | None = None, hi: float | None = None, finite: bool = True) -> Schema:  # noqa: N802
    """A number (int or float, not a bool) in [lo, hi]; finite unless ``finite=False``. Huge
    integers (a 400-digit count) are refused: they overflow a float."""
    def s(value: Any, key: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Invalid(key, f"expected a number, got {_show(value)}")
        try:
            f = float(value)
        except OverflowError:
            raise Invalid(key, f"expected a number that fits a float, got {_show(value)}") from None
        if finite and not math.isfinite(f):
            raise Invalid(key, f"expected a finite number, got {_show(value)}")
        if (lo is not None and f < lo) or (hi is not None and f > hi):
            raise Invalid(key, f"expected a number in [{lo if lo is not None else '-inf'}, "
                               f"{hi if hi is not None else 'inf'}], got {_show(value)}")
    return s


def Str(choices: tuple[str, ...] | None = None, max_len: int = 10_000) -> Schema:  # noqa: N802
    """A string (one of ``choices`` when given)."""
    def s(value: Any, key: str) -> None:
        if not isinstance(value, str):
            raise Invalid(key, f"expected a string, got {_show(value)}")
        if choices is not None and value not in choices:
            raise Invalid(key, f"expected one of {', '.join(map(repr, choices))}, got {_show(value)}")
        if len(value) > max_len:
            raise Invalid(key, f"expected a string of at most {max_len} characters, got {len(value)}")
    return s


def Opt(inner: Schema) -> Schema:  # noqa: N802
    """``inner`` or null."""
    def s(value: Any, key: str) -> None:
        if value is not None:
            inner(value, key)
    return s


def List(item: Schema = Any_, min_len: int = 0, max_len: int | None = None) -> Schema:  # noqa: N802
    """A list of ``item`` with a length in [min_len, max_len]."""
    def s(value: Any, key: str) -> None:
        if not isinstance(value, list):
            raise Invalid(key, f"expected a list, got {_show(value)}")
        if len(value) < min_len or (max_len is not None and len(value) > max_len):
            raise Invalid(key, f"expected a list of {min_len} to {max_len if max_len is not None else 'any'} "
                               f"items, got {len(value)}")
        for i, v in enumerate(value):
            item(v, f"{key}[{i}]")
    return s


def Dict(required: dict[str, Schema] | None = None, optional: dict[str, Schema] | None = None,  # noqa: N802
         extra: bool = True) -> Schema:
    """An object with the ``required`` keys, maybe the ``optional`` ones (each checked by its
    schema), and other keys only when ``extra``."""
    required, optional = required or {}, optional or {}

    def s(value: Any, key: str) -> None:
        if not isinstance(value, dict):
            raise Invalid(key, f"expected an object, got {_show(value)}")
        for k, sub in required.items():
            if k not in value:
                raise Invalid(f"{key}.{k}" if key else k, "is missing")
            sub(value[k], f"{key}.{k}" if key else k)
        for k, sub in optional.items():
            if k in value:
                sub(value[k], f"{key}.{k}" if key else k)
        if not extra:
            unknown = sorted(set(value) - set(required) - set(optional))
            if unknown:
                raise Invalid(f"{key}.{unknown[0]}" if key else unknown[0],
                              f"is not a known key (valid: {', '.join(sorted({*required, *optional}))})")
    return s


def Map(value_schema: Schema, max_len: int | None = None) -> Schema:  # noqa: N802
    """An object whose keys are any strings and whose values all fit ``value_schema``."""
    def s(value: Any, key: str) -> None:
        if not isinstance(value, dict):
            raise Invalid(key, f"expected an object, got {_show(value)}")
        if max_len is not None and len(value) > max_len:
            raise Invalid(key, f"expected at most {max_len} entries, got {len(value)}")
        for k, v in value.items():
            value_schema(v, f"{key}.{k}" if key else str(k))
    return s


def check(value: Any, schema: Schema, where: str | os.PathLike) -> Any:
    """``value`` when it fits ``schema``; else a GanworksError naming ``where`` (a file) and the key."""
    try:
        schema(value, "")
    except Invalid as e:
        raise GanworksError(f"{where}: {e}; the file is damaged or was edited") from None
    return value


def load_json(path: str | os.PathLike, schema: Schema) -> Any:
    """Read the JSON file ``path`` and :func:`check` it; every failure is one GanworksError line."""
    from .files import regular_file

    p = regular_file(path, "JSON file")  # a FIFO in its place would block the read forever
    try:
        value = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise GanworksError(f"cannot read {p}: {e.strerror or e}") from None
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise GanworksError(f"{p} is not valid JSON ({str(e).splitlines()[0][:80]}); "
                            "the file is damaged or was edited") from None
    return check(value, schema, p)
