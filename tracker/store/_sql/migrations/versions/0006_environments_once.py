"""Environments stored once per distinct environment

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 15:50:00.000000

Every run row carried its own copy of its environment (~1.6 KB of package list), though
the runs of one process, and of every process in the same environment, share it. The
documents move to ``tracker_environments``, keyed by the SHA-256 of their canonical JSON
(the store's own ``dumps``: sorted keys, compact), and ``tracker_runs.environment``
becomes ``environment_digest``. The runs are walked in id order, a thousand at a time,
so a large store is migrated in bounded memory; documents are re-encoded first, so a
digest is the one this code computes for the same environment when it logs a new run.
Downgrading puts each run's copy back and drops the table.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_PAGE = 1000


# As ``tracker.store._sql._codec`` writes and addresses documents; copied so the migration
# stays what it was whatever that module becomes.
def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=True, sort_keys=True)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _drop_run_column(name: str) -> None:
    # SQLite has had ALTER TABLE ... DROP COLUMN since 3.35 (for a column outside every
    # index and constraint, as both are); before, Alembic copies the table. The native
    # statement keeps the first migration of a fresh database cheap.
    if op.get_bind().dialect.name != "sqlite" or sqlite3.sqlite_version_info >= (3, 35):
        op.drop_column("tracker_runs", name)
    else:
        with op.batch_alter_table("tracker_runs") as batch:
            batch.drop_column(name)


def upgrade() -> None:
    op.create_table(
        "tracker_environments",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_tracker_environments")),
    )
    op.add_column("tracker_runs", sa.Column("environment_digest", sa.String(length=64)))
    conn = op.get_bind()
    envs = sa.table(
        "tracker_environments", sa.column("digest", sa.String), sa.column("document", sa.Text)
    )
    runs = sa.table(
        "tracker_runs",
        sa.column("id", sa.String),
        sa.column("environment", sa.Text),
        sa.column("environment_digest", sa.String),
    )
    seen: set[str] = set()
    last = ""
    while True:
        page = conn.execute(
            sa.select(runs.c.id, runs.c.environment)
            .where((runs.c.id > last) & runs.c.environment.is_not(None))
            .order_by(runs.c.id)
            .limit(_PAGE)
        ).all()
        if not page:
            break
        last = page[-1].id
        refs = []
        for rid, text in page:
            doc = json.loads(text)
            if not doc:  # "{}" read back as no environment, and still does
                continue
            canonical = _dumps(doc)
            digest = _digest(canonical)
            if digest not in seen:
                seen.add(digest)
                conn.execute(sa.insert(envs).values(digest=digest, document=canonical))
            refs.append({"b_id": rid, "b_digest": digest})
        if refs:
            conn.execute(
                sa.update(runs)
                .where(runs.c.id == sa.bindparam("b_id"))
                .values(environment_digest=sa.bindparam("b_digest")),
                refs,
            )
    _drop_run_column("environment")


def downgrade() -> None:
    op.add_column("tracker_runs", sa.Column("environment", sa.Text()))
    op.execute(
        "UPDATE tracker_runs SET environment = (SELECT e.document FROM tracker_environments e "
        "WHERE e.digest = tracker_runs.environment_digest) "
        "WHERE environment_digest IS NOT NULL"
    )
    _drop_run_column("environment_digest")
    op.drop_table("tracker_environments")
