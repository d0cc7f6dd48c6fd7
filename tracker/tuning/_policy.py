"""Sampler policy ``"auto"``: pick an Optuna sampler from the space, the budget and the setup.

The rules, and the benchmark rows behind them (``benchmarks/bench_search_quality.py``):

1. Parallel trials (``n_jobs > 1``) or distributed workers: multivariate TPE with the
   constant liar. The GP sampler is sequential by design and each of its suggestions costs
   seconds at a few hundred trials, which would idle the workers.
2. A conditional space (some trials suggest parameters that others do not): multivariate
   TPE with ``group=True``, which models each sub-space separately.
3. Large budgets: above :data:`GP_MAX_TRIALS` the GP's cubic cost dominates (17 s per
   suggestion at 1,000 trials on the reference machine); multivariate TPE, or NSGA-II for
   multi-objective searches of :data:`NSGA_MIN_TRIALS` trials or more, which is cheap and
   strong when many generations fit in the budget.
4. No trial budget (a timeout only): multivariate TPE, whose cost stays flat.
5. Otherwise, a small all-numeric space (at most :data:`GP_MAX_DIMS` float/int
   parameters) with a budget of at most :data:`GP_MAX_TRIALS`: Optuna's ``GPSampler``,
   the most sample-efficient choice when each trial is expensive. It needs PyTorch; without
   it the policy says so and uses TPE.
6. Anything else (categorical parameters, many dimensions): multivariate TPE.

The choice is revisited as the search runs (:class:`~tracker.tuning._samplers.AutoSampler`):

7. Cost: the GP sampler's suggestions are timed, and so is each trial (its wall time
   apart from those suggestions: the objective and the bookkeeping around it). After every
   trial the GP's *total* suggestion time so far is weighed against the whole search's
   trial time so far: while it stays within :data:`GP_ALLOWANCE_S` plus
   :data:`MAX_SUGGEST_SHARE` of the trial time, the GP stays; past that, multivariate TPE
   takes over. The share bounds what the GP adds to the wall time (at most half as much
   again as the trials themselves, so a cheap search stays within about 1.5x of TPE's
   time); the allowance is time nobody waits on, and lets the rule see a few suggestions
   before it judges. Totals, not the latest suggestion: a GP costing 20 s a suggestion is
   fine when trials take 10 minutes, and the GP's seconds per suggestion grow with the
   trials, so a search can switch late. A trial that costs more than the rule can see
   (the tracker runs a stand-in, or the first trials are quick and later ones slow) is
   declared with ``trial_seconds=``: each trial then counts as the larger of the declared
   and the measured time. The switch depends on timing, so a seeded search that switches
   is reproducible only as far as its timings are; name a sampler (``sampler="gp"``) or
   declare ``trial_seconds=`` for exact replays.
8. Shape: a trial that suggests parameters the first did not (a conditional space)
   switches to grouped TPE.

Every switch is kept in the search's ``sampler`` record (``history``: what ran before,
from which trial, and why it stopped).
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tracker.exceptions import ValidationError

__all__ = [
    "GP_ALLOWANCE_S",
    "GP_MAX_DIMS",
    "GP_MAX_TRIALS",
    "MAX_SUGGEST_SHARE",
    "NSGA_MIN_TRIALS",
    "SamplerChoice",
    "check_trial_seconds",
    "choose_sampler",
    "cost_switch",
    "gp_available",
]

GP_MAX_DIMS = 8
GP_MAX_TRIALS = 150
NSGA_MIN_TRIALS = 1000
#: Seconds of GP suggestions a search may spend whatever its trials cost (rule 7).
GP_ALLOWANCE_S = 1.0
#: Largest total GP suggestion time kept, as a share of the search's total trial time.
MAX_SUGGEST_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class SamplerChoice:
    """What ``"auto"`` picked and why.

    Attributes:
        name: ``"GPSampler"``, ``"TPESampler"`` or ``"NSGAIISampler"``.
        reason: One sentence a user can read in the search run.
        options: Keyword arguments for the sampler (besides the seed).
        history: The choices this one replaced, oldest first, each the record form of a
            choice plus ``until_trial`` (the first trial it no longer suggested).
    """

    name: str
    reason: str
    options: Mapping[str, Any] = field(default_factory=dict)
    history: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Record form ``{"name", "reason", "options"}`` (and ``"history"`` after a switch)."""
        out: dict[str, Any] = {
            "name": self.name,
            "reason": self.reason,
            "options": dict(self.options),
        }
        if self.history:
            out["history"] = [dict(h) for h in self.history]
        return out

    def replaced_by(self, new: SamplerChoice, at_trial: int) -> SamplerChoice:
        """``new``, remembering this choice (and its own history) as ended at ``at_trial``."""
        ended = {k: v for k, v in self.to_dict().items() if k != "history"}
        return SamplerChoice(
            new.name,
            new.reason,
            new.options,
            (*self.history, {**ended, "until_trial": at_trial}),
        )


