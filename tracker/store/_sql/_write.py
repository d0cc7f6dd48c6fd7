"""A folded batch to the database, with statements compiled once per store.

The writer thread commits a small batch many times a second (one run: a run row, its
params, metrics, latest metrics, tags, an ending). Building each statement anew and
letting SQLAlchemy derive its cache key and execution context cost about as much as the
database's own work, so each statement shape (table, kind, columns) is compiled once to
the dialect's SQL text and then executed as the driver's ``executemany`` with the rows:
on SQLite straight on the DBAPI cursor (errors wrapped in SQLAlchemy's classes here),
on PostgreSQL with ``exec_driver_sql``; either way the store maps errors as before.
Every value has already been checked by the ops (``validation.py``) and encoded
by ``_batch``/``_codec``: columns hold text, numbers, booleans and NULL, which both
drivers bind natively, so skipping SQLAlchemy's bind processing changes no stored byte
(the contract tests compare the backends).
"""

from __future__ import annotations

import operator
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Dialect

from tracker.records import RunStatus
from tracker.store._sql import artifacts as art
from tracker.store._sql import models as m
from tracker.store._sql._batch import Batch

__all__ = ["Writer"]

#: Yield the GIL between statements only after this many rows: a statement over fewer
#: rows holds it for well under the interpreter's 5 ms switch interval, and a yield on a
#: loaded machine can cost a scheduler slice.
_YIELD_ROWS = 64


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One statement compiled to SQL text, and how to turn a row into its parameters."""

    sql: str
    positional: tuple[str, ...] | None  # bind names in order (qmark), or None (named)
    defaults: dict[str, Any]  # binds with a fixed value (a literal in the statement)

    def params(self, rows: Sequence[dict[str, Any]]) -> list[Any]:
        d = self.defaults
        if self.positional is not None:
            # itemgetter builds each row's tuple in C: a Python generator per row was a
            # tenth of a one-run batch's own work (~40 values: params, metrics, latest).
            get = _tuple_getter(self.positional)
            return [get({**d, **r}) for r in rows] if d else [get(r) for r in rows]
        return [{**d, **r} for r in rows] if d else list(rows)


def _tuple_getter(keys: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A row's values in ``keys`` order, always as a tuple (``itemgetter`` of one key is not)."""
    if len(keys) == 1:
        key = keys[0]
        return lambda r: (r[key],)
    return operator.itemgetter(*keys)


