"""The cell recorder: IPython's ``pre_run_cell``/``post_run_cell`` hooks and what they write.

One :class:`Capture` per IPython shell. While tracking is on, every cell execution
leaves a ``CellExecution`` record in the session run:

* **before the cell** (``pre_run_cell``): the source is analysed (cached per source),
  the data the cell reads is looked up in the :class:`~._values.DataCache` (hashed
  only if not cached or possibly changed), the versions of the other values it reads
  are noted, and the file-open audit starts;
* **after the cell** (``post_run_cell``): the outcome and duration, the data the cell
  wrote (and the data it read that may have changed in place) hashed, the params and
  metrics logged meanwhile (through :func:`tracker.run.add_log_listener`), the files
  read and written, the fingerprint; then one non-blocking ``write_ops`` call.

Failure policy: a hook never raises. Every failure is caught, remembered as
:attr:`Capture.last_error` (``%track status`` shows it), and logged once per kind to
the ``tracker`` logger; the user's cell and its outcome are left alone. A store that
cannot be reached is the queued store's business: records wait in the local spool.
"""

from __future__ import annotations

import builtins
import logging
import os
import re
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker import run as run_api
from tracker.config import resolve_store_url
from tracker.exceptions import ValidationError
from tracker.records import DataRef, ParamValue, RunError, RunKind, RunStatus, Source, now
from tracker.store import QueuedStore
from tracker.store.ops import LogCell, LogData, Op, SetAttrs, SetRunFields, data_row_id

from . import _files
from ._analysis import CellAnalysis, NameUse, analyze
from ._kernel import KernelInfo, kernel_info
from ._reach import code_globals, notebook_code
from ._values import (
    DataCache,
    content_version,
    data_items,
    digest_bytes,
    is_container,
    is_data,
    short_type,
)

if TYPE_CHECKING:
    from ._sklearn import SklearnAutolog

__all__ = ["Capture", "CellState"]

log = logging.getLogger("tracker")

_MISSING = object()
#: IPython's own names in the user namespace (output history, input history...).
_IPYTHON_NAME = re.compile(r"^(_|__|___|_i|_ii|_iii|_i\d+|_\d+|_ih|_oh|_dh|In|Out)$")
_TRACEBACK_LIMIT = 20_000
#: A cell running longer than this is marked on the session run (``attrs["running_cell"]``).
RUNNING_MARK_AFTER_S = 1.0
WATCHDOG_INTERVAL_S = 0.5
#: How long the store's writer gathers ops before a transaction in a tracked kernel.
KERNEL_LINGER_S = 0.25
_SOURCE_PREVIEW = 200

# Method names by what they do to the object they are called on. Unknown methods are
# assumed to change it (the content is then checked by hashing, never assumed).
_NUMPY_CHANGING = frozenset(
    {"sort", "fill", "resize", "put", "partition", "setfield", "itemset", "setflags", "byteswap"}
)
_NUMPY_VIEWS = frozenset(
    {
        "view",
        "reshape",
        "ravel",
        "transpose",
        "squeeze",
        "swapaxes",
        "diagonal",
        "T",
        "real",
        "imag",
        "flat",
        "astype",
        "__array__",
        "base",
        "flatten_view",
    }
)
_NUMPY_PURE = frozenset(
    {
        "sum",
        "mean",
        "std",
        "var",
        "min",
        "max",
        "argmin",
        "argmax",
        "argsort",
        "any",
        "all",
        "prod",
        "cumsum",
        "cumprod",
        "round",
        "clip",
        "copy",
        "tolist",
        "tobytes",
        "dot",
        "nonzero",
        "searchsorted",
        "trace",
        "ptp",
        "flatten",
        "repeat",
        "take",
        "compress",
        "conj",
        "conjugate",
        "item",
        "dump",
        "dumps",
        "tofile",
        "__repr__",
        "__str__",
        "__len__",
        "__format__",
        "__eq__",
        "__contains__",
        "__copy__",
        "__deepcopy__",
    }
)
# pandas >= 3 (copy-on-write): a method changes its object only through ``inplace=True``
# or one of these; results of other methods never write back.
_PANDAS_CHANGING = frozenset(
    {
        "insert",
        "pop",
        "update",
        "__setitem__",
        "__delitem__",
        "set_flags",
        "_set_value",
        "_update_inplace",
    }
)
# Conventional read-only methods of other objects (estimators, containers).
_OBJECT_PURE = frozenset(
    {
        "predict",
        "predict_proba",
        "predict_log_proba",
        "decision_function",
        "score",
        "score_samples",
        "transform",
        "inverse_transform",
        "get_params",
        "get_feature_names_out",
        "get",
        "keys",
        "values",
        "items",
        "copy",
        "count",
        "index",
        "__repr__",
        "__str__",
        "format",
        "startswith",
        "endswith",
        "split",
        "join",
        "strip",
        "lower",
        "upper",
        "replace",
        "encode",
        "decode",
        "head",
        "tail",
        "describe",
        "summary",
        "__len__",
        "to_dict",
        "to_json",
        "isoformat",
        "timestamp",
    }
)


