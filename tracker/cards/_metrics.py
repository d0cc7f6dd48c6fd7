"""Metrics that can be bootstrapped fast: each is a function of resampling weights.

A bootstrap resample of ``n`` rows is a vector ``w`` of how many times each row was drawn
(``w`` sums to ``n``). Every metric here is computed from such weights, so the point
estimate is the metric at ``w = 1`` and ``B`` resamples are one matrix product with a
``B x n`` weight matrix instead of ``B`` Python calls. A resample computed this way is
exactly the metric of the resampled rows (``metric(y[idx], p[idx])``), which the tests
check against scikit-learn.

A metric may be undefined on a resample (R² with constant targets, AUC with one class):
it is NaN there, and the interval is taken over the defined resamples.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tracker.exceptions import ValidationError

__all__ = ["METRICS", "SliceMetric", "resolve_metrics"]

FloatArray = npt.NDArray[np.float64]

#: (weights B x n, prepared data) -> B metric values
WeightedFn = Callable[[FloatArray, "Prepared"], FloatArray]


@dataclass(frozen=True)
class Prepared:
    """What every metric needs from one slice, computed once per slice."""

    y_true: npt.NDArray[Any]
    y_pred: npt.NDArray[Any]
    y_score: FloatArray | None  # positive-class score (binary) or None
    proba: FloatArray | None  # n x K class probabilities, or None
    classes: npt.NDArray[Any] | None  # label of each proba column


@dataclass(frozen=True)
class SliceMetric:
    """A metric for :func:`tracker.evaluate_slices`.

    Built-in names (``"accuracy"``, ``"f1"``, ``"rmse"``...) are bootstrapped with weight
    matrices; a custom metric wraps a plain ``fn(y_true, y_pred) -> float`` and is called
    once per resample (slower, same result).

    Attributes:
        name: Metric name used in records and cards.
        higher_is_better: Direction, used to flag slices worse than overall.
        needs: ``"pred"`` (labels or values), ``"score"`` (positive-class score) or
            ``"proba"`` (class probabilities).
        fn: For custom metrics, ``fn(y_true, y_pred_or_score) -> float``.
    """

    name: str
    higher_is_better: bool = True
    needs: str = "pred"
    fn: Callable[..., float] | None = None
    weighted: WeightedFn | None = None

    def compute(self, w: FloatArray, data: Prepared, rows: Sequence[npt.NDArray[np.intp]]) -> Any:
        """Values for each weight row (``rows`` are the drawn indices, for custom metrics)."""
        if self.weighted is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                return self.weighted(w, data)
        assert self.fn is not None
        target = data.y_pred if self.needs == "pred" else data.y_score
        out = np.empty(len(rows))
        for i, idx in enumerate(rows):
            try:
                out[i] = float(self.fn(data.y_true[idx], target[idx]))  # type: ignore[index]
            except (ValueError, ZeroDivisionError, FloatingPointError):
                out[i] = np.nan
        return out


# --- building blocks -----------------------------------------------------------------------


def _mean(w: FloatArray, v: FloatArray) -> FloatArray:
    return np.asarray((w @ v) / w.sum(axis=1), dtype=np.float64)


def _f(v: npt.NDArray[Any]) -> FloatArray:
    return np.asarray(v, dtype=np.float64)


def _accuracy(w: FloatArray, d: Prepared) -> FloatArray:
    return _mean(w, _f(d.y_true == d.y_pred))


def _error_rate(w: FloatArray, d: Prepared) -> FloatArray:
    return _mean(w, _f(d.y_true != d.y_pred))


def _labels(d: Prepared) -> npt.NDArray[Any]:
    return np.unique(np.concatenate([np.unique(d.y_true), np.unique(d.y_pred)]))


def _counts(w: FloatArray, d: Prepared) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Weighted true positives, true counts and predicted counts per class: each B x K."""
    labels = _labels(d)
    tp = np.stack([_f((d.y_true == k) & (d.y_pred == k)) for k in labels], axis=1)
    t = np.stack([_f(d.y_true == k) for k in labels], axis=1)
    p = np.stack([_f(d.y_pred == k) for k in labels], axis=1)
    return w @ tp, w @ t, w @ p


def _pos_index(d: Prepared) -> int:
    labels = _labels(d)
    if len(labels) > 2:
        raise ValidationError(
            f"binary metrics need two classes, found {len(labels)}; use the '_macro' variants "
            "(f1_macro, precision_macro, recall_macro) for multi-class targets"
        )
    return len(labels) - 1  # the larger label is the positive class (1 in 0/1, True in bool)


