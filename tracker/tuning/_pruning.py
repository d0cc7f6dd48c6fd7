"""Pruning: ``tracker.report(trial, values, step)`` and the rules that stop a trial early.

A trial reports its intermediate metrics (``{"accuracy": 0.81, "latency_p95_ms": 4.2}``
at ``step``); they are recorded as metric steps of the trial's run (its curves stay
there, pruned or not) and the call returns whether to prune, as ``trial.should_prune()``
does in Optuna: the objective then raises ``optuna.TrialPruned()``.

Four rules, any of which prunes (docs/optimize.md, "Pruning"):

1. **A broken constraint.** A constrained metric whose normalised violation (the one
   samplers see: ``(m - b) / |b|`` for ``m <= b``) already exceeds ``margin``
   (default :data:`MARGIN`, 20 % of the bound) at a step ``>= constraint_warmup_steps``.
   Meant for metrics training does not improve: latency, size, memory. For one that it
   does (``accuracy >= 0.9``), set ``constraint_warmup_steps`` or do not report it early.
2. **Dominated at the same step** (several objectives; :class:`ParetoPruner`): from step
   ``warmup_steps`` on, the trial's objective values at ``step`` are dominated by the values
   at the same step of at least ``min_dominating`` completed, feasible trials.
3. **Too little to add at the same step** (several objectives): from step ``warmup_steps``
   on, with at least ``min_dominating`` completed feasible trials at ``step``, a trial whose
   values at ``step`` would raise the hypervolume of those trials' values at ``step`` by
   less than ``min_gain`` (default :data:`MIN_GAIN`, 1 %) of it. The reference point is
   the usual one of these points and the trial's (the worst value per objective pushed
   out by 10 % of the range), so the share does not depend on units. A trial better than
   every one of those trials in some objective is kept (it extends the front at an end).
   Besides the dominated trials (they add nothing, so with ``min_gain > 0`` one dominating
   trial suffices), this prunes those that would squeeze between two neighbours on the
   front: the front loses little for it.
4. **Optuna's pruner** (one objective): the objective's value goes to ``trial.report`` and
   the study's pruner (``pruner=``, Optuna's default ``MedianPruner``) answers through
   ``trial.should_prune()``.

A completed trial's curve (its objective values per reported step) is stored with its
Optuna trial (user attribute ``tracker.curve``), so workers in other processes compare
against it too.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.pruners import BasePruner
from optuna.study import Study
from optuna.trial import FrozenTrial, Trial

from tracker.exceptions import ValidationError
from tracker.run import validate_metrics
from tracker.tuning._front import dominates, hypervolume, reference_point

if TYPE_CHECKING:
    from tracker.run import ActiveRun
    from tracker.tuning._search import Search

__all__ = [
    "CURVE_KEY",
    "MARGIN",
    "MIN_DOMINATING",
    "MIN_GAIN",
    "WARMUP_STEPS",
    "ParetoPruner",
    "report",
]

#: Trial user attribute holding a completed trial's curve ``{step: [objective values]}``.
CURVE_KEY = "tracker.curve"
#: Default margin of the constraint rule: a violation above 20 % of the bound prunes.
MARGIN = 0.2
#: Default number of completed feasible trials that must dominate a trial at a step.
MIN_DOMINATING = 2
#: Default least share of the same-step hypervolume a trial must add to go on (rule 3).
MIN_GAIN = 0.01
#: Default first step at which the dominance rule may prune.
WARMUP_STEPS = 1


class ParetoPruner(BasePruner):
    """The tracker's pruning rules for several objectives (and constraints).

    Pass it as ``tracker.optimize(..., pruner=ParetoPruner(...))`` to change the
    defaults; a multi-objective search uses ``ParetoPruner()`` when ``pruner=`` is left
    out. Optuna never calls :meth:`prune` for several objectives (its
    ``trial.should_prune()`` refuses them); :func:`report` applies the rules.

    Args:
        min_dominating: ``k``: completed feasible trials whose values at the same step
            must dominate the trial's for it to be pruned.
        warmup_steps: The dominance rule applies from this step on.
        margin: The constraint rule prunes when a violation exceeds this fraction of
            its bound.
        constraint_warmup_steps: The constraint rule applies from this step on.
        min_gain: The least share (0 to 1) of the hypervolume of the completed trials'
            values at a step that a trial's values at that step must add for it to go
            on; 0 turns that rule off (only dominated trials are pruned).
    """

    def __init__(
        self,
        min_dominating: int = MIN_DOMINATING,
        warmup_steps: int = WARMUP_STEPS,
        margin: float = MARGIN,
        constraint_warmup_steps: int = 0,
        min_gain: float = MIN_GAIN,
    ) -> None:
        for name, v in (
            ("min_dominating", min_dominating),
            ("warmup_steps", warmup_steps),
            ("constraint_warmup_steps", constraint_warmup_steps),
        ):
            if (
                isinstance(v, bool)
                or not isinstance(v, int)
                or v < (1 if name == "min_dominating" else 0)
            ):
                raise ValidationError(
                    f"ParetoPruner: {name} must be a non-negative integer, got {v!r}"
                )
        if isinstance(margin, bool) or not isinstance(margin, int | float) or margin < 0:
            raise ValidationError(f"ParetoPruner: margin must be a number >= 0, got {margin!r}")
        if (
            isinstance(min_gain, bool)
            or not isinstance(min_gain, int | float)
            or not 0 <= min_gain < 1
        ):
            raise ValidationError(
                f"ParetoPruner: min_gain must be a number in [0, 1), got {min_gain!r}"
            )
        self.min_dominating = min_dominating
        self.warmup_steps = warmup_steps
        self.margin = float(margin)
        self.constraint_warmup_steps = constraint_warmup_steps
        self.min_gain = float(min_gain)

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        """Never called by Optuna for several objectives; :func:`report` decides."""
        return False

    def __repr__(self) -> str:
        return (
            f"ParetoPruner(min_dominating={self.min_dominating}, warmup_steps="
            f"{self.warmup_steps}, margin={self.margin:g}, constraint_warmup_steps="
            f"{self.constraint_warmup_steps}, min_gain={self.min_gain:g})"
        )


@dataclass
class TrialCurve:
    """A running trial's context for :func:`report` (registered by the search)."""

    search: Search
    run: ActiveRun
    trial: Trial
    steps: dict[int, dict[str, float]] = field(default_factory=dict)
    pruned: dict[str, Any] | None = None

    def objective_curve(self) -> dict[str, list[float]]:
        """``{step: [objective values]}`` over the steps that reported every objective."""
        names = self.search.names
        return {
            str(s): [float(v[n]) for n in names]
            for s, v in sorted(self.steps.items())
            if all(n in v for n in names)
        }


