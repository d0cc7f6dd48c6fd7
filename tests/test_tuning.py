"""tracker.optimize end to end on a real SQLite store: records, constraints, Pareto front,
resume, failures, bad input, the test re-check, and optuna-dashboard's view of the study.

The tests of what reaches Optuna's storage run on both paths of the Optuna adapter
(``optuna_path``: its internals, and Optuna's public API), the records test on SQLite and
PostgreSQL too."""

from __future__ import annotations

import logging
import math
from itertools import pairwise
from typing import Any

import numpy as np
import optuna
import pytest

import tracker
from tracker.exceptions import ValidationError
from tracker.tuning import choose_sampler, optimize
from tracker.tuning._policy import gp_available

from .optuna_paths import optuna_path

__all__ = ["optuna_path"]  # a fixture used by the tests below


def _objective(trial: Any) -> dict[str, float]:
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_float("y", 0.0, 1.0)
    return {"f1": x, "f2": (1 - x) ** 2 + y, "size": 10 * y, "extra": x * y}


OBJ = {"f1": "minimize", "f2": "minimize"}


def _trial_runs(search_run_id: str) -> list[tracker.Run]:
    return tracker.search_runs(kind="trial", parent=search_run_id)


def test_search_and_trial_records_follow_docs_records(store_url: str, optuna_path: str) -> None:
    tracker.set_store(store_url)
    res = optimize(
        _objective,
        12,
        objectives=OBJ,
        constraints=["size <= 5"],
        seed=0,
        study_name="rec",
        sampler="tpe",
        show_progress=False,
    )
    search = tracker.get_run(res.search_run_id)
    assert search.kind.value == "search"
    assert search.status.value == "finished"
    assert search.tags["optuna.study_name"] == "rec"
    s = search.attrs["search"]
    assert s["objectives"] == OBJ
    assert s["constraints"] == [{"expr": "size <= 5", "metric": "size", "op": "<=", "bound": 5.0}]
    assert s["sampler"]["name"] == "TPESampler"
    assert s["sampler"]["reason"]
    assert s["budget"]["n_trials"] == 12
    assert s["seed"] == 0
    assert "redacted" not in s["storage"]
    assert search.metrics["n_trials"] == 12
    trials = _trial_runs(res.search_run_id)
    assert len(trials) == 12
    for t in trials:
        assert t.parent_id == res.search_run_id
        assert t.kind.value == "trial"
        info = t.attrs["trial"]
        assert t.tags["optuna.trial_number"] == str(info["number"])
        assert set(t.metrics) == {"f1", "f2", "size", "extra"}  # extras are stored too
        assert set(t.params) == {"x", "y"}
        c = info["constraints"]["size <= 5"]
        assert c["feasible"] == (t.metrics["size"] <= 5)
        assert info["feasible"] == c["feasible"]
        assert info["duration_s"] >= 0
    assert set(search.attrs["pareto"]) == {t.run_id for t in res.pareto}
    assert search.attrs["chosen"] == res.chosen.run_id  # type: ignore[union-attr]
    # hypervolume: one value per finished trial, never decreasing
    hv = tracker.metric_history(search, "hypervolume")
    assert [m.step for m in hv] == list(range(1, 13))
    assert all(a.value <= b.value + 1e-12 for a, b in pairwise(hv))


