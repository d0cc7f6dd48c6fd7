"""Marking a long-running cell on the session run (``attrs["running_cell"]``).

A kernel that dies during a cell (SIGKILL, out of memory) then says which cell it was.
Short cells never pay for this: a daemon thread looks every half second, and writes
once per cell that has run longer than a second; the cell's record clears the mark.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from tracker.records import RunStatus
from tracker.store.ops import SetAttrs

if TYPE_CHECKING:
    from ._recorder import Capture

__all__ = ["RUNNING_MARK_AFTER_S", "WATCHDOG_INTERVAL_S", "Watchdog"]

#: A cell running longer than this is marked on the session run (``attrs["running_cell"]``).
RUNNING_MARK_AFTER_S = 1.0
WATCHDOG_INTERVAL_S = 0.5
_SOURCE_PREVIEW = 200


class Watchdog:
    """The thread that marks long cells (see the module docstring).

    Attributes:
        lock: Held while a cell is marked; the hooks hold it to change the running cell.
    """

    def __init__(self, capture: Capture) -> None:
        self.capture = capture
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    def start(self) -> None:
        """Start the thread, unless it runs already."""
        if self._thread is None or not self._thread.is_alive():
            self._closing.clear()
            self._thread = threading.Thread(
                target=self._watch, name="tracker-cell-watchdog", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Let the thread end (at its next look)."""
        self._closing.set()

    def _watch(self) -> None:
        while not self._closing.wait(WATCHDOG_INTERVAL_S):
            try:
                with self.lock:
                    self._mark()
            except Exception as exc:  # the watchdog must outlive any failure
                self.capture.report("marking the running cell", exc)

    def _mark(self) -> None:
        cell = self.capture.current
        session = self.capture.session
        if (
            cell is None
            or cell.marked
            or session is None
            or session.status is not RunStatus.RUNNING
            or time.time() - cell.started < RUNNING_MARK_AFTER_S
        ):
            return
        cell.marked = True
        mark = {
            "record_id": cell.record_id,
            "cell_id": cell.cell_id,
            "execution_count": cell.execution_count,
            "started": cell.started,
            "source_hash": cell.source_hash,
            "source": cell.raw[:_SOURCE_PREVIEW],
        }
        session.write_ops([SetAttrs(run_id=session.id, attrs={"running_cell": mark})])
