r"""Portable archive: runs as a TinyDB JSON document, to commit beside a notebook.

``export_runs`` writes every selected run with everything the store knows about it
(params, full metric histories, tags, attrs, data references, environment, notes,
source, error, cell records with their inputs and outputs). The file is a plain
TinyDB database (tables ``meta`` and ``runs``), written with sorted keys and one
document per run in start order, so re-exporting an unchanged store gives the same
bytes and a git diff shows what changed.

Registered model versions of the exported runs travel too, with their aliases and history
(:mod:`tracker.store._archive_registry`). Artifacts travel as records, not bytes: every
artifact record of a run (its whole history, not only the latest per name) is in the
archive with its digests, and importing writes the records as they are. Their blobs stay
in the artifact root they were logged to; a store that imports an archive can load those
artifacts when it uses the same root (or a copy of it), and otherwise ``load_artifact``
says the blob is missing and what to copy.

``import_runs`` turns each document back into ops and writes them to any store.
Every row gets an id derived from its content (the same ids the original writer used),
so importing the same archive twice,
or into the store it came from, changes nothing. The ops check every value as they are
built (:mod:`tracker.store.validation`), and every run is turned into ops before the
first write: an archive with one bad value is refused whole, naming the run and the key.

Values survive the round trip exactly (version 2 of the format). The file is strict
JSON: a non-finite float is written as ``{"$float": "NaN"}`` (``"Infinity"``,
``"-Infinity"``) wherever a value may be of any type (params, attrs, environments, data
references), so a param that is the text ``"NaN"`` stays text; metric values are always
floats and keep the plain ``"NaN"`` strings of version 1. A dict whose only key is
``"$float"`` or ``"$dict"`` is wrapped as ``{"$dict": {...}}``. Lone surrogates, which
UTF-8 cannot encode but an error message may contain, are written as ``\u`` escapes.
Version 1 archives (params' ``"NaN"`` strings read as floats) are still read.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import JSONStorage

from tracker.exceptions import ValidationError
from tracker.records import (
    ArtifactRef,
    DataRef,
    Environment,
    Run,
    RunError,
    float_from_json,
    float_to_json,
    to_timestamp,
)
from tracker.store._archive_registry import check_registry, read_registry, registry_docs
from tracker.store._base import BaseStore
from tracker.store.ops import (
    CreateRun,
    EndRun,
    LogArtifact,
    LogCell,
    LogData,
    LogMetrics,
    MetricRow,
    Op,
    SetAttrs,
    SetParams,
    SetRunFields,
    artifact_row_id,
    data_row_id,
    metric_row_id,
)
from tracker.store.query import RunQuery

__all__ = ["FORMAT", "export_runs", "import_runs"]

FORMAT = "jupyterlab-tracker/archive"
VERSION = 2
_MARKERS = ({"$float"}, {"$dict"})
_SURROGATE = re.compile("[\ud800-\udfff]")
_BATCH = 2000


def _encode(value: Any) -> Any:
    """Strict, type-keeping JSON for values of any type (see the module docstring)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": float_to_json(value)}
    if isinstance(value, Mapping):
        out = {str(k): _encode(v) for k, v in value.items()}
        return {"$dict": out} if set(out) in _MARKERS else out
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    """Inverse of :func:`_encode`."""
    if isinstance(value, dict):
        if len(value) == 1:
            if "$float" in value:
                return float_from_json(value["$float"])
            if "$dict" in value and isinstance(value["$dict"], dict):
                return {k: _decode(v) for k, v in value["$dict"].items()}
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class _ArchiveEncoder(json.JSONEncoder):
    r"""JSON text with lone surrogates as ``\u`` escapes: UTF-8 has no form for them."""

    def encode(self, o: Any) -> str:
        text = super().encode(o)
        return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _run_doc(store: BaseStore, run: Run) -> dict[str, Any]:
    doc = run.to_dict(include_cells=True)
    # Any-type values go in as they are, for _encode (to_dict turned NaN into "NaN").
    doc["params"] = dict(run.params)
    doc["attrs"] = dict(run.attrs)
    doc["metric_history"] = {
        key: [
            [float_to_json(mm.value), mm.step, to_timestamp(mm.timestamp)]
            for mm in store.metric_history(run.id, key)
        ]
        for key in run.metrics
    }
    doc["artifacts"] = [a.to_dict() for a in store.artifacts(run_id=run.id)]
    doc["start_ts"] = to_timestamp(run.start_time)
    doc["end_ts"] = to_timestamp(run.end_time) if run.end_time else None
    for cell, cdoc in zip(run.cells, doc["cells"], strict=True):
        cdoc["started_ts"] = to_timestamp(cell.started)
        cdoc["params"] = dict(cell.params)
    return _encode(doc)  # type: ignore[no-any-return]


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
    with TinyDB(
        tmp,
        storage=JSONStorage,
        encoding="utf-8",
        sort_keys=True,
        indent=1,
        ensure_ascii=False,
        cls=_ArchiveEncoder,
    ) as db:
        db.table("meta").insert(
            {"format": FORMAT, "version": VERSION, "store_kind": store.url.kind, "runs": len(runs)}
        )
        db.table("runs").insert_multiple(_run_doc(store, r) for r in runs)
        registry = registry_docs(store, {r.id for r in runs})
        if registry:
            db.table("registry").insert_multiple(registry)
    os.replace(tmp, target)  # a reader never sees a half-written archive
    return len(runs)


