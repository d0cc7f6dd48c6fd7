"""What the panel asks of a big store: newest page, filtered page + count, sort, deep page.

The store is built with the bulk path (``store.write`` of op batches, as ``bench_trace``
and ``bench_server`` build theirs): N runs, each with params ``kernel`` (rbf, linear,
poly), ``C`` and ``gamma``, metrics ``accuracy`` and ``loss`` (one run in twenty has no
``accuracy``, one in a hundred a NaN), a tag, and finished. The build rate is reported.

Then, each timed ``reps`` times in-process on the direct SQL store (no HTTP), p95:

* newest 100: ``search_runs(RunQuery(limit=100))`` (runs with their params and metrics);
* filtered page + count: the first 100 of ``metrics.accuracy > 0.9 and params.kernel =
  'rbf'`` plus ``count_runs_bounded(query, COUNT_BOUND)`` (exact up to the bound, then
  estimated: what the server's runs response does);
* sort by a metric: the first 100 by ``metrics.accuracy desc``;
* deep page: the 100 runs after a cursor at row N - 100 (page 10,000 at 1M, page 1,000
  at 100k) in the default order, and by ``metrics.accuracy desc``; the same page by
  offset once, for comparison.

Targets (issue 19, at 1M runs, SQLite and PostgreSQL): 50 / 100 / 100 / 50 ms.

Usage: python benchmarks/bench_store_scale.py [--quick]   (N = 100,000; --quick: 10,000)
       TRACKER_BENCH_RUNS=1000000 python benchmarks/bench_store_scale.py   (1M runs)
PostgreSQL is measured too when a server answers at ``TRACKER_TEST_PG``;
``TRACKER_BENCH_BACKENDS=sqlite`` (or ``postgresql``) measures one of them.
``TRACKER_BENCH_KEEP=1`` keeps the built stores (SQLite ``scale_<N>.db`` in
``TRACKER_BENCH_KEEP_DIR``, default the temp dir; PostgreSQL database ``bench_scale_<N>``)
and reuses one that already holds N runs instead of building it again (its build rate
is then not measured: ``build_runs_per_s`` is ``None``). A million-run PostgreSQL store
takes minutes to build; this is for measuring a read-path change again on the same data.
"""

from __future__ import annotations

import math
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

T0 = 1_700_000_000.0
COUNT_BOUND = 200  # tracker.server.service.COUNT_BOUND
FILTER = "metrics.accuracy > 0.9 and params.kernel = 'rbf'"
TARGETS_MS = {"newest": 50.0, "filtered": 100.0, "sorted": 100.0, "deep": 50.0}
PG_ADMIN = os.environ.get("TRACKER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def _ops(start: int, n: int, rng: random.Random) -> list[Any]:
    from tracker.store.ops import CreateRun, EndRun, LogMetrics, MetricRow, SetParams

    ops: list[Any] = []
    for i in range(start, start + n):
        rid, t = uuid.uuid4().hex, T0 + i
        acc = math.nan if i % 100 == 7 else round(rng.uniform(0.5, 1.0), 4)
        rows = [MetricRow(uuid.uuid4().hex, "loss", rng.random(), None, t)]
        if i % 20 != 3:
            rows.append(MetricRow(uuid.uuid4().hex, "accuracy", acc, None, t))
        ops += [
            CreateRun(rid, f"run-{i}", "trial" if i % 4 else "run", t, tags={"team": "a"}),
            SetParams(
                rid,
                {
                    "kernel": rng.choice(["rbf", "linear", "poly"]),
                    "C": round(10 ** rng.uniform(-3, 3), 5),
                    "gamma": round(rng.random(), 3),
                },
            ),
            LogMetrics(rid, rows),
            EndRun(rid, "finished", t + 1),
        ]
    return ops


def build(url: str, n: int) -> float:
    """Fill the store at ``url`` with ``n`` runs; return runs per second."""
    from tracker.store import open_store

    store = open_store(url, queued=False)
    rng = random.Random(19)
    store.describe()  # migrate before the clock starts
    t0 = time.perf_counter()
    batch = 5000
    for start in range(0, n, batch):
        store.write(_ops(start, min(batch, n - start), rng))
    rate = n / (time.perf_counter() - t0)
    store.close()
    return rate


def _time(fn: Callable[[], Any], reps: int) -> tuple[float, float]:
    fn()  # warm the caches and the statement cache
    xs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t0) * 1000)
    return _pct(xs, 0.5), _pct(xs, 0.95)