def _dominates(a: list[float], b: list[float]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def test_pareto_front_matches_a_brute_force_check() -> None:
    res = optimize(
        _objective,
        40,
        objectives={"f1": "minimize", "extra": "maximize"},
        constraints=["size <= 6"],
        seed=3,
        sampler="random",
        show_progress=False,
    )
    feas = [t for t in res.trials if t.state == "complete" and t.feasible]
    losses = {t.number: [t.values["f1"], -t.values["extra"]] for t in feas}
    expected = {
        n
        for n, v in losses.items()
        if not any(_dominates(w, v) for m, w in losses.items() if m != n)
    }
    assert {t.number for t in res.pareto} == expected
    assert all(t.feasible for t in res.pareto)
    assert expected
    assert any(not t.feasible for t in res.trials)


def test_every_constraint_is_on_the_optuna_trial_in_both_formats(optuna_path: str) -> None:
    res = optimize(
        _objective,
        6,
        objectives=OBJ,
        constraints=["size <= 5", "f1 > 0.2"],
        seed=1,
        sampler="random",
        show_progress=False,
    )
    for ft in res.study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        named = {k: v for k, v in ft.system_attrs.items() if k.startswith("constraints:")}
        assert set(named) == {"constraints:size <= 5", "constraints:f1 > 0.2"}
        assert ft.system_attrs["constraints"] == [
            named["constraints:size <= 5"],
            named["constraints:f1 > 0.2"],
        ]
        size = ft.user_attrs["tracker.metrics"]["size"]
        assert named["constraints:size <= 5"] == pytest.approx((size - 5) / 5)


def test_optuna_dashboard_shows_constraint_values(optuna_path: str) -> None:
    import json
    from wsgiref.util import setup_testing_defaults

    from optuna_dashboard._app import create_app

    res = optimize(
        _objective,
        5,
        objectives=OBJ,
        constraints=["size <= 5"],
        seed=2,
        study_name="dash",
        sampler="random",
        show_progress=False,
    )
    app = create_app(res.study._storage)
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = f"/api/studies/{res.study._study_id}"
    environ["QUERY_STRING"] = "after=0"
    status: list[str] = []
    body = b"".join(app(environ, lambda s, h, *a: status.append(s)))
    assert status[0].startswith("200")
    detail = json.loads(body)
    trials = {t["number"]: t for t in detail["trials"]}
    assert len(trials) == 5
    for t in res.trials:
        shown = trials[t.number]["constraints"]
        assert shown == [t.constraints["size <= 5"]["violation"]]
        assert (shown[0] <= 0) == t.feasible


def test_missing_or_nan_constraint_metric_makes_the_trial_infeasible() -> None:
    def objective(trial: Any) -> dict[str, float]:
        x = trial.suggest_float("x", 0.0, 1.0)
        out = {"f": x, "lat": 1.0}
        if trial.number == 1:
            del out["lat"]
        if trial.number == 2:
            out["lat"] = math.nan
        return out

    res = optimize(
        objective,
        4,
        objectives={"f": "maximize"},
        constraints=["lat <= 5"],
        sampler="random",
        seed=0,
        show_progress=False,
    )
    by = {t.number: t for t in res.trials}
    assert by[0].feasible
    assert by[3].feasible
    assert not by[1].feasible
    assert by[1].constraints["lat <= 5"]["reason"] == "missing"
    assert not by[2].feasible
    assert by[2].constraints["lat <= 5"]["reason"] == "nan"
    assert {t.number for t in res.pareto} <= {0, 3}
    ft = res.study.trials[1]
    assert ft.constraints["lat <= 5"] > 0  # the sampler sees it as violating too


def test_failing_objective_fails_its_trial_and_the_search_goes_on() -> None:
    def objective(trial: Any) -> dict[str, float]:
        x = trial.suggest_float("x", 0.0, 1.0)
        if trial.number % 2 == 1:
            raise RuntimeError(f"boom {trial.number}")
        return {"f": x}

    res = optimize(
        objective, 6, objectives={"f": "minimize"}, sampler="random", seed=0, show_progress=False
    )
    states = [t.state for t in res.trials]
    assert states == ["complete", "fail"] * 3
    failed = [t for t in _trial_runs(res.search_run_id) if t.attrs["trial"]["state"] == "fail"]
    assert len(failed) == 3
    for run in failed:
        assert run.status.value == "failed"
        assert run.error is not None
        assert "boom" in run.error.message
        assert "RuntimeError: boom" in run.attrs["trial"]["error"]
    assert res.best is not None
    assert res.best.state == "complete"


def test_non_numeric_return_gets_a_clear_message_and_stops_after_repeats() -> None:
    def objective(trial: Any) -> dict[str, Any]:
        trial.suggest_float("x", 0, 1)
        return {"f": "high"}

    with pytest.raises(ValidationError, match=r"not a number.*metric 'f' must be a real number"):
        optimize(objective, 10, objectives={"f": "minimize"}, sampler="random", show_progress=False)
    runs = tracker.search_runs(kind="trial")
    assert len(runs) == 3  # stopped after 3 identical failures, not 10
    assert all("must be a real number" in r.error.message for r in runs)  # type: ignore[union-attr]


def test_bare_value_return_explains_the_dict_contract() -> None:
    def objective(trial: Any) -> float:
        return trial.suggest_float("x", 0, 1)

    res_err = None
    try:
        optimize(objective, 2, objectives={"f": "minimize"}, sampler="random", show_progress=False)
    except ValidationError as exc:  # pragma: no cover - 2 < 3 bad returns: no stop
        res_err = exc
    assert res_err is None
    run = tracker.search_runs(kind="trial")[0]
    assert "return e.g. {'f': ...}" in run.error.message  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"objectives": {"f": "maximise"}}, "unknown direction 'maximise'"),
        ({"objectives": {}}, "non-empty"),
        ({"objectives": None}, "objectives= is required"),
        ({"constraints": ["f <== 3"]}, "malformed constraint"),
        ({"space": {}}, "search space is empty"),
        ({"n_trials": None}, "give n_trials= or timeout="),
        ({"n_trials": 0}, "n_trials must be an integer >= 1"),
        ({"n_jobs": 0}, "n_jobs"),
        ({"sampler": "bayes"}, "unknown sampler 'bayes'"),
        ({"reference_point": {"g": 1.0}}, "reference_point"),
    ],
    ids=[
        "direction",
        "empty-objectives",
        "no-objectives",
        "malformed",
        "empty-space",
        "no-budget",
        "zero-trials",
        "zero-jobs",
        "sampler",
        "reference",
    ],
)
def test_bad_input_raises_before_any_trial_runs(kwargs: dict[str, Any], match: str) -> None:
    calls: list[int] = []

    def objective(trial: Any) -> dict[str, float]:
        calls.append(1)
        return {"f": trial.suggest_float("x", 0, 1)}

    args = {"n_trials": 3, "objectives": {"f": "minimize"}, "show_progress": False, **kwargs}
    n = args.pop("n_trials")
    with pytest.raises(ValidationError, match=match):
        optimize(objective, n, **args)
    assert calls == []
    assert tracker.search_runs(kind="trial") == []
    if kwargs.get("sampler") is None:
        assert tracker.search_runs(kind="search") == []


