"""``optimize(..., executor=...)``: a search's trials on a Dask cluster or any executor.

The notebook process (the *driver*) creates the study and the search run as a local
search does, then hands out trials as tasks; each task runs one trial on a worker through
the per-trial path every participant shares (:func:`~tracker.tuning.worker.join_search`,
``study.optimize(search.run_trial, n_trials=1)``), against the shared PostgreSQL study,
and returns the finished trial. The driver feeds each one to its own
:class:`~tracker.tuning._search.Search` (front, hypervolume, progress reporters), so the
widget moves as trials finish, then reconciles, re-checks and chooses exactly as a local
search does. The re-check on test data runs in the driver, not on the workers.

Exactly ``n_trials``: the driver hands out at most ``n_trials`` tasks, and each task
starts a trial only while the study holds fewer than its target, so a task run twice (a
Dask worker lost mid-task, a task re-submitted after an error) adds none beyond it.

What cannot work is refused before the first trial, with the fix: a SQLite or in-memory
store with workers in other processes, an objective that cannot be pickled (the error
names what it refers to that cannot), and workers that cannot load the objective or
reach the store (a probe runs on every Dask worker, or once on another executor).

The workers' side is :mod:`~tracker.tuning._tasks`. This is the only module that knows
Dask (``distributed``) and ``cloudpickle``; neither is imported unless ``executor=`` is
given (Dask only when it is a Dask client).
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import inspect
import logging
import platform
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage, InMemoryStorage, RDBStorage

from tracker.config import StoreURL
from tracker.exceptions import ConfigError, ValidationError
from tracker.store import get_store
from tracker.tuning._policy import SamplerChoice
from tracker.tuning._records import SearchSpec
from tracker.tuning._search import Search
from tracker.tuning._storage import open_storage
from tracker.tuning._tasks import (
    FLUSH_TIMEOUT_S,
    Job,
    ObjectiveFn,
    ProbeReport,
    TaskOutcome,
    probe,
    process_token,
    run_task,
)

__all__ = ["ExecutorPlan", "prepare_executor"]

log = logging.getLogger("tracker")

#: Seconds to wait for the probe on a non-Dask executor (process start-up included).
PROBE_TIMEOUT_S = 120.0
#: Tasks in flight when the executor's size cannot be read (more only wait in its queue).
DEFAULT_WINDOW = 64
#: Task errors in a row (not trial failures: the task itself) that stop the search.
MAX_TASK_ERRORS = 3
#: A pickled objective above this size is worth a warning: it travels to every worker.
LARGE_PAYLOAD_BYTES = 50 << 20
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class _DaskClient(Protocol):
    """What the driver uses of a ``distributed.Client`` (its methods are untyped)."""

    def nthreads(self) -> dict[str, int]: ...
    def run(self, function: Callable[..., Any], *args: Any, on_error: str) -> dict[str, Any]: ...
    def scatter(self, data: Any, *, broadcast: bool, hash: bool) -> Any: ...
    def get_executor(self, **kwargs: Any) -> cf.Executor: ...


# --- the driver side: checks before the first trial ---------------------------------------------


def _is_dask_client(executor: object) -> bool:
    # By the class's module first: distributed is then already imported, and a plain
    # executor never imports it.
    if not type(executor).__module__.startswith("distributed."):
        return False
    from distributed import Client

    return isinstance(executor, Client)


def _children(obj: object, name: str) -> Iterator[tuple[str, object]]:
    """What ``obj`` refers to that pickling it would pickle too, each with a readable name."""
    dot = f"{name}." if name else ""
    if isinstance(obj, functools.partial):
        yield f"{dot}func", obj.func
        yield from ((f"{dot}args[{i}]", a) for i, a in enumerate(obj.args))
        yield from ((f"{dot}keywords[{k!r}]", v) for k, v in obj.keywords.items())
    elif inspect.ismethod(obj):
        yield f"{dot}__self__", obj.__self__
    elif inspect.isfunction(obj):
        refs = inspect.getclosurevars(obj)
        for k, v in {**refs.nonlocals, **refs.globals}.items():
            if not inspect.ismodule(v):
                yield k, v
        yield from ((f"{dot}defaults[{i}]", d) for i, d in enumerate(obj.__defaults__ or ()))
    elif isinstance(obj, Mapping):
        yield from ((f"{name}[{k!r}]", v) for k, v in obj.items())
    elif isinstance(obj, list | tuple | set | frozenset):
        yield from ((f"{name}[{i}]", v) for i, v in enumerate(obj))
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        yield from ((f"{dot}{k}", v) for k, v in vars(obj).items())


def _culprit(obj: object, name: str, depth: int = 0) -> str | None:
    """The deepest thing reachable from ``obj`` that cloudpickle refuses, by name and type."""
    import cloudpickle

    if depth > 4:
        return None
    for child_name, child in _children(obj, name):
        try:
            cloudpickle.dumps(child)
        except Exception:
            return _culprit(child, child_name, depth + 1) or (
                f"{child_name!r} ({type(child).__module__}.{type(child).__qualname__})"
            )
    return None


def _pickled(objective: ObjectiveFn, sampler: str | BaseSampler) -> bytes:
    import cloudpickle

    try:
        blob: bytes = cloudpickle.dumps((objective, sampler))
    except Exception as exc:
        what, culprit = "the objective", _culprit(objective, "")
        try:
            cloudpickle.dumps(sampler)
        except Exception:
            what, culprit = "the sampler", _culprit(sampler, "sampler")
        refers = f"it refers to {culprit}, which" if culprit else "it"
        raise ValidationError(
            f"{what} cannot be sent to the executor's workers: {refers} cannot be pickled "
            f"({type(exc).__name__}: {exc}). Create objects such as open connections, locks, "
            "files or clients inside the objective instead of capturing them, or define the "
            "objective in a module the workers can import"
        ) from None
    if len(blob) > LARGE_PAYLOAD_BYTES:
        log.warning(
            "tracker: the objective and what it refers to pickle to %.0f MB, sent to every "
            "worker (with every task on executors other than Dask); load large data inside "
            "the objective, from files or a database the workers can read",
            len(blob) / 2**20,
        )
    return blob


def _check_store(url: StoreURL, storage: BaseStorage | None, in_process: bool, kind: str) -> None:
    if in_process:
        # Threads of this process: what n_jobs does, SQLite included (and warned about,
        # as n_jobs > 1 on SQLite is).
        if url.kind == "sqlite":
            log.warning(
                "tracker: trials in threads of this process share one SQLite file; this "
                "works (with a busy timeout) but serialises writes. For parallel or "
                "distributed searches use PostgreSQL: tracker.set_store('postgresql://...')"
            )
        return
    if isinstance(storage, InMemoryStorage):
        raise ConfigError(
            f"executor= runs trials in other processes ({kind}), which cannot see an "
            "in-memory Optuna storage; give the study a database they share (or leave "
            "storage= out: the study then lives in the tracker's PostgreSQL store)"
        )
    sqlite = url.kind == "sqlite" or (
        isinstance(storage, RDBStorage) and storage.url.startswith("sqlite")
    )
    if sqlite:
        raise ConfigError(
            f"executor= runs trials in other processes ({kind}), which need a database "
            "several processes can write at once; SQLite is not one (trials would fail on "
            "lock timeouts, or the file would be damaged). Put the search on PostgreSQL: "
            "tracker.set_store('postgresql://user@host/db') before tracker.optimize(...); "
            "or run trials in threads of this process with n_jobs= instead"
        )


def _check_probes(reports: list[ProbeReport], url: StoreURL) -> None:
    """Refuse with the fix if any worker cannot load the objective or reach the store."""
    here = socket.gethostname()
    host = urlsplit(url.connect_url()).hostname or ""
    for r in reports:
        if host in _LOCAL_HOSTS and r.host != here:
            raise ConfigError(
                f"the store URL {url.redacted()} names {host}, which on worker {r.where} is "
                "another machine than this one; give the database server's name or address, "
                "which every worker can reach"
            )
        if r.objective_error:
            python = platform.python_version()
            skew = f" (Python {r.python} there, {python} here)" if r.python != python else ""
            raise ConfigError(
                f"worker {r.where} cannot load the objective{skew}: {r.objective_error}. A "
                "function from a module travels by name, so the workers must import that "
                "module: install it on them, or call cloudpickle.register_pickle_by_value"
                "(module) before tracker.optimize, or define the objective in the notebook"
            )
        if r.store_error:
            raise ConfigError(
                f"worker {r.where} cannot reach the store {url.redacted()}: {r.store_error}. "
                "Every worker writes its trials there: check that the workers can reach the "
                "database server and have its driver (pip install jupyterlab-tracker[postgres])"
            )


class _Backend:
    """A Dask client or a concurrent.futures executor, seen the same way by the driver."""

    def __init__(self, executor: Any) -> None:
        self.dask: _DaskClient | None = None
        if _is_dask_client(executor):
            self.dask = cast(_DaskClient, executor)
            # pure=False: tasks with equal arguments are still separate trials.
            self.pool: cf.Executor = self.dask.get_executor(pure=False)
            self.kind = "Dask"
        else:
            self.pool = executor
            self.kind = type(executor).__name__
        self.in_process = isinstance(executor, cf.ThreadPoolExecutor)

    def probe(self, job: Job) -> list[ProbeReport]:
        if self.in_process:
            return []
        if self.dask is not None:
            if not self.dask.nthreads():
                raise ConfigError(
                    "the Dask cluster has no workers yet; wait for them first, e.g. "
                    "client.wait_for_workers(4), then call tracker.optimize"
                )
            answers = self.dask.run(probe, job, on_error="return")
            reports = []
            for addr, answer in answers.items():
                if isinstance(answer, BaseException):
                    raise ConfigError(f"the probe failed on Dask worker {addr}: {answer}")
                reports.append(answer)
            return reports
        try:
            return [self.pool.submit(probe, job).result(timeout=PROBE_TIMEOUT_S)]
        except cf.TimeoutError:
            raise ConfigError(
                f"the executor ran no probe task within {PROBE_TIMEOUT_S:.0f} s; is it busy "
                "or out of workers?"
            ) from None
        except Exception as exc:
            raise ConfigError(
                f"the executor could not run a probe task: {type(exc).__name__}: {exc}. "
                "Pass a running executor (not shut down) whose workers have jupyterlab-tracker"
            ) from None

    def share(self, job: Job) -> Any:
        """The job as tasks take it: on Dask, sent once to every worker."""
        if self.dask is not None:
            return self.dask.scatter(job, broadcast=True, hash=False)
        return job

    def window(self) -> int:
        """Tasks in flight: twice the workers' slots, so none waits for the driver."""
        if self.dask is not None:
            slots = sum(self.dask.nthreads().values())
        else:
            # The standard pools' size has no public name; other executors keep a window.
            slots = getattr(self.pool, "_max_workers", 0)
        return 2 * slots if isinstance(slots, int) and slots > 0 else DEFAULT_WINDOW


