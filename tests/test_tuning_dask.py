"""``tracker.optimize(..., executor=...)``: trials on a real Dask cluster and real process pools.

Every search here runs against the real PostgreSQL server (``pg_url``) or a real SQLite
file, with real worker processes: a ``distributed.LocalCluster`` with process workers,
``ProcessPoolExecutor`` (fork and spawn), and a notebook cell's objective sent from a real
kernel (nbclient). Refusals are checked to happen before anything is recorded.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import nbformat
import optuna
import pytest
from nbclient import NotebookClient

import tracker
from tests.conftest import IN_CI
from tests.optuna_paths import optuna_path  # noqa: F401 - a fixture
from tracker.exceptions import ConfigError, ValidationError
from tracker.tuning import SearchProgress, create_search, open_storage
from tracker.tuning._executor import _check_probes, prepare_executor
from tracker.tuning._optuna_compat import count_trials
from tracker.tuning._tasks import Job, ProbeReport, process_token, run_task

pytestmark = [pytest.mark.slow]

try:  # the dask extra; `make install` has it, and CI must run these tests
    import cloudpickle  # noqa: F401
    import distributed  # noqa: F401
    import grpc  # noqa: F401
except ImportError as exc:
    if IN_CI:
        raise
    pytest.skip(
        f"the dask extra is not installed ({exc}): pip install -e '.[dask]'",
        allow_module_level=True,
    )

OBJECTIVES = {"f": "minimize", "g": "minimize"}
CONSTRAINTS = ["size <= 8"]


def objective(trial: Any) -> dict[str, float]:
    """Odd trials break the constraint, so feasible and infeasible trials both exist."""
    x = trial.suggest_float("x", 0.0, 1.0)
    return {
        "f": x,
        "g": 1.0 - x,
        "size": 9.0 if trial.number % 2 else 1.0,
        "pid": float(os.getpid()),
    }


# The workers of these tests import nothing from tests/: the objective travels by value,
# as a notebook cell's does.
@pytest.fixture(autouse=True)
def _by_value() -> Iterator[None]:
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A real local Dask cluster: two worker processes, one thread each."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(2, timeout=120)
        yield client


def _check_every_trial_is_one_run(result: Any) -> list[optuna.trial.FrozenTrial]:
    """The study holds exactly the trials asked for, each matched with one tracked run."""
    trials = result.study.trials
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    runs = tracker.search_runs(kind="trial", parent=result.search_run_id, limit=1000)
    assert sorted(int(r.tags["optuna.trial_number"]) for r in runs) == sorted(numbers)
    assert all(r.status.value == "finished" for r in runs)
    return trials


def _pids(trials: list[optuna.trial.FrozenTrial]) -> set[int]:
    return {int(t.user_attrs["tracker.metrics"]["pid"]) for t in trials}


# --- Dask ----------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_dask_cluster_runs_the_trials_and_the_search_records_match_a_local_one(
    pg_url: str, dask_client: Any
) -> None:
    # Given a PostgreSQL store and a Dask cluster of two worker processes
    tracker.set_store(pg_url)
    events: list[SearchProgress] = []
    retested: list[int] = []

    def test(params: dict[str, Any]) -> dict[str, float]:
        retested.append(os.getpid())
        return {"f": params["x"], "g": 1.0 - params["x"], "size": 1.0}

    # When a search runs its trials on the cluster
    result = tracker.optimize(
        objective,
        8,
        objectives=OBJECTIVES,
        constraints=CONSTRAINTS,
        executor=dask_client,
        progress=events.append,
        test=test,
    )

    # Then exactly 8 trials ran, on both workers and never here, each one tracked run
    trials = _check_every_trial_is_one_run(result)
    assert len(trials) == 8
    assert all(t.state is optuna.trial.TrialState.COMPLETE for t in trials)
    workers = set(dask_client.run(os.getpid).values())
    assert _pids(trials) == workers
    assert os.getpid() not in workers
    # the progress reporters heard of every trial here, as it finished, then the end
    finished = [e.n_finished for e in events if not e.done]
    assert len(finished) == 8
    assert finished == sorted(finished)
    assert finished[-1] == 8
    assert events[-1].done
    assert events[-1].chosen is not None
    # the re-check ran in this process, and the choice holds on test
    assert retested
    assert set(retested) == {os.getpid()}
    assert result.chosen is not None
    assert result.chosen.feasible_on_test
    assert result.sampler["name"] == "TPESampler"
    assert "parallel" in result.sampler["reason"]

    # And the search run holds what a local search's holds
    local = tracker.optimize(
        objective,
        8,
        objectives=OBJECTIVES,
        constraints=CONSTRAINTS,
        test=test,
        progress=[],
        sampler="tpe",
    )
    dask_run = tracker.get_run(result.search_run_id)
    local_run = tracker.get_run(local.search_run_id)
    assert dask_run.status == local_run.status
    assert set(dask_run.attrs) == set(local_run.attrs)
    assert set(dask_run.attrs["search"]) == set(local_run.attrs["search"])
    assert set(dask_run.metrics) == set(local_run.metrics)
    assert dask_run.metrics["n_trials"] == 8
    assert dask_run.attrs["chosen"] == result.chosen.run_id
    assert dask_run.attrs["pareto"] == [t.run_id for t in result.pareto]
    trial_run = tracker.get_run(result.chosen.run_id)
    local_trial = tracker.get_run(local.chosen.run_id) if local.chosen else None
    assert local_trial is not None
    assert set(trial_run.attrs["trial"]) == set(local_trial.attrs["trial"])
    assert set(trial_run.metrics) == set(local_trial.metrics)


@pytest.mark.postgres
def test_dask_stops_the_search_on_an_objective_returning_the_wrong_names(
    pg_url: str, dask_client: Any
) -> None:
    tracker.set_store(pg_url)

    def wrong(trial: Any) -> dict[str, float]:
        return {"nope": trial.suggest_float("x", 0.0, 1.0)}

    with pytest.raises(ValidationError, match="are not returned"):
        tracker.optimize(wrong, 20, objectives=OBJECTIVES, executor=dask_client, progress=[])
    (search,) = tracker.search_runs(kind="search")
    assert search.status.value == "failed"
    # it stopped: no more trials than the workers had in hand
    study = optuna.load_study(
        study_name=search.tags["optuna.study_name"],
        storage=open_storage(tracker.get_store().url),
    )
    assert 1 <= len(study.trials) < 20


# --- concurrent.futures executors ----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_a_process_pool_runs_the_trials_in_its_processes(pg_url: str, start: str) -> None:
    tracker.set_store(pg_url)
    context = multiprocessing.get_context(start)
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        result = tracker.optimize(
            objective,
            6,
            objectives=OBJECTIVES,
            constraints=CONSTRAINTS,
            executor=pool,
            progress=[],
        )
    trials = _check_every_trial_is_one_run(result)
    assert len(trials) == 6
    assert os.getpid() not in _pids(trials)
    assert result.pareto
    assert all(t.feasible for t in result.pareto)


def test_a_thread_pool_on_sqlite_works_like_n_jobs(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    tracker.set_store(sqlite_url)
    with caplog.at_level("WARNING", logger="tracker"), ThreadPoolExecutor(2) as pool:
        result = tracker.optimize(
            objective, 5, objectives=OBJECTIVES, executor=pool, progress=[], seed=1
        )
    trials = _check_every_trial_is_one_run(result)
    assert len(trials) == 5
    assert _pids(trials) == {os.getpid()}
    assert "share one SQLite file" in caplog.text  # as n_jobs > 1 on SQLite says


def test_a_thread_pool_with_a_timeout_only_stops_starting_trials(sqlite_url: str) -> None:
    tracker.set_store(sqlite_url)

    def slow(trial: Any) -> dict[str, float]:
        x = trial.suggest_float("x", 0.0, 1.0)
        time.sleep(0.2)  # the trial's work, not a wait for anything
        return {"f": x, "g": 1.0 - x}

    with ThreadPoolExecutor(2) as pool:
        result = tracker.optimize(
            slow, timeout=1.0, objectives=OBJECTIVES, executor=pool, progress=[]
        )
    trials = _check_every_trial_is_one_run(result)
    assert trials
    assert all(t.state is optuna.trial.TrialState.COMPLETE for t in trials)


@pytest.mark.postgres
def test_a_task_run_again_starts_no_trial_beyond_the_target(pg_url: str) -> None:
    # Given a study whose target is 3 trials
    tracker.set_store(pg_url)
    study, spec, run = create_search(objectives=OBJECTIVES, study_name="again", n_trials=3)
    url = tracker.get_store().url
    job = Job(
        url=url,
        driver=process_token(),
        blob=None,
        local=(objective, "random"),
        study_name="again",
        search_run_id=spec.search_run_id,
        target=spec.target_total,
    )
    # When five tasks run (two of them again, as after a lost worker)
    outcomes = [run_task(job, slot) for slot in (0, 1, 2, 1, 2)]
    run.end()
    # Then the first three ran a trial each, the repeats none, and the study holds three
    assert [o.trial is not None for o in outcomes] == [True, True, True, False, False]
    assert [o.skipped for o in outcomes[3:]] == ["target", "target"]
    assert len(optuna.load_study(study_name="again", storage=study._storage).trials) == 3


@pytest.mark.postgres
def test_workers_reach_the_study_through_optunas_grpc_proxy(pg_url: str) -> None:
    from optuna.storages import GrpcStorageProxy

    # Given Optuna's gRPC storage proxy in front of the database, in its own process
    tracker.set_store(pg_url)
    url = tracker.get_store().url
    study, spec, run = create_search(objectives=OBJECTIVES, study_name="proxied", n_trials=4)
    tracker.get_store().flush(30)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = (
        "from optuna.storages import get_storage, run_grpc_proxy_server\n"
        f"run_grpc_proxy_server(get_storage({url.connect_url()!r}), host='127.0.0.1', "
        f"port={port})"
    )
    proxy_process = subprocess.Popen([sys.executable, "-c", server])
    try:
        with pytest.warns(optuna.exceptions.ExperimentalWarning):
            proxy = GrpcStorageProxy(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 120
        while True:  # until the proxy answers
            try:
                proxy.get_all_studies()
                break
            except Exception:
                if time.monotonic() > deadline or proxy_process.poll() is not None:
                    raise
                time.sleep(0.2)
        # When worker processes run the search's trials with the study behind the proxy
        with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
            plan = prepare_executor(pool, objective, "random", url, 1, storage=proxy)
            job = replace(
                plan.job,
                study_name="proxied",
                search_run_id=spec.search_run_id,
                target=spec.target_total,
            )
            outcomes = list(pool.map(run_task, [job] * 4, range(4)))
        # (one more, here, through the proxy too: the study is at its target)
        again = run_task(
            replace(job, driver=process_token(), blob=None, local=(objective, "random")), 4
        )
        run.end()
    finally:
        proxy_process.terminate()
        proxy_process.wait(timeout=60)
    # Then every task ran a trial in a worker, and each is one tracked run
    assert all(o.trial is not None for o in outcomes)
    assert again.skipped == "target"
    trials = optuna.load_study(study_name="proxied", storage=study._storage).trials
    assert len(trials) == 4
    assert all(t.state is optuna.trial.TrialState.COMPLETE for t in trials)
    assert os.getpid() not in _pids(trials)
    runs = tracker.search_runs(kind="trial", parent=spec.search_run_id)
    assert sorted(int(r.tags["optuna.trial_number"]) for r in runs) == [0, 1, 2, 3]


def test_a_task_counts_the_studys_trials_the_same_on_both_paths(
    store_url: str,
    optuna_path: str,  # noqa: F811 - the fixture
) -> None:
    # Given a study with a trial in each state, beside another study
    storage = open_storage(tracker.config.StoreURL.parse(store_url))
    study = optuna.create_study(storage=storage, study_name="counted")
    other = optuna.create_study(storage=storage, study_name="other")
    other.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=1.0))
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=1.0))
    study.add_trial(
        optuna.trial.create_trial(params={}, distributions={}, state=optuna.trial.TrialState.FAIL)
    )
    with warnings.catch_warnings():  # Optuna's note that heartbeats belong to optimize()
        warnings.simplefilter("ignore", UserWarning)
        study.ask()  # running
    study.enqueue_trial({})  # waiting
    # Then each path counts the four of this study, and only them
    assert count_trials(study) == 4
    assert count_trials(optuna.load_study(study_name="counted", storage=storage)) == 4


# --- refusals, before the first trial ------------------------------------------------------------


def _nothing_recorded() -> None:
    assert tracker.search_runs() == []


def test_a_sqlite_store_is_refused_for_workers_in_other_processes(sqlite_url: str) -> None:
    tracker.set_store(sqlite_url)
    with (
        ProcessPoolExecutor(1) as pool,
        pytest.raises(ConfigError, match=r"SQLite is not one.*postgresql://"),
    ):
        tracker.optimize(objective, 3, objectives=OBJECTIVES, executor=pool, progress=[])
    _nothing_recorded()


def test_an_in_memory_store_is_refused_with_any_executor() -> None:
    tracker.set_store("sqlite://")
    with ThreadPoolExecutor(1) as pool, pytest.raises(ConfigError, match="in-memory"):
        tracker.optimize(objective, 3, objectives=OBJECTIVES, executor=pool, progress=[])


def test_what_is_not_an_executor_and_n_jobs_with_one_are_refused(sqlite_url: str) -> None:
    tracker.set_store(sqlite_url)
    with pytest.raises(ValidationError, match=r"concurrent\.futures"):
        tracker.optimize(objective, 3, objectives=OBJECTIVES, executor="dask", progress=[])
    with (
        ThreadPoolExecutor(1) as pool,
        pytest.raises(ValidationError, match="size the executor instead"),
    ):
        tracker.optimize(objective, 3, objectives=OBJECTIVES, executor=pool, n_jobs=2, progress=[])
    _nothing_recorded()


class _Holder:
    def __init__(self) -> None:
        self.scale = 2.0
        self.lock = threading.Lock()


@pytest.mark.postgres
def test_an_objective_that_cannot_be_pickled_is_refused_naming_what_it_holds(
    pg_url: str,
) -> None:
    tracker.set_store(pg_url)
    conn = __import__("sqlite3").connect(":memory:")
    holder = _Holder()

    def uses_conn(trial: Any) -> dict[str, float]:
        conn.execute("SELECT 1")
        return {"f": trial.suggest_float("x", 0, 1), "g": 0.0}

    def uses_holder(trial: Any) -> dict[str, float]:
        return {"f": holder.scale * trial.suggest_float("x", 0, 1), "g": 0.0}

    with ProcessPoolExecutor(1) as pool:
        with pytest.raises(ValidationError) as by_conn:
            tracker.optimize(uses_conn, 3, objectives=OBJECTIVES, executor=pool, progress=[])
        with pytest.raises(ValidationError) as by_holder:
            tracker.optimize(uses_holder, 3, objectives=OBJECTIVES, executor=pool, progress=[])
    assert "'conn' (sqlite3.Connection)" in str(by_conn.value)
    assert "inside the objective" in str(by_conn.value)
    assert "'holder.lock'" in str(by_holder.value)
    conn.close()
    _nothing_recorded()


@pytest.mark.postgres
def test_workers_that_cannot_import_the_objective_are_refused_with_the_fix(
    pg_url: str, tmp_path: Path
) -> None:
    # Given an objective from a module this process imported from a directory the
    # workers do not have on their path
    tracker.set_store(pg_url)
    (tmp_path / "ghost_objectives.py").write_text(
        "def objective(trial):\n    return {'f': trial.suggest_float('x', 0, 1), 'g': 0.0}\n"
    )
    sys.path.insert(0, str(tmp_path))
    import ghost_objectives as ghost  # type: ignore[import-not-found]

    sys.path.remove(str(tmp_path))
    try:
        with (
            ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool,
            pytest.raises(ConfigError, match="cannot load the objective") as refused,
        ):
            tracker.optimize(ghost.objective, 3, objectives=OBJECTIVES, executor=pool, progress=[])
    finally:
        del sys.modules["ghost_objectives"]
    assert "ghost_objectives" in str(refused.value)
    assert "register_pickle_by_value" in str(refused.value)
    _nothing_recorded()


@pytest.mark.postgres
def test_workers_that_cannot_reach_the_store_are_refused(pg_url: str) -> None:
    tracker.set_store(pg_url)
    with (
        ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),
            # libpq reads this in the worker only; the server is a primary, so it refuses
            initializer=functools.partial(os.putenv, "PGTARGETSESSIONATTRS", "read-only"),
        ) as pool,
        pytest.raises(ConfigError, match="cannot reach the store") as refused,
    ):
        tracker.optimize(objective, 3, objectives=OBJECTIVES, executor=pool, progress=[])
    assert "postgresql" in str(refused.value)
    _nothing_recorded()


def test_a_localhost_store_is_refused_for_a_worker_on_another_machine() -> None:
    url = tracker.config.StoreURL.parse("postgresql://u:secret@localhost/db")
    elsewhere = ProbeReport("gpu-7:123", "gpu-7", "3.11.7", None, None)
    with pytest.raises(ConfigError, match=r"names localhost.*gpu-7:123") as refused:
        _check_probes([elsewhere], url)
    assert "secret" not in str(refused.value)
    _check_probes([elsewhere], tracker.config.StoreURL.parse("postgresql://u@db.internal/db"))


def test_only_the_executor_module_imports_dask_or_cloudpickle() -> None:
    from tests.test_boundaries import _imports

    outside = ("dask", "distributed", "cloudpickle")
    importers = {i.importer for i in _imports() if i.target.split(".")[0] in outside}
    assert importers == {"tracker.tuning._executor"}


def test_dask_is_not_imported_without_a_dask_client(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from concurrent.futures import ThreadPoolExecutor
        import tracker
        tracker.set_store({f"sqlite:///{tmp_path / 't.db'}"!r})
        def objective(trial):
            return {{"f": trial.suggest_float("x", 0, 1)}}
        with ThreadPoolExecutor(2) as pool:
            tracker.optimize(objective, 3, objectives={{"f": "minimize"}}, executor=pool,
                             show_progress=False)
        print(sorted(m for m in ("dask", "distributed", "cloudpickle") if m in sys.modules))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


# --- a notebook cell's objective, from a real kernel -------------------------------------------

SETUP = """
import os, tracker
from distributed import Client, LocalCluster
tracker.set_store({url!r})
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
client = Client(cluster)
client.wait_for_workers(2, timeout=120)
"""

CELL_OBJECTIVE = """
offset = 0.25          # a notebook global: travels with the objective
def objective(trial):
    x = trial.suggest_float("x", 0, 1)
    return {"f1": x + offset, "f2": 1 - x * x, "size": 10 * x, "pid": os.getpid()}
