"""Values to and from the SQL columns: our JSON text, metric floats, numeric params."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from tracker.records import ParamValue

__all__ = [
    "IN_CHUNK",
    "chunks",
    "document_digest",
    "dumps",
    "is_neg_zero",
    "loads",
    "metric_value",
    "num",
]

T = TypeVar("T")
IN_CHUNK = 500  # keep IN (...) lists well below every driver's parameter limit


# One encoder for every call: ``json.dumps`` with any option builds a new ``JSONEncoder``
# each time, which cost about as much as encoding a param value. Its ``encode`` keeps no
# state between calls, so threads share it.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=True, sort_keys=True)
_INFINITIES = {math.inf: "Infinity", -math.inf: "-Infinity"}
_ascii = json.encoder.encode_basestring_ascii  # what the encoder does with ensure_ascii


def dumps(value: Any) -> str:
    """Our JSON encoding for Text columns (NaN-safe, compact, stable key order)."""
    # Params are mostly plain numbers and strings (ten per run in the benchmark): those
    # are written here as the encoder writes them (``json.encoder``'s ``floatstr`` and
    # ``encode_basestring_ascii``), without setting up an encoding pass per value.
    kind = type(value)
    if kind is float:
        if value != value:
            return "NaN"
        if value in _INFINITIES:
            return _INFINITIES[value]
        return float.__repr__(value)
    if kind is int:
        return int.__repr__(value)
    if kind is str:
        return _ascii(value)
    return _ENCODER.encode(value)


def document_digest(text: str) -> str:
    """The content address of a JSON document written by :func:`dumps` (SHA-256, hex).

    :func:`dumps` sorts keys and fixes separators, so equal documents have equal text and
    one digest on every backend.
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def loads(text: str | None) -> Any:
    """Inverse of :func:`dumps`; ``None`` stays ``None``."""
    return None if text is None else json.loads(text)


def chunks(seq: Sequence[T], n: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``seq`` in slices of at most ``n``."""
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def is_neg_zero(v: float) -> bool:
    """Whether ``v`` is ``-0.0`` (stored as 0 and a flag, which every backend keeps)."""
    return v == 0.0 and math.copysign(1.0, v) < 0


def metric_value(value: float | None, is_nan: bool, neg_zero: bool) -> float:
    """A stored metric value: NaN is NULL + ``is_nan``; ``-0.0`` is 0 + ``neg_zero``."""
    if is_nan:
        return math.nan
    return -0.0 if neg_zero else float(value)  # type: ignore[arg-type]


def num(v: ParamValue) -> float | None:
    """A param's numeric column: its value for numbers (not bools, not NaN), else None."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return None if math.isnan(f) else f