def prepare_executor(
    executor: object,
    objective: ObjectiveFn,
    sampler: str | BaseSampler,
    url: StoreURL,
    n_jobs: int,
    storage: BaseStorage | None = None,
) -> ExecutorPlan:
    """Check that trials can run on ``executor``; nothing is recorded yet.

    Args:
        executor: A Dask client or a ``concurrent.futures.Executor``.
        objective: The user's objective.
        sampler: ``optimize``'s ``sampler=`` (a name or an instance, sent to the workers).
        url: The tracker's store (trial runs are written there from the workers).
        n_jobs: ``optimize``'s ``n_jobs=`` (must be 1 with an executor).
        storage: The study's Optuna storage when it is not the store's database.

    Raises:
        ValidationError: not an executor, ``n_jobs`` given too, or an objective (or
            sampler) that cannot be pickled.
        ConfigError: a store the workers cannot share or reach, or workers that cannot
            load the objective.
    """
    if not (_is_dask_client(executor) or isinstance(executor, cf.Executor)):
        raise ValidationError(
            "executor must be a Dask client (distributed.Client) or a concurrent.futures "
            f"executor such as ProcessPoolExecutor, not {type(executor).__name__}"
        )
    if n_jobs != 1:
        raise ValidationError(
            "n_jobs runs trials in threads of this process; with executor= the executor's "
            "workers run them: leave n_jobs out and size the executor instead"
        )
    backend = _Backend(executor)
    _check_store(url, storage, backend.in_process, backend.kind)
    if backend.in_process:
        job = Job(url, process_token(), None, local=(objective, sampler), storage=storage)
    else:
        job = Job(url, process_token(), _pickled(objective, sampler), storage=storage)
    if storage is None:
        # Optuna's tables first, from here: workers creating them at once on a fresh
        # database would race each other.
        open_storage(url)
    _check_probes(backend.probe(job), url)
    return ExecutorPlan(backend, job)


