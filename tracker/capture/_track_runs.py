"""``%%track`` cells: a run of their own, a child of the session run.

:func:`start_track_run` starts the run when the cell starts (the ``%track __cell__``
marker the transformer puts first, or the real cell magic); :func:`end_track_run`
gives it, when the cell's record is written, the data the cell read and wrote, the
cell's fingerprint and outcome hash, and ends it as the cell ended.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tracker import run as run_api
from tracker.exceptions import ValidationError
from tracker.records import DataRef, RunKind, RunStatus, Source, now
from tracker.store.ops import LogData, Op, SetRunFields, data_row_id

from ._cell_state import CellState

__all__ = ["end_track_run", "start_track_run"]


def start_track_run(
    session: run_api.ActiveRun,
    cell: CellState | None,
    name: str | None,
    notebook: str | None,
) -> run_api.ActiveRun:
    """Start the run of a ``%%track`` cell; the running cell (if any) owns it."""
    count = cell.execution_count if cell is not None else None
    label = name or (f"{session.name} [{count}]" if count is not None else f"{session.name} cell")
    run = run_api.start_run(
        label,
        kind=RunKind.CELL,
        parent=session,
        source=Source(notebook=notebook, cell_id=cell.cell_id if cell is not None else None),
    )
    if cell is not None and cell.cell_run is None:
        cell.cell_run = run
    return run


def end_track_run(
    run: run_api.ActiveRun,
    inputs: Mapping[str, DataRef],
    outputs: Mapping[str, DataRef],
    fingerprint: str,
    outcome: str | None,
    err: BaseException | None,
    report: Callable[[str, BaseException], None],
) -> None:
    """Log the cell's data on its run, with its fingerprint, and end it.

    Data the store would refuse is left out, and ``report`` told why.
    """
    stamp = now()
    ops: list[Op] = []
    for refs in (inputs, outputs):
        for name, ref in refs.items():
            try:  # as in the cell record: a bad name loses only itself
                ops.append(
                    LogData(
                        id=data_row_id(run.id, name, ref.digest),
                        run_id=run.id,
                        name=name,
                        ref=ref.to_dict(),
                        timestamp=stamp,
                        role="logged",
                    )
                )
            except ValidationError as exc:
                report(f"recording the run's data {name!r:.80}", exc)
    ops.append(
        SetRunFields(run_id=run.id, fields={"fingerprint": fingerprint, "outcome_hash": outcome})
    )
    run.write_ops(ops)
    if err is None:
        run.end(RunStatus.FINISHED)
    elif isinstance(err, KeyboardInterrupt):
        run.end(RunStatus.INTERRUPTED, err)
    else:
        run.end(RunStatus.FAILED, err)
