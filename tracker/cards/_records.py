"""Reading a card's values from records: measured values, numbers, splits, trial numbers.

Shared by the card's content builders (:mod:`tracker.cards._build`,
:mod:`tracker.cards._search`). Every measured value of a card is an object
``{"value": v, "run_id": id, "path": [...]}``: ``run_id`` is the run whose record holds
it and ``path`` where in that run's record (``["metrics", "accuracy"]``,
``["attrs", "test", "accuracy"]``, ``["metric_history", "hypervolume"]`` with a
``step``...), so any figure in a card can be traced and checked against the store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from tracker.records import Run, float_to_json

__all__ = [
    "as_list",
    "as_map",
    "classify_split",
    "json_num",
    "measured",
    "number",
    "trial_number",
]


def measured(value: Any, run_id: str, path: Sequence[Any], **extra: Any) -> dict[str, Any]:
    """A measured value with where it came from (see the module docstring)."""
    v = (
        float_to_json(float(value))
        if isinstance(value, float | int) and not isinstance(value, bool)
        else value
    )
    return {"value": v, "run_id": run_id, "path": list(path), **extra}


def number(value: Any) -> float | None:
    """A number from a record value (a float, an int, or a float as JSON text), else ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)  # "NaN", "Infinity" as stored by float_to_json
        except ValueError:
            return None
    return None


def as_map(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one (records may hold anything)."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def json_num(value: Any) -> Any:
    """A number as JSON stores it (``"NaN"``, ``"Infinity"``), or ``None``."""
    f = number(value)
    return None if f is None else float_to_json(f)


_TOKEN = re.compile(r"[a-z]+")


def classify_split(name: str) -> str:
    """``train``, ``validation``, ``test``, ``evaluation`` or ``other``, from a data/metric name."""
    tokens = _TOKEN.findall(name.lower())
    joined = "".join(tokens)
    if any(t in ("test", "holdout") for t in tokens) or joined.startswith("test"):
        return "test"
    if any(t in ("val", "valid", "validation", "dev") for t in tokens):
        return "validation"
    if any(t in ("train", "training", "fit") for t in tokens) or joined.startswith("train"):
        return "train"
    if any(t in ("eval", "evaluation") for t in tokens):
        return "evaluation"
    return "other"


def trial_number(run: Run) -> int | None:
    """A trial run's Optuna trial number (from its attrs, else its tag), or ``None``."""
    t = run.attrs.get("trial")
    if isinstance(t, Mapping) and isinstance(t.get("number"), int):
        return int(t["number"])
    tag = run.tags.get("optuna.trial_number")
    try:
        return int(tag) if tag is not None else None
    except ValueError:
        return None
