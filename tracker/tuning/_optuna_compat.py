"""Every use of Optuna's internals, in one place, each with a fallback to its public API.

The tracker reaches below Optuna's public API in nine places, each for a reason measured or
forced by Optuna itself:

============================  ====================================  =============================
function                      internal (fast path)                  public fallback
============================  ====================================  =============================
:func:`trial_id`              ``Trial._trial_id``                   the storage's lookup by study
                                                                    name and trial number
:func:`write_trial_attrs`     the ``RDBStorage`` behind             ``Trial.set_user_attr`` and
                              ``_CachedStorage._backend``, the      ``BaseStorage.
                              table names of                        set_trial_system_attr``, one
                              ``optuna.storages._rdb.models``, one  call (one transaction) per
                              SQL upsert on Optuna's tables         attribute
:func:`sampler_trials`        ``Study._get_trials(use_cache=...)``  ``Study.get_trials``
:func:`finished_trial`        ``Trial._cached_frozen_trial``        ``None``: the caller waits
                                                                    for Optuna's callback
:func:`hypervolume`           ``optuna._hypervolume``               :func:`exact_hypervolume`
                              ``.compute_hypervolume`` (WFG)        (here, numpy)
:func:`count_trials`          ``Study._study_id``, the RDB backend  ``len(Study.get_trials())``
                              and its trials table: one ``COUNT``
:func:`constraints_func_of`   a sampler's ``_constraints_func``     ``None`` (not detected)
                              (TPE, GP, NSGA-II, NSGA-III)
:func:`study_storage`         ``Study._storage``                    none: a study object is
                                                                    refused off these releases
:func:`held_back_failures`    a filter on the logger of             Optuna's log level at ERROR
                              ``optuna.study._optimize``            while the search runs
============================  ====================================  =============================

Why each fast path exists:

* A tracked trial leaves several attributes on its Optuna trial (run id, metrics, each
  constraint in both formats). Through the public API each is its own transaction, and
  ``Trial.set_constraint`` first reloads the trial's attributes: about 6 ms per trial on
  SQLite, more than the tracker's whole bookkeeping budget. One transaction of plain SQL
  costs about 0.1 ms (``benchmarks/bench_search_overhead.py``).
* ``study.optimize(callbacks=...)`` reads each finished trial back from the storage
  before calling the callbacks, whatever they do: a callback that does nothing cost plain
  Optuna 1.3-3.5 ms per trial (median 2.4) on SQLite at load average 4, in six interleaved
  runs of 200 trials with and without it. A running ``Trial`` keeps its own view of what
  was set through it (params, attributes, constraints), so the search books a trial from
  that view, just before Optuna records its end, instead of in a callback.
* Optuna's samplers read a study's trials through the private ``Study._get_trials``; the
  study view of :mod:`tracker.tuning._view` must answer that call, and forwards it here.
* Optuna's hypervolume is an exact WFG implementation, faster than ours on large fronts.
* A sampler given its own ``constraints_func`` next to the tracker's ``constraints=`` would
  judge feasibility twice, differently; the constructor keeps it only in a private
  attribute, so refusing the combination before the first trial needs it.
* ``optimize(study=...)`` continues a study in whatever storage holds it; a ``Study`` keeps
  its storage only privately.
* A failed trial makes Optuna log a warning with the whole traceback into the notebook
  cell; the tracker prints one line and keeps the traceback on the trial's run. Only the
  trial loop's own logger is filtered, so every other Optuna warning still shows.
* A task of ``optimize(..., executor=...)`` counts the study's trials before it starts
  one (so a task run twice adds none beyond the target). Through the public API that
  reads the trials: Optuna's cache fetches every unfinished one again, about 65 ms per
  task with four busy workers on a loaded machine; a ``COUNT`` is one short query.

The internals are used only on the Optuna releases in :data:`VERIFIED_RELEASES`, the ones
these paths were read against and tested on (``tests/test_tuning_bookkeeping.py`` runs
every function on both paths, on SQLite and PostgreSQL). On any other release, or with
the environment variable ``TRACKER_OPTUNA_INTERNALS=0``, every function takes its public
path: slower, never different. A fast path that fails at run time (a changed private
API) falls back for that call and logs why at debug level.

Nothing else in ``tracker`` may touch an Optuna name that starts with an underscore.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import logging
import os
import re
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.study import Study
from optuna.trial import FrozenTrial, Trial, TrialState

__all__ = [
    "INTERNALS",
    "REASON",
    "VERIFIED_RELEASES",
    "constraints_func_of",
    "count_trials",
    "exact_hypervolume",
    "finished_trial",
    "held_back_failures",
    "hypervolume",
    "internals_usable",
    "sampler_trials",
    "study_storage",
    "trial_id",
    "write_trial_attrs",
]

_log = logging.getLogger("tracker")

#: Optuna releases (major, minor) whose internals this module was checked against.
VERIFIED_RELEASES: tuple[tuple[int, int], ...] = ((5, 0), (5, 1))
#: Set to ``0`` to make every function take its public path.
ENV_SWITCH = "TRACKER_OPTUNA_INTERNALS"


def _release(version: str) -> tuple[int, int] | None:
    m = re.match(r"(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else None


def internals_usable(version: str | None = None) -> tuple[bool, str]:
    """Whether the fast paths may run here, and why (or why not).

    Args:
        version: An Optuna version string (default: the installed one).

    Returns:
        ``(usable, reason)``; the reason is one sentence for logs and tests.
    """
    if os.environ.get(ENV_SWITCH, "").strip().lower() in ("0", "false", "no", "off"):
        return False, f"{ENV_SWITCH}=0: Optuna's public API only"
    version = optuna.__version__ if version is None else version
    release = _release(version)
    if release not in VERIFIED_RELEASES:
        known = ", ".join(f"{a}.{b}" for a, b in VERIFIED_RELEASES)
        return False, (
            f"Optuna {version} is not a release the tracker's fast paths were verified "
            f"against ({known}): Optuna's public API only"
        )
    if not hasattr(Study, "_get_trials"):
        return False, f"Optuna {version} has no Study._get_trials: public API only"
    try:
        from optuna._hypervolume import compute_hypervolume  # noqa: F401
    except ImportError:
        return False, f"Optuna {version} has no optuna._hypervolume: public API only"
    return True, f"Optuna {version}: verified release, fast paths on"


#: Whether the fast paths run (tests set it to ``False`` to run the public paths).
INTERNALS, REASON = internals_usable()
_log.debug("tracker: %s", REASON)


# --- trial ids -------------------------------------------------------------------------------


def trial_id(trial: Trial) -> int:
    """The storage's id of a running trial (what ``BaseStorage`` methods take)."""
    if INTERNALS:
        tid = getattr(trial, "_trial_id", None)
        if isinstance(tid, int):
            return tid
    storage = trial.storage
    study_id = storage.get_study_id_from_name(trial.study.study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)


