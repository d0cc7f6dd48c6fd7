"""Logging cost and concurrent writers, side by side with MLflow.

Rows:
* one run with 10 params + 5 metrics to SQLite: our call latency (what the caller
  waits for; the records are already durable in the spool when it returns), our
  latency including the database commit (flush after every run), and MLflow's SQLite
  store doing the same in the same process. Target: median >= 25x faster than MLflow,
  p99 < 5 ms.
* 8 processes x 500 runs into one SQLite file, and into PostgreSQL: lost runs and
  errors raised to callers (target: 0 and 0), wall time.
"""

from __future__ import annotations

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


def bench_ours(n: int, tmp: Path, *, flush_each: bool) -> list[float]:
    import tracker

    os.environ["TRACKER_SPOOL_DIR"] = str(tmp / f"spool-{flush_each}")
    tracker.set_store(f"sqlite:///{tmp / f'ours-{flush_each}.db'}")
    store = tracker.get_store()
    times = []
    for i in range(n + 20):
        t0 = time.perf_counter()
        with tracker.start_run(name=f"r{i}") as run:
            run.log_params(PARAMS)
            run.log_metrics(METRICS)
        if flush_each:
            store.flush()
        dt = time.perf_counter() - t0
        if i >= 20:  # the first runs pay for schema creation and imports
            times.append(dt)
    assert store.flush(120)
    assert len(tracker.search_runs()) == n + 20
    tracker.set_store(None)
    return times


def bench_mlflow(n: int, tmp: Path) -> list[float] | str:
    try:
        import mlflow
    except ImportError as exc:
        return f"mlflow not installed: {exc}"
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
        mlflow.set_experiment("bench")
        times = []
        for i in range(n + 5):
            t0 = time.perf_counter()
            with mlflow.start_run(run_name=f"r{i}"):
                mlflow.log_params(PARAMS)
                mlflow.log_metrics(METRICS)
            dt = time.perf_counter() - t0
            if i >= 5:
                times.append(dt)
    return times


WRITER = textwrap.dedent(
    """
    import sys, tracker
    n, tag = int(sys.argv[1]), sys.argv[2]
    errors = 0
    for i in range(n):
        try:
            with tracker.start_run(name=f"{tag}-{i}") as run:
                run.log_params({"i": i, "tag": tag})
                run.log_metrics({"m": float(i)})
        except Exception as exc:  # counted: an error raised to the caller
            errors += 1
    ok = tracker.get_store().flush(600)
    print(errors, int(not ok), flush=True)
    """
)


def bench_writers(url: str, procs: int, n: int, tmp: Path) -> dict[str, Any]:
    from tracker.store import RunQuery, open_store

    env = dict(os.environ, TRACKER_STORE=url, TRACKER_SPOOL_DIR=str(tmp / "spool-writers"))
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
    errors = unflushed = crashed = 0
    for p in running:
        out, _err = p.communicate(timeout=1800)
        if p.returncode != 0:
            crashed += 1
            continue
        e, u = (int(x) for x in out.split())
        errors += e
        unflushed += u
    wall = time.perf_counter() - t0
    store = open_store(url, queued=False)
    stored = store.count_runs(RunQuery())
    store.close()
    lost = procs * n - stored
    return {
        "runs": procs * n,
        "lost": lost,
        "errors_to_callers": errors + crashed,
        "wall_s": wall,
        "runs_per_s": procs * n / wall,
        "ok": lost == 0 and errors == 0 and crashed == 0 and unflushed == 0,
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


def run(quick: bool = False) -> list[dict[str, Any]]:
    n_ours, n_mlflow = (200, 30) if quick else (2000, 300)
    procs, per_proc = (4, 50) if quick else (8, 500)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ours = bench_ours(n_ours, tmp, flush_each=False)
        durable = bench_ours(n_ours // 4, tmp, flush_each=True)
        ml = bench_mlflow(n_mlflow, tmp)
        row: dict[str, Any] = {"bench": "log 1 run (10 params + 5 metrics), SQLite"}
        row.update(_stats("ours_call", ours))
        row.update(_stats("ours_committed", durable))
        if isinstance(ml, str):
            row["mlflow"] = ml
            row["ok"] = False
        else:
            row.update(_stats("mlflow", ml))
            row["ratio_call_vs_mlflow"] = statistics.median(ml) / statistics.median(ours)
            row["ratio_committed_vs_mlflow"] = statistics.median(ml) / statistics.median(durable)
            row["ok"] = row["ratio_call_vs_mlflow"] >= 25 and row["ours_call_p99_ms"] < 5
        row["target"] = "median >= 25x MLflow, p99 < 5 ms"
        rows.append(row)

        w = bench_writers(f"sqlite:///{tmp / 'writers.db'}", procs, per_proc, tmp)
        rows.append(
            {
                "bench": f"{procs} processes x {per_proc} runs, one SQLite file",
                **w,
                "target": "0 lost, 0 errors",
            }
        )
        pg = _pg_database()
        if pg is None:
            rows.append(
                {"bench": "PostgreSQL writers", "ok": False, "note": "PostgreSQL unreachable"}
            )
        else:
            try:
                w = bench_writers(pg, procs, per_proc, tmp)
                rows.append(
                    {
                        "bench": f"{procs} processes x {per_proc} runs, PostgreSQL",
                        **w,
                        "target": "0 lost, 0 errors",
                    }
                )
            finally:
                _drop_pg(pg)
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from run import print_rows

    print_rows("store", run(quick="--quick" in sys.argv))