def _pandas_cow() -> bool:
    pd = sys.modules.get("pandas")
    if pd is None:
        return True
    try:
        if int(str(pd.__version__).split(".", 1)[0]) >= 3:
            return True
        return bool(pd.options.mode.copy_on_write)
    except (AttributeError, ValueError):
        return False


@dataclass(slots=True)
class CellState:
    """What the hooks know about the cell being executed."""

    info: Any
    record_id: str
    seq: int
    cell_id: str | None
    execution_count: int | None
    raw: str
    source_hash: str
    analysis: CellAnalysis
    started: float
    tracked: bool  # a full record (tracking on, or a %%track cell)
    marked: bool = False  # attrs["running_cell"] was written for it
    t0: float = 0.0
    pre_ms: float = 0.0
    reads: list[str] = field(default_factory=list)
    inputs: dict[str, DataRef] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    # Data the cell read, by id: the name it was read through and its digest before the
    # cell. No reference is kept: numpy refuses ``resize`` on an array referenced from
    # elsewhere, and the user's ``del`` must free memory at once.
    read_data: dict[int, tuple[str, DataRef]] = field(default_factory=dict)
    # Read data the cell may change in place: hashed again after the cell.
    recheck: dict[int, tuple[str, DataRef]] = field(default_factory=dict)
    rebound: set[str] = field(default_factory=set)  # names the cell rebinds or deletes
    changed_opaque: dict[str, None] = field(default_factory=dict)
    bumped: dict[str, None] = field(default_factory=dict)
    reconsider: dict[str, Any] = field(default_factory=dict)
    snapshot: dict[str, int] | None = None
    extra_writes: set[str] = field(default_factory=set)
    files: _files.FileLog | None = None
    params: dict[str, ParamValue] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    cell_run: run_api.ActiveRun | None = None
    extra_inputs: dict[str, DataRef] = field(default_factory=dict)


