"""Records the database refused for good, kept beside the spool so that none is lost unseen.

The writer thread sets aside an op the database rejects (a bug of ours, a schema drift, a
value one backend cannot hold) instead of letting it block the ops behind it. It goes
to ``<spool dir>/rejected/``, one JSON-lines file per process, one record a line::

    {"time": 1796620000.5, "store": "<store identity>", "host": "...", "pid": 4242,
     "error": "the store ... refused a write or read: ...", "op": {"op": "set_params", ...}}

Everything about them is read from these files, so any process on the machine can see
them: the process that logged them (one warning, ``%track status``), ``tracker sync
--rejected`` (lists and retries them), and the Jupyter server (the panel's footer shows
the count for the store it reads).

Concurrency: the owner appends while holding the exclusive lock of the file's sidecar
``.<name>.lock`` (:mod:`tracker.store._lock`: ``flock`` on POSIX, ``LockFileEx`` on
Windows); a retry takes the same lock, writes what is left to a new file and renames it
over the old one, so the records file is never open while it is replaced (Windows
forbids that). A retry that leaves nothing removes both files; an appender that waited on
the lock of a sidecar removed in the meantime sees that its descriptor no longer matches
the path and locks the new one instead. Where the system has no file lock, appends and
retries go unlocked (a retry racing an append there could drop that one record).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker.exceptions import StoreUnavailableError
from tracker.store._lock import OPEN_FLAGS, close_lock, open_lock, wait_lock
from tracker.store.ops import Op, op_from_dict, op_to_dict

__all__ = [
    "COMMAND",
    "Refusals",
    "RejectedLog",
    "RejectedRecord",
    "count_rejected",
    "rejected_dir",
    "retry_rejected",
]

#: What to run to see and retry them (every message about rejected records names it).
COMMAND = "tracker sync --rejected"

log = logging.getLogger("tracker")
_SUFFIX = ".jsonl"


def rejected_dir(spool_dir: Path) -> Path:
    """Where the rejected records of a spool directory are kept."""
    return spool_dir / "rejected"


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """One record the database refused.

    Attributes:
        path: The file it is kept in.
        time: When it was refused (Unix seconds), if known.
        store: Identity (redacted URL) of the store that refused it, if known.
        error: What the database said.
        op: The op as a plain dict (``op_to_dict``); ``op["op"]`` names its kind.
    """

    path: Path
    time: float | None
    store: str | None
    error: str
    op: dict[str, Any]

    @property
    def kind(self) -> str:
        """The op's name (``create_run``, ``set_params``, ...)."""
        return str(self.op.get("op", "?"))

    @property
    def run_id(self) -> str | None:
        """The run it belongs to (``None`` for ops on several runs)."""
        rid = self.op.get("run_id")
        return str(rid) if rid is not None else None


def _encode(obj: Any) -> bytes:
    return (json.dumps(obj, separators=(",", ":"), allow_nan=True) + "\n").encode()


class RejectedLog:
    """This process's file of rejected records for one store (created on first use).

    Args:
        spool_dir: The spool directory; records go to its ``rejected/`` folder.
        identity: The store's identity (redacted URL), written with each record.
    """

    def __init__(self, spool_dir: Path, identity: str) -> None:
        self.directory = rejected_dir(spool_dir)
        self.identity = identity
        token = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.path = self.directory / f"{token}{_SUFFIX}"

    def add(self, op: Op, error: str) -> None:
        """Append one refused op with the database's error.

        Raises:
            OSError: the file could not be written.
        """
        self.add_document(op_to_dict(op), error)

    def add_document(self, op: dict[str, Any], error: str) -> None:
        """Append one record as its spooled document, for one this tracker cannot read.

        Raises:
            OSError: the file could not be written.
        """
        line = _encode(
            {
                "time": time.time(),
                "store": self.identity,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "error": error,
                "op": op,
            }
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        with _locked(self.path, create=True):
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | OPEN_FLAGS, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)


