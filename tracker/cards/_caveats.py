"""Caveats the tracker knows from its records, added to every card automatically.

Each caveat is ``{"code", "severity" ("warning" or "info"), "text", "run_ids"}``. Texts
are plain text (the renderers escape them); codes are stable, for tools and tests:

``nondeterministic``       a run or cell of the lineage measured other metrics than an
                           earlier record with the same code, inputs and params
``thin_margin``            a latency constraint is met by less than the latency
                           measurement's own uncertainty
``selected_on_validation`` the model was chosen on validation data among N trials
``no_test_recheck``        ... and no test-set re-check was recorded
``infeasible_on_test``     the card's trial breaks a constraint on test data; for a search,
                           no configuration met every constraint on the test re-check
                           (then none is chosen, and the closest is named as such)
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

from tracker.cards._format import broken_on_test
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


def _caveat(code: str, severity: str, text: str, run_ids: Sequence[str]) -> dict[str, Any]:
    return {"code": code, "severity": severity, "text": text, "run_ids": list(run_ids)}


def _nondeterministic(doc: Mapping[str, Any], chain: Sequence[Run]) -> list[dict[str, Any]]:
    flagged = [r for r in chain if r.nondeterministic]
    cells = [c for c in doc["lineage"]["cells"] if c.get("nondeterministic")]
    if not (flagged or cells):
        return []
    what = [f"run {r.name!r}" for r in flagged] + [
        f"cell #{c['seq']} (execution {c['execution_count']})" for c in cells
    ]
    text = (
        "Not reproducible: " + ", ".join(what) + " measured different metrics than "
        "an earlier record with the same code, inputs and params. Fix the seeds or "
        "the source of randomness before relying on these figures."
    )
    run_ids = [r.id for r in flagged] + sorted({c["run_id"] for c in cells})
    return [_caveat("nondeterministic", "warning", text, run_ids)]


def _selection(
    doc: Mapping[str, Any], model: Run, search: Run | None, trials: Sequence[Run]
) -> list[dict[str, Any]]:
    """Caveats of choosing a model among a search's trials, checked on test data or not."""
    found = doc.get("search") or {}
    closest = found.get("closest")
    if search is not None and closest and not found.get("chosen"):
        text = (
            "No configuration met every constraint on held-out test data: each Pareto "
            "configuration broke one on the test re-check. None is chosen; the closest, "
            f"trial {closest.get('number')}, breaks {broken_on_test(closest)} on test data."
        )
        return [_caveat("infeasible_on_test", "warning", text, [search.id])]
    if search is None or search.id == model.id:
        return []
    complete = sum(
        1
        for t in trials
        if (t.attrs.get("trial") or {}).get("state", "complete") == "complete"
        and t.status is RunStatus.FINISHED
    )
    chosen = found.get("chosen")
    has_test = bool(chosen and chosen.get("test"))
    text = (
        f"The model was chosen on validation data among {complete} completed trials "
        f"of {len(trials)}; its validation figures are optimistic (selection bias)."
        + (" The test-set figures from the re-check are the unbiased estimate." if has_test else "")
    )
    out = [_caveat("selected_on_validation", "info" if has_test else "warning", text, [search.id])]
    if not has_test:
        text = (
            "No test-set re-check of the chosen point was recorded: confirm it on "
            "held-out test data before calling it production-ready."
        )
        out.append(_caveat("no_test_recheck", "warning", text, [search.id]))
    if chosen and chosen.get("feasible_on_test") is False:
        text = f"On test data the chosen point breaks {broken_on_test(chosen)}."
        out.append(_caveat("infeasible_on_test", "warning", text, [search.id]))
    return out


def _data(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    data = [*doc["training_data"], *doc["evaluation_data"], *doc["other_data"]]
    partial = [d for d in data if d.get("partial")]
    if not partial:
        return []
    text = (
        "Partial data hashes (not all of the content went into the digest, so "
        "different data could share it): "
        + "; ".join(
            f"{d['name']} ({d.get('partial_reason') or 'reason not recorded'})" for d in partial
        )
        + "."
    )
    return [_caveat("partial_hash", "warning", text, sorted({d["run_id"] for d in partial}))]


def _slices(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for s in doc["quantitative_analyses"]["slices"]:
        small = [x for x in s["slices"] if x["too_small"]]
        if small:
            text = (
                f"Slices of {s['by']} with fewer than {s.get('min_count')} rows are too "
                "small for a confident estimate: "
                + ", ".join(f"{x['slice']} (n={x['n']})" for x in small)
                + "."
            )
            out.append(_caveat("small_slice", "warning", text, [s["run_id"]]))
        worse = [(x["slice"], m) for x in s["slices"] for m in x["worse_than_overall"]]
        if worse:
            text = (
                f"Worse than overall beyond the {round(100 * float(s['confidence']))}% "
                f"interval, by {s['by']}: " + ", ".join(f"{lab} ({m})" for lab, m in worse) + "."
            )
            out.append(_caveat("worse_slice", "warning", text, [s["run_id"]]))
    return out


def _run_state(doc: Mapping[str, Any], model: Run) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if model.status is not RunStatus.FINISHED:
        text = f"The model's run is {model.status.value}, not finished."
        out.append(_caveat("run_not_finished", "warning", text, [model.id]))
    git = doc["lineage"].get("git")
    if git and git.get("dirty"):
        text = (
            f"The code had uncommitted changes (git commit {str(git.get('commit'))[:12]} "
            "plus local edits): the commit alone does not reproduce the model."
        )
        out.append(_caveat("uncommitted_code", "warning", text, [model.id]))
    if not (doc["training_data"] or doc["evaluation_data"] or doc["other_data"]):
        text = (
            "No data hash was recorded for this model: log the training and evaluation "
            "data (run.log_data) or track the notebook (%track on) to document them."
        )
        out.append(_caveat("no_data", "warning", text, [model.id]))
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
    return [
        *_nondeterministic(doc, chain),
        *_thin_margins(doc, model),
        *_selection(doc, model, search, trials),
        *_data(doc),
        *_slices(doc),
        *_run_state(doc, model),
    ]