def test_constraint_on_unknown_metric_stops_after_the_first_trial() -> None:
    calls: list[int] = []

    def objective(trial: Any) -> dict[str, float]:
        calls.append(1)
        return {"f": trial.suggest_float("x", 0, 1), "latency_ms": 3.0}

    with pytest.raises(ValidationError, match=r"'latency_p95_ms <= 100'.*returned: f, latency_ms"):
        optimize(
            objective,
            20,
            objectives={"f": "minimize"},
            constraints=["latency_p95_ms <= 100"],
            sampler="random",
            show_progress=False,
        )
    assert calls == [1]
    search = tracker.search_runs(kind="search")[0]
    assert search.status.value == "failed"


def test_objective_that_suggests_nothing_is_an_empty_space() -> None:
    with pytest.raises(ValidationError, match="suggested no parameters"):
        optimize(lambda trial: {"f": 1.0}, 5, objectives={"f": "minimize"}, show_progress=False)


def test_declared_space_is_suggested_and_recorded() -> None:
    from optuna.distributions import FloatDistribution, IntDistribution

    seen = []

    def objective(trial: Any) -> dict[str, float]:
        seen.append(dict(trial.params))
        return {"f": trial.params["x"] + trial.params["n"]}

    res = optimize(
        objective,
        4,
        objectives={"f": "minimize"},
        seed=0,
        space={"x": FloatDistribution(0, 1), "n": IntDistribution(1, 3)},
        show_progress=False,
    )
    assert all(set(p) == {"x", "n"} for p in seen)
    space = tracker.get_run(res.search_run_id).attrs["search"]["space"]
    assert space["n"] == {"type": "int", "low": 1, "high": 3, "log": False, "step": 1}


def test_resume_continues_the_study_and_checks_settings() -> None:
    first = optimize(
        _objective,
        5,
        objectives=OBJ,
        study_name="again",
        seed=0,
        sampler="random",
        show_progress=False,
    )
    second = optimize(
        _objective,
        4,
        objectives=OBJ,
        study_name="again",
        seed=1,
        sampler="random",
        show_progress=False,
    )
    assert [t.number for t in second.trials] == list(range(9))
    assert second.study.study_name == first.study.study_name
    s2 = tracker.get_run(second.search_run_id).attrs["search"]
    assert s2["resumed_from"] == [first.search_run_id]
    from tracker.viz import load_search

    assert len(load_search(second.search_run_id).trials) == 9
    with pytest.raises(ValidationError, match="already exists with objectives"):
        optimize(
            _objective, 2, objectives={"f1": "maximize"}, study_name="again", show_progress=False
        )


