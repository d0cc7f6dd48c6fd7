"""``tracker.trace(file)`` on a store of 100,000 runs (target: p95 <= 50 ms).

The store is built with the bulk path (``store.write`` of op batches, as
``bench_server`` builds its 100,000-run store): 100,000 runs, each logging one piece of
data by digest, one in ten with an artifact, and 500 notebook sessions of 20 cells, each
cell reading and writing files, so the digest lookups search some 130,000 data rows and
10,000 artifact rows. One session's last cell wrote the model file that is traced, after
a chain of cells back to the CSV it was fitted on.

Each timing is one whole ``tracker.trace(path)`` call on a copy of that 1 MB model, with
the in-process file digest cache cleared first, so it includes reading and hashing the
file, both indexed lookups, reading the run and the session's cells, and walking the
lineage back to the CSV. SQLite (the default store) is timed, and PostgreSQL too when a
server answers at ``TRACKER_TEST_PG`` (not with ``--quick``).

Usage: python benchmarks/bench_trace.py [--quick | --ab]

``--ab`` compares reading runs whole (``get_run``, as trace did before) with reading their
heads (``get_run_head``), interleaved on one store of 10,000 runs.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

T0 = 1_700_000_000.0
TARGET_P95_MS = 50.0
PG_ADMIN = os.environ.get("TRACKER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def _hex(n: int = 32) -> str:
    return (uuid.uuid4().hex * 2)[:n]


def _file_ref(digest: str, path: str, size: int = 1000) -> dict[str, Any]:
    return {"algorithm": "xxh3-128", "digest": digest, "kind": "file", "nbytes": size, "path": path}


def _runs(n_runs: int) -> list[Any]:
    from tracker.store.ops import CreateRun, EndRun, LogArtifact, LogData

    ops: list[Any] = []
    for i in range(n_runs):
        rid, t = uuid.uuid4().hex, T0 + i
        ops += [
            CreateRun(rid, f"run-{i}", "run", t),
            LogData(uuid.uuid4().hex, rid, "features", _file_ref(_hex(), f"/d/f{i}.npy"), t),
            EndRun(rid, "finished", t + 1),
        ]
        if i % 10 == 0:
            ops.append(
                LogArtifact(
                    id=uuid.uuid4().hex,
                    run_id=rid,
                    name="model",
                    digest=_hex(),
                    sha256=_hex(64),
                    size=1000,
                    media_type="application/octet-stream",
                    kind="file",
                    timestamp=t,
                )
            )
    return ops


def _session(start: float, n_cells: int, last: tuple[str, int] | None) -> list[Any]:
    """A session of chained cells: each reads the file the one before wrote."""
    from tracker.store.ops import CreateRun, LogCell, LogData

    sid = uuid.uuid4().hex
    ops: list[Any] = [CreateRun(sid, "session", "session", start)]
    prev = _file_ref(_hex(), "/w/raw.csv")
    for seq in range(n_cells):
        rec, t = uuid.uuid4().hex, start + seq
        out_digest = last[0] if last is not None and seq == n_cells - 1 else _hex()
        out = _file_ref(out_digest, f"/w/step{seq}.bin", last[1] if last else 1000)
        ops.append(
            LogCell(
                id=rec,
                run_id=sid,
                seq=seq,
                cell_id=f"c{seq}",
                execution_count=seq + 1,
                source=f"step_{seq}('in', 'out')",
                source_hash=_hex(64),
                status="ok",
                error=None,
                reads=(),
                writes=(),
                params={},
                metrics={},
                started=t,
                duration_ms=100.0,
            )
        )
        name_in = "./raw.csv" if seq == 0 else f"./step{seq - 1}.bin"
        for role, name, ref in (("input", name_in, prev), ("output", f"./step{seq}.bin", out)):
            ops.append(LogData(uuid.uuid4().hex, sid, name, ref, t + 0.5, role, rec))
        prev = out
    return ops


def build(url: str, n_runs: int, n_sessions: int, model: Path) -> float:
    """Write the store; the model's digest is the last output of the middle session."""
    from tracker.hashing import hash_file
    from tracker.store import open_store

    ref = hash_file(model)
    store = open_store(url, queued=False)
    t = time.perf_counter()
    ops = _runs(n_runs)
    for s in range(n_sessions):
        last = (ref.digest, ref.nbytes) if s == n_sessions // 2 else None
        ops += _session(T0 + n_runs + 100 * s, 20, last)
    for i in range(0, len(ops), 8000):
        store.write(ops[i : i + 8000])
    store.close()
    return time.perf_counter() - t


def _pg_database() -> str | None:
    """A fresh PostgreSQL database (``None`` when no server answers)."""
    try:
        import psycopg

        name = f"bench_trace_{uuid.uuid4().hex[:8]}"
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


