"""Records -> the JSON wire format the panel reads (mirrored by ``labext/src/types.ts``).

Everything here is pure: records in, JSON-safe dicts out. A test checks that what
these functions produce type-checks against the TypeScript mirror, so a key added or
renamed here without ``types.ts`` fails the build.

Free-form values (attrs, params, profiles) may hold NaN or the infinities; JSON has no
such numbers, so :func:`json_safe` writes them as the strings ``"NaN"``, ``"Infinity"``
and ``"-Infinity"``, the same convention :mod:`tracker.records` uses for metrics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from tracker.compare import MAX_CHANGES, data_changes, differences, json_safe
from tracker.records import Metric, Run, float_to_json

__all__ = [
    "MAX_CHANGES",
    "compare_runs",
    "data_changes",
    "json_safe",
    "metric_points",
    "run_detail",
    "run_summary",
    "search_detail",
    "search_summary",
]


def run_summary(run: Run) -> dict[str, Any]:
    """One row of the runs table: everything but cells, data profiles and environment."""
    return {
        "id": run.id,
        "name": run.name,
        "kind": run.kind.value,
        "status": run.status.value,
        "start_time": run.start_time.isoformat(),
        "end_time": run.end_time.isoformat() if run.end_time else None,
        "duration_s": run.duration_s,
        "parent_id": run.parent_id,
        "tags": dict(run.tags),
        "params": json_safe(dict(run.params)),
        "metrics": {k: float_to_json(v) for k, v in run.metrics.items()},
        "notes": run.notes,
        "source": run.source.to_dict(),
        "error": {"type": run.error.type, "message": run.error.message} if run.error else None,
        "data_names": sorted(run.data),
        "nondeterministic": run.nondeterministic,
    }


def run_detail(run: Run, *, children: int) -> dict[str, Any]:
    """A run in full: params, metrics, data refs with profiles, environment, cell records."""
    out = json_safe(run.to_dict(include_cells=True))
    out["children"] = children
    return dict(out)


def metric_points(history: Sequence[Metric]) -> list[dict[str, Any]]:
    """A metric's history as ``[{value, step, timestamp}]``."""
    return [
        {"value": float_to_json(m.value), "step": m.step, "timestamp": m.timestamp.isoformat()}
        for m in history
    ]


# --- comparison ---------------------------------------------------------------------------


def compare_runs(runs: Sequence[Run]) -> dict[str, Any]:
    """Two or more runs side by side; every change is relative to the first run.

    Returns:
        ``runs`` (summaries), then what :func:`tracker.compare.differences` returns:
        ``params``/``metrics``/``environment`` rows (``{"key", "values", "differs"}``) and
        ``data`` rows with the changes of each run's data against the first run's,
        explained from the stored profiles.
    """
    return {"runs": [run_summary(r) for r in runs], **differences(runs)}


# --- searches -----------------------------------------------------------------------------


def _search_settings(run: Run) -> dict[str, Any]:
    raw = run.attrs.get("search")
    return dict(raw) if isinstance(raw, Mapping) else {}


def _objectives(settings: Mapping[str, Any]) -> dict[str, str]:
    raw = settings.get("objectives")
    if isinstance(raw, Mapping):
        return {
            str(k): "minimize" if str(v).startswith("min") else "maximize" for k, v in raw.items()
        }
    return {}


