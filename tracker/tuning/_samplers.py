"""Building Optuna samplers by name, describing spaces, and the delegating ``"auto"`` sampler.

The space of a search is usually defined inside the objective (``trial.suggest_*``), so
it is only known once a trial has run. :class:`AutoSampler` therefore samples the first
trial at random (every model-based sampler starts with random trials anyway), then picks
the real sampler with :func:`tracker.tuning._policy.choose_sampler` from the observed
space and hands every later suggestion to it. If a later trial reveals a conditional
space, it switches to grouped TPE; if the GP's suggestions cost too much next to the
trials (rule 7 of :mod:`tracker.tuning._policy`), to TPE. Each switch is reported with the
choice it ended (``history``).

When the GP is the first choice it continues the first trial's random stream and gets the
search's seed itself, so until a switch a seeded "auto" suggests exactly what
``GPSampler(seed=seed)`` would: "auto" is then not better or worse than the GP by seed
luck, and ``benchmarks/bench_search_quality.py`` compares algorithms, not seeds.
"""

from __future__ import annotations

import threading
import time
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
from tracker.tuning._policy import SamplerChoice, choose_sampler, cost_switch
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
    trial_seconds: float | None = None,
) -> BaseSampler:
    """The sampler for ``sampler=``: ``"auto"``, a name from :data:`SAMPLER_NAMES`, or an instance.

    ``on_choice`` is called with what was chosen and why (at once for explicit samplers,
    after the first trial for ``"auto"``). The sampler comes wrapped in
    :class:`~tracker.tuning._view.OneConstraintEach` (``.inner`` is the sampler itself), so
    it models each constraint once. ``trial_seconds`` is what the caller says a trial
    costs (only ``"auto"`` uses it: rule 7 of :mod:`tracker.tuning._policy`).

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
            trial_seconds=trial_seconds,
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
        trial_seconds: float | None = None,
    ) -> None:
        self._seed = seed
        self._trial_seconds = trial_seconds
        self._n_objectives = n_objectives
        self._budget = budget
        self._parallel = parallel
        self._on_choice = on_choice
        self._random = RandomSampler(seed=seed)
        self._lock = threading.RLock()
        self._delegate: BaseSampler | None = None
        self._delegates = 0  # how many delegates were built (each gets its own seed)
        self.choice: SamplerChoice | None = None
        self._params: frozenset[str] | None = None
        self._conditional = False
        # Rule 7's measurements: seconds in GP suggestions per trial number, when each
        # trial started, the GP's seconds per modelled trial, and every completed trial's
        # seconds apart from its GP suggestion.
        self._suggest: dict[int, float] = {}
        self._modelled: set[int] = set()
        self._started: dict[int, float] = {}
        self._gp_suggest: list[float] = []
        self._trial_s: list[float] = []
        if space:
            self._decide({k: describe_distribution(v) for k, v in space.items()}, False)

    # --- the choice -------------------------------------------------------------------------

    def _decide(
        self,
        space: Mapping[str, Mapping[str, Any]],
        conditional: bool,
        at_trial: int | None = None,
    ) -> None:
        choice = choose_sampler(
            space,
            n_objectives=self._n_objectives,
            budget=self._budget,
            parallel=self._parallel,
            conditional=conditional,
        )
        self._use(choice, at_trial)

    def _use(self, choice: SamplerChoice, at_trial: int | None) -> None:
        self._delegates += 1
        if self._delegates == 1 and choice.name == "GPSampler":
            # The first choice, the GP: the search's own seed, and its random start-up
            # continues the stream that drew trial 0 (GPSampler's default independent
            # sampler is RandomSampler(seed), which is what drew it), so the trials are
            # exactly GPSampler(seed=seed)'s and none repeats trial 0.
            self._delegate = build_sampler(
                choice.name, {**choice.options, "independent_sampler": self._random}, self._seed
            )
        else:
            # Not the first trial's seed, nor an earlier delegate's: the new delegate's
            # own random start-up draws would repeat those trials' parameters exactly
            # (seen: trials 0 and 1 identical; the first TPE trial after a switch
            # repeating the GP's first).
            seed = (
                None
                if self._seed is None
                else (self._seed * 1_000_003 + 7_919 * self._delegates) % 2**32
            )
            self._delegate = build_sampler(choice.name, choice.options, seed)
        if self.choice is not None and at_trial is not None:
            choice = self.choice.replaced_by(choice, at_trial)
        self.choice = choice
        self._on_choice(choice)

    def _timed(self, trial: FrozenTrial, fn: Callable[[], Any]) -> Any:
        """``fn()``, its seconds added to the trial's suggestion time when the GP answers."""
        if not isinstance(self._delegate, optuna.samplers.GPSampler):
            return fn()
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            spent = time.perf_counter() - t0
            with self._lock:
                self._suggest[trial.number] = self._suggest.get(trial.number, 0.0) + spent

    def _check_cost(self, trial: FrozenTrial) -> None:
        """Rule 7 after a completed trial: switch to TPE when the GP costs too much."""
        with self._lock:
            started = self._started.pop(trial.number, None)
            spent = self._suggest.pop(trial.number, 0.0)
            modelled = trial.number in self._modelled
            self._modelled.discard(trial.number)
            if started is None:
                return  # began before this sampler was in place (a resumed study)
            self._trial_s.append(max(time.monotonic() - started - spent, 0.0))
            if not modelled:
                return  # not suggested by the GP's model (random start, another sampler)
            self._gp_suggest.append(spent)
            if not isinstance(self._delegate, optuna.samplers.GPSampler):
                return
            switch = cost_switch(self._gp_suggest, self._trial_s, self._trial_seconds)
            if switch is not None:
                self._use(switch, trial.number + 1)

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
        delegate = self._delegate
        if delegate is None:
            return {}
        space: dict[str, BaseDistribution] = self._timed(
            trial, lambda: delegate.infer_relative_search_space(study, trial)
        )
        return space

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """Delegate (or nothing before the choice)."""
        delegate = self._delegate
        if delegate is None or not search_space:
            return {}
        params: dict[str, Any] = self._timed(
            trial, lambda: delegate.sample_relative(study, trial, search_space)
        )
        if params and isinstance(delegate, optuna.samplers.GPSampler):
            # The GP modelled this trial (during its random start-up it returns nothing,
            # costs nothing, and says nothing about what its suggestions will cost).
            with self._lock:
                self._modelled.add(trial.number)
        return params

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
        """Delegate; note when the trial started (rule 7 times its objective)."""
        with self._lock:
            self._started[trial.number] = time.monotonic()
        if self._delegate is not None:
            self._delegate.before_trial(study, trial)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        """Delegate; switch when a trial shows the space is conditional or the GP too dear."""
        if self._delegate is not None:
            self._delegate.after_trial(study, trial, state, values)
        if state is not TrialState.COMPLETE:
            with self._lock:
                self._started.pop(trial.number, None)
                self._suggest.pop(trial.number, None)
                self._modelled.discard(trial.number)
            return
        self._check_cost(trial)
        if self._conditional:
            return
        params = frozenset(trial.distributions)
        if self._params is None:
            self._params = params  # the first completed trial's parameters
        elif params != self._params and self._delegate is not None:
            with self._lock:
                self._conditional = True
                space = {k: describe_distribution(d) for k, d in trial.distributions.items()}
                self._decide(space, True, trial.number + 1)

    def reseed_rng(self) -> None:
        """Reseed both the random sampler and the delegate."""
        self._random.reseed_rng()
        if self._delegate is not None:
            self._delegate.reseed_rng()