def _safe_div(a: FloatArray, b: FloatArray) -> FloatArray:
    # sklearn's zero_division=0: a ratio with an empty denominator counts as 0.
    out = np.zeros_like(a)
    np.divide(a, b, out=out, where=b > 0)
    return out


def _precision(w: FloatArray, d: Prepared) -> FloatArray:
    tp, _, p = _counts(w, d)
    k = _pos_index(d)
    return _safe_div(tp[:, k], p[:, k])


def _recall(w: FloatArray, d: Prepared) -> FloatArray:
    tp, t, _ = _counts(w, d)
    k = _pos_index(d)
    return _safe_div(tp[:, k], t[:, k])


def _f1_from(tp: FloatArray, t: FloatArray, p: FloatArray) -> FloatArray:
    return _safe_div(2 * tp, t + p)


def _f1(w: FloatArray, d: Prepared) -> FloatArray:
    tp, t, p = _counts(w, d)
    k = _pos_index(d)
    return _f1_from(tp[:, k], t[:, k], p[:, k])


def _macro(fn: Callable[[FloatArray, FloatArray, FloatArray], FloatArray]) -> WeightedFn:
    def weighted(w: FloatArray, d: Prepared) -> FloatArray:
        tp, t, p = _counts(w, d)
        # Like sklearn, average over labels present in y_true or y_pred *of the resample*.
        present = (t + p) > 0
        vals = fn(tp, t, p)
        return np.asarray((vals * present).sum(axis=1) / present.sum(axis=1), dtype=np.float64)

    return weighted


def _balanced_accuracy(w: FloatArray, d: Prepared) -> FloatArray:
    tp, t, _ = _counts(w, d)
    present = t > 0  # sklearn averages recall over classes present in y_true
    recall = (_safe_div(tp, t) * present).sum(axis=1)
    return np.asarray(recall / present.sum(axis=1), dtype=np.float64)


def _residual(d: Prepared) -> FloatArray:
    return _f(d.y_true) - _f(d.y_pred)


def _mae(w: FloatArray, d: Prepared) -> FloatArray:
    return _mean(w, np.abs(_residual(d)))


def _mse(w: FloatArray, d: Prepared) -> FloatArray:
    return _mean(w, _residual(d) ** 2)


def _rmse(w: FloatArray, d: Prepared) -> FloatArray:
    return np.sqrt(_mse(w, d))


def _mape(w: FloatArray, d: Prepared) -> FloatArray:
    y = _f(d.y_true)
    eps = np.finfo(np.float64).eps  # as sklearn: guards division by a zero target
    return _mean(w, np.abs(_residual(d)) / np.maximum(np.abs(y), eps))


def _r2(w: FloatArray, d: Prepared) -> FloatArray:
    y = _f(d.y_true)
    n = w.sum(axis=1)
    ss_res = w @ (_residual(d) ** 2)
    ss_tot = w @ (y**2) - (w @ y) ** 2 / n
    # Constant targets: undefined (sklearn returns 1.0 or 0.0 by convention; we say NaN so
    # the interval ignores such resamples instead of piling up at an arbitrary value).
    ss_tot = np.where(ss_tot <= 1e-12 * np.maximum(w @ (y**2), 1.0), np.nan, ss_tot)
    return 1.0 - ss_res / ss_tot


def _need_score(d: Prepared, name: str) -> FloatArray:
    if d.y_score is None:
        raise ValidationError(
            f"metric {name!r} needs scores: pass a model with predict_proba or "
            "decision_function, or y_score="
        )
    return d.y_score


def _positives(d: Prepared, name: str) -> FloatArray:
    labels = np.unique(d.y_true)
    if len(labels) > 2:
        raise ValidationError(f"metric {name!r} is defined here for binary targets only")
    pos = labels.max() if len(labels) else 1
    return _f(d.y_true == pos)


def _roc_auc(w: FloatArray, d: Prepared) -> FloatArray:
    s = _need_score(d, "roc_auc")
    pos = _positives(d, "roc_auc")
    order = np.argsort(s, kind="mergesort")
    s_sorted, pos_sorted = s[order], pos[order]
    ws = w[:, order]
    wp = ws * pos_sorted
    wn = ws * (1.0 - pos_sorted)
    # Tie groups: rows with equal scores share a group; a negative in the same group counts 1/2.
    starts = np.r_[0, np.flatnonzero(np.diff(s_sorted)) + 1]
    neg_group = np.add.reduceat(wn, starts, axis=1)
    pos_group = np.add.reduceat(wp, starts, axis=1)
    neg_below = np.cumsum(neg_group, axis=1) - neg_group
    pairs = (pos_group * (neg_below + 0.5 * neg_group)).sum(axis=1)
    total = wp.sum(axis=1) * wn.sum(axis=1)
    return np.where(total > 0, pairs / np.where(total > 0, total, 1.0), np.nan)