def _sidecar(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _files(spool_dir: Path | None) -> list[Path]:
    if spool_dir is None:
        return []
    d = rejected_dir(spool_dir)
    if not d.is_dir():
        return []
    return sorted(d.glob(f"*{_SUFFIX}"), key=lambda p: (p.stat().st_mtime, p.name))


def _read(path: Path) -> list[dict[str, Any]]:
    """The entries of one file; unreadable lines (a torn tail) are skipped."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    entries: list[dict[str, Any]] = []
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "op" in doc:
            entries.append(doc)
    return entries


def _matches(entry: dict[str, Any], identity: str | None) -> bool:
    # Records kept before they named their store count for every store.
    return identity is None or entry.get("store") in (None, identity)


def count_rejected(spool_dir: Path | None, identity: str | None = None) -> int:
    """How many refused records are kept for the store ``identity`` (all stores: ``None``)."""
    return sum(1 for path in _files(spool_dir) for e in _read(path) if _matches(e, identity))


def _record(path: Path, entry: dict[str, Any]) -> RejectedRecord:
    t = entry.get("time")
    op = entry.get("op")
    store = entry.get("store")
    return RejectedRecord(
        path=path,
        time=float(t) if isinstance(t, int | float) else None,
        store=str(store) if store is not None else None,
        error=str(entry.get("error", "")),
        op=dict(op) if isinstance(op, dict) else {"op": "?"},
    )


@contextlib.contextmanager
def _locked(path: Path, *, create: bool = False) -> Iterator[bool]:
    """Hold the exclusive lock of ``path``'s sidecar; yields whether ``path`` exists.

    Args:
        path: The records file.
        create: Create the sidecar if it is missing (an appender); a retry never
            creates one for a file that is gone.
    """
    lock = _sidecar(path)
    while True:
        try:
            fd = open_lock(lock, create=create or path.exists())
        except FileNotFoundError:
            yield False
            return
        try:
            locked = wait_lock(fd)
            # A retry removed this sidecar while we waited: lock the one now at the path.
            if not locked or _same_file(fd, lock):
                yield path.exists()
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    # A retry that left no records also removes the sidecar (still held: see close_lock).
    close_lock(fd, None if path.exists() else lock)


#: What became of one retried record: ``None`` if written, else the database's new error.
Outcome = tuple[RejectedRecord, str | None]


def retry_rejected(
    write: Callable[[list[Op]], None], spool_dir: Path | None, identity: str | None
) -> list[Outcome]:
    """Write each kept record again with ``write``; drop those that now succeed.

    Records are retried one at a time, oldest first within each file, so one that is
    still refused does not hold back the others. Those still refused are kept with the
    database's new error.

    Args:
        write: Writes ops in one transaction (``SQLStore.write``).
        spool_dir: The spool directory whose ``rejected/`` folder is read.
        identity: Only records refused by this store (``None``: every record).

    Returns:
        Each record with its outcome.

    Raises:
        StoreUnavailableError: the store cannot be reached; the records not retried yet
            are kept as they were.
    """
    outcomes: list[Outcome] = []
    for path in _files(spool_dir):
        with _locked(path) as exists:
            if not exists:
                continue
            kept: list[dict[str, Any]] = []
            down: StoreUnavailableError | None = None
            for entry in _read(path):
                if down is not None or not _matches(entry, identity):
                    kept.append(entry)
                    continue
                record = _record(path, entry)
                try:
                    write([op_from_dict(record.op)])
                except StoreUnavailableError as exc:
                    down = exc
                    kept.append(entry)
                    continue
                except (KeyError, TypeError, ValueError) as exc:
                    error = f"cannot read this record: {exc}"
                except Exception as exc:  # refused again: keep it with the new error
                    error = str(exc)
                else:
                    outcomes.append((record, None))
                    continue
                outcomes.append((record, error))
                kept.append({**entry, "error": error})
            _rewrite(path, kept)
            if down is not None:
                raise down
    return outcomes


def _rewrite(path: Path, entries: list[dict[str, Any]]) -> None:
    """Replace ``path`` by ``entries`` (or remove it), atomically, while its lock is held."""
    if not entries:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(b"".join(_encode(e) for e in entries))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Refusals:
    """One process's refused records: how many, the one warning, and the file keeping them.

    The writer thread of a :class:`~tracker.store.QueuedStore` owns one; a forked child
    gets a new one (it warns about its own refusals).

    Attributes:
        count: Records refused in this process.
        warned: How many the one warning covered.
        last: The database's last refusal, quoted by the warning.
    """

    def __init__(self, spool_dir: Path | None, identity: str) -> None:
        self.spool_dir = spool_dir
        self.identity = identity
        self.count = 0
        self.warned = 0
        self.last = ""
        self._log: RejectedLog | None = None

    def add(self, op: Op, exc: BaseException) -> None:
        """Count ``op`` as refused with ``exc`` and keep it in ``rejected/`` (if spooled)."""
        self.count += 1
        self.last = str(exc)
        if self.spool_dir is None:
            return
        if self._log is None:
            self._log = RejectedLog(self.spool_dir, self.identity)
        try:
            self._log.add(op, str(exc))
        except OSError as err:
            log.warning(
                "tracker: could not keep a refused record in %s (%s): %s", self._log.path, err, exc
            )

    def warn_once(self) -> None:
        """The process's one warning, at its first refusal: the count, and what to run."""
        if self.count and not self.warned:
            self.warned = self.count
            where = rejected_dir(self.spool_dir) if self.spool_dir else "memory (no spool dir)"
            log.warning(
                "tracker: the store refused %d record(s) (%s); they are kept in %s: "
                "`%s` lists them and retries",
                self.count,
                self.last,
                where,
                COMMAND,
            )

    @property
    def unreported(self) -> int:
        """Refused after the one warning was written (the exit line reports those)."""
        return self.count - self.warned
