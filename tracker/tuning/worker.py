"""``tracker worker``: join a study from another process or machine.

A worker loads the study by name from a PostgreSQL store, reads the search's settings
(objectives, constraints, search run, trial target) from the study itself, and runs
trials of ``module:function`` until the study reaches its target, ``--n-trials`` of its
own, or ``--timeout``. Every trial is a child run of the same search run, exactly as if
the notebook had run it.

At its end the worker applies the search's ``keep_models`` to the whole study (the models
of trials off the Pareto front become collectable by ``tracker gc``) when the search
recorded one: see :mod:`tracker.tuning._keep`.

SQLite is refused: several processes writing one SQLite file (often on a network
share when machines are involved) lose writes to lock timeouts or corrupt the file.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.trial import Trial, TrialState

from tracker.config import StoreURL
from tracker.exceptions import ConfigError, ValidationError
from tracker.records import DataRef
from tracker.store import get_store, set_store
from tracker.tuning._keep import release_for_study
from tracker.tuning._policy import SamplerChoice
from tracker.tuning._progress import ProgressReporter, TextProgress
from tracker.tuning._records import SPEC_KEY, SearchSpec
from tracker.tuning._samplers import make_sampler
from tracker.tuning._search import Search
from tracker.tuning._storage import open_storage, quiet_optuna

__all__ = ["Participant", "WorkerReport", "join_search", "load_objective", "run_worker"]


@dataclass(frozen=True, slots=True)
class WorkerReport:
    """What one worker did.

    Attributes:
        study_name: The study it joined.
        n_trials: Trials it ran.
        n_study_trials: Finished trials in the study when it stopped.
        target: The study's trial target (``None``: none).
        sampler: Its sampler choice.
    """

    study_name: str
    n_trials: int
    n_study_trials: int
    target: int | None
    sampler: SamplerChoice | None


def load_objective(ref: str) -> Callable[[Trial], Mapping[str, float]]:
    """Import ``"package.module:function"`` (the current directory is importable).

    Raises:
        ValidationError: malformed reference, module not found, or not callable.
    """
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise ValidationError(
            f"--objective must be 'module:function' (e.g. 'my_search:objective'), got {ref!r}"
        )
    mod_name, attr = ref.split(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ValidationError(
            f"cannot import {mod_name!r} for --objective ({exc}); run the worker from the "
            "directory holding it, or install it"
        ) from None
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ValidationError(f"{mod_name!r} has no attribute {attr!r} for --objective")
    if not callable(obj):
        raise ValidationError(f"--objective {ref!r} is not callable")
    return obj  # type: ignore[no-any-return]


def run_worker(
    study_name: str,
    store: str | StoreURL,
    objective: Callable[[Trial], Mapping[str, float]] | str,
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    progress: ProgressReporter | None = None,
    allow_sqlite: bool = False,
) -> WorkerReport:
    """Run trials of an existing study until its target (see the module docstring).

    Args:
        study_name: The study created by ``tracker.optimize`` or ``create_search``.
        store: The PostgreSQL URL shared by every worker (tracker records and the study).
        objective: The objective, or ``"module:function"``.
        n_trials: Trials this worker runs at most.
        timeout: Seconds after which this worker starts no new trial.
        progress: Reporter (default: a line on stderr every few seconds).
        allow_sqlite: Accept a SQLite store (only for one worker on one machine).

    Raises:
        ConfigError: a SQLite store, or a study not made by the tracker.
        ValidationError: a bad objective reference or argument.
    """
    url = store if isinstance(store, StoreURL) else StoreURL.parse(store)
    if url.kind == "sqlite" and not allow_sqlite:
        raise ConfigError(
            "workers need a database several processes can write at once; SQLite is not one "
            "(trials would fail on lock timeouts, or the file would be damaged on a network "
            "share). Put the search on PostgreSQL: tracker.set_store('postgresql://user@host/db')"
            " before tracker.optimize(...), then run tracker worker --store postgresql://..."
        )
    if n_trials is not None and (isinstance(n_trials, bool) or n_trials < 1):
        raise ValidationError(f"--n-trials must be a positive integer, got {n_trials!r}")
    fn = load_objective(objective) if isinstance(objective, str) else objective
    set_store(url)
    joined = join_search(
        study_name, url, fn, reporters=[progress or TextProgress(interval=5.0)], timeout=timeout
    )
    study, spec, search, chosen = joined.study, joined.spec, joined.search, joined.choices
    search.refresh()
    counted = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED, TrialState.RUNNING)
    started = len(study.get_trials(deepcopy=False, states=counted))
    if spec.target_total is None or started < spec.target_total:
        with search.batched_writes(), quiet_optuna():
            study.optimize(
                search.run_trial,
                n_trials=n_trials,
                timeout=timeout,
                catch=(Exception,),
                callbacks=[search.after_trial],
                gc_after_trial=False,
            )
    records = search.finish()
    get_store().flush(60.0)
    # A search that ended before this worker left its trials' models to it (tuning/_keep.py).
    release_for_study(study, spec, records, get_store())
    return WorkerReport(
        study_name=study_name,
        n_trials=search.ran,
        n_study_trials=len(records),
        target=spec.target_total,
        sampler=chosen[-1] if chosen else None,
    )


@dataclass(frozen=True, slots=True)
class Participant:
    """One process's part in a study (see :func:`join_search`).

    Attributes:
        study: The study, with this process's sampler.
        spec: The settings its creator stored on it.
        search: Runs this process's trials as tracked runs (``search.run_trial``).
        choices: What the sampler chose, and why (filled once it has chosen).
    """

    study: optuna.Study
    spec: SearchSpec
    search: Search
    choices: list[SamplerChoice]


def join_search(
    study_name: str,
    url: StoreURL,
    objective: Callable[[Trial], Any],
    *,
    sampler: str | BaseSampler | None = None,
    space: Mapping[str, BaseDistribution] | None = None,
    data: Mapping[str, DataRef] | None = None,
    reporters: Sequence[ProgressReporter] = (),
    timeout: float | None = None,
    storage: BaseStorage | None = None,
) -> Participant:
    """Join a study created by ``tracker.optimize``/``create_search`` from this process.

    The per-trial path every participant shares: ``tracker worker`` and the trials that
    ``tracker.optimize(..., executor=...)`` sends to other processes both run
    ``participant.study.optimize(participant.search.run_trial, ...)``. The process's
    current store (``set_store``) must already be ``url``.

    Args:
        study_name: The study.
        url: The store holding it (the tracker's records and the study).
        objective: The user's objective.
        sampler: A sampler name or instance (default: the one the study was created
            with, by name); seeded differently in every process.
        space: Parameters suggested before the objective runs.
        data: Data references recorded on every trial run.
        reporters: Progress reporters of this process.
        timeout: This participant's time limit (for progress display).
        storage: The study's Optuna storage when it is not the store's database (e.g.
            Optuna's ``GrpcStorageProxy``); default: the store's.

    Raises:
        ConfigError: no such study, or a study not made by the tracker.
    """
    study, spec = _join(study_name, url, storage)
    chosen: list[SamplerChoice] = []
    if sampler is None:
        sampler = spec.sampler if spec.sampler != "RandomSampler" else "random"
    study.sampler = make_sampler(
        sampler,
        seed=None,  # every worker must explore differently
        n_objectives=len(spec.objectives),
        budget=spec.target_total,
        parallel=True,
        space=space,
        on_choice=chosen.append,
    )
    search = Search(
        study,
        spec,
        objective,
        get_store(),
        space=space,
        data=data,
        reporters=reporters,
        timeout=timeout,
        shared=True,
    )
    return Participant(study, spec, search, chosen)


def _join(
    study_name: str, url: StoreURL, storage: BaseStorage | None = None
) -> tuple[optuna.Study, SearchSpec]:
    """The study and the settings its creator stored on it (or a ConfigError with the fix)."""
    storage = storage if storage is not None else open_storage(url)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise ConfigError(
            f"no study {study_name!r} in {url.redacted()}; existing studies: "
            f"{', '.join(names) or 'none'}. Start it with tracker.optimize(..., "
            f"study_name={study_name!r}) on this store first"
        ) from None
    raw = study.user_attrs.get(SPEC_KEY)
    if not raw:
        raise ConfigError(
            f"study {study_name!r} was not created by tracker.optimize, so its objectives and "
            "constraints are unknown; create it with tracker.optimize or "
            "tracker.tuning.create_search"
        )
    return study, SearchSpec.from_attr(raw)
