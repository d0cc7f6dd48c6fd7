"""A new store is created at the head schema from the models: the migrations' schema exactly.

Every existing store got its tables from the migrations, one by one; a new one gets them
from ``models.py`` in one go (``engine._create_fresh``). These tests build one database
each way, on SQLite and PostgreSQL, and compare everything the inspector reports (column
order included), and check that the new store is stamped so later migrations apply to it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tracker.config import StoreURL
from tracker.exceptions import SchemaError
from tracker.store import SQLStore
from tracker.store._sql import engine as engine_module
from tracker.store._sql.engine import schema_revision
from tracker.store._sql.models import SCHEMA_REVISION, VERSION_TABLE, metadata

from .conftest import new_pg_database
from .test_migrations import MIGRATIONS, _alembic


@pytest.fixture
def other_url(store_url: str, tmp_path: Path) -> Iterator[str]:
    """A second empty database of the same kind as ``store_url``."""
    if store_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    with new_pg_database() as url:
        yield url


def _new(url: str) -> SQLStore:
    """A store whose schema is made by the new-store path (the one a first open takes)."""
    store = SQLStore(StoreURL.parse(url))
    store.describe()
    return store


def _migrated(url: str) -> SQLStore:
    """A store whose schema is made by every migration from empty, as before."""
    store = SQLStore(StoreURL.parse(url), migrate=False)
    engine_module._run_alembic(store.engine, None)
    return store


def _schema(conn: sa.Connection, *, sql: bool = True) -> dict[str, Any]:
    """Everything the inspector says about the tracker tables, in column order.

    With ``sql``, also SQLite's own ``CREATE`` statements for them.
    """
    insp = sa.inspect(conn)
    out: dict[str, Any] = {}
    for table in sorted(t for t in insp.get_table_names() if t.startswith("tracker_")):
        pk = insp.get_pk_constraint(table)
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c["default"], c.get("autoincrement"))
                for c in insp.get_columns(table)
            ],
            "indexes": sorted(
                (str(ix["name"]), tuple(ix["column_names"]), bool(ix["unique"]))
                for ix in insp.get_indexes(table)
            ),
            "pk": (pk["name"], tuple(pk["constrained_columns"])),
            "unique": sorted(str(u) for u in insp.get_unique_constraints(table)),
            "checks": sorted(str(c) for c in insp.get_check_constraints(table)),
            "foreign_keys": sorted(str(f) for f in insp.get_foreign_keys(table)),
        }
    if sql and conn.dialect.name == "sqlite":
        # What SQLite itself keeps: the statements, whitespace aside (ALTER TABLE ... ADD
        # COLUMN appends a column to the table's statement without a line break).
        for kind, name, sql in conn.exec_driver_sql(
            "SELECT type, name, sql FROM sqlite_master WHERE name LIKE 'tracker%' "
            "OR tbl_name LIKE 'tracker%'"
        ):
            out[f"{kind} {name}"] = re.sub(r"\s+", " ", sql or "")
    return out


def _model_diff(conn: sa.Connection) -> list[Any]:
    ctx = MigrationContext.configure(
        conn,
        opts={
            "include_name": lambda name, type_, _p: type_ != "table" or name.startswith("tracker_"),
            "version_table": VERSION_TABLE,
            "compare_type": True,
            "compare_server_default": True,
        },
    )
    diff = list(compare_metadata(ctx, metadata))
    if conn.dialect.name == "sqlite":
        # Alembic's SQLite comparison strips the quotes of a default only around one
        # character or more (``'(.+)'``), so the empty-string default of ``notes`` reads as
        # changed on every SQLite database; the inspector shows it as ``''`` on both.
        notes = ("modify_default", None, "tracker_runs", "notes")
        diff = [d for d in diff if not (len(d) == 1 and tuple(d[0][:4]) == notes)]
    return diff


def test_a_new_store_has_the_schema_the_migrations_build(store_url: str, other_url: str) -> None:
    # Given one store created by the new-store path and one migrated from empty
    with (
        closing(_new(store_url)) as new,
        closing(_migrated(other_url)) as migrated,
        new.engine.connect() as a,
        migrated.engine.connect() as b,
    ):
        # Then both are stamped at the head, the tables, columns (in order), types,
        # defaults, indexes and keys are the same, and neither differs from the models
        assert schema_revision(a) == schema_revision(b) == SCHEMA_REVISION
        made, expected = _schema(a), _schema(b)
        assert VERSION_TABLE in made
        assert set(made) == set(expected)
        for name in expected:
            assert made[name] == expected[name], name
        assert _model_diff(b) == []
        assert _model_diff(a) == []
        notes = {c["name"]: c["default"] for c in sa.inspect(a).get_columns("tracker_runs")}
        assert notes["notes"] in ("''", "''::text")  # what the models say, per dialect


def test_a_new_store_is_stamped_at_the_migrations_head(store_url: str, other_url: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with closing(_new(store_url)) as store, store.engine.begin() as conn:
        # Alembic reads the stamp as its own, so the next tracker's migrations apply to it
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert ctx.get_current_revision() == head == SCHEMA_REVISION
        _alembic(conn, "upgrade", "head")  # nothing to do
        assert schema_revision(conn) == SCHEMA_REVISION
        # and it goes down and up again through the migrations like a migrated store
        _alembic(conn, "downgrade", "0001")
        assert schema_revision(conn) == "0001"
        _alembic(conn, "upgrade", "head")
        # (The statement texts differ now: the 0002 downgrade rebuilds two tables on
        # SQLite, which keeps their names quoted, as on a migrated store going round.)
        remade = _schema(conn, sql=False)
    with closing(_migrated(other_url)) as migrated, migrated.engine.connect() as conn:
        assert remade == _schema(conn, sql=False)


def test_a_new_store_is_made_without_alembic(store_url: str) -> None:
    code = (
        "import sys, time, uuid; from tracker.store import open_store; "
        "from tracker.store.ops import CreateRun; s = open_store(sys.argv[1], queued=False); "
        "s.write([CreateRun(uuid.uuid4().hex, 'r', 'run', time.time())]); "
        "print('alembic' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, store_url], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_store_stamped_meanwhile_by_a_newer_tracker_is_refused(store_url: str) -> None:
    with closing(SQLStore(StoreURL.parse(store_url), migrate=False)) as store:
        # Given a database another process stamped with a revision this tracker lacks,
        # between this process's first look (no tracker table) and its lock
        with store.engine.begin() as conn:
            engine_module._VERSION.create(conn)
            conn.execute(engine_module._VERSION.insert().values(version_num="9999"))
        # Then the new-store path creates nothing and says which revision it found
        assert engine_module._create_fresh(store.engine) == "9999"
        with store.engine.connect() as conn:
            assert sa.inspect(conn).get_table_names() == [VERSION_TABLE]
        # and opening it is refused as any newer store is
        engine_module._upgraded.clear()
        with pytest.raises(SchemaError, match="upgrade the package"):
            engine_module.upgrade(store.engine, store.url)


def test_tracker_tables_without_a_stamp_are_left_to_alembic(store_url: str) -> None:
    with closing(SQLStore(StoreURL.parse(store_url), migrate=False)) as store:
        with store.engine.begin() as conn:
            metadata.tables["tracker_settings"].create(conn)
        assert engine_module._create_fresh(store.engine) is None  # upgrade() runs Alembic
        with store.engine.connect() as conn:
            assert sa.inspect(conn).get_table_names() == ["tracker_settings"]
