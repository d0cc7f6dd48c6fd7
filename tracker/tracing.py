"""Trace a file back to what produced it: ``tracker.trace(path)`` and ``tracker trace PATH``.

A file found anywhere (a model copied to a production host, a CSV in a shared folder) is
hashed with the project's file recipe (:func:`tracker.hashing.hash_file`: the plain
xxh3-128 of its bytes, the digest artifacts are stored under and the digest notebook
capture records for the files cells read and write). That digest is then looked up in
the store, through the two indexed lookups the store contract already has:

* ``store.artifacts(digests=[d])``: runs that logged the content as an artifact
  (``ix_tracker_artifacts_digest``);
* ``store.data_uses([d])``: cells that wrote it (``role="output"``), runs that logged it
  with ``log_data`` (``"logged"``), and cells that read it (``"input"``)
  (``ix_tracker_data_digest``).

The producers (artifacts, cell outputs, logged data) are listed newest first; the lineage
of the newest one is walked with :func:`tracker.provenance.lineage`, back through the
cells and data that made it to the files where the chain starts. A file that was only ever
*read* (a raw data set) has no producer: its readers are listed instead. Content no record
names gives a :class:`Trace` whose ``found`` is false; the command line then prints one
line with the digest and exits with status 2.

A directory is looked up under both its digests: :func:`tracker.hashing.hash_directory`'s
(data references) and the manifest digest ``log_artifact`` records for a directory.

Only the store is read; this module never imports the run API, so the server can use it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tracker.display import clip, html_fields, html_table, html_view, human_bytes, one_line
from tracker.exceptions import HashingError, RunNotFoundError, TrackerError
from tracker.hashing import hash_directory, hash_file
from tracker.provenance import Lineage, lineage
from tracker.records import ArtifactRef, CellExecution, DataRef, Run, from_timestamp
from tracker.store import BaseStore, DataUse, get_store

__all__ = ["Trace", "TraceMatch", "trace"]

#: At most this many records are described (a raw CSV read by ten thousand cells is
#: summarised, not listed); ``Trace.more`` counts the rest.
MAX_MATCHES = 20
#: How a record came by the content, in the order a tie is shown.
_HOW_ORDER = {"artifact": 0, "wrote": 1, "logged": 2, "read": 3}
_PRODUCING = ("artifact", "wrote", "logged")


@dataclass(frozen=True, slots=True)
class TraceMatch:
    """One record that names the traced content.

    Attributes:
        how: ``"artifact"`` (a run logged it as an artifact), ``"wrote"`` (a tracked cell
            wrote the file), ``"logged"`` (a run logged it with ``log_data``) or ``"read"``
            (a tracked cell read it: it was not made by a tracked cell or run).
        name: The artifact's name, the file as the cell named it (``./model.joblib``), or
            the logged name.
        when: When the record was made.
        run: The run that logged it, or the session run of the cell: its own fields and
            logged data (``store.get_run_head``); its tags, params, metrics and artifacts
            are not read here (``tracker.get_run(match.run.id)`` has them).
        cell: The cell record (``wrote`` and ``read``), else ``None``.
        artifact: The artifact record (``artifact``), else ``None``.
    """

    how: str
    name: str
    when: datetime
    run: Run
    cell: CellExecution | None = None
    artifact: ArtifactRef | None = None

    @property
    def produced(self) -> bool:
        """The record made (or logged) the content, rather than only reading it."""
        return self.how in _PRODUCING

    @property
    def summary(self) -> str:
        """One line for a person: what did it, where, when."""
        run = f"{self.run.kind.value} {clip(self.run.name, 60)!r} ({self.run.id[:8]})"
        when = f"{self.when:%Y-%m-%d %H:%M:%S}"
        if self.cell is not None:
            verb = "written by" if self.how == "wrote" else "read by"
            nb = self.run.source.notebook
            where = f" in {run}" + (f", notebook {nb}" if nb else "")
            cell = _cell_text(self.cell, os.path.basename(self.name))
            return f"{verb} {cell}{where} as {self.name}, {when}"
        verb = "logged as artifact" if self.how == "artifact" else "logged as data"
        src = self.run.source
        where = f", notebook {src.notebook}" if src.notebook else ""
        where += f", script {src.script}" if src.script else ""
        return f"{verb} {self.name!r} on {run}{where}, {when}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        cell = self.cell
        return {
            "how": self.how,
            "name": self.name,
            "when": self.when.isoformat(),
            "run_id": self.run.id,
            "run_name": self.run.name,
            "run_kind": self.run.kind.value,
            "notebook": self.run.source.notebook,
            "script": self.run.source.script,
            "cell": None
            if cell is None
            else {
                "record_id": cell.id,
                "cell_id": cell.cell_id,
                "execution_count": cell.execution_count,
                "seq": cell.seq,
                "source": cell.source,
            },
            "artifact": self.artifact.to_dict() if self.artifact is not None else None,
        }


@dataclass(frozen=True)
class Trace:
    """Where a file's content came from.

    Attributes:
        path: The file traced (absolute).
        ref: Its content reference (algorithm, digest, size).
        matches: The records that name the content: producers newest first, then (when
            none produced it) the cells that read it. At most :data:`MAX_MATCHES`.
        more: Records left out of ``matches``.
        lineage: The lineage of the newest producer (cells and data back to the files
            where the chain starts); ``None`` when nothing produced the content.
    """

    path: str
    ref: DataRef
    matches: tuple[TraceMatch, ...] = ()
    more: int = 0
    lineage: Lineage | None = field(default=None, compare=False)

    @property
    def digest(self) -> str:
        """The content digest (xxh3-128 hex)."""
        return self.ref.digest

    @property
    def found(self) -> bool:
        """Some record names this content."""
        return bool(self.matches)

    @property
    def origin(self) -> TraceMatch | None:
        """The newest record that produced the content (whose lineage is shown)."""
        return next((m for m in self.matches if m.produced), None)

    @property
    def files(self) -> list[DataRef]:
        """Files at the start of the lineage (the data it was made from)."""
        return self.lineage.files if self.lineage is not None else []

    @property
    def cells(self) -> list[CellExecution]:
        """Cells in the lineage, in execution order."""
        return self.lineage.cells if self.lineage is not None else []

    @property
    def headline(self) -> str:
        """The first line of the text form (also what ``tracker trace`` prints on no match)."""
        digest = f"{self.ref.algorithm} {self.digest}"
        if not self.found:
            return (
                f"no run or cell in this store logged, wrote or read {self.path} "
                f"(content {digest}, {human_bytes(self.ref.nbytes)})"
            )
        return f"{self.path} (content {digest}, {human_bytes(self.ref.nbytes)})"

    def __str__(self) -> str:
        lines = [self.headline]
        if not self.found:
            return lines[0]
        origin = self.origin
        if origin is None:
            lines.append("made by no tracked cell or run (where a chain starts); read by:")
        for m in self.matches:
            lines.append(f"  {m.summary}")
        if self.more:
            lines.append(f"  ... and {self.more} more record(s)")
        if self.lineage is not None and origin is not None:
            lines.append("lineage:")
            lines.extend("  " + ln for ln in str(self.lineage).splitlines())
            if self.files:
                names = ", ".join(sorted({f.path or f.short for f in self.files}))
                lines.append(f"data it started from: {names}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        origin = self.origin
        first = origin or (self.matches[0] if self.matches else None)
        return one_line(
            "Trace",
            repr(clip(os.path.basename(self.path), 40)),
            f"{self.ref.algorithm}:{self.ref.short}",
            human_bytes(self.ref.nbytes),
            clip(first.summary, 120) if first is not None else "no match",
            f"(+{len(self.matches) - 1 + self.more})"
            if len(self.matches) + self.more > 1
            else None,
        )

    def _repr_html_(self) -> str:
        rows = [
            (m.how, m.name, _cell_text(m.cell) if m.cell else "", m.run.name, m.run.id[:8], m.when)
            for m in self.matches
        ]
        lin = str(self.lineage) if self.lineage is not None else None
        return html_view(
            f"Trace {os.path.basename(self.path)}",
            self.headline,
            [
                ("file", html_fields([("path", self.path), ("digest", self.digest)])),
                ("records", html_table(rows, ["how", "name", "cell", "run", "run id", "when"])),
                ("files it started from", html_fields((f.short, f.path) for f in self.files)),
            ],
            pre=lin,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (``tracker trace --json``)."""
        return {
            "path": self.path,
            "algorithm": self.ref.algorithm,
            "digest": self.digest,
            "size": self.ref.nbytes,
            "found": self.found,
            "matches": [m.to_dict() for m in self.matches],
            "more": self.more,
            "files": [f.to_dict() for f in self.files],
            "lineage": self.lineage.to_dict() if self.lineage is not None else None,
        }