def _constraints(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = settings.get("constraints")
    out = []
    if isinstance(raw, list):
        for c in raw:
            if isinstance(c, Mapping):
                out.append(
                    {
                        "expr": str(c.get("expr", "")),
                        "metric": str(c.get("metric", "")) if c.get("metric") is not None else None,
                        "op": str(c.get("op", "")) if c.get("op") is not None else None,
                        "bound": json_safe(c.get("bound")),
                    }
                )
            elif isinstance(c, str):
                out.append({"expr": c, "metric": None, "op": None, "bound": None})
    return out


def _str_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def search_summary(run: Run, *, trials: int) -> dict[str, Any]:
    """One row of the searches list."""
    settings = _search_settings(run)
    chosen = run.attrs.get("chosen")
    feasible = run.metrics.get("n_feasible")
    hv = run.metrics.get("hypervolume")
    return {
        **run_summary(run),
        "study_name": settings.get("study_name") or run.tags.get("optuna.study_name"),
        "objectives": _objectives(settings),
        "constraints": _constraints(settings),
        "n_trials": trials,
        "n_feasible": int(feasible) if feasible is not None and math.isfinite(feasible) else None,
        "hypervolume": float_to_json(hv) if hv is not None else None,
        "pareto_size": len(_str_list(run.attrs.get("pareto"))),
        "chosen": str(chosen) if isinstance(chosen, str) else None,
        "closest": _closest(run),
    }


def _closest(search: Run) -> str | None:
    """The trial that missed the constraints on test by the least, when none was chosen."""
    closest = search.attrs.get("closest")
    if isinstance(search.attrs.get("chosen"), str) or not isinstance(closest, str):
        return None
    return closest


def _trial_row(trial: Run, objectives: Mapping[str, str], pareto: set[str]) -> dict[str, Any]:
    info_raw = trial.attrs.get("trial")
    info: Mapping[str, Any] = info_raw if isinstance(info_raw, Mapping) else {}
    values_raw = info.get("values")
    values: dict[str, Any] = {}
    for obj in objectives:
        v = values_raw.get(obj) if isinstance(values_raw, Mapping) else None
        if v is None:
            v = trial.metrics.get(obj)
        values[obj] = json_safe(v)
    cons_raw = info.get("constraints")
    constraints: dict[str, Any] = {}
    if isinstance(cons_raw, Mapping):
        for expr, c in cons_raw.items():
            if isinstance(c, Mapping):
                constraints[str(expr)] = {
                    "value": json_safe(c.get("value")),
                    "violation": json_safe(c.get("violation")),
                    "feasible": bool(c.get("feasible")) if c.get("feasible") is not None else None,
                }
    feasible = info.get("feasible")
    number = info.get("number")
    if number is None:
        tag = trial.tags.get("optuna.trial_number")
        number = int(tag) if tag is not None and tag.lstrip("-").isdigit() else None
    test = trial.attrs.get("test")
    duration = info.get("duration_s")
    return {
        "id": trial.id,
        "name": trial.name,
        "number": int(number) if isinstance(number, int | float) else None,
        "state": str(info.get("state")) if info.get("state") is not None else None,
        "status": trial.status.value,
        "params": json_safe(dict(trial.params)),
        "metrics": {k: float_to_json(v) for k, v in trial.metrics.items()},
        "values": values,
        "constraints": constraints,
        "feasible": bool(feasible) if feasible is not None else None,
        "pareto": trial.id in pareto or bool(info.get("pareto")),
        "duration_s": json_safe(duration) if duration is not None else trial.duration_s,
        "error": str(info["error"]) if info.get("error") else None,
        "test": json_safe(dict(test)) if isinstance(test, Mapping) else None,
        "start_time": trial.start_time.isoformat(),
    }


def _importance(settings: Mapping[str, Any]) -> dict[str, Any] | None:
    """``attrs["search"]["importance"]`` as the panel reads it (written by tracker.tuning)."""
    raw = settings.get("importance")
    if not isinstance(raw, Mapping):
        return None  # a search from before importances were recorded, or still running
    by_obj = raw.get("objectives")
    objectives: dict[str, dict[str, Any]] = {}
    if isinstance(by_obj, Mapping):
        for obj, params in by_obj.items():
            if isinstance(params, Mapping):
                objectives[str(obj)] = {
                    str(k): float_to_json(float(v))
                    for k, v in params.items()
                    if isinstance(v, int | float)
                }
    n = raw.get("n_complete")
    return {
        "method": str(raw["method"]) if raw.get("method") else None,
        "n_complete": int(n) if isinstance(n, int | float) else 0,
        "objectives": objectives,
        "reason": str(raw["reason"]) if raw.get("reason") else None,
    }


def _feasible_on_test(recheck: Any, trial_id: str) -> bool | None:
    entry = recheck.get(trial_id) if isinstance(recheck, Mapping) else None
    if isinstance(entry, Mapping) and isinstance(entry.get("feasible_on_test"), bool):
        return bool(entry["feasible_on_test"])
    return None


def search_detail(
    search: Run, trials: Sequence[Run], hypervolume: Sequence[Metric]
) -> dict[str, Any]:
    """A search in full: settings, trials, Pareto front, constraints and hypervolume history."""
    settings = _search_settings(search)
    objectives = _objectives(settings)
    pareto_ids = _str_list(search.attrs.get("pareto"))
    rows = [_trial_row(t, objectives, set(pareto_ids)) for t in trials]
    if not pareto_ids:  # older writers only flag the trials themselves
        pareto_ids = [r["id"] for r in rows if r["pareto"]]
    rows.sort(key=lambda r: (r["number"] is None, r["number"], r["start_time"]))
    recheck = search.attrs.get("recheck")
    for r in rows:
        r["feasible_on_test"] = _feasible_on_test(recheck, r["id"])
    chosen = search.attrs.get("chosen")
    space = settings.get("space")
    sampler = settings.get("sampler")
    return {
        "search": run_summary(search),
        "study_name": settings.get("study_name") or search.tags.get("optuna.study_name"),
        "objectives": objectives,
        "constraints": _constraints(settings),
        "sampler": json_safe(dict(sampler)) if isinstance(sampler, Mapping) else None,
        "space": json_safe(dict(space)) if isinstance(space, Mapping) else {},
        "budget": json_safe(settings.get("budget")) if settings.get("budget") else None,
        "pareto": pareto_ids,
        "chosen": str(chosen) if isinstance(chosen, str) else None,
        "closest": _closest(search),
        "recheck": json_safe(dict(recheck)) if isinstance(recheck, Mapping) else {},
        "hypervolume": [{"step": m.step, "value": float_to_json(m.value)} for m in hypervolume],
        "importance": _importance(settings),
        "n_trials": len(rows),
        "n_feasible": sum(1 for r in rows if r["feasible"] is True),
        "trials": rows,
    }