def _time_trace(url: str, copy: Path, repeats: int) -> tuple[list[float], list[float], int, int]:
    """Wall and CPU ms of ``repeats`` traces, the lineage's cell count, statements per trace."""
    import tracker
    from tracker.hashing import clear_file_cache
    from tracker.store import open_store

    store = open_store(url, queued=False)
    try:
        found = tracker.trace(copy, store=store)
        if found.origin is None or len(found.cells) != 20:
            raise RuntimeError(f"the traced file was not found as built: {found!r}")
        statements = _statements_per_trace(store, copy)
        times, cpu = [], []
        for _ in range(repeats + 3):
            clear_file_cache()
            t, c = time.perf_counter(), time.process_time()
            tracker.trace(copy, store=store)
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
    finally:
        store.close()
    # The first calls warm the database's page cache.
    return times[3:], cpu[3:], len(found.cells), statements


def _statements_per_trace(store: Any, copy: Path) -> int:
    """SQL statements one trace sends: round trips to the server, whatever the load."""
    import sqlalchemy as sa

    import tracker

    sent: list[str] = []

    def count(*args: Any) -> None:
        sent.append(args[2])

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        tracker.trace(copy, store=store)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    return len(sent)


def _row(backend: str, n_runs: int, n_sessions: int, build_s: float, timed: Any) -> dict[str, Any]:
    times, cpu, cells, statements = timed
    p95 = _pct(times, 0.95)
    return {
        "bench": f"tracker.trace(1 MB file), {backend}, {n_runs:,} runs + "
        f"{n_sessions * 20:,} cells",
        "median_ms": statistics.median(times),
        "p95_ms": p95,
        # CPU time of the call: what it costs without other processes' contention
        "cpu_median_ms": statistics.median(cpu),
        "cpu_p95_ms": _pct(cpu, 0.95),
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "lineage_cells": cells,
        # BEGIN/COMMIT are not counted: each store read is one transaction around these
        "sql_statements": statements,
        "store_build_s": build_s,
        "target": f"p95 <= {TARGET_P95_MS:g} ms",
        "ok": p95 <= TARGET_P95_MS,
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    n_runs = 10_000 if quick else 100_000
    n_sessions = 50 if quick else 500
    repeats = 30 if quick else 200
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-trace-") as d:
        tmp = Path(d)
        os.environ["TRACKER_SPOOL_DIR"] = str(tmp / "spool")
        model = tmp / "work" / "model.joblib"
        model.parent.mkdir()
        model.write_bytes(os.urandom(1 << 20))
        copy = tmp / "prod" / "served.joblib"
        copy.parent.mkdir()
        shutil.copy(model, copy)
        url = f"sqlite:///{tmp / 'tracker.db'}"
        build_s = build(url, n_runs, n_sessions, model)
        rows.append(_row("SQLite", n_runs, n_sessions, build_s, _time_trace(url, copy, repeats)))
        pg = None if quick else _pg_database()
        if pg is not None:
            try:
                build_s = build(pg, n_runs, n_sessions, model)
                timed = _time_trace(pg, copy, repeats)
                rows.append(_row("PostgreSQL", n_runs, n_sessions, build_s, timed))
            finally:
                _drop_pg(pg)
    return rows


def ab(n_runs: int = 10_000, n_sessions: int = 50, calls: int = 240) -> list[str]:
    """Interleaved A/B: runs read whole (``get_run``, before) or as heads (after).

    Same store, same process, calls alternating, so both sides see the same load: the
    honest comparison on a shared machine. ``--ab`` on the command line.
    """
    import tracker
    from tracker.hashing import clear_file_cache
    from tracker.store import BaseStore, SQLStore, open_store

    head = SQLStore.get_run_head
    lines = []
    with tempfile.TemporaryDirectory(prefix="bench-trace-ab-") as d:
        tmp = Path(d)
        os.environ["TRACKER_SPOOL_DIR"] = str(tmp / "spool")
        model, copy = tmp / "model.bin", tmp / "copy.bin"
        model.write_bytes(os.urandom(1 << 20))
        shutil.copy(model, copy)
        urls = {"SQLite": f"sqlite:///{tmp / 'tracker.db'}"}
        pg = _pg_database()
        if pg is not None:
            urls["PostgreSQL"] = pg
        try:
            for name, url in urls.items():
                build(url, n_runs, n_sessions, model)
                store = open_store(url, queued=False)
                times: dict[str, list[float]] = {"before": [], "after": []}
                for i in range(calls + 3):
                    side = "before" if i % 2 else "after"
                    SQLStore.get_run_head = BaseStore.get_run_head if side == "before" else head  # type: ignore[method-assign]
                    clear_file_cache()
                    t = time.perf_counter()
                    tracker.trace(copy, store=store)
                    if i >= 3:  # the first calls warm the page cache
                        times[side].append((time.perf_counter() - t) * 1000)
                SQLStore.get_run_head = head  # type: ignore[method-assign]
                store.close()
                load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
                for side, xs in times.items():
                    lines.append(
                        f"{name} {side}: median {statistics.median(xs):.1f} ms  "
                        f"p95 {_pct(xs, 0.95):.1f} ms  (n={len(xs)}, load {load:.1f})"
                    )
        finally:
            SQLStore.get_run_head = head  # type: ignore[method-assign]
            if pg is not None:
                _drop_pg(pg)
    return lines


if __name__ == "__main__":
    if "--ab" in sys.argv:
        print("\n".join(ab()))
        sys.exit(0)
    for row in run(quick="--quick" in sys.argv):
        print(
            "  ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
            )
        )
