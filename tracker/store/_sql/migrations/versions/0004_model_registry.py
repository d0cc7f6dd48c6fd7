"""The model registry: versions, aliases and the history of registry events

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 12:45:00.000000

``tracker_model_versions`` holds one row per registered version (primary key name +
version, which keeps concurrent registrations from sharing a number), pinning a logged
model by its run, artifact name and digest. ``tracker_model_aliases`` maps a model's
aliases to versions. ``tracker_registry_events`` keeps every registration, alias move
and refused promotion with who, when and why. All three are new tables. A nullable
``released`` column on ``tracker_artifacts`` marks records whose blobs ``tracker gc`` may
collect (``optimize(keep_models="pareto")``); existing rows stay NULL (kept). Downgrading
drops the tables and the column.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tracker_artifacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("released", sa.Float(), nullable=True))
    op.create_table(
        "tracker_model_versions",
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("model_name", sa.String(length=500), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_tracker_model_versions")),
    )
    with op.batch_alter_table("tracker_model_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracker_model_versions_digest"), ["digest"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_tracker_model_versions_run_id"), ["run_id"], unique=False
        )
    op.create_table(
        "tracker_model_aliases",
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("alias", sa.String(length=250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", "alias", name=op.f("pk_tracker_model_aliases")),
    )
    op.create_table(
        "tracker_registry_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("alias", sa.String(length=250), nullable=True),
        sa.Column("previous", sa.Integer(), nullable=True),
        sa.Column("who", sa.String(length=250), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracker_registry_events")),
    )
    with op.batch_alter_table("tracker_registry_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracker_registry_events_name_timestamp"),
            ["name", "timestamp"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("tracker_registry_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracker_registry_events_name_timestamp"))
    op.drop_table("tracker_registry_events")
    op.drop_table("tracker_model_aliases")
    with op.batch_alter_table("tracker_model_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracker_model_versions_run_id"))
        batch_op.drop_index(batch_op.f("ix_tracker_model_versions_digest"))
    op.drop_table("tracker_model_versions")
    with op.batch_alter_table("tracker_artifacts", schema=None) as batch_op:
        batch_op.drop_column("released")