class Capture:
    """Notebook tracking for one IPython shell (see the module docstring).

    Attributes:
        shell: The IPython shell.
        enabled: Tracking is on (every cell leaves a record).
        session: The session run, once started.
        cells_recorded: Records written in this process.
        last_error: The last tracker failure, for ``%track status``.
        overhead_ms: Recent hook times (pre + post) per recorded cell, in ms.
    """

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.enabled = False
        self.session: run_api.ActiveRun | None = None
        self.kernel: KernelInfo | None = None
        self.cache = DataCache(self._resolve)
        self.current: CellState | None = None
        self.cells_recorded = 0
        self.seq = 0
        self.last_error: str | None = None
        self.errors = 0
        self.overhead_ms: deque[float] = deque(maxlen=10_000)
        self.sklearn: SklearnAutolog | None = None
        self._warned: set[str] = set()
        self._depth = 0
        self._versions: dict[str, tuple[int, str]] = {}
        # Cells ran that the hooks did not see (tracking off, a hook failed): names may
        # have been rebound behind our back, so cached digests and versions are forgotten.
        self._unobserved = False
        self._token = uuid.uuid4().hex[:12]  # versions of values of unknown origin
        # Record ids: a random prefix per process and a counter (uuid4 per record would
        # cost a system call in the hook, and system calls hand the GIL to other threads).
        self._id_prefix = uuid.uuid4().hex[:20]
        self._id_counter = 0
        self._mark_lock = threading.Lock()
        self._watchdog: threading.Thread | None = None
        self._closing = threading.Event()
        self._excluded: tuple[str, ...] | None = None
        self._excluded_for: str | None = None  # the store those exclusions were made for
        self._pandas_patched = False
        self.files_skipped = 0

    def new_id(self) -> str:
        """A unique 32-hex-digit record id."""
        self._id_counter += 1
        return f"{self._id_prefix}{self._id_counter:012x}"

    # --- errors -------------------------------------------------------------------------

    def report(self, where: str, exc: BaseException) -> None:
        """Remember a tracker failure and warn once per kind of failure."""
        self.errors += 1
        self.last_error = f"{where}: {type(exc).__name__}: {exc}"
        key = f"{type(exc).__name__}:{str(exc)[:200]}"
        if key not in self._warned:
            self._warned.add(key)
            log.warning(
                "tracker: %s failed (%s: %s); the cell is unaffected and tracking goes on. "
                "`%%track status` shows the last tracker error.",
                where,
                type(exc).__name__,
                exc,
            )

    # --- session ------------------------------------------------------------------------

    def start(self, *, name: str | None = None, store: str | None = None) -> run_api.ActiveRun:
        """Turn tracking on: open (or reuse) the session run and make it the active run.

        Raises:
            ConfigError: ``store`` is not a valid store URL.
        """
        if store is not None:
            url = resolve_store_url(store)
            current = run_api.get_store()
            if url.identity != current.url.identity:
                self._end_session(RunStatus.FINISHED)
                run_api.set_store(url)
        session = self.ensure_session(name=name)
        writer = session.store
        if isinstance(writer, QueuedStore):
            # Batch the database work across cells: one transaction for many records
            # costs a fraction of the CPU (and GIL) of one per cell, and every record is
            # durable in the spool the moment its cell ends anyway.
            writer.linger_s = max(writer.linger_s, KERNEL_LINGER_S)
        self.enabled = True
        if self._excluded_for != writer.url.identity:
            self._excluded = None  # another store: its files are the ones to ignore
        _files.install_audit_hook()
        self._start_watchdog()
        return session

    def _start_watchdog(self) -> None:
        if self._watchdog is None or not self._watchdog.is_alive():
            self._closing.clear()
            self._watchdog = threading.Thread(
                target=self._watch, name="tracker-cell-watchdog", daemon=True
            )
            self._watchdog.start()

    def _watch(self) -> None:
        """Mark a long-running cell on the session run (``attrs["running_cell"]``).

        A kernel that dies during a cell then says which cell it was. Short cells never
        pay for this: there is no write per cell, only one per long cell.
        """
        while not self._closing.wait(WATCHDOG_INTERVAL_S):
            try:
                with self._mark_lock:
                    cell = self.current
                    session = self.session
                    if (
                        cell is None
                        or cell.marked
                        or session is None
                        or session.status is not RunStatus.RUNNING
                        or time.time() - cell.started < RUNNING_MARK_AFTER_S
                    ):
                        continue
                    cell.marked = True
                    session.write_ops(
                        [
                            SetAttrs(
                                run_id=session.id,
                                attrs={
                                    "running_cell": {
                                        "record_id": cell.record_id,
                                        "cell_id": cell.cell_id,
                                        "execution_count": cell.execution_count,
                                        "started": cell.started,
                                        "source_hash": cell.source_hash,
                                        "source": cell.raw[:_SOURCE_PREVIEW],
                                    }
                                },
                            )
                        ]
                    )
            except Exception as exc:  # the watchdog must outlive any failure
                self.report("marking the running cell", exc)

    def stop(self) -> None:
        """Turn tracking off (the session run stays open: it is the kernel's session)."""
        self.enabled = False

    def ensure_session(self, *, name: str | None = None) -> run_api.ActiveRun:
        """The session run, started on first use (by ``%track on`` or a ``%%track`` cell)."""
        session = self.session
        if session is not None and session.status is RunStatus.RUNNING:
            if name and name != session.name:
                session.set_name(name)
            return session
        self.kernel = kernel_info(self.shell.user_ns)
        session = run_api.start_run(
            name or self.kernel.session_name,
            kind=RunKind.SESSION,
            parent=None,
            source=Source(notebook=self.kernel.notebook),
            tags={"frontend": self.kernel.frontend},
        )
        session.set_attrs({"kernel": self.kernel.to_dict()})
        self.session = session
        self.seq = 0
        return session

    def _end_session(self, status: RunStatus) -> None:
        if self.session is not None:
            try:
                self.session.end(status)
            except Exception as exc:  # the store may be closed at exit: nothing else to do
                self.report("ending the session run", exc)
            self.session = None

    def close(self) -> None:
        """Unloading the extension: stop tracking and end the session run."""
        self.enabled = False
        self._closing.set()
        self._end_session(RunStatus.FINISHED)

    # --- helpers --------------------------------------------------------------------------

    def hidden(self, name: str) -> bool:
        """IPython's own names, and names hidden from ``%who``."""
        return bool(_IPYTHON_NAME.match(name)) or name in self.shell.user_ns_hidden

    def _resolve(self, name: str) -> Any:
        return _lookup(self.shell.user_ns, name)

    def name_of(self, obj: object) -> str | None:
        """A notebook variable bound to ``obj``, if the tracker has seen one."""
        names = self.cache.names_of(obj)
        plain = [n for n in names if n.isidentifier()]
        best = plain or names
        return best[0] if best else None

    def _aliases(self, obj: object, hint: str | None) -> list[str]:
        names = self.cache.names_of(obj)
        if hint is not None and hint not in names and self._resolve(hint) is obj:
            names.insert(0, hint)
        return names

    def _excluded_prefixes(self) -> tuple[str, ...]:
        if self._excluded is None:
            extra: list[str] = []
            store = run_api.get_store()
            if store.url.path is not None:
                db = Path(store.url.path)
                # The database and its SQLite sidecar files; the whole folder only when it
                # is the tracker's own (.tracker/), never the user's data folder.
                extra.extend(str(db) + s for s in ("", "-wal", "-shm", "-journal"))
                if db.parent.name == ".tracker":
                    extra.append(str(db.parent))
            spool = getattr(store, "spool_dir", None)
            if spool is not None:
                extra.append(str(spool))
            ipdir = getattr(self.shell, "ipython_dir", None)
            if isinstance(ipdir, str):
                extra.append(ipdir)
            self._excluded = _files.excluded_prefixes(extra)
            self._excluded_for = store.url.identity
        return self._excluded

    def add_input(self, name: str, ref: DataRef) -> None:
        """Attach data to the running cell's inputs (sklearn autolog's training data)."""
        cell = self.current
        if (
            cell is not None
            and cell.tracked
            and name not in cell.inputs
            and all(r.digest != ref.digest for r in cell.inputs.values())
        ):
            cell.extra_inputs[name] = ref

    def target_run(self) -> run_api.ActiveRun | None:
        """Where ``%track params``/``metrics`` and autologging log: the active run."""
        return run_api.active_run()

    # --- log listener -----------------------------------------------------------------------

    def on_log(self, event: run_api.LogEvent) -> None:
        """Attribute params and metrics logged during a cell to its record."""
        cell = self.current
        if cell is None or not cell.tracked:
            return
        rid = event.run_id
        session = self.session
        ok = (session is not None and rid == session.id) or (
            cell.cell_run is not None and rid == cell.cell_run.id
        )
        if not ok:
            active = run_api.active_run()
            # Runs the cell started explicitly count; trials and searches do not (a search
            # of 100 trials would otherwise pour 100 trials' metrics into one record).
            ok = active is not None and active.id == rid and active.kind is RunKind.RUN
        if ok:
            cell.params.update(event.params)
            cell.metrics.update(event.metrics)

    # --- %%track ------------------------------------------------------------------------------

    def begin_track_cell(self, name: str | None) -> run_api.ActiveRun:
        """Start the run of a ``%%track`` cell (a child of the session run)."""
        session = self.ensure_session()
        cell = self.current
        count = cell.execution_count if cell is not None else None
        label = name or (
            f"{session.name} [{count}]" if count is not None else f"{session.name} cell"
        )
        run = run_api.start_run(
            label,
            kind=RunKind.CELL,
            parent=session,
            source=Source(
                notebook=self.kernel.notebook if self.kernel else None,
                cell_id=cell.cell_id if cell is not None else None,
            ),
        )
        if cell is not None and cell.cell_run is None:
            cell.cell_run = run
        return run

    # --- pre_run_cell ---------------------------------------------------------------------------

    def pre_run_cell(self, info: Any) -> None:
        """IPython ``pre_run_cell`` hook (never raises)."""
        t0 = time.perf_counter()
        try:
            self._depth += 1
            if self._depth > 1:
                return  # a cell run from inside a cell: part of the outer record
            cell = self._pre(info)
            if cell is not None:
                cell.pre_ms = (time.perf_counter() - t0) * 1000
                cell.t0 = time.perf_counter()
                self.current = cell
        except (Exception, KeyboardInterrupt) as exc:
            _files.end()
            self.current = None
            self._unobserved = True
            self.report("preparing the cell record", exc)

    def _pre(self, info: Any) -> CellState | None:
        raw = getattr(info, "raw_cell", None)
        if not isinstance(raw, str):
            return None
        is_track_cell = raw.lstrip("\r\n").startswith("%%track")
        # With tracking off, cells are still watched (cheaply: no hashing, no record) while
        # anything is cached, so turning tracking back on does not mean hashing all the
        # data again: names a cell rebinds lose their digests, data it may change is
        # marked stale.
        lite = not (self.enabled or is_track_cell)
        if lite and not (len(self.cache) or self._versions):
            return None
        if not lite and self.sklearn is not None and self.sklearn.active:
            self.sklearn.refresh()
        if not lite and not self._pandas_patched and _files.patch_native_readers():
            self._pandas_patched = True
        transformed = getattr(info, "transformed_cell", None)
        if not isinstance(transformed, str):
            try:
                transformed = self.shell.transform_cell(raw)
            except Exception:
                transformed = raw  # IPython will report the problem itself
        analysis = analyze(transformed)
        if analysis.control_only:
            return None
        if lite and analysis.dynamic:
            self._unobserved = True  # cannot follow it cheaply: forget on the next record
            return None
        if self._unobserved:
            self.cache.clear()
            self._versions.clear()
            self._unobserved = False
            if lite:
                return None
        from tracker.hashing import hash_source

        count = getattr(self.shell, "execution_count", None)
        cell = CellState(
            info=info,
            record_id="" if lite else self.new_id(),
            seq=-1,
            cell_id=_cell_id(info),
            execution_count=count if isinstance(count, int) else None,
            raw=raw,
            source_hash="" if lite else hash_source(raw),
            analysis=analysis,
            started=now(),
            tracked=not lite,
        )
        self._observe_reads(cell)
        if lite:
            if analysis.maybe_writes or cell.extra_writes:
                ns = self.shell.user_ns
                cell.snapshot = {
                    k: id(ns[k]) if k in ns else 0
                    for k in (*analysis.maybe_writes, *cell.extra_writes)
                }
            return cell
        if analysis.dynamic:
            cell.snapshot = {k: id(v) for k, v in self.shell.user_ns.items() if not self.hidden(k)}
        elif analysis.maybe_writes or cell.extra_writes:
            ns = self.shell.user_ns
            cell.snapshot = {
                k: id(ns[k]) if k in ns else 0 for k in (*analysis.maybe_writes, *cell.extra_writes)
            }
        cell.files = _files.FileLog(self._excluded_prefixes())
        _files.begin(cell.files)
        return cell

    def _observe_reads(self, cell: CellState) -> None:
        ns = self.shell.user_ns
        analysis = cell.analysis
        queue: list[tuple[str, Any, NameUse | None]] = []
        seen: set[str] = set()
        for name in analysis.reads:
            if name in seen or self.hidden(name):
                continue
            seen.add(name)
            obj = ns.get(name, _MISSING)
            if obj is _MISSING:
                if hasattr(builtins, name):
                    continue
                cell.reads.append(name)
                cell.versions[name] = "undefined"
                continue
            cell.reads.append(name)
            queue.append((name, obj, analysis.uses.get(name, NameUse())))
        # What notebook functions, classes and instances the cell touches reach in turn.
        i = 0
        while i < len(queue) and len(queue) < 1024:
            _, obj, use = queue[i]
            i += 1
            if use is not None and use.pure:
                continue  # read without calling anything: its code does not run
            # Called or passed on: all its code may run; used through methods: those.
            only = (
                None if use is None or use.escape or use.called else [m.method for m in use.methods]
            )
            for code in notebook_code(obj, only):
                loads, stores = code_globals(code)
                cell.extra_writes.update(s for s in stores if not self.hidden(s))
                for g in loads:
                    if g in seen or self.hidden(g) or g not in ns:
                        continue
                    seen.add(g)
                    cell.reads.append(g)
                    queue.append((g, ns[g], None))
        for name, obj, use in queue:
            try:
                self._observe(cell, name, obj, use)
            except Exception as exc:  # one value we cannot read must not cost the record
                self.report(f"hashing {name!r} ({short_type(obj)})", exc)

    def _observe(self, cell: CellState, name: str, obj: Any, use: NameUse | None) -> None:
        if not cell.tracked:
            self._observe_untracked(name, obj, use)
            return
        if is_data(obj):
            ref = self.cache.get(obj, name)
            cell.inputs[name] = ref
            cell.versions[name] = ref.digest
            cell.read_data.setdefault(id(obj), (name, ref))
            if _may_change(obj, use):
                cell.recheck.setdefault(id(obj), (name, ref))
            return
        version = content_version(obj)
        cell.versions[name] = version if version is not None else self._opaque_version(name, obj)
        if is_container(obj):
            for item_name, item in data_items(obj, name):
                ref = self.cache.get(item, item_name)
                cell.inputs.setdefault(item_name, ref)
                cell.read_data.setdefault(id(item), (item_name, ref))
                if use is None or not use.pure:
                    cell.recheck.setdefault(id(item), (item_name, ref))
        if use is not None and use.pure:
            return
        if version is not None and not isinstance(obj, str | bytes | int | float | tuple):
            cell.reconsider[name] = obj  # a mutable container of scalars: compare after
        elif version is None and _changes_object(obj, use):
            cell.changed_opaque[name] = None
        elif (
            version is None
            and use is not None
            and (use.escape or use.called)
            and not _is_plain_function(obj)
        ):
            cell.bumped[name] = None

    def _observe_untracked(self, name: str, obj: Any, use: NameUse | None) -> None:
        """A read by a cell run with tracking off: forget what it may change."""
        if is_data(obj):
            if _may_change(obj, use):
                self.cache.mark_stale(obj)
        elif use is None or not use.pure:
            if is_container(obj):
                for _, item in data_items(obj, name):
                    self.cache.mark_stale(item)
            self._versions.pop(name, None)  # its origin is no longer known

    def _opaque_version(self, name: str, obj: object) -> str:
        known = self._versions.get(name)
        if known is not None and known[0] == id(obj):
            return known[1]
        # Unknown origin (made before tracking, or behind our back): a version that
        # matches nothing in another session, so it can never fake a reproduction.
        return f"u:{self._token}:{id(obj):x}"

    # --- post_run_cell --------------------------------------------------------------------------

    def post_run_cell(self, result: Any) -> None:
        """IPython ``post_run_cell`` hook (never raises)."""
        t0 = time.perf_counter()
        try:
            depth = self._depth
            self._depth = max(0, depth - 1)
            if depth > 1:
                return
            cell = self.current
            with self._mark_lock:
                self.current = None
            _files.end()
            if cell is None or getattr(result, "info", None) is not cell.info:
                if cell is not None:
                    self._unobserved = True  # a cell whose end we did not see
                return
            if not cell.tracked:
                self._post_untracked(cell)
                return
            duration_ms = (t0 - cell.t0) * 1000 if cell.t0 else 0.0
            self._post(cell, result, duration_ms)
            self.overhead_ms.append(cell.pre_ms + (time.perf_counter() - t0) * 1000)
        except (Exception, KeyboardInterrupt) as exc:
            _files.end()
            self.current = None
            self._unobserved = True
            self.report("recording the cell", exc)

    def _post(self, cell: CellState, result: Any, duration_ms: float) -> None:
        err = getattr(result, "error_before_exec", None) or getattr(result, "error_in_exec", None)
        status = "ok" if err is None else "error"
        error = _describe_error(err) if err is not None else None
        outputs: dict[str, DataRef] = {}
        writes: dict[str, None] = {}
        inputs = dict(cell.inputs)
        try:
            self._collect_outputs(cell, writes, outputs)
        except Exception as exc:  # keep the record, without what could not be worked out
            self.report("hashing the cell's outputs", exc)
        files = cell.files
        if files is not None:
            for name, ref in files.inputs.items():
                inputs.setdefault(name, ref)
            try:
                outputs.update(files.outputs())
            except Exception as exc:
                self.report("hashing the files the cell wrote", exc)
            for message in files.errors[:1]:
                self.report("hashing a file", RuntimeError(message))
            self.files_skipped += files.skipped
        for name, ref in cell.extra_inputs.items():
            inputs.setdefault(name, ref)
        params = dict(cell.params)
        metrics = dict(cell.metrics)
        fingerprint = _fingerprint(cell.source_hash, inputs, params, cell.versions)
        outcome = _outcome_hash(metrics)
        self._update_versions(cell, writes, outputs, fingerprint)
        session = self.session
        cell_run = cell.cell_run
        if session is None or session.status is not RunStatus.RUNNING:
            return  # tracking was switched off and the session ended during the cell
        seq = self.seq
        self.seq += 1
        stamp = now()
        ops: list[Op] = [
            LogCell(
                id=cell.record_id,
                run_id=session.id,
                seq=seq,
                cell_id=cell.cell_id,
                execution_count=cell.execution_count,
                source=cell.raw,
                source_hash=cell.source_hash,
                status=status,
                error=error.to_dict() if error else None,
                reads=tuple(cell.reads),
                writes=tuple(writes),
                params=params,
                metrics=metrics,
                started=cell.started,
                duration_ms=round(duration_ms, 3),
                child_run_id=cell_run.id if cell_run is not None else None,
                fingerprint=fingerprint,
                outcome_hash=outcome,
            )
        ]
        for role, refs in (("input", inputs), ("output", outputs)):
            for name, ref in refs.items():
                try:  # a name the store cannot hold (a non-UTF-8 file name) loses only itself
                    ops.append(
                        LogData(
                            id=data_row_id(session.id, name, ref.digest, role, cell.record_id),
                            run_id=session.id,
                            name=name,
                            ref=ref.to_dict(),
                            timestamp=stamp,
                            role=role,
                            cell_record_id=cell.record_id,
                        )
                    )
                except ValidationError as exc:
                    self.report(f"recording the cell's {role} {name!r:.80}", exc)
        if cell.marked:
            ops.append(SetAttrs(run_id=session.id, attrs={"running_cell": None}))
        session.write_ops(ops)
        self.cells_recorded += 1
        if cell_run is not None and cell_run.status is RunStatus.RUNNING:
            self._end_cell_run(cell_run, inputs, outputs, fingerprint, outcome, err)

    def _post_untracked(self, cell: CellState) -> None:
        """After a cell run with tracking off: names it rebound lose digests and versions."""
        ns = self.shell.user_ns
        names = list(cell.analysis.writes)
        for k, old_id in (cell.snapshot or {}).items():
            value = ns.get(k, _MISSING)
            if (value is _MISSING and old_id != 0) or (
                value is not _MISSING and id(value) != old_id
            ):
                names.append(k)
        for name in names:
            self.cache.release_prefix(name)
            self._versions.pop(name, None)

    def _end_cell_run(
        self,
        run: run_api.ActiveRun,
        inputs: Mapping[str, DataRef],
        outputs: Mapping[str, DataRef],
        fingerprint: str,
        outcome: str | None,
        err: BaseException | None,
    ) -> None:
        stamp = now()
        ops: list[Op] = []
        for refs in (inputs, outputs):
            for name, ref in refs.items():
                try:  # as in _post: a bad name loses only itself
                    ops.append(
                        LogData(
                            id=data_row_id(run.id, name, ref.digest),
                            run_id=run.id,
                            name=name,
                            ref=ref.to_dict(),
                            timestamp=stamp,
                            role="logged",
                        )
                    )
                except ValidationError as exc:
                    self.report(f"recording the run's data {name!r:.80}", exc)
        ops.append(
            SetRunFields(
                run_id=run.id, fields={"fingerprint": fingerprint, "outcome_hash": outcome}
            )
        )
        run.write_ops(ops)
        if err is None:
            run.end(RunStatus.FINISHED)
        elif isinstance(err, KeyboardInterrupt):
            run.end(RunStatus.INTERRUPTED, err)
        else:
            run.end(RunStatus.FAILED, err)

    def _collect_outputs(
        self, cell: CellState, writes: dict[str, None], outputs: dict[str, DataRef]
    ) -> None:
        ns = self.shell.user_ns
        names: dict[str, None] = dict.fromkeys(cell.analysis.writes)
        if cell.snapshot is not None:
            for k, old_id in cell.snapshot.items():
                value = ns.get(k, _MISSING)
                if (value is _MISSING and old_id != 0) or (
                    value is not _MISSING and id(value) != old_id
                ):
                    names.setdefault(k, None)
            if cell.analysis.dynamic:
                for k in ns:
                    if k not in cell.snapshot and not self.hidden(k):
                        names.setdefault(k, None)
        # Data the cell could have changed in place: hash again, keep what changed.
        rehashed: dict[int, DataRef] = {}
        for oid, (name, before) in list(cell.recheck.items()):
            obj = self._resolve(name)
            if id(obj) != oid:
                # The name was rebound: reach the object through another name, if any.
                obj = self.cache.resolve_id(oid)
            if obj is None or id(obj) != oid or not is_data(obj):
                continue  # no longer bound to any name: nothing left to record
            try:
                ref = self.cache.get(obj, name, force=True)
            except Exception as exc:  # keep going with the other values
                self.report(f"hashing {name!r} ({short_type(obj)})", exc)
                continue
            rehashed[oid] = ref
            if ref.digest == before.digest:
                continue
            for alias in self._aliases(obj, name):
                outputs[alias] = ref
                writes.setdefault(_root(alias), None)
            # Arrays sharing its memory (views, bases) may have changed with it.
            for other in self.cache.overlapping(obj):
                if id(other) in rehashed:
                    continue
                self.cache.mark_stale(other)
                aliases = self._aliases(other, None)
                try:
                    ref2 = self.cache.get(other, aliases[0] if aliases else None, force=True)
                except Exception as exc:
                    self.report("hashing an array sharing memory with a changed one", exc)
                    continue
                rehashed[id(other)] = ref2
                for alias in aliases:
                    outputs[alias] = ref2
                    writes.setdefault(_root(alias), None)
        cell.rebound = {_root(n) for n in names}
        for name in names:
            if self.hidden(name):
                continue
            writes[name] = None
            obj = ns.get(name, _MISSING)
            # The name was rebound or deleted: its old object may be gone, and a new
            # object may even sit at the same address, so the old anchors must go.
            self.cache.release_prefix(name)
            if obj is _MISSING:
                self._versions.pop(name, None)
                continue
            if is_data(obj):
                try:
                    outputs[name] = self._output_ref(cell, rehashed, obj, name)
                except Exception as exc:
                    self.report(f"hashing {name!r} ({short_type(obj)})", exc)
            elif is_container(obj):
                for item_name, item in data_items(obj, name):
                    try:
                        outputs[item_name] = self._output_ref(cell, rehashed, item, item_name)
                    except Exception as exc:
                        self.report(f"hashing {item_name!r} ({short_type(item)})", exc)
        for name, obj in cell.reconsider.items():
            if ns.get(name, _MISSING) is obj and content_version(obj) != cell.versions.get(name):
                writes.setdefault(name, None)
        for name in cell.changed_opaque:
            writes.setdefault(name, None)

    def _output_ref(
        self, cell: CellState, rehashed: Mapping[int, DataRef], obj: Any, name: str
    ) -> DataRef:
        """The digest of data a cell leaves bound to ``name`` (anchored to it)."""
        key = id(obj)
        known = rehashed.get(key)
        if known is None and key in cell.read_data:
            read_name, before = cell.read_data[key]
            # The same object as read, if the name it was read through still holds it and
            # was never rebound by the cell (else the id may belong to a new object).
            if _root(read_name) not in cell.rebound and self._resolve(read_name) is obj:
                known = before
        if known is not None:
            self.cache.adopt(obj, name, known)
            return known
        return self.cache.get(obj, name, force=True)  # made by the cell (or unseen)

    def _update_versions(
        self,
        cell: CellState,
        writes: Mapping[str, None],
        outputs: Mapping[str, DataRef],
        fingerprint: str,
    ) -> None:
        ns = self.shell.user_ns
        for name in (*writes, *cell.bumped):
            obj = ns.get(name, _MISSING)
            if obj is _MISSING:
                self._versions.pop(name, None)
                continue
            if name in outputs:
                version: str | None = outputs[name].digest
            elif is_data(obj):
                continue
            else:
                version = content_version(obj)
            if version is None:
                # Made or changed by this cell: its version follows the cell's fingerprint,
                # so re-running the same chain of cells gives the same versions.
                version = "w:" + digest_bytes(fingerprint, name)[:24]
            self._versions[name] = (id(obj), version)


