"""The SQL store: one implementation of :class:`BaseStore` for SQLite and PostgreSQL.

Dialect differences are confined to three places: the engine settings
(``engine.py``), the upsert statement (:func:`_insert`), and error mapping
(:func:`_translate`). Everything else is written once.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Engine, Row

from tracker.config import StoreURL
from tracker.exceptions import (
    RunNotFoundError,
    StoreError,
    StoreUnavailableError,
    ValidationError,
)
from tracker.records import (
    ArtifactRef,
    CellExecution,
    DataRef,
    Environment,
    Metric,
    ParamValue,
    Run,
    RunError,
    RunKind,
    RunStatus,
    Source,
    from_timestamp,
)
from tracker.store._base import BaseStore, DataUse, LiveRun
from tracker.store._sql import artifacts as art
from tracker.store._sql import models as m
from tracker.store._sql.engine import create_engine, schema_revision, upgrade
from tracker.store._sql.registry import RegistryMixin
from tracker.store.ops import (
    CreateRun,
    EndRun,
    Heartbeat,
    LogArtifact,
    LogCell,
    LogData,
    LogMetrics,
    Op,
    SetAttrs,
    SetParams,
    SetRunFields,
    SetSetting,
    SetTags,
)
from tracker.store.query import Condition, OrderBy, RunQuery

__all__ = ["SQLStore", "dumps", "loads"]

T = TypeVar("T")
_IN_CHUNK = 500  # keep IN (...) lists well below every driver's parameter limit


def dumps(value: Any) -> str:
    """Our JSON encoding for Text columns (NaN-safe, compact, stable key order)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=True, sort_keys=True)


def loads(text: str | None) -> Any:
    """Inverse of :func:`dumps`; ``None`` stays ``None``."""
    return None if text is None else json.loads(text)


def _chunks(seq: Sequence[T], n: int = _IN_CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def _translate(exc: sa_exc.SQLAlchemyError, url: StoreURL) -> StoreError:
    """Map a SQLAlchemy error to ours: transient (unavailable) or permanent."""
    # A driver may quote a secret (a key file's path, a connection string) in its message.
    text = url.scrub(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0])[:300]
    if isinstance(
        exc,
        sa_exc.OperationalError
        | sa_exc.InterfaceError
        | sa_exc.TimeoutError
        | sa_exc.DisconnectionError,
    ):
        return StoreUnavailableError(
            f"the store {url.redacted()} is unavailable ({text}); records are kept in the local "
            "spool and written when it answers again (or run `tracker sync`)"
        )
    return StoreError(f"the store {url.redacted()} refused a write or read: {text}")


