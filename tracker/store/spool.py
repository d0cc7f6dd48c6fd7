"""The local spool: a per-process write-ahead log of ops, stored as a TinyDB database.

Every write from user code is appended here *before* the logging call returns, then
written to the store by a background thread. So a record whose call returned
survives a killed process (the append is a single ``write(2)`` to a file the kernel
keeps), and an unreachable store only means the spool grows until it answers.

Why not TinyDB's own ``JSONStorage``: it rewrites the whole file on every insert,
so each logging call would get slower the longer an outage lasts.
:class:`SpoolStorage` is a TinyDB storage (TinyDB's documented extension point)
that keeps the database as an append-only log of changes instead: appending a
record costs the same with ten pending records as with a million. Any TinyDB
code can open a spool file read/write::

    TinyDB(path, storage=SpoolStorage).table("ops").all()

File format (one JSON object per line)::

    {"spool": 1, "store": "<store identity>", "host": ..., "pid": ..., "created": ...}
    {"t": "ops", "+": 17, "d": {"seq": 17, "op": {...}}}      insert document 17
    {"t": "ops", "-": [[1, 16]]}                              delete ids 1..16

A process holds an exclusive lock on its spool's sidecar ``<token>.lock`` for its whole
life (taken before the spool file exists; :mod:`tracker.store._lock` says how, on each
OS). A spool whose lock can be taken belongs to a dead process: its pending ops are
replayed (idempotently) by the next process that opens the same store, or by ``tracker
sync``. Where the system has no file lock, a spool whose header names a process of this
host that no longer runs is taken as dead instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tinydb import Storage

from tracker.store._lock import OPEN_FLAGS, close_lock, open_lock, pid_alive, try_lock
from tracker.store.ops import Op, op_from_dict, op_to_dict

__all__ = [
    "Orphan",
    "Spool",
    "SpoolStorage",
    "find_orphans",
    "lock_path",
    "owner_is_alive",
    "read_pending",
    "read_spool",
]

TABLE = "ops"
SUFFIX = ".spool"
LOCK_SUFFIX = ".lock"
_COMPACT_BYTES = 1 << 20  # rewrite the file once it is this big and fully committed


# Built once: ``json.dumps`` with options builds a new encoder per call (see ``_codec``).
_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=True)
_LINE = _JSON.encode
_CANON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=True).encode
_C_ENCODER: Callable[..., Callable[[Any, int], Sequence[str]]] | None = getattr(
    json.encoder, "c_make_encoder", None
)
_OP_HEAD = '{"t":' + _LINE(TABLE) + ',"+":'


def _encode(obj: Any) -> bytes:
    return (_LINE(obj) + "\n").encode()


class _OpLines:
    """Spool lines of ops: ``_encode({"t": TABLE, "+": s, "d": {"seq": s, "op": op_to_dict(op)}})``.

    The same bytes, for less: ``JSONEncoder.encode`` sets up a new C encoder (and a closure)
    at every call, and the two wrapper dicts are encoded anew for each op. Here one C encoder
    serves a spool, called as ``encode`` calls it, and the wrapper is a format string. Used
    under the spool's lock only: the encoder's circular-reference markers are its own.
    """

    def __init__(self) -> None:
        self._markers: dict[int, Any] = {}
        self._c: Callable[[Any, int], Sequence[str]] | None = None
        with contextlib.suppress(TypeError):  # another C signature: ``_encode`` does it
            if _C_ENCODER is not None:
                self._c = _C_ENCODER(
                    self._markers,
                    _JSON.default,
                    json.encoder.encode_basestring_ascii,  # ensure_ascii, as _JSON
                    _JSON.indent,
                    _JSON.key_separator,
                    _JSON.item_separator,
                    _JSON.sort_keys,
                    _JSON.skipkeys,
                    _JSON.allow_nan,
                )

    def __call__(self, seq: int, op: Op) -> bytes:
        doc = op_to_dict(op)
        if self._c is None:
            return _encode({"t": TABLE, "+": seq, "d": {"seq": seq, "op": doc}})
        try:
            body = "".join(self._c(doc, 0))
        except BaseException:
            self._markers.clear()  # a pass that raised leaves its markers behind
            raise
        return f'{_OP_HEAD}{seq},"d":{{"seq":{seq},"op":{body}}}}}\n'.encode()


def _canon(doc: Any) -> str:
    return _CANON(doc)


def _ranges(ids: Sequence[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for i in sorted(ids):
        if out and out[-1][1] + 1 == i:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def _parse(path: Path) -> tuple[dict[str, Any] | None, dict[str, dict[int, Any]]]:
    """Header and tables of a spool file; a torn last line (killed mid-write) is ignored."""
    header: dict[str, Any] | None = None
    tables: dict[str, dict[int, Any]] = {}
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, {}
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # only the last line can be torn: appends are single writes
        if "spool" in entry:
            header = entry
            continue
        table = tables.setdefault(str(entry.get("t", TABLE)), {})
        if "+" in entry:
            table[int(entry["+"])] = entry["d"]
        elif "-" in entry:
            for lo, hi in entry["-"]:
                if hi - lo < len(table):
                    for i in range(int(lo), int(hi) + 1):
                        table.pop(i, None)
                else:
                    for i in [k for k in table if lo <= k <= hi]:
                        del table[i]
    return header, tables


class SpoolStorage(Storage):
    """TinyDB storage over an append-only spool file (see the module docstring)."""

    def __init__(
        self, path: str | os.PathLike[str], header: Mapping[str, Any] | None = None
    ) -> None:
        self._path = Path(path)
        # What the file holds, as canonical JSON per document: TinyDB mutates the dicts
        # it gets from read() in place, so only a serialised copy can show what changed.
        self._state: dict[str, dict[int, str]] | None = None
        if not self._path.exists():
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with open(self._path, "ab") as fh:
                fh.write(_encode({"spool": 1, **(header or {})}))

    def read(self) -> dict[str, dict[str, Any]] | None:
        """The database as TinyDB expects it: table -> str(doc id) -> document."""
        _, tables = _parse(self._path)
        self._state = {t: {k: _canon(v) for k, v in docs.items()} for t, docs in tables.items()}
        return {t: {str(k): v for k, v in docs.items()} for t, docs in tables.items()}

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        """Append the difference between ``data`` and the file's state."""
        if self._state is None:
            self.read()
        before = self._state or {}
        after: dict[str, dict[int, str]] = {}
        chunks: list[bytes] = []
        for table, docs in data.items():
            old = before.get(table, {})
            new = {int(k): _canon(v) for k, v in docs.items()}
            after[table] = new
            gone = [k for k in old if k not in new]
            if gone:
                chunks.append(_encode({"t": table, "-": _ranges(gone)}))
            for k, text in new.items():
                if old.get(k) != text:
                    chunks.append(_encode({"t": table, "+": k, "d": docs[str(k)]}))
        for table, old in before.items():
            if table not in data and old:
                chunks.append(_encode({"t": table, "-": _ranges(list(old))}))
        if chunks:
            with open(self._path, "ab") as fh:
                fh.write(b"".join(chunks))
        self._state = after

    def close(self) -> None:
        """Nothing to release: every write is already in the file."""


