"""Exit hooks: a script's open runs end when it exits, or fail with its uncaught exception."""

from __future__ import annotations

import atexit
import sys
from types import TracebackType

from tracker.records import RunStatus
from tracker.run._state import _open_runs
from tracker.store import current_store

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


def prepare_exit(timeout: float) -> bool:
    """End this process's open runs (``finished``) and wait up to ``timeout`` s for the store.

    What a clean interpreter exit does anyway (``atexit``, without the time limit). A host
    that may end the process before ``atexit`` runs calls it first: a Jupyter kernel asked
    to shut down is sent SIGTERM 2.5 s later if it has not exited, and it can take longer
    than that to stop its child processes (see ``tracker.capture``). Opens no store.

    Returns:
        Whether every record is in the database (if not, they are in the spool).
    """
    _end_open_runs()
    drain = getattr(current_store(), "drain", None)
    return drain is None or drain(timeout) is None
