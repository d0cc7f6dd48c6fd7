"""Recovery after dead processes: replay their spools, mark their runs interrupted.

Run by each process's writer thread when it starts, by readers every few seconds, and by
``tracker sync``.
"""

from __future__ import annotations

import time
from pathlib import Path

from tracker.records import RunStatus
from tracker.store._base import BaseStore
from tracker.store.ops import EndRun, Op
from tracker.store.rejected import RejectedLog
from tracker.store.spool import find_orphans, owner_is_alive, read_spool

__all__ = ["BATCH", "STALE_AFTER_S", "sweep"]

#: A running run on another host with no heartbeat for this long is taken as interrupted.
STALE_AFTER_S = 15 * 60.0
#: Most ops in one transaction (replays here, batches in the writer thread).
BATCH = 1000


def sweep(store: BaseStore, spool_dir: Path | None) -> dict[str, int]:
    """Replay dead processes' spools into ``store`` and mark their running runs interrupted.

    Safe to call from several processes at once (spool files are locked while replayed).

    Returns:
        Counts: ``replayed_files``, ``replayed_ops``, ``interrupted``, and ``rejected``
        (spooled records this tracker cannot read, set aside in the rejected folder).
    """
    stats = {"replayed_files": 0, "replayed_ops": 0, "interrupted": 0, "rejected": 0}
    if spool_dir is not None:
        for orphan in find_orphans(spool_dir, store.url.identity):
            try:
                _, ops, unreadable = read_spool(orphan.path)
                for i in range(0, len(ops), BATCH):
                    store.write(ops[i : i + BATCH])
                if unreadable:
                    # Set aside where `tracker sync --rejected` shows them (a newer
                    # tracker can write them), never dropped with the spool file.
                    rejected = RejectedLog(spool_dir, store.url.identity)
                    for doc, why in unreadable:
                        rejected.add_document(doc, why)
                    stats["rejected"] += len(unreadable)
                orphan.path.unlink(missing_ok=True)
                stats["replayed_files"] += 1
                stats["replayed_ops"] += len(ops)
            finally:
                orphan.release()
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
