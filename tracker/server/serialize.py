"""Records -> the JSON wire format the panel reads (mirrored by ``labext/src/types.ts``).

Everything here is pure: records in, JSON-safe dicts out. A test checks that what
these functions produce type-checks against the TypeScript mirror, so a key added or
renamed here without ``types.ts`` fails the build.

Free-form values (attrs, params, profiles) may hold NaN or the infinities; JSON has no
such numbers, so :func:`json_safe` writes them as the strings ``"NaN"``, ``"Infinity"``
and ``"-Infinity"``, the same convention :mod:`tracker.records` uses for metrics.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from tracker.records import DataRef, Environment, Metric, Run, float_to_json

__all__ = [
    "compare_runs",
    "data_changes",
    "json_safe",
    "metric_points",
    "run_detail",
    "run_summary",
    "search_detail",
    "search_summary",
]

#: How many profile differences one data comparison lists before summarising the rest.
MAX_CHANGES = 40


def json_safe(value: Any) -> Any:
    """``value`` with NaN/inf floats as strings and tuples as lists (strict JSON)."""
    if isinstance(value, float):
        return float_to_json(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _num(value: Any) -> float | None:
    """A finite-or-not float from a JSON-ish value, ``None`` when it is no number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        return float(value)
    return None


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


def _same(values: Sequence[Any]) -> bool:
    texts = {json.dumps(json_safe(v), sort_keys=True) for v in values}
    return len(texts) <= 1


def _flatten(value: Any, prefix: str, out: dict[str, Any], depth: int = 0) -> None:
    if isinstance(value, Mapping) and depth < 5:
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out, depth + 1)
    else:
        out[prefix] = value


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return json.dumps(json_safe(value)) if not isinstance(value, str) else value


def _change(what: str, before: Any, after: Any, text: str | None = None) -> dict[str, Any]:
    if text is None:
        text = f"{what}: {_fmt(before)} → {_fmt(after)}"
        a, b = _num(before), _num(after)
        if a is not None and b is not None and math.isfinite(a) and math.isfinite(b):
            delta = b - a
            if a != 0:
                text += f" ({delta:+.4g}, {delta / abs(a):+.1%})"
            else:
                text += f" ({delta:+.4g})"
    return {"what": what, "before": json_safe(before), "after": json_safe(after), "text": text}


def data_changes(before: DataRef | None, after: DataRef | None) -> list[dict[str, Any]]:
    """How ``after`` differs from ``before``, read from the refs and their stored profiles.

    Returns:
        ``[{"what", "before", "after", "text"}]``: empty when the digests are equal.
    """
    if before is None and after is None:
        return []
    if before is None:
        assert after is not None
        return [_change("presence", None, after.short, f"new: {after.kind} {after.short}")]
    if after is None:
        return [_change("presence", before.short, None, f"absent (was {before.short})")]
    if before.digest == after.digest and before.algorithm == after.algorithm:
        return []
    out: list[dict[str, Any]] = []
    if before.kind != after.kind:
        out.append(_change("kind", before.kind, after.kind))
    if before.shape != after.shape:
        out.append(
            _change(
                "shape",
                list(before.shape) if before.shape is not None else None,
                list(after.shape) if after.shape is not None else None,
            )
        )
    if before.rows != after.rows and (before.shape is None or after.shape is None):
        out.append(_change("rows", before.rows, after.rows))
    bd, ad = dict(before.dtypes or {}), dict(after.dtypes or {})
    added = [c for c in ad if c not in bd]
    removed = [c for c in bd if c not in ad]
    if added:
        out.append(_change("columns added", None, added, "columns added: " + ", ".join(added)))
    if removed:
        out.append(
            _change("columns removed", removed, None, "columns removed: " + ", ".join(removed))
        )
    for col in bd:
        if col in ad and bd[col] != ad[col]:
            label = f"dtype of {col}" if col else "dtype"
            out.append(_change(label, bd[col], ad[col]))
    bn, an = dict(before.nulls or {}), dict(after.nulls or {})
    for col in sorted(set(bn) | set(an)):
        if bn.get(col, 0) != an.get(col, 0):
            label = f"missing values in {col}" if col else "missing values"
            out.append(_change(label, bn.get(col, 0), an.get(col, 0)))
    if before.nbytes != after.nbytes:
        out.append(_change("bytes", before.nbytes, after.nbytes))
    if before.partial != after.partial:
        out.append(_change("partial hash", before.partial, after.partial))
    if before.path != after.path:
        out.append(_change("path", before.path, after.path))
    if before.algorithm != after.algorithm:
        out.append(_change("hash algorithm", before.algorithm, after.algorithm))
    bp: dict[str, Any] = {}
    ap: dict[str, Any] = {}
    _flatten(dict(before.profile or {}), "", bp)
    _flatten(dict(after.profile or {}), "", ap)
    for key in sorted(set(bp) | set(ap)):
        if key in bp and key in ap:
            if not _same([bp[key], ap[key]]):
                out.append(_change(key, bp[key], ap[key]))
        elif key in ap:
            out.append(_change(key, None, ap[key], f"{key}: new ({_fmt(ap[key])})"))
        else:
            out.append(_change(key, bp[key], None, f"{key}: gone (was {_fmt(bp[key])})"))
    if not out:
        out.append(
            _change(
                "content",
                before.short,
                after.short,
                "values changed; shape, dtypes and the stored profile are the same",
            )
        )
    if len(out) > MAX_CHANGES:
        rest = len(out) - MAX_CHANGES + 1
        out = [*out[: MAX_CHANGES - 1], _change("more", None, rest, f"… and {rest} more")]
    return out


