"""Parameter importance per objective, recorded on the search run for the panel.

Given a search whose first objective depends only on ``x`` and whose second only on
``kind``, when it finishes, then ``attrs["search"]["importance"]`` holds Optuna's
PED-ANOVA importances per objective (normalised, the right param first); a search of
fewer than ``MIN_COMPLETE`` completed trials records why it has none; a resumed search
recomputes them over the whole study; an evaluator that fails never fails the search.
The store is the tests' default SQLite file (tests/conftest.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import optuna
import pytest

import tracker
from tracker.tuning import _importance, optimize
from tracker.tuning._importance import MIN_COMPLETE, param_importance

OBJ = {"loss": "minimize", "gain": "maximize"}


def _objective(trial: optuna.Trial) -> dict[str, float]:
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.suggest_float("noise", 0.0, 1.0)  # moves nothing
    kind = trial.suggest_categorical("kind", ["a", "b", "c"])
    return {"loss": (x - 0.3) ** 2, "gain": {"a": 0.0, "b": 1.0, "c": 0.5}[kind]}


def _importance_of(search_run_id: str) -> dict[str, Any]:
    imp: dict[str, Any] = tracker.get_run(search_run_id).attrs["search"]["importance"]
    return imp


def test_a_finished_search_records_each_objectives_param_importance() -> None:
    res = optimize(_objective, 40, objectives=OBJ, sampler="random", seed=0, show_progress=False)
    imp = _importance_of(res.search_run_id)
    assert imp["method"] == "PedAnovaImportanceEvaluator"
    assert imp["n_complete"] == 40
    assert imp["reason"] is None
    assert set(imp["objectives"]) == set(OBJ)
    for name, figures in imp["objectives"].items():
        assert set(figures) == {"x", "noise", "kind"}, name
        assert sum(figures.values()) == pytest.approx(1.0)
    assert max(imp["objectives"]["loss"], key=imp["objectives"]["loss"].get) == "x"
    # "gain" is maximised: the params that reach HIGH gain are the ones that matter
    assert max(imp["objectives"]["gain"], key=imp["objectives"]["gain"].get) == "kind"


def test_too_few_completed_trials_record_why_there_are_none() -> None:
    res = optimize(_objective, MIN_COMPLETE - 1, objectives=OBJ, seed=0, show_progress=False)
    imp = _importance_of(res.search_run_id)
    assert imp["objectives"] == {}
    assert imp["n_complete"] == MIN_COMPLETE - 1
    assert f"at least {MIN_COMPLETE}" in imp["reason"]


def test_a_resumed_search_recomputes_them_over_the_whole_study() -> None:
    kw: dict[str, Any] = dict(
        objectives=OBJ, study_name="imp", sampler="random", show_progress=False
    )
    first = optimize(_objective, 3, seed=0, **kw)
    assert _importance_of(first.search_run_id)["objectives"] == {}
    second = optimize(_objective, 5, seed=1, **kw)
    imp = _importance_of(second.search_run_id)
    assert imp["n_complete"] == 8
    assert set(imp["objectives"]) == set(OBJ)


def test_an_evaluator_that_fails_is_a_reason_not_a_failed_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> Any:
        raise RuntimeError("no evaluator today")

    monkeypatch.setattr(_importance, "_evaluator", broken)
    res = optimize(_objective, 6, objectives=OBJ, seed=0, show_progress=False)
    imp = _importance_of(res.search_run_id)
    assert imp["objectives"] == {}
    assert "RuntimeError: no evaluator today" in imp["reason"]
    assert tracker.get_run(res.search_run_id).status.value == "finished"


def test_falls_back_to_another_evaluator_without_ped_anova(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    study = optuna.create_study(directions=["minimize", "maximize"])
    study.optimize(lambda t: tuple(_objective(t).values()), n_trials=8)  # type: ignore[arg-type]
    monkeypatch.delattr(optuna.importance, "PedAnovaImportanceEvaluator")
    imp = param_importance(study, OBJ)
    assert imp["method"] == "FanovaImportanceEvaluator"
    assert set(imp["objectives"]["loss"]) == {"x", "noise", "kind"}


def test_the_server_serves_them_and_older_searches_have_none() -> None:
    from tracker.server import serialize

    res = optimize(_objective, 6, objectives=OBJ, sampler="random", seed=0, show_progress=False)
    search = tracker.get_run(res.search_run_id)
    trials = tracker.search_runs(kind="trial", parent=res.search_run_id)
    d = serialize.search_detail(search, trials, [])
    assert d["importance"]["method"] == "PedAnovaImportanceEvaluator"
    assert set(d["importance"]["objectives"]["loss"]) == {"x", "noise", "kind"}
    assert all(t["feasible_on_test"] is None for t in d["trials"])  # no test re-check here
    # a search recorded before importances were (or a hand-written one) has none, not an error
    older = dataclasses.replace(
        search, attrs={**search.attrs, "search": {"objectives": OBJ, "importance": "junk"}}
    )
    assert serialize.search_detail(older, trials, [])["importance"] is None


def test_a_search_stopped_by_hand_still_records_the_importances_of_its_trials() -> None:
    calls = 0

    def stopped_at_twelve(trial: optuna.Trial) -> dict[str, float]:
        nonlocal calls
        calls += 1
        if calls == 12:
            raise KeyboardInterrupt  # what Ctrl-C / the notebook's stop button raises
        return _objective(trial)

    with pytest.raises(KeyboardInterrupt):
        optimize(
            stopped_at_twelve, 40, objectives=OBJ, sampler="random", seed=0, show_progress=False
        )
    (search,) = tracker.search_runs(kind="search")
    imp = search.attrs["search"]["importance"]
    assert imp["n_complete"] == 11
    assert set(imp["objectives"]) == set(OBJ)
    assert max(imp["objectives"]["loss"], key=imp["objectives"]["loss"].get) == "x"