def test_recheck_reports_test_values_and_never_reaches_the_sampler() -> None:
    def test_fn(trial: Any) -> dict[str, float]:
        # on test, "size" grows 30 %: points near the bound become infeasible
        return {"f1": trial.params["x"], "f2": 0.5, "size": 13 * trial.params["y"]}

    res = optimize(
        _objective,
        25,
        objectives=OBJ,
        constraints=["size <= 5"],
        seed=4,
        sampler="random",
        test=test_fn,
        study_name="rc",
        show_progress=False,
    )
    before = [(t.number, t.values, t.user_attrs, t.system_attrs) for t in res.study.trials]
    assert res.pareto
    search = tracker.get_run(res.search_run_id)
    recheck = search.attrs["recheck"]
    assert set(recheck) == {t.run_id for t in res.pareto}
    for t in res.pareto:
        entry = recheck[t.run_id]
        assert entry["test"]["f2"] == 0.5
        assert entry["validation"]["f2"] == pytest.approx(t.metrics["f2"])
        assert entry["feasible_on_test"] == (13 * t.params["y"] <= 5)
        assert t.feasible_on_test == entry["feasible_on_test"]
        assert tracker.get_run(t.run_id).attrs["test"]["size"] == pytest.approx(13 * t.params["y"])
    assert any(not t.feasible_on_test for t in res.pareto) or all(
        13 * t.params["y"] <= 5 for t in res.pareto
    )
    # the study, as every sampler sees it, holds no test value
    study = optuna.load_study(study_name="rc", storage=res.study._storage)
    after = [(t.number, t.values, t.user_attrs, t.system_attrs) for t in study.trials]
    assert after == before
    assert not any(v == 0.5 for t in study.trials for v in (t.values or []))
    if res.chosen is not None and any(t.feasible_on_test for t in res.pareto):
        assert res.chosen.feasible_on_test


def test_recheck_passes_params_when_asked_and_survives_a_failing_test() -> None:
    got: list[dict[str, Any]] = []

    def test_fn(params: dict[str, Any]) -> dict[str, float]:
        got.append(params)
        if len(got) == 1:
            raise RuntimeError("test data missing")
        return {"f1": 0.0}

    res = optimize(
        _objective, 8, objectives=OBJ, seed=0, sampler="random", test=test_fn, show_progress=False
    )
    assert all(isinstance(p, dict) and set(p) == {"x", "y"} for p in got)
    errors = [e for e in res.recheck.values() if "error" in e]
    assert len(errors) == 1
    assert "test data missing" in errors[0]["error"]


def test_latency_measured_in_the_objective_lands_in_the_trial_record() -> None:
    def objective(trial: Any) -> dict[str, float]:
        k = trial.suggest_int("k", 1, 3)
        lat = tracker.measure_latency(lambda b: b * k, np.zeros((4, 2)), warmup=1, repeats=20)
        return {"acc": float(k), **lat.metrics()}

    res = optimize(
        objective,
        3,
        objectives={"acc": "maximize"},
        constraints=["latency_p95_ms <= 1000"],
        show_progress=False,
    )
    run = tracker.get_run(res.trials[0].run_id)  # type: ignore[arg-type]
    assert run.attrs["latency"]["n"] == 20
    assert run.metrics["latency_p95_ms"] == run.attrs["latency"]["p95_ms"]


def test_data_is_hashed_once_and_recorded_on_every_trial() -> None:
    X = np.arange(20.0).reshape(10, 2)
    res = optimize(
        _objective, 3, objectives=OBJ, data={"X_train": X}, sampler="random", show_progress=False
    )
    digest = tracker.hash_data(X).digest
    search = tracker.get_run(res.search_run_id)
    assert search.data["X_train"].digest == digest
    for t in _trial_runs(res.search_run_id):
        assert t.data["X_train"].digest == digest


def test_trials_are_children_of_the_search_which_is_a_child_of_the_active_run() -> None:
    with tracker.start_run(name="session-like") as outer:
        res = optimize(_objective, 2, objectives=OBJ, sampler="random", show_progress=False)
    assert tracker.get_run(res.search_run_id).parent_id == outer.id


def test_parallel_jobs_record_every_trial_once() -> None:
    res = optimize(
        _objective, 12, objectives=OBJ, n_jobs=3, sampler="auto", seed=0, show_progress=False
    )
    runs = _trial_runs(res.search_run_id)
    numbers = sorted(int(r.tags["optuna.trial_number"]) for r in runs)
    assert numbers == list(range(12))
    assert res.sampler["name"] == "TPESampler"
    assert "parallel" in res.sampler["reason"]


