"""Scale-out on Dask: ``tracker.optimize(..., executor=client)`` with 1 and 4 worker processes.

Target (issue 18): 4 Dask workers (processes) on PostgreSQL with trials that each wait
1 s reach >= 3.6x the trials per minute of one, with 0 lost, 0 duplicated, and never more
trials in the study than ``n_trials``.

Each arm starts a ``distributed.LocalCluster`` of N worker processes (one thread each),
puts the store on a fresh PostgreSQL database and runs ``tracker.optimize`` from this
process with ``executor=client``: the study, the search run, the progress reporter and
the final choice are here, every trial runs on a worker. Throughput and the trial/run
match are counted exactly as for ``tracker worker`` processes
(``bench_search_workers.measure``): the steady span while every worker runs trials, and
every Optuna trial matched with exactly one tracked run. ``max_trials_over_n_trials`` is
the largest excess of a study over its ``n_trials`` (0: exact).

The two arms run in interleaved rounds (1 worker, 4 workers, 1, 4, ...) and ``speedup``
is the median of the rounds' ratios: on a shared machine a burst of other work during
one arm would otherwise decide the figure. Lost and duplicated trials are summed over
every round.

Needs the PostgreSQL server of TOOLCHAIN (``TRACKER_TEST_PG``) and the ``dask`` extra;
without either the row says why.
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench_search_workers import ADMIN_URL, _admin, measure

TRIAL_S = 1.0


def objective(trial: Any) -> dict[str, float]:
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_float("y", 0.0, 1.0)
    trial.set_user_attr("bench.worker", f"{socket.gethostname()}:{os.getpid()}")
    time.sleep(TRIAL_S)  # the model's training, as far as the search is concerned
    return {"f": x, "g": (1.0 - x) ** 2 + y, "size": 10.0 * y}


def _arm(workers: int, n_trials: int) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    import tracker

    db = f"trk_bench_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{db}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + db
    try:
        tracker.set_store(url)
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            client.wait_for_workers(workers, timeout=120)
            t0 = time.perf_counter()
            result = tracker.optimize(
                objective,
                n_trials,
                objectives={"f": "minimize", "g": "minimize"},
                constraints=["size <= 6"],
                study_name=f"bench-dask-{workers}",
                executor=client,
                show_progress=False,
            )
            wall = time.perf_counter() - t0
        runs = tracker.search_runs(kind="trial", parent=result.search_run_id, limit=10_000)
        return {
            **measure(result.study.trials, runs),
            "n_trials": n_trials,
            "wall_s": wall,
        }
    finally:
        tracker.set_store(None)
        _admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def run(quick: bool = False) -> list[dict[str, Any]]:
    import warnings

    warnings.simplefilter("ignore")
    name = "search on Dask (PostgreSQL, 1 s trials)"
    try:
        import cloudpickle
        import distributed  # noqa: F401
    except ImportError as exc:
        return [{"bench": name, "skipped": f"the dask extra is not installed: {exc}"}]
    try:
        _admin("SELECT 1")
    except Exception as exc:
        return [{"bench": name, "skipped": f"PostgreSQL not reachable at {ADMIN_URL}: {exc}"}]
    # The workers cannot import this file by name (run.py loads it from a path), so its
    # objective travels by value, as a notebook cell's would.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    per_worker = 6 if quick else 15
    rounds = 1 if quick else 3
    arms: list[tuple[dict[str, Any], dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TRACKER_SPOOL_DIR"] = str(Path(tmp) / "spool")  # the workers inherit it
        for _ in range(rounds):
            arms.append((_arm(1, per_worker), _arm(4, 4 * per_worker)))
    ratios = [f["per_min"] / o["per_min"] if o["per_min"] else 0.0 for o, f in arms]
    ramps = [
        f["overall_per_min"] / o["overall_per_min"] if o["overall_per_min"] else 0.0
        for o, f in arms
    ]
    every = [a for pair in arms for a in pair]
    lost = sum(a["lost"] for a in every)
    duplicated = sum(a["duplicated"] for a in every)
    over = max(a["all_trials"] - a["n_trials"] for a in every)
    speedup = statistics.median(ratios)
    return [
        {
            "bench": name,
            "rounds": rounds,
            "trials_1w": sum(o["trials"] for o, _ in arms),
            "trials_4w": sum(f["trials"] for _, f in arms),
            "per_min_1w": round(statistics.median(o["per_min"] for o, _ in arms), 1),
            "per_min_4w": round(statistics.median(f["per_min"] for _, f in arms), 1),
            "speedup": round(speedup, 2),
            "speedup_rounds": " ".join(f"{r:.2f}" for r in ratios),
            "speedup_incl_ramp": round(statistics.median(ramps), 2),
            "workers_active": min(f["workers_seen"] for _, f in arms),
            "lost": lost,
            "duplicated": duplicated,
            "max_trials_over_n_trials": over,
            "not_complete": sum(a["not_complete"] for a in every),
            "wall_s": round(sum(a["wall_s"] for a in every), 1),
            "target": ">= 3.6x, 0 lost or duplicated, never more trials than n_trials",
            "ok": speedup >= 3.6
            and lost == 0
            and duplicated == 0
            and over == 0
            and all(f["workers_seen"] == 4 for _, f in arms),
        }
    ]
