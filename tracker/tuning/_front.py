"""Pareto fronts and hypervolume on plain arrays.

Everything here works on *losses*: every objective turned into "smaller is better"
(maximised objectives are negated), which is the form hypervolume is defined on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tracker.tuning import _optuna_compat as compat

__all__ = [
    "dominates",
    "hypervolume",
    "hypervolume_2d",
    "pareto_mask",
    "reference_point",
    "to_losses",
]


def to_losses(values: Sequence[Sequence[float]], directions: Sequence[str]) -> np.ndarray:
    """An ``(n, k)`` array of losses from objective values and ``"maximize"/"minimize"``."""
    arr = np.asarray(values, dtype=float).reshape(len(values), len(directions))
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return np.asarray(arr * signs)


def dominates(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether ``a`` dominates ``b``, row by row along the last axis (broadcasting).

    A row dominates another when it is no worse in every column and better in one.
    """
    return np.asarray((a <= b).all(axis=-1) & (a < b).any(axis=-1))


def pareto_mask(losses: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows (duplicates of a front point are all kept).

    O(n^2 k), which is nothing next to a trial for the sizes searches reach.
    """
    if losses.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    dominated = dominates(losses[:, None, :], losses[None, :, :]).any(axis=0)  # [i, j]: i dom. j
    return np.asarray(~dominated)


def reference_point(losses: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """The worst loss per objective, pushed out by ``margin`` of the range (or of |value|)."""
    worst = losses.max(axis=0)
    span = worst - losses.min(axis=0)
    pad = np.where(span > 0, span * margin, np.maximum(np.abs(worst) * margin, 1e-9))
    return np.asarray(worst + pad)


def hypervolume(losses: np.ndarray, ref: np.ndarray | Sequence[float]) -> float:
    """Hypervolume dominated by ``losses`` up to ``ref`` (points beyond ``ref`` count for 0)."""
    r = np.asarray(ref, dtype=float)
    if losses.size == 0:
        return 0.0
    inside = losses[(losses < r).all(axis=1)]
    if inside.shape[0] == 0:
        return 0.0
    if inside.shape[1] == 2:
        return hypervolume_2d(inside, r)
    front = inside[pareto_mask(inside)]
    front = np.unique(front, axis=0)
    return compat.hypervolume(front, r)


def hypervolume_2d(losses: np.ndarray, ref: np.ndarray) -> float:
    """Two objectives, every point below ``ref``: one sort and a sweep, dominated points or not.

    O(n log n), where the general path's Pareto mask is O(n^2): a search logs the
    hypervolume after every trial, and on a front of a few hundred trials the mask cost
    milliseconds. Sorted by the first loss, each point's strip up to the next point (or
    the reference) is covered down to the lowest second loss seen so far.
    """
    order = np.lexsort((losses[:, 1], losses[:, 0]))
    x = losses[order, 0]
    lowest = np.minimum.accumulate(losses[order, 1])
    widths = np.diff(np.append(x, ref[0]))
    return float(np.dot(widths, ref[1] - lowest))


def losses_of(metrics: Mapping[str, float], objectives: Mapping[str, str]) -> list[float] | None:
    """One trial's loss vector, or ``None`` when an objective is missing."""
    out = []
    for name, direction in objectives.items():
        if name not in metrics:
            return None
        v = float(metrics[name])
        out.append(-v if direction == "maximize" else v)
    return out
