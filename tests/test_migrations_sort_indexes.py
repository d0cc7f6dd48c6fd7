"""Migration 0005: a store from before the sort-key indexes upgrades in place and back."""

from __future__ import annotations

import sqlalchemy as sa

from tracker.config import StoreURL
from tracker.store import RunQuery, SQLStore, parse_order_by
from tracker.store._sql import engine as engine_module
from tracker.store._sql.engine import schema_revision
from tracker.store._sql.models import SCHEMA_REVISION

from .test_migrations import _alembic, _store


def _indexes(conn: sa.Connection, table: str) -> set[str]:
    return {str(ix["name"]) for ix in sa.inspect(conn).get_indexes(table)}


def test_a_0003_store_gets_the_sort_key_indexes_and_keeps_its_records(store_url: str) -> None:
    # Given a store at schema 0003 with two runs, one lacking the metric and the param
    old = SQLStore(StoreURL.parse(store_url), migrate=False)
    with old.engine.begin() as conn:
        _alembic(conn, "upgrade", "0003")
        for rid, start in (("r1", 1.0), ("r2", 2.0)):
            conn.execute(
                sa.text(
                    "INSERT INTO tracker_runs (id, name, kind, status, start_time, notes) "
                    "VALUES (:id, :id, 'run', 'finished', :t, '')"
                ),
                {"id": rid, "t": start},
            )
        conn.execute(
            sa.text(
                "INSERT INTO tracker_latest_metrics (run_id, key, value, is_nan, neg_zero, "
                "step, timestamp) VALUES ('r1', 'acc', 0.5, false, false, NULL, 2.0)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO tracker_params (run_id, key, value_json, value_num) "
                "VALUES ('r1', 'C', '3', 3.0)"
            )
        )
    old.close()
    engine_module._upgraded.clear()  # a fresh process would not have checked it yet
    # When this tracker opens it
    store = _store(store_url)
    # Then sorts read the new indexes, with the same answers, missing values last
    for order in ("metrics.acc", "metrics.acc desc", "params.C", "params.C desc"):
        got = [r.id for r in store.search_runs(RunQuery(order_by=parse_order_by(order)))]
        assert got == ["r1", "r2"], order
    with store.engine.begin() as conn:
        assert schema_revision(conn) == SCHEMA_REVISION
        assert "ix_tracker_latest_metrics_key_value_run_id" in _indexes(
            conn, "tracker_latest_metrics"
        )
        assert "ix_tracker_latest_metrics_key_value" not in _indexes(conn, "tracker_latest_metrics")
        assert "ix_tracker_params_key_value_num_run_id" in _indexes(conn, "tracker_params")
        # And the migration can be undone: the two-column indexes come back
        _alembic(conn, "downgrade", "0003")
        assert schema_revision(conn) == "0003"
        assert "ix_tracker_latest_metrics_key_value" in _indexes(conn, "tracker_latest_metrics")
        assert "ix_tracker_params_key_value_num" in _indexes(conn, "tracker_params")
        assert "ix_tracker_params_key_value_num_run_id" not in _indexes(conn, "tracker_params")
    store.close()
    engine_module._upgraded.clear()
