"""Nothing is lost: store outages, killed writers, rejected records, dead writers' runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from tinydb import TinyDB

import tracker
from tracker import RunStatus
from tracker.store import QueuedStore, RunQuery, open_store
from tracker.store.ops import CreateRun, SetParams, SetRunFields
from tracker.store.spool import TABLE, SpoolStorage, read_pending

from .netproxy import TCPProxy


@pytest.fixture
def proxy() -> Iterator[TCPProxy]:
    p = TCPProxy(("127.0.0.1", 5432))
    p.start()
    yield p
    p.stop()


def _via_proxy(pg_url: str, proxy: TCPProxy) -> str:
    return pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")


def _spool_files(spool_dir: Path) -> list[Path]:
    return sorted(spool_dir.glob("*.spool")) if spool_dir.is_dir() else []


def _log_runs(n: int, prefix: str) -> list[str]:
    ids = []
    for i in range(n):
        with tracker.start_run(name=f"{prefix}{i}", tags={"batch": prefix}) as run:
            run.log_params({"i": i, "nested": {"x": i * 2}})
            run.log_metrics({"m": i / 10})
            run.log_metric("curve", 1.0, step=0)
            run.log_metric("curve", 2.0, step=1)
        ids.append(run.id)
    return ids


def _assert_runs_complete(ids: list[str], prefix: str) -> None:
    for i, rid in enumerate(ids):
        r = tracker.get_run(rid)
        assert r.name == f"{prefix}{i}"
        assert r.status is RunStatus.FINISHED
        assert r.params == {"i": i, "nested.x": i * 2}
        assert r.metrics == {"m": i / 10, "curve": 2.0}
        assert [m.value for m in tracker.metric_history(rid, "curve")] == [1.0, 2.0]


@pytest.mark.postgres
def test_postgres_outage_spools_then_replays_everything(
    pg_url: str, proxy: TCPProxy, tmp_path: Path
) -> None:
    tracker.set_store(_via_proxy(pg_url, proxy))
    before = _log_runs(3, "up")
    store = tracker.get_store()
    assert isinstance(store, QueuedStore)
    assert store.flush(30)

    proxy.stop()  # PostgreSQL is now unreachable for this process
    during = _log_runs(20, "down")  # never raises, never waits for the database
    assert store.flush(0.5) is False
    assert store.pending > 0
    # Every pending record is in this process's spool, readable with TinyDB's own API.
    (spool,) = _spool_files(tmp_path / "spool")
    with TinyDB(spool, storage=SpoolStorage) as db:
        pending_ops = [d["op"]["op"] for d in db.table(TABLE).all()]
    assert pending_ops.count("create_run") >= 20
    with pytest.raises(tracker.StoreUnavailableError, match="unavailable"):
        tracker.search_runs()  # reads say so plainly
    assert store.is_down
    assert store.last_error

    proxy.start()  # back
    assert store.flush(60)
    assert not store.is_down
    _assert_runs_complete(before, "up")
    _assert_runs_complete(during, "down")
    assert len(tracker.search_runs()) == 23


WRITER = textwrap.dedent(
    """
    import sys, time, tracker
    n = int(sys.argv[1])
    ids = []
    for i in range(n):
        with tracker.start_run(name=f"k{i}") as run:
            run.log_params({"i": i})
            run.log_metrics({"m": float(i)})
        ids.append(run.id)
    open_run = tracker.start_run(name="left-open")
    open_run.log_metrics({"progress": 0.5})
    print(" ".join(ids), open_run.id, flush=True)
    time.sleep(600)
    """
)


def _start_writer(n: int, store_url: str, spool: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, TRACKER_STORE=store_url, TRACKER_SPOOL_DIR=str(spool))
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(n)], env=env, stdout=subprocess.PIPE, text=True
    )


def _kill_after_output(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    proc.send_signal(signal.SIGKILL)  # right after the logging calls returned
    proc.wait(timeout=30)
    proc.stdout.close()
    return line.split()


def test_writer_killed_right_after_its_calls_returned_loses_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    ids = _kill_after_output(_start_writer(200, url, tmp_path / "spool"))
    *done, left_open = ids
    assert len(done) == 200
    tracker.set_store(url)
    stats = tracker.sync()
    assert stats["interrupted"] >= 1
    runs = {r.id: r for r in tracker.search_runs(limit=None)}
    for i, rid in enumerate(done):
        assert runs[rid].status is RunStatus.FINISHED
        assert runs[rid].params == {"i": i}
        assert runs[rid].metrics == {"m": float(i)}
    # The run it left open is interrupted, with what it logged before dying.
    assert runs[left_open].status is RunStatus.INTERRUPTED
    assert runs[left_open].metrics == {"progress": 0.5}
    assert runs[left_open].error is not None
    assert "ended without ending the run" in runs[left_open].error.message
    assert _spool_files(tmp_path / "spool") == []  # replayed and removed


@pytest.mark.postgres
def test_writer_killed_while_postgres_is_down_loses_nothing(
    pg_url: str, proxy: TCPProxy, tmp_path: Path
) -> None:
    url = _via_proxy(pg_url, proxy)
    direct = open_store(url, queued=False)
    direct.describe()  # the schema exists; now take the server away
    direct.close()
    proxy.stop()
    done = _kill_after_output(_start_writer(50, url, tmp_path / "spool"))[:-1]
    (spool,) = _spool_files(tmp_path / "spool")
    header, ops = read_pending(spool)
    assert header is not None
    assert header["store"] == tracker.StoreURL.parse(url).identity
    assert sum(isinstance(op, CreateRun) for op in ops) == 51
    proxy.start()
    tracker.set_store(url)
    tracker.sync()
    for i, rid in enumerate(done):
        r = tracker.get_run(rid)
        assert r.params == {"i": i}
        assert r.status is RunStatus.FINISHED
    assert _spool_files(tmp_path / "spool") == []


def test_the_next_process_replays_a_dead_writers_spool_by_itself(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'next.db'}"
    done = _kill_after_output(_start_writer(20, url, tmp_path / "spool"))[:-1]
    # A new process that only writes (never calls sync) cleans up after the dead one.
    code = "import tracker\nwith tracker.start_run(name='next'): pass\n"
    env = dict(os.environ, TRACKER_STORE=url, TRACKER_SPOOL_DIR=str(tmp_path / "spool"))
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    store = open_store(url, queued=False)
    names = {r.name for r in store.search_runs(RunQuery())}
    assert {f"k{i}" for i in range(20)} <= names
    assert "next" in names
    assert len(done) == 20
    store.close()


def test_a_spooled_record_this_tracker_cannot_read_is_set_aside_not_dropped(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    spool = tmp_path / "spool"
    done = _kill_after_output(_start_writer(5, url, spool))[:-1]
    # Given a dead writer's spool that also holds a record from a newer tracker (a field
    # this one does not know),
    (left,) = spool.glob("*.spool")
    future = {"op": "set_params", "run_id": done[0], "params": {"a": 1}, "since_v9": True}
    with open(left, "ab") as fh:
        fh.write(json.dumps({"t": TABLE, "+": 10**9, "d": {"seq": 10**9, "op": future}}).encode())
        fh.write(b"\n")
    # when the next process replays it, the records it can read are written,
    tracker.set_store(url)
    stats = tracker.sync()
    assert stats["rejected"] == 1
    names = {r.name for r in tracker.search_runs(limit=None)}
    assert {f"k{i}" for i in range(5)} <= names
    # and the one it cannot read is kept where `tracker sync --rejected` shows it, whole.
    (kept,) = (spool / "rejected").glob("*.jsonl")
    entry = json.loads(kept.read_text().splitlines()[0])
    assert entry["op"] == future
    assert "cannot read the spooled record" in entry["error"]
    assert not left.exists()


def test_a_run_left_open_at_normal_exit_is_finished(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'exit.db'}"
    code = (
        "import tracker\nr = tracker.start_run(name='open')\n"
        "r.log_metrics({'x': 1.0})\nprint(r.id)\n"
    )
    env = dict(os.environ, TRACKER_STORE=url, TRACKER_SPOOL_DIR=str(tmp_path / "spool"))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    tracker.set_store(url)
    r = tracker.get_run(out.stdout.strip())
    assert r.status is RunStatus.FINISHED
    assert r.metrics == {"x": 1.0}
    assert _spool_files(tmp_path / "spool") == []  # a clean exit leaves no spool behind


def test_an_uncaught_exception_in_a_script_fails_its_open_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    code = (
        "import tracker\nr = tracker.start_run(name='open')\n"
        "print(r.id, flush=True)\nraise ValueError('bad data')\n"
    )
    env = dict(os.environ, TRACKER_STORE=url, TRACKER_SPOOL_DIR=str(tmp_path / "spool"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 1
    assert "ValueError: bad data" in out.stderr  # the user's traceback is still printed
    tracker.set_store(url)
    r = tracker.get_run(out.stdout.strip())
    assert r.status is RunStatus.FAILED
    assert r.error is not None
    assert r.error.message == "bad data"


def test_a_record_the_store_rejects_is_set_aside_and_the_rest_written(tmp_path: Path) -> None:
    tracker.set_store(f"sqlite:///{tmp_path / 'reject.db'}")
    store = tracker.get_store()
    with tracker.start_run(name="before") as a:
        pass
    # A bad op (a field the store does not allow) between good ones.
    store.write([SetRunFields(a.id, {"owner": "someone"})])
    with tracker.start_run(name="after") as b:
        b.log_params({"ok": 1})
    assert store.flush(30)
    assert tracker.get_run(b.id).params == {"ok": 1}
    assert isinstance(store, QueuedStore)
    assert store.rejected == 1
    (rejected,) = (tmp_path / "spool" / "rejected").glob("*.jsonl")
    entry = json.loads(rejected.read_text().splitlines()[0])
    assert entry["op"]["op"] == "set_run_fields"
    assert "cannot set run fields" in entry["error"]


def test_spool_files_survive_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "x.spool"
    storage = SpoolStorage(path, header={"store": "s"})
    with TinyDB(storage=lambda: storage) as db:  # type: ignore[arg-type]
        db.table(TABLE).insert(
            {"seq": 1, "op": {"op": "set_params", "run_id": "r", "params": {"a": 1}}}
        )
    with open(path, "ab") as fh:
        fh.write(b'{"t": "ops", "+": 2, "d": {"seq"')  # killed in the middle of a write
    header, ops = read_pending(path)
    assert header is not None
    assert header["store"] == "s"
    assert ops == [SetParams(run_id="r", params={"a": 1})]


def test_spool_storage_keeps_tinydb_semantics(tmp_path: Path) -> None:
    path = tmp_path / "t.spool"
    with TinyDB(path, storage=SpoolStorage) as db:
        t = db.table("ops")
        ids = t.insert_multiple({"seq": i} for i in range(5))
        t.remove(doc_ids=ids[:3])
        t.update({"seq": 99}, doc_ids=[ids[4]])
    with TinyDB(path, storage=SpoolStorage) as db:
        assert sorted(d["seq"] for d in db.table("ops").all()) == [3, 99]
    # The file only ever grew: each change was appended, nothing rewritten.
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 5 + 1 + 1


def test_pg_url_password_never_printed(pg_url: str) -> None:
    url = pg_url.replace("postgres@", "postgres:s3cret@")
    parsed = tracker.StoreURL.parse(url)
    assert "s3cret" not in str(parsed)
    assert "s3cret" not in repr(parsed)
    assert "***" in parsed.redacted()
    store = open_store(url, queued=False)
    assert "s3cret" not in repr(store)
    info = store.describe()  # trust auth ignores the password; the description must not show it
    assert "s3cret" not in json.dumps(info, default=str)
    store.close()


def test_unreachable_store_message_says_what_to_do(tmp_path: Path) -> None:
    from tests.netproxy import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    store = open_store(url, queued=False)
    with pytest.raises(tracker.StoreUnavailableError) as err:
        store.search_runs(RunQuery())
    assert "spool" in str(err.value)
    assert "tracker sync" in str(err.value)
    store.close()


# --- a clean exit waits until the spool is written ---------------------------------------

EXIT_WRITER = textwrap.dedent(
    """
    import sys, tracker
    n = int(sys.argv[1])
    for i in range(n):
        with tracker.start_run(name=f"e{i}") as run:
            run.log_params({"i": i})
            run.log_metrics({"m": float(i)})
    print("logged", flush=True)
    """
)
PROGRESS = "before exiting"
LEFT = "not yet written"


class _Lines:
    """A child's stderr, read line by line on a thread, so a test can wait for a line."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._cv = threading.Condition()
        self._done = False
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                with self._cv:
                    self.lines.append(line)
                    self._cv.notify_all()
        with self._cv:
            self._done = True
            self._cv.notify_all()

    def wait_for(self, text: str, timeout: float) -> str:
        with self._cv:
            ok = self._cv.wait_for(
                lambda: self._done or any(text in line for line in self.lines), timeout
            )
            found = [line for line in self.lines if text in line]
            assert ok, f"{text!r} never printed; stderr so far: {self.lines}"
            assert found, f"{text!r} never printed; stderr: {self.lines}"
            return found[0]

    def all(self, timeout: float = 30) -> str:
        with self._cv:
            assert self._cv.wait_for(lambda: self._done, timeout), "stderr not closed"
            return "".join(self.lines)


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; any still running when it ends (it failed) is killed."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=30)


