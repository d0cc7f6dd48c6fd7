"""Write operations: the unit the store applies, the spool keeps and the archive replays.

Every write to a store is a list of ops. Each op is a small frozen dataclass of
JSON-friendly fields, so it can be appended to the local spool as one line and
replayed later. Applying an op twice has the same effect as applying it once
(rows carry ids chosen by the writer; upserts are keyed by natural keys), which
is what makes replay after a crash or an outage safe.

Times are seconds since the epoch (float). Metric values may be NaN or infinite.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tracker.records import JSONValue, ParamValue

__all__ = [
    "CreateRun",
    "EndRun",
    "Heartbeat",
    "LogCell",
    "LogData",
    "LogMetrics",
    "MetricRow",
    "Op",
    "SetAttrs",
    "SetParams",
    "SetRunFields",
    "SetTags",
    "data_row_id",
    "metric_row_id",
    "op_from_dict",
    "op_from_json",
    "op_to_dict",
    "op_to_json",
]


_ROW_NS = uuid.UUID("5b1f6a2e-7d1c-4c59-9a8e-0b6f3c1d2e4f")


def metric_row_id(run_id: str, key: str, value: float, step: int | None, timestamp: float) -> str:
    """Id of a metric measurement, derived from its content.

    Derived, not random, so that the same measurement written twice (a spool replay, an
    archive imported into the store it came from) is one row.
    """
    # Whole microseconds: what survives a round trip through datetime (archives, the API).
    micros = round(timestamp * 1_000_000)
    text = f"m\x1f{run_id}\x1f{key}\x1f{value!r}\x1f{step!r}\x1f{micros}"
    return uuid.uuid5(_ROW_NS, text).hex


def data_row_id(
    run_id: str, name: str, digest: str, role: str = "logged", cell_record_id: str | None = None
) -> str:
    """Id of a data reference row, derived from its content (see :func:`metric_row_id`)."""
    return uuid.uuid5(
        _ROW_NS, f"d\x1f{run_id}\x1f{cell_record_id}\x1f{role}\x1f{name}\x1f{digest}"
    ).hex


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One metric measurement inside :class:`LogMetrics` (``id`` makes replay idempotent)."""

    id: str
    key: str
    value: float
    step: int | None
    timestamp: float


@dataclass(frozen=True, slots=True)
class CreateRun:
    """Insert a run if no run with this id exists (never overwrites)."""

    OP: ClassVar[str] = "create_run"
    run_id: str
    name: str
    kind: str
    start_time: float
    parent_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    notebook: str | None = None
    cell_id: str | None = None
    script: str | None = None
    environment: Mapping[str, Any] | None = None
    owner: str | None = None  # "<host>:<spool path>"; lets the store tell a dead writer
    status: str = "running"


@dataclass(frozen=True, slots=True)
class EndRun:
    """Set a run's final status, end time and error."""

    OP: ClassVar[str] = "end_run"
    run_id: str
    status: str
    end_time: float
    error: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SetParams:
    """Upsert params (already validated and flattened)."""

    OP: ClassVar[str] = "set_params"
    run_id: str
    params: Mapping[str, ParamValue]


@dataclass(frozen=True, slots=True)
class LogMetrics:
    """Append metric measurements; the latest value per key is kept up to date."""

    OP: ClassVar[str] = "log_metrics"
    run_id: str
    metrics: Sequence[MetricRow]


@dataclass(frozen=True, slots=True)
class LogData:
    """Record a data reference.

    ``role`` is ``"logged"`` for ``run.log_data``, ``"input"``/``"output"`` for the
    data a notebook cell read or wrote (then ``cell_record_id`` names the cell record).
    """

    OP: ClassVar[str] = "log_data"
    id: str
    run_id: str
    name: str
    ref: Mapping[str, Any]  # DataRef.to_dict()
    timestamp: float
    role: str = "logged"
    cell_record_id: str | None = None


