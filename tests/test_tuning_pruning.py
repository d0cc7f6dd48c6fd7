"""Pruning: tracker.report records curves and applies the rules of docs/optimize.md, "Pruning".

Learning curves here are synthetic and deterministic (a trial's quality is its parameter),
so each rule's verdict is known in advance: a constraint broken beyond the margin at the
first step, a trial dominated at a step by k completed feasible trials, Optuna's own
pruner for one objective. Pruned trials keep their metric steps, are never on the front,
and show as pruned in the result, its views, the progress widget and the card.
"""

from __future__ import annotations

from typing import Any

import optuna
import pytest

import tracker
from tracker.exceptions import ValidationError
from tracker.tuning import ParetoPruner, SearchProgress, optimize
from tracker.tuning._pruning import CURVE_KEY

STEPS = 4


def _runs(res: Any) -> dict[int, tracker.Run]:
    runs = tracker.search_runs(kind="trial", parent=res.search_run_id)
    return {int(r.tags["optuna.trial_number"]): r for r in runs}


def _steps(run_id: str, key: str) -> list[int]:
    """The reported steps of a metric (the final value is logged without a step)."""
    return [m.step for m in tracker.metric_history(run_id, key) if m.step is not None]


def test_report_records_metric_steps_and_a_latency_over_budget_is_pruned_at_once() -> None:
    # Trials 0-4 fit the 5 ms budget; trial 5 (12 ms) breaks it by 140 % at step 0, trial 6
    # (5.5 ms, 10 %) stays within the 20 % margin (and, most accurate, is dominated by no
    # one) until the end, where it is infeasible.
    latencies = [1.0, 2.0, 3.0, 4.0, 4.5, 12.0, 5.5]

    def objective(trial: optuna.Trial) -> dict[str, float]:
        lat = latencies[trial.number]
        trial.suggest_float("x", 0, 1)
        acc = 0.0
        for step in range(STEPS):
            acc = 0.5 + 0.1 * step + 0.01 * lat  # slower models are more accurate
            if tracker.report(trial, {"accuracy": acc, "latency_ms": lat}, step):
                raise optuna.TrialPruned()
        return {"accuracy": acc, "latency_ms": lat}

    res = optimize(
        objective,
        len(latencies),
        objectives={"accuracy": "maximize", "latency_ms": "minimize"},
        constraints=["latency_ms <= 5"],
        sampler="random",
        show_progress=False,
    )
    states = {t.number: t.state for t in res.trials}
    assert states[5] == "pruned"
    assert states[6] == "complete"
    assert not res.trials[6].feasible
    assert 5 not in {t.number for t in res.pareto}
    runs = _runs(res)
    # The pruned trial keeps its curve (one step) and says why it was pruned.
    pruned = tracker.get_run(runs[5].id)
    assert _steps(pruned.id, "accuracy") == [0]
    assert "latency_ms <= 5 broken by 140 %" in pruned.attrs["pruning"]["reason"]
    assert pruned.attrs["trial"]["state"] == "pruned"
    # Complete trials have every step.
    assert _steps(runs[0].id, "accuracy") == list(range(STEPS))
    # ... and their curve is on the Optuna trial, for workers in other processes.
    ft = res.study.trials[0]
    assert sorted(ft.user_attrs[CURVE_KEY], key=int) == [str(s) for s in range(STEPS)]


def test_a_trial_dominated_at_a_step_by_k_completed_trials_is_pruned() -> None:
    # Quality q per trial: the first three are good, then a bad one (dominated at every
    # step by all three), then one better than all.
    quality = [0.9, 0.8, 0.85, 0.1, 0.95]

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        trial.suggest_float("x", 0, 1)
        q = quality[trial.number]
        acc, cost = 0.0, 0.0
        for step in range(STEPS):
            acc, cost = q * (step + 1) / STEPS, (1 - q) * 10
            if tracker.report(trial, {"acc": acc, "cost": cost}, step):
                raise optuna.TrialPruned()
        return acc, cost

    res = optimize(
        objective,
        len(quality),
        directions=["maximize", "minimize"],
        metric_names=["acc", "cost"],
        # min_gain=0: dominance alone (trial 2, dominated by trial 0 only, goes on).
        pruner=ParetoPruner(min_dominating=2, warmup_steps=1, min_gain=0),
        sampler="random",
        show_progress=False,
    )
    states = [t.state for t in res.trials]
    assert states == ["complete", "complete", "complete", "pruned", "complete"]
    pruned = tracker.get_run(_runs(res)[3].id)
    assert pruned.attrs["pruning"]["step"] == 1  # warm-up: never at step 0
    assert (
        "dominated at step 1 by 3 completed feasible trial(s)"
        in (pruned.attrs["pruning"]["reason"])
    )
    assert 3 not in {t.number for t in res.best_trials}
    assert res.n_pruned == 1
    assert "1 pruned" in repr(res)
    assert "1 pruned" in res._repr_html_()