# --- a trial's attributes in one transaction -------------------------------------------------


def write_trial_attrs(
    trial: Trial, user_attrs: Mapping[str, Any], system_attrs: Mapping[str, Any]
) -> None:
    """Set ``user_attrs`` and ``system_attrs`` on a running trial, in one transaction if possible.

    Both paths write the same keys and values; Optuna reads them back the same way.

    Args:
        trial: The running trial.
        user_attrs: JSON-serialisable user attributes.
        system_attrs: JSON-serialisable system attributes (constraints included).

    Raises:
        optuna.exceptions.UpdateFinishedTrialError: the trial has finished (e.g. failed by
            the heartbeat of a worker that was presumed dead).
    """
    if INTERNALS:
        backend = _rdb_backend(trial.storage)
        if backend is not None:
            try:
                _write_rdb(backend, trial_id(trial), user_attrs, system_attrs)
            except optuna.exceptions.UpdateFinishedTrialError:
                raise
            except Exception as exc:  # a changed private API: the public path, nothing lost
                _log.debug("tracker: one-transaction trial attrs failed (%s); per attribute", exc)
            else:
                # Keep the Trial's own cached view in step (``trial.user_attrs`` reads it).
                cached = getattr(trial, "_cached_frozen_trial", None)
                if cached is not None:
                    cached.user_attrs.update(user_attrs)
                    cached.system_attrs.update(system_attrs)
                return
    for k, v in user_attrs.items():
        trial.set_user_attr(k, v)  # also updates the Trial's cached view
    if system_attrs:
        tid = trial_id(trial)
        for k, v in system_attrs.items():
            trial.storage.set_trial_system_attr(tid, k, v)


def _rdb_backend(storage: BaseStorage | None) -> RDBStorage | None:
    # optuna.storages.get_storage wraps an RDBStorage in a _CachedStorage whose writes go
    # straight through to ``_backend``; the cache only keeps finished trials.
    backend = getattr(storage, "_backend", storage)
    return backend if isinstance(backend, RDBStorage) else None


