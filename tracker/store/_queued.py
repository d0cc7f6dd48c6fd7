"""Non-blocking, durable writes in front of a store.

``QueuedStore.write`` appends the ops to this process's spool (a local file,
microseconds) and returns; one background thread writes them to the database in
batches, in order. The logging call therefore never waits for the database and
never raises because it is down, and a record whose call returned is on disk.

When the database is unreachable the thread warns once (``logging``, logger
``"tracker"``), keeps the ops in the spool and retries with backoff. An op the
database rejects for good (a bug, not an outage) is moved to
``<spool dir>/rejected/`` with the error instead of blocking the ops behind it
(:mod:`tracker.store.rejected`); the process warns once, naming the count and
``tracker sync --rejected``.

The writer lingers a moment to batch ops (``linger_s``, longer during searches and
in notebooks), but never longer than :data:`END_VISIBLE_S` once a run has ended:
a finished run is visible to other processes right after its ``with`` block.
At interpreter exit the process waits until its spool is written, for as long as
the writer makes progress (:mod:`tracker.store._exit`).

Reads flush first (read-your-writes), except while the store is known to be down.
The same thread replays spools left by dead processes, keeps a heartbeat on this
process's running runs, and marks runs whose writer died as ``interrupted``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tracker.exceptions import StoreError, StoreUnavailableError
from tracker.records import RunStatus
from tracker.store._base import BaseStore
from tracker.store._exit import close_all_at_exit
from tracker.store._reads import ReadThrough
from tracker.store._sweep import BATCH as _BATCH
from tracker.store._sweep import STALE_AFTER_S, sweep
from tracker.store.ops import CreateRun, EndRun, Heartbeat, Op
from tracker.store.rejected import Outcome, Refusals, count_rejected, retry_rejected
from tracker.store.spool import Spool

__all__ = ["END_VISIBLE_S", "HEARTBEAT_INTERVAL_S", "STALE_AFTER_S", "QueuedStore", "sweep"]

log = logging.getLogger("tracker")

HEARTBEAT_INTERVAL_S = 60.0
_BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)
_READ_FLUSH_TIMEOUT_S = 10.0
_READ_SWEEP_INTERVAL_S = 10.0
_LINGER_S = 0.01
#: Longest the writer lingers once a run has ended: other processes (the panel, a
#: colleague's notebook) see a finished run this soon, whatever ``linger_s`` is.
END_VISIBLE_S = 0.2
#: While a caller waits for everything to be written (``drain``), retry an unreachable
#: store at least this often rather than after the full backoff.
_DRAIN_BACKOFF_S = 0.5
#: ``drain`` gives up when nothing was written, and nothing failed, for this long.
DRAIN_STALL_S = 60.0
#: ``drain`` gives up when the store kept failing as unreachable for this long.
DRAIN_OUTAGE_S = 5.0
#: Longest a hold (``hold_writes``) keeps the writer waiting: a forgotten hold must not
#: keep records out of the database for long.
_MAX_HOLD_S = 30.0

_instances: weakref.WeakSet[QueuedStore] = weakref.WeakSet()


class QueuedStore(ReadThrough):
    """A store whose writes return at once and survive crashes (see the module docstring).

    Args:
        backend: The database store.
        spool_dir: Where this process's spool goes; ``None`` keeps pending ops in memory
            only (for in-memory databases, which do not outlive the process anyway).
    """

    def __init__(self, backend: BaseStore, spool_dir: Path | None) -> None:
        self.url = backend.url
        self.backend = backend
        self.spool_dir = spool_dir
        self._cv = threading.Condition()
        self._queue: deque[tuple[int, Op]] = deque()
        self._spool: Spool | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._seq = 0  # last sequence number handed out
        self._done = 0  # every op up to this one has been written (or rejected)
        self._flushing = 0  # callers waiting in flush(): no lingering then
        #: How long the writer waits for more ops before a transaction. Longer batches
        #: cost less CPU per op (one commit for many); every op is in the spool already,
        #: so only other processes see the records that much later. An interactive
        #: kernel raises it (notebook capture) so its writes batch across cells.
        self.linger_s = _LINGER_S
        self._held = 0  # hold_writes() contexts open
        self._busy = False  # the writer is inside a transaction
        self._end_due: float | None = None  # a run ended: write by then (monotonic)
        self._linger_until: float | None = None  # the lingering writer's deadline
        self._draining = 0  # drain() callers: retry an outage sooner
        self._failures = 0  # failed attempts (unreachable store) since the start
        self._down_since: float | None = None
        self._live: set[str] = set()
        self._swept = False
        self._last_read_sweep = -_READ_SWEEP_INTERVAL_S
        self.last_error: str | None = None
        self._refusals = Refusals(spool_dir, self.url.identity)
        _instances.add(self)

    # --- writing -------------------------------------------------------------------------

    def write(self, ops: Sequence[Op]) -> None:
        """Queue ops durably and return (never raises because the database is down)."""
        if not ops:
            return
        with self._cv:
            if self._stopping:
                # After close (e.g. at interpreter exit) write through, best effort.
                self._write_direct(ops)
                return
            if self._spool is None and self.spool_dir is not None:
                self._spool = Spool(self.spool_dir, self.url.identity)
            wake = not self._queue  # the writer waits for a notify only when idle
            if self._spool is not None:
                seqs = self._spool.append(ops)
                self._seq = seqs[-1]
            else:
                seqs = list(range(self._seq + 1, self._seq + 1 + len(ops)))
                self._seq = seqs[-1]
            self._queue.extend(zip(seqs, ops, strict=True))
            ended = False
            for op in ops:
                if isinstance(op, CreateRun) and op.status == RunStatus.RUNNING.value:
                    self._live.add(op.run_id)
                elif isinstance(op, EndRun):
                    self._live.discard(op.run_id)
                    ended = True
            if ended and self._end_due is None:
                # Other processes wait for this one: cut the linger short (see _linger).
                self._end_due = time.monotonic() + END_VISIBLE_S
                # A lingering writer must shorten its wait, unless it ends sooner anyway
                # (the usual 10 ms): waking it would only cost both threads a switch.
                until = self._linger_until
                wake = wake or until is None or self._end_due < until
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="tracker-writer", daemon=True
                )
                self._thread.start()
            if wake or len(self._queue) >= _BATCH:
                # While ops are queued the writer lingers until its own deadline: waking
                # it at every write would only hand it the GIL for nothing.
                self._cv.notify_all()

    def _write_direct(self, ops: Sequence[Op]) -> None:
        try:
            self.backend.write(ops)
        except StoreError as exc:
            self.last_error = str(exc)
            log.warning("tracker: could not write %d record(s) at exit: %s", len(ops), exc)

    @property
    def owner(self) -> str | None:
        """This process's owner string for new runs (creates the spool if needed)."""
        with self._cv:
            if self._spool is None and self.spool_dir is not None:
                self._spool = Spool(self.spool_dir, self.url.identity)
            return self._spool.owner if self._spool else None

    @contextlib.contextmanager
    def lingering(self, seconds: float) -> Iterator[None]:
        """Batch writes over at least ``seconds`` while the block runs.

        A search writes a few records per trial; committing them every 10 ms competes with
        Optuna's own transactions on the same SQLite file (measured: 5 ms per trial at
        10 ms, 1-2 ms at 100-500 ms, ``benchmarks/bench_search_overhead.py``). Records are in
        the spool at once either way; other processes see them that much later.
        """
        with self._cv:
            before = self.linger_s
            self.linger_s = max(before, seconds)
        try:
            yield
        finally:
            with self._cv:
                self.linger_s = before

    @contextlib.contextmanager
    def hold_writes(self, wait_s: float = 1.0) -> Iterator[None]:
        """Keep the writer thread from starting a transaction while the block runs.

        For timing-sensitive code in this process (``tracker.measure_latency``): the
        writer's transactions take the GIL and the disk in bursts, which would show up in
        a latency percentile as the tracker's noise, not the model's. Waits up to
        ``wait_s`` for a transaction already running. Writes are still accepted (and
        spooled) meanwhile; a hold longer than 30 s no longer holds the writer back.
        """
        with self._cv:
            self._held += 1
            self._cv.wait_for(lambda: not self._busy, wait_s)
        try:
            yield
        finally:
            with self._cv:
                self._held -= 1
                self._cv.notify_all()

    @property
    def pending(self) -> int:
        """Ops accepted and not yet in the database."""
        with self._cv:
            return self._seq - self._done

    @property
    def is_down(self) -> bool:
        """The database failed on the last attempt and has not answered since."""
        return self._down_since is not None

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every op queued so far is in the database.

        Returns:
            ``True`` if it is; ``False`` on timeout (the ops stay in the spool).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            target = self._seq
            self._flushing += 1
            self._cv.notify_all()
            try:
                while self._done < target:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._cv.wait(remaining if remaining is not None else 1.0)
                return True
            finally:
                self._flushing -= 1

    def drain(
        self,
        limit_s: float | None = None,
        *,
        on_slow: Callable[[int], None] | None = None,
        slow_after_s: float = 2.0,
        stall_s: float = DRAIN_STALL_S,
        outage_s: float = DRAIN_OUTAGE_S,
    ) -> str | None:
        """Wait until every op queued so far is written, for as long as that progresses.

        Unlike :meth:`flush`, a slow database (many writers, a loaded machine) does not
        end the wait. It ends only when the store keeps failing as unreachable for
        ``outage_s`` with nothing written meanwhile, when nothing is written and nothing
        fails for ``stall_s`` (a hung connection), when the writer thread has stopped,
        after ``limit_s``, or on Ctrl-C. An unreachable store is retried at least every
        half second meanwhile, not after its full backoff.

        Args:
            limit_s: The longest wait in all (``None``: no cap).
            on_slow: Called once, with the number of ops still pending, when the wait
                passes ``slow_after_s`` seconds.
            slow_after_s: See ``on_slow``.
            stall_s: See above.
            outage_s: See above.

        Returns:
            ``None`` when everything is written, else why the wait stopped (the ops not
            written stay in the spool).
        """
        start = time.monotonic()
        with self._cv:
            target = self._seq
            self._flushing += 1  # no lingering
            self._draining += 1  # short backoff
            self._cv.notify_all()  # a writer sleeping out a backoff retries now
            try:
                done, moved = self._done, start
                failures, failing_since = self._failures, None
                told = False
                while self._done < target:
                    now = time.monotonic()
                    if self._done != done:
                        done, moved = self._done, now
                        failures, failing_since = self._failures, None
                    elif self._failures != failures and failing_since is None:
                        failing_since = now
                    if limit_s is not None and now - start >= limit_s:
                        return "limit"
                    if failing_since is not None and now - failing_since >= outage_s:
                        return "unreachable"
                    if now - moved >= stall_s:
                        return "stalled"
                    if self._thread is None or not self._thread.is_alive():
                        return "no writer"
                    if on_slow is not None and not told and now - start >= slow_after_s:
                        told = True
                        pending = target - self._done
                        self._cv.release()  # the writer must not wait on our stderr
                        try:
                            on_slow(pending)
                        finally:
                            self._cv.acquire()
                    wait = 0.25 if limit_s is None else min(0.25, start + limit_s - now)
                    self._cv.wait(max(wait, 0.001))
                return None
            except KeyboardInterrupt:
                return "interrupted"
            finally:
                self._flushing -= 1
                self._draining -= 1

    def _loop(self) -> None:
        backoff = 0
        last_beat = time.monotonic()
        while True:
            if not self._swept:
                self._try_sweep()
            with self._cv:
                while not self._queue and not self._stopping:
                    wait = HEARTBEAT_INTERVAL_S - (time.monotonic() - last_beat)
                    if wait <= 0:
                        break
                    self._cv.wait(wait)
                if self._stopping and not self._queue:
                    return
                if self._queue and len(self._queue) < _BATCH and not self._flushing:
                    self._linger()
                if self._held and not self._flushing:
                    self._cv.wait_for(
                        lambda: not self._held or self._flushing or self._stopping, _MAX_HOLD_S
                    )
                batch = [self._queue[i] for i in range(min(_BATCH, len(self._queue)))]
                if len(batch) == len(self._queue):
                    self._end_due = None  # every queued ending is in this batch
                live = list(self._live)
                self._busy = bool(batch)
            if not batch:
                last_beat = time.monotonic()
                if live:
                    self.write([Heartbeat(run_ids=live, timestamp=time.time())])
                continue
            try:
                backoff = self._write_batch(batch, backoff)
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()
            if backoff < 0:
                return

    def _linger(self) -> None:
        """Wait (holding ``_cv``) so that one transaction carries many ops.

        Fewer commits, and less time this thread holds the GIL the user's code wants.
        Until a deadline, not until the next notify: a plain wait would end at the next
        write (one transaction per write under a steady stream of them). The deadline is
        ``linger_s`` from now, or :data:`END_VISIBLE_S` after a run ended if sooner.
        """
        deadline = time.monotonic() + self.linger_s
        self._linger_until = deadline
        try:
            while not (len(self._queue) >= _BATCH or self._flushing or self._stopping):
                due = deadline if self._end_due is None else min(deadline, self._end_due)
                remaining = due - time.monotonic()
                if remaining <= 0:
                    return
                self._cv.wait(remaining)
        finally:
            self._linger_until = None

    def _write_batch(self, batch: list[tuple[int, Op]], backoff: int) -> int:
        """One transaction for ``batch``; returns the next backoff step (-1: stop)."""
        try:
            self.backend.write([op for _, op in batch])
        except StoreUnavailableError as exc:
            self._went_down(exc)
            delay = _BACKOFF[min(backoff, len(_BACKOFF) - 1)]
            with self._cv:
                if self._stopping:
                    return -1  # the spool keeps them for the next process or `tracker sync`
                if self._draining:
                    delay = min(delay, _DRAIN_BACKOFF_S)
                self._busy = False  # a hold need not wait out the backoff
                self._cv.notify_all()
                self._cv.wait(delay)
            return backoff + 1
        except Exception as exc:
            # Not an outage: some op in the batch is bad (or we have a bug). Find it
            # rather than let it block every op behind it.
            if not isinstance(exc, StoreError):
                log.exception("tracker: unexpected error in the writer thread")
            self._write_one_by_one(batch)
            return backoff
        self._came_back()
        self._committed(batch)
        return 0

    def _write_one_by_one(self, batch: list[tuple[int, Op]]) -> None:
        """Write ops singly, setting aside the ones the database rejects for good.

        Stops at the first outage; the ops not yet written stay queued.
        """
        done: list[tuple[int, Op]] = []
        for seq, op in batch:
            try:
                self.backend.write([op])
            except StoreUnavailableError as exc:
                self._went_down(exc)
                break
            except Exception as exc:
                self._reject(op, exc)
            done.append((seq, op))
        if done:
            self._committed(done)
        self._refusals.warn_once()

    def _committed(self, batch: list[tuple[int, Op]]) -> None:
        seqs = [s for s, _ in batch]
        with self._cv:
            for _ in batch:
                self._queue.popleft()
            self._done = seqs[-1]
            self._cv.notify_all()
        # After waking the callers waiting in flush(): the ops are in the database already,
        # and the spool's mark only spares a replay of them (harmless: replay is
        # idempotent), so nobody needs to wait for its write. close() joins this thread
        # before it closes the spool, so the mark is written before the file is judged.
        if self._spool is not None:
            self._spool.commit(seqs)

    def _reject(self, op: Op, exc: BaseException) -> None:
        """Set ``op`` aside with the database's error (one warning per process: see above)."""
        self.last_error = f"rejected a record: {exc}"
        self._refusals.add(op, exc)

    @property
    def rejected(self) -> int:
        """Records the database refused in this process (kept in ``rejected/``)."""
        return self._refusals.count

    def rejected_count(self) -> int:
        """How many records this store refused are kept on this machine (every process)."""
        return count_rejected(self.spool_dir, self.url.identity)

    def retry_rejected(self) -> list[Outcome]:
        """Write the kept records again; drop those that now succeed (``tracker sync --rejected``).

        See :func:`tracker.store.rejected.retry_rejected`.

        Raises:
            StoreUnavailableError: the store cannot be reached (nothing more is tried).
        """
        self.flush(_READ_FLUSH_TIMEOUT_S)
        return retry_rejected(self.backend.write, self.spool_dir, self.url.identity)

    def _went_down(self, exc: BaseException) -> None:
        self.last_error = str(exc)
        self._failures += 1
        if self._down_since is None:
            self._down_since = time.time()
            where = self._spool.path if self._spool else "memory"
            log.warning("tracker: %s (spool: %s)", exc, where)

    def _came_back(self) -> None:
        if self._down_since is not None:
            log.warning(
                "tracker: the store %s answers again after %.0f s; writing the spooled records",
                self.url,
                time.time() - self._down_since,
            )
            self._down_since = None

    def _try_sweep(self) -> None:
        try:
            sweep(self.backend, self.spool_dir)
            self._swept = True
        except StoreUnavailableError as exc:
            self._went_down(exc)
        except Exception as exc:  # never let housekeeping stop the writer
            self.last_error = f"sweep failed: {exc}"
            log.warning("tracker: could not replay old spools or check running runs: %s", exc)
            self._swept = True

    # --- reading -------------------------------------------------------------------------

    def _sync_for_read(self) -> None:
        if self._down_since is None:
            self.flush(_READ_FLUSH_TIMEOUT_S)
        # A reader that never writes (the server, `tracker runs`) must still see dead
        # writers' runs as interrupted and their spooled records.
        now = time.monotonic()
        if now - self._last_read_sweep > _READ_SWEEP_INTERVAL_S:
            self._last_read_sweep = now
            self._try_sweep()

    def describe(self) -> dict[str, Any]:
        """The backend's description plus this process's queue state."""
        info = self.backend.describe()
        info.update(
            pending=self.pending,
            spool=str(self._spool.path) if self._spool else None,
            down_since=self._down_since,
            last_error=self.last_error,
            rejected=self.rejected_count(),
        )
        return info

    def sync(self, timeout: float = 30.0) -> dict[str, int]:
        """Flush this process's queue, then replay dead processes' spools (``tracker sync``)."""
        self.flush(timeout)
        return sweep(self.backend, self.spool_dir)

    # --- lifecycle -----------------------------------------------------------------------

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (up to ``timeout``), stop the thread, release the spool.

        Whatever could not be written stays in the spool file for the next process.
        At interpreter exit the wait is longer: see :mod:`tracker.store._exit`.
        """
        flushed = self.flush(timeout) if self._down_since is None else False
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=2.0)
        if self._spool is not None:
            self._spool.close(delete=flushed)
        self.backend.close()

    @property
    def spool_path(self) -> Path | None:
        """This process's spool file, once it has one."""
        return self._spool.path if self._spool is not None else None

    @property
    def rejected_unreported(self) -> int:
        """Records refused in this process after its one warning was written."""
        return self._refusals.unreported

    def _after_fork_in_child(self) -> None:
        # The parent's thread does not exist here and its spool is the parent's to finish.
        self._cv = threading.Condition()
        self._queue = deque()
        self._thread = None
        self._live = set()
        self._end_due = None
        self._refusals = Refusals(self.spool_dir, self.url.identity)  # the child's own
        if self._spool is not None:
            self._spool.abandon_after_fork()
        self._spool = None
        self._done = self._seq
        engine = getattr(self.backend, "engine", None)
        if engine is not None:
            engine.dispose(close=False)


def _reset_in_child() -> None:
    for store in list(_instances):
        store._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(after_in_child=_reset_in_child)
atexit.register(close_all_at_exit, _instances)
