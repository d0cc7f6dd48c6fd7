"""The search's cheap per-trial bookkeeping is still right.

Per trial the search keeps its Pareto front incrementally, logs the hypervolume from it,
writes the Optuna trial's attributes in one transaction and lets the store's writer
batch; these tests hold each of those shortcuts against the slow, obvious computation,
on real SQLite and PostgreSQL databases. Where a shortcut goes through Optuna's
internals (tracker/tuning/_optuna_compat.py), the test runs on both of the adapter's
paths (``optuna_path``): the internals, and Optuna's public API.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import optuna
import pytest

import tracker
from tracker.exceptions import RunNotFoundError
from tracker.store import get_store
from tracker.tuning import SearchProgress, open_storage, optimize
from tracker.tuning import _optuna_compat as compat
from tracker.tuning._front import hypervolume
from tracker.tuning._front_book import PARETO_EVERY_S
from tracker.tuning._optuna_compat import _write_rdb, trial_id, write_trial_attrs

from .optuna_paths import optuna_path

__all__ = ["optuna_path"]  # a fixture used by the tests below


def _objective(trial: Any) -> dict[str, float]:
    # A coarse grid: equal objective values (ties and duplicates) happen often.
    x = trial.suggest_categorical("x", [0.0, 0.25, 0.5, 0.75, 1.0])
    y = trial.suggest_categorical("y", [0.0, 0.5, 1.0])
    return {"f1": x, "f2": (1 - x) ** 2 + y, "gain": x * (1 - y), "size": 4 * y + x}


def _dominates(a: list[float], b: list[float]) -> bool:
    return all(p <= q for p, q in zip(a, b, strict=True)) and any(
        p < q for p, q in zip(a, b, strict=True)
    )


def _brute_front(event: SearchProgress) -> set[int]:
    signs = {n: (-1.0 if d == "maximize" else 1.0) for n, d in event.objectives.items()}
    feas = {
        t.number: [signs[n] * t.values[n] for n in event.objectives]
        for t in event.trials
        if t.state == "complete" and t.feasible
    }
    if len(signs) == 1:
        if not feas:
            return set()
        best = min(v[0] for v in feas.values())
        return {min(n for n, v in feas.items() if v[0] == best)}
    return {n for n, v in feas.items() if not any(_dominates(w, v) for w in feas.values())}


@pytest.mark.parametrize(
    "objectives",
    [{"f1": "minimize", "gain": "maximize"}, {"f2": "minimize"}],
    ids=["two-objectives", "one-objective"],
)
def test_front_during_the_search_matches_a_brute_force_check(
    objectives: dict[str, str], optuna_path: str
) -> None:
    events: list[SearchProgress] = []
    res = optimize(
        _objective,
        40,
        objectives=objectives,
        constraints=["size <= 4"],
        sampler="random",
        seed=5,
        progress=events.append,
    )
    assert len(events) == 41  # one per trial, and the final one
    fronts_seen = set()
    for event in events:
        front = {t.number for t in event.front}
        assert front == _brute_front(event), f"after {event.n_finished} trials"
        fronts_seen.add(frozenset(front))
        # every trial's pareto flag agrees with the front
        assert {t.number for t in event.trials if t.pareto} == front
        # the counts kept as trials arrive agree with the trials shown
        done = [t for t in event.trials if t.state == "complete"]
        assert [t.number for t in event.trials] == sorted(t.number for t in event.trials)
        assert (event.n_finished, event.n_complete) == (len(event.trials), len(done))
        assert event.n_feasible == sum(t.feasible for t in done)
        assert event.n_failed == event.n_pruned == 0
        if event.hypervolume is not None:  # two objectives, once the reference is fixed
            ref_d = tracker.get_run(event.search_run_id).attrs["hypervolume_reference"]
            signs = {n: (-1.0 if d == "maximize" else 1.0) for n, d in objectives.items()}
            ref = np.array([signs[n] * ref_d[n] for n in objectives])
            pts = [[signs[n] * t.values[n] for n in objectives] for t in done if t.feasible]
            brute = hypervolume(np.array(pts).reshape(-1, len(objectives)), ref)
            assert event.hypervolume == pytest.approx(brute), f"after {event.n_finished}"
    assert len(fronts_seen) > 2  # the front moved during the search: the check had teeth
    assert {t.number for t in res.pareto} == {t.number for t in events[-1].front}


def test_hypervolume_history_matches_a_brute_force_check(optuna_path: str) -> None:
    objectives = {"f1": "minimize", "gain": "maximize"}
    res = optimize(
        _objective,
        30,
        objectives=objectives,
        constraints=["size <= 4"],
        sampler="random",
        seed=2,
        show_progress=False,
    )
    search = tracker.get_run(res.search_run_id)
    ref_d = search.attrs["hypervolume_reference"]
    ref = np.array([ref_d["f1"], -ref_d["gain"]])
    history = tracker.metric_history(search, "hypervolume")
    assert [m.step for m in history] == list(range(1, 31))
    trials = sorted(res.trials, key=lambda t: t.number)
    for m in history:
        first = [t for t in trials[: m.step] if t.state == "complete" and t.feasible]
        pts = np.array([[t.values["f1"], -t.values["gain"]] for t in first]).reshape(-1, 2)
        assert m.value == pytest.approx(hypervolume(pts, ref)), f"step {m.step}"
    assert history[-1].value > history[0].value


@pytest.mark.parametrize("how", ["set_constraint", "constraints_func"])
def test_feasibility_during_the_search_is_what_optuna_stores(how: str, optuna_path: str) -> None:
    # The search books a trial from the objective, before Optuna records its end, where
    # that view is complete: a constraint the objective set is in it, one a sampler's own
    # constraints_func writes when the trial is told is not (that search books after).
    events: list[SearchProgress] = []

    def objective(trial: Any) -> dict[str, float]:
        x = trial.suggest_float("x", 0, 1)
        trial.set_user_attr("c", x - 0.5)
        if how == "set_constraint":
            trial.set_constraint("x_small", x - 0.5)
        return {"f": x}

    kwargs: dict[str, Any] = {}
    if how == "constraints_func":
        with warnings.catch_warnings():  # Optuna 5 deprecates it; users still pass it
            warnings.simplefilter("ignore", FutureWarning)
            kwargs["sampler"] = optuna.samplers.TPESampler(
                seed=0, n_startup_trials=3, constraints_func=lambda ft: [ft.user_attrs["c"]]
            )
    res = optimize(objective, 12, objectives={"f": "maximize"}, progress=events.append, **kwargs)
    final = {t.number: t.feasible for t in res.trials}
    assert set(final.values()) == {True, False}  # the check had teeth
    for event in events:
        assert {t.number: t.feasible for t in event.trials} == {
            t.number: final[t.number] for t in event.trials
        }, f"after {event.n_finished} trials"


def test_callbacks_run_after_the_bookkeeping_and_see_the_stored_trial(optuna_path: str) -> None:
    events: list[SearchProgress] = []
    seen: list[tuple[int, int, str]] = []

    def callback(study: optuna.Study, ft: optuna.trial.FrozenTrial) -> None:
        stored = study.get_trials(deepcopy=False)[ft.number]
        seen.append((ft.number, events[-1].n_finished, stored.state.name))

    optimize(
        _objective,
        5,
        objectives={"f1": "minimize"},
        sampler="random",
        seed=3,
        progress=events.append,
        callbacks=[callback],
    )
    assert seen == [(n, n + 1, "COMPLETE") for n in range(5)]


def test_the_pareto_attribute_catches_up_during_a_slow_trial() -> None:
    # Quick trials write the search run's front at most every PARETO_EVERY_S; a slow trial
    # after them must not leave it stale for its whole length.
    seen: dict[str, Any] = {}

    def objective(trial: Any) -> dict[str, float]:
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 5:
            run = tracker.active_run()
            assert run is not None
            assert run.parent_id is not None
            # The timer is due PARETO_EVERY_S after the last write; on a loaded machine its
            # write may land later, so look until it has (this trial never ends before).
            deadline = time.monotonic() + PARETO_EVERY_S + 30
            while time.monotonic() < deadline:
                seen["pareto"] = tracker.get_run(run.parent_id).attrs.get("pareto")
                if seen["pareto"] is not None and len(seen["pareto"]) == 5:
                    break
                time.sleep(0.05)
        return {"f": x, "g": 1 - x}  # no trial dominates another: all on the front

    res = optimize(
        objective,
        6,
        objectives={"f": "minimize", "g": "minimize"},
        sampler="random",
        seed=1,
        show_progress=False,
    )
    first_five = sorted(res.trials, key=lambda t: t.number)[:5]
    assert seen["pareto"] == [t.run_id for t in first_five]
    search = tracker.get_run(res.search_run_id)
    assert search.attrs["pareto"] == [t.run_id for t in sorted(res.pareto, key=lambda t: t.number)]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # ask/tell on PostgreSQL
def test_trial_attributes_in_one_transaction(store_url: str) -> None:
    storage = open_storage(tracker.set_store(store_url))
    study = optuna.create_study(storage=storage, study_name="attrs", directions=["minimize"])
    trial = study.ask()
    tid = trial_id(trial)
    # The fast path itself, not the fallback that write_trial_attrs would take on error.
    _write_rdb(
        storage,  # type: ignore[arg-type]
        tid,
        {"tracker.run_id": "abc", "tracker.metrics": {"f": 1.5, "g": "nan"}},
        {"constraints:size <= 4": -0.25, "constraints": [-0.25]},
    )
    # Upserts: a second write replaces the values.
    _write_rdb(storage, tid, {"tracker.run_id": "def"}, {})  # type: ignore[arg-type]
    study.tell(trial, 1.0)
    (ft,) = study.get_trials()
    assert ft.user_attrs == {"tracker.run_id": "def", "tracker.metrics": {"f": 1.5, "g": "nan"}}
    assert ft.system_attrs["constraints"] == [-0.25]
    assert ft.system_attrs["constraints:size <= 4"] == -0.25
    # the finished trial is refused, as Optuna's own setters refuse it
    with pytest.raises(RuntimeError, match="finished"):
        _write_rdb(storage, tid, {"late": 1}, {})  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # ask/tell on PostgreSQL
def test_trial_attributes_read_back_the_same_on_both_paths(
    store_url: str, optuna_path: str
) -> None:
    storage = open_storage(tracker.set_store(store_url))
    study = optuna.create_study(storage=storage, study_name="attrs", directions=["minimize"])
    other = study.ask()  # a second running trial: ids must not be confused
    trial = study.ask()
    assert trial_id(trial) != trial_id(other)
    write_trial_attrs(
        trial,
        {"tracker.run_id": "abc", "tracker.metrics": {"f": 1.5, "g": "nan"}},
        {"constraints:size <= 4": -0.25, "constraints": [-0.25]},
    )
    write_trial_attrs(trial, {"tracker.run_id": "def"}, {})  # a second write replaces
    assert trial.user_attrs["tracker.run_id"] == "def"  # the Trial's own view is in step
    study.tell(trial, 1.0)
    ft = study.trials[trial.number]
    assert ft.user_attrs == {"tracker.run_id": "def", "tracker.metrics": {"f": 1.5, "g": "nan"}}
    assert ft.system_attrs["constraints"] == [-0.25]
    assert ft.system_attrs["constraints:size <= 4"] == -0.25
    assert ft.constraints["size <= 4"] == -0.25
    assert study.trials[other.number].user_attrs == {}
    with pytest.raises(RuntimeError, match="finished"):
        write_trial_attrs(trial, {"late": 1}, {})


def test_trial_attributes_on_a_storage_without_sql(optuna_path: str) -> None:
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    trial = study.ask()
    write_trial_attrs(trial, {"tracker.run_id": "abc"}, {"constraints:c": 0.5})
    assert trial.user_attrs == {"tracker.run_id": "abc"}
    study.tell(trial, 0.0)
    (ft,) = study.get_trials()
    assert ft.user_attrs == {"tracker.run_id": "abc"}
    assert ft.constraints == {"c": 0.5}


def _in_database(run_id: str) -> bool:
    backend = get_store().backend  # type: ignore[attr-defined]
    try:
        backend.get_run(run_id)
    except RunNotFoundError:
        return False
    return True


def test_a_hold_keeps_the_writer_out_until_it_ends(sqlite_url: str) -> None:
    tracker.set_store(sqlite_url)
    store = get_store()
    with store.hold_writes():  # type: ignore[attr-defined]
        with tracker.start_run(name="held") as run:
            run.log_metrics({"m": 1.0})
        time.sleep(0.3)  # many times the writer's linger
        assert not _in_database(run.id)
        assert store.pending > 0  # accepted (and spooled) all the same
    assert store.flush(10)
    assert tracker.get_run(run.id).metrics["m"] == 1.0


def test_flush_is_not_held_back_by_a_hold(sqlite_url: str) -> None:
    tracker.set_store(sqlite_url)
    store = get_store()
    with store.hold_writes():  # type: ignore[attr-defined]
        with tracker.start_run(name="flushed") as run:
            run.log_params({"a": 1})
        assert store.flush(10)
        assert _in_database(run.id)


def test_lingering_is_restored(sqlite_url: str) -> None:
    tracker.set_store(sqlite_url)
    store = get_store()
    before = store.linger_s  # type: ignore[attr-defined]
    with store.lingering(0.5):  # type: ignore[attr-defined]
        assert store.linger_s == 0.5  # type: ignore[attr-defined]
        with store.lingering(0.1):  # type: ignore[attr-defined]
            assert store.linger_s == 0.5  # type: ignore[attr-defined]  # never shortened
    assert store.linger_s == before  # type: ignore[attr-defined]


class _Spy(optuna.samplers.RandomSampler):
    """Records the constraints every finished trial shows the sampler."""

    def __init__(self) -> None:
        super().__init__(seed=0)
        self.seen: list[dict[str, float]] = []

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        done = study._get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        self.seen.extend(t.constraints for t in done)
        return {}


def test_samplers_see_each_constraint_once_while_the_study_keeps_both_formats(
    optuna_path: str,
) -> None:
    spy = _Spy()
    res = optimize(
        _objective,
        5,
        objectives={"f1": "minimize"},
        constraints=["size <= 4", "gain >= 0.1"],
        sampler=spy,
        show_progress=False,
    )
    assert res.sampler["name"] == "_Spy"
    assert spy.seen  # trials 1.. saw the finished ones
    assert all(set(c) == {"size <= 4", "gain >= 0.1"} for c in spy.seen), spy.seen[:2]
    for ft in res.study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        assert len(ft.system_attrs["constraints"]) == 2  # optuna-dashboard's list is stored
        assert set(ft.constraints) == {"0", "1", "size <= 4", "gain >= 0.1"}


@pytest.mark.parametrize("k", [2, 3, 4], ids=["2d", "3d", "4d"])
def test_both_hypervolume_paths_agree_with_each_other_and_with_sampling(k: int) -> None:
    rng = np.random.default_rng(k)
    ref = np.ones(k)
    for n in (1, 2, 5, 12):
        pts = rng.uniform(0, 0.9, size=(n, k))
        front = np.unique(pts[_pareto(pts)], axis=0)
        exact = compat.exact_hypervolume(front, ref)
        from optuna._hypervolume import compute_hypervolume  # what the fast path calls

        assert exact == pytest.approx(float(compute_hypervolume(front, ref, assume_pareto=True)))
        # and a brute-force estimate, independent of both
        samples = rng.uniform(0, 1, size=(20_000, k))
        covered = (samples[:, None, :] >= front[None, :, :]).all(axis=2).any(axis=1)
        assert exact == pytest.approx(covered.mean(), abs=0.02)
    assert compat.exact_hypervolume(np.array([[0.5] * k]), ref) == pytest.approx(0.5**k)
    assert compat.exact_hypervolume(np.zeros((0, k)), ref) == 0.0


def test_the_two_objective_sweep_equals_the_general_hypervolume() -> None:
    # hypervolume() takes the O(n log n) sweep for two objectives; the general path
    # (Pareto mask, duplicates removed, the exact or Optuna computation) must agree with
    # it on dominated points, duplicates, ties in either loss and points beyond the
    # reference, which count for nothing.
    from tracker.tuning._front import hypervolume_2d, pareto_mask

    rng = np.random.default_rng(7)
    ref = np.array([1.0, 1.1])
    for n in (1, 2, 3, 8, 40, 300):
        for rounding in (None, 1):
            pts = rng.uniform(0, 1.2, size=(n, 2))
            if rounding is not None:  # ties and exact duplicates
                pts = np.round(pts, rounding)
            inside = pts[(pts < ref).all(axis=1)]
            if not len(inside):
                assert hypervolume(pts, ref) == 0.0
                continue
            front = np.unique(inside[pareto_mask(inside)], axis=0)
            expected = compat.exact_hypervolume(front, ref)
            assert hypervolume_2d(inside, ref) == pytest.approx(expected, abs=1e-12)
            assert hypervolume(pts, ref) == pytest.approx(expected, abs=1e-12)


def _pareto(pts: np.ndarray) -> np.ndarray:
    return np.array([not any(_dominates(list(q), list(p)) for q in pts) for p in pts], dtype=bool)


@pytest.mark.parametrize(
    ("version", "usable"),
    [("5.0.0", True), ("5.1.0", True), ("5.2.0", False), ("4.5.0", False), ("6.0.0.dev", False)],
    ids=["5.0", "5.1", "5.2", "4.5", "6.0-dev"],
)
def test_internals_only_on_verified_optuna_releases(version: str, usable: bool) -> None:
    ok, reason = compat.internals_usable(version)
    assert ok is usable
    assert version in reason
    if not usable:
        assert "public API" in reason
        assert "5.0, 5.1" in reason


def test_the_environment_switch_turns_the_internals_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_OPTUNA_INTERNALS", "0")
    ok, reason = compat.internals_usable("5.1.0")
    assert not ok
    assert "TRACKER_OPTUNA_INTERNALS=0" in reason
