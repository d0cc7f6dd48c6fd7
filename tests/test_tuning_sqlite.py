"""The tracker store and Optuna's storage share one SQLite file: opening it never fails on a lock.

Both put the file in WAL mode when they connect. Changing the journal mode takes an
exclusive lock after a read, which SQLite's busy timeout does not cover: a connection
switching a fresh file to WAL while another holds a write lock got "database is locked"
at once (seen: ``PRAGMA journal_mode=WAL`` in Optuna's connector failing a search under
load). These tests hold that lock on purpose and check that both connectors wait for it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tracker.config import StoreURL
from tracker.store._sql.engine import create_engine
from tracker.tuning._storage import sqlite_connector

WAIT_S = 60.0  # generous: the machine is loaded


class _Retried(logging.Handler):
    """Sets an event when a connector says it is retrying the switch to WAL."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "switching to WAL" in record.getMessage():
            self.event.set()


@pytest.fixture
def retried() -> Iterator[threading.Event]:
    handler = _Retried()
    logger = logging.getLogger("tracker")
    before = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler.event
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


def _fresh_file(path: Path) -> sqlite3.Connection:
    """A new database in rollback-journal mode, and a connection holding its write lock."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE held (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO held VALUES (1)")
    return holder


def _tuning_connect(url: StoreURL) -> None:
    sqlite_connector(url)().close()


def _store_connect(url: StoreURL) -> None:
    engine = create_engine(url)
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()


CONNECTORS: dict[str, Callable[[StoreURL], None]] = {
    "optuna-storage": _tuning_connect,
    "tracker-store": _store_connect,
}


@pytest.mark.parametrize("connect", list(CONNECTORS.values()), ids=list(CONNECTORS))
def test_switching_a_fresh_file_to_wal_waits_for_a_writer(
    tmp_path: Path, retried: threading.Event, connect: Callable[[StoreURL], None]
) -> None:
    # Given a fresh file (not in WAL mode yet) whose write lock another connection holds
    path = tmp_path / "tracker.db"
    holder = _fresh_file(path)
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            connect(StoreURL.parse(f"sqlite:///{path}"))
        except BaseException as exc:
            errors.append(exc)
            retried.set()  # nothing more to wait for

    # When a connector opens it, and the writer commits only after the connector found it
    # locked
    thread = threading.Thread(target=opener)
    thread.start()
    found_locked = retried.wait(WAIT_S)
    holder.execute("COMMIT")
    thread.join(WAIT_S)
    holder.close()

    # Then the connector waited instead of failing, and the file is in WAL mode
    assert errors == []
    assert found_locked, "the connector never met the lock (or failed before retrying)"
    assert not thread.is_alive()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("connect", list(CONNECTORS.values()), ids=list(CONNECTORS))
def test_a_file_already_in_wal_mode_is_opened_during_a_write(
    tmp_path: Path, retried: threading.Event, connect: Callable[[StoreURL], None]
) -> None:
    # Given a file in WAL mode with a write transaction open
    path = tmp_path / "tracker.db"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
    holder = _fresh_file(path)

    # When a connector opens it, Then it needs no lock for the journal mode
    connect(StoreURL.parse(f"sqlite:///{path}"))
    holder.execute("COMMIT")
    holder.close()
    assert not retried.is_set()