def _cell_text(cell: CellExecution, mention: str | None = None) -> str:
    """``cell [n] <line>``: the line naming ``mention`` (the file), else the first line."""
    lines = [ln.strip() for ln in cell.source.splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    if mention:
        first = next((ln for ln in lines if mention in ln), first)
    count = f"[{cell.execution_count}]" if cell.execution_count is not None else "[ ]"
    return f"cell {count} {clip(first, 60)}"


def content_ref(path: str | os.PathLike[str]) -> DataRef:
    """The content reference of a file (or a directory) as capture and artifacts record it.

    Raises:
        HashingError: No such path, or it cannot be read.
    """
    p = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(p)
    except FileNotFoundError as exc:
        raise HashingError(f"no file or directory at {p}: nothing to trace") from exc
    except OSError as exc:
        raise HashingError(f"cannot read {p}: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(st.st_mode):
        return hash_directory(p, profile=False)
    return hash_file(p, profile=False)


def _directory_artifact_digest(path: str | None) -> str | None:
    """The digest ``log_artifact`` records for this directory (``None``: it could not be)."""
    from tracker.store.artifacts import directory_digest

    try:
        return directory_digest(Path(path or "."))
    except (TrackerError, OSError):  # holds what logging refuses: no artifact can match
        return None


class _Finder:
    """Reads the records naming one digest, memoising runs and sessions' cells."""

    def __init__(self, store: BaseStore) -> None:
        self.store = store
        self._runs: dict[str, Run] = {}
        self._cells: dict[str, dict[str, CellExecution]] = {}

    def run(self, run_id: str) -> Run:
        r = self._runs.get(run_id)
        if r is None:
            r = self._runs[run_id] = self.store.get_run_head(run_id)
        return r

    def session_cells(self, session_id: str) -> dict[str, CellExecution]:
        cells = self._cells.get(session_id)
        if cells is None:
            cells = self._cells[session_id] = {c.id: c for c in self.store.get_cells(session_id)}
        return cells

    def cell(self, session_id: str, record_id: str) -> CellExecution | None:
        return self.session_cells(session_id).get(record_id)

    def from_use(self, use: DataUse) -> TraceMatch | None:
        how = {"output": "wrote", "input": "read", "logged": "logged"}.get(use.role)
        if how is None:
            return None
        cell = None
        if how in ("wrote", "read"):
            if use.cell_record_id is None:
                return None
            cell = self.cell(use.run_id, use.cell_record_id)
            if cell is None:
                return None  # the data row outlived its cell record (a partial import)
        return TraceMatch(how, use.name, from_timestamp(use.timestamp), self.run(use.run_id), cell)

    def from_artifact(self, a: ArtifactRef) -> TraceMatch:
        return TraceMatch("artifact", a.name, a.created, self.run(a.run_id), artifact=a)


def find(
    store: BaseStore, digest: str, also_artifacts: Sequence[str] = ()
) -> tuple[list[TraceMatch], int, _Finder]:
    """The records naming ``digest`` (producers newest first, else readers), and how many more.

    The reader is returned too: the lineage reuses the cells it read. Two indexed
    lookups (artifacts by digest, data rows by digest); each run and each session's
    cells are read once, and only for the records that will be shown.
    """
    uses = store.data_uses([digest])
    artifacts = store.artifacts(digests=[digest, *also_artifacts])
    producing = [u for u in uses if u.role in ("output", "logged")]
    # (when, how, record): sort first, then read runs and cells only for what is shown.
    found: list[tuple[float, str, DataUse | ArtifactRef]] = [
        (a.created.timestamp(), "artifact", a) for a in artifacts
    ]
    found += [(u.timestamp, u.role, u) for u in producing]
    if not found:
        found = [(u.timestamp, "input", u) for u in uses if u.role == "input"]
    found.sort(key=lambda t: (-t[0], _HOW_ORDER.get(t[1], 9)))
    finder = _Finder(store)
    out: list[TraceMatch] = []
    skipped = 0
    for _, _, rec in found:
        if len(out) >= MAX_MATCHES:
            break
        try:
            m = finder.from_artifact(rec) if isinstance(rec, ArtifactRef) else finder.from_use(rec)
        except RunNotFoundError:  # a record whose run is gone (a partial import): not shown
            m = None
        if m is None:
            skipped += 1
        else:
            out.append(m)
    return out, len(found) - len(out) - skipped, finder


def trace(path: str | os.PathLike[str], *, store: BaseStore | None = None) -> Trace:
    """Find the run or cell that produced a file, and the lineage behind it.

    The file is hashed by content (as notebook capture and artifacts hash files), so a
    copy anywhere, under any name, is found. See the module docstring for what is
    searched.

    Args:
        path: The file (or directory) to trace.
        store: Where to look (default: the process's current store).

    Returns:
        A :class:`Trace`: ``str()`` of it is the text ``tracker trace`` prints, ``found``
        says whether any record names the content, ``origin`` is the newest producer,
        ``lineage`` its lineage, ``files`` the data it started from.

    Raises:
        HashingError: The path does not exist or cannot be read.
        StoreUnavailableError: The store cannot be reached now.

    Example:
        >>> t = tracker.trace("/srv/models/model.joblib")  # doctest: +SKIP
        >>> print(t)  # doctest: +SKIP
    """
    ref = content_ref(path)
    st = store if store is not None else get_store()
    # A logged directory is recorded under its manifest's digest, not hash_directory's.
    manifest = [_directory_artifact_digest(ref.path)] if ref.kind == "directory" else []
    matches, more, finder = find(st, ref.digest, [d for d in manifest if d])
    origin = next((m for m in matches if m.produced), None)
    lin: Lineage | None = None
    if origin is not None and origin.cell is not None:
        cells = list(finder.session_cells(origin.cell.run_id).values())
        lin = lineage(origin.cell, store=st, session_cells=cells)
    elif origin is not None:
        lin = lineage(origin.run, store=st)
    return Trace(str(ref.path), ref, tuple(matches), more, lin)
