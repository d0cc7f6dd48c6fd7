"""The SQL store: one implementation of :class:`BaseStore` for SQLite and PostgreSQL.

Dialect differences are confined to three places: the engine settings
(``engine.py``), the upsert statement (``_write``), and error mapping
(:func:`_translate`). Everything else is written once. Beside it: ``_batch`` folds ops
into rows, ``_write`` writes them with statements compiled once, ``_filters`` turns the
filter language into SQL, ``_load`` turns rows into records, ``_codec`` is how values
sit in the columns.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from tracker.config import StoreURL
from tracker.exceptions import (
    RunNotFoundError,
    StoreError,
    StoreUnavailableError,
)
from tracker.records import (
    ArtifactRef,
    CellExecution,
    DataRef,
    Metric,
    Run,
    RunStatus,
    from_timestamp,
)
from tracker.store._base import BaseStore, DataUse, LiveRun
from tracker.store._sql import artifacts as art
from tracker.store._sql import models as m
from tracker.store._sql._batch import Batch
from tracker.store._sql._codec import chunks, dumps, loads, metric_value
from tracker.store._sql._filters import where
from tracker.store._sql._load import load_cells, load_run_head, load_runs
from tracker.store._sql._pages import SMALL_PAGE, count_bounded, page_rows, small_plans
from tracker.store._sql._write import Writer
from tracker.store._sql._writeconn import WriteConnection
from tracker.store._sql.engine import create_engine, schema_revision, upgrade
from tracker.store._sql.registry import RegistryMixin
from tracker.store.ops import (
    Op,
)
from tracker.store.query import RunQuery

__all__ = ["SQLStore", "dumps", "loads"]


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
        self._writer = Writer(self._engine.dialect)
        #: SQLite file stores keep one connection for writes (see ``_writeconn``).
        self._write_conn = (
            WriteConnection(self._engine)
            if self._dialect == "sqlite" and url.path is not None
            else None
        )

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

    def close(self) -> None:
        """Close the writer's connection and dispose of pooled connections."""
        if self._write_conn is not None:
            self._write_conn.close()
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
        batch = Batch.fold(ops)
        inserted = None
        if self._write_conn is not None:
            self._ensure_ready()
            try:
                with self._write_conn.transaction() as kept:
                    if kept is not None:
                        inserted = self._writer.write(kept, batch)
            except sa_exc.SQLAlchemyError as exc:
                raise _translate(exc, self.url) from exc
        if inserted is None:  # PostgreSQL, memory, or the kept connection is busy
            with self._conn(write=True) as conn:
                inserted = self._writer.write(conn, batch)
        self._writer.committed(inserted)

    # --- reads ---------------------------------------------------------------------------

    def get_run(self, run_id: str, *, with_cells: bool = True) -> Run:
        """The run with this id (see :class:`BaseStore`)."""
        with self._conn(write=False) as conn:
            row = conn.execute(sa.select(m.runs).where(m.runs.c.id == run_id)).first()
            if row is None:
                raise RunNotFoundError(run_id, self.url.redacted())
            (run,) = load_runs(conn, [row], with_cells=with_cells)
            return run

    def get_run_head(self, run_id: str) -> Run:
        """The run's row and logged data, one query (see :class:`BaseStore`)."""
        with self._conn(write=False) as conn:
            run = load_run_head(conn, run_id)
        if run is None:
            raise RunNotFoundError(run_id, self.url.redacted())
        return run

    def search_runs(self, query: RunQuery) -> list[Run]:
        """Runs matching the query, one page (see :class:`BaseStore`)."""
        with self._conn(write=False) as conn:
            if query.limit is not None and query.offset + query.limit <= SMALL_PAGE:
                small_plans(conn)
            return load_runs(
                conn, page_rows(conn, query), with_cells=query.with_cells, summary=query.summary
            )

    def count_runs(self, query: RunQuery) -> int:
        """How many runs match (see :class:`BaseStore`)."""
        with self._conn(write=False) as conn:
            stmt = where(sa.select(sa.func.count()).select_from(m.runs), query)
            return int(conn.execute(stmt).scalar_one())

    def count_runs_bounded(self, query: RunQuery, limit: int) -> tuple[int, bool]:
        """Exact up to ``limit`` matches, estimated beyond (see :class:`BaseStore`)."""
        with self._conn(write=False) as conn:
            small_plans(conn)
            return count_bounded(conn, query, limit)

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
                r.key,
                metric_value(r.value, r.is_nan, r.neg_zero),
                r.step,
                from_timestamp(r.timestamp),
            )
            for r in rows
        ]

    def get_cells(self, run_id: str) -> list[CellExecution]:
        """Cell records of a session run (see :class:`BaseStore`)."""
        with self._conn(write=False) as conn:
            return load_cells(conn, run_id)

    def data_uses(
        self, digests: Sequence[str], roles: Sequence[str] | None = None
    ) -> list[DataUse]:
        """Where these digests were seen (see :class:`BaseStore`)."""
        t = m.data
        out: list[DataUse] = []
        with self._conn(write=False) as conn:
            for chunk in chunks(list(dict.fromkeys(digests))):
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