def _start_exit_writer(
    children: list[subprocess.Popen[str]], n: int, url: str, spool: Path, **env: str
) -> tuple[subprocess.Popen[str], _Lines]:
    proc = subprocess.Popen(
        [sys.executable, "-c", EXIT_WRITER, str(n)],
        env=dict(os.environ, TRACKER_STORE=url, TRACKER_SPOOL_DIR=str(spool), **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    children.append(proc)
    assert proc.stdout is not None
    assert proc.stderr is not None
    lines = _Lines(proc.stderr)
    with proc.stdout:
        assert proc.stdout.readline().strip() == "logged"  # every logging call has returned
    return proc, lines


@contextlib.contextmanager
def _write_lock(url: str) -> Iterator[None]:
    """Hold the database's write lock, so that every other writer waits (does not fail).

    SQLite: an open ``BEGIN IMMEDIATE`` (writers wait out their 30 s busy timeout);
    PostgreSQL: ``LOCK TABLE tracker_runs IN EXCLUSIVE MODE`` (reads still go through).
    """
    parsed = tracker.StoreURL.parse(url)
    if parsed.kind == "sqlite":
        assert parsed.path is not None
        conn = sqlite3.connect(parsed.path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
    else:
        import psycopg

        with psycopg.connect(url) as pg:
            pg.execute("LOCK TABLE tracker_runs IN EXCLUSIVE MODE")
            try:
                yield
            finally:
                pg.rollback()


def _stored(url: str) -> list[tracker.Run]:
    store = open_store(url, queued=False)
    try:
        return store.search_runs(RunQuery())
    finally:
        store.close()


def test_a_clean_exit_waits_for_a_slow_store_until_every_record_is_written(
    store_url: str, tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    # Given a store that makes every writer wait (another transaction holds its lock),
    _stored(store_url)  # the schema exists
    spool = tmp_path / "spool"  # the test's own spool directory too
    with _write_lock(store_url):
        # when a script that logged 50 runs exits normally,
        proc, lines = _start_exit_writer(children, 50, store_url, spool)
        # then it says once that it is writing them, and keeps waiting: long past the
        # 5 s after which exits used to give up and leave the records in the spool.
        assert str(tracker.StoreURL.parse(store_url)) in lines.wait_for(PROGRESS, timeout=120)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=8)
    # Once the store answers, it writes everything and exits 0,
    assert proc.wait(timeout=180) == 0
    err = lines.all()
    assert err.count(PROGRESS) == 1, err
    assert LEFT not in err
    # and another process sees every run at once, without `tracker sync`.
    runs = _stored(store_url)
    assert sorted(r.name for r in runs) == sorted(f"e{i}" for i in range(50))
    assert all(r.status is RunStatus.FINISHED and r.params == {"i": int(r.name[1:])} for r in runs)
    assert _spool_files(spool) == []


@pytest.mark.postgres
def test_an_exit_with_the_store_unreachable_says_how_many_records_wait_and_where(
    pg_url: str, proxy: TCPProxy, tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    url = _via_proxy(pg_url, proxy)
    _stored(url)
    proxy.stop()
    spool = tmp_path / "spool"  # the test's own spool directory too
    proc, lines = _start_exit_writer(children, 20, url, spool)
    # The exit gives up after a few seconds of failed retries, not after the stall bound,
    assert proc.wait(timeout=60) == 0
    err = lines.all()
    (line,) = [x for x in err.splitlines() if LEFT in x]
    (left,) = _spool_files(spool)
    # with one line: how many, which store, why, where, and what writes them.
    _, ops = read_pending(left)
    assert line.startswith(f"tracker: {len(ops)} record(s) not yet written to ")
    assert "unreachable" in line
    assert str(left) in line
    assert "tracker sync" in line
    assert "s3cret" not in err
    assert "Traceback" not in err
    proxy.start()
    tracker.set_store(url)
    tracker.sync()
    assert len(tracker.search_runs(limit=None)) == 20
    assert _spool_files(spool) == []


def test_the_exit_timeout_setting_leaves_pending_records_in_the_spool(
    tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    url = f"sqlite:///{tmp_path / 'capped.db'}"
    _stored(url)
    spool = tmp_path / "spool"  # the test's own spool directory too
    with _write_lock(url):
        proc, lines = _start_exit_writer(children, 10, url, spool, TRACKER_EXIT_TIMEOUT="0")
        # TRACKER_EXIT_TIMEOUT=0: the process does not wait for the locked store,
        assert proc.wait(timeout=60) == 0
    err = lines.all()
    (line,) = [x for x in err.splitlines() if LEFT in x]
    assert "TRACKER_EXIT_TIMEOUT=0 s" in line
    assert PROGRESS not in err
    # and nothing is lost: the spool has them for the next process or `tracker sync`.
    (left,) = _spool_files(spool)
    assert str(left) in line
    tracker.set_store(url)
    tracker.sync()
    assert sorted(r.name for r in tracker.search_runs(limit=None)) == sorted(
        f"e{i}" for i in range(10)
    )


VISIBLE_WRITER = textwrap.dedent(
    """
    import sys, tracker
    store = tracker.get_store()
    with store.lingering(60):  # like a search, with a linger far longer than the test waits
        with tracker.start_run(name="warm-up"):
            pass
        assert store.flush(60)
        with tracker.start_run(name="quick") as run:
            run.log_params({"C": 1.0})
        print(run.id, flush=True)
        sys.stdin.read()  # stay alive (and lingering) until the test closes stdin
    """
)


def test_a_finished_run_is_visible_to_other_processes_without_waiting_out_the_linger(
    store_url: str, tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    env = dict(os.environ, TRACKER_STORE=store_url, TRACKER_SPOOL_DIR=str(tmp_path / "w"))
    proc = subprocess.Popen(
        [sys.executable, "-c", VISIBLE_WRITER],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    children.append(proc)
    assert proc.stdout is not None
    assert proc.stdin is not None
    try:
        with proc.stdout:
            run_id = proc.stdout.readline().strip()
        ended = time.monotonic()
        direct = open_store(store_url, queued=False)
        try:
            # The writer lingers 60 s to batch; an ended run cuts that short (0.2 s).
            deadline = ended + 30
            seen = None
            while time.monotonic() < deadline:
                with contextlib.suppress(tracker.RunNotFoundError):
                    seen = direct.get_run(run_id)
                    if seen.status is RunStatus.FINISHED:
                        break
                time.sleep(0.02)  # polling the other process's database, not a sync
            assert seen is not None
            assert seen.status is RunStatus.FINISHED
            assert seen.params == {"C": 1.0}
        finally:
            direct.close()
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=120) == 0


@pytest.mark.parametrize(
    ("raw", "expected", "complaint"),
    [
        ("", None, False),
        ("0", 0.0, False),
        ("2.5", 2.5, False),
        ("soon", None, True),
        ("-1", None, True),
    ],
    ids=["unset", "zero", "seconds", "not-a-number", "negative"],
)
def test_the_exit_timeout_setting_is_read_or_refused_with_a_reason(
    raw: str,
    expected: float | None,
    complaint: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tracker.store._exit import ENV_EXIT_TIMEOUT, exit_limit

    monkeypatch.setenv(ENV_EXIT_TIMEOUT, raw)
    assert exit_limit() == expected
    err = capsys.readouterr().err
    assert ("ignoring TRACKER_EXIT_TIMEOUT" in err) is complaint
    assert ("a number >= 0" in err) is complaint
