"""Immutable records: what the tracker stores and returns.

These frozen dataclasses are the vocabulary shared by every layer: the store turns
rows into them, the run handle turns logging calls into them, the server serialises
them to JSON (``to_dict``), and cards read them. They carry no behaviour that talks
to a database, so they are safe to pass between threads and to cache.

Times are timezone-aware UTC ``datetime`` objects. Metric values keep NaN and the
infinities exactly (JSON uses the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tracker.display import (
    clip,
    figures,
    html_fields,
    html_table,
    html_view,
    human_bytes,
    one_line,
)

__all__ = [
    "DATA_HEADERS",
    "CellExecution",
    "DataRef",
    "Environment",
    "JSONValue",
    "Metric",
    "ParamValue",
    "Run",
    "RunError",
    "RunKind",
    "RunStatus",
    "Source",
    "float_from_json",
    "float_to_json",
    "from_timestamp",
    "now",
    "to_timestamp",
]

#: A parameter value after validation (nested dicts are flattened with dots first).
ParamValue = str | int | float | bool | None
#: Anything ``json.dumps`` accepts.
JSONValue = Any


class RunStatus(StrEnum):
    """Lifecycle of a run. Only ``running`` is not final."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class RunKind(StrEnum):
    """What a run stands for; it decides how the panel and cards show it."""

    RUN = "run"  # an explicit tracker.start_run()
    SESSION = "session"  # one notebook kernel session (parent of its tracked cells)
    CELL = "cell"  # a %%track cell run (child of its session)
    SEARCH = "search"  # a hyperparameter search (parent of its trials)
    TRIAL = "trial"  # one trial of a search


def now() -> float:
    """Seconds since the epoch, rounded to whole microseconds.

    Whole microseconds survive a round trip through ``datetime`` exactly, so a time read
    back from a record compares equal to the time that was stored (filters such as
    ``started_after=run.start_time`` include that run).
    """
    return time.time_ns() // 1000 / 1_000_000


def to_timestamp(dt: datetime) -> float:
    """Seconds since the epoch for an aware datetime (naive ones are taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def from_timestamp(ts: float) -> datetime:
    """Aware UTC datetime from seconds since the epoch."""
    return datetime.fromtimestamp(ts, tz=UTC)


def float_to_json(value: float) -> float | str:
    """Encode a float for strict JSON, keeping NaN and the infinities as strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def float_from_json(value: float | int | str) -> float:
    """Inverse of :func:`float_to_json`."""
    return float(value)  # float("NaN"), float("Infinity") and float("-Infinity") all parse


@dataclass(frozen=True, slots=True)
class Metric:
    """One measurement of a metric.

    Attributes:
        key: Metric name.
        value: The value; NaN and the infinities are kept as they are.
        step: Optional step (epoch, iteration); ``None`` for a single value.
        timestamp: When it was logged.
    """

    key: str
    value: float
    step: int | None
    timestamp: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "key": self.key,
            "value": float_to_json(self.value),
            "step": self.step,
            "timestamp": self.timestamp.isoformat(),
        }


#: Headers of :meth:`DataRef.row`.
DATA_HEADERS = ["name", "kind", "shape", "rows", "digest", "partial"]


