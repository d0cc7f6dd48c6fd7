"""Logging cost and concurrent writers, side by side with MLflow.

Rows:
* one run with 10 params + 5 metrics to SQLite: our call latency (what the caller
  waits for; the records are already durable in the spool when it returns), our
  latency until the database committed it (flush after every run), MLflow's SQLite
  store as it comes (rollback journal), and MLflow on the same WAL/synchronous/busy
  settings we use (pragmas set on its engine's connections), all in one process,
  interleaved in rounds. Targets: committed median >= 25x MLflow default and >= 10x
  MLflow on our settings; call median >= 25x MLflow default with p99 < 5 ms. Also the
  database bytes per run with environments stored once (schema 0006) and, for the same
  runs, with a copy per run (the file downgraded to 0005).
* 8 processes x 500 runs into one SQLite file, and 16 x 300 into PostgreSQL, each
  run with 10 params + 5 metrics, each process simply exiting when done: what another
  process sees right after the last writer exited, without ``tracker sync`` (target: 0
  lost, 0 duplicated, 0 errors raised to callers, 100% visible), and how long the
  exits waited for their spools to be written.
* A run's end to its being visible to another process, during a search's 0.5 s
  linger (target: under 1 s for every run).

``python benchmarks/bench_store.py --writers`` runs only the concurrency rows,
``--one-run`` only the first row.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

PARAMS = {f"param_{i}": i * 0.5 for i in range(10)}
METRICS = {f"metric_{i}": i / 7 for i in range(5)}
PG_ADMIN = os.environ.get("TRACKER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def _stats(name: str, xs_s: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in xs_s]
    return {
        f"{name}_median_ms": statistics.median(ms),
        f"{name}_p95_ms": _pct(ms, 0.95),
        f"{name}_p99_ms": _pct(ms, 0.99),
    }


class _Ours:
    """Our run API on one SQLite file; ``committed`` waits for the commit after each run."""

    def __init__(self, tmp: Path, *, committed: bool) -> None:
        self.name = "ours_committed" if committed else "ours_call"
        self.committed = committed
        self.path = tmp / f"ours-{self.name}.db"
        self.spool = tmp / f"spool-{self.name}"
        self.logged = 0

    def chunk(self, n: int) -> list[float]:
        import tracker

        os.environ["TRACKER_SPOOL_DIR"] = str(self.spool)
        tracker.set_store(f"sqlite:///{self.path}")
        store = tracker.get_store()
        times = []
        for i in range(n + _WARM):
            t0 = time.perf_counter()
            with tracker.start_run(name=f"r{i}") as run:
                run.log_params(PARAMS)
                run.log_metrics(METRICS)
            if self.committed:
                store.flush()
            dt = time.perf_counter() - t0
            if i >= _WARM:  # a chunk's first runs pay for opening the store
                times.append(dt)
        assert store.flush(120)
        self.logged += n + _WARM
        assert len(tracker.search_runs()) == self.logged
        tracker.set_store(None)
        return times


class _MLflow:
    """MLflow's SQLite store, as it comes or on our WAL settings (same process, same runs)."""

    def __init__(self, tmp: Path, *, wal: bool) -> None:
        self.name = "mlflow_wal" if wal else "mlflow_default"
        self.url = f"sqlite:///{tmp / f'{self.name}.db'}"
        if wal:
            _wal_for_mlflow(self.url)

    def chunk(self, n: int) -> list[float]:
        import mlflow

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlflow.set_tracking_uri(self.url)
            mlflow.set_experiment("bench")
            times = []
            for i in range(n + _WARM):
                t0 = time.perf_counter()
                with mlflow.start_run(run_name=f"r{i}"):
                    mlflow.log_params(PARAMS)
                    mlflow.log_metrics(METRICS)
                dt = time.perf_counter() - t0
                if i >= _WARM:
                    times.append(dt)
        return times

    def journal(self) -> str:
        import sqlite3

        with contextlib.closing(sqlite3.connect(self.url.removeprefix("sqlite:///"))) as c:
            return str(c.execute("PRAGMA journal_mode").fetchone()[0])


_WARM = 3
_WAL_URLS: set[str] = set()


