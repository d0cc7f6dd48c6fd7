"""Indexes a sort by a metric or a param reads in order, run id included

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 13:45:00.000000

A page sorted by ``metrics.K`` (or a numeric ``params.K``) is read off
``tracker_latest_metrics (key, value)`` (``tracker_params (key, value_num)``); with the
run id as the index's last column, ties come out in the page's order too (no sort of
the tied rows), and a bounded count or a cursor's seek finds the run id in the index
without visiting the table. Each new index replaces the one it extends. Only indexes
change, so no row is touched; downgrading restores the two-column indexes.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_INDEXES = (
    ("tracker_latest_metrics", "value"),
    ("tracker_params", "value_num"),
)


def upgrade() -> None:
    for table, col in _INDEXES:
        op.create_index(op.f(f"ix_{table}_key_{col}_run_id"), table, ["key", col, "run_id"])
        op.drop_index(op.f(f"ix_{table}_key_{col}"), table_name=table)


def downgrade() -> None:
    for table, col in _INDEXES:
        op.create_index(op.f(f"ix_{table}_key_{col}"), table, ["key", col])
        op.drop_index(op.f(f"ix_{table}_key_{col}_run_id"), table_name=table)
