"""Building Optuna samplers by name, describing spaces, and the delegating ``"auto"`` sampler.

The space of a search is usually defined inside the objective (``trial.suggest_*``), so
it is only known once a trial has run. :class:`AutoSampler` therefore samples the first
trial at random (every model-based sampler starts with random trials anyway), then picks
the real sampler with :func:`tracker.tuning._policy.choose_sampler` from the observed
space and hands every later suggestion to it. If a later trial reveals a conditional
space, it switches to grouped TPE and reports the switch.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from tracker.exceptions import ValidationError
from tracker.tuning._policy import SamplerChoice, choose_sampler
from tracker.tuning._view import OneConstraintEach

__all__ = ["SAMPLER_NAMES", "AutoSampler", "build_sampler", "describe_distribution", "make_sampler"]

#: Names accepted by ``sampler=`` besides ``"auto"`` and sampler instances.
SAMPLER_NAMES = {
    "tpe": "TPESampler",
    "gp": "GPSampler",
    "nsga2": "NSGAIISampler",
    "nsgaii": "NSGAIISampler",
    "random": "RandomSampler",
    "qmc": "QMCSampler",
}


def describe_distribution(d: BaseDistribution) -> dict[str, Any]:
    """Record form of one parameter's distribution (docs/records.md, ``space``)."""
    if isinstance(d, FloatDistribution):
        return {"type": "float", "low": d.low, "high": d.high, "log": d.log, "step": d.step}
    if isinstance(d, IntDistribution):
        return {"type": "int", "low": d.low, "high": d.high, "log": d.log, "step": d.step}
    if isinstance(d, CategoricalDistribution):
        choices = [
            c if isinstance(c, str | int | float | bool) or c is None else repr(c)
            for c in d.choices
        ]
        return {"type": "categorical", "choices": choices}
    return {"type": type(d).__name__}


def build_sampler(name: str, options: Mapping[str, Any], seed: int | None) -> BaseSampler:
    """Instantiate an Optuna sampler by class name with ``options`` and ``seed``."""
    with warnings.catch_warnings():
        # group=True and a few options are flagged experimental by Optuna; the policy
        # chooses them on purpose, and a warning per search would only be noise.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "TPESampler":
            return optuna.samplers.TPESampler(seed=seed, **options)
        if name == "GPSampler":
            return optuna.samplers.GPSampler(seed=seed, **options)
        if name == "NSGAIISampler":
            return optuna.samplers.NSGAIISampler(seed=seed, **options)
        if name == "RandomSampler":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "QMCSampler":
            return optuna.samplers.QMCSampler(seed=seed, **options)
    raise ValidationError(f"unknown sampler {name!r}")


def make_sampler(
    sampler: str | BaseSampler,
    *,
    seed: int | None,
    n_objectives: int,
    budget: int | None,
    parallel: bool,
    space: Mapping[str, BaseDistribution] | None,
    on_choice: Callable[[SamplerChoice], None],
) -> BaseSampler:
    """The sampler for ``sampler=``: ``"auto"``, a name from :data:`SAMPLER_NAMES`, or an instance.

    ``on_choice`` is called with what was chosen and why (at once for explicit samplers,
    after the first trial for ``"auto"``). The sampler comes wrapped in
    :class:`~tracker.tuning._view.OneConstraintEach` (``.inner`` is the sampler itself), so
    it models each constraint once.

    Raises:
        ValidationError: an unknown name or type.
    """
    if isinstance(sampler, BaseSampler):
        inner = sampler.inner if isinstance(sampler, OneConstraintEach) else sampler
        on_choice(SamplerChoice(type(inner).__name__, "given by the caller", {}))
        return OneConstraintEach(inner)
    if not isinstance(sampler, str):
        raise ValidationError(
            f"sampler must be 'auto', one of {sorted(SAMPLER_NAMES)} or an optuna sampler, "
            f"not {type(sampler).__name__}"
        )
    key = sampler.strip().lower()
    if key == "auto":
        auto = AutoSampler(
            seed=seed,
            n_objectives=n_objectives,
            budget=budget,
            parallel=parallel,
            space=space,
            on_choice=on_choice,
        )
        return OneConstraintEach(auto)
    if key not in SAMPLER_NAMES:
        raise ValidationError(
            f"unknown sampler {sampler!r}; use 'auto', one of {', '.join(sorted(SAMPLER_NAMES))}, "
            "or pass an optuna.samplers instance"
        )
    name = SAMPLER_NAMES[key]
    options: dict[str, Any] = {}
    if name == "TPESampler":
        options = {"multivariate": True, "constant_liar": True}
    on_choice(SamplerChoice(name, f"asked for by name ({sampler!r})", options))
    return OneConstraintEach(build_sampler(name, options, seed))