def _log_loss(w: FloatArray, d: Prepared) -> FloatArray:
    if d.proba is None or d.classes is None:
        raise ValidationError("metric 'log_loss' needs class probabilities (predict_proba)")
    col = {c: i for i, c in enumerate(d.classes.tolist())}
    try:
        idx = np.array([col[v] for v in d.y_true.tolist()])
    except KeyError as exc:
        raise ValidationError(f"log_loss: label {exc.args[0]!r} is not a model class") from None
    eps = np.finfo(np.float64).eps
    p = np.clip(d.proba[np.arange(len(idx)), idx], eps, 1.0)
    return _mean(w, -np.log(p))


def _brier(w: FloatArray, d: Prepared) -> FloatArray:
    s = _need_score(d, "brier")
    return _mean(w, (s - _positives(d, "brier")) ** 2)


_HI, _LO = True, False

#: Built-in metrics by name.
METRICS: Mapping[str, SliceMetric] = {
    m.name: m
    for m in (
        SliceMetric("accuracy", _HI, weighted=_accuracy),
        SliceMetric("error_rate", _LO, weighted=_error_rate),
        SliceMetric("balanced_accuracy", _HI, weighted=_balanced_accuracy),
        SliceMetric("precision", _HI, weighted=_precision),
        SliceMetric("recall", _HI, weighted=_recall),
        SliceMetric("f1", _HI, weighted=_f1),
        SliceMetric("precision_macro", _HI, weighted=_macro(lambda tp, t, p: _safe_div(tp, p))),
        SliceMetric("recall_macro", _HI, weighted=_macro(lambda tp, t, p: _safe_div(tp, t))),
        SliceMetric("f1_macro", _HI, weighted=_macro(_f1_from)),
        SliceMetric("roc_auc", _HI, needs="score", weighted=_roc_auc),
        SliceMetric("log_loss", _LO, needs="proba", weighted=_log_loss),
        SliceMetric("brier", _LO, needs="score", weighted=_brier),
        SliceMetric("mae", _LO, weighted=_mae),
        SliceMetric("mse", _LO, weighted=_mse),
        SliceMetric("rmse", _LO, weighted=_rmse),
        SliceMetric("mape", _LO, weighted=_mape),
        SliceMetric("r2", _HI, weighted=_r2),
    )
}

_LOWER_WORDS = ("error", "loss", "mse", "mae", "rmse", "mape", "latency", "brier")


def resolve_metrics(
    metrics: Sequence[str | SliceMetric | Callable[..., float]]
    | Mapping[str, Callable[..., float]]
    | str,
) -> list[SliceMetric]:
    """Turn what a user passed as ``metrics=`` into :class:`SliceMetric` objects.

    Accepts built-in names, :class:`SliceMetric` objects, plain functions
    ``fn(y_true, y_pred) -> float`` (named after the function; lower is better when the
    name says error/loss/mse/mae), or a dict of name to function.

    Raises:
        ValidationError: an unknown name, a duplicate, or a value of another type.
    """
    items: list[tuple[str | None, object]]
    if isinstance(metrics, str):
        items = [(None, metrics)]
    elif isinstance(metrics, Mapping):
        items = list(metrics.items())
    else:
        items = [(None, m) for m in metrics]
    if not items:
        raise ValidationError("metrics must name at least one metric, e.g. metrics=['accuracy']")
    out: list[SliceMetric] = []
    for name, m in items:
        if isinstance(m, SliceMetric):
            sm = m
        elif isinstance(m, str):
            if m not in METRICS:
                raise ValidationError(
                    f"unknown metric {m!r}; use one of {', '.join(sorted(METRICS))}, "
                    "or pass a function fn(y_true, y_pred) -> float"
                )
            sm = METRICS[m]
        elif callable(m):
            label = name or getattr(m, "__name__", None)
            if not label or label == "<lambda>":
                raise ValidationError(
                    "a metric function needs a name: pass metrics={'name': fn} for lambdas"
                )
            lower = any(word in label.lower() for word in _LOWER_WORDS)
            sm = SliceMetric(label, higher_is_better=not lower, fn=m)
        else:
            raise ValidationError(
                f"a metric must be a name, a function or a SliceMetric, not {type(m).__name__}"
            )
        if name is not None and isinstance(m, str | SliceMetric) and name != sm.name:
            sm = SliceMetric(name, sm.higher_is_better, sm.needs, sm.fn, sm.weighted)
        if any(o.name == sm.name for o in out):
            raise ValidationError(f"metric {sm.name!r} is listed twice")
        out.append(sm)
    return out
