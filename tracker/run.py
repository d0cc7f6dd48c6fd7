"""Runs as users see them: start, log, end; and the module-level API behind ``tracker.*``.

A process has one current store (``set_store`` / ``TRACKER_STORE`` / the project
default), opened lazily on first use behind the queued, spooled writer. Logging
calls validate their arguments here (bad input raises at once, with the key and
the problem) and then turn into store ops, which return without waiting for the
database.

The active run is tracked per thread, so parallel trials (Optuna's ``n_jobs``)
each log to their own run; a thread that started no run logs to the main
thread's active run.
"""

from __future__ import annotations

import atexit
import functools
import numbers
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal

from tracker.environment import capture_environment
from tracker.exceptions import NoActiveRunError, TrackerError, ValidationError
from tracker.records import (
    DataRef,
    JSONValue,
    Metric,
    ParamValue,
    Run,
    RunError,
    RunKind,
    RunStatus,
    Source,
    now,
)
from tracker.store import BaseStore, QueuedStore, current_store, get_store, set_store
from tracker.store.ops import (
    CreateRun,
    EndRun,
    LogData,
    LogMetrics,
    MetricRow,
    Op,
    SetAttrs,
    SetParams,
    SetRunFields,
    SetTags,
    data_row_id,
    metric_row_id,
)
from tracker.store.query import Condition, RunQuery, parse_filter, parse_order_by

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ActiveRun",
    "LogEvent",
    "active_run",
    "add_log_listener",
    "flatten_params",
    "get_run",
    "get_store",
    "log_data",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "prepare_exit",
    "remove_log_listener",
    "runs_frame",
    "search_runs",
    "set_store",
    "start_run",
    "sync",
    "validate_metrics",
]

MAX_KEY = 250
MAX_PARAM_STR = 65_535


class _Default:
    """Marker for "argument not given" where ``None`` has a meaning of its own."""

    def __repr__(self) -> str:
        return "<default>"


DEFAULT: Final = _Default()


# --- validation ------------------------------------------------------------------------------


def _check_key(what: str, key: object) -> str:
    if not isinstance(key, str):
        raise ValidationError(f"{what} names must be strings, got {type(key).__name__} {key!r}")
    if not key or not key.strip():
        raise ValidationError(f"{what} names must not be empty")
    if len(key) > MAX_KEY:
        raise ValidationError(
            f"{what} name {key[:40]!r}... is {len(key)} characters; the limit is {MAX_KEY}"
        )
    return key


def _param_value(key: str, value: object) -> ParamValue:
    if value is None or isinstance(value, bool | int | float | str):
        if isinstance(value, str) and len(value) > MAX_PARAM_STR:
            raise ValidationError(
                f"param {key!r} is a string of {len(value)} characters; "
                f"the limit is {MAX_PARAM_STR}"
            )
        return value
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.generic) and not isinstance(value, np.void):
        item = value.item()
        if item is None or isinstance(item, bool | int | float | str):
            return item
    raise ValidationError(
        f"param {key!r} has type {type(value).__module__}.{type(value).__qualname__}; "
        "params must be str, int, float, bool, None, a numpy scalar, or a dict of those "
        "(log data with log_data, and convert other values with str())"
    )


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, ParamValue]:
    """Validate params and flatten nested dicts with dots: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``.

    Raises:
        ValidationError: names the key and the type of the first bad value.
    """
    if not isinstance(params, Mapping):
        raise ValidationError(f"params must be a dict, not {type(params).__name__}")
    out: dict[str, ParamValue] = {}
    for k, v in params.items():
        key = _check_key("param", k)
        full = f"{prefix}{key}"
        if isinstance(v, Mapping):
            out.update(flatten_params(v, prefix=f"{full}."))
        else:
            _check_key("param", full)
            out[full] = _param_value(full, v)
    return out


