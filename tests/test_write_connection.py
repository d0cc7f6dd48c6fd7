"""The SQLite writer's kept-open connection (tracker/store/_sql/_writeconn.py).

Real SQLite files: writers in two threads at once (one takes a pooled connection), a
batch the database refuses (the kept connection is replaced, the next batch lands),
writes after ``close``, and a forked child writing through its own connection.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid

import pytest

import tracker
from tracker.exceptions import RunNotFoundError, StoreError
from tracker.store import SQLStore
from tracker.store.ops import CreateRun, EndRun


def _run_ops(name: str) -> tuple[str, list[CreateRun | EndRun]]:
    rid = uuid.uuid4().hex
    now = time.time()
    return rid, [
        CreateRun(run_id=rid, name=name, kind="run", start_time=now),
        EndRun(run_id=rid, status="finished", end_time=now + 1),
    ]


def _status(store: SQLStore, rid: str) -> str:
    return str(store.get_run(rid).status.value)


def test_two_threads_write_at_once(sqlite_url: str) -> None:
    store = SQLStore(tracker.StoreURL.parse(sqlite_url))
    ids: list[str] = []
    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        try:
            for i in range(40):
                rid, ops = _run_ops(f"{tag}{i}")
                store.write(ops)
                ids.append(rid)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(ids) == 80
    assert {_status(store, rid) for rid in ids} == {"finished"}
    store.close()


def test_refused_batch_then_next_lands(sqlite_url: str) -> None:
    store = SQLStore(tracker.StoreURL.parse(sqlite_url))
    store.describe()
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse BEFORE INSERT ON tracker_runs "
            "WHEN NEW.name = 'bad' BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    good, ops = _run_ops("good")
    store.write(ops)
    bad, ops = _run_ops("bad")
    with pytest.raises(StoreError, match="refused"):
        store.write(ops)
    after, ops = _run_ops("after")
    store.write(ops)
    assert _status(store, good) == _status(store, after) == "finished"
    with pytest.raises(RunNotFoundError):
        store.get_run(bad)  # the refused batch rolled back whole
    store.close()
    again, ops = _run_ops("after close")
    store.write(ops)  # a closed store's next write opens a connection again
    assert _status(store, again) == "finished"
    store.close()


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin", reason="fork")
def test_forked_child_writes_through_its_own_connection(sqlite_url: str) -> None:
    store = SQLStore(tracker.StoreURL.parse(sqlite_url))
    parent, ops = _run_ops("parent")
    store.write(ops)  # the parent's kept connection is open now
    child, ops = _run_ops("child")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's exit code carries the result
        code = 1
        try:
            store.write(ops)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    later, more = _run_ops("parent again")
    store.write(more)  # the parent's connection still works after the child's writes
    assert {_status(store, r) for r in (parent, child, later)} == {"finished"}
    store.close()
