"""Artifacts waiting to reach their root: staged blobs and the records that wait for them.

When the root is remote (or cannot be reached, or is not known yet because the database
that records it is down), a logged artifact is first copied and hashed into the local
staging area, ``<spool dir>/artifacts/``, like any record goes to the spool. The call
returns once the blob is there (flushed to disk) and its pending record is written beside
it (``pending/<record id>.json``: which blobs to upload, then which record to write). A
background thread uploads the blobs, then writes the record through the store, then
deletes the pending file: so a record never names a blob the root does not hold, and a
crash at any point leaves either the pending file (done again, idempotently) or nothing.

Pending files of any process are picked up by any later process that opens the same
store, or by ``tracker sync``; a file lock on each pending file keeps two processes from
uploading the same one at once. One that can never succeed (its staged blob is gone and
the root lacks it) is moved to ``rejected/`` with the reason, and logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tracker.exceptions import ArtifactNotFoundError
from tracker.store._lock import OPEN_FLAGS, try_lock
from tracker.store.artifacts._blob import BlobStore
from tracker.store.artifacts._local import LocalBlobStore, _fsync_dir
from tracker.store.ops import LogArtifact, Op, op_from_dict, op_to_dict

__all__ = ["Staging"]

log = logging.getLogger("tracker")


class Staging:
    """The staging area of one store (thread- and process-safe).

    Args:
        directory: ``<spool dir>/artifacts``.
        identity: The store's identity (redacted URL): pending records go to that store only.
    """

    def __init__(self, directory: Path, identity: str) -> None:
        self.directory = directory
        self.identity = identity
        self.blobs = LocalBlobStore(directory)
        self._pending = directory / "pending"
        self._rejected = directory / "rejected"

    def stage(self, blobs: Sequence[str], op: LogArtifact) -> None:
        """Record that ``op`` waits for ``blobs`` (already staged) to reach the root."""
        self._pending.mkdir(parents=True, exist_ok=True)
        doc = {"store": self.identity, "blobs": list(blobs), "op": op_to_dict(op)}
        final = self._pending / f"{op.id}.json"
        tmp = self._pending / f".{op.id}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        _fsync_dir(self._pending)

    def _docs(self) -> Iterator[tuple[Path, dict[str, object]]]:
        if not self._pending.is_dir():
            return
        for path in sorted(self._pending.glob("*.json")):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # being written or already gone
            if isinstance(doc, dict) and doc.get("store") == self.identity:
                yield path, doc

    def pending(self) -> list[Path]:
        """This store's pending records, oldest name first."""
        return [p for p, _ in self._docs()]

    def staged_digests(self) -> set[str]:
        """Digests some pending record (of any store) still needs."""
        if not self._pending.is_dir():
            return set()
        out: set[str] = set()
        for path in self._pending.glob("*.json"):
            with contextlib.suppress(OSError, ValueError, TypeError):
                out.update(json.loads(path.read_text(encoding="utf-8")).get("blobs", []))
        return out

    def process(self, path: Path, root: BlobStore, write: Callable[[Sequence[Op]], None]) -> bool:
        """Upload one pending record's blobs, write the record, drop the pending file.

        Returns:
            ``True`` when the record is done (here or by another process), ``False`` when
            another process is working on it right now.

        Raises:
            StoreUnavailableError: the root cannot be reached (the record stays pending).
        """
        try:
            fd = os.open(path, os.O_RDONLY | OPEN_FLAGS)
        except FileNotFoundError:
            return True
        done = False
        try:
            # No OS lock here (None): two processes may both do it; the upload is by
            # content and the record's write is idempotent, so that costs only time.
            if try_lock(fd) is False:
                return False
            if os.fstat(fd).st_nlink == 0:
                return True  # finished by another process while we waited
            with os.fdopen(os.dup(fd), encoding="utf-8") as fh:
                doc = json.load(fh)
            try:
                op = op_from_dict(doc["op"])
                self._upload(doc["blobs"], root)
            except (ArtifactNotFoundError, KeyError, TypeError, ValueError) as exc:
                self._reject(path, doc, exc)
                return True
            write([op])
            # Removed while still locked where the OS allows it (POSIX), so a waiter sees
            # it gone; Windows refuses to delete an open file: there, right after the close.
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            done = True
        finally:
            os.close(fd)
        if done:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        self._drop_unneeded(doc.get("blobs", []))
        return True

    def _upload(self, digests: Sequence[str], root: BlobStore) -> None:
        for digest in digests:
            source = self.blobs.local_path(digest)
            if source is not None:
                root.store_known(source, digest)
            elif not root.exists(digest):
                raise ArtifactNotFoundError(
                    f"staged blob {digest} is gone from {self.directory} and the artifact root "
                    f"{root.url} does not hold it; log the artifact again"
                )

    def _reject(self, path: Path, doc: dict[str, object], exc: Exception) -> None:
        self._rejected.mkdir(parents=True, exist_ok=True)
        doc = {**doc, "error": f"{type(exc).__name__}: {exc}", "rejected": time.time()}
        (self._rejected / path.name).write_text(json.dumps(doc), encoding="utf-8")
        path.unlink(missing_ok=True)
        log.warning("tracker: a staged artifact record cannot be completed: %s", exc)

    def _drop_unneeded(self, digests: Sequence[str]) -> None:
        """Delete staged blobs that no pending record needs any more."""
        needed = self.staged_digests()
        for digest in digests:
            if digest not in needed:
                with contextlib.suppress(OSError, ValueError):
                    self.blobs.delete(digest)