class Spool:
    """This process's spool for one store (thread-safe).

    Args:
        directory: Where spool files live.
        identity: The store's identity (redacted URL); replay goes only to the same store.
    """

    def __init__(self, directory: Path, identity: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        token = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.path = directory / f"{token}{SUFFIX}"
        self.lock_path = lock_path(self.path)
        self._header = {
            "spool": 1,
            "store": identity,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "created": time.time(),
        }
        # The lock before the spool file exists, so a scanner never mistakes a spool
        # being born for one whose owner died. Its name is new: nobody else can hold it
        # (``None``, no OS lock here: scanners then judge this process by its pid).
        self._lock_fd = open_lock(self.lock_path, create=True)
        try:
            try_lock(self._lock_fd)
            self._fd = os.open(
                self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | OPEN_FLAGS, 0o600
            )
            self._write(_encode(self._header))
        except BaseException:
            close_lock(self._lock_fd, self.lock_path)
            raise
        self._lock = threading.Lock()
        self._lines = _OpLines()
        self._next = 1
        self._pending = 0
        self._size = os.fstat(self._fd).st_size
        self.owner = f"{socket.gethostname()}:{self.path}"

    def _write(self, data: bytes) -> None:
        n = os.write(self._fd, data)
        if n == len(data):  # the usual case: one call, no view of the rest to make
            return
        view = memoryview(data)[n:]
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def append(self, ops: Sequence[Op]) -> list[int]:
        """Append ops durably; returns their sequence numbers."""
        with self._lock:
            seqs = list(range(self._next, self._next + len(ops)))
            data = b"".join(self._lines(s, op) for s, op in zip(seqs, ops, strict=True))
            self._write(data)  # one write(2): all of these ops or (if killed mid-call) a torn tail
            self._next += len(ops)
            self._pending += len(ops)
            self._size += len(data)
            return seqs

    def commit(self, seqs: Sequence[int]) -> None:
        """Mark ops as written to the store; compacts the file when nothing is pending."""
        if not seqs:
            return
        with self._lock:
            if self._fd < 0:
                # Closed under a writer that was still finishing a transaction (exit
                # gave up waiting): the file keeps these ops; replaying them is harmless.
                return
            self._pending -= len(seqs)
            if self._pending == 0 and self._size > _COMPACT_BYTES:
                os.ftruncate(self._fd, 0)
                self._size = 0
                self._write(_encode(self._header))
                self._size = os.fstat(self._fd).st_size
                return
            data = _encode({"t": TABLE, "-": _ranges(seqs)})
            self._write(data)
            self._size += len(data)

    @property
    def pending(self) -> int:
        """Ops appended and not yet committed."""
        with self._lock:
            return self._pending

    def close(self, *, delete: bool) -> None:
        """Release the lock; delete the file when everything was committed."""
        with self._lock:
            if self._fd < 0:
                return
            os.close(self._fd)  # first: Windows deletes no open file
            self._fd = -1
            deleted = False
            if delete and self._pending == 0:
                # Still locked: no scanner replays the file while it goes. Windows refuses
                # while another process reads it: then the next sweep removes it.
                with contextlib.suppress(OSError):
                    self.path.unlink(missing_ok=True)
                    deleted = True
            # A spool left with pending ops keeps its lock file: the next process to take
            # that lock knows this one is gone and replays them.
            close_lock(self._lock_fd, self.lock_path if deleted else None)
            self._lock_fd = -1

    def abandon_after_fork(self) -> None:
        """In a forked child: drop the descriptors without unlocking the parent's spool."""
        # Closing a duplicate does not release the parent's flock; unlocking it would.
        for fd in (self._fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock_fd = -1


def read_spool(
    path: Path,
) -> tuple[dict[str, Any] | None, list[Op], list[tuple[dict[str, Any], str]]]:
    """Header, not-yet-committed ops in order, and the documents that are not ops we know.

    An unreadable document (written by a newer tracker with a field this one lacks, or
    damaged) is not fatal to the others; it is returned with why, so the caller can set
    it aside where it is seen (:mod:`tracker.store.rejected`) instead of losing it.
    """
    header, tables = _parse(path)
    docs = tables.get(TABLE, {})
    ops: list[Op] = []
    unreadable: list[tuple[dict[str, Any], str]] = []
    for seq in sorted(docs):
        doc = docs[seq]
        try:
            ops.append(op_from_dict(doc["op"]))
        except (KeyError, TypeError, ValueError) as exc:
            raw = doc.get("op") if isinstance(doc, dict) else None
            kept = dict(raw) if isinstance(raw, dict) else {"op": "?", "document": doc}
            unreadable.append((kept, f"this tracker cannot read the spooled record: {exc}"))
    return header, ops, unreadable


def read_pending(path: Path) -> tuple[dict[str, Any] | None, list[Op]]:
    """Header and the not-yet-committed ops of a spool file that this tracker can read."""
    header, ops, _ = read_spool(path)
    return header, ops


def lock_path(spool: Path) -> Path:
    """The sidecar file whose lock proves the owner of ``spool`` alive."""
    return spool.with_suffix(LOCK_SUFFIX)


def _dead_by_pid(header: Mapping[str, Any] | None) -> bool:
    """Without an OS lock: the header names a process of this host that no longer runs."""
    if header is None or header.get("host") != socket.gethostname():
        return False  # another host (or an unreadable header): this machine cannot tell
    pid = header.get("pid")
    return isinstance(pid, int) and not pid_alive(pid)


class Orphan:
    """A dead process's spool, held (locked) by this process until :meth:`release`."""

    def __init__(self, path: Path, lock_fd: int | None) -> None:
        self.path = path
        self._lock_fd = lock_fd

    def release(self) -> None:
        """Let go of the spool; its lock file goes with it once the spool is gone."""
        if self._lock_fd is None:
            if not self.path.exists():
                lock_path(self.path).unlink(missing_ok=True)
            return
        gone = not self.path.exists()
        close_lock(self._lock_fd, lock_path(self.path) if gone else None)
        self._lock_fd = None


def _claim(path: Path) -> Orphan | None:
    """Hold ``path``'s lock if its owner is dead; ``None`` if it lives (or may)."""
    try:
        fd: int | None = open_lock(lock_path(path), create=False)
    except FileNotFoundError:
        fd = None  # written by a version that locked the spool itself: ask its pid
    except OSError:
        return None
    held = try_lock(fd) if fd is not None else None
    if held is False:
        assert fd is not None
        os.close(fd)  # alive: its owner holds the lock
        return None
    if held is None and not _dead_by_pid(_parse(path)[0]):
        if fd is not None:
            os.close(fd)
        return None
    return Orphan(path, fd)


def find_orphans(directory: Path, identity: str) -> Iterator[Orphan]:
    """Spool files for ``identity`` whose owner died, each held until released.

    The caller replays the file, deletes it, then calls :meth:`Orphan.release`.
    """
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        orphan = _claim(path)
        if orphan is None:
            continue
        header, _ = _parse(path)
        if header is None:
            # Its owner died before writing the header (the lock is ours): nothing to keep.
            path.unlink(missing_ok=True)
        if header is None or header.get("store") != identity:
            orphan.release()
            continue
        yield orphan


def owner_is_alive(owner: str | None) -> bool | None:
    """Whether the process that wrote ``owner`` (``"<host>:<spool path>"``) is alive.

    Returns ``None`` when this machine cannot tell (another host, or no owner).
    """
    if not owner or ":" not in owner:
        return None
    host, _, path = owner.partition(":")
    if host != socket.gethostname():
        return None
    spool = Path(path)
    try:
        fd = open_lock(lock_path(spool), create=False)
    except FileNotFoundError:
        if not spool.exists():
            return False  # a live process keeps its spool file until it exits
        return not _dead_by_pid(_parse(spool)[0])
    except OSError:
        return None
    try:
        held = try_lock(fd)
    finally:
        os.close(fd)  # releases the lock if we took it
    if held is None:
        return not _dead_by_pid(_parse(spool)[0])
    return not held