def _metric_value(key: str, value: object) -> float:
    np = sys.modules.get("numpy")
    is_bool = isinstance(value, bool) or (np is not None and isinstance(value, np.bool_))
    if is_bool or not isinstance(value, numbers.Real):
        if np is not None and isinstance(value, np.ndarray) and value.size == 1:
            hint = " (a one-element array: pass value.item())"
        else:
            hint = ""
        raise ValidationError(
            f"metric {key!r} must be a real number, "
            f"got {type(value).__qualname__} {value!r:.60}{hint}"
        )
    return float(value)


def validate_metrics(metrics: Mapping[str, object]) -> dict[str, float]:
    """Check metric names and values (real numbers, numpy included; NaN and inf kept).

    Raises:
        ValidationError: names the metric and the problem.
    """
    if not isinstance(metrics, Mapping):
        raise ValidationError(
            f"metrics must be a dict of name -> number, not {type(metrics).__name__}"
        )
    return {_check_key("metric", k): _metric_value(k, v) for k, v in metrics.items()}


def _step(step: object) -> int | None:
    if step is None:
        return None
    np = sys.modules.get("numpy")
    if isinstance(step, bool) or not (
        isinstance(step, int) or (np is not None and isinstance(step, np.integer))
    ):
        raise ValidationError(f"step must be a non-negative integer or None, got {step!r}")
    s = int(step)
    if s < 0:
        raise ValidationError(f"step must be a non-negative integer or None, got {s}")
    return s


def _tags(tags: Mapping[str, object]) -> dict[str, str]:
    if not isinstance(tags, Mapping):
        raise ValidationError(f"tags must be a dict of name -> string, not {type(tags).__name__}")
    out = {}
    for k, v in tags.items():
        key = _check_key("tag", k)
        if v is None or not isinstance(v, str | int | float | bool):
            raise ValidationError(
                f"tag {key!r} must be a string (or a number/bool), got {type(v).__name__}"
            )
        out[key] = str(v)
    return out


# --- log listeners (how notebook capture attributes logs to the running cell) ---------------


@dataclass(frozen=True, slots=True)
class LogEvent:
    """Params or metrics just logged to a run (passed to log listeners).

    Attributes:
        run_id: The run they were logged to.
        params: Validated, flattened params (may be empty).
        metrics: Validated metrics (may be empty).
        step: The step of the metrics.
    """

    run_id: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    step: int | None = None


_listeners: list[Callable[[LogEvent], None]] = []


def add_log_listener(callback: Callable[[LogEvent], None]) -> None:
    """Call ``callback`` after every successful params/metrics logging call in this process.

    Listeners must be fast and must not raise (errors are swallowed to protect user code).
    """
    if callback not in _listeners:
        _listeners.append(callback)


def remove_log_listener(callback: Callable[[LogEvent], None]) -> None:
    """Stop calling ``callback``."""
    if callback in _listeners:
        _listeners.remove(callback)


def _notify(event: LogEvent) -> None:
    for cb in list(_listeners):
        try:
            cb(event)
        except Exception:  # a listener's bug must never fail the user's logging call
            continue


# --- runs --------------------------------------------------------------------------------------

_stacks = threading.local()
_main_stack: list[ActiveRun] = []
_open_runs: dict[str, ActiveRun] = {}
_exit_hooks_installed = False


def _stack() -> list[ActiveRun]:
    if threading.current_thread() is threading.main_thread():
        return _main_stack
    s: list[ActiveRun] | None = getattr(_stacks, "runs", None)
    if s is None:
        s = []
        _stacks.runs = s
    return s


def active_run() -> ActiveRun | None:
    """The innermost run started and not yet ended in this thread (else the main thread's)."""
    s = _stack()
    if s:
        return s[-1]
    return _main_stack[-1] if _main_stack else None


def _require_active(what: str) -> ActiveRun:
    run = active_run()
    if run is None:
        raise NoActiveRunError(what)
    return run


def _default_source() -> Source:
    main = sys.modules.get("__main__")
    return _source_for(getattr(main, "__file__", None))


