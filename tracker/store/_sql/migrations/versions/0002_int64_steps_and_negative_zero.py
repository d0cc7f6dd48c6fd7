"""int64 steps on PostgreSQL; keep -0.0 metric values on SQLite

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 10:00:00.000000

Steps are int64 on every backend (docs/records.md): PostgreSQL's ``INTEGER`` step columns
become ``BIGINT`` (SQLite's ``INTEGER`` already holds 64 bits, so SQLite tables are not
rebuilt). ``neg_zero`` marks a metric value of ``-0.0``, which SQLite would otherwise read
back as ``0.0`` (it writes REAL values without a fraction as integers). Existing rows get
``neg_zero = false``: what SQLite already turned into ``0.0`` cannot be recovered.
Downgrading drops ``neg_zero`` and, on PostgreSQL, fails while a step needs 64 bits
(it refuses rather than truncates).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = ("tracker_metrics", "tracker_latest_metrics")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _TABLES:
        op.add_column(
            table, sa.Column("neg_zero", sa.Boolean(), server_default="0", nullable=False)
        )
        if postgres:
            op.alter_column(
                table,
                "step",
                type_=sa.BigInteger(),
                existing_type=sa.Integer(),
                existing_nullable=True,
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("neg_zero")
            if postgres:
                batch_op.alter_column(
                    "step",
                    type_=sa.Integer(),
                    existing_type=sa.BigInteger(),
                    existing_nullable=True,
                )
