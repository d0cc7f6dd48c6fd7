"""Persistence: the only package that talks to databases and to TinyDB.

``open_store(url)`` gives the store for a URL: the SQL store (SQLite or PostgreSQL)
behind a :class:`QueuedStore`, which makes writes non-blocking and durable. Use
``open_store(url, queued=False)`` for a direct, synchronous store (the server and
tests of the database itself).
"""

from __future__ import annotations

import os

from tracker.config import StoreURL, resolve_store_url, spool_dir
from tracker.store._base import BaseStore, DataUse, LiveRun
from tracker.store._queued import QueuedStore, sweep
from tracker.store._sql.store import SQLStore
from tracker.store.archive import export_runs, import_runs
from tracker.store.ops import Op
from tracker.store.query import Condition, OrderBy, RunQuery, parse_filter, parse_order_by

__all__ = [
    "BaseStore",
    "Condition",
    "DataUse",
    "LiveRun",
    "Op",
    "OrderBy",
    "QueuedStore",
    "RunQuery",
    "SQLStore",
    "export_runs",
    "import_runs",
    "open_store",
    "parse_filter",
    "parse_order_by",
    "sweep",
]


def open_store(
    url: str | os.PathLike[str] | StoreURL | None = None, *, queued: bool = True
) -> BaseStore:
    """The store at ``url`` (argument, else ``TRACKER_STORE``, else the project default).

    Args:
        url: Store URL or SQLite path.
        queued: Put the non-blocking, spooled writer in front (what logging wants).

    Returns:
        A ready store; the schema is created or upgraded on first use.
    """
    resolved = resolve_store_url(url)
    backend = SQLStore(resolved)
    if not queued:
        return backend
    return QueuedStore(backend, None if resolved.is_memory else spool_dir())