@functools.cache
def _tables() -> tuple[str, str, str]:
    from optuna.storages._rdb import models

    return (
        models.TrialModel.__tablename__,
        models.TrialUserAttributeModel.__tablename__,
        models.TrialSystemAttributeModel.__tablename__,
    )


def _write_rdb(
    backend: RDBStorage,
    tid: int,
    user_attrs: Mapping[str, Any],
    system_attrs: Mapping[str, Any],
) -> None:
    """The fast path of :func:`write_trial_attrs` (tests call it directly)."""
    dialect = backend.engine.name
    if dialect not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"one-transaction attrs on {dialect}")

    def ph(name: str) -> str:  # the driver's named placeholder (sqlite3, psycopg)
        return f":{name}" if dialect == "sqlite" else f"%({name})s"

    # Plain SQL through the storage's own engine (tracker.tuning never imports the database
    # libraries; tracker.store owns those): building and compiling ORM or Core upserts
    # cost more than the statements themselves (1.5 ms against 0.1 ms on SQLite). The
    # upsert is the one Optuna's storage issues on these two databases.
    trials, user_table, system_table = _tables()
    with backend.engine.begin() as conn:
        state = conn.exec_driver_sql(
            f"SELECT state FROM {trials} WHERE trial_id = {ph('id')}", {"id": tid}
        ).scalar_one()
        # The storage's own refusal to touch a finished trial (e.g. failed by the heartbeat).
        state = state if isinstance(state, TrialState) else TrialState[str(state)]
        backend.check_trial_is_updatable(tid, state)
        for table, attrs in ((user_table, user_attrs), (system_table, system_attrs)):
            if not attrs:
                continue
            conn.exec_driver_sql(
                f"INSERT INTO {table} (trial_id, key, value_json) "
                f"VALUES ({ph('trial_id')}, {ph('key')}, {ph('value_json')}) "
                "ON CONFLICT (trial_id, key) DO UPDATE SET value_json = excluded.value_json",
                [
                    {"trial_id": tid, "key": k, "value_json": json.dumps(v)}
                    for k, v in attrs.items()
                ],
            )


# --- counting a study's trials ----------------------------------------------------------------


def count_trials(study: Study) -> int:
    """How many trials ``study`` holds, in any state (waiting and running included)."""
    if INTERNALS:
        backend = _rdb_backend(getattr(study, "_storage", None))
        study_id = getattr(study, "_study_id", None)
        if backend is not None and isinstance(study_id, int):
            try:
                return _count_rdb(backend, study_id)
            except Exception as exc:  # a changed private API: the public path
                _log.debug("tracker: counting trials with one query failed (%s)", exc)
    return len(study.get_trials(deepcopy=False))


def _count_rdb(backend: RDBStorage, study_id: int) -> int:
    ph = ":id" if backend.engine.name == "sqlite" else "%(id)s"
    with backend.engine.connect() as conn:
        n = conn.exec_driver_sql(
            f"SELECT count(*) FROM {_tables()[0]} WHERE study_id = {ph}", {"id": study_id}
        ).scalar_one()
    return int(n)


# --- a trial as it reads once finished -------------------------------------------------------


def finished_trial(
    trial: Trial, state: TrialState, values: Sequence[float] | None
) -> FrozenTrial | None:
    """``trial`` as it will read once Optuna records its end as ``state`` with ``values``.

    Built from the Trial's own view of itself (``Trial._cached_frozen_trial``, which Optuna
    keeps in step with the params, intermediate values, attributes and constraints set
    through the Trial, and :func:`write_trial_attrs` too), ending now. What the objective
    wrote to the storage past the Trial, or a sampler writes when told, is not in it.

    Returns:
        The finished trial, or ``None`` on the public path (the caller then reads the
        stored trial after Optuna's end of it, e.g. in a ``study.optimize`` callback).
    """
    if not INTERNALS:
        return None
    view = getattr(trial, "_cached_frozen_trial", None)
    if not isinstance(view, FrozenTrial):
        return None
    return FrozenTrial(
        number=view.number,
        state=state,
        value=None,
        values=None if values is None else [float(v) for v in values],
        datetime_start=view.datetime_start,
        datetime_complete=datetime.datetime.now(),
        params=dict(view.params),
        distributions=dict(view.distributions),
        user_attrs=dict(view.user_attrs),
        system_attrs=dict(view.system_attrs),
        intermediate_values=dict(view.intermediate_values),
        trial_id=trial_id(trial),
    )


