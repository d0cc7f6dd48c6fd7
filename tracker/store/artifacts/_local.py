"""Blobs in a directory of this machine: the default root, and any shared path.

The fast path for the 1 GB/s target: one pass reads the source, hashes it (xxh3-128 here,
SHA-256 on a second thread) and writes it to ``tmp/`` under the root; then the file is
flushed to disk (``fsync``), made read-only, and renamed to ``blobs/<2 hex>/<digest>``,
and the directory entry is flushed too. A blob therefore exists whole and durable, or not
at all; a crash leaves at most a file in ``tmp/``, which ``tracker gc`` removes.

Content stored before is not copied again, from any path or process: for files of 16 MiB
and more, a probe (the xxh3-128 of the size and the first MiB) is kept under ``probes/``
with the digest it led to. A file whose probe names a stored blob is first only hashed
(one read, no write); if the digests agree, nothing is written. A probe is a hint: a
wrong or stale one costs one extra read, never a wrong blob.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Final

from tracker.exceptions import ArtifactNotFoundError, StoreUnavailableError
from tracker.hashing import content_hasher
from tracker.store.artifacts._blob import BlobInfo, BlobStat, BlobStore, blob_key
from tracker.store.artifacts._engine import BUFFER, Digests, hash_stream

__all__ = ["LocalBlobStore"]

#: Bytes written between early writeback flushes (:class:`_EarlyWriteback`).
WRITEBACK_EVERY: Final = 128 * 1024 * 1024
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
#: Files at least this big get a probe (smaller ones are cheap to copy again).
PROBE_MIN: Final = 16 << 20
_PROBE_BYTES: Final = 1 << 20


class LocalBlobStore(BlobStore):
    """Blobs under a local (or mounted) directory.

    Args:
        root: The directory; created on first write.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)

    def _path(self, digest: str) -> Path:
        return self.root / blob_key(digest)

    def _unavailable(self, exc: OSError, doing: str) -> StoreUnavailableError:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        hint = (
            "free some space"
            if exc.errno == errno.ENOSPC
            else "check that it is mounted and writable"
        )
        return StoreUnavailableError(
            f"the artifact root {self.url} could not {doing} ({reason}); {hint}"
        )

    # --- writing -------------------------------------------------------------------------

    def put_stream(
        self, read_into: Callable[[memoryview], int | None], *, size_hint: int | None = None
    ) -> BlobInfo:
        """Copy and hash in one pass, then commit atomically (see the module docstring)."""
        info = self._write(read_into, size_hint, None, None)
        assert info is not None  # without a check, a write is always committed
        return info

    def _write(
        self,
        read_into: Callable[[memoryview], int | None],
        size_hint: int | None,
        source_fd: int | None,
        unchanged: Callable[[], bool] | None,
    ) -> BlobInfo | None:
        """Write a blob; ``None`` when ``unchanged()`` says the source moved under us."""
        try:
            tmp_dir = self.root / "tmp"
            tmp_dir.mkdir(parents=True, exist_ok=True)
            tmp = tmp_dir / f"{uuid.uuid4().hex}.part"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise self._unavailable(exc, "be written") from exc
        try:
            try:
                if size_hint:
                    _reserve(fd, size_hint)
                write = _writer(fd) if source_fd is None else _range_copier(source_fd, fd)
                early = _EarlyWriteback(fd, write)
                try:
                    digests = hash_stream(read_into, early.write, size_hint=size_hint)
                finally:
                    early.join()
                if size_hint and digests.size != size_hint:
                    os.ftruncate(fd, digests.size)  # the source changed size: drop the reserve
                os.fsync(fd)
            finally:
                os.close(fd)
            if unchanged is not None and not unchanged():
                tmp.unlink(missing_ok=True)
                return None
            return BlobInfo.of(digests, self._commit(tmp, digests))
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
                raise self._unavailable(exc, "be written") from exc
            raise

    def _copy_file(self, fh: IO[bytes], size: int) -> BlobInfo:
        """A file's bytes, hashed as read and copied by the kernel (no copy through Python).

        ``copy_file_range`` copies each region right after it was read and hashed, from
        the page cache; reading it through Python and writing it back costs the CPU about
        four times as much here. The kernel copies what the file holds at that moment, so
        the file must not change meanwhile: its size, mtime and ctime (which nothing can
        set back) are compared before and after, and a file that changed is copied again
        the slow way, which writes exactly the bytes it hashed.
        """
        fileno = fh.fileno()
        before = _identity(os.fstat(fileno))
        info = self._write(
            fh.readinto,  # type: ignore[attr-defined]
            size,
            fileno,
            lambda: _identity(os.fstat(fileno)) == before,
        )
        if info is not None:
            return info
        fh.seek(0)
        return self.put_stream(fh.readinto, size_hint=size)  # type: ignore[attr-defined]

    def _commit(self, tmp: Path, d: Digests) -> bool:
        """Move a written, flushed temporary file to its blob name; ``False`` if present."""
        final = self._path(d.xxh3)
        if final.exists():
            tmp.unlink(missing_ok=True)
            self.touch(d.xxh3)
            return False
        created_dirs = not final.parent.exists()
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, _READ_ONLY)  # the store's copy is never edited in place
        os.replace(tmp, final)  # atomic; a concurrent writer of the same content is harmless
        _fsync_dir(final.parent)
        if created_dirs:
            _fsync_dir(final.parent.parent)
        return True

    def _store_file(self, fh: IO[bytes], size: int) -> BlobInfo:
        """Hash-only first when a probe says the content is stored; else copy in one pass."""
        if size < PROBE_MIN:
            return self._copy_file(fh, size)
        head = fh.read(_PROBE_BYTES)
        probe = content_hasher()
        probe.update(f"{size}:".encode())
        probe.update(head)
        hint = self.root / "probes" / probe.hexdigest()
        fh.seek(0)
        try:
            known = hint.read_text(encoding="ascii").strip()
        except OSError:
            known = ""
        if len(known) == 32 and self.exists(known):
            found = hash_stream(fh.readinto, size_hint=size)  # type: ignore[attr-defined]
            if found.xxh3 == known:
                self.touch(known)
                return BlobInfo.of(found, created=False)
            fh.seek(0)  # a stale hint: copy after all
        info = self._copy_file(fh, size)
        with contextlib.suppress(OSError):  # only a hint: losing it costs a copy later
            hint.parent.mkdir(parents=True, exist_ok=True)
            tmp = hint.with_name(f".{uuid.uuid4().hex}.tmp")
            tmp.write_text(info.digest, encoding="ascii")
            os.replace(tmp, hint)
        return info

    def store_known(self, source: Path, digest: str) -> bool:
        """Copy a local file already hashed as ``digest`` (no second hashing)."""
        if self.exists(digest):
            self.touch(digest)
            return False
        with open(source, "rb", buffering=0) as fh:
            info = self.put_stream(fh.readinto, size_hint=os.fstat(fh.fileno()).st_size)
        return info.created

    # --- reading -------------------------------------------------------------------------

    def open(self, digest: str) -> IO[bytes]:
        """The blob's file, opened for reading (unbuffered: large reads go straight through)."""
        path = self._path(digest)
        try:
            return open(path, "rb", buffering=0)
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                f"blob {digest} is not in the artifact root {self.url}"
            ) from None

    def exists(self, digest: str) -> bool:
        """Whether the blob file exists."""
        return self._path(digest).is_file()

    def local_path(self, digest: str) -> Path | None:
        """The blob's path (read-only file), if it exists."""
        path = self._path(digest)
        return path if path.is_file() else None

    def list(self) -> Iterator[BlobStat]:
        """Every blob under ``blobs/``."""
        base = self.root / "blobs"
        if not base.is_dir():
            return
        for shard in os.scandir(base):
            if not shard.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(shard.path):
                if entry.is_file(follow_symlinks=False) and len(entry.name) == 32:
                    st = entry.stat(follow_symlinks=False)
                    yield BlobStat(entry.name, st.st_size, st.st_mtime)

    # --- housekeeping --------------------------------------------------------------------

    def delete(self, digest: str) -> None:
        """Remove the blob file."""
        self._path(digest).unlink(missing_ok=True)

    def touch(self, digest: str) -> None:
        """Set the blob's modification time to now (restarts ``gc``'s grace period)."""
        # A blob we cannot touch is still stored; gc's re-check covers the rest.
        with contextlib.suppress(OSError):
            os.utime(self._path(digest))

    def stale_temporaries(self, older_than_s: float) -> builtins.list[Path]:
        """Temporary files left by writers that died, older than ``older_than_s`` seconds."""
        tmp_dir = self.root / "tmp"
        if not tmp_dir.is_dir():
            return []
        cutoff = time.time() - older_than_s
        return [p for p in tmp_dir.iterdir() if p.is_file() and p.stat().st_mtime < cutoff]


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _reserve(fd: int, size: int) -> None:
    """Reserve a blob's space: a full disk fails now, and the file is laid out in one piece."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise  # ENOSPC above all
        # a filesystem without fallocate: the writes allocate as they go


def _range_copier(source: int, dest: int) -> Callable[[memoryview], None]:
    """A writer that has the kernel copy the region of ``source`` each chunk came from."""
    offset = 0
    fallback: Callable[[memoryview], None] | None = None

    def copy(chunk: memoryview) -> None:
        nonlocal offset, fallback
        n = len(chunk)
        done = 0
        while fallback is None and done < n:
            try:
                k = os.copy_file_range(source, dest, n - done, offset + done, offset + done)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                fallback = _writer(dest, offset + done)  # no kernel copy here: write it
                break
            if k == 0:
                raise OSError(errno.EIO, "the source ended before what was read from it")
            done += k
        if fallback is not None:
            fallback(chunk[done:])
        offset += n

    return copy


class _EarlyWriteback:
    """Start flushing a large blob to disk while the rest is still being hashed and copied.

    The kernel otherwise holds the written pages until the final ``fsync``, which then
    waits for the whole blob's writeback after all the hashing is done. An ``fdatasync``
    on a second thread every :data:`WRITEBACK_EVERY` bytes overlaps the disk's work with
    the CPU's; the final ``fsync`` still decides durability, so nothing is weaker.
    """

    def __init__(self, fd: int, write: Callable[[memoryview], None]) -> None:
        self._fd = fd
        self._write = write
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._error: OSError | None = None

    def write(self, chunk: memoryview) -> None:
        self._write(chunk)
        self._pending += len(chunk)
        if self._pending >= WRITEBACK_EVERY and (
            self._thread is None or not self._thread.is_alive()
        ):
            self._pending = 0
            self._thread = threading.Thread(target=self._sync, name="tracker-writeback")
            self._thread.start()

    def _sync(self) -> None:
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            self._error = exc

    def join(self) -> None:
        """Wait for the flush under way; its error (a full or failing disk) is raised here."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error


def _writer(fd: int, offset: int | None = None) -> Callable[[memoryview], None]:
    """Writes chunks in order (at ``offset`` on, when given; else at the file position)."""
    pos = offset

    def write(chunk: memoryview) -> None:
        nonlocal pos
        while chunk:
            if pos is None:
                n = os.write(fd, chunk[:BUFFER])
            else:
                n = os.pwrite(fd, chunk[:BUFFER], pos)
                pos += n
            chunk = chunk[n:]

    return write


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (network mounts) refuse to fsync a directory
    finally:
        os.close(fd)