@dataclass(frozen=True, slots=True)
class DataRef:
    """A content hash of a piece of data, with enough shape to recognise it.

    Attributes:
        algorithm: Hash algorithm, e.g. ``"xxh3-128"``.
        digest: Hex digest. Equal content (values, dtypes, shape, column names, index)
            gives an equal digest on every machine.
        kind: ``"ndarray"``, ``"dataframe"``, ``"series"``, ``"bytes"``, ``"file"``,
            ``"directory"`` or ``"object"``.
        nbytes: Number of bytes hashed.
        shape: Shape, if the data has one.
        dtypes: Column name (or ``""`` for arrays and series) to dtype string.
        rows: Number of rows, if the data has rows.
        nulls: Column name to number of missing values, where that is defined.
        partial: ``True`` when not all of the content went into the digest (and the
            reason is in ``profile["partial_reason"]``).
        path: For files and directories, the path as given (absolute).
        profile: A small summary used to explain differences between two versions
            (per-column min/max/mean, file counts...). Never needed for identity.
    """

    algorithm: str
    digest: str
    kind: str
    nbytes: int
    shape: tuple[int, ...] | None = None
    dtypes: Mapping[str, str] | None = None
    rows: int | None = None
    nulls: Mapping[str, int] | None = None
    partial: bool = False
    path: str | None = None
    profile: Mapping[str, Any] | None = None

    @property
    def short(self) -> str:
        """The first 12 hex digits of the digest, for display."""
        return self.digest[:12]

    @property
    def shape_text(self) -> str:
        """``150x5`` (empty without a shape)."""
        return "x".join(str(n) for n in self.shape) if self.shape is not None else ""

    def __repr__(self) -> str:
        return one_line(
            "DataRef",
            self.kind,
            self.shape_text,
            f"{self.algorithm}:{self.short}",
            human_bytes(self.nbytes),
            "partial" if self.partial else None,
            repr(clip(self.path, 60)) if self.path else None,
        )

    def _repr_html_(self) -> str:
        reason = (self.profile or {}).get("partial_reason") if self.partial else None
        fields = [
            ("digest", f"{self.algorithm}:{self.digest}"),
            ("rows", self.rows),
            ("bytes hashed", human_bytes(self.nbytes)),
            ("partial", reason or ("yes" if self.partial else None)),
            ("path", self.path),
        ]
        nulls = self.nulls or {}
        columns = [(c, t, nulls.get(c)) for c, t in (self.dtypes or {}).items()]
        return html_view(
            f"DataRef {self.kind}",
            self.shape_text,
            [
                ("", html_fields(fields)),
                ("columns", html_table(columns[:40], ["column", "dtype", "nulls"])),
            ],
        )

    def row(self, name: str) -> list[Any]:
        """This reference as a table row under ``name`` (see :data:`DATA_HEADERS`)."""
        return [name, self.kind, self.shape_text, self.rows, self.short, self.partial or None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (round-trips through :meth:`from_dict`)."""
        return {
            "algorithm": self.algorithm,
            "digest": self.digest,
            "kind": self.kind,
            "nbytes": self.nbytes,
            "shape": list(self.shape) if self.shape is not None else None,
            "dtypes": dict(self.dtypes) if self.dtypes is not None else None,
            "rows": self.rows,
            "nulls": dict(self.nulls) if self.nulls is not None else None,
            "partial": self.partial,
            "path": self.path,
            "profile": dict(self.profile) if self.profile is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataRef:
        """Build from :meth:`to_dict` output."""
        shape = d.get("shape")
        return cls(
            algorithm=str(d["algorithm"]),
            digest=str(d["digest"]),
            kind=str(d["kind"]),
            nbytes=int(d["nbytes"]),
            shape=tuple(int(x) for x in shape) if shape is not None else None,
            dtypes=d.get("dtypes"),
            rows=d.get("rows"),
            nulls=d.get("nulls"),
            partial=bool(d.get("partial", False)),
            path=d.get("path"),
            profile=d.get("profile"),
        )


@dataclass(frozen=True, slots=True)
class Environment:
    """Where a run ran.

    Attributes:
        python: Python version (``platform.python_version()``).
        implementation: e.g. ``"CPython"``.
        platform: ``platform.platform()``.
        hostname: Machine name.
        packages: Distribution name to version, for the packages the process imported.
        git_commit: Commit of the enclosing git repository, if any.
        git_dirty: Whether that repository had uncommitted changes.
        git_root: Root of that repository.
        hardware: CPU model, logical cores, memory: what a latency figure depends on.
    """

    python: str
    implementation: str
    platform: str
    hostname: str
    packages: Mapping[str, str] = field(default_factory=dict)
    git_commit: str | None = None
    git_dirty: bool | None = None
    git_root: str | None = None
    hardware: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "python": self.python,
            "implementation": self.implementation,
            "platform": self.platform,
            "hostname": self.hostname,
            "packages": dict(self.packages),
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "git_root": self.git_root,
            "hardware": dict(self.hardware),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Environment:
        """Build from :meth:`to_dict` output."""
        return cls(
            python=str(d.get("python", "")),
            implementation=str(d.get("implementation", "")),
            platform=str(d.get("platform", "")),
            hostname=str(d.get("hostname", "")),
            packages=dict(d.get("packages") or {}),
            git_commit=d.get("git_commit"),
            git_dirty=d.get("git_dirty"),
            git_root=d.get("git_root"),
            hardware=dict(d.get("hardware") or {}),
        )


@dataclass(frozen=True, slots=True)
class Source:
    """Where the code of a run lives.

    Attributes:
        notebook: Notebook path (relative to the server root when known).
        cell_id: JupyterLab's cell id, for a run made by one cell.
        script: Script path, for runs made outside notebooks.
    """

    notebook: str | None = None
    cell_id: str | None = None
    script: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"notebook": self.notebook, "cell_id": self.cell_id, "script": self.script}


@dataclass(frozen=True, slots=True)
class RunError:
    """Why a run or a cell failed.

    Attributes:
        type: Exception class name (qualified for non-builtins).
        message: ``str(exception)``.
        traceback: Formatted traceback, if captured.
    """

    type: str
    message: str
    traceback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"type": self.type, "message": self.message, "traceback": self.traceback}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunError:
        """Build from :meth:`to_dict` output."""
        return cls(type=str(d["type"]), message=str(d["message"]), traceback=d.get("traceback"))

    @classmethod
    def from_exception(cls, exc: BaseException, *, with_traceback: bool = True) -> RunError:
        """Describe an exception."""
        import traceback as tb

        t = type(exc)
        name = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
        text = "".join(tb.format_exception(exc)) if with_traceback else None
        return cls(type=name, message=str(exc), traceback=text)


@dataclass(frozen=True, slots=True)
class CellExecution:
    """One execution of one notebook cell while tracking was on.

    Attributes:
        id: Unique id of this record.
        run_id: The session run it belongs to.
        seq: Position in the session's execution order (0, 1, 2, ...).
        cell_id: JupyterLab's cell id (``None`` outside JupyterLab).
        execution_count: IPython's execution count.
        source: The cell's source text.
        source_hash: Hash of the source text.
        status: ``"ok"`` or ``"error"``.
        error: The exception, when ``status == "error"``.
        reads: Names the cell reads (from its syntax tree).
        writes: Names the cell assigns.
        inputs: Data the cell read, as it was before the cell ran.
        outputs: Data the cell wrote, as it is after the cell ran.
        params: Params logged during the cell.
        metrics: Metrics logged during the cell.
        started: Start time.
        duration_ms: Wall time of the user's code.
        child_run_id: The run made by ``%%track``, if any.
        nondeterministic: Same source, inputs and params as another record, other metrics.
        fingerprint: Hash of source, input digests and params (what should decide the outcome).
        outcome_hash: Hash of the metrics it produced.
    """

    id: str
    run_id: str
    seq: int
    cell_id: str | None
    execution_count: int | None
    source: str
    source_hash: str
    status: str
    error: RunError | None
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    inputs: Mapping[str, DataRef]
    outputs: Mapping[str, DataRef]
    params: Mapping[str, ParamValue]
    metrics: Mapping[str, float]
    started: datetime
    duration_ms: float
    child_run_id: str | None = None
    nondeterministic: bool = False
    fingerprint: str | None = None
    outcome_hash: str | None = None

    def __repr__(self) -> str:
        return one_line(
            "CellExecution",
            f"#{self.seq}",
            f"[{self.execution_count}]" if self.execution_count is not None else None,
            self.status,
            f"{self.duration_ms:.0f} ms",
            repr(clip(self.source, 40)),
            figures(self.metrics) if self.metrics else None,
            "nondeterministic" if self.nondeterministic else None,
        )

    def _repr_html_(self) -> str:
        count = f"[{self.execution_count}] " if self.execution_count is not None else ""
        data = [ref.row(f"in: {k}") for k, ref in self.inputs.items()]
        data += [ref.row(f"out: {k}") for k, ref in self.outputs.items()]
        err = self.error
        return html_view(
            f"Cell #{self.seq}",
            f"{count}{self.status} · {self.duration_ms:.0f} ms · started "
            f"{self.started:%Y-%m-%d %H:%M:%S}"
            + (" · nondeterministic" if self.nondeterministic else ""),
            [
                ("data", html_table(data, DATA_HEADERS)),
                ("params", html_fields(self.params.items())),
                ("metrics", html_fields(self.metrics.items())),
                ("error", html_fields([(err.type, err.message)]) if err else ""),
            ],
            pre=self.source,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "seq": self.seq,
            "cell_id": self.cell_id,
            "execution_count": self.execution_count,
            "source": self.source,
            "source_hash": self.source_hash,
            "status": self.status,
            "error": self.error.to_dict() if self.error else None,
            "reads": list(self.reads),
            "writes": list(self.writes),
            "inputs": {k: v.to_dict() for k, v in self.inputs.items()},
            "outputs": {k: v.to_dict() for k, v in self.outputs.items()},
            "params": {k: _param_to_json(v) for k, v in self.params.items()},
            "metrics": {k: float_to_json(v) for k, v in self.metrics.items()},
            "started": self.started.isoformat(),
            "duration_ms": self.duration_ms,
            "child_run_id": self.child_run_id,
            "nondeterministic": self.nondeterministic,
            "fingerprint": self.fingerprint,
            "outcome_hash": self.outcome_hash,
        }


def _param_to_json(v: ParamValue) -> ParamValue:
    return float_to_json(v) if isinstance(v, float) else v


@dataclass(frozen=True, slots=True)
class Run:
    """A tracked run, as read back from the store.

    Attributes:
        id: uuid4 hex.
        name: Human name (not unique).
        kind: What the run stands for (:class:`RunKind`).
        status: :class:`RunStatus`.
        start_time: When it started.
        end_time: When it ended (``None`` while running).
        parent_id: The parent run (a search for its trials, a session for its cells).
        tags: String labels.
        params: Flattened parameters (dots join nested keys).
        metrics: Latest value of each metric.
        data: Name to the latest :class:`DataRef` logged under that name.
        environment: Where it ran.
        notes: Free text.
        source: Notebook path and cell id, or script.
        error: Why it failed, for ``failed`` runs.
        attrs: Structured extras written by subsystems (search settings, card sections...).
        cells: Cell records, in execution order (filled by ``get_run``; empty in searches).
        nondeterministic: Another run/record with the same code, inputs and params
            measured different metrics.
        fingerprint: Hash of code, input digests and params, when the writer knows them.
        outcome_hash: Hash of the metrics it produced.
    """

    id: str
    name: str
    kind: RunKind
    status: RunStatus
    start_time: datetime
    end_time: datetime | None = None
    parent_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    data: Mapping[str, DataRef] = field(default_factory=dict)
    environment: Environment | None = None
    notes: str = ""
    source: Source = field(default_factory=Source)
    error: RunError | None = None
    attrs: Mapping[str, JSONValue] = field(default_factory=dict)
    cells: tuple[CellExecution, ...] = ()
    nondeterministic: bool = False
    fingerprint: str | None = None
    outcome_hash: str | None = None

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end, ``None`` while running."""
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    def __repr__(self) -> str:
        secs = self.duration_s
        return one_line(
            "Run",
            self.id[:8],
            repr(clip(self.name, 40)),
            self.kind.value if self.kind is not RunKind.RUN else None,
            self.status.value,
            f"{secs:.2f}s" if secs is not None else None,
            f"| {figures(self.metrics)}" if self.metrics else None,
            f"| {figures(self.params)}" if self.params else None,
            "nondeterministic" if self.nondeterministic else None,
        )

    def _repr_html_(self) -> str:
        secs = self.duration_s
        err = self.error
        return html_view(
            self.name,
            f"{self.kind.value} {self.status.value} · {self.id[:8]} · started "
            f"{self.start_time:%Y-%m-%d %H:%M:%S}"
            + (f" · {secs:.2f} s" if secs is not None else "")
            + (" · nondeterministic" if self.nondeterministic else ""),
            [
                ("metrics", html_fields(self.metrics.items())),
                ("params", html_fields(self.params.items())),
                ("data", html_table([r.row(k) for k, r in self.data.items()], DATA_HEADERS)),
                ("tags", html_fields(self.tags.items())),
                ("error", html_fields([(err.type, err.message)]) if err else ""),
                ("notes", html_fields([("notes", self.notes)])),
            ],
        )

    def to_dict(self, *, include_cells: bool = True) -> dict[str, Any]:
        """JSON-safe form (the server's wire format for a run)."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind.value,
            "status": self.status.value,
            "start_time": self.start_time.isoformat(),
            "end_time": self.end_time.isoformat() if self.end_time else None,
            "duration_s": self.duration_s,
            "parent_id": self.parent_id,
            "tags": dict(self.tags),
            "params": {k: _param_to_json(v) for k, v in self.params.items()},
            "metrics": {k: float_to_json(v) for k, v in self.metrics.items()},
            "data": {k: v.to_dict() for k, v in self.data.items()},
            "environment": self.environment.to_dict() if self.environment else None,
            "notes": self.notes,
            "source": self.source.to_dict(),
            "error": self.error.to_dict() if self.error else None,
            "attrs": dict(self.attrs),
            "cells": [c.to_dict() for c in self.cells] if include_cells else [],
            "nondeterministic": self.nondeterministic,
            "fingerprint": self.fingerprint,
            "outcome_hash": self.outcome_hash,
        }