# (accuracy, cost) per trial, the same at every step: two ends of a front, then a trial
# squeezed between them (on the front, adding ~1.5 % to its hypervolume), one beyond the
# accurate end (adds ~1.6 %, but extends the front: kept), one far in front of the line, and one
# dominated by trial 0 alone.
SQUEEZE = [(0.9, 9.0), (0.5, 1.0), (0.52, 8.5), (0.95, 20.0), (0.8, 3.0), (0.85, 9.5)]


def _squeeze_search(pruner: ParetoPruner) -> Any:
    def objective(trial: optuna.Trial) -> dict[str, float]:
        trial.suggest_float("x", 0, 1)
        acc, cost = SQUEEZE[trial.number]
        for step in range(STEPS):
            if tracker.report(trial, {"acc": acc, "cost": cost}, step):
                raise optuna.TrialPruned()
        return {"acc": acc, "cost": cost}

    return optimize(
        objective,
        len(SQUEEZE),
        objectives={"acc": "maximize", "cost": "minimize"},
        pruner=pruner,
        sampler="random",
        show_progress=False,
    )


def test_a_trial_adding_less_than_min_gain_to_the_same_step_front_is_pruned() -> None:
    res = _squeeze_search(ParetoPruner(min_gain=0.02))
    states = [t.state for t in res.trials]
    assert states == ["complete", "complete", "pruned", "complete", "complete", "pruned"]
    runs = _runs(res)
    squeezed = tracker.get_run(runs[2].id).attrs["pruning"]
    assert squeezed["step"] == 1  # the warm-up holds for this rule too
    assert "to the hypervolume of 2 completed feasible trial(s) at step 1" in squeezed["reason"]
    assert "min_gain 2 %" in squeezed["reason"]
    # Trial 5 is dominated by trial 0 only (k = 2): it adds nothing, so min_gain prunes it.
    assert "would add 0 %" in tracker.get_run(runs[5].id).attrs["pruning"]["reason"]
    assert _steps(runs[2].id, "acc") == [0, 1]  # its curve is kept
    assert {2, 5}.isdisjoint(t.number for t in res.best_trials)


def test_min_gain_zero_keeps_every_trial_on_the_front_and_a_stricter_one_prunes_more() -> None:
    assert all(t.state == "complete" for t in _squeeze_search(ParetoPruner(min_gain=0)).trials)
    # Adding ~1.5 % passes the default 1 %; trial 5 adds nothing and is pruned.
    states = [t.state for t in _squeeze_search(ParetoPruner()).trials]
    assert states == ["complete"] * 5 + ["pruned"]


def test_hypervolume_gain_is_zero_when_dominated_and_a_share_otherwise() -> None:
    import numpy as np

    from tracker.tuning._pruning import hypervolume_gain

    others = np.array([[-0.9, 9.0], [-0.5, 1.0]])
    assert hypervolume_gain(np.array([-0.85, 9.5]), others) == 0.0
    squeezed = hypervolume_gain(np.array([-0.52, 8.5]), others)
    assert 0.01 < squeezed < 0.02
    assert hypervolume_gain(np.array([-0.8, 3.0]), others) > 0.3
    # Units do not matter: the same points with cost in other units give the same share.
    scaled = others * np.array([1.0, 1000.0])
    assert hypervolume_gain(np.array([-0.52, 8500.0]), scaled) == pytest.approx(squeezed)
    assert hypervolume_gain(np.array([-np.inf, 1.0]), others) == 1.0


def test_fewer_than_k_dominating_trials_do_not_prune() -> None:
    quality = [0.9, 0.1]

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        trial.suggest_float("x", 0, 1)
        q = quality[trial.number]
        for step in range(STEPS):
            if tracker.report(trial, {"values_0": q, "values_1": 1 - q}, step):
                raise optuna.TrialPruned()
        return q, 1 - q

    res = optimize(
        objective, 2, directions=["maximize", "minimize"], sampler="random", show_progress=False
    )
    assert [t.state for t in res.trials] == ["complete", "complete"]  # k = 2 by default