class AutoSampler(BaseSampler):
    """Random for the first trial, then the sampler the policy picks (see the module docstring).

    Thread-safe: parallel trials may ask for suggestions while the choice is being made.
    """

    def __init__(
        self,
        *,
        seed: int | None,
        n_objectives: int,
        budget: int | None,
        parallel: bool,
        space: Mapping[str, BaseDistribution] | None,
        on_choice: Callable[[SamplerChoice], None],
    ) -> None:
        self._seed = seed
        self._n_objectives = n_objectives
        self._budget = budget
        self._parallel = parallel
        self._on_choice = on_choice
        self._random = RandomSampler(seed=seed)
        self._lock = threading.RLock()
        self._delegate: BaseSampler | None = None
        self.choice: SamplerChoice | None = None
        self._params: frozenset[str] | None = None
        self._conditional = False
        if space:
            self._decide({k: describe_distribution(v) for k, v in space.items()}, False)

    # --- the choice -------------------------------------------------------------------------

    def _decide(self, space: Mapping[str, Mapping[str, Any]], conditional: bool) -> None:
        choice = choose_sampler(
            space,
            n_objectives=self._n_objectives,
            budget=self._budget,
            parallel=self._parallel,
            conditional=conditional,
        )
        # Not the first trial's seed: the delegate's own random start-up draws would
        # repeat the first trial's parameters exactly (seen: trials 0 and 1 identical).
        seed = None if self._seed is None else (self._seed * 1_000_003 + 7_919) % 2**32
        self._delegate = build_sampler(choice.name, choice.options, seed)
        self.choice = choice
        self._on_choice(choice)

    def _maybe_decide(self, study: Study) -> None:
        if self._delegate is not None:
            return
        with self._lock:
            if self.choice is not None:  # another thread chose meanwhile
                return
            done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if not done:
                return
            space: dict[str, dict[str, Any]] = {}
            sets = set()
            for t in done:
                sets.add(frozenset(t.distributions))
                if self._params is None:
                    self._params = frozenset(t.distributions)
                for k, d in t.distributions.items():
                    space.setdefault(k, describe_distribution(d))
            self._conditional = len(sets) > 1
            self._decide(space, self._conditional)

    @property
    def delegate(self) -> BaseSampler | None:
        """The sampler chosen so far (``None`` before the first trial completes)."""
        return self._delegate

    # --- BaseSampler ------------------------------------------------------------------------

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """Delegate once chosen; before that, no relative space (random independent sampling)."""
        self._maybe_decide(study)
        if self._delegate is None:
            return {}
        return self._delegate.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """Delegate (or nothing before the choice)."""
        if self._delegate is None or not search_space:
            return {}
        return self._delegate.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        """Delegate, or sample at random before the choice."""
        if self._delegate is None:
            return self._random.sample_independent(study, trial, param_name, param_distribution)
        return self._delegate.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        """Delegate."""
        if self._delegate is not None:
            self._delegate.before_trial(study, trial)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        """Delegate; switch to grouped TPE when a trial shows the space is conditional."""
        if self._delegate is not None:
            self._delegate.after_trial(study, trial, state, values)
        if state is not TrialState.COMPLETE or self._conditional:
            return
        params = frozenset(trial.distributions)
        if self._params is None:
            self._params = params  # the first completed trial's parameters
        elif params != self._params and self._delegate is not None:
            with self._lock:
                self._conditional = True
                space = {k: describe_distribution(d) for k, d in trial.distributions.items()}
                self._decide(space, True)

    def reseed_rng(self) -> None:
        """Reseed both the random sampler and the delegate."""
        self._random.reseed_rng()
        if self._delegate is not None:
            self._delegate.reseed_rng()
