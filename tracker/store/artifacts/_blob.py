"""The blob store contract: bytes named by their digest, written whole or not at all.

A blob store holds the bytes of artifacts under ``blobs/<2 hex>/<32 hex>`` below its
root, where the 32 hex digits are the xxh3-128 of the bytes. Nothing else ever becomes
part of a path: a digest is checked to be exactly 32 lowercase hex digits before it is
used (:func:`blob_key`), so no name, run id or request can reach outside the root.

Contract (every implementation; ``tests/test_artifacts_contract.py`` runs one suite on
each):

* ``put_stream``/``put_file``/``put_bytes`` compute the xxh3-128 and the SHA-256 in the
  same pass that stores the bytes (:mod:`._engine`) and return them in a :class:`BlobInfo`.
* A blob appears whole or not at all: bytes go to a temporary name first and are then
  renamed (a filesystem) or put in one atomic request (an object store).
* The same content stored twice is kept once; ``created`` says whether this call wrote it.
  A file stored again unchanged (same path, size, mtime and ctime) is not even read.
* ``open`` and ``local_path`` check nothing; ``verify`` reads the blob and compares it
  with the digests it was recorded with, raising
  :class:`~tracker.exceptions.IntegrityError` on any difference.
* Errors: :class:`~tracker.exceptions.ArtifactNotFoundError` for a missing blob,
  :class:`~tracker.exceptions.StoreUnavailableError` when the root cannot be reached now
  (retry later). Messages never show a credential.
* Implementations are thread-safe.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tracker.exceptions import IntegrityError
from tracker.store.artifacts._engine import Digests, hash_bytes, hash_stream
from tracker.store.validation import check_hex

__all__ = [
    "BlobInfo",
    "BlobStat",
    "BlobStore",
    "blob_key",
    "check_digests",
    "reader",
    "verify_file",
]

_CACHE_MAX = 4096


def blob_key(digest: str) -> str:
    """``blobs/<first 2 hex>/<digest>``: the only way a blob's path is made.

    Raises:
        ValidationError: ``digest`` is not 32 lowercase hex digits.
    """
    check_hex("blob digest (xxh3-128)", digest, 32)
    return f"blobs/{digest[:2]}/{digest}"


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """A stored blob.

    Attributes:
        digest: xxh3-128 hex (the blob's name).
        sha256: SHA-256 hex.
        size: Bytes.
        created: This call wrote it (``False``: the store already held the content).
    """

    digest: str
    sha256: str
    size: int
    created: bool

    @classmethod
    def of(cls, d: Digests, created: bool) -> BlobInfo:
        """From the digests of one pass."""
        return cls(d.xxh3, d.sha256, d.size, created)


@dataclass(frozen=True, slots=True)
class BlobStat:
    """One blob in a listing: digest, size and last modification (seconds since the epoch)."""

    digest: str
    size: int
    modified: float


# Files already stored, by identity: (real path, device, inode, size, mtime_ns, ctime_ns).
# ctime is in the key because nothing can set it back: a rewrite that restores size and
# mtime still changes it (the same reasoning as tracker.hashing's file cache).
_stored_lock = threading.Lock()
_stored: OrderedDict[tuple[Any, ...], Digests] = OrderedDict()


def _file_key(path: str, st: os.stat_result) -> tuple[Any, ...]:
    return (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class BlobStore(ABC):
    """Bytes by digest under one root (see the module docstring for the contract).

    Attributes:
        url: Where the root is, for messages (never with a credential).
    """

    url: str

    # --- writing -------------------------------------------------------------------------

    @abstractmethod
    def put_stream(
        self, read_into: Callable[[memoryview], int | None], *, size_hint: int | None = None
    ) -> BlobInfo:
        """Store everything ``read_into`` yields (``RawIOBase.readinto`` style), hashing it."""

    @abstractmethod
    def store_known(self, source: Path, digest: str) -> bool:
        """Store a local file already hashed as ``digest`` (a staged blob); ``True`` if new."""

    def put_file(self, path: str | os.PathLike[str]) -> BlobInfo:
        """Store a regular file's bytes (symbolic links followed)."""
        real = os.path.realpath(os.fspath(path))
        with open(real, "rb", buffering=0) as fh:
            before = os.fstat(fh.fileno())
            key = _file_key(real, before)
            with _stored_lock:
                known = _stored.get(key)
            if known is not None and self.exists(known.xxh3):
                self.touch(known.xxh3)
                return BlobInfo.of(known, created=False)
            info = self._store_file(fh, before.st_size)
            after = os.fstat(fh.fileno())
        if _file_key(real, after) == key and info.size == after.st_size:
            with _stored_lock:
                _stored[key] = Digests(info.digest, info.sha256, info.size)
                while len(_stored) > _CACHE_MAX:
                    _stored.popitem(last=False)
        return info

    def _store_file(self, fh: IO[bytes], size: int) -> BlobInfo:
        """Store an open file's bytes from its start (a hook for smarter stores)."""
        return self.put_stream(fh.readinto, size_hint=size)  # type: ignore[attr-defined]

    def put_bytes(self, data: bytes | bytearray | memoryview) -> BlobInfo:
        """Store bytes from memory (hashed first: content already stored is not written)."""
        d = hash_bytes(data)
        if self.exists(d.xxh3):
            self.touch(d.xxh3)
            return BlobInfo.of(d, created=False)
        view = memoryview(data).cast("B")
        pos = 0

        def read_into(buf: memoryview) -> int:
            nonlocal pos
            n = min(len(buf), len(view) - pos)
            buf[:n] = view[pos : pos + n]
            pos += n
            return n

        return self.put_stream(read_into, size_hint=len(view))

    # --- reading -------------------------------------------------------------------------

    @abstractmethod
    def open(self, digest: str) -> IO[bytes]:
        """The blob's bytes as a binary file object (unverified).

        Raises:
            ArtifactNotFoundError: no such blob.
        """

    @abstractmethod
    def exists(self, digest: str) -> bool:
        """Whether the blob is stored."""

    def local_path(self, digest: str) -> Path | None:
        """A path to the blob on this machine, for roots that have one (else ``None``)."""
        return None

    @abstractmethod
    def list(self) -> Iterator[BlobStat]:
        """Every blob, in no particular order."""

    def verify(
        self,
        digest: str,
        sha256: str,
        what: str,
        sink: Callable[[memoryview], object] | None = None,
    ) -> Digests:
        """Read the blob once and check both digests; pass its bytes to ``sink`` on the way.

        Args:
            digest: The recorded xxh3-128 (the blob's name).
            sha256: The recorded SHA-256.
            what: How an error names the artifact.
            sink: Receives the bytes (e.g. to return them or copy them) as they are read;
                the caller must discard them when this raises.

        Raises:
            IntegrityError: the bytes do not match (names the artifact and both digests).
            ArtifactNotFoundError: no such blob.
        """
        with self.open(digest) as fh:
            found = hash_stream(reader(fh), sink)
        check_digests(found, digest, sha256, what, f"{self.url}/{blob_key(digest)}")
        return found

    # --- housekeeping --------------------------------------------------------------------

    @abstractmethod
    def delete(self, digest: str) -> None:
        """Remove a blob (nothing happens when it is missing)."""

    def touch(self, digest: str) -> None:  # noqa: B027 - optional: object stores cannot
        """Mark a blob as just used, so ``gc``'s grace period starts again."""


def check_digests(found: Digests, digest: str, sha256: str, what: str, where: str) -> None:
    """Raise :class:`IntegrityError` unless ``found`` has both recorded digests."""
    if found.xxh3 != digest or found.sha256 != sha256:
        raise IntegrityError(what, {"xxh3-128": digest, "sha256": sha256}, found.as_dict(), where)


def verify_file(path: Path, digest: str, sha256: str, what: str) -> Digests:
    """Read a local file once and check both digests (see :meth:`BlobStore.verify`)."""
    with open(path, "rb", buffering=0) as fh:
        found = hash_stream(fh.readinto, size_hint=os.fstat(fh.fileno()).st_size)
    check_digests(found, digest, sha256, what, str(path))
    return found


def reader(fh: IO[bytes]) -> Callable[[memoryview], int | None]:
    """``readinto`` of a binary file object (emulated with ``read`` when it has none)."""
    readinto = getattr(fh, "readinto", None)
    if readinto is not None:
        return readinto  # type: ignore[no-any-return]

    def read_into(buf: memoryview) -> int:
        data = fh.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    return read_into