@functools.cache
def _source_for(path: str | None) -> Source:
    if path and not Path(path).name.startswith("ipykernel_launcher"):
        return Source(script=str(Path(path).resolve()))
    return Source()


class ActiveRun:
    """A run being recorded. Use as a context manager, or call :meth:`end`.

    Attributes:
        id: The run id (uuid4 hex).
        name: Its name.
        kind: What it stands for.
        parent_id: Its parent run, if any.
    """

    def __init__(
        self,
        store: BaseStore,
        *,
        run_id: str,
        name: str,
        kind: RunKind,
        parent_id: str | None,
        start_time: float,
    ) -> None:
        self.id = run_id
        self.name = name
        self.kind = kind
        self.parent_id = parent_id
        self.start_time = start_time
        self._store = store
        self._status = RunStatus.RUNNING
        self._packages: Mapping[str, str] = {}
        self._lock = threading.Lock()

    # identity
    def __repr__(self) -> str:
        return f"<ActiveRun {self.name!r} id={self.id} {self._status.value}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActiveRun) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def status(self) -> RunStatus:
        """``running`` until :meth:`end`."""
        return self._status

    @property
    def store(self) -> BaseStore:
        """The store this run writes to."""
        return self._store

    def _write(self, ops: Sequence[Op]) -> None:
        if self._status is not RunStatus.RUNNING:
            raise TrackerError(
                f"run {self.name!r} ({self.id}) has ended ({self._status.value}); "
                "start a new run to log more"
            )
        self._store.write(ops)

    def write_ops(self, ops: Sequence[Op]) -> None:
        """Write low-level ops for this run (for tracker subsystems: capture, optimize)."""
        self._write(ops)

    # params
    def log_param(self, key: str, value: ParamValue) -> None:
        """Log one param (see :meth:`log_params`)."""
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> dict[str, ParamValue]:
        """Log params; nested dicts are flattened with dots. Re-logging a key overwrites it.

        Returns:
            The flattened params as stored.

        Raises:
            ValidationError: a key or value is not acceptable (nothing is logged then).
        """
        flat = flatten_params(params)
        if flat:
            self._write([SetParams(run_id=self.id, params=flat)])
            _notify(LogEvent(run_id=self.id, params=flat))
        return flat

    # metrics
    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Log one metric value (see :meth:`log_metrics`)."""
        self.log_metrics({key: value}, step=step)

    def log_metrics(
        self,
        metrics: Mapping[str, float],
        step: int | None = None,
        *,
        timestamp: float | None = None,
    ) -> None:
        """Log metric values; NaN and infinities are kept.

        Args:
            metrics: Name to real number (Python or numpy).
            step: Optional non-negative step (epoch, iteration).
            timestamp: Seconds since the epoch (default: now).

        Raises:
            ValidationError: a name or value is not acceptable (nothing is logged then).
        """
        values = validate_metrics(metrics)
        s = _step(step)
        if not values:
            return
        ts = now() if timestamp is None else round(float(timestamp) * 1e6) / 1e6
        rows = tuple(
            MetricRow(id=metric_row_id(self.id, k, v, s, ts), key=k, value=v, step=s, timestamp=ts)
            for k, v in values.items()
        )
        self._write([LogMetrics(run_id=self.id, metrics=rows)])
        _notify(LogEvent(run_id=self.id, metrics=values, step=s))

    # data
    def log_data(self, name: str, data: object) -> DataRef:
        """Hash ``data`` by its full content and record it under ``name``.

        Args:
            name: What the data is (``"train"``, ``"X_test"``...).
            data: A DataFrame, Series, ndarray, bytes, or a path to a file or directory.

        Returns:
            The :class:`DataRef` (algorithm, digest, shape, dtypes, rows, null counts).

        Raises:
            HashingError: the object cannot be hashed (names its type) or the path is missing.
        """
        from tracker.hashing import hash_data

        _check_key("data", name)
        ref = hash_data(data)
        self.record_data(name, ref)
        return ref

    def record_data(
        self, name: str, ref: DataRef, *, role: str = "logged", cell_record_id: str | None = None
    ) -> None:
        """Record an already computed :class:`DataRef` (no hashing)."""
        self._write(
            [
                LogData(
                    id=data_row_id(self.id, name, ref.digest, role, cell_record_id),
                    run_id=self.id,
                    name=name,
                    ref=ref.to_dict(),
                    timestamp=now(),
                    role=role,
                    cell_record_id=cell_record_id,
                )
            ]
        )

    # tags, notes, attrs
    def set_tag(self, key: str, value: str) -> None:
        """Set one tag."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set tags (values are strings; numbers and bools are converted)."""
        t = _tags(tags)
        if t:
            self._write([SetTags(run_id=self.id, tags=dict(t))])

    def set_notes(self, notes: str) -> None:
        """Replace the run's free-text notes."""
        if not isinstance(notes, str):
            raise ValidationError(f"notes must be a string, not {type(notes).__name__}")
        self._store.write([SetRunFields(run_id=self.id, fields={"notes": notes})])

    def set_name(self, name: str) -> None:
        """Rename the run."""
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("a run name must be a non-empty string")
        self.name = name
        self._store.write([SetRunFields(run_id=self.id, fields={"name": name})])

    def set_attrs(self, attrs: Mapping[str, JSONValue]) -> None:
        """Set structured attributes (JSON values; ``None`` deletes), for tracker subsystems."""
        for k in attrs:
            _check_key("attr", k)
        self._store.write([SetAttrs(run_id=self.id, attrs=dict(attrs))])

    # lifecycle
    def end(
        self,
        status: RunStatus | str = RunStatus.FINISHED,
        error: BaseException | RunError | None = None,
    ) -> None:
        """End the run (idempotent: a second call does nothing).

        Args:
            status: ``finished`` (default), ``failed`` or ``interrupted``.
            error: The exception (or its description) for a failed run.
        """
        st = RunStatus(status)
        if st is RunStatus.RUNNING:
            raise ValidationError("a run cannot be ended with status 'running'")
        with self._lock:
            if self._status is not RunStatus.RUNNING:
                return
            self._status = st
        err = RunError.from_exception(error) if isinstance(error, BaseException) else error
        ops: list[Op] = []
        env = capture_environment()
        if env.packages != self._packages:  # packages imported during the run
            ops.append(SetRunFields(run_id=self.id, fields={"environment": env.to_dict()}))
        ops.append(
            EndRun(
                run_id=self.id,
                status=st.value,
                end_time=now(),
                error=err.to_dict() if err else None,
            )
        )
        self._store.write(ops)
        _open_runs.pop(self.id, None)
        for s in (_stack(), _main_stack):
            if self in s:
                s.remove(self)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if exc is None:
            self.end(RunStatus.FINISHED)
        elif isinstance(exc, KeyboardInterrupt):
            self.end(RunStatus.INTERRUPTED, exc)
        else:
            self.end(RunStatus.FAILED, exc)
        return False

    def info(self) -> Run:
        """The run as stored (waits for pending writes first)."""
        return self._store.get_run(self.id)


