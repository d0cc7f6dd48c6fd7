"""tracker.optimize runs Optuna's objectives unchanged and answers in Optuna's words.

Objectives as optuna-examples writes them (a float with ``direction=``, a tuple with
``directions=``), Optuna's arguments (``pruner``, ``callbacks``, ``catch``,
``gc_after_trial``, ``storage``, ``study``) with their Optuna meaning, ambiguous input
refused before the first trial, and ``best_trial``/``best_trials``/``best_params``/
``best_value``/``best_values`` over feasible trials only. Real SQLite stores throughout.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest

import tracker
from tracker.exceptions import ValidationError
from tracker.tuning import optimize


def quadratic(trial: optuna.Trial) -> float:
    # optuna-examples' quadratic, verbatim.
    x = trial.suggest_float("x", -10, 10)
    return (x - 2) ** 2


def two_objectives(trial: optuna.Trial) -> tuple[float, float]:
    x = trial.suggest_float("x", 0, 5)
    y = trial.suggest_float("y", 0, 3)
    v0 = 4 * x**2 + 4 * y**2
    v1 = (x - 5) ** 2 + (y - 5) ** 2
    return v0, v1


def _quiet(**kwargs: Any) -> dict[str, Any]:
    return {"show_progress": False, "sampler": "random", "seed": 0, **kwargs}


# --- Optuna's objectives, unchanged ---------------------------------------------------------


def test_a_float_objective_with_direction_answers_like_optuna() -> None:
    res = optimize(quadratic, 12, direction="minimize", **_quiet())
    values = {t.number: t.values["value"] for t in res.trials}
    best = min(values, key=lambda n: values[n])
    assert res.best_trial.number == best
    assert res.best_value == pytest.approx(values[best])
    assert res.best_params == res.best_trial.params
    assert res.best_values == [{"value": values[best]}]
    assert [t.number for t in res.best_trials] == [best]
    assert isinstance(res.best_trial, optuna.trial.FrozenTrial)
    # Every trial is a tracked run holding the value as a metric.
    runs = tracker.search_runs(kind="trial", parent=res.search_run_id)
    assert len(runs) == 12
    assert all("value" in r.metrics for r in runs)


def test_a_tuple_objective_with_directions_and_metric_names() -> None:
    res = optimize(
        two_objectives,
        15,
        directions=["minimize", "minimize"],
        metric_names=["v0", "v1"],
        **_quiet(),
    )
    assert res.objectives == {"v0": "minimize", "v1": "minimize"}
    assert res.study.metric_names == ["v0", "v1"]
    assert {t.number for t in res.best_trials} == {t.number for t in res.pareto}
    assert len(res.best_values) == len(res.pareto)
    assert all(set(v) == {"v0", "v1"} for v in res.best_values)
    with pytest.raises(ValueError, match=r"2 objectives.*best_trials"):
        _ = res.best_trial
    with pytest.raises(ValueError, match="no single best trial"):
        _ = res.best_params


def test_default_names_follow_optuna_and_constraints_can_name_user_attrs() -> None:
    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 1)
        trial.set_user_attr("size_mb", 10 * x)  # Optuna's way to feed a constraints_func
        return x, 1 - x

    res = optimize(
        objective, 12, directions=["maximize", "maximize"], constraints=["size_mb <= 5"], **_quiet()
    )
    assert list(res.objectives) == ["values_0", "values_1"]
    assert res.pareto
    assert all(t.metrics["size_mb"] <= 5 for t in res.pareto)
    assert all(t.feasible == (t.metrics["size_mb"] <= 5) for t in res.trials)


def test_a_float_for_two_directions_stops_at_the_first_trial() -> None:
    def objective(trial):  # type: ignore[no-untyped-def]  # unannotated: found at run time
        return trial.suggest_float("x", 0, 1)

    with pytest.raises(ValidationError, match=r"returned one number for 2 direction"):
        optimize(objective, 10, directions=["minimize", "minimize"], **_quiet())
    assert len(tracker.search_runs(kind="trial")) == 1


# --- ambiguous input: refused before the first trial ----------------------------------------


def _constrained_tpe(**kwargs: Any) -> optuna.samplers.BaseSampler:
    # Optuna 5 deprecates constraints_func (for trial.set_constraint); users still pass it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return optuna.samplers.TPESampler(**kwargs)


def _annotated_float(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", 0, 1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"objectives": {"f": "minimize"}, "direction": "minimize"}, "not both"),
        ({"direction": "minimize", "directions": ["minimize"]}, "not both"),
        ({"directions": ["minimize", "maximize"], "metric_names": ["a"]}, "1 name"),
        ({"direction": "down"}, "unknown direction 'down'"),
        ({"objectives": {"f": "minimize"}, "metric_names": ["f"]}, "metric_names="),
        (
            {"direction": "minimize", "constraints": ["value <= 1"], "sampler": "tpe-cf"},
            "own constraints_func",
        ),
        (
            {"directions": ["minimize", "minimize"], "pruner": optuna.pruners.MedianPruner()},
            "Optuna's pruners compare one objective",
        ),
        ({"direction": "minimize", "pruner": "median"}, "pruner must be an optuna pruner"),
        ({"direction": "minimize", "catch": "ValueError"}, "catch must be"),
        ({"direction": "minimize", "callbacks": print}, "callbacks must be a list"),
        ({"direction": "minimize", "storage": 3}, "storage must be"),
        ({"direction": "minimize", "study": "my-study"}, "study must be an optuna.Study"),
        (
            {"direction": "minimize", "catch": (ValueError,), "executor": "pool"},
            "catch= with executor=",
        ),
        (
            {"directions": ["minimize", "minimize"], "objective": _annotated_float},
            "annotated to return float",
        ),
    ],
    ids=[
        "objectives-and-direction",
        "direction-and-directions",
        "names-count",
        "bad-direction",
        "names-with-objectives",
        "sampler-constraints-func",
        "pruner-multi",
        "pruner-type",
        "catch-type",
        "callbacks-type",
        "storage-type",
        "study-type",
        "catch-with-executor",
        "float-annotation-two-directions",
    ],
)
def test_ambiguous_input_is_refused_before_any_trial(kwargs: dict[str, Any], match: str) -> None:
    calls: list[int] = []

    def objective(trial: optuna.Trial) -> float:
        calls.append(1)
        return trial.suggest_float("x", 0, 1)

    kwargs = dict(kwargs)
    fn = kwargs.pop("objective", objective)
    if kwargs.get("sampler") == "tpe-cf":
        kwargs["sampler"] = _constrained_tpe(constraints_func=lambda ft: [0.0])
    if kwargs.get("executor") == "pool":
        from concurrent.futures import ThreadPoolExecutor

        kwargs["executor"] = ThreadPoolExecutor(1)
    with pytest.raises(ValidationError, match=match):
        optimize(fn, 3, show_progress=False, **kwargs)
    assert calls == []
    assert tracker.search_runs(kind="trial") == []
    assert tracker.search_runs(kind="search") == []


def test_a_study_with_another_name_or_storage_is_refused(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'o.db'}", study_name="s")
    with pytest.raises(ValidationError, match="give one of them"):
        optimize(quadratic, 2, study=study, study_name="other", show_progress=False)
    with pytest.raises(ValidationError, match="leave storage= out"):
        optimize(quadratic, 2, study=study, storage="sqlite:///x.db", show_progress=False)
    assert tracker.search_runs(kind="search") == []


# --- Optuna's arguments, with Optuna's meaning -----------------------------------------------


def test_callbacks_get_every_finished_trial_and_may_stop_the_study() -> None:
    seen: list[int] = []

    def stop_after_three(study: optuna.Study, ft: optuna.trial.FrozenTrial) -> None:
        seen.append(ft.number)
        if len(seen) == 3:
            study.stop()

    res = optimize(quadratic, 10, direction="minimize", callbacks=[stop_after_three], **_quiet())
    assert seen == [0, 1, 2]
    assert len(res.trials) == 3


def test_catch_means_what_it_means_in_study_optimize() -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 1:
            raise ValueError("bad x")
        if trial.number == 3:
            raise KeyError("stop here")
        return x

    # ValueError is caught (its trial fails, the search goes on); KeyError is not.
    with pytest.raises(KeyError, match="stop here"):
        optimize(objective, 6, direction="minimize", catch=(ValueError,), **_quiet())
    states = {r.attrs["trial"]["number"]: r.attrs["trial"]["state"] for r in _trial_runs()}
    assert states == {0: "complete", 1: "fail", 2: "complete", 3: "fail"}
    (search,) = tracker.search_runs(kind="search")
    assert search.status.value == "failed"

    # catch=() is Optuna's default: the first error stops the search.
    with pytest.raises(ValueError, match="bad x"):
        optimize(objective, 6, direction="minimize", catch=(), **_quiet())


def _trial_runs() -> list[tracker.Run]:
    return tracker.search_runs(kind="trial")


def test_gc_after_trial_collects_after_each_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    collected: list[int] = []
    real = gc.collect
    monkeypatch.setattr(gc, "collect", lambda *a: collected.append(1) or real(*a))
    optimize(quadratic, 3, direction="minimize", gc_after_trial=True, **_quiet())
    assert len(collected) >= 3


def test_storage_puts_the_study_where_optuna_would(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    res = optimize(quadratic, 4, direction="minimize", storage=url, study_name="q", **_quiet())
    loaded = optuna.load_study(study_name="q", storage=url)
    assert len(loaded.trials) == 4
    assert loaded.best_value == pytest.approx(res.best_value)
    # The tracker's records are in the tracker's store as always.
    assert len(tracker.search_runs(kind="trial", parent=res.search_run_id)) == 4

    mem = optuna.storages.InMemoryStorage()
    res = optimize(quadratic, 3, direction="minimize", storage=mem, **_quiet())
    assert len(res.trials) == 3


def test_study_continues_an_existing_optuna_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="old", storage=url, direction="minimize")
    study.optimize(quadratic, n_trials=4)
    before = study.best_value

    res = optimize(quadratic, 3, study=study, show_progress=False, seed=0)
    assert len(study.trials) == 7
    assert [t.number for t in res.trials] == list(range(7))
    assert res.best_value <= before
    assert res.objectives == {"value": "minimize"}
    # The study's own sampler ran (TPE, Optuna's default), not "auto".
    assert res.sampler["name"] == "TPESampler"


def test_a_single_objective_pruner_prunes_through_trial_should_prune() -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        for step in range(5):
            trial.report(x + 1.0 / (step + 1), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return x

    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    res = optimize(objective, 20, direction="minimize", pruner=pruner, **_quiet())
    assert res.study.pruner is pruner
    pruned = [t for t in res.trials if t.state == "pruned"]
    assert pruned
    assert not {t.number for t in pruned} & {t.number for t in res.best_trials}


# --- hard constraints stay hard in Optuna's words --------------------------------------------


def test_best_answers_are_feasible_only_and_say_why_when_none_is() -> None:
    def objective(trial: optuna.Trial) -> float:
        return trial.suggest_float("x", 0, 1)

    res = optimize(objective, 5, direction="minimize", constraints=["value >= 2"], **_quiet())
    assert res.best_trials == []
    for name in ("best_trial", "best_params", "best_value", "best_values"):
        with pytest.raises(
            ValueError, match=r"no completed trial met the constraints \(value >= 2"
        ):
            getattr(res, name)

    res = optimize(objective, 12, direction="minimize", constraints=["value >= 0.5"], **_quiet())
    assert res.best_value >= 0.5
    assert res.best_value == min(t.values["value"] for t in res.trials if t.values["value"] >= 0.5)


def test_a_samplers_own_constraints_func_alone_decides_feasibility() -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        trial.set_user_attr("c", x - 0.5)
        return x

    sampler = _constrained_tpe(
        seed=0, n_startup_trials=3, constraints_func=lambda ft: [ft.user_attrs["c"]]
    )
    res = optimize(objective, 10, direction="maximize", sampler=sampler, show_progress=False)
    assert res.trials
    assert all(t.feasible == (t.params["x"] <= 0.5) for t in res.trials)
    assert res.best_value <= 0.5


def test_constraints_set_in_the_objective_are_hard_too() -> None:
    # Optuna 5's own way: trial.set_constraint inside the objective.
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        trial.set_constraint("x_small", x - 0.5)
        return x

    res = optimize(objective, 10, direction="maximize", constraints=["value >= 0.1"], **_quiet())
    assert all(t.feasible == (0.1 <= t.params["x"] <= 0.5) for t in res.trials)
    assert 0.1 <= res.best_value <= 0.5
