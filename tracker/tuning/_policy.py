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
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GP_MAX_DIMS",
    "GP_MAX_TRIALS",
    "NSGA_MIN_TRIALS",
    "SamplerChoice",
    "choose_sampler",
    "gp_available",
]

GP_MAX_DIMS = 8
GP_MAX_TRIALS = 150
NSGA_MIN_TRIALS = 1000


@dataclass(frozen=True, slots=True)
class SamplerChoice:
    """What ``"auto"`` picked and why.

    Attributes:
        name: ``"GPSampler"``, ``"TPESampler"`` or ``"NSGAIISampler"``.
        reason: One sentence a user can read in the search run.
        options: Keyword arguments for the sampler (besides the seed).
    """

    name: str
    reason: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Record form ``{"name", "reason", "options"}``."""
        return {"name": self.name, "reason": self.reason, "options": dict(self.options)}


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
