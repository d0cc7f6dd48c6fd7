"""SQLAlchemy table definitions. Every table is prefixed ``tracker_``.

The prefix and our own Alembic version table (``tracker_alembic_version``) let one
database hold Optuna's tables (``studies``, ``trials``, ``alembic_version``...) beside
ours: a search's study and its tracked trials live in the same file or schema.

Times are seconds since the epoch (``Float``): portable, cheap to index and compare.
JSON documents are ``Text`` written by our own encoder (NaN-safe, same bytes on every
dialect). A metric value that is NaN is stored as NULL with ``is_nan`` set, because
SQLite turns NaN into NULL on its own; the infinities are stored as they are. A metric
value of ``-0.0`` also sets ``neg_zero``: SQLite writes a REAL without a fraction as an
integer, so it would read back ``0.0``. Steps are int64 (``BIGINT`` on PostgreSQL; a
SQLite ``INTEGER`` already is). Column widths are the limits of
:mod:`tracker.store.validation`, which refuses longer values before any write.

The schema is changed only through migrations (``migrations/versions``), and these
tables must stay exactly what the migrations leave: a brand-new store is created from
them directly (``engine.upgrade``), while every existing store got its tables from the
migrations. So a column a migration adds is listed last in its table, where ``ADD
COLUMN`` put it (``neg_zero``, ``environment_digest``), and a test compares a database
created from these tables with one built by the migrations on every SQL backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

__all__ = [
    "CELL_PEAK_KEY",
    "SCHEMA_REVISION",
    "VERSION_TABLE",
    "artifacts",
    "attrs",
    "cell_metrics_json",
    "cells",
    "data",
    "environments",
    "latest_metrics",
    "metadata",
    "metrics",
    "model_aliases",
    "model_versions",
    "params",
    "registry_events",
    "runs",
    "settings",
    "split_cell_metrics",
    "tags",
]

#: The Alembic head this code expects; a test checks it equals the newest migration.
SCHEMA_REVISION = "0006"
VERSION_TABLE = "tracker_alembic_version"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(36)
KEY = String(250)
#: int64 everywhere: BIGINT on PostgreSQL; SQLite's INTEGER is 64-bit already, and keeping
#: its declared type spares a table rebuild in the migration.
STEP = BigInteger().with_variant(Integer(), "sqlite")

runs = Table(
    "tracker_runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(500), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", Float, nullable=False),
    Column("end_time", Float),
    Column("parent_id", ID),
    Column("notebook", Text),
    Column("cell_id", String(250)),
    Column("script", Text),
    Column("error", Text),  # JSON {type, message, traceback}
    Column("notes", Text, nullable=False, server_default=""),
    Column("owner", Text),  # "<host>:<spool path>" of the writing process
    Column("heartbeat", Float),
    Column("fingerprint", String(64)),  # hash of code + input data + params
    Column("outcome_hash", String(64)),  # hash of the metrics it produced
    # The run's environment, stored once per distinct environment (migration 0006).
    Column("environment_digest", String(64)),
    Index(None, "start_time"),
    Index(None, "parent_id", "start_time"),
    Index(None, "kind", "start_time"),
    Index(None, "status"),
    Index(None, "name"),
    Index(None, "fingerprint"),
)

#: Environments by content: the SHA-256 of the canonical JSON of ``Environment.to_dict()``
#: (``_codec.dumps``). Runs of one process (and of every process in the same environment)
#: share one row, so a run row carries a 64-character reference instead of a ~1.6 KB copy
#: of its package list. Rows are never updated; two writers inserting the same
#: environment insert the same bytes, and the second insert is ignored.
environments = Table(
    "tracker_environments",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("document", Text, nullable=False),
)

params = Table(
    "tracker_params",
    metadata,
    Column("run_id", ID, primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value_json", Text, nullable=False),  # keeps the type: 1 vs 1.0 vs "1" vs true
    Column("value_num", Float),  # numeric view for comparisons and sorting
    # A sort by a numeric param reads its page off this index, ties in run id order.
    Index(None, "key", "value_num", "run_id"),
)

tags = Table(
    "tracker_tags",
    metadata,
    Column("run_id", ID, primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "key", "run_id"),
)

attrs = Table(
    "tracker_attrs",
    metadata,
    Column("run_id", ID, primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value_json", Text, nullable=False),
)

metrics = Table(
    "tracker_metrics",
    metadata,
    Column("id", ID, primary_key=True),
    Column("run_id", ID, nullable=False),
    Column("key", KEY, nullable=False),
    Column("value", Float),
    Column("is_nan", Boolean, nullable=False, server_default="0"),
    Column("step", STEP),
    Column("timestamp", Float, nullable=False),
    Column("neg_zero", Boolean, nullable=False, server_default="0"),  # migration 0002
    Index(None, "run_id", "key", "step"),
)

latest_metrics = Table(
    "tracker_latest_metrics",
    metadata,
    Column("run_id", ID, primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Float),
    Column("is_nan", Boolean, nullable=False, server_default="0"),
    Column("step", STEP),
    Column("timestamp", Float, nullable=False),
    Column("neg_zero", Boolean, nullable=False, server_default="0"),  # migration 0002
    # A sort by a metric reads its page off this index, ties in run id order.
    Index(None, "key", "value", "run_id"),
)

data = Table(
    "tracker_data",
    metadata,
    Column("id", ID, primary_key=True),
    Column("run_id", ID, nullable=False),
    Column("cell_record_id", ID),
    Column("name", String(500), nullable=False),
    Column("role", String(16), nullable=False),  # logged | input | output
    Column("digest", String(128), nullable=False),
    Column("ref", Text, nullable=False),  # JSON DataRef.to_dict()
    Column("timestamp", Float, nullable=False),
    Index(None, "run_id", "role"),
    Index(None, "digest"),
    Index(None, "cell_record_id"),
)

cells = Table(
    "tracker_cells",
    metadata,
    Column("id", ID, primary_key=True),
    Column("run_id", ID, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("cell_id", String(250)),
    Column("execution_count", Integer),
    Column("source", Text, nullable=False),
    Column("source_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("reads", Text, nullable=False),  # JSON list
    Column("writes", Text, nullable=False),  # JSON list
    Column("params", Text, nullable=False),  # JSON object
    # JSON object; it also holds the cell's peak memory growth (CELL_PEAK_KEY): a column
    # of its own would need a migration for one optional figure (see split_cell_metrics).
    Column("metrics", Text, nullable=False),
    Column("started", Float, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("child_run_id", ID),
    Column("fingerprint", String(64)),
    Column("outcome_hash", String(64)),
    Index(None, "run_id", "seq"),
    Index(None, "fingerprint"),
    Index(None, "cell_id"),
)

#: Where a cell's peak memory growth (MB) is kept in ``tracker_cells.metrics``.
CELL_PEAK_KEY = "system.peak_rss_growth_mb"


def cell_metrics_json(metrics: Mapping[str, float], peak_mb: float | None) -> dict[str, float]:
    """The ``metrics`` document of a cell row: its metrics plus its peak memory growth."""
    out = dict(metrics)
    if peak_mb is not None:
        out[CELL_PEAK_KEY] = peak_mb
    return out


def split_cell_metrics(doc: Mapping[str, Any]) -> tuple[dict[str, float], float | None]:
    """A cell row's ``metrics`` document as (the metrics logged in the cell, peak MB)."""
    metrics = {k: float(v) for k, v in doc.items()}
    return metrics, metrics.pop(CELL_PEAK_KEY, None)


