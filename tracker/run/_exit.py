"""Exit hooks: a script's open runs end when it exits, or fail with its uncaught exception."""

from __future__ import annotations

import atexit
import sys
from types import TracebackType

from tracker.records import RunStatus
from tracker.run._state import _open_runs

_exit_hooks_installed = False


def _install_exit_hooks() -> None:
    global _exit_hooks_installed
    if _exit_hooks_installed:
        return
    _exit_hooks_installed = True
    previous = sys.excepthook

    def excepthook(t: type[BaseException], v: BaseException, tb: TracebackType | None) -> None:
        # An uncaught exception in a script: its open runs failed, with this error.
        for run in list(_open_runs.values()):
            try:
                run.end(
                    RunStatus.INTERRUPTED if isinstance(v, KeyboardInterrupt) else RunStatus.FAILED,
                    v,
                )
            except Exception:
                continue
        previous(t, v, tb)

    sys.excepthook = excepthook
    # Registered after the store's own atexit hook, so it runs before the store closes.
    atexit.register(_end_open_runs)


def _end_open_runs() -> None:
    for run in list(_open_runs.values()):
        try:
            run.end(RunStatus.FINISHED)
        except Exception:
            continue