_lock = threading.Lock()
_running: dict[tuple[str, int], TrialCurve] = {}


def register(curve: TrialCurve) -> None:
    """Make a running trial reachable from :func:`report` (the search calls it)."""
    with _lock:
        _running[(curve.search.study.study_name, curve.trial.number)] = curve


def unregister(study_name: str, number: int) -> TrialCurve | None:
    """Forget a finished trial; returns its context."""
    with _lock:
        return _running.pop((study_name, number), None)


def curve_of(ft: FrozenTrial) -> dict[int, np.ndarray]:
    """A completed trial's stored curve, by step (empty when it reported nothing)."""
    raw = ft.user_attrs.get(CURVE_KEY) or {}
    out: dict[int, np.ndarray] = {}
    for s, v in raw.items():
        try:
            out[int(s)] = np.asarray(v, dtype=float)
        except (TypeError, ValueError):
            continue
    return out


def report(trial: Trial, values: Mapping[str, float], step: int) -> bool:
    """Record intermediate metrics of a trial and say whether to prune it.

    Args:
        trial: The ``optuna.Trial`` the objective got from ``tracker.optimize``.
        values: Metric name to value at this step (objectives, constrained metrics,
            anything else worth a curve).
        step: The step (epoch, iteration), an integer >= 0.

    Returns:
        Whether to prune: the objective should then ``raise optuna.TrialPruned()``,
        exactly as after ``trial.should_prune()``.

    Raises:
        ValidationError: not a trial of a running ``tracker.optimize``, or bad values.
    """
    if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 0:
        raise ValidationError(f"tracker.report: step must be an integer >= 0, got {step!r}")
    step = int(step)
    metrics = validate_metrics(values)
    number = getattr(trial, "number", None)
    study = getattr(trial, "study", None)
    ctx = None
    if isinstance(number, int) and study is not None:
        with _lock:
            ctx = _running.get((study.study_name, number))
    if ctx is None:
        raise ValidationError(
            "tracker.report(trial, values, step) takes the trial of a running "
            "tracker.optimize(...) objective; call it inside the objective"
        )
    return ctx.search.report_step(ctx, metrics, step)


