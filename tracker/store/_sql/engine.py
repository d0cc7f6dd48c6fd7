"""Engines for SQLite and PostgreSQL, and schema upgrades.

SQLite is opened in WAL mode with ``synchronous=NORMAL`` and a busy timeout, so
several processes can write one file at once: a committed transaction survives a
killed process (it is in the WAL), readers never block writers, and a writer that
finds the file locked waits instead of failing. Write transactions start with
``BEGIN IMMEDIATE``: taking the write lock up front is what lets the busy timeout
work (a deferred transaction that upgrades from read to write can fail at once
with "database is locked").

PostgreSQL goes through psycopg 3 with short connect and statement timeouts and
``pool_pre_ping``, so a vanished server turns into a quick
:class:`StoreUnavailableError` instead of a hang.

A database with no tracker table yet is created at the head schema straight from the
models and stamped with :data:`SCHEMA_REVISION`, without Alembic; one at an older
revision is upgraded through the Alembic migrations. Either runs under a lock (SQLite:
the write lock; PostgreSQL: an advisory lock) and checks the revision again once it holds
it, so many processes opening a fresh database at once create or migrate it once.
"""

from __future__ import annotations

import importlib.util
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from tracker.config import StoreURL
from tracker.exceptions import ConfigError, SchemaError
from tracker.store._sql.models import SCHEMA_REVISION, VERSION_TABLE, metadata

__all__ = ["SQLITE_BUSY_TIMEOUT_S", "create_engine", "schema_revision", "set_wal", "upgrade"]

#: How long a SQLite writer waits for another process's write lock.
SQLITE_BUSY_TIMEOUT_S = 30.0
#: PostgreSQL: give up connecting after this long (seconds).
PG_CONNECT_TIMEOUT_S = 3
#: PostgreSQL: cancel any statement running longer than this (milliseconds).
PG_STATEMENT_TIMEOUT_MS = 30_000
_PG_MIGRATION_LOCK = 0x7472_6B72  # "trkr": advisory lock key for schema upgrades

_log = logging.getLogger("tracker")
_MIGRATIONS = Path(__file__).parent / "migrations"
_upgraded: set[str] = set()
#: Alembic's version table as Alembic creates it (``DefaultImpl.version_table_impl``), for
#: stamping a new store without importing Alembic; a test compares the two.
_VERSION = sa.Table(
    VERSION_TABLE,
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
)
_upgrade_lock = threading.Lock()


def create_engine(url: StoreURL) -> Engine:
    """An engine for ``url`` with the settings described in the module docstring.

    Raises:
        ConfigError: the PostgreSQL driver is missing, or the SQLite directory cannot be made.
    """
    if url.kind == "sqlite":
        return _sqlite_engine(url)
    if importlib.util.find_spec("psycopg") is None:
        raise ConfigError(
            "PostgreSQL stores need the psycopg driver: pip install 'jupyterlab-tracker[postgres]'"
        )
    engine = sa.create_engine(
        url.connect_url(),
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        pool_recycle=1800,
        connect_args={
            "connect_timeout": PG_CONNECT_TIMEOUT_S,
            "options": f"-c statement_timeout={PG_STATEMENT_TIMEOUT_MS}",
            "application_name": "jupyterlab-tracker",
        },
        hide_parameters=True,
    )
    return engine


