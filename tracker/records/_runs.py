"""Runs and their parts: environment, source, error, and the cell records of a session."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tracker.display import (
    clip,
    figures,
    html_fields,
    html_table,
    html_view,
    one_line,
)
from tracker.records._data import DATA_HEADERS, ArtifactRef, DataRef
from tracker.records._values import (
    JSONValue,
    ParamValue,
    RunKind,
    RunStatus,
    float_to_json,
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
        peak_memory_mb: How far the process's resident memory rose above its level at the
            cell's start, at its highest during the cell, in MB (``None``: not measured;
            docs/records.md, "System metrics").
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
    peak_memory_mb: float | None = None

    def __repr__(self) -> str:
        return one_line(
            "CellExecution",
            f"#{self.seq}",
            f"[{self.execution_count}]" if self.execution_count is not None else None,
            self.status,
            f"{self.duration_ms:.0f} ms",
            f"+{self.peak_memory_mb:.0f} MB peak" if self.peak_memory_mb is not None else None,
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
            f"{count}{self.status} · {self.duration_ms:.0f} ms"
            + (f" · +{self.peak_memory_mb:.0f} MB peak" if self.peak_memory_mb is not None else "")
            + " · started "
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
            "peak_memory_mb": self.peak_memory_mb,
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
        artifacts: Name to the latest :class:`ArtifactRef` logged under that name.
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
    artifacts: Mapping[str, ArtifactRef] = field(default_factory=dict)

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
            "artifacts": {k: v.to_dict() for k, v in self.artifacts.items()},
        }
