"""Each recorded cell's peak memory growth (docs/records.md, "System metrics").

Started in ``pre_run_cell`` just before the user's code and stopped first thing in
``post_run_cell``, so the hooks' own hashing is not counted. How it is measured, and how
finely, is :mod:`tracker.run._system_peak`'s business; turning system metrics off
(``TRACKER_SYSTEM_METRICS=off``) turns this off too.
"""

from __future__ import annotations

from tracker import run as run_api

from ._cell_state import CellState

__all__ = ["begin", "end"]


def begin(cell: CellState) -> None:
    """Start measuring a recorded cell (never raises; nothing for a watched-only cell)."""
    if cell.tracked:
        cell.memory = run_api.PeakMemory.begin()


def end(cell: CellState) -> None:
    """Stop measuring: ``cell.peak_memory_mb`` is set when it could be measured."""
    memory, cell.memory = cell.memory, None
    if memory is not None:
        cell.peak_memory_mb = memory.end()