def measure(url: str, n: int, reps: int) -> dict[str, Any]:
    """p50/p95 in ms of what the panel asks, on the store at ``url``."""
    from tracker.store import Cursor, RunQuery, open_store, parse_filter, parse_order_by

    store = open_store(url, queued=False)
    cond = parse_filter(FILTER)
    by_acc = parse_order_by("metrics.accuracy desc")
    newest = RunQuery(limit=100)
    out: dict[str, Any] = {}

    def filtered() -> None:
        store.search_runs(RunQuery(conditions=cond, limit=100))
        out["count"] = store.count_runs_bounded(RunQuery(conditions=cond), COUNT_BOUND)

    t_off = time.perf_counter()
    (before,) = store.search_runs(RunQuery(limit=1, offset=n - 101))
    offset_ms = (time.perf_counter() - t_off) * 1000
    deep = RunQuery(limit=100, cursor=Cursor.after(before, newest.order_by))
    (before_acc,) = store.search_runs(RunQuery(ids=(_run_at(url, by_acc, n - 101),)))
    deep_acc = RunQuery(order_by=by_acc, limit=100, cursor=Cursor.after(before_acc, by_acc))
    timings = {
        "newest": lambda: store.search_runs(newest),
        "filtered": filtered,
        "sorted": lambda: store.search_runs(RunQuery(order_by=by_acc, limit=100)),
        "deep": lambda: store.search_runs(deep),
        "deep_sorted": lambda: store.search_runs(deep_acc),
    }
    row: dict[str, Any] = {}
    for name, fn in timings.items():
        p50, p95 = _time(fn, reps)
        row[f"{name}_p50_ms"], row[f"{name}_p95_ms"] = p50, p95
    assert len(store.search_runs(deep)) == 100
    row["filtered_count"], row["filtered_count_exact"] = out["count"]
    row["filtered_count_true"] = store.count_runs(RunQuery(conditions=cond))
    row["deep_by_offset_once_ms"] = offset_ms
    row["ok"] = all(row[f"{k}_p95_ms"] <= v for k, v in TARGETS_MS.items())
    store.close()
    return row


def _run_at(url: str, order_by: Any, offset: int) -> str:
    """The id of the run at ``offset`` in ``order_by``: the store's own page query, on a
    connection without the store's 30 s statement timeout (a loaded machine can take
    longer to walk a million rows in metric order; it is setup, not measured)."""
    import sqlalchemy as sa

    from tracker.config import StoreURL
    from tracker.store import RunQuery
    from tracker.store._sql._pages import page_rows

    eng = sa.create_engine(StoreURL.parse(url).connect_url())
    try:
        with eng.connect() as conn:
            (row,) = page_rows(conn, RunQuery(order_by=order_by, limit=1, offset=offset))
            return str(row.id)
    finally:
        eng.dispose()


def _pg_database(keep: str | None = None) -> str | None:
    """A new database (or the kept one named ``keep``, created if missing); ``None`` if down."""
    try:
        import psycopg

        name = keep or f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if found is None:
                conn.execute(f'CREATE DATABASE "{name}"')
        return PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    except Exception:
        return None


def _drop_pg(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _held(url: str) -> int:
    """Runs the store at ``url`` already holds (0 for a new one)."""
    from tracker.store import open_store

    store = open_store(url, queued=False)
    try:
        return int(store.describe()["runs"])
    finally:
        store.close()


def _row(label: str, url: str, n: int, reps: int, reuse: bool = False) -> dict[str, Any]:
    held = _held(url) if reuse else 0
    if held not in (0, n):
        raise SystemExit(
            f"{url} holds {held:,} runs, not {n:,}; delete it or unset TRACKER_BENCH_KEEP"
        )
    rate = None if held == n else build(url, n)
    if url.startswith("postgresql"):
        import sqlalchemy as sa

        from tracker.config import StoreURL

        eng = sa.create_engine(StoreURL.parse(url).connect_url())
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # What autovacuum does after a million inserts (PostgreSQL 13+ vacuums after
            # inserts too): statistics, and the visibility map index-only scans rely on.
            conn.execute(sa.text("VACUUM (ANALYZE)"))
        eng.dispose()
    return {
        "bench": f"{n:,} runs, {label}",
        "build_runs_per_s": rate,
        **measure(url, n, reps),
        "load_avg_1m": os.getloadavg()[0],
        "target": "p95 newest 50, filtered+count 100, sorted 100, deep 50 ms (at 1M)",
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = int(os.environ.get("TRACKER_BENCH_RUNS", 10_000 if quick else 100_000))
    reps = 10 if quick else 30
    backends = os.environ.get("TRACKER_BENCH_BACKENDS", "sqlite,postgresql").split(",")
    keep = os.environ.get("TRACKER_BENCH_KEEP", "") not in ("", "0")
    rows = []
    if "sqlite" in backends:
        if keep:
            d = Path(os.environ.get("TRACKER_BENCH_KEEP_DIR", tempfile.gettempdir()))
            rows.append(_row("SQLite", f"sqlite:///{d / f'scale_{n}.db'}", n, reps, reuse=True))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                rows.append(_row("SQLite", f"sqlite:///{Path(tmp) / 'scale.db'}", n, reps))
    if "postgresql" not in backends:
        return rows
    pg = _pg_database(f"bench_scale_{n}" if keep else None)
    if pg is None:
        return [*rows, {"bench": "PostgreSQL", "ok": False, "note": "unreachable"}]
    try:
        rows.append(_row("PostgreSQL", pg, n, reps, reuse=keep))
    finally:
        if not keep:
            _drop_pg(pg)
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from run import print_rows

    print_rows("store at scale", run(quick="--quick" in sys.argv))