class SQLStore(RegistryMixin, BaseStore):
    """Runs in a SQLite file or a PostgreSQL database (thread-safe).

    Args:
        url: Where the database is.
        migrate: Create or upgrade the tracker tables on first use.
    """

    def __init__(self, url: StoreURL, *, migrate: bool = True) -> None:
        self.url = url
        self._engine: Engine = create_engine(url)
        self._migrate = migrate
        self._ready = False
        self._ready_lock = threading.Lock()
        self._dialect = self._engine.dialect.name

    # --- plumbing ------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and migrations)."""
        return self._engine

    def _ensure_ready(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            try:
                # upgrade() is once per process and database, so a second thread that
                # waited on the lock returns from it at once.
                if self._migrate:
                    upgrade(self._engine, self.url)
            except sa_exc.SQLAlchemyError as exc:
                raise _translate(exc, self.url) from exc
            self._ready = True

    @contextmanager
    def _conn(self, *, write: bool) -> Iterator[Connection]:
        self._ensure_ready()
        try:
            with self._engine.connect() as conn:
                if write and self._dialect == "sqlite":
                    conn = conn.execution_options(sqlite_write=True)
                with conn.begin():
                    yield conn
        except sa_exc.SQLAlchemyError as exc:
            raise _translate(exc, self.url) from exc

    def _insert(self, table: sa.Table) -> Any:
        return (pg_dialect.insert if self._dialect == "postgresql" else sqlite_dialect.insert)(
            table
        )

    def _upsert(
        self,
        conn: Connection,
        table: sa.Table,
        rows: list[dict[str, Any]],
        keys: Sequence[str],
        where: Callable[[Any], Any] | None = None,
    ) -> None:
        if not rows:
            return
        stmt = self._insert(table)
        update = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
        if update:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys),
                set_=update,
                where=where(stmt) if where else None,
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        conn.execute(stmt, rows)

    def _insert_ignore(self, conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.execute(self._insert(table).on_conflict_do_nothing(), rows)

    def close(self) -> None:
        """Dispose of pooled connections."""
        self._engine.dispose()

    # --- writes --------------------------------------------------------------------------

    def write(self, ops: Sequence[Op]) -> None:
        """Apply ops in order in one transaction (see :class:`BaseStore`).

        The ops are first folded into one set of rows per table (with the same result as
        applying them one by one, in order), then written with one statement per table:
        a batch of a thousand ops costs about as many round trips as a batch of four.
        """
        if not ops:
            return
        batch = _Batch.fold(ops)
        with self._conn(write=True) as conn:
            self._write_batch(conn, batch)

    def _write_batch(self, conn: Connection, b: _Batch) -> None:
        # Between statements, yield the GIL (sleep(0)): this usually runs on the writer
        # thread, and a long pure-Python stretch here would stall the user's thread for up
        # to the interpreter's 5 ms switch interval.
        self._insert_ignore(conn, m.runs, list(b.runs.values()))
        time.sleep(0)
        self._upsert(conn, m.params, list(b.params.values()), ("run_id", "key"))
        time.sleep(0)
        self._insert_ignore(conn, m.metrics, list(b.metrics.values()))
        time.sleep(0)
        lm = m.latest_metrics

        def newer(stmt: Any) -> Any:
            # The newest timestamp wins (ties: the higher step), so a replay of older
            # measurements never hides a newer one.
            return (stmt.excluded.timestamp > lm.c.timestamp) | (
                (stmt.excluded.timestamp == lm.c.timestamp)
                & (sa.func.coalesce(stmt.excluded.step, 0) >= sa.func.coalesce(lm.c.step, 0))
            )

        self._upsert(conn, lm, list(b.latest.values()), ("run_id", "key"), where=newer)
        time.sleep(0)
        self._insert_ignore(conn, m.data, list(b.data.values()))
        self._insert_ignore(conn, m.cells, list(b.cells.values()))
        if b.artifacts or b.settings:
            art.write_rows(
                conn, list(b.artifacts.values()), b.settings, self._insert_ignore, self._upsert
            )
        time.sleep(0)
        for table, state in ((m.tags, b.tags), (m.attrs, b.attrs)):
            gone = [{"b_run": r, "b_key": k} for (r, k), v in state.items() if v is None]
            if gone:
                conn.execute(
                    table.delete().where(
                        (table.c.run_id == sa.bindparam("b_run"))
                        & (table.c.key == sa.bindparam("b_key"))
                    ),
                    gone,
                )
            col = "value" if table is m.tags else "value_json"
            rows = [{"run_id": r, "key": k, col: v} for (r, k), v in state.items() if v is not None]
            self._upsert(conn, table, rows, ("run_id", "key"))
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for rid, fields in b.fields.items():
            by_columns[tuple(sorted(fields))].append({"b_id": rid, **fields})
        for cols, rows in by_columns.items():
            conn.execute(
                m.runs.update()
                .where(m.runs.c.id == sa.bindparam("b_id"))
                .values({c: sa.bindparam(c) for c in cols}),
                rows,
            )
        if b.heartbeats:
            conn.execute(
                m.runs.update()
                .where(m.runs.c.id == sa.bindparam("b_id"))
                .where(m.runs.c.status == RunStatus.RUNNING.value)
                .values(heartbeat=sa.bindparam("b_ts")),
                [{"b_id": r, "b_ts": t} for r, t in b.heartbeats.items()],
            )
        for guarded, ends in ((False, b.ends), (True, b.interrupts)):
            if not ends:
                continue
            stmt = m.runs.update().where(m.runs.c.id == sa.bindparam("b_id"))
            if guarded:
                # A liveness verdict never overrides a real ending.
                stmt = stmt.where(m.runs.c.status == RunStatus.RUNNING.value)
            conn.execute(
                stmt.values(
                    status=sa.bindparam("b_status"),
                    end_time=sa.bindparam("b_end"),
                    error=sa.bindparam("b_error"),
                ),
                list(ends.values()),
            )

    # --- reads ---------------------------------------------------------------------------

    def get_run(self, run_id: str, *, with_cells: bool = True) -> Run:
        """The run with this id (see :class:`BaseStore`)."""
        with self._conn(write=False) as conn:
            row = conn.execute(sa.select(m.runs).where(m.runs.c.id == run_id)).first()
            if row is None:
                raise RunNotFoundError(run_id, self.url.redacted())
            (run,) = self._load(conn, [row], with_cells=with_cells)
            return run

    def search_runs(self, query: RunQuery) -> list[Run]:
        """Runs matching the query, one page (see :class:`BaseStore`)."""
        with self._conn(write=False) as conn:
            stmt = self._where(sa.select(m.runs), query)
            for ob in query.order_by:
                stmt = self._order(stmt, ob)
            stmt = stmt.order_by(m.runs.c.id)  # stable pages
            if query.limit is not None:
                stmt = stmt.limit(query.limit)
            if query.offset:
                stmt = stmt.offset(query.offset)
            rows = conn.execute(stmt).all()
            return self._load(conn, rows, with_cells=query.with_cells)

    def count_runs(self, query: RunQuery) -> int:
        """How many runs match (see :class:`BaseStore`)."""
        with self._conn(write=False) as conn:
            stmt = self._where(sa.select(sa.func.count()).select_from(m.runs), query)
            return int(conn.execute(stmt).scalar_one())

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every measurement of a metric (see :class:`BaseStore`)."""
        t = m.metrics
        with self._conn(write=False) as conn:
            rows = conn.execute(
                sa.select(t.c.key, t.c.value, t.c.is_nan, t.c.neg_zero, t.c.step, t.c.timestamp)
                .where((t.c.run_id == run_id) & (t.c.key == key))
                .order_by(sa.func.coalesce(t.c.step, -1), t.c.timestamp, t.c.id)
            ).all()
        return [
            Metric(
                r.key, _metric(r.value, r.is_nan, r.neg_zero), r.step, from_timestamp(r.timestamp)
            )
            for r in rows
        ]

    def get_cells(self, run_id: str) -> list[CellExecution]:
        """Cell records of a session run (see :class:`BaseStore`)."""
        with self._conn(write=False) as conn:
            return self._cells(conn, run_id)

    def data_uses(
        self, digests: Sequence[str], roles: Sequence[str] | None = None
    ) -> list[DataUse]:
        """Where these digests were seen (see :class:`BaseStore`)."""
        t = m.data
        out: list[DataUse] = []
        with self._conn(write=False) as conn:
            for chunk in _chunks(list(dict.fromkeys(digests))):
                stmt = sa.select(t).where(t.c.digest.in_(chunk))
                if roles is not None:
                    stmt = stmt.where(t.c.role.in_(list(roles)))
                for r in conn.execute(stmt):
                    out.append(
                        DataUse(
                            run_id=r.run_id,
                            name=r.name,
                            role=r.role,
                            ref=DataRef.from_dict(loads(r.ref)),
                            cell_record_id=r.cell_record_id,
                            timestamp=r.timestamp,
                        )
                    )
        out.sort(key=lambda u: u.timestamp)
        return out

    def artifacts(
        self,
        *,
        run_id: str | None = None,
        name: str | None = None,
        digests: Sequence[str] | None = None,
    ) -> list[ArtifactRef]:
        """Artifact records matching every filter given (see :class:`BaseStore`)."""
        with self._conn(write=False) as conn:
            return art.find_artifacts(conn, run_id=run_id, name=name, digests=digests)

    def referenced_blobs(self) -> dict[str, str]:
        """Every digest an artifact record names (see :class:`BaseStore`)."""
        with self._conn(write=False) as conn:
            return art.referenced_blobs(conn)

    def get_setting(self, key: str) -> str | None:
        """A store-wide setting (see :class:`BaseStore`)."""
        with self._conn(write=False) as conn:
            return art.get_setting(conn, key)

    def live_runs(self) -> list[LiveRun]:
        """Runs still marked running (see :class:`BaseStore`)."""
        t = m.runs
        with self._conn(write=False) as conn:
            rows = conn.execute(
                sa.select(t.c.id, t.c.owner, t.c.heartbeat, t.c.start_time).where(
                    t.c.status == RunStatus.RUNNING.value
                )
            ).all()
        return [LiveRun(r.id, r.owner, r.heartbeat, r.start_time) for r in rows]

    def describe(self) -> dict[str, Any]:
        """Kind, redacted URL, schema revision and counts (see :class:`BaseStore`)."""
        with self._conn(write=False) as conn:
            by_kind = {
                str(k): int(n)
                for k, n in conn.execute(
                    sa.select(m.runs.c.kind, sa.func.count()).group_by(m.runs.c.kind)
                ).all()
            }
            by_status = {
                str(k): int(n)
                for k, n in conn.execute(
                    sa.select(m.runs.c.status, sa.func.count()).group_by(m.runs.c.status)
                ).all()
            }
            n_cells = int(
                conn.execute(sa.select(sa.func.count()).select_from(m.cells)).scalar_one()
            )
            revision = schema_revision(conn)
            server = conn.dialect.server_version_info
        return {
            "kind": self.url.kind,
            "url": self.url.redacted(),
            "path": str(self.url.path) if self.url.path else None,
            "schema_revision": revision,
            "server_version": ".".join(str(x) for x in server) if server else None,
            "runs": sum(by_kind.values()),
            "runs_by_kind": by_kind,
            "runs_by_status": by_status,
            "cells": n_cells,
        }

    # --- query building ------------------------------------------------------------------

    def _where(self, stmt: Any, query: RunQuery) -> Any:
        r = m.runs
        if query.ids is not None:
            stmt = stmt.where(r.c.id.in_(list(query.ids)))
        for cond in query.conditions:
            stmt = stmt.where(self._condition(cond))
        return stmt

    def _condition(self, cond: Condition) -> Any:
        r = m.runs
        prefix = cond.prefix
        if prefix is None:
            return _compare(r.c[cond.field], cond.op, cond.value)
        if prefix == "tags":
            t = m.tags
            inner = (t.c.run_id == r.c.id) & (t.c.key == cond.key)
            return sa.exists().where(inner & _compare(t.c.value, cond.op, _as_text(cond.value)))
        if prefix == "metrics":
            t = m.latest_metrics
            inner = (t.c.run_id == r.c.id) & (t.c.key == cond.key)
            if cond.value is None:
                present = sa.exists().where(inner)
                return ~present if cond.op == "=" else present
            v = float(cond.value)
            if math.isnan(v):
                match = t.c.is_nan.is_(True) if cond.op == "=" else t.c.is_nan.is_(False)
                return sa.exists().where(inner & match)
            return sa.exists().where(
                inner & t.c.is_nan.is_(False) & _compare(t.c.value, cond.op, v)
            )
        # params: numbers compare as numbers, everything else by its JSON text
        t = m.params
        inner = (t.c.run_id == r.c.id) & (t.c.key == cond.key)
        if cond.value is None:
            present = sa.exists().where(inner & (t.c.value_json != "null"))
            return ~present if cond.op == "=" else present
        values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if numeric:
            nv = (
                tuple(float(v) for v in values)
                if isinstance(cond.value, tuple)
                else float(cond.value)
            )
            return sa.exists().where(inner & _compare(t.c.value_num, cond.op, nv))
        if cond.op in ("like", "ilike"):
            return sa.exists().where(inner & _compare(t.c.value_json, cond.op, dumps(cond.value)))
        jv = tuple(dumps(v) for v in values) if isinstance(cond.value, tuple) else dumps(cond.value)
        return sa.exists().where(inner & _compare(t.c.value_json, cond.op, jv))

    def _order(self, stmt: Any, ob: OrderBy) -> Any:
        r = m.runs
        head, sep, key = ob.field.partition(".")
        col: Any
        if not sep or ob.field in r.c:
            col = r.c[ob.field]
        else:
            table = {"params": m.params, "metrics": m.latest_metrics, "tags": m.tags}[head]
            alias = table.alias()
            stmt = stmt.outerjoin(alias, (alias.c.run_id == r.c.id) & (alias.c.key == key))
            if head == "params":
                # Numbers first, by value; then the other params by their JSON text.
                num = alias.c.value_num
                stmt = stmt.order_by(alias.c.value_json.is_(None), num.is_(None))
                stmt = stmt.order_by(num.desc() if ob.descending else num.asc())
                col = alias.c.value_json
            else:
                col = alias.c.value
        # Missing values last in both directions, portably (no NULLS LAST needed). A NOT NULL
        # column has none, and the extra term would stop the database from reading the
        # page off the column's index (a full sort: 170 ms instead of 3 at 100,000 runs).
        if getattr(col, "nullable", True):
            stmt = stmt.order_by(col.is_(None))
        return stmt.order_by(col.desc() if ob.descending else col.asc())

    # --- row -> record -------------------------------------------------------------------

    def _load(self, conn: Connection, rows: Sequence[Row[Any]], *, with_cells: bool) -> list[Run]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        params: dict[str, dict[str, ParamValue]] = defaultdict(dict)
        metrics: dict[str, dict[str, float]] = defaultdict(dict)
        attrs: dict[str, dict[str, Any]] = defaultdict(dict)
        datas: dict[str, dict[str, DataRef]] = defaultdict(dict)
        for chunk in _chunks(ids):
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
                metrics[rid][k] = _metric(v, nan, neg_zero)
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
        flagged = self._nondeterministic(
            conn, m.runs, [r.fingerprint for r in rows if r.fingerprint]
        )
        artifacts = art.load_for_runs(conn, ids)
        out: list[Run] = []
        for r in rows:
            env = loads(r.environment)
            err = loads(r.error)
            out.append(
                Run(
                    id=r.id,
                    name=r.name,
                    kind=RunKind(r.kind),
                    status=RunStatus(r.status),
                    start_time=from_timestamp(r.start_time),
                    end_time=from_timestamp(r.end_time) if r.end_time is not None else None,
                    parent_id=r.parent_id,
                    tags=tags.get(r.id, {}),
                    params=params.get(r.id, {}),
                    metrics=metrics.get(r.id, {}),
                    data=datas.get(r.id, {}),
                    environment=Environment.from_dict(env) if env else None,
                    notes=r.notes or "",
                    source=Source(notebook=r.notebook, cell_id=r.cell_id, script=r.script),
                    error=RunError.from_dict(err) if err else None,
                    attrs=attrs.get(r.id, {}),
                    cells=tuple(self._cells(conn, r.id)) if with_cells else (),
                    nondeterministic=r.fingerprint in flagged,
                    fingerprint=r.fingerprint,
                    outcome_hash=r.outcome_hash,
                    artifacts=artifacts.get(r.id, {}),
                )
            )
        return out

    def _nondeterministic(
        self, conn: Connection, table: sa.Table, fingerprints: list[str]
    ) -> set[str]:
        """Fingerprints (same code, inputs, params) seen with more than one outcome."""
        found: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(fingerprints))):
            found.update(
                conn.execute(
                    sa.select(table.c.fingerprint)
                    .where(table.c.fingerprint.in_(chunk) & table.c.outcome_hash.is_not(None))
                    .group_by(table.c.fingerprint)
                    .having(sa.func.count(sa.distinct(table.c.outcome_hash)) > 1)
                ).scalars()
            )
        return found

    def _cells(self, conn: Connection, run_id: str) -> list[CellExecution]:
        c = m.cells
        rows = conn.execute(
            sa.select(c).where(c.c.run_id == run_id).order_by(c.c.seq, c.c.started)
        ).all()
        if not rows:
            return []
        io: dict[str, dict[str, dict[str, DataRef]]] = defaultdict(
            lambda: {"input": {}, "output": {}}
        )
        d = m.data
        for chunk in _chunks([r.id for r in rows]):
            for cid, name, role, ref in conn.execute(
                sa.select(d.c.cell_record_id, d.c.name, d.c.role, d.c.ref)
                .where(d.c.cell_record_id.in_(chunk))
                .order_by(d.c.timestamp, d.c.id)
            ):
                if role in ("input", "output"):
                    io[cid][role][name] = DataRef.from_dict(loads(ref))
        flagged = self._nondeterministic(
            conn, m.cells, [r.fingerprint for r in rows if r.fingerprint]
        )
        out = []
        for r in rows:
            err = loads(r.error)
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
                    metrics={k: float(v) for k, v in loads(r.metrics).items()},
                    started=from_timestamp(r.started),
                    duration_ms=r.duration_ms,
                    child_run_id=r.child_run_id,
                    nondeterministic=r.fingerprint in flagged,
                    fingerprint=r.fingerprint,
                    outcome_hash=r.outcome_hash,
                )
            )
        return out


def _is_neg_zero(v: float) -> bool:
    return v == 0.0 and math.copysign(1.0, v) < 0


def _metric(value: float | None, is_nan: bool, neg_zero: bool) -> float:
    """A stored metric value: NaN is NULL + ``is_nan``; ``-0.0`` is 0 + ``neg_zero``."""
    if is_nan:
        return math.nan
    return -0.0 if neg_zero else float(value)  # type: ignore[arg-type]


def _num(v: ParamValue) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return None if math.isnan(f) else f


def _as_text(v: Any) -> Any:
    if isinstance(v, tuple):
        return tuple(_as_text(x) for x in v)
    return v if v is None or isinstance(v, str) else str(v)


def _compare(col: Any, op: str, value: Any) -> Any:
    if op == "=":
        return col.is_(None) if value is None else col == value
    if op == "!=":
        return col.is_not(None) if value is None else col != value
    if op == "<":
        return col < value
    if op == "<=":
        return col <= value
    if op == ">":
        return col > value
    if op == ">=":
        return col >= value
    if op == "like":
        return col.like(value)
    if op == "ilike":
        return col.ilike(value)
    if op == "in":
        return col.in_(list(value))
    if op == "not in":
        return col.not_in(list(value))
    raise ValidationError(f"unknown operator {op!r}")


@dataclass
class _Batch:
    """Ops folded into rows per table; applying it equals applying the ops in order."""

    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    params: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    latest: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: dict[tuple[str, str], str | None] = field(default_factory=dict)
    attrs: dict[tuple[str, str], str | None] = field(default_factory=dict)
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    heartbeats: dict[str, float] = field(default_factory=dict)
    ends: dict[str, dict[str, Any]] = field(default_factory=dict)
    interrupts: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    @classmethod
    def fold(cls, ops: Sequence[Op]) -> _Batch:
        b = cls()
        for i, op in enumerate(ops):
            b._add(op)
            if i % 64 == 63:
                time.sleep(0)  # let other threads run (see SQLStore._write_batch)
        # A real ending anywhere in the batch wins over an "interrupted" verdict.
        for rid in b.ends:
            b.interrupts.pop(rid, None)
        return b

    def _add(self, op: Op) -> None:
        if isinstance(op, CreateRun):
            self.runs.setdefault(
                op.run_id,
                {
                    "id": op.run_id,
                    "name": op.name,
                    "kind": op.kind,
                    "status": op.status,
                    "start_time": op.start_time,
                    "parent_id": op.parent_id,
                    "notebook": op.notebook,
                    "cell_id": op.cell_id,
                    "script": op.script,
                    "environment": dumps(op.environment) if op.environment else None,
                    "owner": op.owner,
                    "heartbeat": op.start_time,
                    "notes": "",
                },
            )
            for k, tag in op.tags.items():
                self.tags[(op.run_id, k)] = tag
        elif isinstance(op, SetParams):
            for k, param in op.params.items():
                self.params[(op.run_id, k)] = {
                    "run_id": op.run_id,
                    "key": k,
                    "value_json": dumps(param),
                    "value_num": _num(param),
                }
        elif isinstance(op, LogMetrics):
            for r in op.metrics:
                nan = math.isnan(r.value)
                row = {
                    "run_id": op.run_id,
                    "key": r.key,
                    "value": None if nan else r.value,
                    "is_nan": nan,
                    "neg_zero": _is_neg_zero(r.value),
                    "step": r.step,
                    "timestamp": r.timestamp,
                }
                self.metrics.setdefault(r.id, {"id": r.id, **row})
                cur = self.latest.get((op.run_id, r.key))
                if cur is None or (r.timestamp, r.step or 0) >= (
                    cur["timestamp"],
                    cur["step"] or 0,
                ):
                    self.latest[(op.run_id, r.key)] = row
        elif isinstance(op, LogData):
            self.data.setdefault(
                op.id,
                {
                    "id": op.id,
                    "run_id": op.run_id,
                    "cell_record_id": op.cell_record_id,
                    "name": op.name,
                    "role": op.role,
                    "digest": str(op.ref["digest"]),
                    "ref": dumps(dict(op.ref)),
                    "timestamp": op.timestamp,
                },
            )
        elif isinstance(op, SetTags):
            for k, maybe_tag in op.tags.items():
                self.tags[(op.run_id, k)] = maybe_tag
        elif isinstance(op, SetAttrs):
            for k, v in op.attrs.items():
                self.attrs[(op.run_id, k)] = None if v is None else dumps(v)
        elif isinstance(op, SetRunFields):
            bad = set(op.fields) - SetRunFields.ALLOWED
            if bad:
                raise StoreError(
                    f"cannot set run fields {sorted(bad)}; allowed: {sorted(SetRunFields.ALLOWED)}"
                )
            values = dict(op.fields)
            if values.get("environment") is not None:
                values["environment"] = dumps(values["environment"])
            if "notes" in values and values["notes"] is None:
                values["notes"] = ""
            self.fields.setdefault(op.run_id, {}).update(values)
        elif isinstance(op, LogCell):
            self.cells.setdefault(
                op.id,
                {
                    "id": op.id,
                    "run_id": op.run_id,
                    "seq": op.seq,
                    "cell_id": op.cell_id,
                    "execution_count": op.execution_count,
                    "source": op.source,
                    "source_hash": op.source_hash,
                    "status": op.status,
                    "error": dumps(op.error) if op.error else None,
                    "reads": dumps(list(op.reads)),
                    "writes": dumps(list(op.writes)),
                    "params": dumps(dict(op.params)),
                    "metrics": dumps(dict(op.metrics)),
                    "started": op.started,
                    "duration_ms": op.duration_ms,
                    "child_run_id": op.child_run_id,
                    "fingerprint": op.fingerprint,
                    "outcome_hash": op.outcome_hash,
                },
            )
        elif isinstance(op, Heartbeat):
            for rid in op.run_ids:
                self.heartbeats[rid] = max(op.timestamp, self.heartbeats.get(rid, op.timestamp))
        elif isinstance(op, EndRun):
            row = {
                "b_id": op.run_id,
                "b_status": op.status,
                "b_end": op.end_time,
                "b_error": dumps(op.error) if op.error else None,
            }
            if op.status == RunStatus.INTERRUPTED.value:
                self.interrupts[op.run_id] = row
            else:
                self.ends[op.run_id] = row
        elif isinstance(op, LogArtifact):
            self.artifacts.setdefault(op.id, art.artifact_row(op))
        elif isinstance(op, SetSetting):
            self.settings[op.key] = art.setting_row(op)
        else:  # pragma: no cover - the Op union is closed
            raise StoreError(f"unknown op {op!r}")