def test_progress_reporter_sees_every_trial_and_a_final_call() -> None:
    events = []
    optimize(_objective, 5, objectives=OBJ, sampler="random", progress=events.append)
    assert [e.n_finished for e in events] == [1, 2, 3, 4, 5, 5]
    assert events[-1].done
    assert not any(e.done for e in events[:-1])
    assert events[-1].front
    assert all(t.pareto for t in events[-1].front)


def test_a_broken_reporter_never_stops_the_search(capsys: pytest.CaptureFixture[str]) -> None:
    def bad(_: Any) -> None:
        raise RuntimeError("display died")

    res = optimize(_objective, 4, objectives=OBJ, sampler="random", progress=bad)
    assert len(res.trials) == 4
    assert "progress display disabled" in capsys.readouterr().err


def test_result_frame_and_plots() -> None:
    res = optimize(
        _objective,
        6,
        objectives=OBJ,
        constraints=["size <= 5"],
        sampler="random",
        seed=0,
        show_progress=False,
    )
    frame = res.trials_frame()
    assert len(frame) == 6
    assert {"params.x", "values.f1", "metrics.extra", "violation.size <= 5"} <= set(frame)
    assert res.plot_pareto().data
    assert res.plot_history().data
    assert res.plot_hypervolume().data


@pytest.mark.parametrize(
    ("space", "budget", "parallel", "conditional", "gp", "expected"),
    [
        ({"a": {"type": "float"}, "b": {"type": "int"}}, 60, False, False, True, "GPSampler"),
        ({"a": {"type": "float"}}, 60, False, False, False, "TPESampler"),
        ({"a": {"type": "float"}}, 60, True, False, True, "TPESampler"),
        ({"a": {"type": "float"}}, 60, False, True, True, "TPESampler"),
        ({"a": {"type": "categorical"}}, 60, False, False, True, "TPESampler"),
        ({f"p{i}": {"type": "float"} for i in range(12)}, 60, False, False, True, "TPESampler"),
        ({"a": {"type": "float"}}, 500, False, False, True, "TPESampler"),
        ({"a": {"type": "float"}}, 2000, False, False, True, "NSGAIISampler"),
        ({"a": {"type": "float"}}, None, False, False, True, "TPESampler"),
    ],
    ids=[
        "small-numeric",
        "no-torch",
        "parallel",
        "conditional",
        "categorical",
        "many-dims",
        "large-budget",
        "huge-budget-mo",
        "timeout-only",
    ],
)
def test_auto_policy(space, budget, parallel, conditional, gp, expected) -> None:  # type: ignore[no-untyped-def]
    choice = choose_sampler(
        space, n_objectives=2, budget=budget, parallel=parallel, conditional=conditional, has_gp=gp
    )
    assert choice.name == expected
    assert len(choice.reason) > 20
    if conditional:
        assert choice.options.get("group") is True


def test_auto_switches_to_grouped_tpe_on_a_conditional_space() -> None:
    def objective(trial: Any) -> dict[str, float]:
        kind = trial.suggest_categorical("kind", ["a", "b"])
        if kind == "a":
            return {"f": trial.suggest_float("x", 0, 1)}
        return {"f": trial.suggest_float("y", 0, 1) + 1}

    res = optimize(objective, 15, objectives={"f": "minimize"}, seed=0, show_progress=False)
    assert res.sampler["options"].get("group") is True, res.sampler


def test_cost_rule_weighs_the_gps_total_against_the_searchs_trial_time() -> None:
    from tracker.tuning._policy import GP_ALLOWANCE_S, MAX_SUGGEST_SHARE, cost_switch

    assert cost_switch([], [0.01] * 11) is None  # the GP has suggested nothing yet
    # Within the absolute allowance, however cheap the trials.
    assert cost_switch([GP_ALLOWANCE_S / 3] * 2, [0.001] * 12) is None
    # Dear trials: 20 s suggestions against 10-minute trials stay with the GP.
    assert cost_switch([20.0] * 30, [600.0] * 40) is None
    # Cheap trials: the GP's total passes the allowance plus its share of the trials.
    trials = [0.05] * 15
    spent = GP_ALLOWANCE_S + MAX_SUGGEST_SHARE * sum(trials) + 0.1
    switch = cost_switch([spent / 5] * 5, trials)
    assert switch is not None
    assert switch.name == "TPESampler"
    assert f"spent {spent:.3g} s on 5 suggestions against 0.75 s" in switch.reason
    # ... unless the user says a trial costs more than this stand-in shows.
    assert cost_switch([spent / 5] * 5, trials, declared_s=60.0) is None
    # Totals, not the latest suggestion: one slow suggestion late in a dear search is fine.
    assert cost_switch([0.1] * 9 + [30.0], [120.0] * 20) is None


