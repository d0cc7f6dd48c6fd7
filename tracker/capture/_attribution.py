"""Which params and metrics logged while a cell runs belong to the cell's record.

Every ``log_params``/``log_metrics`` call in the process is heard through
:func:`tracker.run.add_log_listener`; :func:`belongs_to_cell` decides whether it is the
cell's: what is logged to the session run, to the cell's ``%%track`` run, or to a run
the cell started explicitly. Trials and searches do not count: a search of 100 trials
would otherwise pour 100 trials' metrics into one record.
"""

from __future__ import annotations

from tracker import run as run_api
from tracker.records import RunKind

from ._cell_state import CellState

__all__ = ["attribute", "belongs_to_cell"]


def belongs_to_cell(
    event: run_api.LogEvent, cell: CellState, session: run_api.ActiveRun | None
) -> bool:
    """Whether what ``event`` logged is the running cell's (see the module docstring)."""
    rid = event.run_id
    if (session is not None and rid == session.id) or (
        cell.cell_run is not None and rid == cell.cell_run.id
    ):
        return True
    active = run_api.active_run()
    return active is not None and active.id == rid and active.kind is RunKind.RUN


def attribute(
    event: run_api.LogEvent, cell: CellState | None, session: run_api.ActiveRun | None
) -> None:
    """Add what ``event`` logged to the running recorded cell, if it belongs to it."""
    if cell is None or not cell.tracked:
        return
    if belongs_to_cell(event, cell, session):
        cell.params.update(event.params)
        cell.metrics.update(event.metrics)
