"""The cell record: its fingerprint, outcome hash, error, and the store ops that write it.

A recorded cell becomes one ``LogCell`` op (the record itself) and one ``LogData`` op
per input and output (``role`` ``"input"``/``"output"``, tied to the record), written
in one non-blocking ``write_ops`` call (see ``Capture._post``).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tracker.exceptions import ValidationError
from tracker.records import DataRef, ParamValue, RunError, now
from tracker.store.ops import LogCell, LogData, Op, SetAttrs, data_row_id

from ._cell_state import CellState
from ._values import digest_bytes

__all__ = ["Outcome", "cell_ops", "describe_error", "fingerprint", "outcome_hash"]

_TRACEBACK_LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a cell did, as the record states it.

    Attributes:
        error: The exception the cell raised, if any.
        duration_ms: Wall time of the user's code.
        writes: Names the cell wrote, in order.
        inputs: Data and files read (before the cell).
        outputs: Data and files written (after the cell).
        params: Params logged during the cell.
        metrics: Metrics logged during the cell.
        fingerprint: See :func:`fingerprint`.
        outcome_hash: See :func:`outcome_hash`.
    """

    error: BaseException | None
    duration_ms: float
    writes: tuple[str, ...]
    inputs: Mapping[str, DataRef]
    outputs: Mapping[str, DataRef]
    params: Mapping[str, ParamValue]
    metrics: Mapping[str, float]
    fingerprint: str
    outcome_hash: str | None


def cell_ops(
    session_id: str,
    seq: int,
    cell: CellState,
    outcome: Outcome,
    report: Callable[[str, BaseException], None],
) -> list[Op]:
    """The ops that write a cell's record and its data rows.

    A data row the store would refuse is left out, and ``report`` told why.
    """
    err = outcome.error
    error = describe_error(err) if err is not None else None
    stamp = now()
    ops: list[Op] = [
        LogCell(
            id=cell.record_id,
            run_id=session_id,
            seq=seq,
            cell_id=cell.cell_id,
            execution_count=cell.execution_count,
            source=cell.raw,
            source_hash=cell.source_hash,
            status="ok" if err is None else "error",
            error=error.to_dict() if error else None,
            reads=tuple(cell.reads),
            writes=outcome.writes,
            params=dict(outcome.params),
            metrics=dict(outcome.metrics),
            started=cell.started,
            duration_ms=round(outcome.duration_ms, 3),
            child_run_id=cell.cell_run.id if cell.cell_run is not None else None,
            fingerprint=outcome.fingerprint,
            outcome_hash=outcome.outcome_hash,
            peak_memory_mb=cell.peak_memory_mb,
        )
    ]
    for role, refs in (("input", outcome.inputs), ("output", outcome.outputs)):
        for name, ref in refs.items():
            try:  # a name the store cannot hold (a non-UTF-8 file name) loses only itself
                ops.append(
                    LogData(
                        id=data_row_id(session_id, name, ref.digest, role, cell.record_id),
                        run_id=session_id,
                        name=name,
                        ref=ref.to_dict(),
                        timestamp=stamp,
                        role=role,
                        cell_record_id=cell.record_id,
                    )
                )
            except ValidationError as exc:
                report(f"recording the cell's {role} {name!r:.80}", exc)
    if cell.marked:
        ops.append(SetAttrs(run_id=session_id, attrs={"running_cell": None}))
    return ops


def describe_error(err: BaseException) -> RunError:
    """The exception with the traceback of the user's code only (IPython's frames cut)."""
    tb = err.__traceback__
    ipython_dir = (
        os.path.dirname(sys.modules["IPython"].__file__ or "") if "IPython" in sys.modules else ""
    )
    while tb is not None and ipython_dir and tb.tb_frame.f_code.co_filename.startswith(ipython_dir):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(err), err, tb))
    if len(text) > _TRACEBACK_LIMIT:
        text = text[: _TRACEBACK_LIMIT // 2] + "\n...\n" + text[-_TRACEBACK_LIMIT // 2 :]
    base = RunError.from_exception(err, with_traceback=False)
    return RunError(type=base.type, message=base.message, traceback=text)


def _canon(value: object) -> str:
    if isinstance(value, float):
        return repr(value)
    return f"{type(value).__name__}:{value!r}"


def fingerprint(
    source_hash: str,
    inputs: Mapping[str, DataRef],
    params: Mapping[str, ParamValue],
    versions: Mapping[str, str],
) -> str:
    """A cell's fingerprint: what should decide its outcome.

    docs/records.md: a hash of (code hash, sorted input digests, sorted params), plus the
    versions of the non-data values the cell reads, so that a cell reading a changed
    model or a changed scalar is not taken for a re-run of the same computation.
    """
    parts: list[str] = ["code", source_hash, "inputs"]
    parts += sorted(ref.digest for ref in inputs.values())
    parts.append("params")
    parts += sorted(f"{k}={_canon(v)}" for k, v in params.items())
    parts.append("reads")
    parts += sorted(f"{k}={v}" for k, v in versions.items() if k not in inputs)
    return digest_bytes(*parts)


def outcome_hash(metrics: Mapping[str, float]) -> str | None:
    """Hash of the sorted metrics; ``None`` without metrics (docs/records.md)."""
    if not metrics:
        return None
    return digest_bytes(*sorted(f"{k}={float(v)!r}" for k, v in metrics.items()))
