"""The search part of a card: its trials, Pareto front, test re-check and outcome.

Read from the search run's attrs (``search``, ``pareto``, ``recheck``, and ``chosen`` or
``closest``; docs/records.md) and its trial runs. The outcome follows the rule that makes
a constraint hard: a configuration is *chosen* only if it holds every constraint on the
test re-check (on validation when there was none). When no Pareto configuration held on
test data, nothing is chosen and the *closest* one (the smallest total violation on test)
is named as such; the card then documents the search, never that trial as its model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tracker.cards._records import as_list, as_map, json_num, measured, number, trial_number
from tracker.records import Run, RunKind
from tracker.store import BaseStore
from tracker.store.query import Condition, RunQuery

__all__ = ["outcome", "search_content", "trials_of"]


def trials_of(store: BaseStore, search: Run) -> list[Run]:
    """The trial runs of a search, by trial number."""
    runs = store.search_runs(
        RunQuery(conditions=(Condition("parent_id", "=", search.id),), order_by=())
    )
    trials = [r for r in runs if r.kind is RunKind.TRIAL]
    big = 1 << 62
    trials.sort(key=lambda r: (n if (n := trial_number(r)) is not None else big, r.id))
    return trials


def _run_id(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping) and isinstance(value.get("run_id"), str):
        return str(value["run_id"])
    return None


def _total_violation(entry: Mapping[str, Any]) -> float:
    violations = as_map(entry.get("violations")).values()
    return sum(v for x in violations if (v := number(x)) is not None and v > 0)


def _closest_on_test(recheck: Mapping[str, Any], trials: Sequence[Run]) -> str | None:
    # Records written before the optimizer named the closest configuration itself: the
    # re-checked trial with the smallest total violation, a failed re-check last.
    if any(isinstance(e, Mapping) and e.get("feasible_on_test") for e in recheck.values()):
        return None  # one held: the search chose (or will choose) it, none is "closest"
    order = {t.id: i for i, t in enumerate(trials)}
    broken = [
        (bool(e.get("error")), _total_violation(e), order.get(rid, len(order)), rid)
        for rid, e in recheck.items()
        if isinstance(e, Mapping) and e.get("feasible_on_test") is False
    ]
    return min(broken)[3] if broken else None


def outcome(search: Run, trials: Sequence[Run]) -> tuple[str | None, str | None]:
    """The chosen and the closest trial of a search (see the module docstring).

    Returns:
        ``(chosen, None)`` when a configuration met every constraint, ``(None, closest)``
        when none did on the test re-check, ``(None, None)`` when the search chose
        nothing (no Pareto front yet).
    """
    chosen = _run_id(search.attrs.get("chosen"))
    closest = _run_id(search.attrs.get("closest"))
    recheck = as_map(search.attrs.get("recheck"))
    if chosen is not None and as_map(recheck.get(chosen)).get("feasible_on_test") is False:
        # An older optimizer fell back to a configuration that broke a constraint on the
        # test re-check; such a trial is not a chosen model.
        chosen = None
    if chosen is None and closest is None:
        closest = _closest_on_test(recheck, trials)
    return chosen, (closest if chosen is None else None)


def _trial_summary(t: Run) -> dict[str, Any]:
    info = as_map(t.attrs.get("trial"))
    values = as_map(info.get("values"))
    return {
        "run_id": t.id,
        "number": trial_number(t),
        "state": info.get("state") or t.status.value,
        "values": {k: json_num(v) for k, v in values.items()},
        "feasible": info.get("feasible"),
        "pareto": info.get("pareto"),
    }


def _point(t: Run, search: Run, objectives: Mapping[str, str]) -> dict[str, Any]:
    info = as_map(t.attrs.get("trial"))
    values = as_map(info.get("values"))
    cons = as_map(info.get("constraints"))
    test = as_map(t.attrs.get("test"))
    recheck = as_map(search.attrs.get("recheck"))
    entry = as_map(recheck.get(t.id))
    test_src: tuple[Mapping[str, Any], str, list[Any]] = (
        (test, t.id, ["attrs", "test"])
        if test
        else (entry.get("test") or {}, search.id, ["attrs", "recheck", t.id, "test"])
    )
    return {
        "run_id": t.id,
        "number": trial_number(t),
        "params": {k: measured(v, t.id, ["params", k]) for k, v in t.params.items()},
        "values": {
            k: measured(number(v), t.id, ["attrs", "trial", "values", k]) for k, v in values.items()
        },
        "constraints": {
            str(expr): {
                **measured(
                    number(c.get("value")), t.id, ["attrs", "trial", "constraints", expr, "value"]
                ),
                "violation": json_num(c.get("violation")),
                "feasible": c.get("feasible"),
            }
            for expr, c in cons.items()
            if isinstance(c, Mapping)
        },
        "feasible": info.get("feasible"),
        "test": {
            k: measured(number(v), test_src[1], [*test_src[2], k])
            for k, v in (test_src[0] or {}).items()
            if number(v) is not None
        },
        "feasible_on_test": entry.get("feasible_on_test") if entry else None,
        "violations_on_test": dict(entry.get("violations") or {}) if entry else {},
        "duration_s": json_num(info.get("duration_s")),
    }


def search_content(
    store: BaseStore,
    search: Run,
    trials: Sequence[Run],
    chosen: str | None,
    closest: str | None,
) -> dict[str, Any]:
    """The search section of a card's content (``chosen``: the card's model trial)."""
    cfg = as_map(search.attrs.get("search"))
    objectives = as_map(cfg.get("objectives"))
    pareto_ids = as_list(search.attrs.get("pareto"))
    by_id = {t.id: t for t in trials}
    summaries = [_trial_summary(t) for t in trials]
    states: dict[str, int] = {}
    feasible = 0
    for s in summaries:
        states[str(s["state"])] = states.get(str(s["state"]), 0) + 1
        feasible += 1 if s["feasible"] else 0
    pareto = [_point(by_id[i], search, objectives) for i in pareto_ids if i in by_id]
    pareto.sort(key=lambda p: (p["number"] if p["number"] is not None else 1 << 62, p["run_id"]))
    recheck = as_map(search.attrs.get("recheck"))
    history = store.metric_history(search.id, "hypervolume")
    counted = {
        k: measured(search.metrics[k], search.id, ["metrics", k])
        for k in ("n_trials", "n_feasible")
        if k in search.metrics
    }
    return {
        "run_id": search.id,
        "name": search.name,
        "study_name": cfg.get("study_name") or search.tags.get("optuna.study_name"),
        "objectives": [{"metric": str(k), "direction": str(v)} for k, v in objectives.items()],
        "constraints": [dict(c) for c in cfg.get("constraints") or [] if isinstance(c, Mapping)],
        "sampler": dict(cfg["sampler"]) if isinstance(cfg.get("sampler"), Mapping) else None,
        "seed": cfg.get("seed"),
        "budget": dict(cfg["budget"]) if isinstance(cfg.get("budget"), Mapping) else None,
        "n_jobs": cfg.get("n_jobs"),
        "space": dict(cfg["space"]) if isinstance(cfg.get("space"), Mapping) else None,
        "storage": cfg.get("storage"),
        "counts": {
            "trials": len(trials),
            "by_state": dict(sorted(states.items())),
            "feasible": feasible,
            "pareto": len(pareto),
            "rechecked": len(recheck),
        },
        "recorded_counts": counted,
        "chosen": _point(by_id[chosen], search, objectives) if chosen in by_id else None,
        "chosen_run_id": chosen,
        "closest": _point(by_id[closest], search, objectives) if closest in by_id else None,
        "closest_run_id": closest,
        "pareto": pareto,
        "hypervolume": [
            {**measured(m.value, search.id, ["metric_history", "hypervolume"]), "step": m.step}
            for m in history
        ],
        "trials": summaries,
    }
