"""Runs as users see them: start, log, end (:class:`ActiveRun`, :func:`start_run`).

Logging calls build store ops from what the caller passed; each op checks its fields when
it is built (:mod:`tracker.store.validation`), so bad input raises here, at once, with the
key and the rule, and nothing is written. That check is the only one: the run API does not
check first and the ops do not check again. The ops then go to the store, which returns
without waiting for the database.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

from tracker.environment import capture_environment, imported_packages
from tracker.exceptions import TrackerError, ValidationError
from tracker.records import (
    ArtifactRef,
    DataRef,
    JSONValue,
    ModelRef,
    ParamValue,
    Run,
    RunError,
    RunKind,
    RunStatus,
    Source,
    now,
)
from tracker.run._events import LogEvent, _listeners, _notify
from tracker.run._exit import _install_exit_hooks
from tracker.run._state import _main_stack, _open_runs, _stack, active_run
from tracker.run._system import end_series, run_interval, start_series
from tracker.store import BaseStore, QueuedStore, get_store
from tracker.store.ops import (
    CreateRun,
    EndRun,
    LogData,
    LogMetrics,
    Op,
    SetAttrs,
    SetParams,
    SetRunFields,
    SetTags,
    data_row_id,
)
from tracker.store.validation import MAX_NAME, check_key

__all__ = [
    "DEFAULT",
    "ActiveRun",
    "start_run",
]


class _Default:
    """Marker for "argument not given" where ``None`` has a meaning of its own."""

    def __repr__(self) -> str:
        return "<default>"


DEFAULT: Final = _Default()


def _new_run_id() -> str:
    """``uuid.uuid4().hex``, without building a ``UUID`` object (a third of the cost)."""
    # RFC 4122 version 4: 16 random bytes, version nibble 4 (byte 6), variant bits 10
    # (byte 8), as ``uuid.uuid4`` sets them.
    b = bytearray(os.urandom(16))
    b[6] = b[6] & 0x0F | 0x40
    b[8] = b[8] & 0x3F | 0x80
    return b.hex()


def _default_source() -> Source:
    main = sys.modules.get("__main__")
    return _source_for(getattr(main, "__file__", None))


@functools.cache
def _source_for(path: str | None) -> Source:
    if path and not Path(path).name.startswith("ipykernel_launcher"):
        script = str(Path(path).resolve())
        try:
            script.encode("utf-8")
        except UnicodeEncodeError:  # a file name that is not UTF-8: keep its bytes visible
            script = os.fsencode(script).decode("utf-8", "backslashreplace")
        return Source(script=script)
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
        op = SetParams(run_id=self.id, params=params)  # checks and flattens, in one pass
        if op.params:
            self._write([op])
            if _listeners:
                _notify(LogEvent(run_id=self.id, params=op.params))
        return dict(op.params)  # a copy: changing it must not change the queued op

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
            step: Optional step (epoch, iteration): an integer from 0 to 2**63 - 1.
            timestamp: Seconds since the epoch (default: now).

        Raises:
            ValidationError: a name or value is not acceptable (nothing is logged then).
        """
        op = LogMetrics.build(self.id, metrics, step, timestamp)  # the one check
        if not op.metrics:
            return
        self._write([op])
        if _listeners:
            rows = op.metrics
            _notify(
                LogEvent(run_id=self.id, metrics={r.key: r.value for r in rows}, step=rows[0].step)
            )

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

        check_key("data", name, MAX_NAME)  # before the hashing, which may take long
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

    # artifacts
    def log_artifact(
        self,
        source: bytes | bytearray | memoryview | str | os.PathLike[str],
        name: str | None = None,
        *,
        media_type: str | None = None,
    ) -> ArtifactRef:
        """Store a file, a directory or bytes with this run, by content.

        The bytes are copied into the artifact root and hashed in the same pass (xxh3-128
        names them, SHA-256 checks them on load); content already stored is not stored
        again. The call returns once the bytes are safely on disk: in the root when it is
        local, else staged on this machine and uploaded in the background (the record is
        written after the upload; an unreachable root only delays it).

        Args:
            source: The path of a file or directory (a ``str`` is always a path), or bytes.
            name: The name on the run (default: the file or directory name; required for
                bytes). Logging a name again records a new version; ``run.artifacts[name]``
                is the latest.
            media_type: e.g. ``"image/png"`` (default: from the name's extension).

        Returns:
            The :class:`~tracker.records.ArtifactRef` (load it with
            :func:`tracker.load_artifact`).

        Raises:
            ValidationError: a missing path, bad name or unsupported source (nothing stored).
            ConfigError: a PostgreSQL store with no artifact root configured.
        """
        from tracker.store.artifacts import for_store

        self._check_running()
        return for_store(self._store).log(
            self.id, source, name, write=self._write, media_type=media_type
        )

    def log_text(self, text: str, name: str) -> ArtifactRef:
        """Store text (UTF-8) as an artifact named ``name`` (see :meth:`log_artifact`).

        The media type follows the name: ``notes.md`` is ``text/markdown``, ``config.json``
        ``application/json``, no or an unknown extension ``text/plain``.
        """
        from tracker.store.artifacts import for_store, guess_media_type

        if not isinstance(text, str):
            raise ValidationError(f"log_text() takes a str, not {type(text).__name__}")
        self._check_running()
        data = text.encode("utf-8", "surrogatepass")
        media = guess_media_type(name, "text/plain") if isinstance(name, str) else None
        return for_store(self._store).log(
            self.id, data, name, write=self._write, kind="text", media_type=media
        )

    def log_figure(self, figure: Any, name: str) -> ArtifactRef:
        """Store a matplotlib or plotly figure as an artifact (see :meth:`log_artifact`).

        Matplotlib figures (or axes) are saved as PNG unless the name asks for another
        format (``.svg``, ``.pdf``, ``.jpg``); plotly figures as their JSON (``.json``,
        default) or a self-contained HTML page (``.html``). Without an extension, the
        default one is added to the name.

        Raises:
            ValidationError: not a figure, or a format the library cannot write.
        """
        from tracker.store.artifacts import figure_bytes, for_store

        check_key("artifact", name, MAX_NAME)
        self._check_running()
        data, media, stored_name = figure_bytes(figure, name)
        return for_store(self._store).log(
            self.id, data, stored_name, write=self._write, kind="figure", media_type=media
        )

    def log_model(
        self,
        model: object,
        name: str = "model",
        *,
        input_example: object = None,
        format: str = "skops",
    ) -> ModelRef:
        """Save a model with this run: an artifact of kind ``model`` (docs/models.md).

        Args:
            model: A fitted scikit-learn estimator or pipeline (anything, if pickled).
            name: Its name on the run.
            input_example: A few input rows; their columns and dtypes (or shape and dtype)
                are recorded as the model's input schema.
            format: ``"skops"`` (default: loading runs no pickle) or ``"pickle"`` (loading
                then needs ``trusted=True``).

        Returns:
            The :class:`~tracker.records.ModelRef` (for ``load_model``, ``register_model``).

        Raises:
            ValidationError: a bad name or format, or an object skops cannot hold (the
                message names ``format="pickle"``); nothing is stored then.
        """
        from tracker.models import log_model

        self._check_running()
        return log_model(
            self._store,
            self.id,
            model,
            name,
            write=self._write,
            input_example=input_example,
            format=format,
        )

    def _check_running(self) -> None:
        # Before copying anything: the record of an ended run would be refused after.
        if self._status is not RunStatus.RUNNING:
            self._write([])

    # tags, notes, attrs
    def set_tag(self, key: str, value: str) -> None:
        """Set one tag."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, str | None]) -> None:
        """Set tags (values are strings; numbers and bools are converted; ``None`` deletes)."""
        op = SetTags(run_id=self.id, tags=tags)
        if op.tags:
            self._write([op])

    def set_notes(self, notes: str) -> None:
        """Replace the run's free-text notes."""
        # Not self._write: notes may be written after the run has ended.
        self._store.write([SetRunFields(run_id=self.id, fields={"notes": notes})])

    def set_name(self, name: str) -> None:
        """Rename the run."""
        op = SetRunFields(run_id=self.id, fields={"name": name})
        self.name = op.fields["name"]
        self._store.write([op])

    def set_attrs(self, attrs: Mapping[str, JSONValue]) -> None:
        """Set structured attributes (JSON values; ``None`` deletes), for tracker subsystems."""
        self._store.write([SetAttrs(run_id=self.id, attrs=attrs)])

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
        end_series(self.id)  # no system sample may follow the end
        err = RunError.from_exception(error) if isinstance(error, BaseException) else error
        ops: list[Op] = []
        # Only the packages can have changed in a way worth a record; the rest of a capture
        # (git state, with its getcwd, hardware) is taken only when they did.
        if imported_packages() != self._packages:  # packages imported during the run
            env = capture_environment()
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
    system_metrics: bool | float | None = None,
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
        system_metrics: Record this process's CPU, memory and GPU as ``system.*`` metric
            series: ``True``, ``False``, or the seconds between samples. Default: on
            (every ``TRACKER_SYSTEM_METRICS`` seconds, 10 unless set; ``off`` turns it
            off) unless the parent run is open in this process, whose series cover it.

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
    rid = run_id or _new_run_id()
    if run_id is not None and not (isinstance(run_id, str) and 1 <= len(run_id) <= 36):
        raise ValidationError(f"run_id must be a string of at most 36 characters, got {run_id!r}")
    if name is None:
        name = f"{k.value}-{rid[:8]}"
    # The ops check name, tags and params (the one check); the params op is built first so
    # that a bad param is refused before the store is opened.
    set_params = SetParams(run_id=rid, params=params) if params else None
    parent_id = _parent_id(parent)
    every = run_interval(system_metrics, parent_id in _open_runs)
    src = source or _default_source()
    store = get_store()
    started = now()
    env = capture_environment()
    owner = store.owner if isinstance(store, QueuedStore) else None
    create = CreateRun(
        run_id=rid,
        name=name,
        kind=k.value,
        start_time=started,
        parent_id=parent_id,
        tags=tags or {},
        notebook=src.notebook,
        cell_id=src.cell_id,
        script=src.script,
        environment=env.to_dict(),
        owner=owner,
    )
    run = ActiveRun(
        store, run_id=rid, name=create.name, kind=k, parent_id=parent_id, start_time=started
    )
    run._packages = env.packages
    ops: list[Op] = [create]
    if set_params is not None and set_params.params:
        ops.append(set_params)
    store.write(ops)
    _install_exit_hooks()
    _open_runs[rid] = run
    _stack().append(run)
    start_series(run, every)
    if len(ops) > 1 and _listeners:
        _notify(LogEvent(run_id=rid, params=ops[1].params))  # type: ignore[union-attr]
    return run


def _parent_id(parent: str | ActiveRun | Run | _Default | None) -> str | None:
    if isinstance(parent, _Default):
        current = active_run()
        return current.id if current is not None else None
    if parent is None:
        return None
    if isinstance(parent, ActiveRun | Run):
        return parent.id
    if isinstance(parent, str):
        return parent
    raise ValidationError(f"parent must be a run, a run id or None, not {type(parent).__name__}")
