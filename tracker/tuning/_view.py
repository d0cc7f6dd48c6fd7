"""Samplers see each constraint once.

Every tracked trial carries each constraint twice: Optuna 5's ``constraints:<expr>``
system attributes (``Trial.set_constraint``) and the older ``constraints`` list, which is
all optuna-dashboard 0.21 reads. ``FrozenTrial.constraints`` merges both, so a sampler
would model every constraint twice: the GP sampler fits one Gaussian process per
constraint (twice the cost per suggestion) and multiplies their probabilities of
feasibility (a feasibility model as if the constraint were twice as hard). Measured with
``benchmarks/bench_search_quality.py``: with the duplicates "auto" (GP) ran 1.5-2x slower
than GPSampler on plain Optuna and reached a lower hypervolume on 3 of 5 problems.

:class:`OneConstraintEach` wraps any sampler and hands it a view of the study whose
finished trials lack the older list where the named attributes exist. The stored trials
are untouched, so the dashboard still sees its list.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Container, Sequence
from typing import Any, cast

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from tracker.tuning import _optuna_compat as compat

__all__ = ["OneConstraintEach", "one_constraint_each"]

_LEGACY = "constraints"
_NAMED = "constraints:"


def one_constraint_each(trial: FrozenTrial) -> FrozenTrial:
    """``trial`` without the older constraint list when it also has the named constraints."""
    attrs = trial.system_attrs
    if _LEGACY not in attrs or not any(k.startswith(_NAMED) for k in attrs):
        return trial
    view = copy.copy(trial)
    view.system_attrs = {k: v for k, v in attrs.items() if k != _LEGACY}
    return view


class _StudyView:
    """A study whose trial lists go through :func:`one_constraint_each` (all else: the study)."""

    def __init__(
        self, study: Study, cache: dict[str, dict[int, FrozenTrial]], lock: threading.Lock
    ) -> None:
        self._study = study
        self._cache = cache
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _view(self, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
        out = []
        with self._lock:
            # Finished trials never change: one copy each, not one per suggestion (keyed by
            # study and trial number, both public and unique together).
            cache = self._cache.setdefault(self._study.study_name, {})
            for t in trials:
                if not t.state.is_finished():
                    out.append(one_constraint_each(t))
                    continue
                cached = cache.get(t.number)
                if cached is None:
                    cached = cache[t.number] = one_constraint_each(t)
                out.append(cached)
        return out

    def _get_trials(
        self,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
        use_cache: bool = False,
    ) -> list[FrozenTrial]:
        # Optuna's samplers read trials through this private method of Study; the adapter
        # answers it (or, off its verified Optuna releases, the public get_trials does).
        return self._view(compat.sampler_trials(self._study, deepcopy, states, use_cache))

    def get_trials(self, *args: Any, **kwargs: Any) -> list[FrozenTrial]:
        return self._view(self._study.get_trials(*args, **kwargs))

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()


class OneConstraintEach(BaseSampler):
    """Wraps ``inner`` so it sees each constraint of a trial once (see the module docstring).

    Args:
        inner: Any Optuna sampler.
    """

    def __init__(self, inner: BaseSampler) -> None:
        self.inner = inner
        self._cache: dict[str, dict[int, FrozenTrial]] = {}
        self._lock = threading.Lock()

    def __str__(self) -> str:
        return str(self.inner)

    def _study(self, study: Study) -> Study:
        return cast(Study, _StudyView(study, self._cache, self._lock))

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """Delegate with the study view."""
        return self.inner.infer_relative_search_space(self._study(study), trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """Delegate with the study view."""
        return self.inner.sample_relative(self._study(study), trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        """Delegate with the study view."""
        return self.inner.sample_independent(
            self._study(study), trial, param_name, param_distribution
        )

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        """Delegate with the study view."""
        self.inner.before_trial(self._study(study), trial)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        """Delegate with the study view."""
        self.inner.after_trial(self._study(study), trial, state, values)

    def reseed_rng(self) -> None:
        """Delegate."""
        self.inner.reseed_rng()