def start_run(
    name: str | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    parent: str | ActiveRun | Run | _Default | None = DEFAULT,
    kind: RunKind | str = RunKind.RUN,
    source: Source | None = None,
    run_id: str | None = None,
) -> ActiveRun:
    """Start a run and make it the active run of this thread.

    Args:
        name: A name (default: ``"<kind>-<first 8 hex of the id>"``).
        tags: Initial tags.
        params: Initial params (same rules as :meth:`ActiveRun.log_params`).
        parent: The parent run; by default the active run, if any (so runs started in a
            tracked notebook are children of its session). ``None`` makes a top-level run.
        kind: ``run``, ``session``, ``cell``, ``search`` or ``trial``.
        source: Where the code is (default: the script being run, if any).
        run_id: Use this id (32 hex characters) instead of a new one.

    Returns:
        The :class:`ActiveRun`; use it in a ``with`` block or call ``end()``.

    Raises:
        ValidationError: a bad name, tag or param (nothing is recorded then).
    """
    try:
        k = RunKind(kind)
    except ValueError:
        raise ValidationError(
            f"unknown run kind {kind!r}; use one of {', '.join(x.value for x in RunKind)}"
        ) from None
    rid = run_id or uuid.uuid4().hex
    if run_id is not None and not (isinstance(run_id, str) and 1 <= len(run_id) <= 36):
        raise ValidationError(f"run_id must be a string of at most 36 characters, got {run_id!r}")
    if name is None:
        name = f"{k.value}-{rid[:8]}"
    elif not isinstance(name, str) or not name.strip():
        raise ValidationError("a run name must be a non-empty string")
    t = _tags(tags or {})
    flat = flatten_params(params or {})
    if isinstance(parent, _Default):
        current = active_run()
        parent_id = current.id if current is not None else None
    elif parent is None:
        parent_id = None
    elif isinstance(parent, ActiveRun | Run):
        parent_id = parent.id
    elif isinstance(parent, str):
        parent_id = parent
    else:
        raise ValidationError(
            f"parent must be a run, a run id or None, not {type(parent).__name__}"
        )
    src = source or _default_source()
    store = get_store()
    started = now()
    env = capture_environment()
    owner = store.owner if isinstance(store, QueuedStore) else None
    run = ActiveRun(store, run_id=rid, name=name, kind=k, parent_id=parent_id, start_time=started)
    run._packages = env.packages
    ops: list[Op] = [
        CreateRun(
            run_id=rid,
            name=name,
            kind=k.value,
            start_time=started,
            parent_id=parent_id,
            tags=t,
            notebook=src.notebook,
            cell_id=src.cell_id,
            script=src.script,
            environment=env.to_dict(),
            owner=owner,
        )
    ]
    if flat:
        ops.append(SetParams(run_id=rid, params=flat))
    store.write(ops)
    _install_exit_hooks()
    _open_runs[rid] = run
    _stack().append(run)
    if flat:
        _notify(LogEvent(run_id=rid, params=flat))
    return run