"""

SEARCH = """
from tracker.widgets import SearchProgressWidget
seen = []
class Spy(SearchProgressWidget):
    def __call__(self, p):
        seen.append(p.n_finished)
        super().__call__(p)
spy = Spy(interval=0.0)
res = tracker.optimize(objective, 6, objectives={"f1": "minimize", "f2": "minimize"},
                       constraints=["size <= 7"], executor=client, progress=spy)
"""

CHECK = """
import json
trials = res.study.trials
workers = set(client.run(os.getpid).values())
print(json.dumps({
    "seen": seen,
    "bar": [spy.bar.value, spy.bar.max, spy.bar.bar_style],
    "n": len(trials),
    "offset_applied": all(t.values[0] >= 0.25 for t in trials),
    "on_workers": {int(t.user_attrs["tracker.metrics"]["pid"]) for t in trials} <= workers,
    "kernel_not_a_worker": os.getpid() not in workers,
    "runs": len(tracker.search_runs(kind="trial", parent=res.search_run_id)),
}))
client.close()
cluster.close()
"""


@pytest.mark.postgres
@pytest.mark.kernel
def test_an_objective_defined_in_a_notebook_cell_runs_on_dask_workers(
    pg_url: str, tmp_path: Path
) -> None:
    from tests.test_widgets import _json_line

    nb = nbformat.v4.new_notebook()
    cells = (SETUP.format(url=pg_url), CELL_OBJECTIVE, SEARCH, CHECK)
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    views = [
        o
        for o in nb.cells[2].outputs
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert views
    state = _json_line(nb.cells[3])
    assert state["n"] == 6
    assert state["runs"] == 6
    assert state["offset_applied"]
    assert state["on_workers"]
    assert state["kernel_not_a_worker"]
    assert state["bar"] == [6, 6, "success"]
    assert state["seen"][-1] == 6
    assert state["seen"] == sorted(state["seen"])
    assert len(state["seen"]) == 7  # one update per trial, then the final one
