"""The SQLite writer's own connection, kept open between transactions.

The writer thread commits a small batch many times a second. Checking a connection out
of the pool for each one (the pool's events, a reset on return, a new ``Connection``)
cost about a tenth of a one-run transaction (``benchmarks/bench_store.py --one-run``),
so a SQLite file store keeps one connection for its writes. It holds no transaction
between batches (each batch is ``BEGIN IMMEDIATE`` ... ``COMMIT`` as before, with the
pragmas every connection of the engine gets), so readers and checkpoints are unaffected.

One writer at a time uses it; a second thread writing at the same moment (``tracker
sync --rejected`` while the writer thread works) takes a pooled connection instead. A
connection that saw an error is closed and replaced, and a forked child never touches
its parent's (it opens its own).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

from sqlalchemy.engine import Connection, Engine

__all__ = ["WriteConnection"]


class WriteConnection:
    """One kept-open connection for writes, lent to one thread at a time.

    Args:
        engine: A SQLite file engine (its ``begin`` event issues ``BEGIN IMMEDIATE``
            for connections with the ``sqlite_write`` option).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._pid = os.getpid()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection | None]:
        """Yield the connection inside a write transaction; ``None`` when it is in use.

        The transaction commits when the block ends and rolls back if it raises; after
        an error the connection is closed (the next batch opens a fresh one).
        """
        if not self._lock.acquire(blocking=False):
            yield None
            return
        try:
            conn = self._take()
            try:
                with conn.begin():
                    yield conn
            except BaseException:
                self._drop(close=True)
                raise
        finally:
            self._lock.release()

    def _take(self) -> Connection:
        if self._pid != os.getpid():  # a forked child: the parent's connection is not ours
            self._conn, self._pid = None, os.getpid()
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            conn = self._engine.connect().execution_options(sqlite_write=True)
            self._conn = conn
        return conn

    def _drop(self, *, close: bool) -> None:
        conn, self._conn = self._conn, None
        if close and conn is not None:
            with contextlib.suppress(Exception):  # already failing: the pool discards it
                conn.close()

    def close(self, timeout: float = 5.0) -> None:
        """Close the connection (waits up to ``timeout`` for a batch in progress)."""
        if self._lock.acquire(timeout=timeout):
            try:
                self._drop(close=self._pid == os.getpid())
            finally:
                self._lock.release()
