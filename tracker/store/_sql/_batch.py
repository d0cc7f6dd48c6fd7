"""Ops folded into rows per table, so a batch of ops is a few bulk statements."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tracker.exceptions import StoreError
from tracker.records import RunStatus
from tracker.store._sql import artifacts as art
from tracker.store._sql import models as m
from tracker.store._sql._codec import document_digest, dumps, is_neg_zero, num
from tracker.store.ops import (
    CreateRun,
    EndRun,
    Heartbeat,
    LogArtifact,
    LogCell,
    LogData,
    LogMetrics,
    Op,
    SetAttrs,
    SetParams,
    SetRunFields,
    SetSetting,
    SetTags,
)

__all__ = ["Batch"]


@dataclass
class Batch:
    """Ops folded into rows per table; applying it equals applying the ops in order."""

    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Runs created and ended in this batch (a script's short run, a trial): the row is
    #: inserted with its ending, so no update follows (see :meth:`fold`).
    ended_runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    params: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    latest: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: dict[tuple[str, str], str | None] = field(default_factory=dict)
    attrs: dict[tuple[str, str], str | None] = field(default_factory=dict)
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    heartbeats: dict[str, float] = field(default_factory=dict)
    ends: dict[str, dict[str, Any]] = field(default_factory=dict)
    interrupts: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    #: Environment documents by digest (``tracker_environments``), referenced by runs.
    environments: dict[str, str] = field(default_factory=dict)

    @classmethod
    def fold(cls, ops: Sequence[Op]) -> Batch:
        b = cls()
        for i, op in enumerate(ops):
            b._add(op)
            if i % 64 == 63:
                time.sleep(0)  # let other threads run (see SQLStore._write_batch)
        # A real ending anywhere in the batch wins over an "interrupted" verdict.
        for rid in b.ends:
            b.interrupts.pop(rid, None)
        b._end_in_insert()
        return b

    def _end_in_insert(self) -> None:
        """Move the ending of a run created in this batch into its insert.

        The same rows as an insert followed by the ending's update (which sets status,
        end time and error whatever the row held): the writer inserts these rows with
        their ending, and on a key conflict (the run exists: a replay) sets those three
        columns. One statement fewer per run, and the status index gets the final status
        once instead of ``running`` then the final one. Not when the batch also beats
        the run's heartbeat: that update applies only to a running run, so it must come
        first.
        """
        for rid in [r for r in self.ends if r in self.runs and r not in self.heartbeats]:
            end = self.ends.pop(rid)
            row = self.runs.pop(rid)
            row.update(status=end["b_status"], end_time=end["b_end"], error=end["b_error"])
            self.ended_runs[rid] = row

    def _add(self, op: Op) -> None:
        handler = _FOLD.get(type(op))
        if handler is None:  # pragma: no cover - the Op union is closed
            raise StoreError(f"unknown op {op!r}")
        handler(self, op)

    def _create_run(self, op: CreateRun) -> None:
        self.runs.setdefault(
            op.run_id,
            {
                "id": op.run_id,
                "name": op.name,
                "kind": op.kind,
                "status": op.status,
                "start_time": op.start_time,
                "parent_id": op.parent_id,
                "notebook": op.notebook,
                "cell_id": op.cell_id,
                "script": op.script,
                "environment_digest": self._environment(op.environment),
                "owner": op.owner,
                "heartbeat": op.start_time,
                "notes": "",
            },
        )
        for k, tag in op.tags.items():
            self.tags[(op.run_id, k)] = tag

    def _environment(self, env: Any) -> str | None:
        """The digest a run row refers to; the document goes to ``environments`` once."""
        if not env:  # as before the table existed: an empty environment is no environment
            return None
        text = dumps(env)
        digest = document_digest(text)
        self.environments[digest] = text
        return digest

    def _set_params(self, op: SetParams) -> None:
        for k, param in op.params.items():
            self.params[(op.run_id, k)] = {
                "run_id": op.run_id,
                "key": k,
                "value_json": dumps(param),
                "value_num": num(param),
            }

    def _log_metrics(self, op: LogMetrics) -> None:
        for r in op.metrics:
            nan = math.isnan(r.value)
            row = {
                "run_id": op.run_id,
                "key": r.key,
                "value": None if nan else r.value,
                "is_nan": nan,
                "neg_zero": is_neg_zero(r.value),
                "step": r.step,
                "timestamp": r.timestamp,
            }
            self.metrics.setdefault(r.id, {"id": r.id, **row})
            cur = self.latest.get((op.run_id, r.key))
            if cur is None or (r.timestamp, r.step or 0) >= (
                cur["timestamp"],
                cur["step"] or 0,
            ):
                self.latest[(op.run_id, r.key)] = row

    def _log_data(self, op: LogData) -> None:
        self.data.setdefault(
            op.id,
            {
                "id": op.id,
                "run_id": op.run_id,
                "cell_record_id": op.cell_record_id,
                "name": op.name,
                "role": op.role,
                "digest": str(op.ref["digest"]),
                "ref": dumps(dict(op.ref)),
                "timestamp": op.timestamp,
            },
        )

    def _set_tags(self, op: SetTags) -> None:
        for k, maybe_tag in op.tags.items():
            self.tags[(op.run_id, k)] = maybe_tag

    def _set_attrs(self, op: SetAttrs) -> None:
        for k, v in op.attrs.items():
            self.attrs[(op.run_id, k)] = None if v is None else dumps(v)

    def _set_run_fields(self, op: SetRunFields) -> None:
        bad = set(op.fields) - SetRunFields.ALLOWED
        if bad:
            raise StoreError(
                f"cannot set run fields {sorted(bad)}; allowed: {sorted(SetRunFields.ALLOWED)}"
            )
        values = dict(op.fields)
        if "environment" in values:
            values["environment_digest"] = self._environment(values.pop("environment"))
        if "notes" in values and values["notes"] is None:
            values["notes"] = ""
        self.fields.setdefault(op.run_id, {}).update(values)

    def _log_cell(self, op: LogCell) -> None:
        self.cells.setdefault(
            op.id,
            {
                "id": op.id,
                "run_id": op.run_id,
                "seq": op.seq,
                "cell_id": op.cell_id,
                "execution_count": op.execution_count,
                "source": op.source,
                "source_hash": op.source_hash,
                "status": op.status,
                "error": dumps(op.error) if op.error else None,
                "reads": dumps(list(op.reads)),
                "writes": dumps(list(op.writes)),
                "params": dumps(dict(op.params)),
                "metrics": dumps(m.cell_metrics_json(op.metrics, op.peak_memory_mb)),
                "started": op.started,
                "duration_ms": op.duration_ms,
                "child_run_id": op.child_run_id,
                "fingerprint": op.fingerprint,
                "outcome_hash": op.outcome_hash,
            },
        )

    def _heartbeat(self, op: Heartbeat) -> None:
        for rid in op.run_ids:
            self.heartbeats[rid] = max(op.timestamp, self.heartbeats.get(rid, op.timestamp))

    def _end_run(self, op: EndRun) -> None:
        row = {
            "b_id": op.run_id,
            "b_status": op.status,
            "b_end": op.end_time,
            "b_error": dumps(op.error) if op.error else None,
        }
        if op.status == RunStatus.INTERRUPTED.value:
            self.interrupts[op.run_id] = row
        else:
            self.ends[op.run_id] = row

    def _log_artifact(self, op: LogArtifact) -> None:
        self.artifacts.setdefault(op.id, art.artifact_row(op))

    def _set_setting(self, op: SetSetting) -> None:
        self.settings[op.key] = art.setting_row(op)


# One method per op type (each folds its op into the batch's rows).
_FOLD: dict[type, Callable[[Batch, Any], None]] = {
    CreateRun: Batch._create_run,
    SetParams: Batch._set_params,
    LogMetrics: Batch._log_metrics,
    LogData: Batch._log_data,
    SetTags: Batch._set_tags,
    SetAttrs: Batch._set_attrs,
    SetRunFields: Batch._set_run_fields,
    LogCell: Batch._log_cell,
    Heartbeat: Batch._heartbeat,
    EndRun: Batch._end_run,
    LogArtifact: Batch._log_artifact,
    SetSetting: Batch._set_setting,
}
