"""What the validation layer costs the logging call (issue 15's target: <= 20 us).

One run of 10 params + 5 metrics through the public API (``start_run``, ``log_params``,
``log_metrics``, end) on a SQLite store behind the queued writer, as in ``bench_store``,
measured in the same process two ways, in alternating blocks so both see the same machine:

* ``checked``: the code as it ships: every op checks its fields when it is built.
* ``bypassed``: the same calls with every check switched off (the ops' ``__post_init__``
  and the check functions ``LogMetrics.build`` calls replaced by pass-throughs), i.e. the
  lower layer with nothing in front of it.

The difference is the whole cost of validation on this path (the checks the run API made
before this issue included), so it bounds what the issue added from above. Rows: the
full call (what the caller waits for, spool append included) and the op building alone
(no store: less noise). Target: median difference <= 20 us.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

PARAMS = {f"param_{i}": i * 0.5 for i in range(10)}
METRICS = {f"metric_{i}": i / 7 for i in range(5)}
TARGET_US = 20.0


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


@contextlib.contextmanager
def bypassed() -> Iterator[None]:
    """Switch every check off: the ops build as plain dataclasses, metrics pass unchecked."""
    from tracker.store import ops

    classes = [c for c in vars(ops).values() if isinstance(c, type) and "__post_init__" in vars(c)]
    saved = {c: c.__post_init__ for c in classes}  # type: ignore[attr-defined]
    names = ("check_id", "check_step", "check_time", "validate_metrics")
    saved_fns = {n: getattr(ops, n) for n in names}
    try:
        for c in classes:
            c.__post_init__ = lambda self: None  # type: ignore[attr-defined]
        ops.check_id = lambda what, v, **kw: v  # type: ignore[assignment]
        ops.check_step = lambda v: v  # type: ignore[assignment]
        ops.check_time = lambda what, v, **kw: v  # type: ignore[assignment]
        ops.validate_metrics = dict  # type: ignore[assignment]
        yield
    finally:
        for c, fn in saved.items():
            c.__post_init__ = fn  # type: ignore[attr-defined]
        for n, fn in saved_fns.items():
            setattr(ops, n, fn)


def _one_run(i: int) -> None:
    import tracker

    with tracker.start_run(name=f"r{i}") as run:
        run.log_params(PARAMS)
        run.log_metrics(METRICS)


def _ops_only(i: int) -> None:
    from tracker.store.ops import CreateRun, EndRun, LogMetrics, SetParams

    rid = f"{i:032x}"
    t = time.time()
    CreateRun(rid, f"r{i}", "run", t, tags={}, script="/tmp/bench.py", owner="host:/tmp/x")
    SetParams(rid, PARAMS)
    LogMetrics.build(rid, METRICS)
    EndRun(rid, "finished", t)


def _alternate(
    fn: Callable[[int], None], n: int, block: int = 50
) -> tuple[list[float], list[float]]:
    """Times of ``fn`` checked and bypassed, in alternating blocks of ``block`` calls."""
    checked: list[float] = []
    plain: list[float] = []
    i = 0
    while len(checked) < n:
        for target, ctx in ((checked, contextlib.nullcontext()), (plain, bypassed())):
            with ctx:
                for _ in range(block):
                    t0 = time.perf_counter()
                    fn(i)
                    target.append(time.perf_counter() - t0)
                    i += 1
    return checked[:n], plain[:n]


def _row(name: str, checked: list[float], plain: list[float]) -> dict[str, Any]:
    c = [x * 1e6 for x in checked]
    p = [x * 1e6 for x in plain]
    added = statistics.median(c) - statistics.median(p)
    return {
        "bench": name,
        "checked_median_us": statistics.median(c),
        "bypassed_median_us": statistics.median(p),
        "added_median_us": added,
        "checked_p99_us": _pct(c, 0.99),
        "bypassed_p99_us": _pct(p, 0.99),
        "added_p99_us": _pct(c, 0.99) - _pct(p, 0.99),
        "n": len(c),
        "target": f"median added <= {TARGET_US:.0f} us",
        "ok": added <= TARGET_US,
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    import tracker

    n = 400 if quick else 3000
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ["TRACKER_SPOOL_DIR"] = str(tmp / "spool")
        tracker.set_store(f"sqlite:///{tmp / 'bench.db'}")
        store = tracker.get_store()
        for i in range(40):  # schema creation, imports, first environment capture
            _one_run(-1 - i)
        rows = [
            _row("log 1 run (10 params + 5 metrics), call, SQLite", *_alternate(_one_run, n)),
        ]
        assert store.flush(300)
        assert len(tracker.search_runs(limit=None)) == 40 + 2 * n
        assert store.rejected == 0  # type: ignore[attr-defined]
        tracker.set_store(None)
        rows.append(_row("build the ops of 1 run (no store)", *_alternate(_ops_only, n * 3)))
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from run import print_rows

    print_rows("validation", run(quick="--quick" in sys.argv))
