"""Constraints: parsing ``"latency_p95_ms <= 100"`` and judging a trial's metrics against it.

Semantics (docs/optimize.md, "Constraints"):

* A constraint compares one metric with a number: ``<=``, ``<``, ``>=`` or ``>``.
* Its *violation* is normalised by the size of the bound, so constraints on metrics of
  different scales weigh alike in the samplers: for ``m <= b`` it is ``(m - b) / s`` with
  ``s = |b|`` (or 1 when ``b == 0``); for ``m >= b`` it is ``(b - m) / s``. A violation
  ``<= 0`` is feasible (Optuna's convention).
* Strict bounds are strict: ``m < b`` with ``m == b`` gets the smallest positive violation
  (:data:`STRICT_EPS`), so the boundary is infeasible for ``<`` and feasible for ``<=``.
* A missing or NaN metric is never silently feasible: it gets :data:`MISSING_VIOLATION`
  (a violation of 100 % of the bound) and the reason ``"missing"`` or ``"nan"``.
* ``+inf``/``-inf`` compare as numbers (``inf <= 100`` is violated); the violation is
  capped at :data:`MAX_VIOLATION` so samplers never see an infinity.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tracker.exceptions import ValidationError

__all__ = [
    "MAX_VIOLATION",
    "MISSING_VIOLATION",
    "STRICT_EPS",
    "Constraint",
    "ConstraintResult",
    "evaluate_constraints",
    "parse_constraint",
    "parse_constraints",
]

STRICT_EPS = 1e-12
MISSING_VIOLATION = 1.0
MAX_VIOLATION = 1e6

_OPS = ("<=", "<", ">=", ">")
_PATTERN = re.compile(
    r"""^\s*
    (?P<metric>[A-Za-z_][A-Za-z0-9_.\-/:]*)\s*
    (?P<op><=|>=|<|>)\s*
    (?P<bound>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$""",
    re.VERBOSE,
)
_EXAMPLE = "write it as '<metric> <op> <number>', e.g. 'latency_p95_ms <= 100' (op: <=, <, >=, >)"


@dataclass(frozen=True, slots=True)
class Constraint:
    """One hard requirement on a metric.

    Attributes:
        metric: The metric the objective returns.
        op: ``"<="``, ``"<"``, ``">="`` or ``">"``.
        bound: The number it is compared with.
    """

    metric: str
    op: str
    bound: float

    @property
    def expr(self) -> str:
        """Canonical text, e.g. ``"latency_p95_ms <= 100"`` (the key used everywhere)."""
        return f"{self.metric} {self.op} {self.bound:g}"

    @property
    def scale(self) -> float:
        """What violations are divided by: ``|bound|``, or 1 for a zero bound."""
        return abs(self.bound) if self.bound != 0 else 1.0

    def to_dict(self) -> dict[str, Any]:
        """Record form: ``{"expr", "metric", "op", "bound"}`` (docs/records.md)."""
        return {"expr": self.expr, "metric": self.metric, "op": self.op, "bound": self.bound}

    def violation(self, value: float) -> float:
        """Normalised violation of ``value`` (``<= 0`` is feasible); NaN gives the missing one."""
        if math.isnan(value):
            return MISSING_VIOLATION
        raw = value - self.bound if self.op in ("<=", "<") else self.bound - value
        v = raw / self.scale
        if self.op in ("<", ">") and raw >= 0:
            v = max(v, STRICT_EPS)
        return max(-MAX_VIOLATION, min(MAX_VIOLATION, v))

    def satisfied(self, value: float) -> bool:
        """Whether ``value`` meets the constraint (NaN never does)."""
        return self.violation(value) <= 0.0


@dataclass(frozen=True, slots=True)
class ConstraintResult:
    """A constraint judged on one trial.

    Attributes:
        constraint: The constraint.
        value: The metric's value (``None`` when the objective did not return it).
        violation: Normalised violation (``<= 0`` is feasible).
        feasible: ``violation <= 0``.
        reason: ``None``, ``"missing"`` or ``"nan"``.
    """

    constraint: Constraint
    value: float | None
    violation: float
    feasible: bool
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Record form ``{"value", "violation", "feasible"}`` (plus ``"reason"`` when set)."""
        value: Any = self.value
        if value is not None and not math.isfinite(value):
            value = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        d: dict[str, Any] = {
            "value": value,
            "violation": self.violation,
            "feasible": self.feasible,
        }
        if self.reason is not None:
            d["reason"] = self.reason
        return d


def parse_constraint(text: str | Constraint) -> Constraint:
    """Parse one constraint string.

    Args:
        text: e.g. ``"latency_p95_ms <= 100"`` or ``"accuracy >= 0.9"``.

    Raises:
        ValidationError: it is not ``<metric> <op> <number>``.
    """
    if isinstance(text, Constraint):
        return text
    if not isinstance(text, str):
        raise ValidationError(
            f"a constraint must be a string, not {type(text).__name__} {text!r:.60}; {_EXAMPLE}"
        )
    m = _PATTERN.match(text)
    if m is None:
        hint = ""
        if "==" in text or "!=" in text or re.search(r"(?<![<>!=])=(?!=)", text):
            hint = " (equality constraints are not supported: use a pair of <= and >=)"
        raise ValidationError(f"malformed constraint {text!r}{hint}; {_EXAMPLE}")
    bound = float(m["bound"])
    if not math.isfinite(bound):
        raise ValidationError(f"constraint {text!r} needs a finite bound")
    return Constraint(metric=m["metric"], op=m["op"], bound=bound)


def parse_constraints(items: Sequence[str | Constraint] | str | None) -> list[Constraint]:
    """Parse a list of constraints; a lone string is taken as a list of one.

    Raises:
        ValidationError: a malformed one, or the same constraint twice.
    """
    if items is None:
        return []
    if isinstance(items, str | Constraint):
        items = [items]
    out: list[Constraint] = []
    seen: set[str] = set()
    for item in items:
        c = parse_constraint(item)
        if c.expr in seen:
            raise ValidationError(f"constraint {c.expr!r} is given twice; remove one")
        seen.add(c.expr)
        out.append(c)
    return out


def evaluate_constraints(
    constraints: Sequence[Constraint], metrics: Mapping[str, float]
) -> list[ConstraintResult]:
    """Judge every constraint on ``metrics`` (see the module docstring for the rules)."""
    out = []
    for c in constraints:
        if c.metric not in metrics:
            out.append(ConstraintResult(c, None, MISSING_VIOLATION, False, "missing"))
            continue
        value = float(metrics[c.metric])
        if math.isnan(value):
            out.append(ConstraintResult(c, value, MISSING_VIOLATION, False, "nan"))
            continue
        v = c.violation(value)
        out.append(ConstraintResult(c, value, v, v <= 0.0))
    return out