def _install_exit_hooks() -> None:
    global _exit_hooks_installed
    if _exit_hooks_installed:
        return
    _exit_hooks_installed = True
    previous = sys.excepthook

    def excepthook(t: type[BaseException], v: BaseException, tb: TracebackType | None) -> None:
        # An uncaught exception in a script: its open runs failed, with this error.
        for run in list(_open_runs.values()):
            try:
                run.end(
                    RunStatus.INTERRUPTED if isinstance(v, KeyboardInterrupt) else RunStatus.FAILED,
                    v,
                )
            except Exception:
                continue
        previous(t, v, tb)

    sys.excepthook = excepthook
    # Registered after the store's own atexit hook, so it runs before the store closes.
    atexit.register(_end_open_runs)


def _end_open_runs() -> None:
    for run in list(_open_runs.values()):
        try:
            run.end(RunStatus.FINISHED)
        except Exception:
            continue


def prepare_exit(timeout: float) -> bool:
    """End this process's open runs (``finished``) and wait up to ``timeout`` s for the store.

    What a clean interpreter exit does anyway (``atexit``, without the time limit). A host
    that may end the process before ``atexit`` runs calls it first: a Jupyter kernel asked
    to shut down is sent SIGTERM 2.5 s later if it has not exited, and it can take longer
    than that to stop its child processes (see ``tracker.capture``). Opens no store.

    Returns:
        Whether every record is in the database (if not, they are in the spool).
    """
    _end_open_runs()
    drain = getattr(current_store(), "drain", None)
    return drain is None or drain(timeout) is None


# --- module-level logging (acts on the active run) -------------------------------------------