def test_trial_seconds_is_checked_before_anything_runs() -> None:
    for bad in (0, -1, "60", True, float("nan"), float("inf")):
        with pytest.raises(ValidationError, match="trial_seconds must be a positive number"):
            optimize(_objective, 2, objectives=OBJ, trial_seconds=bad)  # type: ignore[arg-type]


@pytest.mark.skipif(not gp_available(), reason="GPSampler needs PyTorch (make install has it)")
def test_auto_leaves_the_gp_when_its_suggestions_cost_more_than_the_trials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A small numeric space: the policy starts with the GP. The objective costs nothing;
    # with no allowance and no share left for the GP (how fast a GP suggestion is depends
    # on the machine), its first modelled trial is already too dear: TPE takes over from
    # the next, and the record says when and why.
    from tracker.tuning import _policy

    monkeypatch.setattr(_policy, "GP_ALLOWANCE_S", 0.0)
    monkeypatch.setattr(_policy, "MAX_SUGGEST_SHARE", 0.0)
    res = optimize(
        lambda t: {"f": (t.suggest_float("x", -2, 2) - 1) ** 2},
        14,
        objectives={"f": "minimize"},
        seed=3,
        show_progress=False,
    )
    assert res.sampler["name"] == "TPESampler", res.sampler
    (before,) = res.sampler["history"]
    assert before["name"] == "GPSampler"
    # Trials 0-9 are random (ours, then the GP's start-up: Optuna's n_startup_trials=10
    # counts every completed trial), 10 modelled by the GP, TPE from 11 on.
    assert before["until_trial"] == 11
    assert " on 1 suggestion against " in res.sampler["reason"]
    assert len(res.trials) == 14


@pytest.mark.skipif(not gp_available(), reason="GPSampler needs PyTorch (make install has it)")
def test_auto_on_the_gp_suggests_exactly_what_gpsampler_does_with_the_same_seed() -> None:
    # Declared 10-minute trials keep the GP (rule 7), and "auto" then replays
    # GPSampler(seed=seed) trial for trial: its random start continues trial 0's stream,
    # its model gets the same seed, and the study view hides nothing the GP reads.
    from tracker.tuning import evaluate_constraints, parse_constraints

    def objective(trial: Any) -> dict[str, float]:
        x, y = trial.suggest_float("x", -5, 5), trial.suggest_float("y", -5, 5)
        return {"f": (x - 1) ** 2 + (y + 2) ** 2, "g": abs(x) + abs(y)}

    res = optimize(
        objective,
        13,
        objectives={"f": "minimize", "g": "minimize"},
        constraints=["g <= 6"],
        seed=5,
        show_progress=False,
        trial_seconds=600,
    )
    assert res.sampler["name"] == "GPSampler", res.sampler
    assert "history" not in res.sampler, res.sampler
    budget = tracker.get_run(res.search_run_id).attrs["search"]["budget"]
    assert budget["trial_seconds"] == 600.0
    cons = parse_constraints(["g <= 6"])

    def plain(trial: Any) -> tuple[float, float]:
        m = objective(trial)
        for r in evaluate_constraints(cons, m):
            trial.set_constraint(r.constraint.expr, r.violation)
        return m["f"], m["g"]

    study = optuna.create_study(
        directions=["minimize", "minimize"], sampler=optuna.samplers.GPSampler(seed=5)
    )
    study.optimize(plain, 13)
    ours = [t.params for t in sorted(res.trials, key=lambda t: t.number)]
    assert ours == [t.params for t in study.trials]


def _mixed_problems() -> list[Any]:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    try:
        from _mixed_problems import EXPECTED, MIXED_PROBLEMS
    finally:
        sys.path.pop(0)
    return [(p, EXPECTED[p.name]) for p in MIXED_PROBLEMS]


