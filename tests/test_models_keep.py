"""``keep_models="pareto"`` for trials run elsewhere: ``executor=`` pools and ``tracker worker``.

Each trial logs a model whose bytes differ (a constant regressor holding the trial's
values). After the search (and, for workers, after the worker ends) ``tracker gc``
with no grace period must collect exactly the models of trials off the Pareto front
(computed here by brute force from the study), and every front trial's model must load.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import optuna
import pytest

import tracker
from tracker.store.artifacts import collect_garbage, for_store
from tracker.tuning import create_search, run_worker, set_keep_models

OBJECTIVES = {"f": "minimize", "g": "minimize"}


def objective(trial: Any) -> dict[str, float]:
    """Two free coordinates: some trials are dominated, some are on the front."""
    from sklearn.dummy import DummyRegressor

    x, y = trial.suggest_float("x", 0.0, 1.0), trial.suggest_float("y", 0.0, 1.0)
    model = DummyRegressor(strategy="constant", constant=[x, y]).fit([[0.0]], [[x, y]])
    tracker.log_model(model, "model")
    return {"f": x, "g": y}


def _front(trials: list[optuna.trial.FrozenTrial]) -> set[int]:
    """Trial numbers no other complete trial dominates (brute force)."""
    done = [t for t in trials if t.state is optuna.trial.TrialState.COMPLETE]
    pts = {
        t.number: (t.user_attrs["tracker.metrics"]["f"], t.user_attrs["tracker.metrics"]["g"])
        for t in done
    }

    def dominated(a: tuple[float, float]) -> bool:
        return any(b[0] <= a[0] and b[1] <= a[1] and b != a for b in pts.values())

    return {n for n, p in pts.items() if not dominated(p)}


def _check_gc_collects_the_dominated(study: optuna.Study, search_run_ids: set[str]) -> set[int]:
    """gc collects exactly the dominated trials' models; returns the front's trial numbers."""
    store = tracker.get_store()
    store.flush()
    runs = [
        r
        for sid in search_run_ids
        for r in tracker.search_runs(kind="trial", parent=sid, limit=1000)
    ]
    by_number = {int(r.tags["optuna.trial_number"]): r.id for r in runs}
    trials = study.trials
    assert sorted(by_number) == sorted(t.number for t in trials)  # every trial is a run
    front = _front(trials)
    assert front
    assert len(front) < len(trials), "the draw left no dominated trial"
    digests = {
        n: store.artifacts(run_id=rid, name="model")[-1].digest for n, rid in by_number.items()
    }
    # each search's own pick stays, even when later trials moved it off the front
    picks = {
        tracker.get_run(sid).attrs.get(k) for sid in search_run_ids for k in ("chosen", "closest")
    }
    kept = front | {n for n, rid in by_number.items() if rid in picks}
    report = collect_garbage(for_store(store), grace_s=0, delete=True)
    assert {b.digest for b in report.garbage} == {d for n, d in digests.items() if n not in kept}
    for n in front:
        tracker.load_model(f"runs:/{by_number[n]}/model")
    return front


def test_a_thread_pool_executor_keeps_only_the_front(sqlite_url: str) -> None:
    tracker.set_store(sqlite_url)
    with ThreadPoolExecutor(2) as pool:
        result = tracker.optimize(
            objective, 8, objectives=OBJECTIVES, executor=pool, progress=[], seed=3
        )
    assert result.study.user_attrs["tracker.keep_models"] == "pareto"
    front = _check_gc_collects_the_dominated(result.study, {result.search_run_id})
    assert front == {t.number for t in result.pareto}


@pytest.mark.postgres
def test_a_process_pool_keeps_only_the_front(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_ARTIFACTS", str(tmp_path / "artifacts"))
    tracker.set_store(pg_url)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        result = tracker.optimize(
            objective, 8, objectives=OBJECTIVES, executor=pool, progress=[], seed=4
        )
    _check_gc_collects_the_dominated(result.study, {result.search_run_id})


WORKER_OBJECTIVE = textwrap.dedent(
    """
    import tracker
    from sklearn.dummy import DummyRegressor

    def objective(trial):
        x, y = trial.suggest_float("x", 0.0, 1.0), trial.suggest_float("y", 0.0, 1.0)
        model = DummyRegressor(strategy="constant", constant=[x, y]).fit([[0.0]], [[x, y]])
        tracker.log_model(model, "model")
        return {"f": x, "g": y}
    """
)


@pytest.mark.postgres
@pytest.mark.slow
def test_a_worker_finishing_after_the_search_applies_its_keep_models(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a search that ended (keep_models="pareto" by default), then resumed for workers
    monkeypatch.setenv("TRACKER_ARTIFACTS", str(tmp_path / "artifacts"))
    tracker.set_store(pg_url)
    result = tracker.optimize(
        objective, 3, objectives=OBJECTIVES, study_name="keep", progress=[], seed=5
    )
    study, spec, run = create_search(objectives=OBJECTIVES, study_name="keep", n_trials=6)
    study.enqueue_trial({"x": 1.0, "y": 1.0})  # a worker trial every other one dominates
    run.end()
    # when a `tracker worker` process runs the remaining trials
    (tmp_path / "wobj.py").write_text(WORKER_OBJECTIVE)
    env = dict(os.environ, TRACKER_SPOOL_DIR=str(tmp_path / "spool-worker"))
    env.pop("TRACKER_STORE", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracker.cli",
            "worker",
            "--study",
            "keep",
            "--store",
            pg_url,
            "--objective",
            "wobj:objective",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    # then the worker released the dominated models of the whole study, theirs and its own
    assert len(study.trials) == 9
    front = _check_gc_collects_the_dominated(study, {result.search_run_id, spec.search_run_id})
    assert set(range(3, 9)) - front, "no worker trial was dominated: nothing tested the worker"


@pytest.mark.postgres
def test_a_study_without_a_recorded_choice_keeps_every_model(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_ARTIFACTS", str(tmp_path / "artifacts"))
    tracker.set_store(pg_url)
    study, spec, run = create_search(objectives=OBJECTIVES, study_name="bare", n_trials=5)
    # The worst corner: every other trial dominates it, so the check below always has a
    # model to collect (the sampler aims at the front and could leave none dominated).
    study.enqueue_trial({"x": 1.0, "y": 1.0})
    run.end()
    run_worker("bare", pg_url, objective, progress=_quiet)
    tracker.get_store().flush()
    report = collect_garbage(for_store(tracker.get_store()), grace_s=0, delete=False)
    assert report.garbage == []  # nobody said "pareto": a worker keeps what it made
    # and once the study says so, the next worker's end releases the dominated ones
    set_keep_models(study, "pareto")
    study2, _, run2 = create_search(objectives=OBJECTIVES, study_name="bare", n_trials=1)
    run2.end()
    run_worker("bare", pg_url, objective, progress=_quiet)
    search_ids = {spec.search_run_id, run2.id}
    _check_gc_collects_the_dominated(study2, search_ids)


def _quiet(event: Any) -> None:
    """A progress reporter that prints nothing."""


def test_a_resumed_study_keeps_each_earlier_searchs_pick(sqlite_url: str) -> None:
    # given a search whose chosen trial a second search of the same study pushes off the front
    tracker.set_store(sqlite_url)
    first = tracker.optimize(objective, 4, objectives=OBJECTIVES, progress=[], seed=0)
    second = tracker.optimize(
        objective, 12, objectives=OBJECTIVES, progress=[], seed=10, study=first.study
    )
    assert first.chosen is not None
    assert first.chosen.number not in {t.number for t in second.pareto}
    # then gc collects only what no search of the study kept: the first's pick stays loadable
    _check_gc_collects_the_dominated(second.study, {first.search_run_id, second.search_run_id})
    tracker.load_model(f"runs:/{first.chosen.run_id}/model")
