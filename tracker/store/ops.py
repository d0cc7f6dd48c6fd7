"""Write operations: the unit the store applies, the spool keeps and the archive replays.

Every write to a store is a list of ops. Each op is a small frozen dataclass of
JSON-friendly fields, so it can be appended to the local spool as one line and
replayed later. Applying an op twice has the same effect as applying it once
(rows carry ids chosen by the writer; upserts are keyed by natural keys), which
is what makes replay after a crash or an outage safe.

Times are seconds since the epoch (float). Metric values may be NaN or infinite.

Every op checks its fields when it is built (``__post_init__``, through
:mod:`tracker.store.validation`), so an op that exists is one every backend stores: no
writer (the run API, capture, the search, the server, ``tracker import``, a spool replay)
can skip the rules. Values are normalised on the way (numpy scalars to Python, tag numbers
to text, nested params flattened), which is also the single pass the run API relies on:
it builds ops from what the user passed instead of checking first. :meth:`LogMetrics.build`
is the one constructor that checks raw metrics once and then makes its rows without
checking them again. Unknown ``SetRunFields`` keys are the one rule left to the store
(a bug in a subsystem, not an input; the store refuses the whole batch).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tracker.exceptions import ValidationError
from tracker.records import JSONValue, ParamValue, RunStatus, now
from tracker.store._row_ids import artifact_row_id, data_row_id, metric_row_id, metric_row_ids
from tracker.store.validation import (
    ARTIFACT_KINDS,
    MAX_CELL_ID,
    MAX_DIGEST,
    MAX_HASH,
    MAX_NAME,
    MAX_SETTING,
    check_amount,
    check_attrs,
    check_count,
    check_hex,
    check_id,
    check_json,
    check_key,
    check_kind,
    check_media_type,
    check_name,
    check_notes,
    check_size,
    check_status,
    check_step,
    check_strings,
    check_tags,
    check_text,
    check_time,
    flatten_params,
    metric_value,
    validate_metrics,
)

__all__ = [
    "CreateRun",
    "EndRun",
    "Heartbeat",
    "LogArtifact",
    "LogCell",
    "LogData",
    "LogMetrics",
    "MetricRow",
    "Op",
    "SetAttrs",
    "SetParams",
    "SetRunFields",
    "SetSetting",
    "SetTags",
    "artifact_row_id",
    "data_row_id",
    "metric_row_id",
    "op_from_dict",
    "op_from_json",
    "op_to_dict",
    "op_to_json",
]


_set = object.__setattr__  # frozen dataclasses: how __post_init__ stores normalised values
_ROLES = frozenset({"logged", "input", "output"})


def _opt_text(what: str, value: object, limit: int | None = None) -> Any:
    return None if value is None else check_text(what, value, limit)


def _document(what: str, value: object) -> Any:
    """A JSON document field (an error, a data reference): a dict or ``None``."""
    if value is not None:
        if not isinstance(value, Mapping):
            raise ValidationError(f"{what} must be a dict or None, not {type(value).__name__}")
        check_json(what, value)
    return value


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One metric measurement inside :class:`LogMetrics` (``id`` makes replay idempotent)."""

    id: str
    key: str
    value: float
    step: int | None
    timestamp: float

    def __post_init__(self) -> None:
        check_id("metric row id", self.id)
        check_key("metric", self.key)
        _set(self, "value", metric_value(self.key, self.value))
        _set(self, "step", check_step(self.step))
        _set(self, "timestamp", check_time(f"metric {self.key!r} timestamp", self.timestamp))


def _metric_row(id: str, key: str, value: float, step: int | None, timestamp: float) -> MetricRow:
    """A row from values :meth:`LogMetrics.build` has just checked (no second pass)."""
    row: MetricRow = object.__new__(MetricRow)
    _set(row, "id", id)
    _set(row, "key", key)
    _set(row, "value", value)
    _set(row, "step", step)
    _set(row, "timestamp", timestamp)
    return row


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

    def __post_init__(self) -> None:
        check_id("run_id", self.run_id)
        _set(self, "name", check_name(self.name))
        check_kind(self.kind)
        _set(self, "start_time", check_time("start_time", self.start_time))
        check_id("parent_id", self.parent_id, optional=True)
        _set(self, "tags", check_tags(self.tags))
        _opt_text("source notebook", self.notebook)
        _opt_text("source cell_id", self.cell_id, MAX_CELL_ID)
        _opt_text("source script", self.script)
        _opt_text("owner", self.owner)
        # The environment is built by Environment.to_dict() (or rebuilt through
        # Environment.from_dict by an import); walking its hundreds of package names on
        # every start_run would cost more than the rest of the run's checks together.
        env = self.environment
        if env is not None and type(env) is not dict and not isinstance(env, Mapping):
            raise ValidationError(
                f"environment must be a dict or None, not {type(self.environment).__name__}"
            )
        check_status(self.status)


