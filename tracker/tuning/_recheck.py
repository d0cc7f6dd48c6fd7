"""The test-set re-check: every Pareto trial evaluated once on held-out data after the search.

Hyperparameters are chosen on validation data; the configurations a search offers are then
confirmed on a separate test split before anyone calls them production-ready. The test
figures go to the trial runs (``attrs["test"]``) and the search run (``attrs["recheck"]``)
only, never to the study, so no sampler sees them.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

from optuna.trial import FixedTrial

from tracker.exceptions import ValidationError
from tracker.latency import recording_latency
from tracker.records import float_to_json
from tracker.run import validate_metrics
from tracker.store.ops import Op, SetAttrs
from tracker.tuning._constraints import evaluate_constraints
from tracker.tuning._search import Search

__all__ = ["RecheckTrial", "recheck"]

log = logging.getLogger("tracker")


class RecheckTrial(FixedTrial):
    """A ``FixedTrial`` whose ``params`` are all of the trial's parameters from the start.

    ``suggest_*`` calls return the fixed values, so the objective's model-building code
    can be reused; nothing it does reaches the study.
    """

    def __init__(self, params: dict[str, Any], number: int = 0) -> None:
        super().__init__(params, number=number)
        self._all_params = dict(params)

    @property
    def params(self) -> dict[str, Any]:
        """Every parameter of the trial being re-checked."""
        return dict(self._all_params)


def _call_test(test: Callable[[Any], Any], params: Mapping[str, Any], number: int) -> Any:
    try:
        first = next(iter(inspect.signature(test).parameters), None)
    except (TypeError, ValueError):
        first = None
    if first == "params":
        return test(dict(params))
    return test(RecheckTrial(dict(params), number=number))


def json_metrics(metrics: Mapping[str, float]) -> dict[str, Any]:
    """Metrics with NaN/inf as strings, for records."""
    return {k: float_to_json(float(v)) for k, v in metrics.items()}


def recheck(search: Search, test: Callable[[Any], Any], repeats: int) -> dict[str, Any]:
    """Evaluate every Pareto trial once on the held-out data (never told to the sampler).

    A ``test`` that raises or returns something else than a dict of numbers marks that
    trial's entry with the error (and as not feasible on test); the others go on.

    Returns:
        ``attrs["recheck"]`` of the search run: trial run id to its entry (docs/records.md).
    """
    out: dict[str, Any] = {}
    ops: list[Op] = []
    for rec in search.front():
        if rec.run_id is None:
            continue
        with recording_latency(repeats) as lats:
            try:
                raw = _call_test(test, rec.params, rec.number)
                if not isinstance(raw, Mapping):
                    raise ValidationError(
                        f"test must return a dict of metric name -> number, "
                        f"got {type(raw).__name__}"
                    )
                metrics = validate_metrics(raw)
            except Exception as exc:
                out[rec.run_id] = {
                    "validation": json_metrics(rec.metrics),
                    "test": {},
                    "latency": None,
                    "feasible_on_test": False,
                    "violations": {},
                    "error": f"{type(exc).__name__}: {exc}",
                }
                log.warning("tracker: the test re-check of trial %s failed: %s", rec.number, exc)
                continue
        # Constraints the test does not measure keep their validation value.
        merged = {**rec.metrics, **metrics}
        results = evaluate_constraints(search.spec.constraints, merged)
        out[rec.run_id] = {
            "validation": json_metrics(rec.metrics),
            "test": json_metrics(metrics),
            "latency": lats[-1].to_dict() if lats else None,
            "feasible_on_test": all(r.feasible for r in results),
            "violations": {r.constraint.expr: r.violation for r in results},
            "from_validation": sorted(
                r.constraint.metric for r in results if r.constraint.metric not in metrics
            ),
        }
        ops.append(SetAttrs(run_id=rec.run_id, attrs={"test": json_metrics(metrics)}))
    ops.append(SetAttrs(run_id=search.spec.search_run_id, attrs={"recheck": out}))
    search.store.write(ops)
    return out