# --- module helpers ---------------------------------------------------------------------------


def _root(name: str) -> str:
    """``d`` for ``d['k']``, ``ds`` for ``ds.X``, ``x`` for ``x``."""
    return re.split(r"[\[.]", name, maxsplit=1)[0]


def _lookup(ns: Mapping[str, Any], name: str) -> Any:
    """The object a record name (``x``, ``d['k']``, ``t[0]``, ``o.a``) designates now."""
    root = _root(name)
    obj = ns.get(root, _MISSING)
    rest = name[len(root) :]
    for m in re.finditer(r"\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|-?\d+)\]|\.(\w+)", rest):
        if obj is _MISSING:
            return _MISSING
        try:
            if m.group(2) is not None:
                obj = getattr(obj, m.group(2))
            else:
                key = m.group(1)
                obj = obj[int(key)] if key.lstrip("-").isdigit() else obj[key[1:-1]]
        except Exception:
            return _MISSING
    return obj


def _cell_id(info: Any) -> str | None:
    cid = getattr(info, "cell_id", None)
    return str(cid) if cid else None


def _is_plain_function(obj: object) -> bool:
    import types

    return isinstance(obj, types.FunctionType | types.BuiltinFunctionType | types.MethodType | type)


def _may_change(obj: Any, use: NameUse | None) -> bool:
    """Whether the cell's uses can change data ``obj`` (then it is hashed after the cell)."""
    if use is None or use.mutate or use.escape:
        return True
    np = sys.modules.get("numpy")
    is_array = np is not None and isinstance(obj, np.ndarray)
    for m in use.methods:
        if m.inplace:
            return True
        if is_array:
            if m.method in _NUMPY_CHANGING:
                return True
            if m.method in _NUMPY_VIEWS:
                if m.result_escapes:
                    return True
            elif m.method not in _NUMPY_PURE:
                return True
        elif m.method in _PANDAS_CHANGING or (m.result_escapes and not _pandas_cow()):
            return True
    return False


