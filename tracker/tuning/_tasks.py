"""What runs on the workers of ``optimize(..., executor=...)``: one trial per task.

A :class:`Job` is what every task of one search carries to its worker; :func:`run_task`
runs one trial there through the per-trial path every participant shares
(:func:`~tracker.tuning.worker.join_search`, ``study.optimize(search.run_trial,
n_trials=1)``) and returns the finished trial to the driver
(:mod:`~tracker.tuning._executor`); :func:`probe` checks, before the search, that a worker
can load the objective and reach the store.

Nothing here imports Dask or cloudpickle: what cloudpickle writes, the standard
``pickle`` reads.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import platform
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, Trial

from tracker.config import StoreURL
from tracker.environment import capture_environment
from tracker.records import DataRef
from tracker.store import get_store, set_store
from tracker.store.query import RunQuery
from tracker.tuning._optuna_compat import count_trials
from tracker.tuning._storage import open_storage, quiet_optuna
from tracker.tuning.worker import Participant, join_search

__all__ = [
    "FLUSH_TIMEOUT_S",
    "Job",
    "ObjectiveFn",
    "ProbeReport",
    "TaskOutcome",
    "probe",
    "process_token",
    "run_task",
]

#: Seconds a task waits for its trial's records to reach the database before returning.
FLUSH_TIMEOUT_S = 60.0

ObjectiveFn = Callable[[Trial], Any]


@dataclass(frozen=True)
class Job:
    """What every task of one search carries (picklable when ``local`` is ``None``).

    Attributes:
        url: The store (tracker records and the study); with its password, which the
            workers need.
        driver: The driver process's token (tasks in its own threads keep its store).
        blob: ``cloudpickle`` of ``(objective, sampler)``, for other processes.
        local: The same, unpickled, for threads of the driver's process.
        study_name: The study.
        search_run_id: The search run (trial runs are its children).
        target: The study's trial target (``None``: time only).
        deadline: Wall-clock time after which no trial starts.
        space: Parameters suggested before the objective runs.
        data: Data references recorded on every trial run.
        storage: The study's Optuna storage when it is not the store's database (e.g.
            Optuna's ``GrpcStorageProxy``; pickled with the job); ``None``: the store's.
        gc_after_trial: ``gc.collect()`` after each trial (``optimize``'s argument).
        pruner: The study's pruner (a loaded study gets Optuna's default, not the driver's).
    """

    url: StoreURL
    driver: str
    blob: bytes | None
    local: tuple[ObjectiveFn, str | BaseSampler] | None = None
    study_name: str = ""
    search_run_id: str = ""
    target: int | None = None
    deadline: float | None = None
    space: Mapping[str, BaseDistribution] | None = None
    data: Mapping[str, DataRef] | None = None
    storage: BaseStorage | None = None
    gc_after_trial: bool = False
    pruner: BasePruner | None = None

    def load(self) -> tuple[ObjectiveFn, str | BaseSampler]:
        """The objective and the sampler."""
        if self.local is not None:
            return self.local
        assert self.blob is not None
        fn, sampler = pickle.loads(self.blob)  # cloudpickle's output, by the standard reader
        if isinstance(sampler, BaseSampler):
            sampler.reseed_rng()  # a copy per process: the same seed would repeat its draws
        return fn, sampler


@dataclass(frozen=True)
class TaskOutcome:
    """What one task reports back to the driver.

    Attributes:
        slot: The task's number in this search.
        where: ``host:pid`` of the process that ran it.
        trial: The finished trial (``None``: no trial started).
        skipped: Why no trial started (``"target"``, ``"timeout"``, ``"stopped"``).
        fatal: The error that stops the search (a bad objective return), if any.
        choice: The worker's sampler choice (``SamplerChoice.to_dict()``), once made.
        flushed: The trial's records reached the database before the task returned.
    """

    slot: int
    where: str
    trial: FrozenTrial | None = None
    skipped: str | None = None
    fatal: str | None = None
    choice: dict[str, Any] | None = None
    flushed: bool = True


@dataclass(frozen=True)
class ProbeReport:
    """What :func:`probe` found on one worker (errors as text, ``None``: fine)."""

    where: str
    host: str
    python: str
    objective_error: str | None
    store_error: str | None


# --- the worker side ---------------------------------------------------------------------------
# Per process: the search's participant (study, sampler, Search) is built on the first
# task and reused by the next ones. The process token changes in a forked child, so a
# ProcessPoolExecutor's child never reuses what it inherited from the driver.

_token = uuid.uuid4().hex
_lock = threading.Lock()
_participants: OrderedDict[tuple[str, str], Participant] = OrderedDict()
_store_for: tuple[str, StoreURL] | None = None
_KEEP = 4  # participants kept per process (one per recent search)


def _after_fork_in_child() -> None:
    global _token, _lock, _store_for
    _token = uuid.uuid4().hex
    _lock = threading.Lock()  # the parent's may have been held by another thread
    _participants.clear()
    _store_for = None


if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


def process_token() -> str:
    """This process's token (a new one in a forked child)."""
    return _token


def _where() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _use_store(job: Job) -> None:
    """Make the search's store this process's store (call with ``_lock`` held)."""
    global _store_for
    if job.driver == _token:
        return  # a thread of the driver: its store is the search's
    if _store_for != (_token, job.url):
        set_store(job.url)
        _store_for = (_token, job.url)


def _participant(job: Job) -> Participant:
    key = (_token, job.search_run_id)
    with _lock:
        found = _participants.get(key)
        if found is not None:
            return found
        _use_store(job)
        fn, sampler = job.load()
        joined = join_search(
            job.study_name,
            job.url,
            fn,
            sampler=sampler,
            space=job.space,
            data=job.data,
            storage=job.storage,
        )
        if job.pruner is not None:
            joined.study.pruner = job.pruner  # trial.should_prune / tracker.report use it
        _participants[key] = joined
        while len(_participants) > _KEEP:
            _participants.popitem(last=False)
        return joined


def probe(job: Job) -> ProbeReport:
    """On a worker: whether it can load the objective and reach the store (never raises)."""
    objective_error = store_error = None
    try:
        job.load()
    except Exception as exc:
        objective_error = f"{type(exc).__name__}: {exc}"
    try:
        with _lock:
            _use_store(job)
        # A read (by a primary key no run has) opens the tracker's store: its schema too.
        get_store().count_runs(RunQuery(ids=("probe",)))
        if job.storage is None:
            open_storage(job.url)  # connects, and checks Optuna's tables
        else:
            job.storage.get_all_studies()  # through the study's own storage (a proxy)
    except Exception as exc:
        store_error = job.url.scrub(f"{type(exc).__name__}: {exc}")
    # The environment every trial run records is read once per process (the package
    # scan costs about a second under load): here, rather than in the first trial.
    with contextlib.suppress(Exception):
        capture_environment()
    return ProbeReport(
        _where(), socket.gethostname(), platform.python_version(), objective_error, store_error
    )


def run_task(job: Job, slot: int) -> TaskOutcome:
    """On a worker: run one trial of the search, unless the study has reached its target."""
    joined = _participant(job)
    study, search = joined.study, joined.search
    outcome = functools.partial(TaskOutcome, slot, _where())
    if search.fatal is not None:
        return outcome(skipped="stopped", fatal=str(search.fatal))
    if job.deadline is not None and time.time() >= job.deadline:
        return outcome(skipped="timeout")
    # Counted over every state, so a task run twice starts nothing beyond the target.
    if job.target is not None and count_trials(study) >= job.target:
        return outcome(skipped="target")
    finished: list[FrozenTrial] = []
    with quiet_optuna():
        study.optimize(
            search.run_trial,
            n_trials=1,
            catch=(Exception,),
            callbacks=[lambda _study, ft: finished.append(ft)],
            gc_after_trial=job.gc_after_trial,
            show_progress_bar=False,
        )
    # The trial's run is in the database before the driver hears of it (the driver then
    # writes to that run), and nothing waits in this worker's spool if it is stopped.
    flushed = get_store().flush(FLUSH_TIMEOUT_S)
    return outcome(
        trial=finished[0] if finished else None,
        fatal=str(search.fatal) if search.fatal is not None else None,
        choice=joined.choices[-1].to_dict() if joined.choices else None,
        flushed=flushed,
    )