def _read_archive(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
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
    version = int(meta.get("version", 0))
    docs = raw.get("runs") or {}
    for key in sorted(docs, key=int):
        yield version, docs[key]


def _v1_param(v: Any) -> Any:
    # Version 1 wrote NaN and the infinities as these strings (and text params as text).
    return float_from_json(v) if isinstance(v, str) and v in ("NaN", "Infinity", "-Infinity") else v


def _ops_for(doc: Mapping[str, Any], version: int) -> list[Op]:
    if version >= 2:
        doc = _decode(doc)
        params = dict(doc.get("params") or {})
    else:
        params = {k: _v1_param(v) for k, v in (doc.get("params") or {}).items()}
    rid = str(doc["id"])
    src = doc.get("source") or {}
    env = doc.get("environment")
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
            environment=Environment.from_dict(env).to_dict() if env else None,
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
                ref=DataRef.from_dict(ref).to_dict(),
                timestamp=float(doc["start_ts"]),
            )
        )
    for c in doc.get("cells") or []:
        ops.extend(_cell_ops(rid, c))
    ops.extend(_artifact_ops(rid, doc.get("artifacts") or []))
    if doc.get("status") != "running" and doc.get("end_ts") is not None:
        err = doc.get("error")
        ops.append(
            EndRun(
                run_id=rid,
                status=str(doc["status"]),
                end_time=float(doc["end_ts"]),
                error=RunError.from_dict(err).to_dict() if err else None,
            )
        )
    return ops


def _cell_ops(rid: str, c: Mapping[str, Any]) -> list[Op]:
    cid = str(c["id"])
    err = c.get("error")
    ops: list[Op] = [
        LogCell(
            id=cid,
            run_id=rid,
            seq=int(c["seq"]),
            cell_id=c.get("cell_id"),
            execution_count=c.get("execution_count"),
            source=str(c["source"]),
            source_hash=str(c["source_hash"]),
            status=str(c["status"]),
            error=RunError.from_dict(err).to_dict() if err else None,
            reads=list(c.get("reads") or []),
            writes=list(c.get("writes") or []),
            params=dict(c.get("params") or {}),
            metrics={k: float_from_json(v) for k, v in (c.get("metrics") or {}).items()},
            started=float(c["started_ts"]),
            duration_ms=float(c["duration_ms"]),
            child_run_id=c.get("child_run_id"),
            fingerprint=c.get("fingerprint"),
            outcome_hash=c.get("outcome_hash"),
            peak_memory_mb=c.get("peak_memory_mb"),
        )
    ]
    for role, key in (("input", "inputs"), ("output", "outputs")):
        for name, ref in (c.get(key) or {}).items():
            ops.append(
                LogData(
                    id=data_row_id(rid, name, ref["digest"], role, cid),
                    run_id=rid,
                    name=name,
                    ref=DataRef.from_dict(ref).to_dict(),
                    timestamp=float(c["started_ts"]),
                    role=role,
                    cell_record_id=cid,
                )
            )
    return ops


def _artifact_ops(rid: str, records: Any) -> list[Op]:
    ops: list[Op] = []
    for d in records.values() if isinstance(records, Mapping) else records:
        a = ArtifactRef.from_dict({**d, "run_id": rid})
        ts = to_timestamp(a.created)
        ops.append(
            LogArtifact(
                id=artifact_row_id(rid, a.name, a.digest, ts),
                run_id=rid,
                name=a.name,
                digest=a.digest,
                sha256=a.sha256,
                size=a.size,
                media_type=a.media_type,
                kind=a.kind,
                timestamp=ts,
                meta=dict(a.meta),
            )
        )
    return ops


def import_runs(store: BaseStore, path: str | os.PathLike[str]) -> int:
    """Load an archive into ``store`` (idempotent: importing twice changes nothing).

    Every run is checked (turned into ops) before anything is written, so a bad value
    anywhere refuses the whole archive and writes nothing.

    Returns:
        The number of runs in the archive.

    Raises:
        ValidationError: the file is missing, is not a tracker archive, or holds a run
            that is malformed or breaks a rule (names the run and the key).
    """
    ops: list[Op] = []
    n = 0
    docs = list(_read_archive(Path(path)))  # checks the file before the registry is read
    registry = read_registry(Path(path))
    for version, doc in docs:
        try:
            ops.extend(_ops_for(doc, version))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            rid = doc.get("id") if isinstance(doc, Mapping) else None
            raise ValidationError(f"run {rid!r} in {path} is malformed: {exc}") from None
        n += 1
    check_registry(store, registry)  # a clash refuses the whole archive, runs included
    for i in range(0, len(ops), _BATCH):
        store.write(ops[i : i + _BATCH])
    if any(registry):
        store.import_registry(*registry)
    return n