def log_param(key: str, value: ParamValue) -> None:
    """Log one param to the active run."""
    _require_active("log_param").log_param(key, value)


def log_params(params: Mapping[str, Any]) -> dict[str, ParamValue]:
    """Log params to the active run (see :meth:`ActiveRun.log_params`)."""
    return _require_active("log_params").log_params(params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Log one metric to the active run."""
    _require_active("log_metric").log_metric(key, value, step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log metrics to the active run (see :meth:`ActiveRun.log_metrics`)."""
    _require_active("log_metrics").log_metrics(metrics, step)


def log_data(name: str, data: object) -> DataRef:
    """Hash and record data on the active run (see :meth:`ActiveRun.log_data`)."""
    return _require_active("log_data").log_data(name, data)


# --- reading -----------------------------------------------------------------------------------


def _run_id(run: str | ActiveRun | Run) -> str:
    if isinstance(run, ActiveRun | Run):
        return run.id
    if isinstance(run, str) and run:
        return run
    raise ValidationError(f"expected a run or a run id, got {type(run).__name__} {run!r}")


def get_run(run: str | ActiveRun | Run) -> Run:
    """The stored run (with its cell records), after pending writes have landed.

    Raises:
        RunNotFoundError: no run with that id.
        StoreUnavailableError: the store cannot be reached.
    """
    return get_store().get_run(_run_id(run))


def metric_history(run: str | ActiveRun | Run, key: str) -> list[Metric]:
    """Every logged value of metric ``key`` in ``run``, by step then time."""
    return get_store().metric_history(_run_id(run), key)


def _values(v: object) -> tuple[Any, ...]:
    if isinstance(v, str) or not isinstance(v, Iterable):
        return (v,)
    return tuple(v)


def _build_query(
    filter: str | None,
    *,
    name: str | None,
    kind: str | Sequence[str] | None,
    status: str | Sequence[str] | None,
    tags: Mapping[str, str] | None,
    params: Mapping[str, Any] | None,
    metrics: Mapping[str, Any] | None,
    parent: str | ActiveRun | Run | _Default | None,
    started_after: datetime | str | float | None,
    started_before: datetime | str | float | None,
    order_by: str | Sequence[str] | None,
    limit: int | None,
    offset: int,
) -> RunQuery:
    conds: list[Condition] = list(parse_filter(filter))
    if name is not None:
        if any(ch in name for ch in "*%"):
            conds.append(Condition("name", "like", name.replace("*", "%")))
        else:
            conds.append(Condition("name", "=", name))
    for fld, val, enum in (("kind", kind, RunKind), ("status", status, RunStatus)):
        if val is None:
            continue
        vals = tuple(str(x) for x in _values(val))
        allowed = {e.value for e in enum}
        bad = [v for v in vals if v not in allowed]
        if bad:
            raise ValidationError(
                f"unknown {fld} {bad[0]!r}; use one of {', '.join(sorted(allowed))}"
            )
        conds.append(Condition(fld, "in", vals) if len(vals) > 1 else Condition(fld, "=", vals[0]))
    for prefix, mapping in (("tags", tags), ("params", params), ("metrics", metrics)):
        for k, v in (mapping or {}).items():
            if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str):
                conds.append(Condition(f"{prefix}.{k}", v[0], v[1]))
            else:
                if prefix == "params":
                    v = _param_value(str(k), v)
                conds.append(Condition(f"{prefix}.{k}", "=", v))
    if not isinstance(parent, _Default):
        conds.append(Condition("parent_id", "=", None if parent is None else _run_id(parent)))
    if started_after is not None:
        conds.append(Condition("start_time", ">=", started_after))
    if started_before is not None:
        conds.append(Condition("start_time", "<", started_before))
    return RunQuery(
        conditions=tuple(conds), order_by=parse_order_by(order_by), limit=limit, offset=offset
    )


