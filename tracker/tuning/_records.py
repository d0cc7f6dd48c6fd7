"""What a search knows of a study: its shared settings, and one record per finished trial.

:class:`SearchSpec` is the study user attribute ``tracker.search`` that every participant
of a study reads (a worker on another machine joins with nothing but the study name and
the URL). :class:`TrialRecord` is one finished Optuna trial as the tracker sees it; it
becomes ``attrs["trial"]`` of the trial run (docs/records.md) and the reporters' view.
The op builders here turn params and metrics into the store's write operations.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from tracker.records import float_to_json
from tracker.run import flatten_params
from tracker.store.ops import LogMetrics, MetricRow, SetParams
from tracker.tuning._constraints import Constraint, evaluate_constraints
from tracker.tuning._progress import TrialSummary

__all__ = [
    "ERROR_KEY",
    "LEGACY_CONSTRAINTS_KEY",
    "METRICS_KEY",
    "RUN_ID_KEY",
    "SPEC_KEY",
    "SearchSpec",
    "TrialRecord",
    "jsonable_metrics",
    "metric_op",
    "params_op",
    "record_from_trial",
]

SPEC_KEY = "tracker.search"
RUN_ID_KEY = "tracker.run_id"
METRICS_KEY = "tracker.metrics"
ERROR_KEY = "tracker.error"
#: Optuna's pre-``set_constraint`` system attribute (a list), still what optuna-dashboard reads.
LEGACY_CONSTRAINTS_KEY = "constraints"


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """The settings every participant of a study shares (study user attr ``tracker.search``)."""

    objectives: Mapping[str, str]
    constraints: Sequence[Constraint]
    search_run_id: str
    target_total: int | None = None
    reference_point: Sequence[float] | None = None
    seed: int | None = None
    sampler: str = "auto"
    #: How the objective returns its metrics: ``"dict"`` or ``"values"`` (Optuna's forms).
    returns: str = "dict"

    def to_attr(self) -> dict[str, Any]:
        """JSON form stored on the study."""
        return {
            "objectives": dict(self.objectives),
            "constraints": [c.to_dict() for c in self.constraints],
            "search_run_id": self.search_run_id,
            "target_total": self.target_total,
            "reference_point": list(self.reference_point) if self.reference_point else None,
            "seed": self.seed,
            "sampler": self.sampler,
            "returns": self.returns,
        }

    @classmethod
    def from_attr(cls, d: Mapping[str, Any]) -> SearchSpec:
        """Inverse of :meth:`to_attr`."""
        return cls(
            objectives=dict(d["objectives"]),
            constraints=[
                Constraint(metric=c["metric"], op=c["op"], bound=float(c["bound"]))
                for c in d.get("constraints", [])
            ],
            search_run_id=str(d["search_run_id"]),
            target_total=d.get("target_total"),
            reference_point=d.get("reference_point"),
            seed=d.get("seed"),
            sampler=str(d.get("sampler", "auto")),
            returns=str(d.get("returns", "dict")),
        )


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """What the search knows of one finished trial (built from the Optuna trial)."""

    number: int
    run_id: str | None
    state: str
    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    values: Mapping[str, float]
    constraints: Mapping[str, Mapping[str, Any]]
    feasible: bool
    duration_s: float | None
    error: str | None
    pareto: bool = False

    def trial_attr(self) -> dict[str, Any]:
        """``attrs["trial"]`` of the trial run (docs/records.md)."""
        return {
            "number": self.number,
            "state": self.state,
            "values": {k: float_to_json(v) for k, v in self.values.items()},
            "constraints": {k: dict(v) for k, v in self.constraints.items()},
            "feasible": self.feasible,
            "pareto": self.pareto,
            "duration_s": self.duration_s,
            "error": self.error,
        }

    def summary(self) -> TrialSummary:
        """The reporter's view."""
        return TrialSummary(
            number=self.number,
            run_id=self.run_id,
            state=self.state,
            params=dict(self.params),
            values=dict(self.values),
            metrics=dict(self.metrics),
            feasible=self.feasible,
            pareto=self.pareto,
            error=self.error,
        )


def jsonable_metrics(metrics: Mapping[str, float]) -> dict[str, float | str]:
    """Metrics with NaN/inf as strings (Optuna stores attrs as strict JSON)."""
    return {k: float_to_json(float(v)) for k, v in metrics.items()}


def _metrics_from_attr(d: Mapping[str, Any] | None) -> dict[str, float]:
    return {k: float(v) for k, v in (d or {}).items()}


_STATE = {
    TrialState.COMPLETE: "complete",
    TrialState.FAIL: "fail",
    TrialState.PRUNED: "pruned",
}


def record_from_trial(ft: FrozenTrial, spec: SearchSpec) -> TrialRecord | None:
    """A :class:`TrialRecord` from a finished Optuna trial (``None`` while it runs)."""
    state = _STATE.get(ft.state)
    if state is None:
        return None
    metrics = _metrics_from_attr(ft.user_attrs.get(METRICS_KEY))
    names = list(spec.objectives)
    values: dict[str, float] = {}
    if state == "complete" and ft.values is not None:
        values = dict(zip(names, (float(v) for v in ft.values), strict=False))
    results = evaluate_constraints(spec.constraints, metrics) if state == "complete" else []
    stored = ft.constraints
    cons: dict[str, dict[str, Any]] = {}
    for r in results:
        d = r.to_dict()
        if r.constraint.expr in stored:  # what the sampler saw wins
            d["violation"] = float(stored[r.constraint.expr])
            d["feasible"] = d["violation"] <= 0.0
        cons[r.constraint.expr] = d
    feasible = state == "complete" and all(c["feasible"] for c in cons.values())
    if feasible and stored:
        # Constraints the objective set itself (trial.set_constraint, Optuna 5's way) or a
        # sampler's own constraints_func wrote: hard constraints too.
        feasible = all(float(v) <= 0.0 for v in stored.values())
    duration = (
        (ft.datetime_complete - ft.datetime_start).total_seconds()
        if ft.datetime_complete is not None and ft.datetime_start is not None
        else None
    )
    error = ft.user_attrs.get(ERROR_KEY) or ft.system_attrs.get("fail_reason")
    return TrialRecord(
        number=ft.number,
        run_id=ft.user_attrs.get(RUN_ID_KEY),
        state=state,
        params=dict(ft.params),
        metrics=metrics,
        values=values,
        constraints=cons,
        feasible=feasible,
        duration_s=duration,
        error=str(error) if error and state == "fail" else None,
    )


def params_op(run_id: str, params: Mapping[str, Any]) -> SetParams:
    """The trial's Optuna params as tracker params (non-scalar choices by their repr)."""
    safe = {
        k: v if isinstance(v, str | int | float | bool) or v is None else repr(v)
        for k, v in params.items()
    }
    return SetParams(run_id=run_id, params=flatten_params(safe))


def metric_op(run_id: str, metrics: Mapping[str, float], step: int | None = None) -> LogMetrics:
    """One :class:`LogMetrics` op of ``metrics``, all at this moment."""
    now = time.time()
    return LogMetrics(
        run_id=run_id,
        metrics=tuple(
            MetricRow(id=uuid.uuid4().hex, key=k, value=float(v), step=step, timestamp=now)
            for k, v in metrics.items()
        ),
    )