artifacts = Table(
    "tracker_artifacts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("run_id", ID, nullable=False),
    Column("name", String(500), nullable=False),
    Column("digest", String(32), nullable=False),  # xxh3-128 hex: the blob's name
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("kind", String(16), nullable=False),  # file | bytes | text | figure | directory | model
    Column("meta", Text, nullable=False),  # JSON object
    Column("timestamp", Float, nullable=False),
    # When set, `tracker gc` may collect the blob (unless another record or a registered
    # version names it): models of non-Pareto trials under keep_models="pareto".
    Column("released", Float),
    Index(None, "run_id", "name"),
    # `tracker trace` and `tracker gc` look artifacts up by content.
    Index(None, "digest"),
)

settings = Table(
    "tracker_settings",
    metadata,
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated", Float, nullable=False),
)

# --- the model registry (migration 0004) ------------------------------------------------------

#: One row per registered version. The primary key (name, version) is what keeps two
#: clients registering at once from taking the same number: the second insert fails and
#: the store retries with the next number.
model_versions = Table(
    "tracker_model_versions",
    metadata,
    Column("name", KEY, nullable=False),
    Column("version", Integer, nullable=False),
    Column("run_id", ID, nullable=False),
    Column("model_name", String(500), nullable=False),  # the artifact's name on the run
    Column("digest", String(32), nullable=False),  # pins the artifact's content
    Column("sha256", String(64), nullable=False),
    Column("meta", Text, nullable=False),  # JSON: the model's metadata as logged
    Column("created", Float, nullable=False),
    Column("created_by", String(250), nullable=False),
    PrimaryKeyConstraint("name", "version"),
    Index(None, "run_id"),
    Index(None, "digest"),
)

model_aliases = Table(
    "tracker_model_aliases",
    metadata,
    Column("name", KEY, nullable=False),
    Column("alias", KEY, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated", Float, nullable=False),
    PrimaryKeyConstraint("name", "alias"),
)

#: Every registry change, and every refused promotion, with who, when and why.
registry_events = Table(
    "tracker_registry_events",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", KEY, nullable=False),
    Column("action", String(32), nullable=False),
    Column("version", Integer),
    Column("alias", KEY),
    Column("previous", Integer),
    Column("who", String(250), nullable=False),
    Column("timestamp", Float, nullable=False),
    Column("reason", Text),
    Column("detail", Text, nullable=False),  # JSON object
    Index(None, "name", "timestamp"),
)
