"""Artifacts (content-addressed blobs logged on runs) and store-wide settings

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 09:00:00.000000

``tracker_artifacts`` holds one row per logged artifact: its run and name, the xxh3-128
digest that names its blob in the artifact root, the SHA-256 it is checked against, size,
media type, kind and a JSON ``meta``. ``tracker_settings`` holds settings every client of
the store shares (the artifact root's URL, never a credential). Both are new tables, so
the upgrade touches no existing row; downgrading drops them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracker_artifacts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracker_artifacts")),
    )
    with op.batch_alter_table("tracker_artifacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tracker_artifacts_digest"), ["digest"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_tracker_artifacts_run_id_name"), ["run_id", "name"], unique=False
        )
    op.create_table(
        "tracker_settings",
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_tracker_settings")),
    )


def downgrade() -> None:
    op.drop_table("tracker_settings")
    with op.batch_alter_table("tracker_artifacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracker_artifacts_run_id_name"))
        batch_op.drop_index(batch_op.f("ix_tracker_artifacts_digest"))
    op.drop_table("tracker_artifacts")