@dataclass(frozen=True, slots=True)
class EndRun:
    """Set a run's final status, end time and error."""

    OP: ClassVar[str] = "end_run"
    run_id: str
    status: str
    end_time: float
    error: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        check_id("run_id", self.run_id)
        if check_status(self.status) == RunStatus.RUNNING.value:
            raise ValidationError("a run cannot be ended with status 'running'")
        _set(self, "end_time", check_time("end_time", self.end_time))
        _document("error", self.error)


@dataclass(frozen=True, slots=True)
class SetParams:
    """Upsert params (already validated and flattened)."""

    OP: ClassVar[str] = "set_params"
    run_id: str
    params: Mapping[str, ParamValue]

    def __post_init__(self) -> None:
        check_id("run_id", self.run_id)
        _set(self, "params", flatten_params(self.params))


@dataclass(frozen=True, slots=True)
class LogMetrics:
    """Append metric measurements; the latest value per key is kept up to date."""

    OP: ClassVar[str] = "log_metrics"
    run_id: str
    metrics: Sequence[MetricRow]

    def __post_init__(self) -> None:
        check_id("run_id", self.run_id)
        rows = tuple(self.metrics)
        for r in rows:  # each MetricRow checked itself when it was built
            if type(r) is not MetricRow:
                raise ValidationError(f"LogMetrics takes MetricRow rows, not {type(r).__name__}")
        _set(self, "metrics", rows)

    @classmethod
    def build(
        cls,
        run_id: str,
        metrics: Mapping[str, object],
        step: object = None,
        timestamp: object = None,
    ) -> LogMetrics:
        """Check raw metrics once and make the op (what ``log_metrics`` calls).

        Args:
            run_id: The run.
            metrics: Name to real number (Python or numpy).
            step: ``None`` or an integer from 0 to 2**63 - 1.
            timestamp: Seconds since the epoch (default: now), kept to whole microseconds.

        Raises:
            ValidationError: names the metric and the rule; nothing is built then.
        """
        check_id("run_id", run_id)
        values = validate_metrics(metrics)
        s = check_step(step)
        ts = now() if timestamp is None else round(check_time("timestamp", timestamp) * 1e6) / 1e6
        op: LogMetrics = object.__new__(cls)
        _set(op, "run_id", run_id)
        ids = metric_row_ids(run_id, values.items(), s, ts)
        _set(
            op,
            "metrics",
            tuple(
                _metric_row(i, k, v, s, ts) for i, (k, v) in zip(ids, values.items(), strict=True)
            ),
        )
        return op


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

    def __post_init__(self) -> None:
        check_id("data row id", self.id)
        check_id("run_id", self.run_id)
        check_key("data", self.name, MAX_NAME)
        # The reference is built by DataRef.to_dict() (or rebuilt through DataRef.from_dict
        # by an import); only its digest is a column.
        if not isinstance(self.ref, Mapping):
            raise ValidationError(f"data {self.name!r}: ref must be a dict (DataRef.to_dict())")
        check_text(f"data {self.name!r} digest", self.ref.get("digest"), MAX_DIGEST)
        _set(self, "timestamp", check_time(f"data {self.name!r} timestamp", self.timestamp))
        if self.role not in _ROLES:
            raise ValidationError(
                f"data role must be one of {', '.join(sorted(_ROLES))}, got {self.role!r:.40}"
            )
        check_id("cell_record_id", self.cell_record_id, optional=True)


@dataclass(frozen=True, slots=True)
class SetTags:
    """Upsert tags; a ``None`` value deletes the tag."""

    OP: ClassVar[str] = "set_tags"
    run_id: str
    tags: Mapping[str, str | None]

    def __post_init__(self) -> None:
        check_id("run_id", self.run_id)
        _set(self, "tags", check_tags(self.tags, deletes=True))