def _data_brief(ref: DataRef | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    return {
        "digest": ref.digest,
        "short": ref.short,
        "kind": ref.kind,
        "shape": list(ref.shape) if ref.shape is not None else None,
        "rows": ref.rows,
        "partial": ref.partial,
    }


def _env_items(env: Environment | None) -> dict[str, Any]:
    if env is None:
        return {}
    out: dict[str, Any] = {
        "python": env.python,
        "platform": env.platform,
        "hostname": env.hostname,
        "git_commit": env.git_commit,
        "git_dirty": env.git_dirty,
    }
    for k, v in env.packages.items():
        out[f"packages.{k}"] = v
    for k, v in env.hardware.items():
        out[f"hardware.{k}"] = v
    return out


def compare_runs(runs: Sequence[Run]) -> dict[str, Any]:
    """Two or more runs side by side; every change is relative to the first run.

    Returns:
        ``runs`` (summaries), ``params``/``metrics``/``environment`` rows
        (``{"key", "values", "differs"}``) and ``data`` rows with the changes of each
        run's data against the first run's, explained from the stored profiles.
    """
    pkeys = sorted({k for r in runs for k in r.params})
    mkeys = sorted({k for r in runs for k in r.metrics})
    params = []
    for k in pkeys:
        vals = [r.params.get(k) for r in runs]
        present = [k in r.params for r in runs]
        params.append(
            {"key": k, "values": json_safe(vals), "differs": not (_same(vals) and all(present))}
        )
    metrics = []
    for k in mkeys:
        mvals = [r.metrics.get(k) for r in runs]
        metrics.append(
            {
                "key": k,
                "values": [float_to_json(v) if v is not None else None for v in mvals],
                "differs": not _same(mvals),
            }
        )
    data = []
    for name in sorted({n for r in runs for n in r.data}):
        refs = [r.data.get(name) for r in runs]
        base = refs[0]
        data.append(
            {
                "name": name,
                "refs": [_data_brief(ref) for ref in refs],
                "changed": not _same([ref.digest if ref else None for ref in refs]),
                "changes": [
                    [] if i == 0 else data_changes(base, ref) for i, ref in enumerate(refs)
                ],
            }
        )
    envs = [_env_items(r.environment) for r in runs]
    environment = []
    for k in sorted({k for e in envs for k in e}):
        vals = [e.get(k) for e in envs]
        if k.startswith(("packages.", "hardware.")) and _same(vals):
            continue  # hundreds of equal package versions would hide the ones that moved
        environment.append({"key": k, "values": json_safe(vals), "differs": not _same(vals)})
    return {
        "runs": [run_summary(r) for r in runs],
        "params": params,
        "metrics": metrics,
        "data": data,
        "environment": environment,
    }


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
        "n_trials": len(rows),
        "n_feasible": sum(1 for r in rows if r["feasible"] is True),
        "trials": rows,
    }