class Writer:
    """Writes :class:`Batch` rows for one store (thread-safe).

    Args:
        dialect: The engine's dialect; statements are compiled for it.
    """

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._pg = dialect.name == "postgresql"
        self._dbapi_error: type[Exception] = dialect.loaded_dbapi.Error
        self._prepared: dict[Hashable, _Prepared] = {}
        self._lock = threading.Lock()
        #: Environment digests known to be committed: their rows are never changed or
        #: deleted, so a run in a known environment costs no statement for it.
        self._known_envs: set[str] = set()

    # --- statements ----------------------------------------------------------------------

    def _prepare(
        self, key: Hashable, build: Callable[[], Any], columns: Sequence[str]
    ) -> _Prepared:
        p = self._prepared.get(key)
        if p is None:
            compiled = build().compile(dialect=self._dialect, column_keys=list(columns))
            names = compiled.positiontup
            p = _Prepared(
                sql=compiled.string,
                positional=tuple(names) if names is not None else None,
                defaults={k: b.value for k, b in compiled.binds.items() if b.value is not None},
            )
            with self._lock:
                self._prepared.setdefault(key, p)
        return p

    def _run(
        self, conn: Connection, key: Hashable, build: Callable[[], Any], rows: list[dict[str, Any]]
    ) -> None:
        p = self._prepare(key, build, list(rows[0]))
        params = p.params(rows)
        if self._pg:
            conn.exec_driver_sql(p.sql, params)
        else:
            self._sqlite_many(conn, p.sql, params)
        if len(rows) >= _YIELD_ROWS:
            time.sleep(0)  # let the user's thread run (see Writer.write)

    def _sqlite_many(self, conn: Connection, sql: str, params: list[Any]) -> None:
        # Straight on the driver's cursor, in the connection's open transaction:
        # SQLAlchemy's execution context (events, result setup) cost more than SQLite's
        # own work for these few rows. Errors are wrapped as SQLAlchemy would wrap them
        # (same classes), so the store maps them as before.
        cur = conn.connection.cursor()
        try:
            cur.executemany(sql, params)
        except self._dbapi_error as exc:
            raise sa_exc.DBAPIError.instance(
                sql, params, exc, self._dbapi_error, hide_parameters=True, dialect=self._dialect
            ) from exc
        finally:
            cur.close()

    def _insert(self, table: sa.Table) -> Any:
        return (pg_dialect.insert if self._pg else sqlite_dialect.insert)(table)

    def upsert(
        self,
        conn: Connection,
        table: sa.Table,
        rows: list[dict[str, Any]],
        keys: Sequence[str],
        where: Callable[[Any], Any] | None = None,
        only: Sequence[str] | None = None,
    ) -> None:
        """Insert ``rows``; on a key conflict update the other columns (if ``where``).

        ``only``: on a conflict update just these columns, leave the others as they are.
        """
        if not rows:
            return
        cols = tuple(rows[0])
        changed = tuple(c for c in cols if c not in keys and (only is None or c in only))

        def build() -> Any:
            stmt = self._insert(table)
            update = {c: stmt.excluded[c] for c in changed}
            if not update:
                return stmt.on_conflict_do_nothing(index_elements=list(keys))
            return stmt.on_conflict_do_update(
                index_elements=list(keys), set_=update, where=where(stmt) if where else None
            )

        self._run(conn, ("upsert", table.name, cols, changed, where is not None), build, rows)

    def insert_ignore(self, conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows``, leaving rows whose key is already there as they are."""
        if rows:
            key = ("insert", table.name, tuple(rows[0]))
            self._run(conn, key, lambda: self._insert(table).on_conflict_do_nothing(), rows)

    # --- a batch -------------------------------------------------------------------------

    def write(self, conn: Connection, b: Batch) -> set[str]:
        """Write the batch's rows in ``conn``'s transaction.

        The ops were folded into one list of rows per table, so this is one statement
        per table and row shape. Usually on the writer thread: after a statement over many
        rows the GIL is yielded, so the user's thread is not stalled for the interpreter's
        switch interval.

        Returns:
            The environment digests inserted; once the transaction commits, the caller
            passes them to :meth:`committed`.
        """
        envs = [{"digest": d, "document": t} for d, t in b.environments.items()]
        envs = [e for e in envs if e["digest"] not in self._known_envs]
        # Before the runs that refer to it (no foreign key, but a reader never sees a
        # dangling reference either way: both land in this one transaction).
        self.insert_ignore(conn, m.environments, envs)
        self.insert_ignore(conn, m.runs, list(b.runs.values()))
        # Runs that also ended in this batch: their ending is in the row (Batch.fold); a
        # run already there (a replay) gets just its ending, as the ending's update would.
        self.upsert(conn, m.runs, list(b.ended_runs.values()), ("id",), only=_ENDING)
        self.upsert(conn, m.params, list(b.params.values()), ("run_id", "key"))
        self.insert_ignore(conn, m.metrics, list(b.metrics.values()))
        self.upsert(conn, m.latest_metrics, list(b.latest.values()), ("run_id", "key"), _newer)
        self.insert_ignore(conn, m.data, list(b.data.values()))
        self.insert_ignore(conn, m.cells, list(b.cells.values()))
        if b.artifacts or b.settings:
            art.write_rows(
                conn, list(b.artifacts.values()), b.settings, self.insert_ignore, self.upsert
            )
        self._tags_and_attrs(conn, b)
        self._run_updates(conn, b)
        return {e["digest"] for e in envs}

    def committed(self, digests: set[str]) -> None:
        """Remember environments whose insert committed (no statement for them again)."""
        if digests:
            with self._lock:
                self._known_envs |= digests

    def _tags_and_attrs(self, conn: Connection, b: Batch) -> None:
        for table, state in ((m.tags, b.tags), (m.attrs, b.attrs)):
            gone = [{"b_run": r, "b_key": k} for (r, k), v in state.items() if v is None]
            if gone:

                def delete(t: sa.Table = table) -> Any:
                    return t.delete().where(
                        (t.c.run_id == sa.bindparam("b_run")) & (t.c.key == sa.bindparam("b_key"))
                    )

                self._run(conn, ("delete", table.name), delete, gone)
            col = "value" if table is m.tags else "value_json"
            rows = [{"run_id": r, "key": k, col: v} for (r, k), v in state.items() if v is not None]
            self.upsert(conn, table, rows, ("run_id", "key"))

    def _run_updates(self, conn: Connection, b: Batch) -> None:
        runs = m.runs
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for rid, fields in b.fields.items():
            by_columns[tuple(sorted(fields))].append({"b_id": rid, **fields})
        for cols, rows in by_columns.items():

            def fields_update(cols: tuple[str, ...] = cols) -> Any:
                return (
                    runs.update()
                    .where(runs.c.id == sa.bindparam("b_id"))
                    .values({c: sa.bindparam(c) for c in cols})
                )

            self._run(conn, ("fields", cols), fields_update, rows)
        if b.heartbeats:
            rows = [{"b_id": r, "b_ts": t} for r, t in b.heartbeats.items()]
            self._run(conn, ("heartbeat",), _heartbeat_update, rows)
        for guarded, ends in ((False, b.ends), (True, b.interrupts)):
            if ends:
                build = _end_guarded if guarded else _end_update
                self._run(conn, ("end", guarded), build, list(ends.values()))


#: The columns an ending sets (``_end_update``).
_ENDING = ("status", "end_time", "error")


def _newer(stmt: Any) -> Any:
    # The newest timestamp wins (ties: the higher step), so a replay of older
    # measurements never hides a newer one.
    lm = m.latest_metrics
    return (stmt.excluded.timestamp > lm.c.timestamp) | (
        (stmt.excluded.timestamp == lm.c.timestamp)
        & (sa.func.coalesce(stmt.excluded.step, 0) >= sa.func.coalesce(lm.c.step, 0))
    )


def _heartbeat_update() -> Any:
    runs = m.runs
    return (
        runs.update()
        .where(runs.c.id == sa.bindparam("b_id"))
        .where(runs.c.status == RunStatus.RUNNING.value)
        .values(heartbeat=sa.bindparam("b_ts"))
    )


def _end_guarded() -> Any:
    # A liveness verdict never overrides a real ending.
    return _end_update().where(m.runs.c.status == RunStatus.RUNNING.value)


def _end_update() -> Any:
    runs = m.runs
    return (
        runs.update()
        .where(runs.c.id == sa.bindparam("b_id"))
        .values(
            status=sa.bindparam("b_status"),
            end_time=sa.bindparam("b_end"),
            error=sa.bindparam("b_error"),
        )
    )
