"""Migration 0006: a store whose runs each hold a copy of their environment upgrades in place.

The copies move to ``tracker_environments`` (one row per distinct environment), every
run reads back the environment it had, and downgrading puts each run's copy back.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from tracker.config import StoreURL
from tracker.records import Environment
from tracker.store import RunQuery, SQLStore, open_store
from tracker.store._sql import engine as engine_module
from tracker.store._sql._codec import document_digest, dumps
from tracker.store._sql.engine import schema_revision
from tracker.store._sql.models import SCHEMA_REVISION
from tracker.store.ops import CreateRun

from .test_migrations import _alembic, _store

ENV_A: dict[str, Any] = {
    "python": "3.11.7",
    "hostname": "h1",
    "packages": {"numpy": "2.4.1", "pandas": "2.3.0", "é-pkg": "1.0"},
    "git_commit": "abc",
    "git_dirty": True,
    "hardware": {"cores": 8},
}
ENV_B = {**ENV_A, "hostname": "h2"}
#: What each run held before: two share A (one written with other key order and spacing,
#: as an older writer might have), one has B, one an empty document, one nothing.
OLD = {
    "r1": json.dumps(ENV_A),
    "r2": dumps(ENV_A),
    "r3": dumps(ENV_B),
    "r4": "{}",
    "r5": None,
}


def _old_store(url: str) -> None:
    old = SQLStore(StoreURL.parse(url), migrate=False)
    with old.engine.begin() as conn:
        _alembic(conn, "upgrade", "0005")
        for i, (rid, env) in enumerate(OLD.items()):
            conn.execute(
                sa.text(
                    "INSERT INTO tracker_runs (id, name, kind, status, start_time, notes, "
                    "environment) VALUES (:id, :id, 'run', 'finished', :t, '', :env)"
                ),
                {"id": rid, "t": float(i), "env": env},
            )
    old.close()
    engine_module._upgraded.clear()  # a fresh process would not have checked it yet


def _expected(rid: str) -> Environment | None:
    doc = json.loads(OLD[rid]) if OLD[rid] else None
    return Environment.from_dict(doc) if doc else None


def test_a_0005_store_keeps_each_runs_environment_stored_once(store_url: str) -> None:
    # Given a store at schema 0005 whose runs each hold a copy of their environment
    _old_store(store_url)
    # When this tracker opens it
    store = _store(store_url)
    # Then every run reads back the environment it had, by id and in a search
    for rid in OLD:
        assert store.get_run(rid).environment == _expected(rid), rid
    assert {r.id: r.environment for r in store.search_runs(RunQuery())} == {
        rid: _expected(rid) for rid in OLD
    }
    with store.engine.begin() as conn:
        assert schema_revision(conn) == SCHEMA_REVISION
        # And each distinct environment is stored once, under this code's digest
        rows = conn.execute(sa.text("SELECT digest, document FROM tracker_environments"))
        docs = dict(rows.all())
        assert docs == {document_digest(dumps(e)): dumps(e) for e in (ENV_A, ENV_B)}
        refs = dict(conn.execute(sa.text("SELECT id, environment_digest FROM tracker_runs")).all())
        a, b = document_digest(dumps(ENV_A)), document_digest(dumps(ENV_B))
        assert refs == {"r1": a, "r2": a, "r3": b, "r4": None, "r5": None}
    # And a new run in a migrated environment shares its row
    store.write([CreateRun("r6", "new", "run", 9.0, environment=ENV_A)])
    assert store.get_run("r6").environment == Environment.from_dict(ENV_A)
    with store.engine.begin() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM tracker_environments")).scalar_one()
        assert n == 2
        # And the migration can be undone: every run holds its copy again
        _alembic(conn, "downgrade", "0005")
        assert schema_revision(conn) == "0005"
        tables = set(sa.inspect(conn).get_table_names())
        assert "tracker_environments" not in tables
        back = dict(conn.execute(sa.text("SELECT id, environment FROM tracker_runs")).all())
    store.close()
    engine_module._upgraded.clear()
    got = {rid: json.loads(text) if text else None for rid, text in back.items()}
    assert got == {
        "r1": ENV_A,
        "r2": ENV_A,
        "r3": ENV_B,
        "r4": None,  # "{}" was read as no environment before, and is again
        "r5": None,
        "r6": ENV_A,
    }
    # And upgrading again gives the same answers
    again = open_store(store_url, queued=False)
    assert again.get_run("r3").environment == Environment.from_dict(ENV_B)
    assert again.get_run("r6").environment == Environment.from_dict(ENV_A)
    again.close()
    engine_module._upgraded.clear()


def test_a_0005_store_with_many_runs_migrates_page_by_page(sqlite_url: str) -> None:
    # More runs than one page of the migration's walk (1000), in two environments.
    old = SQLStore(StoreURL.parse(sqlite_url), migrate=False)
    with old.engine.begin() as conn:
        _alembic(conn, "upgrade", "0005")
        conn.execute(
            sa.text(
                "INSERT INTO tracker_runs (id, name, kind, status, start_time, notes, "
                "environment) VALUES (:id, 'r', 'run', 'finished', 1.0, '', :env)"
            ),
            [{"id": f"run-{i:05d}", "env": dumps(ENV_A if i % 3 else ENV_B)} for i in range(2500)],
        )
    old.close()
    engine_module._upgraded.clear()
    store = _store(sqlite_url)
    runs = store.search_runs(RunQuery(limit=3000))
    assert len(runs) == 2500
    assert all(
        r.environment == Environment.from_dict(ENV_A if int(r.id[4:]) % 3 else ENV_B) for r in runs
    )
    with store.engine.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM tracker_environments")).scalar() == 2
    store.close()
    engine_module._upgraded.clear()