def test_one_objective_keeps_optunas_pruner() -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        loss = 0.0
        for step in range(STEPS):
            loss = x + 1.0 / (step + 1)
            if tracker.report(trial, {"value": loss}, step):
                raise optuna.TrialPruned()
        return loss

    pruner = optuna.pruners.ThresholdPruner(upper=1.2)
    res = optimize(
        objective,
        12,
        direction="minimize",
        pruner=pruner,
        sampler="random",
        seed=1,
        show_progress=False,
    )
    for t in res.trials:
        ft = res.study.trials[t.number]
        # What Optuna's pruner saw is what tracker.report passed on.
        assert ft.intermediate_values
        assert t.state == ("pruned" if min(ft.intermediate_values.values()) > 1.2 else "complete")
    assert any(t.state == "pruned" for t in res.trials)
    assert all(t.state == "complete" for t in res.pareto)


def test_nop_pruner_never_prunes_but_keeps_the_curves() -> None:
    def objective(trial: optuna.Trial) -> dict[str, float]:
        trial.suggest_float("x", 0, 1)
        for step in range(2):
            assert not tracker.report(trial, {"f": 1.0, "lat": 100.0}, step)
        return {"f": 1.0, "lat": 100.0}

    res = optimize(
        objective,
        3,
        objectives={"f": "maximize", "lat": "minimize"},
        constraints=["lat <= 1"],
        pruner=optuna.pruners.NopPruner(),
        sampler="random",
        show_progress=False,
    )
    assert [t.state for t in res.trials] == ["complete"] * 3
    assert _steps(_runs(res)[0].id, "lat") == [0, 1]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda t: tracker.report(t, {"f": 1.0}, -1), "step must be an integer >= 0"),
        (lambda t: tracker.report(t, {"f": "high"}, 0), "must be a real number"),
        (lambda t: tracker.report(object(), {"f": 1.0}, 0), "inside the objective"),
    ],
    ids=["negative-step", "not-a-number", "not-a-trial"],
)
def test_bad_report_calls_say_what_to_do(call: Any, match: str) -> None:
    seen: list[str] = []

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0, 1)
        try:
            call(trial)
        except ValidationError as exc:
            seen.append(str(exc))
        return 1.0

    optimize(objective, 1, direction="minimize", show_progress=False)
    assert len(seen) == 1
    assert match in seen[0]


def test_report_outside_a_search_is_refused() -> None:
    study = optuna.create_study()
    trial = study.ask()
    with pytest.raises(ValidationError, match=r"running tracker\.optimize"):
        tracker.report(trial, {"f": 1.0}, 0)


def test_pruned_trials_show_in_the_progress_text_widget_and_card() -> None:
    events: list[SearchProgress] = []

    def objective(trial: optuna.Trial) -> dict[str, float]:
        lat = trial.suggest_categorical("lat", [1.0, 50.0])
        if tracker.report(trial, {"lat": lat}, 0):
            raise optuna.TrialPruned()
        return {"acc": 1 / lat, "lat": lat}

    res = optimize(
        objective,
        8,
        objectives={"acc": "maximize", "lat": "minimize"},
        constraints=["lat <= 5"],
        sampler="random",
        seed=3,
        progress=events.append,
    )
    n = res.n_pruned
    assert n > 0
    assert events[-1].n_pruned == n
    from tracker.tuning import TextProgress

    assert f"{n} pruned" in TextProgress.line(events[-1])

    from tracker.widgets import SearchProgressWidget

    w = SearchProgressWidget(interval=3600, display_now=False)
    w(events[-1])
    assert f"{n} pruned" in w.status.value

    from tracker.cards import build_card

    card = build_card(res.search_run_id, persist=False)
    assert f"pruned {n}" in card.to_markdown()


def test_trials_on_an_executor_use_the_searchs_pruner() -> None:
    from concurrent.futures import ThreadPoolExecutor

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        for step in range(STEPS):
            if tracker.report(trial, {"value": x + 1.0}, step):
                raise optuna.TrialPruned()
        return x

    # Every trial breaks the threshold: each must be pruned at step 0 by this pruner, not
    # by the MedianPruner a study loaded on a worker would get.
    with ThreadPoolExecutor(1) as pool:
        res = optimize(
            objective,
            4,
            direction="minimize",
            pruner=optuna.pruners.ThresholdPruner(upper=0.5),
            sampler="random",
            executor=pool,
            show_progress=False,
        )
    assert [t.state for t in res.trials] == ["pruned"] * 4