def _changes_object(obj: Any, use: NameUse | None) -> bool:
    """Whether an opaque object (a model, a list...) is changed by the cell, as far as we see."""
    if use is None:
        return False
    if use.mutate:
        return True
    return any(m.inplace or m.method not in _OBJECT_PURE for m in use.methods)


def _describe_error(err: BaseException) -> RunError:
    """The exception with the traceback of the user's code only (IPython's frames cut)."""
    tb = err.__traceback__
    ipython_dir = (
        os.path.dirname(sys.modules["IPython"].__file__ or "") if "IPython" in sys.modules else ""
    )
    while tb is not None and ipython_dir and tb.tb_frame.f_code.co_filename.startswith(ipython_dir):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(err), err, tb))
    if len(text) > _TRACEBACK_LIMIT:
        text = text[: _TRACEBACK_LIMIT // 2] + "\n...\n" + text[-_TRACEBACK_LIMIT // 2 :]
    base = RunError.from_exception(err, with_traceback=False)
    return RunError(type=base.type, message=base.message, traceback=text)


def _canon(value: object) -> str:
    if isinstance(value, float):
        return repr(value)
    return f"{type(value).__name__}:{value!r}"


def _fingerprint(
    source_hash: str,
    inputs: Mapping[str, DataRef],
    params: Mapping[str, ParamValue],
    versions: Mapping[str, str],
) -> str:
    """A cell's fingerprint: what should decide its outcome.

    docs/records.md: a hash of (code hash, sorted input digests, sorted params), plus the
    versions of the non-data values the cell reads, so that a cell reading a changed
    model or a changed scalar is not taken for a re-run of the same computation.
    """
    parts: list[str] = ["code", source_hash, "inputs"]
    parts += sorted(ref.digest for ref in inputs.values())
    parts.append("params")
    parts += sorted(f"{k}={_canon(v)}" for k, v in params.items())
    parts.append("reads")
    parts += sorted(f"{k}={v}" for k, v in versions.items() if k not in inputs)
    return digest_bytes(*parts)


def _outcome_hash(metrics: Mapping[str, float]) -> str | None:
    """Hash of the sorted metrics; ``None`` without metrics (docs/records.md)."""
    if not metrics:
        return None
    return digest_bytes(*sorted(f"{k}={float(v)!r}" for k, v in metrics.items()))
