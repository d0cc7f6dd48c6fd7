"""Portable archive: runs as a TinyDB JSON document, to commit beside a notebook.

``export_runs`` writes every selected run with everything the store knows about it
(params, full metric histories, tags, attrs, data references, environment, notes,
source, error, cell records with their inputs and outputs). The file is a plain
TinyDB database (tables ``meta`` and ``runs``), written with sorted keys and one
document per run in start order, so re-exporting an unchanged store gives the same
bytes and a git diff shows what changed.

``import_runs`` turns each document back into ops and writes them to any store.
Every row gets an id derived from its content (the same ids the original writer used),
so importing the same archive twice,
or into the store it came from, changes nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import JSONStorage

from tracker.exceptions import ValidationError
from tracker.records import Run, float_from_json, float_to_json, to_timestamp
from tracker.store._base import BaseStore
from tracker.store.ops import (
    CreateRun,
    EndRun,
    LogCell,
    LogData,
    LogMetrics,
    MetricRow,
    Op,
    SetAttrs,
    SetParams,
    SetRunFields,
    data_row_id,
    metric_row_id,
)
from tracker.store.query import RunQuery

__all__ = ["FORMAT", "export_runs", "import_runs"]

FORMAT = "jupyterlab-tracker/archive"
VERSION = 1


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return float_to_json(value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _run_doc(store: BaseStore, run: Run) -> dict[str, Any]:
    doc = run.to_dict(include_cells=True)
    doc["metric_history"] = {
        key: [
            [float_to_json(mm.value), mm.step, to_timestamp(mm.timestamp)]
            for mm in store.metric_history(run.id, key)
        ]
        for key in run.metrics
    }
    doc["start_ts"] = to_timestamp(run.start_time)
    doc["end_ts"] = to_timestamp(run.end_time) if run.end_time else None
    for cell, cdoc in zip(run.cells, doc["cells"], strict=True):
        cdoc["started_ts"] = to_timestamp(cell.started)
    return _json_safe(doc)  # type: ignore[no-any-return]


def export_runs(
    store: BaseStore,
    path: str | os.PathLike[str],
    query: RunQuery | None = None,
) -> int:
    """Write runs to a TinyDB JSON archive at ``path`` (replacing it).

    Args:
        store: Where the runs are.
        path: The archive file.
        query: Which runs (default: all of them).

    Returns:
        The number of runs written.
    """
    q = query or RunQuery()
    runs = store.search_runs(RunQuery(conditions=q.conditions, ids=q.ids, order_by=q.order_by))
    runs = [store.get_run(r.id, with_cells=True) for r in runs]
    runs.sort(key=lambda r: (r.start_time, r.id))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    # Sorted keys and indentation: the same store exports to the same bytes (git-friendly).
    with TinyDB(tmp, storage=JSONStorage, sort_keys=True, indent=1, ensure_ascii=False) as db:
        db.table("meta").insert(
            {"format": FORMAT, "version": VERSION, "store_kind": store.url.kind, "runs": len(runs)}
        )
        db.table("runs").insert_multiple(_run_doc(store, r) for r in runs)
    os.replace(tmp, target)  # a reader never sees a half-written archive
    return len(runs)


def _read_archive(path: Path) -> Iterator[Mapping[str, Any]]:
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except FileNotFoundError:
        raise ValidationError(f"no archive at {path}") from None
    except ValueError as exc:
        raise ValidationError(f"{path} is not a JSON archive: {exc}") from None
    meta = next(iter((raw.get("meta") or {}).values()), None) if isinstance(raw, dict) else None
    if not meta or meta.get("format") != FORMAT:
        raise ValidationError(
            f"{path} is not a tracker archive (no meta.format == {FORMAT!r}); "
            "make one with `tracker export FILE`"
        )
    if int(meta.get("version", 0)) > VERSION:
        raise ValidationError(
            f"{path} has archive version {meta['version']}, newer than this tracker reads "
            f"({VERSION}); upgrade the package"
        )
    docs = raw.get("runs") or {}
    for key in sorted(docs, key=int):
        yield docs[key]


def _ops_for(doc: Mapping[str, Any]) -> list[Op]:
    rid = str(doc["id"])
    src = doc.get("source") or {}
    ops: list[Op] = [
        CreateRun(
            run_id=rid,
            name=str(doc["name"]),
            kind=str(doc["kind"]),
            start_time=float(doc["start_ts"]),
            parent_id=doc.get("parent_id"),
            tags=dict(doc.get("tags") or {}),
            notebook=src.get("notebook"),
            cell_id=src.get("cell_id"),
            script=src.get("script"),
            environment=doc.get("environment"),
            status=str(doc["status"]),
        ),
        SetRunFields(
            run_id=rid,
            fields={
                "notes": doc.get("notes") or "",
                "fingerprint": doc.get("fingerprint"),
                "outcome_hash": doc.get("outcome_hash"),
            },
        ),
    ]
    params = {
        k: float_from_json(v) if isinstance(v, str) and v in ("NaN", "Infinity", "-Infinity") else v
        for k, v in (doc.get("params") or {}).items()
    }
    if params:
        ops.append(SetParams(run_id=rid, params=params))
    rows = [
        MetricRow(
            id=metric_row_id(rid, key, float_from_json(value), step, float(ts)),
            key=key,
            value=float_from_json(value),
            step=step,
            timestamp=float(ts),
        )
        for key, history in (doc.get("metric_history") or {}).items()
        for value, step, ts in history
    ]
    if rows:
        ops.append(LogMetrics(run_id=rid, metrics=rows))
    if doc.get("attrs"):
        ops.append(SetAttrs(run_id=rid, attrs=dict(doc["attrs"])))
    for name, ref in (doc.get("data") or {}).items():
        ops.append(
            LogData(
                id=data_row_id(rid, name, ref["digest"]),
                run_id=rid,
                name=name,
                ref=ref,
                timestamp=float(doc["start_ts"]),
            )
        )
    for c in doc.get("cells") or []:
        ops.append(
            LogCell(
                id=str(c["id"]),
                run_id=rid,
                seq=int(c["seq"]),
                cell_id=c.get("cell_id"),
                execution_count=c.get("execution_count"),
                source=str(c["source"]),
                source_hash=str(c["source_hash"]),
                status=str(c["status"]),
                error=c.get("error"),
                reads=list(c.get("reads") or []),
                writes=list(c.get("writes") or []),
                params=dict(c.get("params") or {}),
                metrics={k: float_from_json(v) for k, v in (c.get("metrics") or {}).items()},
                started=float(c["started_ts"]),
                duration_ms=float(c["duration_ms"]),
                child_run_id=c.get("child_run_id"),
                fingerprint=c.get("fingerprint"),
                outcome_hash=c.get("outcome_hash"),
            )
        )
        for role, key in (("input", "inputs"), ("output", "outputs")):
            for name, ref in (c.get(key) or {}).items():
                ops.append(
                    LogData(
                        id=data_row_id(rid, name, ref["digest"], role, str(c["id"])),
                        run_id=rid,
                        name=name,
                        ref=ref,
                        timestamp=float(c["started_ts"]),
                        role=role,
                        cell_record_id=str(c["id"]),
                    )
                )
    if doc.get("status") != "running" and doc.get("end_ts") is not None:
        ops.append(
            EndRun(
                run_id=rid,
                status=str(doc["status"]),
                end_time=float(doc["end_ts"]),
                error=doc.get("error"),
            )
        )
    return ops


def import_runs(store: BaseStore, path: str | os.PathLike[str]) -> int:
    """Load an archive into ``store`` (idempotent: importing twice changes nothing).

    Returns:
        The number of runs in the archive.

    Raises:
        ValidationError: the file is missing or is not a tracker archive.
    """
    n = 0
    batch: list[Op] = []
    for doc in _read_archive(Path(path)):
        try:
            batch.extend(_ops_for(doc))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"run {doc.get('id')!r} in {path} is malformed: {exc}") from None
        n += 1
        if len(batch) > 2000:
            store.write(batch)
            batch = []
    store.write(batch)
    return n