# --- the trials Optuna's samplers read -------------------------------------------------------


def sampler_trials(
    study: Study,
    deepcopy: bool = True,
    states: Container[TrialState] | None = None,
    use_cache: bool = False,
) -> list[FrozenTrial]:
    """A study's trials as Optuna's samplers ask for them (``Study._get_trials``).

    The public path ignores ``use_cache`` (a per-thread cache of Optuna's that only
    saves queries): the same trials, one more read of the storage.
    """
    if INTERNALS:
        return study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
    return study.get_trials(deepcopy=deepcopy, states=states)


# --- hypervolume -----------------------------------------------------------------------------


def hypervolume(front: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume of ``front`` (distinct, mutually non-dominated losses, all below ``ref``)."""
    if INTERNALS:
        from optuna._hypervolume import compute_hypervolume

        return float(compute_hypervolume(front, ref, assume_pareto=True))
    return exact_hypervolume(front, ref)


def exact_hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume dominated by ``points`` up to ``ref`` (losses, all below ``ref``).

    The public path of :func:`hypervolume`: a sweep in two dimensions and slicing along
    the last objective above that (O(n^(k-1) log n) for n points in k dimensions, fine for
    the fronts searches reach). ``points`` need not be a front.
    """
    pts = np.asarray(points, dtype=float)
    r = np.asarray(ref, dtype=float)
    if pts.shape[0] == 0:
        return 0.0
    return _slice_volume(pts, r)


def _slice_volume(pts: np.ndarray, ref: np.ndarray) -> float:
    k = pts.shape[1]
    if k == 1:
        return float(ref[0] - pts[:, 0].min())
    if k == 2:
        volume, floor = 0.0, float(ref[1])
        for x, y in pts[np.argsort(pts[:, 0], kind="stable")]:
            if y < floor:
                volume += (float(ref[0]) - float(x)) * (floor - float(y))
                floor = float(y)
        return volume
    by_last = pts[np.argsort(pts[:, -1], kind="stable")]
    volume = 0.0
    for i in range(by_last.shape[0]):
        top = by_last[i + 1, -1] if i + 1 < by_last.shape[0] else ref[-1]
        depth = float(top - by_last[i, -1])
        if depth > 0:
            volume += depth * _slice_volume(by_last[: i + 1, :-1], ref[:-1])
    return volume


# --- a sampler's own constraints, a study's storage -----------------------------------------


def constraints_func_of(sampler: object) -> Callable[..., Any] | None:
    """The ``constraints_func`` a sampler was built with (``None``: none, or not knowable)."""
    if not INTERNALS:
        return None
    inner = getattr(sampler, "inner", None)  # the tracker's OneConstraintEach wrapper
    if inner is not None:
        sampler = inner
    func = getattr(sampler, "_constraints_func", None)
    return func if callable(func) else None


def study_storage(study: Study) -> BaseStorage:
    """The storage holding ``study``.

    Raises:
        RuntimeError: off the verified releases (the caller turns it into advice).
    """
    storage = getattr(study, "_storage", None) if INTERNALS else None
    if not isinstance(storage, BaseStorage):
        raise RuntimeError(
            f"cannot read a study's storage on Optuna {optuna.__version__}: pass study_name= "
            "and storage= instead of study="
        )
    return storage


# --- one line per failed trial instead of Optuna's traceback ---------------------------------

_TRIAL_LOOP_LOGGER = "optuna.study._optimize"


class _NoFailedTrialWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not (msg.startswith("Trial ") and " failed " in msg)


@contextlib.contextmanager
def held_back_failures() -> Iterator[None]:
    """Optuna's "Trial N failed ..." warnings (with tracebacks) held back while inside.

    The tracker prints its own line per failed trial and stores the traceback on the
    trial's run. Off the verified releases Optuna's log level is raised to ERROR instead.
    """
    if not INTERNALS:
        before = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(max(before, optuna.logging.ERROR))
        try:
            yield
        finally:
            optuna.logging.set_verbosity(before)
        return
    logger = logging.getLogger(_TRIAL_LOOP_LOGGER)
    f = _NoFailedTrialWarnings()
    logger.addFilter(f)
    try:
        yield
    finally:
        logger.removeFilter(f)
