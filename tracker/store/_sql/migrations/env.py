"""Alembic environment for the tracker's own tables.

Runs only programmatically (``tracker.store._sql.engine.upgrade``), with the
connection passed in ``config.attributes["connection"]``. The version table is
``tracker_alembic_version`` and autogenerate looks only at ``tracker_*`` tables,
so Optuna's tables and its ``alembic_version`` in the same database are left alone.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from tracker.store._sql.models import VERSION_TABLE, metadata


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    if type_ == "table":
        return bool(name and name.startswith("tracker_"))
    return True


def run_migrations() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_name=include_name,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
