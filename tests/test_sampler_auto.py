"""Rule 9 of the "auto" policy: a multi-objective GP search hands over to multivariate TPE
after ``GP_PHASE_TRIALS`` trials, replaying ``GPSampler(seed)`` up to then, with the switch
and its reason in the sampler record's history. Real searches on a real SQLite store."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from tracker.tuning import evaluate_constraints, optimize, parse_constraints
from tracker.tuning._policy import GP_PHASE_TRIALS, gp_available, phase_switch

needs_gp = pytest.mark.skipif(not gp_available(), reason="GPSampler needs PyTorch")

CONSTRAINTS = ["g <= 6"]


def _objective(trial: Any) -> dict[str, float]:
    x, y = trial.suggest_float("x", -5, 5), trial.suggest_float("y", -5, 5)
    return {"f": (x - 1) ** 2 + (y + 2) ** 2, "g": abs(x) + abs(y)}


def _plain(trial: optuna.Trial) -> tuple[float, float]:
    m = _objective(trial)
    for r in evaluate_constraints(parse_constraints(CONSTRAINTS), m):
        trial.set_constraint(r.constraint.expr, r.violation)
    return m["f"], m["g"]


def test_phase_rule_switches_multi_objective_searches_at_the_phase_end() -> None:
    assert phase_switch(GP_PHASE_TRIALS - 1, 2) is None
    assert phase_switch(GP_PHASE_TRIALS, 1) is None  # single-objective keeps the GP
    choice = phase_switch(GP_PHASE_TRIALS, 2)
    assert choice is not None
    assert choice.name == "TPESampler"
    assert choice.options == {"multivariate": True, "constant_liar": True}
    assert f"first {GP_PHASE_TRIALS} trials" in choice.reason


@needs_gp
def test_auto_replays_the_gp_then_hands_over_to_tpe_and_records_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tracker.tuning import _policy

    phase, budget, seed = 12, 16, 5
    monkeypatch.setattr(_policy, "GP_PHASE_TRIALS", phase)
    res = optimize(
        _objective,
        budget,
        objectives={"f": "minimize", "g": "minimize"},
        constraints=CONSTRAINTS,
        seed=seed,
        show_progress=False,
        trial_seconds=600,  # keeps rule 7 (cost) out of it
    )
    assert res.sampler["name"] == "TPESampler", res.sampler
    (before,) = res.sampler["history"]
    assert before["name"] == "GPSampler"
    assert before["until_trial"] == phase
    assert f"modelled the first {phase} trials" in res.sampler["reason"]
    ours = [t.params for t in sorted(res.trials, key=lambda t: t.number)]
    assert len(ours) == budget

    # Up to the switch: exactly GPSampler(seed=seed).
    gp = optuna.create_study(
        directions=["minimize", "minimize"], sampler=optuna.samplers.GPSampler(seed=seed)
    )
    gp.optimize(_plain, phase)
    assert ours[:phase] == [t.params for t in gp.trials]
    # After it: multivariate TPE, on its own seed (the second delegate's), modelling the
    # GP's trials; what benchmarks measure by continuing a copy of the GP's study.
    tpe = optuna.create_study(
        directions=["minimize", "minimize"],
        sampler=optuna.samplers.TPESampler(
            seed=(seed * 1_000_003 + 7_919 * 2) % 2**32, multivariate=True, constant_liar=True
        ),
    )
    tpe.add_trials(gp.trials)
    tpe.optimize(_plain, budget - phase)
    assert ours[phase:] == [t.params for t in tpe.trials[phase:]]


@needs_gp
def test_single_objective_auto_keeps_the_gp_past_the_phase(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tracker.tuning import _policy

    monkeypatch.setattr(_policy, "GP_PHASE_TRIALS", 12)
    res = optimize(
        lambda t: {"f": _objective(t)["f"]},
        14,
        objectives={"f": "minimize"},
        seed=2,
        show_progress=False,
        trial_seconds=600,
    )
    assert res.sampler["name"] == "GPSampler", res.sampler
    assert "history" not in res.sampler


@needs_gp
def test_a_resumed_search_past_the_phase_goes_straight_to_tpe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tracker.tuning import _policy

    monkeypatch.setattr(_policy, "GP_PHASE_TRIALS", 6)
    kwargs: dict[str, Any] = {
        "objectives": {"f": "minimize", "g": "minimize"},
        "constraints": CONSTRAINTS,
        "study_name": "resumed",
        "show_progress": False,
        "trial_seconds": 600,
    }
    optimize(_objective, 8, sampler="random", seed=0, **kwargs)
    res = optimize(_objective, 3, seed=1, **kwargs)
    assert res.sampler["name"] == "TPESampler", res.sampler
    (before,) = res.sampler["history"]
    assert before["name"] == "GPSampler"
    # Chosen from the 8 trials already there and replaced at once: the resumed search's
    # first trial (number 8) is TPE's, no GP suggestion ran.
    assert before["until_trial"] == 8