@pytest.mark.parametrize(("problem", "expected"), _mixed_problems(), ids=lambda v: str(v)[:20])
def test_auto_picks_a_sampler_that_models_categorical_and_conditional_spaces(
    problem: Any, expected: tuple[str, bool]
) -> None:
    res = optimize(
        problem.objective,
        12,
        objectives=dict(problem.objectives),
        constraints=list(problem.constraints),
        seed=0,
        show_progress=False,
    )
    name, grouped = expected
    assert res.sampler["name"] == name, res.sampler
    assert bool(res.sampler["options"].get("group")) is grouped, res.sampler
    assert "GPSampler" not in [h["name"] for h in res.sampler.get("history", [])]


def test_sqlite_workers_are_refused_with_the_fix(sqlite_url: str) -> None:
    from tracker.exceptions import ConfigError
    from tracker.tuning import run_worker

    with pytest.raises(ConfigError, match="postgresql://"):
        run_worker("s", sqlite_url, _objective)


@pytest.mark.parametrize("seed", [0, 7])
def test_auto_with_a_seed_never_repeats_the_first_trial(seed: int) -> None:
    # "auto" samples trial 0 at random, then hands over to a sampler whose own random
    # start-up must not replay trial 0's draw (it did when both used the same seed).
    res = optimize(
        _objective, 4, objectives=OBJ, constraints=["size <= 5"], seed=seed, show_progress=False
    )
    params = [tuple(sorted(t.params.items())) for t in sorted(res.trials, key=lambda t: t.number)]
    assert len(set(params)) == len(params), params
    # and the seed still makes the search reproducible
    again = optimize(
        _objective, 4, objectives=OBJ, constraints=["size <= 5"], seed=seed, show_progress=False
    )
    assert [t.params for t in sorted(again.trials, key=lambda t: t.number)] == [
        dict(p) for p in params
    ]


def test_optuna_info_lines_stay_out_of_the_output(caplog: pytest.LogCaptureFixture) -> None:
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)  # Optuna's default (other tests change it)
    optuna.logging.enable_propagation()  # so caplog sees what Optuna's handler would print
    try:
        with caplog.at_level(logging.DEBUG):
            optimize(_objective, 3, objectives=OBJ, sampler="random", show_progress=False)
        assert not [r.getMessage() for r in caplog.records if r.name.startswith("optuna")]
        assert optuna.logging.get_verbosity() == optuna.logging.INFO  # restored
        # a verbosity the user chose is theirs
        optuna.logging.set_verbosity(optuna.logging.DEBUG)
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            optimize(_objective, 2, objectives=OBJ, sampler="random", show_progress=False)
        assert any("Trial 0 finished" in r.getMessage() for r in caplog.records)
    finally:
        optuna.logging.set_verbosity(before)
        optuna.logging.disable_propagation()


# --- hard constraints stay hard: the choice after the test re-check -------------------------


def _test_scaled(factor: float) -> Any:
    """A test(params) whose 'size' is ``factor`` times the trial's (validation) size."""

    def test_fn(params: dict[str, Any]) -> dict[str, float]:
        return {"f1": params["x"], "f2": 0.5, "size": factor * 10 * params["y"]}

    return test_fn


def test_when_nothing_holds_on_test_nothing_is_chosen_and_the_closest_is_named() -> None:
    events: list[Any] = []
    res = optimize(
        _objective,
        20,
        objectives=OBJ,
        constraints=["size <= 5"],
        seed=4,
        sampler="random",
        test=_test_scaled(100.0),  # every Pareto trial breaks the bound on test
        progress=events.append,
    )
    assert res.pareto
    assert all(t.feasible_on_test is False for t in res.pareto)
    # nothing is chosen, not even the "least bad" trial
    assert res.chosen is None
    assert res.best is None
    # the closest is the Pareto trial that missed by the least, and says it missed
    closest = res.closest
    assert closest is not None
    assert closest.pareto
    assert closest.feasible_on_test is False
    violation = {t.number: t.test_violations["size <= 5"] for t in res.pareto}  # type: ignore[index]
    assert violation[closest.number] == min(violation.values())
    assert violation[closest.number] == pytest.approx((1000 * closest.params["y"] - 5) / 5)
    # the records: no "chosen", the closest under its own key
    search = tracker.get_run(res.search_run_id)
    assert "chosen" not in search.attrs
    assert search.attrs["closest"] == closest.run_id
    assert search.attrs["recheck"][closest.run_id]["feasible_on_test"] is False
    # every view says so plainly
    said = "no configuration met the budget on held-out data"
    assert said in res.outcome
    assert f"trial #{closest.number}" in res.outcome
    assert said in repr(res)
    assert said in res._repr_html_()
    assert "closest (does not meet the budget)" in res._repr_html_()
    assert "★ chosen" not in res._repr_html_()
    final = events[-1]
    assert final.done
    assert sum(e.done for e in events) == 1  # one final call, after the re-check
    assert final.rechecked
    assert final.chosen is None
    assert final.closest is not None
    assert final.closest.number == closest.number
    assert final.closest.feasible_on_test is False
    assert final.outcome == res.outcome
    from tracker.tuning import TextProgress

    assert said in TextProgress.line(final)


