"""Schema: migrations match the models, Optuna shares the database, version safety."""

from __future__ import annotations

import math
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tracker.config import StoreURL
from tracker.exceptions import SchemaError
from tracker.store import RunQuery, SQLStore, open_store
from tracker.store._sql import engine as engine_module
from tracker.store._sql.engine import schema_revision
from tracker.store._sql.models import SCHEMA_REVISION, VERSION_TABLE, metadata
from tracker.store.ops import CreateRun, LogMetrics, MetricRow, SetParams

MIGRATIONS = Path(engine_module.__file__).parent / "migrations"


def _store(url: str) -> SQLStore:
    s = open_store(url, queued=False)
    assert isinstance(s, SQLStore)
    return s


def test_schema_revision_constant_is_the_migration_head() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_REVISION


def test_migrations_produce_exactly_the_models(store_url: str) -> None:
    # Every migration from empty, as a store made before new stores were created from the
    # models got its tables (test_migrations_fresh.py compares the two ways).
    store = SQLStore(StoreURL.parse(store_url), migrate=False)
    engine_module._run_alembic(store.engine, None)
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_name": lambda name, type_, _p: (
                    type_ != "table" or name.startswith("tracker_")
                ),
                "version_table": VERSION_TABLE,
            },
        )
        diff = compare_metadata(ctx, metadata)
    assert diff == []
    store.close()


def _optuna_study(url: str, name: str) -> int:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(StoreURL.parse(url).connect_url())
    try:
        study = optuna.create_study(storage=storage, study_name=name)
        study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=3)
        return len(study.trials)
    finally:
        storage.engine.dispose()


def _tracker_run(url: str) -> str:
    store = _store(url)
    rid = uuid.uuid4().hex
    store.write([CreateRun(rid, "r", "run", time.time()), SetParams(rid, {"x": 1})])
    store.close()
    return rid


@pytest.mark.parametrize("order", ["tracker-first", "optuna-first"])
def test_tracker_and_optuna_share_one_database(store_url: str, order: str) -> None:
    if order == "tracker-first":
        rid = _tracker_run(store_url)
        _optuna_study(store_url, "s1")
    else:
        _optuna_study(store_url, "s1")
        rid = _tracker_run(store_url)
    # Both keep working on the shared database, each with its own version table.
    _optuna_study(store_url, "s2")
    store = _store(store_url)
    assert store.get_run(rid).params == {"x": 1}
    storage = optuna.storages.RDBStorage(StoreURL.parse(store_url).connect_url())
    assert len(optuna.load_study(study_name="s1", storage=storage).trials) == 3
    storage.engine.dispose()
    with store.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        ours = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one()
    assert {"studies", "trials", "tracker_runs", VERSION_TABLE} <= tables
    assert ours == SCHEMA_REVISION
    store.close()


def test_a_database_from_a_newer_tracker_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    _tracker_run(url)
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    eng.dispose()
    engine_module._upgraded.clear()  # a fresh process would not have checked it yet
    with pytest.raises(SchemaError, match="upgrade the package"):
        _store(url).search_runs(RunQuery())


def test_many_processes_creating_a_fresh_database_migrate_it_once(store_url: str) -> None:
    code = (
        "import sys, time, uuid; from tracker.store import open_store; "
        "from tracker.store.ops import CreateRun; s = open_store(sys.argv[1], queued=False); "
        "s.write([CreateRun(uuid.uuid4().hex, 'r', 'run', time.time())]); print('ok')"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, store_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err.decode()
        assert out.decode().strip() == "ok"
    store = _store(store_url)
    assert store.count_runs(RunQuery()) == 4
    store.close()


def _alembic(conn: sa.Connection, action: str, revision: str) -> None:
    from alembic import command

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    getattr(command, action)(cfg, revision)


def test_a_0001_store_upgrades_in_place_and_keeps_its_records(store_url: str) -> None:
    # Given a store made by the previous release (schema 0001) with a run and a metric in it
    url = StoreURL.parse(store_url)
    old = SQLStore(url, migrate=False)
    with old.engine.begin() as conn:
        _alembic(conn, "upgrade", "0001")
        conn.execute(
            sa.text(
                "INSERT INTO tracker_runs (id, name, kind, status, start_time, notes) "
                "VALUES ('r1', 'old', 'run', 'finished', 1.0, '')"
            )
        )
        for table, extra in (("tracker_metrics", ", id"), ("tracker_latest_metrics", "")):
            conn.execute(
                sa.text(
                    f"INSERT INTO {table} (run_id, key, value, is_nan, step, timestamp{extra}) "
                    f"VALUES ('r1', 'acc', 0.5, false, 7, 2.0{', :id' if extra else ''})"
                ),
                {"id": "m1"} if extra else {},
            )
    old.close()
    engine_module._upgraded.clear()  # a fresh process would not have checked it yet
    # When this tracker opens it
    store = _store(store_url)
    # Then the records are still there, the schema is the models', and the new rules hold
    run = store.get_run("r1")
    assert (run.name, run.metrics) == ("old", {"acc": 0.5})
    assert [(m.step, m.value) for m in store.metric_history("r1", "acc")] == [(7, 0.5)]
    store.write(
        [LogMetrics("r1", [MetricRow("m2", "neg", -0.0, 2**62, 3.0)])]  # int64 step, -0.0
    )
    (m,) = store.metric_history("r1", "neg")
    assert m.step == 2**62
    assert math.copysign(1.0, m.value) == -1.0
    with store.engine.connect() as conn:
        assert schema_revision(conn) == SCHEMA_REVISION
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_name": lambda name, type_, _p: (
                    type_ != "table" or name.startswith("tracker_")
                ),
                "version_table": VERSION_TABLE,
            },
        )
        assert compare_metadata(ctx, metadata) == []
        steps = {c["name"]: c["type"] for c in sa.inspect(conn).get_columns("tracker_metrics")}
        if url.kind == "postgresql":
            assert isinstance(steps["step"], sa.BigInteger)
    # And the migration can be undone (back to 0001, the old columns and types) once no
    # step needs 64 bits (PostgreSQL refuses to narrow the column before that)
    with store.engine.begin() as conn:
        for table in ("tracker_metrics", "tracker_latest_metrics"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE key = 'neg'"))
        _alembic(conn, "downgrade", "0001")
        assert schema_revision(conn) == "0001"
        cols = {c["name"] for c in sa.inspect(conn).get_columns("tracker_metrics")}
        assert "neg_zero" not in cols
    store.close()
    engine_module._upgraded.clear()
