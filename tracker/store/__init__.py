"""Persistence: the only package that talks to databases and to TinyDB.

``open_store(url)`` gives the store for a URL: the SQL store (SQLite or PostgreSQL)
behind a :class:`QueuedStore`, which makes writes non-blocking and durable. Use
``open_store(url, queued=False)`` for a direct, synchronous store (the server and
tests of the database itself).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

from tracker.config import StoreURL, resolve_store_url, spool_dir
from tracker.store._base import BaseStore, DataUse, LiveRun
from tracker.store._queued import QueuedStore, sweep
from tracker.store._sql.store import SQLStore
from tracker.store.archive import export_runs, import_runs
from tracker.store.ops import Op
from tracker.store.query import (
    Condition,
    Cursor,
    OrderBy,
    RunQuery,
    parse_filter,
    parse_order_by,
)

__all__ = [
    "BaseStore",
    "Condition",
    "Cursor",
    "DataUse",
    "LiveRun",
    "Op",
    "OrderBy",
    "QueuedStore",
    "RunQuery",
    "SQLStore",
    "artifacts_root",
    "current_store",
    "export_runs",
    "get_store",
    "import_runs",
    "open_store",
    "parse_filter",
    "parse_order_by",
    "quiet_writer",
    "set_store",
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


# --- the process's current store ---------------------------------------------------------
# It lives here, not in tracker.run, because readers that must not import the run API
# (the server, cards, lineage) resolve "the current store" too.

_lock = threading.Lock()
_current: BaseStore | None = None
_current_url: StoreURL | None = None
_artifacts: str | None = None


def set_store(
    url: str | os.PathLike[str] | StoreURL | None,
    *,
    artifacts: str | os.PathLike[str] | None = None,
) -> StoreURL:
    """Use the store at ``url`` from now on in this process (``None``: back to the default).

    Args:
        url: ``sqlite:///path.db``, a path, ``postgresql://user@host/db``, or ``None``.
        artifacts: Where logged artifacts go: a directory or an fsspec URL such as
            ``s3://bucket/prefix`` (no credentials in it). Recorded in the database, so
            every other client of the store finds it. Default: ``TRACKER_ARTIFACTS``, else
            the root recorded in the database, else ``artifacts/`` beside a SQLite file
            (docs/models.md).

    Returns:
        The resolved URL (prints without its password).

    Raises:
        ConfigError: the URL is malformed, or the artifact root carries a credential.
    """
    global _current, _current_url, _artifacts
    new = resolve_store_url(url)
    root = None
    if artifacts is not None:
        from tracker.store.artifacts import parse_root

        root = parse_root(artifacts)
    with _lock:
        old = _current
        _current, _current_url, _artifacts = None, new, root
    if old is not None:
        old.close()
    return new


def artifacts_root() -> str | None:
    """The artifact root given to :func:`set_store` in this process, if any."""
    return _artifacts


def get_store() -> BaseStore:
    """The process's store (queued writer in front), opened on first use."""
    global _current, _current_url
    with _lock:
        if _current is None:
            if _current_url is None:
                _current_url = resolve_store_url(None)
            _current = open_store(_current_url)
        return _current


def current_store() -> BaseStore | None:
    """The process's store if one is open (unlike :func:`get_store`, opens none)."""
    with _lock:
        return _current


@contextlib.contextmanager
def quiet_writer() -> Iterator[None]:
    """Hold the current store's writer thread while the block runs (timing code).

    Does nothing when no store is open yet (it opens none) or the store has no writer
    thread. See :meth:`tracker.store._queued.QueuedStore.hold_writes`.
    """
    hold = getattr(current_store(), "hold_writes", None)
    if hold is None:
        yield
        return
    with hold():
        yield


def _reset_current() -> None:
    """Forget the current store without closing it (tests, after closing it themselves)."""
    global _current, _current_url, _artifacts
    with _lock:
        _current, _current_url, _artifacts = None, None, None
