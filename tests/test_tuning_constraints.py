"""Constraint parsing and semantics: boundaries, missing and NaN values, normalisation."""

from __future__ import annotations

import math

import pytest

from tracker.exceptions import ValidationError
from tracker.tuning import Constraint, evaluate_constraints, parse_constraint, parse_constraints
from tracker.tuning._constraints import MISSING_VIOLATION, STRICT_EPS


@pytest.mark.parametrize(
    ("text", "metric", "op", "bound"),
    [
        ("latency_p95_ms <= 100", "latency_p95_ms", "<=", 100.0),
        ("accuracy>=0.9", "accuracy", ">=", 0.9),
        ("  loss < -1e-3 ", "loss", "<", -0.001),
        ("slice.group=a.recall > .5", None, None, None),
    ],
    ids=["le", "ge-no-spaces", "lt-negative-exp", "dotted-name-with-equals"],
)
def test_parse_accepts_the_four_operators(text, metric, op, bound) -> None:
    if metric is None:
        with pytest.raises(ValidationError):
            parse_constraint(text)
        return
    c = parse_constraint(text)
    assert (c.metric, c.op, c.bound) == (metric, op, bound)


@pytest.mark.parametrize(
    "text",
    ["latency <= ", "<= 100", "latency == 100", "latency = 100", "latency <= abc", "latency ~ 3"],
    ids=["no-bound", "no-metric", "double-equals", "equals", "word-bound", "bad-op"],
)
def test_malformed_constraints_are_refused_with_an_example(text: str) -> None:
    with pytest.raises(ValidationError, match=r"e\.g\. 'latency_p95_ms <= 100'"):
        parse_constraint(text)


def test_equality_gets_a_specific_hint() -> None:
    with pytest.raises(ValidationError, match="equality constraints are not supported"):
        parse_constraint("x == 1")


def test_duplicate_constraints_are_refused() -> None:
    with pytest.raises(ValidationError, match="given twice"):
        parse_constraints(["x <= 1", "x<=1"])


def test_non_string_constraint_is_refused() -> None:
    with pytest.raises(ValidationError, match="must be a string"):
        parse_constraints([3])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("op", "value", "feasible"),
    [
        ("<=", 100.0, True),
        ("<", 100.0, False),
        (">=", 100.0, True),
        (">", 100.0, False),
        ("<=", 100.0001, False),
        ("<", 99.999, True),
        (">=", 99.999, False),
        (">", 100.001, True),
    ],
    ids=[
        "le-boundary",
        "lt-boundary",
        "ge-boundary",
        "gt-boundary",
        "le-above",
        "lt-below",
        "ge-below",
        "gt-above",
    ],
)
def test_boundaries(op: str, value: float, feasible: bool) -> None:
    c = Constraint("m", op, 100.0)
    assert c.satisfied(value) is feasible
    assert (c.violation(value) <= 0) is feasible


def test_strict_boundary_gets_the_smallest_positive_violation() -> None:
    assert Constraint("m", "<", 5.0).violation(5.0) == STRICT_EPS


def test_violation_is_normalised_by_the_bound() -> None:
    assert Constraint("lat", "<=", 100.0).violation(150.0) == pytest.approx(0.5)
    assert Constraint("acc", ">=", 0.8).violation(0.6) == pytest.approx(0.25)
    assert Constraint("x", "<=", 0.0).violation(2.0) == pytest.approx(2.0)  # zero bound: scale 1


def test_missing_and_nan_metrics_are_never_feasible() -> None:
    cons = parse_constraints(["a <= 1", "b >= 0", "c <= 10"])
    results = evaluate_constraints(cons, {"a": 0.5, "b": math.nan})
    by = {r.constraint.metric: r for r in results}
    assert by["a"].feasible
    assert by["a"].reason is None
    assert not by["b"].feasible
    assert by["b"].reason == "nan"
    assert by["b"].violation == MISSING_VIOLATION
    assert not by["c"].feasible
    assert by["c"].reason == "missing"
    assert by["c"].value is None
    assert by["c"].to_dict()["reason"] == "missing"


def test_infinities_compare_as_numbers_but_stay_finite_for_samplers() -> None:
    c = Constraint("lat", "<=", 100.0)
    assert not c.satisfied(math.inf)
    assert math.isfinite(c.violation(math.inf))
    assert c.satisfied(-math.inf)