@dataclass(frozen=True, slots=True)
class SetAttrs:
    """Upsert structured attributes (JSON values); a ``None`` value deletes the key."""

    OP: ClassVar[str] = "set_attrs"
    run_id: str
    attrs: Mapping[str, JSONValue]

    def __post_init__(self) -> None:
        check_id("run_id", self.run_id)
        _set(self, "attrs", check_attrs(self.attrs))


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

    def __post_init__(self) -> None:
        check_id("run_id", self.run_id)
        if not isinstance(self.fields, Mapping):
            raise ValidationError(f"fields must be a dict, not {type(self.fields).__name__}")
        fields = dict(self.fields)
        for key, value in fields.items():
            check = _FIELD_CHECKS.get(key)
            if check is not None:  # unknown keys: the store refuses the batch (see above)
                fields[key] = check(value)
        _set(self, "fields", fields)


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
    peak_memory_mb: float | None = None

    def __post_init__(self) -> None:
        check_id("cell record id", self.id)
        check_id("run_id", self.run_id)
        check_count("cell seq", self.seq)
        _opt_text("cell_id", self.cell_id, MAX_CELL_ID)
        check_count("execution_count", self.execution_count, optional=True)
        check_text("cell source", self.source)
        check_text("cell source_hash", self.source_hash, MAX_HASH)
        check_text("cell status", self.status, 16)
        _document("cell error", self.error)
        _set(self, "reads", check_strings("cell reads", self.reads))
        _set(self, "writes", check_strings("cell writes", self.writes))
        _set(self, "params", flatten_params(self.params))
        _set(self, "metrics", validate_metrics(self.metrics))
        _set(self, "started", check_time("cell started", self.started))
        check_amount("cell duration_ms", self.duration_ms)
        check_id("child_run_id", self.child_run_id, optional=True)
        _opt_text("cell fingerprint", self.fingerprint, MAX_HASH)
        _opt_text("cell outcome_hash", self.outcome_hash, MAX_HASH)
        check_amount("cell peak_memory_mb", self.peak_memory_mb, optional=True)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The writer of these running runs is alive at ``timestamp``."""

    OP: ClassVar[str] = "heartbeat"
    run_ids: Sequence[str]
    timestamp: float

    def __post_init__(self) -> None:
        ids = tuple(self.run_ids)
        for rid in ids:
            check_id("run_id", rid)
        _set(self, "run_ids", ids)
        _set(self, "timestamp", check_time("heartbeat", self.timestamp))


@dataclass(frozen=True, slots=True)
class LogArtifact:
    """Record an artifact (``ArtifactRef``) whose bytes are already in the artifact root.

    ``digest`` (xxh3-128) names the blob, ``sha256`` checks it on load; ``meta`` holds what
    the logging subsystem adds (a model's framework, a directory's file count).
    """

    OP: ClassVar[str] = "log_artifact"
    id: str
    run_id: str
    name: str
    digest: str
    sha256: str
    size: int
    media_type: str
    kind: str
    timestamp: float
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_id("artifact row id", self.id)
        check_id("run_id", self.run_id)
        check_key("artifact", self.name, MAX_NAME)
        check_hex(f"artifact {self.name!r} digest (xxh3-128)", self.digest, 32)
        check_hex(f"artifact {self.name!r} sha256", self.sha256, 64)
        check_size(f"artifact {self.name!r} size", self.size)
        _set(self, "media_type", check_media_type(self.media_type))
        if self.kind not in ARTIFACT_KINDS:
            raise ValidationError(
                f"artifact kind must be one of {', '.join(sorted(ARTIFACT_KINDS))}, "
                f"got {self.kind!r:.40}"
            )
        _set(self, "timestamp", check_time(f"artifact {self.name!r} timestamp", self.timestamp))
        if not isinstance(self.meta, Mapping):
            raise ValidationError(
                f"artifact {self.name!r} meta must be a dict, not {type(self.meta).__name__}"
            )
        check_json(f"artifact {self.name!r} meta", self.meta)
        _set(self, "meta", dict(self.meta))


@dataclass(frozen=True, slots=True)
class SetSetting:
    """Store-wide setting shared by every client (the artifact root); ``None`` deletes it."""

    OP: ClassVar[str] = "set_setting"
    key: str
    value: str | None
    timestamp: float

    def __post_init__(self) -> None:
        check_key("setting", self.key)
        _opt_text(f"setting {self.key!r}", self.value, MAX_SETTING)
        _set(self, "timestamp", check_time(f"setting {self.key!r} time", self.timestamp))


_FIELD_CHECKS: dict[str, Any] = {
    "name": check_name,
    "notes": check_notes,
    "environment": lambda v: _document_shallow("environment", v),
    "fingerprint": lambda v: _opt_text("fingerprint", v, MAX_HASH),
    "outcome_hash": lambda v: _opt_text("outcome_hash", v, MAX_HASH),
    "notebook": lambda v: _opt_text("source notebook", v),
    "cell_id": lambda v: _opt_text("source cell_id", v, MAX_CELL_ID),
    "parent_id": lambda v: check_id("parent_id", v, optional=True),
}


def _document_shallow(what: str, value: object) -> Any:
    if value is not None and not isinstance(value, Mapping):
        raise ValidationError(f"{what} must be a dict or None, not {type(value).__name__}")
    return value


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
    | LogArtifact
    | SetSetting
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
        LogArtifact,
        SetSetting,
    )
}


def op_to_dict(op: Op) -> dict[str, Any]:
    """A plain dict with the op's name under ``"op"``."""
    d: dict[str, Any] = {"op": op.OP}
    for name in _field_names(type(op)):
        v = getattr(op, name)
        t = type(v)
        # Most fields are ids, names and times: the exact scalar types need no conversion
        # and skip the isinstance checks against ABCs below (about 50 per run otherwise).
        if t is str or t is float or v is None or t is int or t is bool:
            pass
        elif t is dict:
            v = dict(v)
        elif isinstance(op, LogMetrics) and name == "metrics":
            v = [[m.id, m.key, m.value, m.step, m.timestamp] for m in v]
        elif isinstance(v, Mapping):
            v = dict(v)
        elif isinstance(v, tuple):
            v = list(v)
        d[name] = v
    return d


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    # ``dataclasses.fields`` walks the class's fields anew at every call (every spooled op).
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


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
