"""Display formatting shared by the Markdown and HTML renderers (numbers, intervals)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "broken_on_test",
    "ci",
    "framework_text",
    "num",
    "pct",
    "plain",
    "split_title",
    "value_of",
]

SPLIT_TITLES = {
    "train": "training",
    "validation": "validation",
    "test": "test",
    "evaluation": "evaluation",
    None: "as logged",
}


def split_title(split: str | None) -> str:
    """Human name of a split."""
    return SPLIT_TITLES.get(split, str(split))


def value_of(m: Any) -> Any:
    """The value of a measured-value dict (or the value itself)."""
    return m.get("value") if isinstance(m, Mapping) else m


def _float(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def num(v: Any) -> str:
    """A number for display: 4 significant digits, integers as they are, NaN as ``NaN``."""
    v = value_of(v)
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    f = _float(v)
    if f is None:
        return str(v)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "∞" if f > 0 else "−∞"
    if f == 0:
        return "0"
    if f.is_integer() and abs(f) < 1e9:
        return str(int(f))
    if abs(f) >= 1e5 or abs(f) < 1e-3:
        return f"{f:.3e}"
    return f"{f:.4g}"


def ci(lo: Any, hi: Any) -> str:
    """An interval for display, or ``""`` when it is unknown."""
    a, b = _float(value_of(lo)), _float(value_of(hi))
    if a is None or b is None or math.isnan(a) or math.isnan(b):
        return ""
    return f"[{num(a)}, {num(b)}]"


def pct(v: Any) -> str:
    """A fraction as a percentage."""
    f = _float(v)
    return "–" if f is None else f"{100 * f:.1f}%"


def plain(v: Any) -> str:
    """A param or attribute value as text (JSON-ish for containers)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float | int):
        return num(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(plain(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k}: {plain(x)}" for k, x in v.items()) + "}"
    return str(v)


def framework_text(fw: Mapping[str, Any]) -> str:
    """The framework for display (several candidates when the records cannot tell)."""
    text = f"{fw['name']} {fw.get('version') or ''}".strip()
    if fw.get("ambiguous"):
        text += " (all imported by the run; set the tag framework to name the model's)"
    return text


def broken_on_test(point: Mapping[str, Any]) -> str:
    """The constraints a Pareto point of a card breaks on test data, with by how much.

    ``"latency_p95_ms <= 100 by 3.2"`` (constraints held on test are left out), or ``"a
    constraint"`` when the re-check recorded no amounts.
    """
    parts = [
        f"{expr} by {num(v)}"
        for expr, v in sorted((point.get("violations_on_test") or {}).items())
        if (f := _float(v)) is not None and f > 0
    ]
    return ", ".join(parts) or "a constraint"
