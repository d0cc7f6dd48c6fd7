"""Shared fixtures: real SQLite files and a real PostgreSQL database per test.

PostgreSQL tests skip with a visible reason when the server is not reachable, except
under CI (``CI=true``), where they fail instead: CI machines have the server.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import tracker
from tracker import run as run_module
from tracker import store as store_module
from tracker.store import SQLStore

PG_ADMIN_URL = os.environ.get("TRACKER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_connect(dbname: str | None = None):  # type: ignore[no-untyped-def]
    import psycopg

    url = PG_ADMIN_URL
    if dbname is not None:
        url = url.rsplit("/", 1)[0] + "/" + dbname
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def _pg_available() -> str | None:
    try:
        with _pg_connect() as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"
    return None


_PG_PROBLEM = _pg_available()


def require_postgres() -> None:
    """Skip (or, in CI, fail) when PostgreSQL is not reachable."""
    if _PG_PROBLEM is None:
        return
    if IN_CI:
        pytest.fail(f"CI must run the PostgreSQL tests: {_PG_PROBLEM}")
    pytest.skip(_PG_PROBLEM)


@contextlib.contextmanager
def new_pg_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped when the block ends."""
    name = f"trk_{uuid.uuid4().hex[:12]}"
    with _pg_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with _pg_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test (dropped afterwards)."""
    require_postgres()
    with new_pg_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file in this test's temporary directory."""
    return f"sqlite:///{tmp_path / 'tracker.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store kind in turn: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tracker.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLStore]:
    """An unqueued SQL store of each kind in turn: a SQLite file, PostgreSQL, in-memory SQLite.

    The contract tests push the same inputs through all three (what one stores, all store;
    what one refuses, all refuse).
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'contract.db'}"
    elif request.param == "postgres":
        url = str(request.getfixturevalue("pg_url"))
    else:
        url = "sqlite://"
    s = store_module.open_store(url, queued=False)
    assert isinstance(s, SQLStore)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _isolated_tracker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own default store and spool directory, and leaves no open run."""
    spool = tmp_path / "spool"
    monkeypatch.setenv("TRACKER_SPOOL_DIR", str(spool))
    # System metrics stay on (the sampler thread starts and stops with every test's runs,
    # cells measure their peak memory) but sample too rarely to add series that tests
    # comparing a run's metrics would see; tests/test_system_metrics.py samples fast.
    monkeypatch.setenv("TRACKER_SYSTEM_METRICS", "3600")
    monkeypatch.setenv("TRACKER_STORE", f"sqlite:///{tmp_path / 'default.db'}")
    tracker.set_store(None)
    yield
    for r in list(run_module._open_runs.values()):
        r.end()
    tracker.set_store(None)  # closes the test's store: flushes and releases its spool
    store_module._reset_current()