def test_the_chosen_trial_is_the_best_that_holds_on_test() -> None:
    res = optimize(
        _objective,
        25,
        objectives=OBJ,
        constraints=["size <= 5"],
        seed=4,
        sampler="random",
        test=_test_scaled(1.3),  # "size" grows 30 % on test: some hold, some do not
        show_progress=False,
    )
    held = [t for t in res.pareto if t.feasible_on_test]
    assert held
    assert any(not t.feasible_on_test for t in res.pareto)  # the test had teeth
    assert res.chosen is not None
    assert res.chosen.feasible_on_test is True
    assert res.chosen.values["f1"] == min(t.values["f1"] for t in held)
    assert res.closest is None
    search = tracker.get_run(res.search_run_id)
    assert search.attrs["chosen"] == res.chosen.run_id
    assert "closest" not in search.attrs
    assert f"chosen: trial #{res.chosen.number}" in res.outcome
    assert "★ chosen" in res._repr_html_()


def test_when_every_recheck_fails_nothing_is_chosen_and_nothing_is_closest() -> None:
    def broken(params: dict[str, Any]) -> dict[str, float]:
        raise RuntimeError("test data missing")

    res = optimize(
        _objective,
        8,
        objectives=OBJ,
        constraints=["size <= 5"],
        seed=0,
        sampler="random",
        test=broken,
        show_progress=False,
    )
    assert res.pareto
    assert res.chosen is None
    assert res.closest is None
    search = tracker.get_run(res.search_run_id)
    assert "chosen" not in search.attrs
    assert "closest" not in search.attrs
    assert "re-check failed for every Pareto trial" in res.outcome


def test_without_a_recheck_the_choice_is_on_validation_and_says_so() -> None:
    events: list[Any] = []
    res = optimize(
        _objective,
        6,
        objectives=OBJ,
        constraints=["size <= 5"],
        seed=0,
        sampler="random",
        progress=events.append,
    )
    assert res.chosen is not None
    assert res.closest is None
    assert "no test re-check" in res.outcome
    assert not events[-1].rechecked
    assert events[-1].chosen.number == res.chosen.number


def _tr(number: int, acc: float, on_test: bool | None, excess: float | None) -> Any:
    from tracker.tuning import TrialResult

    return TrialResult(
        number=number,
        run_id=f"r{number}",
        state="complete",
        params={},
        values={"acc": acc},
        metrics={"acc": acc},
        constraints={},
        feasible=True,
        pareto=True,
        duration_s=1.0,
        feasible_on_test=on_test,
        test_violations=None if excess is None else {"lat <= 2": excess, "size <= 9": -0.5},
    )


@pytest.mark.parametrize(
    ("trials", "rechecked", "chosen", "closest"),
    [
        ([(0, 0.9, True, -0.1), (1, 0.95, False, 0.2), (2, 0.8, True, -0.3)], True, 0, None),
        ([(0, 0.9, False, 0.5), (1, 0.95, False, 0.2), (2, 0.8, False, 0.2)], True, None, 1),
        ([(0, 0.9, False, None), (1, 0.95, False, 3.0)], True, None, 1),
        ([(0, 0.9, False, None), (1, 0.95, False, None)], True, None, None),
        ([(0, 0.9, None, None), (1, 0.95, None, None)], False, 1, None),
        ([], True, None, None),
    ],
    ids=[
        "best-that-holds",
        "none-holds-smallest-excess-then-best",
        "failed-recheck-is-never-closest",
        "all-rechecks-failed",
        "no-recheck",
        "empty-front",
    ],
)
def test_choose(
    trials: list[tuple[int, float, bool | None, float | None]],
    rechecked: bool,
    chosen: int | None,
    closest: int | None,
) -> None:
    from tracker.tuning._result import choose

    got_chosen, got_closest = choose([_tr(*t) for t in trials], {"acc": "maximize"}, rechecked)
    assert (got_chosen.number if got_chosen else None) == chosen
    assert (got_closest.number if got_closest else None) == closest
