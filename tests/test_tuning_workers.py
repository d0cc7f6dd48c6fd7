"""Distributed search: two `tracker worker` processes on one real PostgreSQL study."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest

import tracker
from tracker.tuning import create_search

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

OBJECTIVE = textwrap.dedent(
    """
    import time

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        time.sleep(0.3)
        # Odd trials break the constraint, so feasible and infeasible trials both exist
        # whatever the sampler draws.
        return {"f": x, "g": 1.0 - x, "size": 9.0 if trial.number % 2 else 1.0}
    """
)


def test_two_worker_processes_share_one_study(pg_url: str, tmp_path: Path) -> None:
    (tmp_path / "wobj.py").write_text(OBJECTIVE)
    tracker.set_store(pg_url)
    study, spec, run = create_search(
        objectives={"f": "minimize", "g": "minimize"},
        constraints=["size <= 8"],
        study_name="dist",
        n_trials=10,
    )
    run.end()
    procs = []
    for i in range(2):
        env = dict(os.environ, TRACKER_SPOOL_DIR=str(tmp_path / f"spool{i}"))
        env.pop("TRACKER_STORE", None)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tracker.cli",
                    "worker",
                    "--study",
                    "dist",
                    "--store",
                    pg_url,
                    "--objective",
                    "wobj:objective",
                ],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "worker ran" in out
    ran = [int(out.split("worker ran ")[1].split()[0]) for out, _ in outs]
    assert all(n >= 1 for n in ran), ran  # both really worked
    trials = optuna.load_study(study_name="dist", storage=study._storage).trials
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    assert 10 <= len(trials) <= 11  # the target, give or take one in-flight race
    assert sum(ran) == len(trials)
    assert all(t.state is optuna.trial.TrialState.COMPLETE for t in trials)
    # every Optuna trial is exactly one tracked child run of the search: none lost, none twice
    runs = tracker.search_runs(kind="trial", parent=spec.search_run_id)
    tags = sorted(int(r.tags["optuna.trial_number"]) for r in runs)
    assert tags == sorted(numbers)
    assert {r.attrs["trial"]["feasible"] for r in runs} == {True, False}
    search = tracker.get_run(spec.search_run_id)
    assert search.attrs["pareto"]
    assert search.metrics["n_trials"] == len(trials)


def test_worker_on_unknown_study_says_what_exists(pg_url: str, tmp_path: Path) -> None:
    from tracker.cli import main

    (tmp_path / "wobj2.py").write_text(OBJECTIVE)
    sys.path.insert(0, str(tmp_path))
    try:
        code = main(
            ["worker", "--study", "nope", "--store", pg_url, "--objective", "wobj2:objective"]
        )
    finally:
        sys.path.remove(str(tmp_path))
    assert code == 2
