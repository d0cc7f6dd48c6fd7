"""Sliced (disaggregated) evaluation: metrics per group, with counts and bootstrap intervals.

Overall metrics hide harm to small groups. :func:`evaluate_slices` predicts once, splits
the rows by a column (or an array), and reports each metric overall and per slice with
the slice's row count and a percentile-bootstrap confidence interval. A slice is flagged

* ``worse_than_overall`` for a metric when its whole interval lies on the worse side of
  the overall figure (for a higher-is-better metric: ``ci_high < overall``), and
* ``too_small`` when it has fewer than ``min_count`` rows, where an interval is not a
  confident estimate.

Reproducible resampling: resample ``i`` of group ``k`` draws the row indices
``numpy.random.default_rng([seed, k]).integers(0, n, size=(n_boot, n))[i]``, where ``k``
is 0 for the overall figure and 1, 2, ... for the slices in the report's order (sorted
labels). The same seed gives the same intervals on every machine.

The result is stored on a run as ``attrs["slices"]`` (and ``attrs["slices.<by>"]``, so
several slicings of one run are kept) plus flat metrics ``slice.<by>=<label>.<metric>``;
see docs/records.md.
"""

from __future__ import annotations

import math
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from tracker.cards._grouping import MISSING_LABEL, as_1d, group_values, groups
from tracker.cards._metrics import METRICS, Prepared, SliceMetric, resolve_metrics
from tracker.exceptions import ValidationError
from tracker.records import JSONValue, float_to_json
from tracker.store import BaseStore, get_store
from tracker.store.ops import LogData, LogMetrics, MetricRow, Op, SetAttrs

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "METRICS",
    "MISSING_LABEL",
    "SliceMetric",
    "SliceReport",
    "compute_slices",
    "evaluate_slices",
    "slice_ops",
]

_MAX_CELLS = 4_000_000  # resample-weight matrix entries per chunk (32 MB of float64)
_MAX_KEY = 250


