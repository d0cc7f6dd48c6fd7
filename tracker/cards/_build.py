"""Build the content of a model card from stored records (docs/records.md).

The content is a plain JSON-safe dict (its schema is what :meth:`ModelCard.to_dict`
returns, and it is the JSON card). Every measured value is an object ``{"value": v,
"run_id": id, "path": [...]}`` (:func:`tracker.cards._records.measured`), so any figure
in a card can be traced and checked against the store. The layout
(:mod:`tracker.cards._layout`) turns the content into the one document the Markdown and
HTML cards serialize.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tracker._version import __version__
from tracker.cards._lineage import build_lineage
from tracker.cards._records import (
    as_map,
    classify_split,
    json_num,
    measured,
    number,
)
from tracker.cards._registry import registry_content
from tracker.cards._search import outcome, search_content, trials_of
from tracker.cards._sections import SECTIONS
from tracker.records import DataRef, ModelVersion, Run, RunKind
from tracker.store import BaseStore

__all__ = ["SCHEMA", "SCHEMA_VERSION", "card_content"]

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
    objectives = as_map(search_cfg.get("objectives"))
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
            if number(v) is not None:
                rows.append(
                    {
                        "name": k,
                        "split": "test",
                        "role": "recheck" if search else None,
                        "direction": objectives.get(k) if objectives else None,
                        **measured(number(v), model.id, ["attrs", "test", k]),
                    }
                )
    elif isinstance(re_entry, Mapping) and isinstance(re_entry.get("test"), Mapping) and search:
        for k, v in sorted(re_entry["test"].items()):
            if number(v) is not None:
                rows.append(
                    {
                        "name": k,
                        "split": "test",
                        "role": "recheck",
                        "direction": objectives.get(k) if objectives else None,
                        **measured(number(v), search.id, ["attrs", "recheck", model.id, "test", k]),
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
    hib = as_map(doc.get("higher_is_better"))

    def stat(d: Mapping[str, Any], path: list[Any]) -> dict[str, Any]:
        return {
            **measured(number(d.get("value")), run_id, [*path, "value"]),
            "ci_low": json_num(d.get("ci_low")),
            "ci_high": json_num(d.get("ci_high")),
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
            f: measured(number(doc[f]), run_id, [*path, f])
            for f in _LATENCY_FIELDS
            if number(doc.get(f)) is not None
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


# --- the card ------------------------------------------------------------------------------


def _model_of(
    store: BaseStore, subject: Run
) -> tuple[Run, Run | None, list[Run], str | None, str | None]:
    """``(model, search, trials, chosen, closest)`` of a card's subject.

    A search's card documents its chosen trial, or the search itself when none was
    chosen (:func:`tracker.cards._search.outcome`); a trial's card documents the trial,
    with its search as context; any other run's card documents that run.
    """
    search: Run | None = None
    if subject.kind is RunKind.SEARCH:
        search = subject
    elif subject.kind is RunKind.TRIAL and subject.parent_id:
        parent = store.get_run(subject.parent_id, with_cells=False)
        search = parent if parent.kind is RunKind.SEARCH else None
    if search is None:
        return subject, None, [], None, None
    trials = trials_of(store, search)
    if subject.kind is RunKind.TRIAL:
        return subject, search, trials, subject.id, None
    chosen, closest = outcome(search, trials)
    model = next((t for t in trials if t.id == chosen), subject)
    return model, search, trials, chosen, closest


def card_content(
    store: BaseStore,
    subject: Run,
    sections: Mapping[str, str],
    *,
    include_source: bool = False,
    model_version: ModelVersion | None = None,
) -> dict[str, Any]:
    """The card of ``subject`` (a run, a search, or a trial) as a JSON-safe dict.

    With ``model_version`` (the card of a registered version, whose run is ``subject``),
    the card also holds ``registered_model`` (:mod:`tracker.cards._registry`).
    """
    model, search, trials, chosen, closest = _model_of(store, subject)
    cfg = search.attrs.get("search") if search is not None else None
    search_cfg: Mapping[str, Any] = cfg if isinstance(cfg, Mapping) else {}
    chain = _chain(store, model)
    lineage = build_lineage(store, model, chain, include_source=include_source)
    related = [model] + [r for r in chain if r.id != model.id]
    metric_rows = _metric_rows(model, search, search_cfg)
    data = _data(related, lineage)
    search_doc = (
        search_content(store, search, trials, chosen, closest) if search is not None else None
    )
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
    if model_version is not None:  # only then: cards of plain runs stay as they were
        doc["registered_model"] = registry_content(store, model_version)
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
