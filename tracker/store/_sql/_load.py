"""Rows to records: runs with everything attached, and a session's cell records."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tracker.records import (
    CellExecution,
    DataRef,
    ParamValue,
    Run,
    RunError,
    RunKind,
    RunStatus,
    Source,
    from_timestamp,
)
from tracker.store._sql import artifacts as art
from tracker.store._sql import models as m
from tracker.store._sql._codec import chunks, loads, metric_value
from tracker.store._sql._environments import environment, environments_by_digest

__all__ = ["load_cells", "load_run_head", "load_runs"]


def load_runs(
    conn: Connection, rows: Sequence[Row[Any]], *, with_cells: bool, summary: bool = False
) -> list[Run]:
    """Runs from their rows, with tags, params, latest metrics, attrs, data and artifacts.

    ``summary`` leaves out attrs, artifacts and the environment (``RunQuery.summary``).
    """
    if not rows:
        return []
    ids = [r.id for r in rows]
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    params: dict[str, dict[str, ParamValue]] = defaultdict(dict)
    metrics: dict[str, dict[str, float]] = defaultdict(dict)
    attrs: dict[str, dict[str, Any]] = defaultdict(dict)
    datas: dict[str, dict[str, DataRef]] = defaultdict(dict)
    for chunk in chunks(ids):
        for rid, k, v in conn.execute(
            sa.select(m.tags.c.run_id, m.tags.c.key, m.tags.c.value).where(
                m.tags.c.run_id.in_(chunk)
            )
        ):
            tags[rid][k] = v
        for rid, k, v in conn.execute(
            sa.select(m.params.c.run_id, m.params.c.key, m.params.c.value_json)
            .where(m.params.c.run_id.in_(chunk))
            .order_by(m.params.c.key)
        ):
            params[rid][k] = loads(v)
        lm = m.latest_metrics
        for rid, k, v, nan, neg_zero in conn.execute(
            sa.select(lm.c.run_id, lm.c.key, lm.c.value, lm.c.is_nan, lm.c.neg_zero)
            .where(lm.c.run_id.in_(chunk))
            .order_by(lm.c.key)
        ):
            metrics[rid][k] = metric_value(v, nan, neg_zero)
        if not summary:
            for rid, k, v in conn.execute(
                sa.select(m.attrs.c.run_id, m.attrs.c.key, m.attrs.c.value_json).where(
                    m.attrs.c.run_id.in_(chunk)
                )
            ):
                attrs[rid][k] = loads(v)
        d = m.data
        for rid, name, ref in conn.execute(
            sa.select(d.c.run_id, d.c.name, d.c.ref)
            .where(d.c.run_id.in_(chunk) & (d.c.role == "logged"))
            .order_by(d.c.timestamp, d.c.id)
        ):
            datas[rid][name] = DataRef.from_dict(loads(ref))
    flagged = _nondeterministic(conn, m.runs, [r.fingerprint for r in rows if r.fingerprint])
    artifacts = {} if summary else art.load_for_runs(conn, ids)
    envs = environments_by_digest(conn, () if summary else (r.environment_digest for r in rows))
    out: list[Run] = []
    for r in rows:
        out.append(
            _run(
                r,
                tags=tags.get(r.id, {}),
                params=params.get(r.id, {}),
                metrics=metrics.get(r.id, {}),
                data=datas.get(r.id, {}),
                environment=environment(envs, r.environment_digest),
                attrs=attrs.get(r.id, {}),
                cells=tuple(load_cells(conn, r.id)) if with_cells else (),
                nondeterministic=r.fingerprint in flagged,
                artifacts=artifacts.get(r.id, {}),
            )
        )
    return out


def load_run_head(conn: Connection, run_id: str) -> Run | None:
    """The run's own row and its logged data refs, in one query (``None``: no such run).

    What tracing and lineage read of a run they pass through (kind, name, times, parent,
    source, logged data); tags, params, metrics, attrs, artifacts and cells are left
    empty, which saves the six other queries of :func:`load_runs` (one round trip each
    on PostgreSQL). The data rows come joined to the run's row: one row per logged ref,
    or one row of nulls beside the run when it logged none.
    """
    r, d = m.runs, m.data
    joined = r.outerjoin(d, (d.c.run_id == r.c.id) & (d.c.role == "logged"))
    rows = conn.execute(
        sa.select(r, d.c.name.label("data_name"), d.c.ref.label("data_ref"))
        .select_from(joined)
        .where(r.c.id == run_id)
        .order_by(d.c.timestamp, d.c.id)
    ).all()
    if not rows:
        return None
    data = {
        row.data_name: DataRef.from_dict(loads(row.data_ref))
        for row in rows
        if row.data_ref is not None
    }
    head = rows[0]
    envs = environments_by_digest(conn, [head.environment_digest])
    return _run(head, data=data, environment=environment(envs, head.environment_digest))


def _run(r: Row[Any], **attached: Any) -> Run:
    """A run from its row and what was read beside it (``tags``, ``environment``...)."""
    err = loads(r.error)
    return Run(
        id=r.id,
        name=r.name,
        kind=RunKind(r.kind),
        status=RunStatus(r.status),
        start_time=from_timestamp(r.start_time),
        end_time=from_timestamp(r.end_time) if r.end_time is not None else None,
        parent_id=r.parent_id,
        notes=r.notes or "",
        source=Source(notebook=r.notebook, cell_id=r.cell_id, script=r.script),
        error=RunError.from_dict(err) if err else None,
        fingerprint=r.fingerprint,
        outcome_hash=r.outcome_hash,
        **attached,
    )


def _nondeterministic(conn: Connection, table: sa.Table, fingerprints: list[str]) -> set[str]:
    """Fingerprints (same code, inputs, params) seen with more than one outcome."""
    found: set[str] = set()
    for chunk in chunks(list(dict.fromkeys(fingerprints))):
        found.update(
            conn.execute(
                sa.select(table.c.fingerprint)
                .where(table.c.fingerprint.in_(chunk) & table.c.outcome_hash.is_not(None))
                .group_by(table.c.fingerprint)
                .having(sa.func.count(sa.distinct(table.c.outcome_hash)) > 1)
            ).scalars()
        )
    return found


def load_cells(conn: Connection, run_id: str) -> list[CellExecution]:
    """A session run's cell records in execution order, with their inputs and outputs."""
    c = m.cells
    rows = conn.execute(
        sa.select(c).where(c.c.run_id == run_id).order_by(c.c.seq, c.c.started)
    ).all()
    if not rows:
        return []
    io: dict[str, dict[str, dict[str, DataRef]]] = defaultdict(lambda: {"input": {}, "output": {}})
    d = m.data
    for chunk in chunks([r.id for r in rows]):
        for cid, name, role, ref in conn.execute(
            sa.select(d.c.cell_record_id, d.c.name, d.c.role, d.c.ref)
            .where(d.c.cell_record_id.in_(chunk))
            .order_by(d.c.timestamp, d.c.id)
        ):
            if role in ("input", "output"):
                io[cid][role][name] = DataRef.from_dict(loads(ref))
    flagged = _nondeterministic(conn, m.cells, [r.fingerprint for r in rows if r.fingerprint])
    out = []
    for r in rows:
        err = loads(r.error)
        metrics, peak_mb = m.split_cell_metrics(loads(r.metrics))
        out.append(
            CellExecution(
                id=r.id,
                run_id=r.run_id,
                seq=r.seq,
                cell_id=r.cell_id,
                execution_count=r.execution_count,
                source=r.source,
                source_hash=r.source_hash,
                status=r.status,
                error=RunError.from_dict(err) if err else None,
                reads=tuple(loads(r.reads)),
                writes=tuple(loads(r.writes)),
                inputs=io[r.id]["input"] if r.id in io else {},
                outputs=io[r.id]["output"] if r.id in io else {},
                params=loads(r.params),
                metrics=metrics,
                started=from_timestamp(r.started),
                duration_ms=r.duration_ms,
                child_run_id=r.child_run_id,
                nondeterministic=r.fingerprint in flagged,
                fingerprint=r.fingerprint,
                outcome_hash=r.outcome_hash,
                peak_memory_mb=peak_mb,
            )
        )
    return out