def search_runs(
    filter: str | None = None,
    *,
    name: str | None = None,
    kind: str | Sequence[str] | None = None,
    status: str | Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    parent: str | ActiveRun | Run | _Default | None = DEFAULT,
    started_after: datetime | str | float | None = None,
    started_before: datetime | str | float | None = None,
    order_by: str | Sequence[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Run]:
    """Find runs.

    Args:
        filter: A filter string, e.g. ``"metrics.accuracy >= 0.9 and params.kernel = 'rbf'"``
            (see :mod:`tracker.store.query`).
        name: Exact name, or a pattern with ``*``.
        kind: One kind or several.
        status: One status or several.
        tags: Tag equalities.
        params: Param equalities, or ``{"C": (">", 0.5)}`` comparisons.
        metrics: Metric comparisons, ``{"accuracy": (">=", 0.9)}``, or equalities.
        parent: Only children of this run; ``None`` for top-level runs only.
        started_after: Start time lower bound (inclusive).
        started_before: Start time upper bound (exclusive).
        order_by: e.g. ``"metrics.accuracy desc"`` or a list of those (default: newest first).
        limit: Page size (default: all).
        offset: Rows to skip.

    Returns:
        Matching runs (without cell records; use :func:`get_run` for those). Each has
        ``nondeterministic`` set when another run with the same code, inputs and params
        measured different metrics.

    Raises:
        ValidationError: a malformed filter or argument, with what was expected.
    """
    query = _build_query(
        filter,
        name=name,
        kind=kind,
        status=status,
        tags=tags,
        params=params,
        metrics=metrics,
        parent=parent,
        started_after=started_after,
        started_before=started_before,
        order_by=order_by,
        limit=limit,
        offset=offset,
    )
    return get_store().search_runs(query)


def runs_frame(filter: str | None = None, **kwargs: Any) -> pd.DataFrame:
    """:func:`search_runs` as a pandas DataFrame.

    Columns: ``id, name, kind, status, start_time, end_time, duration_s, parent_id,
    nondeterministic``, then ``params.*``, ``metrics.*`` and ``tags.*``.
    """
    import pandas as pd

    runs = search_runs(filter, **kwargs)
    rows = []
    for r in runs:
        row: dict[str, Any] = {
            "id": r.id,
            "name": r.name,
            "kind": r.kind.value,
            "status": r.status.value,
            "start_time": r.start_time,
            "end_time": r.end_time,
            "duration_s": r.duration_s,
            "parent_id": r.parent_id,
            "nondeterministic": r.nondeterministic,
        }
        row.update({f"params.{k}": v for k, v in r.params.items()})
        row.update({f"metrics.{k}": v for k, v in r.metrics.items()})
        row.update({f"tags.{k}": v for k, v in r.tags.items()})
        rows.append(row)
    base = [
        "id",
        "name",
        "kind",
        "status",
        "start_time",
        "end_time",
        "duration_s",
        "parent_id",
        "nondeterministic",
    ]
    frame = pd.DataFrame(rows, columns=None if rows else base)
    extra = sorted(c for c in frame.columns if c not in base)
    order = [c for p in ("params.", "metrics.", "tags.") for c in extra if c.startswith(p)]
    return frame[base + order]


def sync(timeout: float = 30.0) -> dict[str, Any]:
    """Write everything pending, replay spools left by dead processes, mark dead runs interrupted.

    Returns:
        Counts (``replayed_files``, ``replayed_ops``, ``interrupted``) and ``pending``
        (records still waiting because the store is down).
    """
    store = get_store()
    if isinstance(store, QueuedStore):
        stats: dict[str, Any] = dict(store.sync(timeout))
        stats["pending"] = store.pending
        return stats
    from tracker.store import sweep

    return dict(sweep(store, None), pending=0)


def _reset_after_fork() -> None:
    # The child does not own the parent's open runs (the parent ends them).
    global _stacks
    _stacks = threading.local()
    _main_stack.clear()
    _open_runs.clear()


os.register_at_fork(after_in_child=_reset_after_fork)