# --- the driver side: handing out trials ---------------------------------------------------------


class ExecutorPlan:
    """Trials of one search on an executor (made by :func:`prepare_executor`)."""

    def __init__(self, backend: _Backend, job: Job) -> None:
        self.backend = backend
        self.job = job
        self._errors = 0
        self._unflushed_warned = False

    @property
    def kind(self) -> str:
        """``"Dask"`` or the executor's class name."""
        return self.backend.kind

    def run(
        self,
        search: Search,
        spec: SearchSpec,
        *,
        n_trials: int | None,
        timeout: float | None,
        on_choice: Callable[[SamplerChoice], None],
    ) -> None:
        """Run the search's trials on the workers; each finished one goes to ``search``."""
        # Workers name the search run as their trials' parent: it must be in the database.
        get_store().flush(FLUSH_TIMEOUT_S)
        job = replace(
            self.job,
            study_name=search.study.study_name,
            search_run_id=spec.search_run_id,
            target=spec.target_total,
            deadline=None if timeout is None else time.time() + timeout,
            space=search.space or None,
            data=search.data or None,
            pruner=search.study.pruner,
        )
        payload = self.backend.share(job)
        window = self.backend.window()
        stop_at = None if timeout is None else time.monotonic() + timeout
        pending: set[cf.Future[TaskOutcome]] = set()
        handed_out = 0
        stopped = False
        try:
            while True:
                while (
                    not stopped
                    and len(pending) < window
                    and (n_trials is None or handed_out < n_trials)
                    and (stop_at is None or time.monotonic() < stop_at)
                ):
                    pending.add(self.backend.pool.submit(run_task, payload, handed_out))
                    handed_out += 1
                if not pending:
                    return
                done, pending = cf.wait(pending, timeout=1.0, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    handled = self._handle(fut, search, on_choice)
                    if handled is None:
                        handed_out -= 1  # the task failed, not its trial: hand it out again
                    elif handled:
                        stopped = True
        finally:
            for fut in pending:
                fut.cancel()  # queued tasks start no trial; running ones finish on workers

    def _handle(
        self,
        fut: cf.Future[TaskOutcome],
        search: Search,
        on_choice: Callable[[SamplerChoice], None],
    ) -> bool | None:
        """One finished task: whether the search must stop (``None``: the task failed)."""
        try:
            out = fut.result()
        except cf.CancelledError:
            return True
        except Exception as exc:
            self._errors += 1
            error = self.job.url.scrub(f"{type(exc).__name__}: {exc}")
            if self._errors >= MAX_TASK_ERRORS:
                raise ConfigError(
                    f"{self._errors} tasks in a row failed on the executor ({self.kind}), the "
                    f"last with {error}; the trials finished so far are kept in the study"
                ) from exc
            log.warning("tracker: a trial task failed on the executor (%s); retrying", error)
            return None
        self._errors = 0
        if out.choice is not None and search.sampler_choice is None:
            on_choice(SamplerChoice(**out.choice))
        if out.trial is not None:
            search.after_trial(search.study, out.trial)
        if not out.flushed and not self._unflushed_warned:
            self._unflushed_warned = True
            log.warning(
                "tracker: trial %s's records were still in the spool of worker %s when its "
                "task ended; they reach the database when that worker's store answers",
                out.trial.number if out.trial else "?",
                out.where,
            )
        if out.fatal is not None and search.returns.fatal is None:
            search.returns.fatal = ValidationError(out.fatal)
        return out.fatal is not None or out.skipped in ("target", "stopped")
