"""Build the content of a model card from stored records (docs/records.md).

The card is a plain JSON-safe dict (its schema is what :meth:`ModelCard.to_dict`
returns); the renderers (Markdown, HTML) read only that dict. Every measured value is an
object ``{"value": v, "run_id": id, "path": [...]}``: ``run_id`` is the run whose record
holds it and ``path`` where in that run's record (``["metrics", "accuracy"]``,
``["attrs", "test", "accuracy"]``, ``["metric_history", "hypervolume"]`` with a
``step``...), so any figure in a card can be traced and checked against the store.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tracker._version import __version__
from tracker.cards._lineage import build_lineage
from tracker.cards._sections import SECTIONS
from tracker.records import DataRef, Run, RunKind, RunStatus, float_to_json
from tracker.store import BaseStore
from tracker.store.query import Condition, RunQuery

__all__ = ["SCHEMA", "SCHEMA_VERSION", "card_content", "classify_split", "measured"]

SCHEMA = "jupyterlab-tracker/model-card"
SCHEMA_VERSION = 1

#: Metrics a search or the tracker writes for itself, not evaluation results.
_BOOKKEEPING = frozenset({"hypervolume", "n_trials", "n_feasible"})
_FRAMEWORKS = (  # distribution name -> display name, most specific first
    ("torch", "PyTorch"),
    ("tensorflow", "TensorFlow"),
    ("keras", "Keras"),
    ("jax", "JAX"),
    ("xgboost", "XGBoost"),
    ("lightgbm", "LightGBM"),
    ("catboost", "CatBoost"),
    ("statsmodels", "statsmodels"),
    ("scikit-learn", "scikit-learn"),
)
_TYPE_KEYS = (
    "model_type",
    "model",
    "estimator",
    "estimator_class",
    "algorithm",
    "classifier",
    "regressor",
)
_CLASSIFICATION = ("accuracy", "f1", "precision", "recall", "auc", "log_loss", "brier")
_REGRESSION = ("rmse", "mse", "mae", "r2", "mape")


def measured(value: Any, run_id: str, path: Sequence[Any], **extra: Any) -> dict[str, Any]:
    """A measured value with where it came from (see the module docstring)."""
    v = (
        float_to_json(float(value))
        if isinstance(value, float | int) and not isinstance(value, bool)
        else value
    )
    return {"value": v, "run_id": run_id, "path": list(path), **extra}


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)  # "NaN", "Infinity" as stored by float_to_json
        except ValueError:
            return None
    return None


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _json_num(value: Any) -> Any:
    f = _num(value)
    return None if f is None else float_to_json(f)


# --- splits -----------------------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z]+")


def classify_split(name: str) -> str:
    """``train``, ``validation``, ``test``, ``evaluation`` or ``other``, from a data/metric name."""
    tokens = _TOKEN.findall(name.lower())
    joined = "".join(tokens)
    if any(t in ("test", "holdout") for t in tokens) or joined.startswith("test"):
        return "test"
    if any(t in ("val", "valid", "validation", "dev") for t in tokens):
        return "validation"
    if any(t in ("train", "training", "fit") for t in tokens) or joined.startswith("train"):
        return "train"
    if any(t in ("eval", "evaluation") for t in tokens):
        return "evaluation"
    return "other"


# --- reading ------------------------------------------------------------------------------------


def _trial_number(run: Run) -> int | None:
    t = run.attrs.get("trial")
    if isinstance(t, Mapping) and isinstance(t.get("number"), int):
        return int(t["number"])
    tag = run.tags.get("optuna.trial_number")
    try:
        return int(tag) if tag is not None else None
    except ValueError:
        return None


def _trials(store: BaseStore, search: Run) -> list[Run]:
    runs = store.search_runs(
        RunQuery(conditions=(Condition("parent_id", "=", search.id),), order_by=())
    )
    trials = [r for r in runs if r.kind is RunKind.TRIAL]
    big = 1 << 62
    trials.sort(key=lambda r: (n if (n := _trial_number(r)) is not None else big, r.id))
    return trials


def _chosen_id(search: Run, trials: Sequence[Run]) -> str | None:
    chosen = search.attrs.get("chosen")
    if isinstance(chosen, str) and chosen:
        return chosen
    if isinstance(chosen, Mapping) and isinstance(chosen.get("run_id"), str):
        return str(chosen["run_id"])
    return None


# --- model details ------------------------------------------------------------------------------


def _framework(run: Run) -> dict[str, Any] | None:
    tag = run.tags.get("framework")
    packages = dict(run.environment.packages) if run.environment else {}
    if tag:
        return {"name": tag, "version": packages.get(tag), "source": "tags.framework"}
    lower = {k.lower(): (k, v) for k, v in packages.items()}
    found = [(label, lower[dist][1]) for dist, label in _FRAMEWORKS if dist in lower]
    if not found:
        return None
    if len(found) == 1:
        return {"name": found[0][0], "version": found[0][1], "source": "environment.packages"}
    # Several ML frameworks were imported (Optuna's GP sampler imports PyTorch, for one):
    # the records cannot tell which one the model uses, so the card names them all and
    # claims none; the tag "framework" settles it.
    return {
        "name": ", ".join(f"{label} {version}" for label, version in found),
        "version": None,
        "source": "environment.packages",
        "ambiguous": True,
    }


def _task(metric_names: Iterable[str], run: Run) -> str | None:
    tag = run.tags.get("task")
    if tag:
        return tag
    names = [n.lower() for n in metric_names]
    if any(any(w in n for w in _CLASSIFICATION) for n in names):
        return "classification"
    if any(any(w in n for w in _REGRESSION) for n in names):
        return "regression"
    return None


def _model_type(run: Run, runs: Sequence[Run]) -> dict[str, Any] | None:
    for r in runs:
        for key in _TYPE_KEYS:
            if r.tags.get(key):
                return {"value": r.tags[key], "run_id": r.id, "path": ["tags", key]}
        for key in _TYPE_KEYS:
            v = r.params.get(key)
            if isinstance(v, str) and v:
                return {"value": v, "run_id": r.id, "path": ["params", key]}
    return None


def _version(runs: Sequence[Run]) -> dict[str, Any] | None:
    for r in runs:
        for key in ("version", "model_version"):
            if r.tags.get(key):
                return {"value": r.tags[key], "run_id": r.id, "path": ["tags", key]}
    return None


def _details(
    subject: Run, model: Run, search: Run | None, metric_names: list[str]
) -> dict[str, Any]:
    runs = [model] + ([subject] if subject.id != model.id else [])
    if search is not None and search.id not in {r.id for r in runs}:
        runs.append(search)
    when = model.end_time or model.start_time
    hyper: list[dict[str, Any]] = []
    seen: set[str] = set()
    for r in runs:  # the model's own params first, then fixed params of its search
        for k, v in r.params.items():
            if k in seen:
                continue
            seen.add(k)
            hyper.append({"name": k, **measured(v, r.id, ["params", k])})
    return {
        "name": subject.name,
        "run_id": subject.id,
        "model_run_id": model.id,
        "kind": subject.kind.value,
        "version": _version(runs),
        "date": when.date().isoformat(),
        "started": model.start_time.isoformat(),
        "ended": model.end_time.isoformat() if model.end_time else None,
        "status": model.status.value,
        "type": _model_type(model, runs),
        "task": _task(metric_names, model),
        "framework": _framework(model) or (_framework(subject) if subject is not model else None),
        "hyperparameters": hyper,
        "tags": dict(sorted(subject.tags.items())),
        "notes": subject.notes,
        "source": subject.source.to_dict() if subject.source else None,
    }


# --- metrics ------------------------------------------------------------------------------------


def _metric_rows(
    model: Run, search: Run | None, search_cfg: Mapping[str, Any]
) -> list[dict[str, Any]]:
    objectives = _map(search_cfg.get("objectives"))
    constraint_metrics = {
        c.get("metric") for c in search_cfg.get("constraints") or [] if isinstance(c, Mapping)
    }
    rows: list[dict[str, Any]] = []
    for k, v in sorted(model.metrics.items()):
        if k.startswith("slice.") or k in _BOOKKEEPING:
            continue
        split = "validation" if search is not None else None
        named = classify_split(k)
        if named in ("test", "validation", "train"):
            split = named
        role = "objective" if k in objectives else "constraint" if k in constraint_metrics else None
        rows.append(
            {
                "name": k,
                "split": split,
                "role": role,
                "direction": objectives.get(k) if objectives else None,
                **measured(v, model.id, ["metrics", k]),
            }
        )
    test = model.attrs.get("test")
    recheck = search.attrs.get("recheck") if search is not None else None
    re_entry = recheck.get(model.id) if isinstance(recheck, Mapping) else None
    if isinstance(test, Mapping) and test:
        for k, v in sorted(test.items()):
            if _num(v) is not None:
                rows.append(
                    {
                        "name": k,
                        "split": "test",
                        "role": "recheck" if search else None,
                        "direction": objectives.get(k) if objectives else None,
                        **measured(_num(v), model.id, ["attrs", "test", k]),
                    }
                )
    elif isinstance(re_entry, Mapping) and isinstance(re_entry.get("test"), Mapping) and search:
        for k, v in sorted(re_entry["test"].items()):
            if _num(v) is not None:
                rows.append(
                    {
                        "name": k,
                        "split": "test",
                        "role": "recheck",
                        "direction": objectives.get(k) if objectives else None,
                        **measured(_num(v), search.id, ["attrs", "recheck", model.id, "test", k]),
                    }
                )
    return rows


# --- data ----------------------------------------------------------------------------------------


def _data_entry(name: str, ref: DataRef, run_id: str, path: list[Any], role: str) -> dict[str, Any]:
    profile = dict(ref.profile) if ref.profile else None
    return {
        "name": name,
        "split": classify_split(name),
        "role": role,
        "digest": ref.digest,
        "algorithm": ref.algorithm,
        "kind": ref.kind,
        "rows": ref.rows,
        "shape": list(ref.shape) if ref.shape is not None else None,
        "nbytes": ref.nbytes,
        "dtypes": dict(ref.dtypes) if ref.dtypes else None,
        "nulls": dict(ref.nulls) if ref.nulls else None,
        "partial": ref.partial,
        "partial_reason": (profile or {}).get("partial_reason") if ref.partial else None,
        "path_on_disk": ref.path,
        "profile": profile,
        "run_id": run_id,
        "path": path,
    }


def _data(runs: Sequence[Run], lineage: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for r in runs:
        for name, ref in r.data.items():
            if ref.digest in seen:
                continue
            seen.add(ref.digest)
            out.append(_data_entry(name, ref, r.id, ["data", name], "logged"))
    for cell in lineage.get("cells", []):
        for name, ref in cell.get("_input_refs", {}).items():
            if ref.digest in seen:
                continue
            seen.add(ref.digest)
            out.append(
                _data_entry(
                    name, ref, cell["run_id"], ["cells", cell["seq"], "inputs", name], "cell input"
                )
            )
    return out


def _splits(data: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows: dict[str, int] = {}
    for d in data:
        if d["split"] == "other" or d["rows"] is None:
            continue
        rows[d["split"]] = max(rows.get(d["split"], 0), int(d["rows"]))
    total = sum(rows.values())
    order = ("train", "validation", "test", "evaluation")
    return [
        {"split": s, "rows": rows[s], "fraction": rows[s] / total if total else None}
        for s in order
        if s in rows
    ]


# --- quantitative analyses ------------------------------------------------------------------------


def _slices(runs: Sequence[Run]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for r in runs:
        keys = sorted(k for k in r.attrs if k.startswith("slices."))
        if "slices" in r.attrs:
            keys.append("slices")  # the latest copy; skipped when a slices.<by> holds it
        for key in keys:
            doc = r.attrs[key]
            if not isinstance(doc, Mapping) or not isinstance(doc.get("slices"), list):
                continue
            by = str(doc.get("by", ""))
            if (r.id, by) in seen:
                continue
            seen.add((r.id, by))
            out.append(_slice_doc(r.id, key, doc))
    return out


def _slice_doc(run_id: str, key: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    metrics = [str(m) for m in doc.get("metrics") or []]
    hib = _map(doc.get("higher_is_better"))

    def stat(d: Mapping[str, Any], path: list[Any]) -> dict[str, Any]:
        return {
            **measured(_num(d.get("value")), run_id, [*path, "value"]),
            "ci_low": _json_num(d.get("ci_low")),
            "ci_high": _json_num(d.get("ci_high")),
        }

    overall = {
        m: {**stat(d, ["attrs", key, "overall", m]), "n": d.get("n")}
        for m, d in (doc.get("overall") or {}).items()
        if isinstance(d, Mapping)
    }
    slices = []
    for i, s in enumerate(doc["slices"]):
        if not isinstance(s, Mapping):
            continue
        slices.append(
            {
                "slice": str(s.get("slice")),
                "n": s.get("n"),
                "metrics": {
                    m: stat(d, ["attrs", key, "slices", i, "metrics", m])
                    for m, d in (s.get("metrics") or {}).items()
                    if isinstance(d, Mapping)
                },
                "worse_than_overall": [str(x) for x in s.get("worse_than_overall") or []],
                "too_small": bool(s.get("too_small")),
            }
        )
    return {
        "by": str(doc.get("by", "")),
        "metrics": metrics,
        "higher_is_better": {m: bool(hib.get(m, True)) for m in metrics},
        "confidence": doc.get("confidence", 0.95),
        "method": doc.get("method", "bootstrap"),
        "n_boot": doc.get("n_boot"),
        "min_count": doc.get("min_count"),
        "run_id": run_id,
        "path": ["attrs", key],
        "overall": overall,
        "slices": slices,
    }


_LATENCY_FIELDS = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms", "std_ms", "p95_upper_ci_ms")


def _latency_doc(run_id: str, path: list[Any], name: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "run_id": run_id,
        "path": path,
        **{
            f: measured(_num(doc[f]), run_id, [*path, f])
            for f in _LATENCY_FIELDS
            if _num(doc.get(f)) is not None
        },
        "n": doc.get("n"),
        "batch_size": doc.get("batch_size"),
        "warmup": doc.get("warmup"),
        "confidence": doc.get("confidence"),
        "hardware": dict(doc["hardware"]) if isinstance(doc.get("hardware"), Mapping) else None,
    }


def _latency(runs: Sequence[Run], search: Run | None, model: Run) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in runs:
        for key in sorted(k for k in r.attrs if k == "latency" or k.startswith("latency.")):
            doc = r.attrs[key]
            if isinstance(doc, Mapping):
                name = key.partition(".")[2] or "default"
                out.append(_latency_doc(r.id, ["attrs", key], name, doc))
    recheck = search.attrs.get("recheck") if search is not None else None
    entry = recheck.get(model.id) if isinstance(recheck, Mapping) else None
    if (
        search is not None
        and isinstance(entry, Mapping)
        and isinstance(entry.get("latency"), Mapping)
    ):
        out.append(
            _latency_doc(
                search.id,
                ["attrs", "recheck", model.id, "latency"],
                "test re-check",
                entry["latency"],
            )
        )
    return out


# --- search --------------------------------------------------------------------------------


def _trial_summary(t: Run) -> dict[str, Any]:
    info = _map(t.attrs.get("trial"))
    values = _map(info.get("values"))
    return {
        "run_id": t.id,
        "number": _trial_number(t),
        "state": info.get("state") or t.status.value,
        "values": {k: _json_num(v) for k, v in values.items()},
        "feasible": info.get("feasible"),
        "pareto": info.get("pareto"),
    }


def _point(t: Run, search: Run, objectives: Mapping[str, str]) -> dict[str, Any]:
    info = _map(t.attrs.get("trial"))
    values = _map(info.get("values"))
    cons = _map(info.get("constraints"))
    test = _map(t.attrs.get("test"))
    recheck = _map(search.attrs.get("recheck"))
    entry = _map(recheck.get(t.id))
    test_src: tuple[Mapping[str, Any], str, list[Any]] = (
        (test, t.id, ["attrs", "test"])
        if test
        else (entry.get("test") or {}, search.id, ["attrs", "recheck", t.id, "test"])
    )
    return {
        "run_id": t.id,
        "number": _trial_number(t),
        "params": {k: measured(v, t.id, ["params", k]) for k, v in t.params.items()},
        "values": {
            k: measured(_num(v), t.id, ["attrs", "trial", "values", k]) for k, v in values.items()
        },
        "constraints": {
            str(expr): {
                **measured(
                    _num(c.get("value")), t.id, ["attrs", "trial", "constraints", expr, "value"]
                ),
                "violation": _json_num(c.get("violation")),
                "feasible": c.get("feasible"),
            }
            for expr, c in cons.items()
            if isinstance(c, Mapping)
        },
        "feasible": info.get("feasible"),
        "test": {
            k: measured(_num(v), test_src[1], [*test_src[2], k])
            for k, v in (test_src[0] or {}).items()
            if _num(v) is not None
        },
        "feasible_on_test": entry.get("feasible_on_test") if entry else None,
        "violations_on_test": dict(entry.get("violations") or {}) if entry else {},
        "duration_s": _json_num(info.get("duration_s")),
    }


def _search(
    store: BaseStore, search: Run, trials: Sequence[Run], chosen: str | None
) -> dict[str, Any]:
    cfg = _map(search.attrs.get("search"))
    objectives = _map(cfg.get("objectives"))
    pareto_ids = _list(search.attrs.get("pareto"))
    by_id = {t.id: t for t in trials}
    states: dict[str, int] = {}
    feasible = 0
    for t in trials:
        s = _trial_summary(t)
        states[str(s["state"])] = states.get(str(s["state"]), 0) + 1
        feasible += 1 if s["feasible"] else 0
    pareto = [_point(by_id[i], search, objectives) for i in pareto_ids if i in by_id]
    pareto.sort(key=lambda p: (p["number"] if p["number"] is not None else 1 << 62, p["run_id"]))
    recheck = _map(search.attrs.get("recheck"))
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
        "pareto": pareto,
        "hypervolume": [
            {**measured(m.value, search.id, ["metric_history", "hypervolume"]), "step": m.step}
            for m in history
        ],
        "trials": [_trial_summary(t) for t in trials],
    }


# --- the card ------------------------------------------------------------------------------


def card_content(
    store: BaseStore,
    subject: Run,
    sections: Mapping[str, str],
    *,
    include_source: bool = False,
) -> dict[str, Any]:
    """The card of ``subject`` (a run, a search, or a trial) as a JSON-safe dict."""
    search: Run | None = None
    trials: list[Run] = []
    if subject.kind is RunKind.SEARCH:
        search = subject
    elif subject.kind is RunKind.TRIAL and subject.parent_id:
        parent = store.get_run(subject.parent_id, with_cells=False)
        search = parent if parent.kind is RunKind.SEARCH else None
    if search is not None:
        trials = _trials(store, search)
    model = subject
    chosen = _chosen_id(search, trials) if search is not None else None
    if subject.kind is RunKind.SEARCH:
        model = next((t for t in trials if t.id == chosen), subject)
    elif subject.kind is RunKind.TRIAL:
        chosen = subject.id
    cfg = search.attrs.get("search") if search is not None else None
    search_cfg: Mapping[str, Any] = cfg if isinstance(cfg, Mapping) else {}
    chain = _chain(store, model)
    lineage = build_lineage(store, model, chain, include_source=include_source)
    related = [model] + [r for r in chain if r.id != model.id]
    metric_rows = _metric_rows(model, search, search_cfg)
    data = _data(related, lineage)
    search_doc = _search(store, search, trials, chosen) if search is not None else None
    slices = _slices([model, *([subject] if subject.id != model.id else [])])
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "generator": {"name": "jupyterlab-tracker", "version": __version__},
        "subject": {
            "run_id": subject.id,
            "kind": subject.kind.value,
            "name": subject.name,
            "model_run_id": model.id,
        },
        "model_details": _details(subject, model, search, [r["name"] for r in metric_rows]),
        "sections": {
            s.key: {
                "title": s.title,
                "text": sections.get(s.key, ""),
                "needs_input": not sections.get(s.key, "").strip(),
                "prompt": s.prompt,
            }
            for s in SECTIONS
        },
        "metrics": metric_rows,
        "training_data": [d for d in data if d["split"] == "train"],
        "evaluation_data": [d for d in data if d["split"] in ("validation", "test", "evaluation")],
        "other_data": [d for d in data if d["split"] == "other"],
        "splits": _splits(data),
        "quantitative_analyses": {
            "slices": slices,
            "latency": _latency(related, search, model),
        },
        "search": search_doc,
        "lineage": {k: v for k, v in lineage.items() if k != "cells"}
        | {
            "cells": [
                {k: v for k, v in c.items() if not k.startswith("_")} for c in lineage["cells"]
            ]
        },
    }
    from tracker.cards._caveats import caveats

    doc["caveats"] = caveats(doc, model=model, chain=chain, search=search, trials=trials)
    return doc


def _chain(store: BaseStore, model: Run) -> list[Run]:
    """The model's run and its ancestors, nearest first (cycles and depth guarded)."""
    out = [model]
    seen = {model.id}
    parent = model.parent_id
    while parent and parent not in seen and len(out) < 32:
        try:
            run = store.get_run(parent, with_cells=False)
        except KeyError:  # RunNotFoundError: a parent deleted or not synced yet
            break
        out.append(run)
        seen.add(run.id)
        parent = run.parent_id
    return out


def status_is_final(run: Run) -> bool:
    """Whether the run has ended."""
    return run.status is not RunStatus.RUNNING


def is_finite(value: Any) -> bool:
    """A real, finite number."""
    f = _num(value)
    return f is not None and math.isfinite(f)