def _wal_for_mlflow(url: str) -> None:
    """Open MLflow's engine for ``url`` with the pragmas ``tracker/store/_sql/engine.py`` sets.

    MLflow builds its engine in ``mlflow.store.db.utils.create_sqlalchemy_engine`` (looked up
    by name from ``create_sqlalchemy_engine_with_retry``, once per URI); wrapping it adds a
    ``connect`` listener to that one engine: WAL, ``synchronous=NORMAL``, our busy timeout.
    """
    import mlflow.store.db.utils as db_utils
    from sqlalchemy import event

    from tracker.store._sql.engine import SQLITE_BUSY_TIMEOUT_S, set_wal

    _WAL_URLS.add(url)
    if getattr(db_utils.create_sqlalchemy_engine, "_tracker_wal", False):
        return
    create = db_utils.create_sqlalchemy_engine

    def create_with_wal(db_uri: str) -> Any:
        engine = create(db_uri)
        if db_uri in _WAL_URLS:

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                set_wal(dbapi_conn)
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
                cur.close()

        return engine

    create_with_wal._tracker_wal = True  # type: ignore[attr-defined]
    db_utils.create_sqlalchemy_engine = create_with_wal


def bench_one_run(n_ours: int, n_mlflow: int, tmp: Path, rounds: int = 5) -> dict[str, Any]:
    """One run (10 params + 5 metrics), ours and MLflow's, interleaved in ``rounds``.

    The machine's load moves over minutes; running each contender a chunk at a time, in
    turn, gives each the same share of it instead of whatever the load was during its turn.
    """
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    contenders: list[Any] = [_Ours(tmp, committed=False), _Ours(tmp, committed=True)]
    try:
        import mlflow  # noqa: F401
    except ImportError as exc:
        return {"mlflow": f"mlflow not installed: {exc}", "ok": False}
    contenders += [_MLflow(tmp, wal=False), _MLflow(tmp, wal=True)]
    sizes = {"ours_call": n_ours, "ours_committed": n_ours // 2}
    times: dict[str, list[float]] = {c.name: [] for c in contenders}
    for _ in range(rounds):
        for c in contenders:
            times[c.name] += c.chunk(max(1, sizes.get(c.name, n_mlflow) // rounds))
    row: dict[str, Any] = {}
    for name, xs in times.items():
        row.update(_stats(name, xs))
    med = {name: statistics.median(xs) for name, xs in times.items()}
    for ours in ("ours_call", "ours_committed"):
        for peer in ("mlflow_default", "mlflow_wal"):
            row[f"ratio_{ours.removeprefix('ours_')}_vs_{peer}"] = med[peer] / med[ours]
    row["mlflow_wal_journal"] = contenders[3].journal()
    row["mlflow_default_journal"] = contenders[2].journal()
    row.update(_bytes_per_run(contenders[1].path))
    row["load_avg_1m"] = os.getloadavg()[0]
    row["ok"] = (
        row["ratio_committed_vs_mlflow_default"] >= 25
        and row["ratio_committed_vs_mlflow_wal"] >= 10
        and row["ratio_call_vs_mlflow_default"] >= 25
        and row["ours_call_p99_ms"] < 5
    )
    return row


def _bytes_per_run(path: Path) -> dict[str, float]:
    """Database bytes per run (``page_count * page_size / runs``, after ``VACUUM``).

    Measured on our committed-runs database as written (schema 0006: one environment row
    per distinct environment), and on a copy downgraded to schema 0005, where each run
    holds its own copy of its environment: the same runs, before and after.
    """
    import shutil
    import sqlite3

    import sqlalchemy as sa

    from tracker.store._sql.engine import _MIGRATIONS

    def size(p: Path) -> tuple[float, int]:
        with contextlib.closing(sqlite3.connect(p)) as c:
            c.execute("VACUUM")
            pages = c.execute("PRAGMA page_count").fetchone()[0]
            page = c.execute("PRAGMA page_size").fetchone()[0]
            runs = c.execute("SELECT count(*) FROM tracker_runs").fetchone()[0]
        return pages * page / runs, runs

    after = path.with_suffix(".after.db")
    before = path.with_suffix(".before.db")
    with contextlib.closing(sqlite3.connect(path)) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(path, after)
    shutil.copy(path, before)
    from alembic import command
    from alembic.config import Config

    engine = sa.create_engine(f"sqlite:///{before}")
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    engine.dispose()
    per_after, runs = size(after)
    per_before, _ = size(before)
    return {
        "runs_in_db": runs,
        "bytes_per_run_0005": per_before,
        "bytes_per_run_0006": per_after,
        "bytes_per_run_saved": per_before - per_after,
    }


WRITER = textwrap.dedent(
    """
    import atexit, sys, time
    # Registered before the tracker's own hook, so it runs after it: the moment the
    # process is done waiting for its spool to be written.
    atexit.register(lambda: print("exited", time.time(), flush=True))
    import tracker
    n, tag = int(sys.argv[1]), sys.argv[2]
    params = {f"param_{j}": j * 0.5 for j in range(10)}
    errors = 0
    for i in range(n):
        try:
            with tracker.start_run(name=f"{tag}-{i}") as run:
                run.log_params(params)
                run.log_metrics({f"metric_{j}": i + j / 7 for j in range(5)})
        except Exception:  # counted: an error raised to the caller
            errors += 1
    print("logged", errors, time.time(), flush=True)
    # No flush and no `tracker sync`: the script just ends.
    """
)


def bench_writers(url: str, procs: int, n: int, tmp: Path) -> dict[str, Any]:
    """``procs`` processes log ``n`` runs each and exit; then another process reads.

    Counts what that reader sees right after the last writer exited, with no
    ``tracker sync``: runs lost, duplicated (one name twice), incomplete (fewer than 10
    params or 5 metrics, or not finished); errors raised to the writers' callers; spool
    files left behind; how long each writer's exit waited for its spool to be written.
    """
    from tracker.store import RunQuery, open_store

    spool = tmp / f"spool-writers-{uuid.uuid4().hex[:6]}"
    env = dict(os.environ, TRACKER_STORE=url, TRACKER_SPOOL_DIR=str(spool))
    env.pop("TRACKER_EXIT_TIMEOUT", None)
    open_store(url, queued=False).describe()  # create the schema before the clock starts
    t0 = time.perf_counter()
    running = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(n), f"w{k}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(procs)
    ]
    errors = crashed = 0
    waits: list[float] = []
    for p in running:
        out, _err = p.communicate(timeout=1800)
        fields = dict(line.partition(" ")[::2] for line in out.splitlines())
        if p.returncode != 0 or "logged" not in fields or "exited" not in fields:
            crashed += 1
            continue
        e, logged_at = fields["logged"].split()
        errors += int(e)
        waits.append(float(fields["exited"]) - float(logged_at))
    wall = time.perf_counter() - t0
    store = open_store(url, queued=False)  # the other process: a direct read, no sweep
    runs = store.search_runs(RunQuery())
    store.close()
    expected = {f"w{k}-{i}" for k in range(procs) for i in range(n)}
    names = [r.name for r in runs]
    seen = set(names) & expected
    complete = sum(
        1
        for r in runs
        if len(r.params) == 10 and len(r.metrics) == 5 and r.status.value == "finished"
    )
    total = procs * n
    lost = total - len(seen)
    duplicated = len(names) - len(set(names))
    return {
        "runs": total,
        "lost": lost,
        "duplicated": duplicated,
        "incomplete": len(runs) - complete,
        "errors_to_callers": errors + crashed,
        "visible_after_exit": len(seen) / total,
        "spools_left": len(list(spool.glob("*.spool"))),
        "exit_wait_median_s": statistics.median(waits) if waits else None,
        "exit_wait_max_s": max(waits) if waits else None,
        "wall_s": wall,
        "runs_per_s": total / wall,
        "ok": lost == 0
        and duplicated == 0
        and complete == len(runs) == total
        and errors == 0
        and crashed == 0,
    }


VISIBLE_WRITER = textwrap.dedent(
    """
    import sys, time, tracker
    n = int(sys.argv[1])
    store = tracker.get_store()
    with store.lingering(0.5):  # what a search sets: batch over half a second
        for i in range(n):
            with tracker.start_run(name=f"v{i}") as run:
                run.log_params({"i": i})
                run.log_metrics({"m": float(i)})
            print(run.id, time.time(), flush=True)
            time.sleep(0.1)  # the next trial's work
    """
)


def bench_visibility(url: str, n: int, tmp: Path) -> dict[str, Any]:
    """Seconds from a run's ``with`` block ending to another process seeing it finished."""
    import threading

    from tracker.exceptions import RunNotFoundError
    from tracker.store import open_store

    env = dict(os.environ, TRACKER_STORE=url, TRACKER_SPOOL_DIR=str(tmp / "spool-visible"))
    open_store(url, queued=False).describe()
    ended: dict[str, float] = {}
    proc = subprocess.Popen(
        [sys.executable, "-c", VISIBLE_WRITER, str(n)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            rid, t = line.split()
            ended[rid] = float(t)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    store = open_store(url, queued=False)
    seen: dict[str, float] = {}
    deadline = time.time() + 300
    while time.time() < deadline and (proc.poll() is None or len(seen) < len(ended)):
        for rid in [r for r in list(ended) if r not in seen]:
            # One cheap lookup per run not seen yet, so the reader's own cost stays ~ms.
            with contextlib.suppress(RunNotFoundError):
                if store.get_run(rid, with_cells=False).status.value == "finished":
                    seen[rid] = time.time()
        time.sleep(0.01)  # the reader's polling interval (10 ms)
    store.close()
    proc.wait(timeout=60)
    reader.join(timeout=10)
    delays = sorted(seen[rid] - t for rid, t in ended.items() if rid in seen)
    return {
        "runs": n,
        "seen": len(delays),
        "visible_median_s": statistics.median(delays) if delays else None,
        "visible_p95_s": _pct(delays, 0.95) if delays else None,
        "visible_max_s": max(delays) if delays else None,
        "ok": len(delays) == n and max(delays) < 1.0,
    }


def _pg_database() -> str | None:
    try:
        import psycopg

        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    except Exception:
        return None


def _drop_pg(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _writer_rows(
    label: str, url: str, procs: int, per_proc: int, tmp: Path
) -> list[dict[str, Any]]:
    target = "0 lost, 0 duplicated, 0 errors, 100% visible right after exit (no sync)"
    rows = [
        {
            "bench": f"{procs} processes x {per_proc} runs (10 params + 5 metrics), {label}",
            **bench_writers(url, procs, per_proc, tmp),
            "target": target,
        }
    ]
    rows.append(
        {
            "bench": f"run end -> visible to another process, {label}, search linger 0.5 s",
            **bench_visibility(url, 10 if procs < 8 else 30, tmp),
            "target": "every run < 1 s",
        }
    )
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    n_ours, n_mlflow = (200, 30) if quick else (2000, 300)
    sqlite_writers, pg_writers = ((4, 50), (4, 50)) if quick else ((8, 500), (16, 300))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        row: dict[str, Any] = {"bench": "log 1 run (10 params + 5 metrics), SQLite"}
        row.update(bench_one_run(n_ours, n_mlflow, tmp))
        row["target"] = (
            "committed median >= 25x MLflow default, >= 10x MLflow on our WAL settings; "
            "call >= 25x MLflow default, call p99 < 5 ms"
        )
        rows.append(row)
        rows += concurrency_rows(tmp, sqlite_writers, pg_writers)
    return rows


def concurrency_rows(
    tmp: Path, sqlite_writers: tuple[int, int], pg_writers: tuple[int, int]
) -> list[dict[str, Any]]:
    """Concurrent writers and visibility on SQLite, then PostgreSQL (``--only store``)."""
    rows = _writer_rows("SQLite", f"sqlite:///{tmp / 'writers.db'}", *sqlite_writers, tmp)
    pg = _pg_database()
    if pg is None:
        return [*rows, {"bench": "PostgreSQL writers", "ok": False, "note": "unreachable"}]
    try:
        rows += _writer_rows("PostgreSQL", pg, *pg_writers, tmp)
    finally:
        _drop_pg(pg)
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from run import print_rows

    quick = "--quick" in sys.argv
    if "--one-run" in sys.argv:
        with tempfile.TemporaryDirectory() as d:
            sizes = (200, 30) if quick else (2000, 300)
            one = {"bench": "log 1 run (10 params + 5 metrics), SQLite"}
            print_rows("store (one run)", [{**one, **bench_one_run(*sizes, Path(d))}])
    elif "--writers" in sys.argv:
        with tempfile.TemporaryDirectory() as d:
            sizes = ((4, 50), (4, 50)) if quick else ((8, 500), (16, 300))
            print_rows("store (writers)", concurrency_rows(Path(d), *sizes))
    else:
        print_rows("store", run(quick=quick))
