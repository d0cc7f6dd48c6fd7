"""Non-blocking, durable writes in front of a store.

``QueuedStore.write`` appends the ops to this process's spool (a local file,
microseconds) and returns; one background thread writes them to the database in
batches, in order. The logging call therefore never waits for the database and
never raises because it is down, and a record whose call returned is on disk.

When the database is unreachable the thread warns once (``logging``, logger
``"tracker"``), keeps the ops in the spool and retries with backoff. An op the
database rejects for good (a bug, not an outage) is moved to
``<spool dir>/rejected/`` with the error instead of blocking the ops behind it.

Reads flush first (read-your-writes), except while the store is known to be down.
The same thread replays spools left by dead processes, keeps a heartbeat on this
process's running runs, and marks runs whose writer died as ``interrupted``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tracker.exceptions import StoreError, StoreUnavailableError
from tracker.records import ArtifactRef, CellExecution, Metric, Run, RunStatus
from tracker.store._base import BaseStore, DataUse, LiveRun
from tracker.store.ops import CreateRun, EndRun, Heartbeat, Op, op_to_dict
from tracker.store.query import RunQuery
from tracker.store.spool import Spool, find_orphans, owner_is_alive, read_pending

__all__ = ["HEARTBEAT_INTERVAL_S", "STALE_AFTER_S", "QueuedStore", "sweep"]

log = logging.getLogger("tracker")

HEARTBEAT_INTERVAL_S = 60.0
#: A running run on another host with no heartbeat for this long is taken as interrupted.
STALE_AFTER_S = 15 * 60.0
_BATCH = 1000
_BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)
_READ_FLUSH_TIMEOUT_S = 10.0
_READ_SWEEP_INTERVAL_S = 10.0
_LINGER_S = 0.01
#: Longest a hold (``hold_writes``) keeps the writer waiting: a forgotten hold must not
#: keep records out of the database for long.
_MAX_HOLD_S = 30.0

_instances: weakref.WeakSet[QueuedStore] = weakref.WeakSet()


def sweep(store: BaseStore, spool_dir: Path | None) -> dict[str, int]:
    """Replay dead processes' spools into ``store`` and mark their running runs interrupted.

    Safe to call from several processes at once (spool files are locked while replayed).

    Returns:
        Counts: ``replayed_files``, ``replayed_ops``, ``interrupted``.
    """
    stats = {"replayed_files": 0, "replayed_ops": 0, "interrupted": 0}
    if spool_dir is not None:
        for path, fd in find_orphans(spool_dir, store.url.identity):
            try:
                _, ops = read_pending(path)
                for i in range(0, len(ops), _BATCH):
                    store.write(ops[i : i + _BATCH])
                path.unlink(missing_ok=True)
                stats["replayed_files"] += 1
                stats["replayed_ops"] += len(ops)
            finally:
                os.close(fd)
    now = time.time()
    ends: list[Op] = []
    for live in store.live_runs():
        alive = owner_is_alive(live.owner)
        if alive is None:  # another host: judge by its heartbeat
            last = live.heartbeat if live.heartbeat is not None else live.start_time
            alive = now - last < STALE_AFTER_S
        if not alive:
            ends.append(
                EndRun(
                    run_id=live.run_id,
                    status=RunStatus.INTERRUPTED.value,
                    end_time=live.heartbeat or now,
                    error={
                        "type": "Interrupted",
                        "message": "the process writing this run ended without ending the run "
                        "(killed, out of memory, or the kernel died)",
                        "traceback": None,
                    },
                )
            )
    if ends:
        store.write(ends)
        stats["interrupted"] = len(ends)
    return stats


class QueuedStore(BaseStore):
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
        self._down_since: float | None = None
        self._live: set[str] = set()
        self._swept = False
        self._last_read_sweep = -_READ_SWEEP_INTERVAL_S
        self.last_error: str | None = None
        self.rejected = 0
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
            idle = not self._queue  # the writer waits for a notify only when idle
            if self._spool is not None:
                seqs = self._spool.append(ops)
                self._seq = seqs[-1]
            else:
                seqs = list(range(self._seq + 1, self._seq + 1 + len(ops)))
                self._seq = seqs[-1]
            self._queue.extend(zip(seqs, ops, strict=True))
            for op in ops:
                if isinstance(op, CreateRun) and op.status == RunStatus.RUNNING.value:
                    self._live.add(op.run_id)
                elif isinstance(op, EndRun):
                    self._live.discard(op.run_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="tracker-writer", daemon=True
                )
                self._thread.start()
            if idle or len(self._queue) >= _BATCH:
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
                    # Linger a moment so one transaction carries many ops: fewer commits,
                    # and less time this thread holds the GIL the user's code wants. Until
                    # a deadline: every write notifies, and a plain wait would end at the
                    # next one (one transaction per write under a steady stream of them).
                    self._cv.wait_for(
                        lambda: len(self._queue) >= _BATCH or self._flushing or self._stopping,
                        self.linger_s,
                    )
                if self._held and not self._flushing:
                    self._cv.wait_for(
                        lambda: not self._held or self._flushing or self._stopping, _MAX_HOLD_S
                    )
                batch = [self._queue[i] for i in range(min(_BATCH, len(self._queue)))]
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

    def _committed(self, batch: list[tuple[int, Op]]) -> None:
        seqs = [s for s, _ in batch]
        if self._spool is not None:
            self._spool.commit(seqs)
        with self._cv:
            for _ in batch:
                self._queue.popleft()
            self._done = seqs[-1]
            self._cv.notify_all()

    def _reject(self, op: Op, exc: BaseException) -> None:
        self.rejected += 1
        self.last_error = f"rejected a record: {exc}"
        log.warning(
            "tracker: the store rejected a record (%s); it was set aside in %s",
            exc,
            self._rejected_dir(),
        )
        target = self._rejected_dir()
        if target is None:
            return
        try:
            target.mkdir(parents=True, exist_ok=True)
            with open(target / f"{os.getpid()}.jsonl", "a", encoding="utf-8") as fh:
                fh.write(
                    json.dumps({"error": str(exc), "op": op_to_dict(op)}, allow_nan=True) + "\n"
                )
        except OSError:
            log.warning("tracker: could not write the rejected record to %s", target)

    def _rejected_dir(self) -> Path | None:
        return self.spool_dir / "rejected" if self.spool_dir is not None else None

    def _went_down(self, exc: BaseException) -> None:
        self.last_error = str(exc)
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

    def get_run(self, run_id: str, *, with_cells: bool = True) -> Run:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.get_run(run_id, with_cells=with_cells)

    def search_runs(self, query: RunQuery) -> list[Run]:
        """Flush, then search (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.search_runs(query)

    def count_runs(self, query: RunQuery) -> int:
        """Flush, then count (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.count_runs(query)

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.metric_history(run_id, key)

    def get_cells(self, run_id: str) -> list[CellExecution]:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.get_cells(run_id)

    def data_uses(
        self, digests: Sequence[str], roles: Sequence[str] | None = None
    ) -> list[DataUse]:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.data_uses(digests, roles)

    def artifacts(
        self,
        *,
        run_id: str | None = None,
        name: str | None = None,
        digests: Sequence[str] | None = None,
    ) -> list[ArtifactRef]:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.artifacts(run_id=run_id, name=name, digests=digests)

    def referenced_blobs(self) -> dict[str, str]:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.referenced_blobs()

    def get_setting(self, key: str) -> str | None:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.get_setting(key)

    def live_runs(self) -> list[LiveRun]:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.live_runs()

    def describe(self) -> dict[str, Any]:
        """The backend's description plus this process's queue state."""
        info = self.backend.describe()
        info.update(
            pending=self.pending,
            spool=str(self._spool.path) if self._spool else None,
            down_since=self._down_since,
            last_error=self.last_error,
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

    def _after_fork_in_child(self) -> None:
        # The parent's thread does not exist here and its spool is the parent's to finish.
        self._cv = threading.Condition()
        self._queue = deque()
        self._thread = None
        self._live = set()
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


def _close_all() -> None:
    for store in list(_instances):
        try:
            store.close(timeout=5.0)
        except Exception:  # at exit there is nobody left to tell but the log
            log.warning("tracker: could not close %s cleanly at exit", store.url)


os.register_at_fork(after_in_child=_reset_in_child)
atexit.register(_close_all)
