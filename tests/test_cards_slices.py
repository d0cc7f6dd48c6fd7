"""Sliced evaluation: values and intervals against a direct computation, flags, logging."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression, Ridge

import tracker
from tracker.cards import compute_slices
from tracker.cards import slices as slices_module
from tracker.exceptions import NoActiveRunError, ValidationError


def _direct(
    y: np.ndarray,
    target: np.ndarray,
    idx: np.ndarray,
    fn: Callable[..., float],
    seed: int,
    k: int,
    n_boot: int,
    conf: float = 0.95,
) -> tuple[float, float, float]:
    """The documented procedure, written plainly: resample rows, call the metric, percentiles."""
    yy, tt = y[idx], target[idx]
    draws = np.random.default_rng([seed, k]).integers(0, len(idx), size=(n_boot, len(idx)))
    boots = []
    for d in draws:
        try:
            boots.append(fn(yy[d], tt[d]))
        except ValueError:
            boots.append(np.nan)
    b = np.asarray(boots, dtype=float)
    b = b[np.isfinite(b)]
    lo, hi = np.quantile(b, [(1 - conf) / 2, 1 - (1 - conf) / 2])
    return fn(yy, tt), lo, hi


def _data(n: int = 600, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    g = rng.choice(np.array(["north", "south", "east"]), size=n, p=[0.5, 0.35, 0.15])
    y = rng.integers(0, 2, n)
    score = np.clip(y * 0.35 + rng.random(n) * 0.65 - (g == "east") * 0.2, 0, 1)
    return {"y": y, "score": score, "pred": (score > 0.5).astype(int), "g": g}


CLASSIFICATION: list[tuple[str, Callable[..., float], str]] = [
    ("accuracy", skm.accuracy_score, "pred"),
    ("error_rate", lambda a, b: 1 - skm.accuracy_score(a, b), "pred"),
    ("balanced_accuracy", skm.balanced_accuracy_score, "pred"),
    ("precision", lambda a, b: skm.precision_score(a, b, zero_division=0), "pred"),
    ("recall", lambda a, b: skm.recall_score(a, b, zero_division=0), "pred"),
    ("f1", lambda a, b: skm.f1_score(a, b, zero_division=0), "pred"),
    ("f1_macro", lambda a, b: skm.f1_score(a, b, average="macro", zero_division=0), "pred"),
    ("roc_auc", skm.roc_auc_score, "score"),
    ("brier", skm.brier_score_loss, "score"),
]


@pytest.mark.parametrize(
    ("name", "fn", "needs"), CLASSIFICATION, ids=[c[0] for c in CLASSIFICATION]
)
def test_classification_metrics_match_a_direct_bootstrap(
    name: str, fn: Callable[..., float], needs: str
) -> None:
    d = _data()
    rep = compute_slices(
        d["y"], d["pred"], d["g"], metrics=[name], y_score=d["score"], n_boot=200, seed=7
    )
    target = d[needs]
    v, lo, hi = _direct(d["y"], target, np.arange(len(d["y"])), fn, 7, 0, 200)
    o = rep.overall[name]
    assert o["value"] == pytest.approx(v, abs=1e-12)
    assert (o["ci_low"], o["ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
    assert [s["slice"] for s in rep.slices] == ["east", "north", "south"]
    for k, s in enumerate(rep.slices, start=1):
        idx = np.flatnonzero(d["g"] == s["slice"])
        v, lo, hi = _direct(d["y"], target, idx, fn, 7, k, 200)
        got = s["metrics"][name]
        assert s["n"] == len(idx)
        assert got["value"] == pytest.approx(v, abs=1e-12)
        assert (got["ci_low"], got["ci_high"]) == pytest.approx((lo, hi), abs=1e-12)


REGRESSION: list[tuple[str, Callable[..., float]]] = [
    ("mae", skm.mean_absolute_error),
    ("mse", skm.mean_squared_error),
    ("rmse", lambda a, b: float(np.sqrt(skm.mean_squared_error(a, b)))),
    ("mape", skm.mean_absolute_percentage_error),
    ("r2", skm.r2_score),
]


@pytest.mark.parametrize(("name", "fn"), REGRESSION, ids=[r[0] for r in REGRESSION])
def test_regression_metrics_match_a_direct_bootstrap(name: str, fn: Callable[..., float]) -> None:
    rng = np.random.default_rng(3)
    n = 300
    g = rng.integers(0, 3, n)
    y = rng.normal(10, 3, n)
    pred = y + rng.normal(0, 1 + g, n)
    rep = compute_slices(y, pred, g, metrics=[name], n_boot=150, seed=1)
    for k, s in enumerate(rep.slices, start=1):
        idx = np.flatnonzero(g == int(s["slice"]))
        v, lo, hi = _direct(y, pred, idx, fn, 1, k, 150)
        got = s["metrics"][name]
        assert got["value"] == pytest.approx(v, rel=1e-9)
        assert (got["ci_low"], got["ci_high"]) == pytest.approx((lo, hi), rel=1e-9)


def test_accuracy_interval_agrees_with_the_normal_approximation() -> None:
    # Analytic check: for a proportion the bootstrap interval ~ p +- 1.96 sqrt(p(1-p)/n).
    n, p = 4000, 0.8
    y = np.ones(n, dtype=int)
    pred = np.r_[np.ones(int(n * p), dtype=int), np.zeros(n - int(n * p), dtype=int)]
    rep = compute_slices(y, pred, np.zeros(n), metrics=["accuracy"], n_boot=2000, seed=0)
    half = 1.96 * np.sqrt(p * (1 - p) / n)
    o = rep.overall["accuracy"]
    assert o["value"] == pytest.approx(p)
    assert o["ci_low"] == pytest.approx(p - half, abs=0.003)
    assert o["ci_high"] == pytest.approx(p + half, abs=0.003)


def test_chunked_resampling_draws_the_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    d = _data(200)
    whole = compute_slices(
        d["y"],
        d["pred"],
        d["g"],
        metrics=["accuracy", "roc_auc"],
        y_score=d["score"],
        n_boot=100,
        seed=5,
    )
    monkeypatch.setattr(slices_module, "_MAX_CELLS", 37)  # a few resamples per chunk
    chunked = compute_slices(
        d["y"],
        d["pred"],
        d["g"],
        metrics=["accuracy", "roc_auc"],
        y_score=d["score"],
        n_boot=100,
        seed=5,
    )
    assert chunked.to_dict() == whole.to_dict()


def test_custom_metric_function() -> None:
    d = _data(300)

    def false_negative_rate(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        pos = y_true == 1
        return float(np.mean(y_pred[pos] == 0)) if pos.any() else float("nan")

    rep = compute_slices(d["y"], d["pred"], d["g"], metrics=[false_negative_rate], n_boot=80)
    assert rep.higher_is_better == {"false_negative_rate": True}  # no error/loss word in the name
    v, lo, hi = _direct(d["y"], d["pred"], np.arange(300), false_negative_rate, 0, 0, 80)
    o = rep.overall["false_negative_rate"]
    assert (o["value"], o["ci_low"], o["ci_high"]) == pytest.approx((v, lo, hi))
    rep = compute_slices(
        d["y"], d["pred"], d["g"], metrics={"miss_error": false_negative_rate}, n_boot=10
    )
    assert rep.higher_is_better == {"miss_error": False}


def test_worse_and_too_small_flags() -> None:
    rng = np.random.default_rng(0)
    n_a, n_b, n_c = 800, 400, 12
    g = np.array(["a"] * n_a + ["b"] * n_b + ["c"] * n_c)
    y = np.ones(len(g), dtype=int)
    correct = np.r_[rng.random(n_a) < 0.95, rng.random(n_b) < 0.70, rng.random(n_c) < 0.9]
    pred = np.where(correct, 1, 0)
    rep = compute_slices(y, pred, g, metrics=["accuracy", "error_rate"], n_boot=300, min_count=30)
    by = {s["slice"]: s for s in rep.slices}
    assert by["b"]["worse_than_overall"] == ["accuracy", "error_rate"]
    assert by["a"]["worse_than_overall"] == []
    assert by["c"]["too_small"]
    assert not by["a"]["too_small"]
    assert ("b", "accuracy") in rep.worse
    assert rep.too_small == ["c"]
    frame = rep.to_frame()
    assert list(frame["slice"]) == ["(overall)", "a", "b", "c"]
    assert frame.loc[2, "worse_than_overall"] == "accuracy, error_rate"


def test_labels_missing_values_bins_and_intersections() -> None:
    X = pd.DataFrame(
        {
            "age": [21.0, 35.0, np.nan, 61.0, 44.0, 29.0] * 20,
            "sex": ["f", "m", "f", None, "m", "f"] * 20,
        }
    )
    y = np.array([0, 1] * 60)
    pred = np.array([0, 1, 1, 1, 0, 0] * 20)
    rep = compute_slices(y, pred, "sex", X=X, metrics=["accuracy"], n_boot=10)
    assert [s["slice"] for s in rep.slices] == ["f", "m", "(missing)"]
    rep = compute_slices(
        y, pred, "age", X=X, metrics=["accuracy"], n_boot=10, bins=[0, 30, 50, 100]
    )
    assert [s["slice"] for s in rep.slices] == ["[0, 30)", "[30, 50)", "[50, 100]", "(missing)"]
    rep = compute_slices(y, pred, ["sex", "age"], X=X, metrics=["accuracy"], n_boot=10)
    assert rep.by == "sex x age"
    assert "sex=f, age=21" in [s["slice"] for s in rep.slices]
    with pytest.raises(ValidationError, match="max_slices"):
        compute_slices(y, pred, np.arange(120), metrics=["accuracy"], max_slices=50)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metrics": ["acuracy"]}, "unknown metric 'acuracy'"),
        ({"metrics": ["accuracy"], "n_boot": -1}, "n_boot"),
        ({"metrics": ["accuracy"], "confidence": 95}, "confidence"),
        ({"metrics": ["roc_auc"]}, "needs scores"),
        ({"metrics": []}, "at least one metric"),
        ({"metrics": ["accuracy", "accuracy"]}, "twice"),
    ],
    ids=["typo", "n_boot", "confidence", "scores", "empty", "duplicate"],
)
def test_bad_arguments_are_refused_clearly(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        compute_slices([0, 1], [0, 1], ["a", "b"], **kwargs)


def test_length_mismatch_is_refused() -> None:
    with pytest.raises(ValidationError, match="by has 3 values but y has 2"):
        compute_slices([0, 1], [0, 1], ["a", "b", "c"], metrics=["accuracy"])


# --- with a model, logged to runs ------------------------------------------------------------


def _cancer() -> tuple[pd.DataFrame, np.ndarray, LogisticRegression]:
    data = load_breast_cancer(as_frame=True)
    X = data.data.iloc[:, :5].copy()
    X["size"] = np.where(X["mean radius"] > 15, "large", "small")
    y = data.target.to_numpy()
    model = LogisticRegression(max_iter=2000).fit(X.drop(columns="size"), y)

    class Wrapped:  # a model that takes the frame with the grouping column
        classes_ = model.classes_
        _estimator_type = "classifier"

        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            return model.predict(frame.drop(columns="size"))

        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            return model.predict_proba(frame.drop(columns="size"))

    return X, y, Wrapped()  # type: ignore[return-value]


def test_evaluate_slices_logs_to_the_active_run_and_the_card_shows_it() -> None:
    X, y, model = _cancer()
    with tracker.start_run(name="cancer") as run:
        report = tracker.evaluate_slices(
            model, X, y, by="size", metrics=["accuracy", "roc_auc", "log_loss"], n_boot=100
        )
    assert report.run_id == run.id
    stored = tracker.get_run(run.id)
    assert stored.attrs["slices"] == report.to_dict()
    assert stored.attrs["slices.size"] == report.to_dict()
    large = next(s for s in report.slices if s["slice"] == "large")
    assert stored.metrics["slice.size=large.accuracy"] == large["metrics"]["accuracy"]["value"]
    expected = skm.roc_auc_score(y, model.predict_proba(X)[:, 1])
    assert report.overall["roc_auc"]["value"] == pytest.approx(expected, abs=1e-12)
    expected = skm.log_loss(y, model.predict_proba(X))
    assert report.overall["log_loss"]["value"] == pytest.approx(expected, rel=1e-9)
    card = tracker.model_card(run.id)
    (sl,) = card.to_dict()["quantitative_analyses"]["slices"]
    assert sl["by"] == "size"
    assert [s["slice"] for s in sl["slices"]] == ["large", "small"]
    assert "By size" in card.to_markdown()


def test_evaluate_slices_on_a_finished_run_and_without_logging() -> None:
    X, y, model = _cancer()
    with tracker.start_run(name="done") as run:
        pass
    rep = tracker.evaluate_slices(model, X, y, by="size", run=run.id, n_boot=20)
    assert tracker.get_run(run.id).attrs["slices"]["by"] == "size"
    assert rep.run_id == run.id
    assert tracker.evaluate_slices(model, X, y, by="size", log=False, n_boot=5).run_id is None
    with pytest.raises(NoActiveRunError):
        tracker.evaluate_slices(model, X, y, by="size", n_boot=5)


def test_regressor_defaults_to_rmse_and_mae() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, 2.0, -1.0] + rng.normal(size=200)
    model = Ridge().fit(X, y)
    rep = tracker.evaluate_slices(model, X, y, by=(X[:, 0] > 0), log=False, n_boot=20)
    assert rep.metrics == ("rmse", "mae")
    assert [s["slice"] for s in rep.slices] == ["False", "True"]


def test_unknown_option_is_refused_before_any_work() -> None:
    X, y, model = _cancer()
    with tracker.start_run(name="r") as run, pytest.raises(ValidationError, match="n_boots"):
        tracker.evaluate_slices(model, X, y, by="size", n_boots=10)
    assert "slices" not in tracker.get_run(run.id).attrs


def test_report_html_escapes_labels() -> None:
    rep = compute_slices(
        [0, 1, 1], [0, 1, 0], ["<b>x</b>", "<b>x</b>", "y"], metrics=["accuracy"], n_boot=5
    )
    html = rep._repr_html_()
    assert "<b>x</b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
