"""Runs as users see them: start, log, end; and the module-level API behind ``tracker.*``.

A process has one current store (``set_store`` / ``TRACKER_STORE`` / the project
default), opened lazily on first use behind the queued, spooled writer. Logging
calls build store ops, which check their fields as they are built (bad input raises at
once, with the key and the rule; :mod:`tracker.store.validation`), and return without
waiting for the database.

The active run is tracked per thread, so parallel trials (Optuna's ``n_jobs``)
each log to their own run; a thread that started no run logs to the main
thread's active run.

Modules, one responsibility each:

* ``_active``: :class:`ActiveRun`, :func:`start_run` and the module-level ``log_*`` calls.
* ``_state``: the open runs and each thread's stack of active runs.
* ``_events``: log listeners (how notebook capture attributes logs to the running cell).
* ``_exit``: exit hooks that end a script's open runs; :func:`prepare_exit` for hosts that
  may be killed before ``atexit`` runs (a Jupyter kernel asked to shut down).
* ``_list``: :class:`RunList`, the search results that show themselves as a table.
* ``_system``: the one sampler thread that records ``system.*`` metric series (CPU,
  memory, GPU) into runs; ``_system_peak``: peak memory growth of a stretch of code (a
  notebook cell), :class:`PeakMemory`.
* ``_query``: reading back (:func:`get_run`, :func:`search_runs`, :func:`runs_frame`) and
  :func:`sync`.

The rules themselves (``flatten_params``, ``validate_metrics``...) live in
:mod:`tracker.store.validation`, below the store, so that every writer, the server
included, applies the same ones.
"""

from __future__ import annotations

# What is installed is learned in a background thread from here on, before the store and
# SQLAlchemy load, so the first start_run does not pay for it (environment.prefetch).
from tracker.environment import prefetch as _prefetch

_prefetch()

# Names re-exported with "as" are not public API but stay importable from here as before
# the split: the CLI uses the query builder and the "argument not given" marker, the tests
# the open runs, ``tracker/__init__.py`` ``metric_history``.
from tracker.run._active import DEFAULT as DEFAULT
from tracker.run._active import ActiveRun, start_run
from tracker.run._active import _Default as _Default
from tracker.run._events import LogEvent, add_log_listener, remove_log_listener
from tracker.run._exit import prepare_exit
from tracker.run._list import RunList
from tracker.run._logging import (
    log_artifact,
    log_data,
    log_figure,
    log_metric,
    log_metrics,
    log_model,
    log_param,
    log_params,
    log_text,
)
from tracker.run._query import _build_query as _build_query
from tracker.run._query import (
    get_run,
    runs_frame,
    search_runs,
    sync,
)
from tracker.run._query import metric_history as metric_history
from tracker.run._state import _open_runs as _open_runs
from tracker.run._state import active_run
from tracker.run._system import ENV_SYSTEM_METRICS, set_system_metrics
from tracker.run._system_peak import PeakMemory
from tracker.store import get_store, set_store
from tracker.store.validation import MAX_KEY as MAX_KEY
from tracker.store.validation import MAX_PARAM_STR as MAX_PARAM_STR
from tracker.store.validation import flatten_params, validate_metrics

__all__ = [
    "ENV_SYSTEM_METRICS",
    "ActiveRun",
    "LogEvent",
    "PeakMemory",
    "RunList",
    "active_run",
    "add_log_listener",
    "flatten_params",
    "get_run",
    "get_store",
    "log_artifact",
    "log_data",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_text",
    "prepare_exit",
    "remove_log_listener",
    "runs_frame",
    "search_runs",
    "set_store",
    "set_system_metrics",
    "start_run",
    "sync",
    "validate_metrics",
]
