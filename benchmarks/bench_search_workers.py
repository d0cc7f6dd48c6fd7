"""Distributed search: N ``tracker worker`` processes on one PostgreSQL study.

Target (issue 4): 4 workers with trials that each wait 1 s reach >= 3.5x the trials per
minute of one worker, with 0 lost or duplicated trials.

Each arm creates a search (``tracker.create_search``) in a fresh PostgreSQL database,
starts its workers as separate ``python -m tracker.cli worker`` processes (as on other
machines) and waits for them. Throughput is the study's completed trials over the span
while every worker was running trials, read from Optuna's own timestamps (each trial
notes its worker): process start-up and the last round, where some workers have already
stopped at the study's target, are costs per search, not per trial, and are left out of
``speedup``; ``speedup_incl_ramp`` counts the whole span from the first trial's start to
the last one's end. Then every Optuna trial is matched with the tracker's child runs of the search:
a trial with no run, a run with no trial, or two runs for one trial count as lost or
duplicated.

Needs the PostgreSQL server of TOOLCHAIN (``TRACKER_TEST_PG``, default
``postgresql://postgres@127.0.0.1:5432/postgres``); without it the row says why.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

ADMIN_URL = os.environ.get("TRACKER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TRIAL_S = 1.0

OBJECTIVE = textwrap.dedent(
    f"""
    import os
    import time

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        y = trial.suggest_float("y", 0.0, 1.0)
        trial.set_user_attr("bench.worker", os.environ["BENCH_WORKER"])
        time.sleep({TRIAL_S})  # the model's training, as far as the search is concerned
        return {{"f": x, "g": (1.0 - x) ** 2 + y, "size": 10.0 * y}}
    """
)


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql)


def measure(trials: list[Any], runs: list[Any]) -> dict[str, Any]:
    """Throughput of a study's trials, and their match with the search's trial runs.

    ``trials`` are Optuna trials whose user attr ``bench.worker`` names the process that
    ran each; ``runs`` the tracker's child runs of the search. Shared with
    ``bench_search_dask.py``, so both count the same way.
    """
    import optuna

    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    start = min(t.datetime_start for t in done if t.datetime_start)
    end = max(t.datetime_complete for t in done if t.datetime_complete)
    span = (end - start).total_seconds()
    # Steady state: while every worker was running trials (after the last one's first
    # trial started, until the first one's last trial ended). Start-up and the last
    # round, where some workers have stopped at the target, are per search, not per trial.
    mine: dict[str, list[Any]] = {}
    for t in done:
        mine.setdefault(str(t.user_attrs.get("bench.worker")), []).append(t)
    w0 = max(min(t.datetime_start for t in ts) for ts in mine.values())
    w1 = min(max(t.datetime_complete for t in ts) for ts in mine.values())
    window = (w1 - w0).total_seconds()
    in_window = sum(1 for t in done if w0 < t.datetime_complete <= w1)
    if len(mine) == 1:  # one worker: the same span, counted the same way
        window, in_window = span, len(done)
    by_number: dict[int, int] = {}
    for r in runs:
        n = int(r.tags["optuna.trial_number"])
        by_number[n] = by_number.get(n, 0) + 1
    numbers = {t.number for t in trials}
    return {
        "trials": len(done),
        "all_trials": len(trials),
        "not_complete": len(trials) - len(done),
        "span_s": span,
        "overall_per_min": 60.0 * len(done) / span if span > 0 else 0.0,
        "per_min": 60.0 * in_window / window if window > 0 else 0.0,
        "workers_seen": len(mine),
        "lost": len(numbers - set(by_number)) + len(set(by_number) - numbers),
        "duplicated": sum(c - 1 for c in by_number.values()) + (len(trials) - len(numbers)),
    }


def _arm(workers: int, per_worker: int, tmp: Path) -> dict[str, Any]:
    import optuna

    import tracker
    from tracker.tuning import create_search

    db = f"trk_bench_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{db}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + db
    try:
        tracker.set_store(url)
        study, _, run = create_search(
            objectives={"f": "minimize", "g": "minimize"},
            constraints=["size <= 6"],
            study_name=f"bench-{workers}",
            n_trials=workers * per_worker,
            seed=0,
        )
        run.end()
        tracker.get_store().flush(30)
        procs = []
        for i in range(workers):
            env = dict(
                os.environ, TRACKER_SPOOL_DIR=str(tmp / f"spool-{workers}-{i}"), BENCH_WORKER=str(i)
            )
            env.pop("TRACKER_STORE", None)
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tracker.cli", "worker", "--study",
                     f"bench-{workers}", "--store", url, "--objective", "wobj:objective"],
                    cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                )
            )  # fmt: skip
        errors = []
        for p in procs:
            _, err = p.communicate(timeout=600)
            if p.returncode != 0:
                last = err.strip().splitlines()[-1] if err.strip() else ""
                errors.append(last or f"exit {p.returncode}")
        trials = optuna.load_study(study_name=f"bench-{workers}", storage=study._storage).trials
        runs = tracker.search_runs(kind="trial", parent=run.id, limit=10_000)
        return {"workers": workers, **measure(trials, runs), "errors": errors}
    finally:
        tracker.set_store(None)
        _admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def run(quick: bool = False) -> list[dict[str, Any]]:
    import warnings

    warnings.simplefilter("ignore")
    try:
        _admin("SELECT 1")
    except Exception as exc:
        return [
            {
                "bench": "search workers (PostgreSQL)",
                "skipped": f"PostgreSQL not reachable at {ADMIN_URL}: {exc}",
            }
        ]
    per_worker = 6 if quick else 15
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        (tmp / "wobj.py").write_text(OBJECTIVE)
        t0 = time.perf_counter()
        one = _arm(1, per_worker, tmp)
        four = _arm(4, per_worker, tmp)
        wall = time.perf_counter() - t0
    speedup = four["per_min"] / one["per_min"] if one["per_min"] else 0.0
    overall = four["overall_per_min"] / one["overall_per_min"] if one["overall_per_min"] else 0.0
    bad = one["lost"] + one["duplicated"] + four["lost"] + four["duplicated"]
    return [
        {
            "bench": "search workers (PostgreSQL, 1 s trials)",
            "trials_1w": one["trials"],
            "trials_4w": four["trials"],
            "per_min_1w": round(one["per_min"], 1),
            "per_min_4w": round(four["per_min"], 1),
            "speedup": round(speedup, 2),
            "speedup_incl_ramp": round(overall, 2),
            "workers_active": four["workers_seen"],
            "lost": one["lost"] + four["lost"],
            "duplicated": one["duplicated"] + four["duplicated"],
            "not_complete": one["not_complete"] + four["not_complete"],
            "worker_errors": "; ".join(one["errors"] + four["errors"]) or "none",
            "wall_s": round(wall, 1),
            "target": ">= 3.5x, 0 lost or duplicated",
            "ok": speedup >= 3.5
            and bad == 0
            and four["workers_seen"] == 4
            and not (one["errors"] or four["errors"]),
        }
    ]
