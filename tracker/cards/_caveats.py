"""Caveats the tracker knows from its records, added to every card automatically.

Each caveat is ``{"code", "severity" ("warning" or "info"), "text", "run_ids"}``. Texts
are plain text (the renderers escape them); codes are stable, for tools and tests:

``nondeterministic``       a run or cell of the lineage measured other metrics than an
                           earlier record with the same code, inputs and params
``thin_margin``            a latency constraint is met by less than the latency
                           measurement's own uncertainty
``selected_on_validation`` the model was chosen on validation data among N trials
``no_test_recheck``        ... and no test-set re-check was recorded
``infeasible_on_test``     the chosen point breaks a constraint on test data
``partial_hash``           a data hash covers only part of the data
``small_slice``            slices too small for a confident estimate
``worse_slice``            slices worse than the overall figure beyond their interval
``run_not_finished``       the model's run failed, was interrupted, or is still running
``uncommitted_code``       the git working tree had uncommitted changes
``no_data``                no data hash was recorded for the model
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from tracker.records import Run, RunStatus

__all__ = ["caveats"]


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _f(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _latency_uncertainty(doc: Mapping[str, Any], metric: str) -> float | None:
    """Half-width above the estimate of the latency percentile ``metric`` measures."""
    if "p95" not in metric:
        return None
    for lat in doc["quantitative_analyses"]["latency"]:
        p95 = _f((lat.get("p95_ms") or {}).get("value"))
        upper = _f((lat.get("p95_upper_ci_ms") or {}).get("value"))
        if p95 is not None and upper is not None and upper >= p95:
            return upper - p95
    return None


def _thin_margins(doc: Mapping[str, Any], model: Run) -> list[dict[str, Any]]:
    out = []
    search = doc.get("search") or {}
    for c in search.get("constraints") or []:
        metric, op, bound = str(c.get("metric", "")), str(c.get("op", "")), _f(c.get("bound"))
        if "latency" not in metric or bound is None:
            continue
        value = _f(model.metrics.get(metric))
        width = _latency_uncertainty(doc, metric)
        if value is None or width is None:
            continue
        margin = bound - value if op in ("<", "<=") else value - bound
        if 0 <= margin < width:
            out.append(
                {
                    "code": "thin_margin",
                    "severity": "warning",
                    "text": (
                        f"The constraint {c.get('expr') or f'{metric} {op} {bound}'} is met by "
                        f"{_fmt(margin)} ms, less than the latency measurement's uncertainty "
                        f"({_fmt(width)} ms between the p95 estimate and its upper confidence "
                        "bound): on other runs or hardware it may not hold."
                    ),
                    "run_ids": [model.id],
                }
            )
    return out


def caveats(
    doc: Mapping[str, Any],
    *,
    model: Run,
    chain: Sequence[Run],
    search: Run | None,
    trials: Sequence[Run],
) -> list[dict[str, Any]]:
    """The automatic caveats of a card built from ``doc`` (see the module docstring)."""
    out: list[dict[str, Any]] = []
    flagged = [r for r in chain if r.nondeterministic]
    cells = [c for c in doc["lineage"]["cells"] if c.get("nondeterministic")]
    if flagged or cells:
        what = [f"run {r.name!r}" for r in flagged] + [
            f"cell #{c['seq']} (execution {c['execution_count']})" for c in cells
        ]
        out.append(
            {
                "code": "nondeterministic",
                "severity": "warning",
                "text": (
                    "Not reproducible: " + ", ".join(what) + " measured different metrics than "
                    "an earlier record with the same code, inputs and params. Fix the seeds or "
                    "the source of randomness before relying on these figures."
                ),
                "run_ids": [r.id for r in flagged] + sorted({c["run_id"] for c in cells}),
            }
        )
    out.extend(_thin_margins(doc, model))
    if search is not None and search.id != model.id:
        complete = sum(
            1
            for t in trials
            if (t.attrs.get("trial") or {}).get("state", "complete") == "complete"
            and t.status is RunStatus.FINISHED
        )
        chosen = (doc.get("search") or {}).get("chosen")
        has_test = bool(chosen and chosen.get("test"))
        out.append(
            {
                "code": "selected_on_validation",
                "severity": "info" if has_test else "warning",
                "text": (
                    f"The model was chosen on validation data among {complete} completed trials "
                    f"of {len(trials)}; its validation figures are optimistic (selection bias)."
                    + (
                        " The test-set figures from the re-check are the unbiased estimate."
                        if has_test
                        else ""
                    )
                ),
                "run_ids": [search.id],
            }
        )
        if not has_test:
            out.append(
                {
                    "code": "no_test_recheck",
                    "severity": "warning",
                    "text": (
                        "No test-set re-check of the chosen point was recorded: confirm it on "
                        "held-out test data before calling it production-ready."
                    ),
                    "run_ids": [search.id],
                }
            )
        if chosen and chosen.get("feasible_on_test") is False:
            broken = ", ".join(sorted(chosen.get("violations_on_test") or {})) or "a constraint"
            out.append(
                {
                    "code": "infeasible_on_test",
                    "severity": "warning",
                    "text": f"On test data the chosen point breaks {broken}.",
                    "run_ids": [search.id],
                }
            )
    data = [*doc["training_data"], *doc["evaluation_data"], *doc["other_data"]]
    partial = [d for d in data if d.get("partial")]
    if partial:
        out.append(
            {
                "code": "partial_hash",
                "severity": "warning",
                "text": "Partial data hashes (not all of the content went into the digest, so "
                "different data could share it): "
                + "; ".join(
                    f"{d['name']} ({d.get('partial_reason') or 'reason not recorded'})"
                    for d in partial
                )
                + ".",
                "run_ids": sorted({d["run_id"] for d in partial}),
            }
        )
    for s in doc["quantitative_analyses"]["slices"]:
        small = [x for x in s["slices"] if x["too_small"]]
        if small:
            out.append(
                {
                    "code": "small_slice",
                    "severity": "warning",
                    "text": (
                        f"Slices of {s['by']} with fewer than {s.get('min_count')} rows are too "
                        "small for a confident estimate: "
                        + ", ".join(f"{x['slice']} (n={x['n']})" for x in small)
                        + "."
                    ),
                    "run_ids": [s["run_id"]],
                }
            )
        worse = [(x["slice"], m) for x in s["slices"] for m in x["worse_than_overall"]]
        if worse:
            out.append(
                {
                    "code": "worse_slice",
                    "severity": "warning",
                    "text": (
                        f"Worse than overall beyond the {round(100 * float(s['confidence']))}% "
                        f"interval, by {s['by']}: "
                        + ", ".join(f"{lab} ({m})" for lab, m in worse)
                        + "."
                    ),
                    "run_ids": [s["run_id"]],
                }
            )
    if model.status is not RunStatus.FINISHED:
        out.append(
            {
                "code": "run_not_finished",
                "severity": "warning",
                "text": f"The model's run is {model.status.value}, not finished.",
                "run_ids": [model.id],
            }
        )
    git = doc["lineage"].get("git")
    if git and git.get("dirty"):
        out.append(
            {
                "code": "uncommitted_code",
                "severity": "warning",
                "text": (
                    f"The code had uncommitted changes (git commit {str(git.get('commit'))[:12]} "
                    "plus local edits): the commit alone does not reproduce the model."
                ),
                "run_ids": [model.id],
            }
        )
    if not data:
        out.append(
            {
                "code": "no_data",
                "severity": "warning",
                "text": (
                    "No data hash was recorded for this model: log the training and evaluation "
                    "data (run.log_data) or track the notebook (%track on) to document them."
                ),
                "run_ids": [model.id],
            }
        )
    return out
