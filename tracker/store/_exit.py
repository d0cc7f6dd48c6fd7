"""What a clean interpreter exit does with records not yet in the database.

A record whose logging call returned is in this process's spool; at exit the process
waits until the writer thread has put every one of them in the database, so that other
processes see them all as soon as it is gone (no ``tracker sync`` needed). How long:

* as long as the writer makes progress, however slow the database is (many writers at
  once, a loaded machine): one line on stderr says so if it takes more than 2 s;
* an unreachable store ends the wait after a few seconds of failed retries
  (``QueuedStore.drain``); so does a database that neither answers nor fails for 60 s;
* ``TRACKER_EXIT_TIMEOUT=<seconds>`` caps the wait (``0``: do not wait at all).

Whatever is left stays in the spool, and one line on stderr says how many records,
where, and that ``tracker sync`` (or the next tracker process on this machine) writes
them. Records the database refused since the process's one warning about them get one
more line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracker.store._queued import QueuedStore

__all__ = ["ENV_EXIT_TIMEOUT", "close_all_at_exit", "close_at_exit", "exit_limit"]

log = logging.getLogger("tracker")

#: Environment variable: the longest a clean exit waits for the spool to be written, in
#: seconds (``0``: leave pending records in the spool at once). Unset: no cap.
ENV_EXIT_TIMEOUT = "TRACKER_EXIT_TIMEOUT"
#: Say what the exit is waiting for once it has waited this long.
PROGRESS_AFTER_S = 2.0

_REASONS = {
    "unreachable": "the store is unreachable",
    "stalled": "the store stopped answering",
    "no writer": "the writer thread stopped",
    "interrupted": "interrupted",
}


def exit_limit() -> float | None:
    """The cap set by ``TRACKER_EXIT_TIMEOUT`` (``None``: unset or not a number >= 0)."""
    raw = os.environ.get(ENV_EXIT_TIMEOUT, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        _say(f"tracker: ignoring {ENV_EXIT_TIMEOUT}={raw!r}: expected seconds (a number >= 0)")
        return None
    return value


def _say(line: str) -> None:
    """One line on stderr (at exit there may be no logging handler left to show it)."""
    with contextlib.suppress(OSError, ValueError):  # stderr closed
        print(line, file=sys.stderr, flush=True)


def close_at_exit(store: QueuedStore, limit_s: float | None) -> None:
    """Wait until ``store``'s spool is written (see the module docstring), then close it."""
    pending = store.pending
    reason = None
    if pending:

        def slow(n: int) -> None:
            _say(
                f"tracker: writing {n:,} record(s) to {store.url} before exiting "
                "(Ctrl-C leaves them in the local spool for `tracker sync`)"
            )

        reason = store.drain(limit_s, on_slow=slow, slow_after_s=PROGRESS_AFTER_S)
    if reason is not None:
        why = _REASONS.get(reason) or f"{ENV_EXIT_TIMEOUT}={limit_s or 0:g} s"
        _say(
            f"tracker: {store.pending:,} record(s) not yet written to {store.url} ({why}) "
            f"are kept in {store.spool_path or 'memory'}; `tracker sync` writes them, and "
            "so does the next tracker process on this machine"
        )
    if store.rejected_unreported > 0:
        from tracker.store.rejected import COMMAND, rejected_dir

        where = rejected_dir(store.spool_dir) if store.spool_dir else "memory"
        _say(
            f"tracker: the store refused {store.rejected:,} record(s) in this process; they "
            f"are kept in {where}: `{COMMAND}` lists them and retries"
        )
    store.close(timeout=0.0)


def close_all_at_exit(stores: Iterable[QueuedStore]) -> None:
    """``atexit`` hook: :func:`close_at_exit` for every open queued store."""
    limit = exit_limit()
    for store in list(stores):
        try:
            close_at_exit(store, limit)
        except Exception as exc:  # at exit there is nobody left to tell but the log
            log.warning("tracker: could not close %s cleanly at exit: %r", store.url, exc)