@dataclass(frozen=True)
class SliceReport:
    """The result of a sliced evaluation (what is stored in ``attrs["slices"]``).

    Attributes:
        by: Name of the grouping.
        metrics: Metric names, in the order asked.
        higher_is_better: Direction of each metric.
        overall: Metric name to ``{"value", "ci_low", "ci_high", "n"}``.
        slices: One dict per slice: ``{"slice", "n", "metrics": {m: {"value", "ci_low",
            "ci_high"}}, "worse_than_overall": [m...], "too_small": bool}``.
        confidence: Interval coverage (0.95).
        n_boot: Resamples per group.
        seed: Seed of the resampling.
        min_count: Slices with fewer rows are ``too_small``.
        run_id: The run it was logged to, if any.
    """

    by: str
    metrics: tuple[str, ...]
    higher_is_better: Mapping[str, bool]
    overall: Mapping[str, Mapping[str, float | int]]
    slices: tuple[Mapping[str, Any], ...]
    confidence: float
    n_boot: int
    seed: int
    min_count: int
    run_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def worse(self) -> list[tuple[str, str]]:
        """``(slice label, metric)`` pairs flagged worse than overall."""
        return [(s["slice"], m) for s in self.slices for m in s["worse_than_overall"]]

    @property
    def too_small(self) -> list[str]:
        """Labels of slices with fewer than ``min_count`` rows."""
        return [s["slice"] for s in self.slices if s["too_small"]]

    def to_dict(self) -> dict[str, JSONValue]:
        """The stored form (docs/records.md, "Sliced evaluation"); JSON-safe."""

        def num(v: float | int) -> JSONValue:
            return float_to_json(v) if isinstance(v, float) else v

        return {
            "by": self.by,
            "metrics": list(self.metrics),
            "higher_is_better": dict(self.higher_is_better),
            "overall": {m: {k: num(v) for k, v in d.items()} for m, d in self.overall.items()},
            "slices": [
                {
                    "slice": s["slice"],
                    "n": s["n"],
                    "metrics": {
                        m: {k: num(v) for k, v in d.items()} for m, d in s["metrics"].items()
                    },
                    "worse_than_overall": list(s["worse_than_overall"]),
                    "too_small": s["too_small"],
                }
                for s in self.slices
            ],
            "confidence": self.confidence,
            "method": "bootstrap",
            "n_boot": self.n_boot,
            "seed": self.seed,
            "min_count": self.min_count,
            "data": dict(self.data),
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per slice (overall first): ``slice, n, <m>, <m>_ci_low, <m>_ci_high``..."""
        import pandas as pd

        n_all = next(iter(self.overall.values()))["n"] if self.overall else 0
        rows: list[dict[str, Any]] = []
        head: dict[str, Any] = {"slice": "(overall)", "n": n_all, "too_small": False}
        for m in self.metrics:
            o = self.overall[m]
            head.update({m: o["value"], f"{m}_ci_low": o["ci_low"], f"{m}_ci_high": o["ci_high"]})
        head["worse_than_overall"] = ""
        rows.append(head)
        for s in self.slices:
            row: dict[str, Any] = {"slice": s["slice"], "n": s["n"], "too_small": s["too_small"]}
            for m in self.metrics:
                v = s["metrics"][m]
                row.update(
                    {m: v["value"], f"{m}_ci_low": v["ci_low"], f"{m}_ci_high": v["ci_high"]}
                )
            row["worse_than_overall"] = ", ".join(s["worse_than_overall"])
            rows.append(row)
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        from tracker.cards._html import slice_table_html

        return slice_table_html(self.to_dict(), run_id=self.run_id)


# --- bootstrap -----------------------------------------------------------------------------


def _resamples(
    n: int, n_boot: int, rng: np.random.Generator
) -> Iterator[tuple[npt.NDArray[np.float64], list[npt.NDArray[np.intp]]]]:
    """Weight matrices (and the drawn indices) in chunks, drawing from ``rng`` in order."""
    chunk = max(1, _MAX_CELLS // max(n, 1))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        idx = rng.integers(0, n, size=(b, n))
        flat = (np.arange(b)[:, None] * n + idx).ravel()
        w = np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)
        yield w, list(idx)
        done += b


def _interval(
    metric: SliceMetric,
    data: Prepared,
    n: int,
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    value = float(metric.compute(np.ones((1, n)), data, [np.arange(n)])[0])
    if n_boot == 0 or n == 0:
        return value, math.nan, math.nan
    boots = np.concatenate(
        [metric.compute(w, data, rows) for w, rows in _resamples(n, n_boot, rng)]
    )
    defined = boots[np.isfinite(boots)]
    if len(defined) < max(2, n_boot // 2):  # mostly undefined: no honest interval
        return value, math.nan, math.nan
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(defined, [alpha, 1.0 - alpha])
    return value, float(lo), float(hi)


def _subset(data: Prepared, idx: npt.NDArray[np.intp]) -> Prepared:
    return Prepared(
        y_true=data.y_true[idx],
        y_pred=data.y_pred[idx],
        y_score=None if data.y_score is None else data.y_score[idx],
        proba=None if data.proba is None else data.proba[idx],
        classes=data.classes,
    )


def _check_options(n_boot: object, confidence: object, min_count: object, seed: object) -> None:
    if not (isinstance(n_boot, int) and n_boot >= 0):
        raise ValidationError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    if not (isinstance(confidence, float | int) and 0.0 < confidence < 1.0):
        raise ValidationError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence!r}")
    if not (isinstance(min_count, int) and min_count >= 1):
        raise ValidationError(f"min_count must be a positive integer, got {min_count!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValidationError(f"seed must be a non-negative integer, got {seed!r}")


def _prepared(
    y_true: object,
    y_pred: object,
    y_score: object,
    proba: object,
    classes: object,
    specs: Sequence[SliceMetric],
) -> Prepared:
    """The predictions as arrays, checked against each other and what the metrics need."""
    yt = as_1d("y", y_true)
    yp = as_1d("y_pred", y_pred)
    n = len(yt)
    if len(yp) != n:
        raise ValidationError(f"y has {n} values but the predictions have {len(yp)}")
    if n == 0:
        raise ValidationError("y is empty: there is nothing to evaluate")
    score = None if y_score is None else as_1d("y_score", y_score).astype(np.float64)
    pr = None if proba is None else np.asarray(proba, dtype=np.float64)
    if score is not None and len(score) != n:
        raise ValidationError(f"y_score has {len(score)} values but y has {n}")
    data = Prepared(yt, yp, score, pr, None if classes is None else np.asarray(classes))
    for m in specs:  # fail before any work if an input is missing
        if m.needs == "score" and score is None:
            raise ValidationError(
                f"metric {m.name!r} needs scores: use a model with predict_proba or "
                "decision_function, or pass y_score="
            )
        if m.needs == "proba" and (pr is None or data.classes is None):
            raise ValidationError(f"metric {m.name!r} needs predict_proba and the model's classes")
    return data


def _slice(
    label: str,
    sub: Prepared,
    specs: Sequence[SliceMetric],
    overall: Mapping[str, Mapping[str, float | int]],
    k: int,
    opts: tuple[int, float, int, int],
) -> dict[str, Any]:
    """One slice (the ``k``-th): each metric with its interval, and where it is worse.

    ``opts`` is ``(n_boot, confidence, seed, min_count)``.
    """
    n_boot, confidence, seed, min_count = opts
    n = len(sub.y_true)
    per: dict[str, dict[str, float]] = {}
    worse: list[str] = []
    for m in specs:
        rng = np.random.default_rng([seed, k])
        v, lo, hi = _interval(m, sub, n, n_boot, confidence, rng)
        per[m.name] = {"value": v, "ci_low": lo, "ci_high": hi}
        ov = overall[m.name]["value"]
        known = math.isfinite(ov) and math.isfinite(lo) and math.isfinite(hi)
        if known and ((m.higher_is_better and hi < ov) or (not m.higher_is_better and lo > ov)):
            worse.append(m.name)
    return {
        "slice": label,
        "n": n,
        "metrics": per,
        "worse_than_overall": worse,
        "too_small": n < min_count,
    }


def compute_slices(
    y_true: object,
    y_pred: object,
    by: object,
    *,
    metrics: Sequence[str | SliceMetric | Callable[..., float]]
    | Mapping[str, Callable[..., float]],
    y_score: object = None,
    proba: object = None,
    classes: object = None,
    by_name: str | None = None,
    X: object = None,
    bins: int | Sequence[float] | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    min_count: int = 30,
    max_slices: int = 100,
) -> SliceReport:
    """Per-slice metrics with counts and bootstrap intervals, from predictions.

    Args:
        y_true: True labels or values.
        y_pred: Predicted labels or values.
        by: Group of each row: an array or Series, or a column name of ``X`` (or a list of
            column names, for intersections such as ``["sex", "age_group"]``).
        metrics: Built-in names (see :data:`tracker.cards.METRICS`), functions, or
            :class:`SliceMetric` objects.
        y_score: Positive-class scores, for ``roc_auc`` and ``brier``.
        proba: Class probabilities (n x K), for ``log_loss``.
        classes: The label of each ``proba`` column.
        by_name: Name of the grouping (default: the column or Series name).
        X: The features, when ``by`` names a column.
        bins: Bin a numeric grouping into this many quantile bins, or at these edges.
        n_boot: Resamples per group (0: no intervals).
        confidence: Interval coverage, in (0, 1).
        seed: Seed of the resampling.
        min_count: Slices with fewer rows are flagged ``too_small``.
        max_slices: Refuse groupings with more distinct values than this.

    Returns:
        The :class:`SliceReport`.

    Raises:
        ValidationError: mismatched lengths, an unknown metric, a bad option.
    """
    _check_options(n_boot, confidence, min_count, seed)
    specs = resolve_metrics(metrics)
    data = _prepared(y_true, y_pred, y_score, proba, classes, specs)
    n = len(data.y_true)
    name, values = group_values(X, by, n, by_name, bins)
    overall: dict[str, dict[str, float | int]] = {}
    for m in specs:
        rng = np.random.default_rng([seed, 0])
        v, lo, hi = _interval(m, data, n, n_boot, float(confidence), rng)
        overall[m.name] = {"value": v, "ci_low": lo, "ci_high": hi, "n": n}
    opts = (n_boot, float(confidence), seed, min_count)
    slices = [
        _slice(label, _subset(data, idx), specs, overall, k, opts)
        for k, (label, idx) in enumerate(groups(values, max_slices), start=1)
    ]
    return SliceReport(
        by=name,
        metrics=tuple(m.name for m in specs),
        higher_is_better={m.name: m.higher_is_better for m in specs},
        overall=overall,
        slices=tuple(slices),
        confidence=float(confidence),
        n_boot=n_boot,
        seed=seed,
        min_count=min_count,
    )


# --- with a model ----------------------------------------------------------------------------


def _default_metrics(model: object, y: npt.NDArray[Any]) -> list[str]:
    kind = getattr(model, "_estimator_type", None)
    if kind == "regressor" or (kind is None and y.dtype.kind == "f" and len(np.unique(y)) > 20):
        return ["rmse", "mae"]
    return ["accuracy"]


def _scores(
    model: object, X: object, specs: list[SliceMetric]
) -> tuple[npt.NDArray[Any] | None, npt.NDArray[Any] | None, npt.NDArray[Any] | None]:
    if not any(m.needs in ("score", "proba") for m in specs):
        return None, None, None
    classes = getattr(model, "classes_", None)
    proba_fn = getattr(model, "predict_proba", None)
    if proba_fn is not None:
        proba = np.asarray(proba_fn(X), dtype=np.float64)
        score = proba[:, -1] if proba.ndim == 2 and proba.shape[1] == 2 else None
        return score, proba, None if classes is None else np.asarray(classes)
    decision = getattr(model, "decision_function", None)
    if decision is not None:
        d = np.asarray(decision(X), dtype=np.float64)
        return (d if d.ndim == 1 else None), None, None
    return None, None, None


def evaluate_slices(
    model: object,
    X: object,
    y: object,
    *,
    by: object,
    metrics: Sequence[str | SliceMetric | Callable[..., float]]
    | Mapping[str, Callable[..., float]]
    | None = None,
    run_id: str | None = None,
    store: BaseStore | None = None,
    y_pred: object = None,
    **options: Any,
) -> SliceReport:
    """Predict with ``model`` and evaluate per slice; log the result to ``run_id``.

    This is the store-level function (it never looks for an active run); use
    :func:`tracker.evaluate_slices`, which logs to the active run by default.

    Args:
        model: Anything with ``predict`` (and ``predict_proba`` for score metrics); may
            be ``None`` when ``y_pred`` is given.
        X: Features passed to the model.
        y: True labels or values.
        by: Column name(s) of ``X``, or the group of each row.
        metrics: See :func:`compute_slices` (default: accuracy for classifiers, RMSE
            and MAE for regressors).
        run_id: Log the report to this run (``None``: do not log).
        store: Where the run is (default: the process's store).
        y_pred: Precomputed predictions (then ``model`` is not called for labels).
        **options: ``by_name``, ``bins``, ``n_boot``, ``confidence``, ``seed``,
            ``min_count``, ``max_slices`` (see :func:`compute_slices`).

    Returns:
        The :class:`SliceReport` (with ``run_id`` set when logged).

    Raises:
        ValidationError: bad arguments (before anything is computed or logged).
    """
    allowed = {"by_name", "bins", "n_boot", "confidence", "seed", "min_count", "max_slices"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValidationError(
            f"unknown option(s) {', '.join(unknown)} for evaluate_slices; "
            f"use {', '.join(sorted(allowed))}"
        )
    yt = as_1d("y", y)
    specs = resolve_metrics(metrics if metrics is not None else _default_metrics(model, yt))
    if y_pred is None:
        predict = getattr(model, "predict", None)
        if predict is None:
            raise ValidationError(
                f"model {type(model).__name__} has no predict(); pass a fitted model or y_pred="
            )
        y_pred = predict(X)
    score, proba, classes = _scores(model, X, specs)
    report = compute_slices(
        yt, y_pred, by, metrics=specs, y_score=score, proba=proba, classes=classes, X=X, **options
    )
    data = _data_refs(X, y)
    if data:
        report = _replace(report, data={k: v["digest"] for k, v in data.items()})
    if run_id is not None:
        st = store or get_store()
        st.write(slice_ops(report, run_id, data_refs=data))
        report = _replace(report, run_id=run_id)
    return report


def _replace(report: SliceReport, **changes: Any) -> SliceReport:
    from dataclasses import replace

    return replace(report, **changes)


def _data_refs(X: object, y: object) -> dict[str, dict[str, Any]]:
    """Content hashes of the evaluation data, when the hashing module can hash them."""
    hashing = sys.modules.get("tracker.hashing")
    if hashing is None:
        try:
            import importlib

            hashing = importlib.import_module("tracker.hashing")
        except ImportError:
            return {}
    out: dict[str, dict[str, Any]] = {}
    for name, obj in (("X", X), ("y", y)):
        try:
            if hashing.is_hashable_data(obj):
                out[name] = hashing.hash_data(obj).to_dict()
        except Exception:  # hashing is a bonus here; the evaluation itself stands
            continue
    return out


def _metric_key(by: str, label: str, metric: str) -> str:
    key = f"slice.{by}={label}.{metric}"
    if len(key) <= _MAX_KEY:
        return key
    # Long labels: keep the start readable and make the key unique with a short hash.
    import hashlib

    tag = hashlib.blake2b(label.encode(), digest_size=4).hexdigest()
    room = _MAX_KEY - len(f"slice.{by}=.{metric}") - len(tag) - 2
    return f"slice.{by[:60]}={label[: max(room, 8)]}~{tag}.{metric}"[:_MAX_KEY]


def slice_ops(
    report: SliceReport, run_id: str, *, data_refs: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Op]:
    """The store ops that record ``report`` on ``run_id`` (docs/records.md)."""
    now = time.time()
    doc = report.to_dict()
    ops: list[Op] = [SetAttrs(run_id=run_id, attrs={"slices": doc, f"slices.{report.by}": doc})]
    rows = []
    for s in report.slices:
        for m in report.metrics:
            v = s["metrics"][m]["value"]
            rows.append(
                MetricRow(
                    id=uuid.uuid4().hex,
                    key=_metric_key(report.by, s["slice"], m),
                    value=float(v),
                    step=None,
                    timestamp=now,
                )
            )
    if rows:
        ops.append(LogMetrics(run_id=run_id, metrics=tuple(rows)))
    for name, ref in (data_refs or {}).items():
        ops.append(
            LogData(
                id=uuid.uuid4().hex,
                run_id=run_id,
                name=f"evaluation.{name}",
                ref=dict(ref),
                timestamp=now,
            )
        )
    return ops
