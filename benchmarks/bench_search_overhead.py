"""Tracker bookkeeping per trial on top of Optuna itself, on SQLite (target <= 2 ms median).

Both arms run the same trivial objective with RandomSampler on the same kind of SQLite
file; the tracker arm runs it through ``tracker.optimize`` as a user calls it (a tracked
run per trial, constraint attributes, the front and hypervolume updates, the progress
reporter it picks by default outside a notebook, writing to a discarded stream, and the
models' release at the end), the Optuna arm through ``optuna.create_study(...).optimize``
with ``trial.set_constraint``.

An arm's figure for a round is its whole wall time divided by its trials: for Optuna,
opening the storage, creating the study and running the trials; for the tracker, the
``optimize`` call (which opens the storage and ends with the search's records and
choice) *and* the wait until every record it queued is in the database (the store's
final flush), so nothing the writer thread does later is left out. Per-search costs are
thus spread over the trials, and so are the trials that meet a commit of the writer
thread, which a median of per-trial gaps would skip. The median gap between trial
starts is reported beside it (``steady_*``), the figure this benchmark gave before, and
so is the difference in the process's CPU time per trial (``cpu_*``, every thread).

One untimed round of 20 trials per arm comes first: importing what a search imports
once per process (the importance evaluators load scikit-learn) is not a per-trial cost.
A round runs both arms back to back on fresh files, in alternating order (tracker first
in even rounds, Optuna first in odd ones), so the load of the 2-core machine hits both
alike; the figure is the median over rounds of the per-round difference (tracker minus
Optuna), with its 95th percentile and the load average.
"""

from __future__ import annotations

import io
import itertools
import os
import statistics
import tempfile
import time
import warnings
from typing import Any


def _median_gap(study: Any) -> float:
    starts = sorted(t.datetime_start for t in study.trials)
    return statistics.median((b - a).total_seconds() * 1000 for a, b in itertools.pairwise(starts))


def run(quick: bool = False) -> list[dict[str, Any]]:
    warnings.simplefilter("ignore")
    import optuna

    import tracker
    from tracker.tuning import TextProgress, open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    n = 40 if quick else 200

    def objective(trial: Any) -> dict[str, float]:
        x = trial.suggest_float("x", 0, 1)
        return {"f": x, "g": 1 - x, "c": x}

    def tracked(tmp: str, i: int, n: int = n) -> tuple[float, float, float]:
        os.environ["TRACKER_SPOOL_DIR"] = f"{tmp}/spool{i}"
        tracker.set_store(f"sqlite:///{tmp}/t{i}.db")
        t0, c0 = time.perf_counter(), time.process_time()
        res = tracker.optimize(
            objective,
            n,
            objectives={"f": "minimize", "g": "minimize"},
            constraints=["c <= 0.8"],
            sampler="random",
            seed=i,
            progress=TextProgress(stream=io.StringIO()),  # the default reporter, silenced
        )
        if not tracker.get_store().flush(60.0):  # every record in the database
            raise RuntimeError("the tracker's records were not written within 60 s")
        total = (time.perf_counter() - t0) * 1000 / n
        cpu = (time.process_time() - c0) * 1000 / n
        tracker.set_store(None)
        return total, _median_gap(res.study), cpu

    def plain_optuna(tmp: str, i: int, n: int = n) -> tuple[float, float, float]:
        # The same kind of file, opened as the tracker opens its own (WAL, busy timeout).
        tracker.set_store(f"sqlite:///{tmp}/p{i}.db")
        url = tracker.get_store().url
        t0, c0 = time.perf_counter(), time.process_time()
        study = optuna.create_study(
            directions=["minimize", "minimize"],
            storage=open_storage(url),
            sampler=optuna.samplers.RandomSampler(seed=i),
        )

        def plain(trial: Any) -> tuple[float, float]:
            m = objective(trial)
            trial.set_constraint("c", m["c"] - 0.8)
            return m["f"], m["g"]

        study.optimize(plain, n)
        total = (time.perf_counter() - t0) * 1000 / n
        cpu = (time.process_time() - c0) * 1000 / n
        tracker.set_store(None)
        return total, _median_gap(study), cpu

    def one_round(tmp: str, i: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        if i % 2:
            theirs = plain_optuna(tmp, i)
            return tracked(tmp, i), theirs
        ours = tracked(tmp, i)
        return ours, plain_optuna(tmp, i)

    # SEARCH_OVERHEAD_ROUNDS: fewer rounds when the machine is too loaded for nine.
    rounds = 1 if quick else int(os.environ.get("SEARCH_OVERHEAD_ROUNDS", "9"))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tracked(tmp, 1000, 20)
        plain_optuna(tmp, 1000, 20)
        pairs = [one_round(tmp, i) for i in range(rounds)]
    diffs = [a[0] - b[0] for a, b in pairs]
    steady = [a[1] - b[1] for a, b in pairs]
    cpu = [a[2] - b[2] for a, b in pairs]
    extra = statistics.median(diffs)
    p95 = statistics.quantiles(diffs, n=20, method="inclusive")[18] if len(diffs) > 1 else extra
    return [
        {
            "bench": "search bookkeeping per trial (SQLite)",
            "trials": n,
            "rounds": rounds,
            "overhead_by_round_ms": [round(d, 2) for d in diffs],
            "tracker_ms": round(statistics.median(a[0] for a, _ in pairs), 2),
            "optuna_ms": round(statistics.median(b[0] for _, b in pairs), 2),
            "overhead_ms": round(extra, 2),
            "overhead_p95_ms": round(p95, 2),
            "steady_overhead_by_round_ms": [round(d, 2) for d in steady],
            "steady_overhead_ms": round(statistics.median(steady), 2),
            "cpu_overhead_by_round_ms": [round(d, 2) for d in cpu],
            "cpu_overhead_ms": round(statistics.median(cpu), 2),
            "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "target": "<= 2 ms",
            "ok": extra <= 2.0,
        }
    ]