def constraint_verdict(
    search: Search, metrics: Mapping[str, float], step: int, rule: ParetoPruner
) -> str | None:
    """Rule 1: the reason to prune for a constraint already broken by more than the margin."""
    if step < rule.constraint_warmup_steps:
        return None
    for c in search.spec.constraints:
        if c.metric in metrics:
            v = c.violation(float(metrics[c.metric]))
            if v > rule.margin:
                return (
                    f"{c.expr} broken by {100 * v:.0f} % of its bound at step {step} "
                    f"(margin {100 * rule.margin:.0f} %)"
                )
    return None


def dominance_verdict(
    losses: np.ndarray, others: list[np.ndarray], step: int, rule: ParetoPruner
) -> str | None:
    """Rules 2 and 3: the reason to prune ``losses`` given the ``others`` at ``step``.

    ``losses`` are the trial's objective values at ``step`` as losses (lower is better);
    ``others`` those of the completed feasible trials that reported ``step``.
    """
    if step < rule.warmup_steps or len(others) < rule.min_dominating:
        return None
    pts = np.asarray(others, dtype=float)
    n = int(dominates(pts, losses).sum())
    if n >= rule.min_dominating:
        return (
            f"dominated at step {step} by {n} completed feasible trial(s) "
            f"(k = {rule.min_dominating})"
        )
    # A trial ahead of every completed one in some objective is kept: it extends the front
    # at an end, where a small share of the hypervolume can be a large step (the most
    # accurate model, the smallest one).
    if rule.min_gain > 0 and not (losses < pts.min(axis=0)).any():
        gain = hypervolume_gain(losses, pts)
        if gain < rule.min_gain:
            return (
                f"would add {100 * gain:.2g} % to the hypervolume of {len(others)} completed "
                f"feasible trial(s) at step {step} (min_gain {100 * rule.min_gain:g} %)"
            )
    return None


def hypervolume_gain(losses: np.ndarray, others: np.ndarray) -> float:
    """The share by which ``losses`` raises the hypervolume of ``others`` (0 when dominated).

    Both are losses. The reference point is that of all the points, the trial's included
    (:func:`~tracker.tuning._front.reference_point`), so the share does not depend on the
    objectives' units and a point beyond the others in some objective adds a share.
    """
    both = np.vstack([others, losses[None, :]])
    if not np.isfinite(both).all():
        return 1.0  # an infinite or NaN value: no meaningful share, never prune on it
    ref = reference_point(both)
    base = hypervolume(others, ref)
    if base <= 0:
        return 1.0
    return max(0.0, hypervolume(both, ref) - base) / base


def optuna_verdict(trial: Trial, value: float, step: int) -> str | None:
    """Rule 4: the study's Optuna pruner, through ``trial.report``/``should_prune``."""
    trial.report(value, step)
    if trial.should_prune():
        return f"pruned by {type(trial.study.pruner).__name__} at step {step}"
    return None


def default_rule(pruner: object) -> ParetoPruner:
    """The rules' settings: the given ParetoPruner, else the defaults."""
    return pruner if isinstance(pruner, ParetoPruner) else ParetoPruner()


def uses_optuna_pruner(study: Study, n_objectives: int) -> bool:
    """Whether Optuna's pruner decides (one objective, and not the tracker's ParetoPruner)."""
    return n_objectives == 1 and not isinstance(
        study.pruner, ParetoPruner | optuna.pruners.NopPruner
    )
