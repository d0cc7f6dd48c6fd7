"""Rows into slices for a sliced evaluation: group values, binning, labels and order.

Part of :mod:`tracker.cards.slices`: which group each row is in (a column of ``X``,
several columns for intersections, or an array), numeric groupings binned at quantiles
or given edges, and the slices in a stable order (numbers by value, then text).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tracker.exceptions import ValidationError

__all__ = ["MISSING_LABEL", "as_1d", "group_values", "groups"]

#: Label of the slice of rows whose group value is missing (None or NaN).
MISSING_LABEL = "(missing)"


def as_1d(name: str, values: object) -> npt.NDArray[Any]:
    """``values`` as a 1-d array (a column vector is flattened), or a ``ValidationError``."""
    arr = np.asarray(values)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValidationError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _label(v: object) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return MISSING_LABEL
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def group_values(
    X: object, by: object, n: int, by_name: str | None, bins: int | Sequence[float] | None
) -> tuple[str, npt.NDArray[Any]]:
    """The grouping's name and each row's group label (see :func:`compute_slices` ``by``)."""
    name: str
    if isinstance(by, str):
        cols = getattr(X, "columns", None)
        if cols is None or by not in cols:
            have = f" (columns: {', '.join(map(str, list(cols)[:20]))})" if cols is not None else ""
            raise ValidationError(
                f"by={by!r} names a column, but X has no such column{have}; "
                "pass the values themselves (an array or Series) as by="
            )
        name, values = by, np.asarray(X[by])  # type: ignore[index]
    elif _column_list(X, by):
        assert isinstance(by, list | tuple)
        parts = [group_values(X, b, n, None, None)[1] for b in by]
        name = " x ".join(by)
        values = np.array(
            [
                ", ".join(f"{b}={_label(p[i])}" for b, p in zip(by, parts, strict=True))
                for i in range(n)
            ],
            dtype=object,
        )
    else:
        values = as_1d("by", by)
        name = str(getattr(by, "name", None) or "slice")
    if len(values) != n:
        raise ValidationError(f"by has {len(values)} values but y has {n}; they must match")
    if bins is not None:
        values = _binned(name, values, bins)
    return by_name or name, values


def _column_list(X: object, by: object) -> bool:
    """Whether ``by`` is a list of column names of ``X`` (an intersection), not values."""
    cols = getattr(X, "columns", None)
    if cols is None or not isinstance(by, list | tuple) or not by:
        return False
    return all(isinstance(b, str) and b in cols for b in by)


def _binned(name: str, values: npt.NDArray[Any], bins: int | Sequence[float]) -> npt.NDArray[Any]:
    try:
        x = values.astype(np.float64)
    except (TypeError, ValueError):
        raise ValidationError(f"bins= needs numeric values, but {name!r} is not numeric") from None
    finite = x[np.isfinite(x)]
    if isinstance(bins, int):
        if bins < 2:
            raise ValidationError("bins must be at least 2 (or a list of edges)")
        edges: npt.NDArray[np.float64] = (
            np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)))
            if len(finite)
            else np.array([], dtype=np.float64)
        )
    else:
        edges = np.asarray(sorted(bins), dtype=np.float64)
    if len(edges) < 2:
        raise ValidationError(f"cannot bin {name!r}: fewer than two distinct edges")
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    labels = [
        f"[{_fmt_edge(edges[i])}, {_fmt_edge(edges[i + 1])}{']' if i == len(edges) - 2 else ')'}"
        for i in range(len(edges) - 1)
    ]
    out = np.array([labels[i] for i in idx], dtype=object)
    out[~np.isfinite(x)] = None
    return out


def _fmt_edge(v: float) -> str:
    return f"{v:.4g}"


def _sort_key(label: str, raw: object) -> tuple[int, float, str]:
    if label == MISSING_LABEL:
        return (2, 0.0, "")
    if isinstance(raw, np.generic):
        raw = raw.item()
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return (0, float(raw), label)
    return (1, 0.0, label)


def groups(values: npt.NDArray[Any], max_slices: int) -> list[tuple[str, npt.NDArray[np.intp]]]:
    """``(label, row indices)`` of each slice, in the report's order (at most ``max_slices``)."""
    by_label: dict[str, list[int]] = {}
    raw: dict[str, object] = {}
    for i, v in enumerate(values.tolist()):
        lab = _label(v)
        by_label.setdefault(lab, []).append(i)
        raw.setdefault(lab, v)
    if len(by_label) > max_slices:
        raise ValidationError(
            f"by has {len(by_label)} distinct values (more than max_slices={max_slices}); "
            "group them first, pass bins= for a numeric column, or raise max_slices"
        )
    order = sorted(by_label, key=lambda lab: _sort_key(lab, raw[lab]))
    return [(lab, np.asarray(by_label[lab], dtype=np.intp)) for lab in order]