def _sqlite_engine(url: StoreURL) -> Engine:
    if url.path is not None:
        try:
            url.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the directory for the SQLite store {url.path}: {exc}"
            ) from exc
        engine = sa.create_engine(
            url.connect_url(),
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
            pool_size=4,
            max_overflow=8,
            hide_parameters=True,
        )
    else:
        # One shared connection, or every thread would see its own empty database.
        engine = sa.create_engine(
            "sqlite://",
            connect_args={"check_same_thread": False},
            poolclass=StaticPool,
            hide_parameters=True,
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE is ours to issue.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if url.path is not None:
            set_wal(dbapi_conn)
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_write", False)
        sql = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        # On the driver's connection: through ``exec_driver_sql`` (an execution context
        # and a cursor for a statement with no result) it took 6 us of a 19 us
        # begin + commit, a run's transaction every time. Errors are wrapped as
        # SQLAlchemy wraps them (a locked file is an ``OperationalError``), which it does
        # not do for an event.
        try:
            conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
        except sqlite3.Error as exc:
            raise sa_exc.DBAPIError.instance(
                sql, None, exc, sqlite3.Error, hide_parameters=True, dialect=conn.dialect
            ) from exc

    return engine


def set_wal(dbapi_conn: Any, timeout_s: float = SQLITE_BUSY_TIMEOUT_S) -> None:
    """Put the SQLite file of ``dbapi_conn`` (a ``sqlite3`` connection) in WAL mode.

    Changing the journal mode takes an exclusive lock after a read, and SQLite does not call
    the busy handler for that upgrade: two connections converting a fresh file at once (the
    store's and Optuna's storage, say) would get "database is locked" at once. The mode is
    stored in the file, so a file already in WAL mode needs nothing; otherwise the change is
    retried until ``timeout_s``, as the busy timeout would have waited.

    Raises:
        sqlite3.OperationalError: the file stayed locked for ``timeout_s``, or another error.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.001
    cur = dbapi_conn.cursor()
    try:
        while True:
            try:
                if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                    # Answers the mode it is in: WAL, or the old one where WAL is impossible.
                    cur.execute("PRAGMA journal_mode=WAL").fetchone()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                if delay == 0.001:
                    _log.debug("tracker: SQLite file locked while switching to WAL; retrying")
            time.sleep(delay)  # a retry after a lock conflict, not a wait for an event
            delay = min(delay * 2, 0.05)
    finally:
        cur.close()


def schema_revision(conn: Connection) -> str | None:
    """The tracker schema revision stamped in this database, or ``None`` if there is none."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    row = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
    return str(row[0]) if row else None


def upgrade(engine: Engine, url: StoreURL) -> None:
    """Bring the tracker tables to :data:`SCHEMA_REVISION` (once per process and database).

    A database with no tracker table yet is created at the head schema and stamped
    (:func:`_create_fresh`); one at an older revision is upgraded by Alembic.

    Raises:
        SchemaError: the database was written by a newer tracker.
    """
    key = url.identity if not url.is_memory else f"memory:{id(engine)}"
    with _upgrade_lock:
        if key in _upgraded:
            return
        with engine.connect() as conn:
            current = schema_revision(conn)
            conn.rollback()
        if current is None:
            current = _create_fresh(engine)
        if current != SCHEMA_REVISION:
            _run_alembic(engine, current)
        _upgraded.add(key)


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[Connection]:
    """A transaction holding the lock every schema change takes (see the module docstring)."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                # Held to the end of the transaction: concurrent openers wait, then see it done.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            yield conn


def _create_fresh(engine: Engine) -> str | None:
    """Create the head schema from the models if the database has no tracker table yet.

    Running the six migrations one by one (and importing Alembic to do it) cost a new
    store most of its first run. The tables are those of ``models.py``, which a test keeps
    identical to what the migrations build; the version table is Alembic's own and gets
    the head revision, as ``alembic stamp`` would write it, so a later tracker upgrades
    this store through its migrations like any other.

    Returns:
        The revision the database is at afterwards: :data:`SCHEMA_REVISION` when it was
        created here (or by another process meanwhile), the revision another process
        stamped meanwhile, or ``None`` when tracker tables exist without a revision, which
        is left to Alembic as before.
    """
    with _schema_lock(engine) as conn:
        # Checked again under the lock: another process may have created it meanwhile.
        names = sa.inspect(conn).get_table_names()
        if VERSION_TABLE in names:
            return schema_revision(conn)
        if any(n.startswith("tracker_") for n in names):
            return None
        metadata.create_all(conn, checkfirst=False)
        _VERSION.create(conn)
        conn.execute(_VERSION.insert().values(version_num=SCHEMA_REVISION))
    _log.debug("tracker: created a new store at schema %s", SCHEMA_REVISION)
    return SCHEMA_REVISION


def _run_alembic(engine: Engine, seen: str | None) -> None:
    """Upgrade a store at revision ``seen`` through the migrations; refuse a newer one."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    known = {s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions()}
    if seen is not None and seen not in known:
        raise SchemaError(
            f"this database has tracker schema revision {seen!r}, newer than this tracker "
            f"understands ({SCHEMA_REVISION!r}); upgrade the package: "
            "pip install -U jupyterlab-tracker"
        )
    with _schema_lock(engine) as conn:
        if schema_revision(conn) == SCHEMA_REVISION:
            return
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