@dataclass(frozen=True, slots=True)
class SetTags:
    """Upsert tags; a ``None`` value deletes the tag."""

    OP: ClassVar[str] = "set_tags"
    run_id: str
    tags: Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class SetAttrs:
    """Upsert structured attributes (JSON values); a ``None`` value deletes the key."""

    OP: ClassVar[str] = "set_attrs"
    run_id: str
    attrs: Mapping[str, JSONValue]


@dataclass(frozen=True, slots=True)
class SetRunFields:
    """Change scalar fields of a run. Only the fields named in ``fields`` are written."""

    OP: ClassVar[str] = "set_run_fields"
    run_id: str
    fields: Mapping[str, Any]
    # Allowed keys: name, notes, environment, fingerprint, outcome_hash, notebook, cell_id,
    # parent_id. The store rejects anything else.
    ALLOWED: ClassVar[frozenset[str]] = frozenset(
        {
            "name",
            "notes",
            "environment",
            "fingerprint",
            "outcome_hash",
            "notebook",
            "cell_id",
            "parent_id",
        }
    )


@dataclass(frozen=True, slots=True)
class LogCell:
    """Insert one notebook cell execution record (see ``records.CellExecution``).

    Inputs and outputs are written as :class:`LogData` ops with roles ``input`` and
    ``output`` pointing at ``id``.
    """

    OP: ClassVar[str] = "log_cell"
    id: str
    run_id: str
    seq: int
    cell_id: str | None
    execution_count: int | None
    source: str
    source_hash: str
    status: str
    error: Mapping[str, Any] | None
    reads: Sequence[str]
    writes: Sequence[str]
    params: Mapping[str, ParamValue]
    metrics: Mapping[str, float]
    started: float
    duration_ms: float
    child_run_id: str | None = None
    fingerprint: str | None = None
    outcome_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The writer of these running runs is alive at ``timestamp``."""

    OP: ClassVar[str] = "heartbeat"
    run_ids: Sequence[str]
    timestamp: float


Op = (
    CreateRun
    | EndRun
    | SetParams
    | LogMetrics
    | LogData
    | SetTags
    | SetAttrs
    | SetRunFields
    | LogCell
    | Heartbeat
)

_BY_NAME: dict[str, type[Any]] = {
    cls.OP: cls
    for cls in (
        CreateRun,
        EndRun,
        SetParams,
        LogMetrics,
        LogData,
        SetTags,
        SetAttrs,
        SetRunFields,
        LogCell,
        Heartbeat,
    )
}


def op_to_dict(op: Op) -> dict[str, Any]:
    """A plain dict with the op's name under ``"op"``."""
    d: dict[str, Any] = {"op": op.OP}
    for f in dataclasses.fields(op):
        v = getattr(op, f.name)
        if isinstance(op, LogMetrics) and f.name == "metrics":
            v = [[m.id, m.key, m.value, m.step, m.timestamp] for m in v]
        elif isinstance(v, Mapping):
            v = dict(v)
        elif isinstance(v, tuple):
            v = list(v)
        d[f.name] = v
    return d


def op_from_dict(d: Mapping[str, Any]) -> Op:
    """Inverse of :func:`op_to_dict`.

    Raises:
        ValueError: unknown op name or missing fields.
    """
    data = dict(d)
    name = data.pop("op", None)
    cls = _BY_NAME.get(str(name))
    if cls is None:
        raise ValueError(f"unknown op {name!r}")
    if cls is LogMetrics:
        data["metrics"] = tuple(
            MetricRow(id=m[0], key=m[1], value=float(m[2]), step=m[3], timestamp=m[4])
            for m in data["metrics"]
        )
    op: Op = cls(**data)
    return op


def op_to_json(op: Op) -> str:
    """One line of JSON (NaN and infinities allowed: the spool is our own format)."""
    return json.dumps(op_to_dict(op), separators=(",", ":"), allow_nan=True)


def op_from_json(text: str) -> Op:
    """Inverse of :func:`op_to_json`."""
    return op_from_dict(json.loads(text))
