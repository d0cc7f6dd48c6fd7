"""Which runs are open in this process, and which one is active in each thread.

The active run is tracked per thread, so parallel trials (Optuna's ``n_jobs``) each log
to their own run; a thread that started no run logs to the main thread's active run.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from tracker.exceptions import NoActiveRunError

if TYPE_CHECKING:
    from tracker.run._active import ActiveRun

__all__ = ["active_run"]

_stacks = threading.local()
_main_stack: list[ActiveRun] = []
_open_runs: dict[str, ActiveRun] = {}


def _stack() -> list[ActiveRun]:
    if threading.current_thread() is threading.main_thread():
        return _main_stack
    s: list[ActiveRun] | None = getattr(_stacks, "runs", None)
    if s is None:
        s = []
        _stacks.runs = s
    return s


def active_run() -> ActiveRun | None:
    """The innermost run started and not yet ended in this thread (else the main thread's)."""
    s = _stack()
    if s:
        return s[-1]
    return _main_stack[-1] if _main_stack else None


def _require_active(what: str) -> ActiveRun:
    run = active_run()
    if run is None:
        raise NoActiveRunError(what)
    return run


def _reset_after_fork() -> None:
    # The child does not own the parent's open runs (the parent ends them).
    global _stacks
    _stacks = threading.local()
    _main_stack.clear()
    _open_runs.clear()


if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(after_in_child=_reset_after_fork)
