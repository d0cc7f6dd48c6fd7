"""Optuna's storage on the tracker's own database, and Optuna's logging while a search runs.

The study lives in the same database as the tracker's records (same URL; Optuna's tables
beside ours, which are prefixed ``tracker_``), so one file or one PostgreSQL database
holds everything a search leaves, and optuna-dashboard opens it as it is.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import warnings
from collections.abc import Callable, Iterator

import optuna
from optuna.storages import BaseStorage

from tracker.config import StoreURL
from tracker.exceptions import ConfigError
from tracker.store._sql.engine import set_wal

__all__ = ["open_storage", "quiet_optuna", "study_exists"]

_storages: dict[str, BaseStorage] = {}
_storages_lock = threading.Lock()

#: How long a thread waits for the SQLite file's write lock (seconds).
SQLITE_TIMEOUT_S = 60.0


def open_storage(url: StoreURL) -> BaseStorage:
    """Optuna storage on the tracker's database (one per URL and process).

    SQLite gets a long busy timeout (threads of one process share the file); PostgreSQL
    gets Optuna's heartbeat, so trials of a worker that died are failed, not left running.

    Raises:
        ConfigError: an in-memory SQLite store, which Optuna cannot share.
    """
    if url.is_memory:
        raise ConfigError(
            "the tracker store is an in-memory SQLite database, which Optuna cannot share; "
            "use a file (tracker.set_store('sqlite:///tracker.db')) or PostgreSQL"
        )
    key = url.redacted()
    with _storages_lock:
        st = _storages.get(key)
        if st is not None:
            return st
        if url.kind == "sqlite":
            st = optuna.storages.RDBStorage(
                url.connect_url(), engine_kwargs={"creator": sqlite_connector(url)}
            )
        else:
            with warnings.catch_warnings():
                # Optuna flags the heartbeat as experimental; it is what fails the trials of
                # a worker that died instead of leaving them running forever.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                st = optuna.storages.RDBStorage(
                    url.connect_url(),
                    engine_kwargs={"pool_pre_ping": True},
                    heartbeat_interval=30,
                    grace_period=120,
                )
        _storages[key] = st
        return st


def _drop_pools_in_child() -> None:
    # A forked child (a ProcessPoolExecutor running trials, on Linux) must not talk over
    # the parent's pooled connections: it would interleave with the parent's queries on
    # the same socket. Drop them without closing them (closing would end the parent's);
    # the child opens its own on first use.
    for st in list(_storages.values()):
        engine = getattr(st, "engine", None)
        if engine is not None:
            engine.dispose(close=False)


if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(after_in_child=_drop_pools_in_child)


def sqlite_connector(url: StoreURL) -> Callable[[], sqlite3.Connection]:
    """Connections to the tracker's SQLite file for Optuna's engine.

    The tracker's file is in WAL mode (set as the store sets it, waiting out another
    connection converting a fresh file at the same moment); with synchronous=NORMAL a
    commit no longer waits for fsync (still safe against a crashed process, which is what
    a search must survive), which cuts Optuna's per-trial commits from ~8 ms to well under
    1 ms. The long busy timeout lets threads of one process and the tracker's writer share
    the file.
    """
    path = str(url.path)

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=SQLITE_TIMEOUT_S, check_same_thread=False)
        set_wal(conn, SQLITE_TIMEOUT_S)
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    return connect


def study_exists(storage: BaseStorage, name: str) -> bool:
    """Whether ``storage`` holds a study called ``name``."""
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return False
    return True


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's INFO lines off while a search runs; a verbosity the user chose is kept.

    Our records and progress display replace Optuna's INFO lines ("A new study created",
    one per trial), which otherwise land in the notebook as red stderr; warnings (failed
    trials) still show.
    """
    before = optuna.logging.get_verbosity()
    if before != optuna.logging.INFO:
        yield
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)
