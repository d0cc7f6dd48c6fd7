"""The cell recorder: IPython's ``pre_run_cell``/``post_run_cell`` hooks and what they write.

One :class:`Capture` per IPython shell. While tracking is on, every cell execution
leaves a ``CellExecution`` record in the session run:

* **before the cell** (``pre_run_cell``): the source is analysed (cached per source,
  ``_analysis``), the data the cell reads is looked up in the digest cache (hashed only
  if not cached or possibly changed) and the versions of the other values it reads are
  noted (``_inputs``), and the file-open audit starts (``_files``);
* **after the cell** (``post_run_cell``): the data the cell wrote (and the data it read
  that may have changed in place) is hashed (``_outputs``), the params and metrics
  logged meanwhile were attributed to it as they came (``_attribution``), the files
  read and written are added, the fingerprint computed and the record's ops built
  (``_record``); then one non-blocking ``write_ops`` call. A ``%%track`` cell's own run
  is started and ended by ``_track_runs``; long cells are marked by ``_watchdog``.

Failure policy: a hook never raises. Every failure is caught, remembered as
:attr:`Capture.last_error` (``%track status`` shows it), and logged once per kind to
the ``tracker`` logger; the user's cell and its outcome are left alone. A store that
cannot be reached is the queued store's business: records wait in the local spool.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker import run as run_api
from tracker.config import resolve_store_url
from tracker.records import DataRef, RunKind, RunStatus, Source, now
from tracker.store import QueuedStore

from . import _files, _memory
from ._analysis import CellAnalysis, analyze
from ._attribution import attribute
from ._cell_state import CellState
from ._inputs import observe_reads
from ._kernel import KernelInfo, kernel_info
from ._namespace import Namespace
from ._open_files import OpenWrites
from ._outputs import collect_outputs
from ._record import Outcome, cell_ops, fingerprint, outcome_hash
from ._track_runs import end_track_run, start_track_run
from ._values import DataCache
from ._watchdog import Watchdog

if TYPE_CHECKING:
    from ._sklearn import SklearnAutolog

__all__ = ["Capture", "CellState"]

log = logging.getLogger("tracker")

#: How long the store's writer gathers ops before a transaction in a tracked kernel.
KERNEL_LINGER_S = 0.25


class Capture:
    """Notebook tracking for one IPython shell (see the module docstring).

    Attributes:
        shell: The IPython shell.
        enabled: Tracking is on (every cell leaves a record).
        session: The session run, once started.
        names: The user namespace, with the digests and versions kept for its names.
        cache: The digest cache (``names.cache``).
        cells_recorded: Records written in this process.
        last_error: The last tracker failure, for ``%track status``.
        overhead_ms: Recent hook times (pre + post) per recorded cell, in ms.
    """

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.enabled = False
        self.session: run_api.ActiveRun | None = None
        self.kernel: KernelInfo | None = None
        self.names = Namespace(shell, self.report)
        self.cache: DataCache = self.names.cache
        self.current: CellState | None = None
        self.cells_recorded = 0
        self.seq = 0
        self.last_error: str | None = None
        self.errors = 0
        self.overhead_ms: deque[float] = deque(maxlen=10_000)
        self.sklearn: SklearnAutolog | None = None
        self.files_skipped = 0
        self._warned: set[str] = set()
        self._depth = 0
        # Cells ran that the hooks did not see (tracking off, a hook failed): names may
        # have been rebound behind our back, so cached digests and versions are forgotten.
        self._unobserved = False
        # Record ids: a random prefix per process and a counter (uuid4 per record would
        # cost a system call in the hook, and system calls hand the GIL to other threads).
        self._id_prefix = uuid.uuid4().hex[:20]
        self._id_counter = 0
        self.watchdog = Watchdog(self)
        self._excluded: tuple[str, ...] | None = None
        self._excluded_for: str | None = None  # the store those exclusions were made for
        self._pandas_patched = False
        self.open_writes = OpenWrites()

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
        self.watchdog.start()
        return session

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
        self.watchdog.stop()
        self._end_session(RunStatus.FINISHED)

    # --- what other parts ask ------------------------------------------------------------

    def hidden(self, name: str) -> bool:
        """IPython's own names, and names hidden from ``%who``."""
        return self.names.hidden(name)

    def name_of(self, obj: object) -> str | None:
        """A notebook variable bound to ``obj``, if the tracker has seen one."""
        return self.names.name_of(obj)

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

    def on_log(self, event: run_api.LogEvent) -> None:
        """Attribute params and metrics logged during a cell to its record (never raises)."""
        try:
            attribute(event, self.current, self.session)
        except Exception as exc:  # the user's logging call must go on; say why it is missing
            self.report("attributing logged params and metrics to the cell", exc)

    def begin_track_cell(self, name: str | None) -> run_api.ActiveRun:
        """Start the run of a ``%%track`` cell (a child of the session run)."""
        session = self.ensure_session()
        notebook = self.kernel.notebook if self.kernel else None
        return start_track_run(session, self.current, name, notebook)

    def _excluded_prefixes(self) -> tuple[str, ...]:
        """Directories whose files are never the user's data (computed once per store)."""
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
                _memory.begin(cell)
                cell.pre_ms = (time.perf_counter() - t0) * 1000
                cell.t0 = time.perf_counter()
                self.current = cell
        except (Exception, KeyboardInterrupt) as exc:
            _files.end()
            self.current = None
            self._unobserved = True
            self.report("preparing the cell record", exc)

    def _pre(self, info: Any) -> CellState | None:
        """The state of a cell about to run, or ``None`` when it is not watched at all."""
        raw = getattr(info, "raw_cell", None)
        if not isinstance(raw, str):
            return None
        # With tracking off, cells are still watched (cheaply: no hashing, no record) while
        # anything is cached, so turning tracking back on does not mean hashing all the
        # data again: names a cell rebinds lose their digests, data it may change is
        # marked stale.
        lite = not (self.enabled or raw.lstrip("\r\n").startswith("%%track"))
        if lite and not self.names.remembers:
            return None
        if not lite:
            self._prepare_tracked_cell()
        analysis = analyze(self._transformed(info, raw))
        if analysis.control_only or not self._in_step(analysis, lite):
            return None
        cell = self._new_cell(info, raw, analysis, tracked=not lite)
        observe_reads(self.names, cell)
        cell.snapshot = self._snapshot(cell)
        if not lite:
            cell.files = _files.FileLog(self._excluded_prefixes())
            _files.begin(cell.files)
        return cell

    def _prepare_tracked_cell(self) -> None:
        """Before a recorded cell: autologging patches and file wrappers up to date."""
        if self.sklearn is not None and self.sklearn.active:
            self.sklearn.refresh()
        if not self._pandas_patched and _files.patch_native_readers():
            self._pandas_patched = True

    def _transformed(self, info: Any, raw: str) -> str:
        """The cell after IPython's input transformations (magics become calls)."""
        transformed = getattr(info, "transformed_cell", None)
        if isinstance(transformed, str):
            return transformed
        try:
            return str(self.shell.transform_cell(raw))
        except Exception:
            return raw  # IPython will report the problem itself

    def _in_step(self, analysis: CellAnalysis, lite: bool) -> bool:
        """Bring the remembered digests in step with unobserved cells; ``False``: skip it.

        A watched-only cell that can bind names behind its syntax's back cannot be followed
        cheaply: everything is forgotten before the next record instead.
        """
        if lite and analysis.dynamic:
            self._unobserved = True
            return False
        if self._unobserved:
            self.names.forget_all()
            self._unobserved = False
            return not lite
        return True

    def _new_cell(self, info: Any, raw: str, analysis: CellAnalysis, *, tracked: bool) -> CellState:
        from tracker.hashing import hash_source

        count = getattr(self.shell, "execution_count", None)
        cid = getattr(info, "cell_id", None)
        return CellState(
            info=info,
            record_id=self.new_id() if tracked else "",
            seq=-1,
            cell_id=str(cid) if cid else None,
            execution_count=count if isinstance(count, int) else None,
            raw=raw,
            source_hash=hash_source(raw) if tracked else "",
            analysis=analysis,
            started=now(),
            tracked=tracked,
        )

    def _snapshot(self, cell: CellState) -> dict[str, int] | None:
        """What names hold before the cell, for names it may bind unseen by its syntax."""
        analysis = cell.analysis
        if cell.tracked and analysis.dynamic:
            return self.names.snapshot_all()
        if analysis.maybe_writes or cell.extra_writes:
            return self.names.snapshot((*analysis.maybe_writes, *cell.extra_writes))
        return None

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
            if cell is not None:
                _memory.end(cell)
            with self.watchdog.lock:
                self.current = None
            _files.end()
            if cell is None or getattr(result, "info", None) is not cell.info:
                if cell is not None:
                    self._unobserved = True  # a cell whose end we did not see
                self.open_writes.forget_closed()
                return
            if not cell.tracked:
                self._post_untracked(cell)
                self.open_writes.forget_closed()
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
        """Write the record of a cell that ran with tracking on."""
        err = getattr(result, "error_before_exec", None) or getattr(result, "error_in_exec", None)
        outcome = self._outcome(cell, err, duration_ms)
        self.names.update_versions(cell, outcome.writes, outcome.outputs, outcome.fingerprint)
        session = self.session
        if session is None or session.status is not RunStatus.RUNNING:
            return  # tracking was switched off and the session ended during the cell
        seq = self.seq
        self.seq += 1
        session.write_ops(cell_ops(session.id, seq, cell, outcome, self.report))
        self.cells_recorded += 1
        cell_run = cell.cell_run
        if cell_run is not None and cell_run.status is RunStatus.RUNNING:
            end_track_run(
                cell_run,
                outcome.inputs,
                outcome.outputs,
                outcome.fingerprint,
                outcome.outcome_hash,
                err,
                self.report,
            )

    def _outcome(self, cell: CellState, err: BaseException | None, duration_ms: float) -> Outcome:
        """What the cell did: writes, data and files in and out, params, metrics, hashes."""
        outputs: dict[str, DataRef] = {}
        writes: dict[str, None] = {}
        inputs = dict(cell.inputs)
        try:
            collect_outputs(self.names, cell, writes, outputs)
        except Exception as exc:  # keep the record, without what could not be worked out
            self.report("hashing the cell's outputs", exc)
        files = cell.files
        if files is not None:
            for name, ref in files.inputs.items():
                inputs.setdefault(name, ref)
            try:
                still_open, closed = self.open_writes.settle(files.written)
                outputs.update(files.outputs(still_open, closed))
            except Exception as exc:
                self.report("hashing the files the cell wrote", exc)
            for message in files.errors[:1]:
                self.report("hashing a file", RuntimeError(message))
            self.files_skipped += files.skipped
        for name, ref in cell.extra_inputs.items():
            inputs.setdefault(name, ref)
        params = dict(cell.params)
        metrics = dict(cell.metrics)
        return Outcome(
            error=err,
            duration_ms=duration_ms,
            writes=tuple(writes),
            inputs=inputs,
            outputs=outputs,
            params=params,
            metrics=metrics,
            fingerprint=fingerprint(cell.source_hash, inputs, params, cell.versions),
            outcome_hash=outcome_hash(metrics),
        )

    def _post_untracked(self, cell: CellState) -> None:
        """After a cell run with tracking off: names it rebound lose digests and versions."""
        names = list(cell.analysis.writes)
        names += self.names.rebound_since(cell.snapshot or {})
        for name in names:
            self.names.forget(name)