def cost_switch(
    suggest_s: Sequence[float],
    trial_s: Sequence[float],
    declared_s: float | None = None,
) -> SamplerChoice | None:
    """Rule 7: TPE instead of the GP once its suggestions cost too much next to the trials.

    Args:
        suggest_s: Seconds each GP suggestion took, one entry per GP-modelled trial.
        trial_s: Seconds each completed trial of the search took apart from its GP
            suggestion (random start-up trials included: they are search time too).
        declared_s: What the user says a trial costs (``trial_seconds=``); each trial
            counts as the larger of this and its measured time.

    Returns:
        The TPE choice with its reason, or ``None`` to keep the GP.
    """
    if not suggest_s:
        return None
    floor = declared_s or 0.0
    spent = sum(suggest_s)
    trials = sum(max(t, floor) for t in trial_s)
    allowed = GP_ALLOWANCE_S + MAX_SUGGEST_SHARE * trials
    if spent <= allowed:
        return None
    declared = f" (declared {declared_s:.3g} s each)" if declared_s else ""
    return SamplerChoice(
        "TPESampler",
        f"the GP sampler spent {spent:.3g} s on {len(suggest_s)} "
        f"suggestion{'' if len(suggest_s) == 1 else 's'} against {trials:.3g} s for the "
        f"search's {len(trial_s)} trials{declared}, more than "
        f"{GP_ALLOWANCE_S:.3g} s plus {MAX_SUGGEST_SHARE:.0%} of the trials' time: "
        "multivariate TPE, whose suggestions cost milliseconds, makes better use of the time",
        {"multivariate": True, "constant_liar": True},
    )


def check_trial_seconds(value: object) -> float | None:
    """``trial_seconds=``: ``None`` or a positive number of seconds.

    Raises:
        ValidationError: anything else, with a correct form.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValidationError(
            f"trial_seconds must be a positive number of seconds (what one trial costs, "
            f"e.g. trial_seconds=600 for 10-minute trials), not {value!r:.40}"
        )
    return float(value)


def gp_available() -> bool:
    """Whether Optuna's GPSampler can run here (it needs PyTorch)."""
    return importlib.util.find_spec("torch") is not None


def choose_sampler(
    space: Mapping[str, Mapping[str, Any]],
    *,
    n_objectives: int,
    budget: int | None,
    parallel: bool,
    conditional: bool = False,
    has_gp: bool | None = None,
) -> SamplerChoice:
    """Apply the policy in the module docstring.

    Args:
        space: Parameter name to its description (``{"type": "float"|"int"|"categorical", ...}``).
        n_objectives: Number of objectives.
        budget: Trials this search will run (``None``: limited by time only).
        parallel: Trials run concurrently (threads or worker processes).
        conditional: Trials suggested different sets of parameters.
        has_gp: Override the PyTorch check (tests).

    Returns:
        The choice, with a reason naming the facts it rests on.
    """
    gp_ok = gp_available() if has_gp is None else has_gp
    dims = len(space)
    numeric = all(d.get("type") in ("float", "int") for d in space.values())
    tpe = {"multivariate": True, "constant_liar": True}
    if parallel:
        return SamplerChoice(
            "TPESampler",
            "trials run in parallel: multivariate TPE with the constant liar keeps concurrent "
            "suggestions apart; the GP sampler is sequential",
            tpe,
        )
    if conditional:
        return SamplerChoice(
            "TPESampler",
            "the space is conditional (trials suggest different parameters): "
            "multivariate TPE with group=True models each sub-space",
            {**tpe, "group": True},
        )
    if budget is None:
        return SamplerChoice(
            "TPESampler",
            "no trial budget (timeout only): multivariate TPE, whose cost per suggestion stays low",
            tpe,
        )
    if budget > GP_MAX_TRIALS:
        if n_objectives > 1 and budget >= NSGA_MIN_TRIALS:
            return SamplerChoice(
                "NSGAIISampler",
                f"a multi-objective search of {budget} trials (>= {NSGA_MIN_TRIALS}): NSGA-II "
                "gets many generations and costs almost nothing per suggestion",
                {},
            )
        return SamplerChoice(
            "TPESampler",
            f"a budget of {budget} trials (> {GP_MAX_TRIALS}): the GP sampler's cost grows "
            "cubically with trials; multivariate TPE scales",
            tpe,
        )
    if not numeric:
        kinds = sorted({str(d.get("type")) for d in space.values()})
        return SamplerChoice(
            "TPESampler",
            f"the space has {', '.join(kinds)} parameters: multivariate TPE handles "
            "categorical choices natively",
            tpe,
        )
    if dims > GP_MAX_DIMS:
        return SamplerChoice(
            "TPESampler",
            f"{dims} parameters (> {GP_MAX_DIMS}): multivariate TPE copes better with many "
            "dimensions at this budget",
            tpe,
        )
    if not gp_ok:
        return SamplerChoice(
            "TPESampler",
            f"a small numeric space ({dims} parameters, {budget} trials) suits the GP sampler, "
            "but PyTorch is not installed (pip install 'jupyterlab-tracker[gp]'): "
            "multivariate TPE instead",
            tpe,
        )
    return SamplerChoice(
        "GPSampler",
        f"a small all-numeric space ({dims} parameters) and a budget of {budget} trials "
        f"(<= {GP_MAX_TRIALS}), run sequentially: the GP sampler is the most sample-efficient",
        {},
    )
