"""Bytes, files and directories.

Bytes and files hash as the plain xxh3-128 of their content, so a file and its content
as ``bytes`` agree (and match ``xxhsum -H2``). A directory hashes a sorted manifest of
relative paths, sizes and file digests. File digests are cached in-process, keyed by
path, device, inode, size, mtime and ctime, so an unchanged file is never read twice.
"""

from __future__ import annotations

import os
import stat
import threading
from collections import OrderedDict
from typing import Any, Final

import xxhash

from tracker.exceptions import HashingError
from tracker.records import DataRef

from ._digest import (
    _PROFILE_MAX_ITEMS,
    _U64,
    ALGORITHM,
    SCHEME,
    _blob,
    _iso_ns,
    _text,
)

# File read size: large enough to amortise syscalls, small enough to stay cached.
_READ_SIZE: Final = 1 << 20
_FILE_CACHE_MAX: Final = 65536


def hash_file(path: str | os.PathLike[str], *, profile: bool = True) -> DataRef:
    """Hash a regular file by its full content.

    The digest is the plain xxh3-128 of the bytes (equal to ``hash_data(content)``
    and to ``xxhsum -H2``). Symbolic links are followed. Results are cached
    in-process by (resolved path, device, inode, size, mtime_ns, ctime_ns); see
    :func:`file_cache_info` and ``docs/hashing.md`` for the cache's limits.

    Args:
        path: The file.
        profile: Add ``size``, ``mtime`` and ``mtime_ns`` to the profile.

    Returns:
        A :class:`DataRef` of kind ``"file"`` whose ``path`` is absolute.

    Raises:
        HashingError: The path does not exist, is not a regular file, cannot be read,
            or kept changing while it was read.
    """
    abspath = os.path.abspath(os.fspath(path))
    st = _stat(abspath)
    if stat.S_ISDIR(st.st_mode):
        raise HashingError(
            f"{abspath} is a directory; use hash_directory() (hash_data() accepts both)"
        )
    if not stat.S_ISREG(st.st_mode):
        raise HashingError(
            f"{abspath} is not a regular file (a FIFO, socket or device): its content "
            "cannot be hashed"
        )
    digest, st = _file_digest(os.path.realpath(abspath))
    prof: dict[str, Any] | None = None
    if profile:
        prof = {"size": st.st_size, "mtime": _iso_ns(st.st_mtime_ns), "mtime_ns": st.st_mtime_ns}
    return DataRef(
        algorithm=ALGORITHM,
        digest=digest,
        kind="file",
        nbytes=st.st_size,
        path=abspath,
        profile=prof,
    )


def hash_directory(path: str | os.PathLike[str], *, profile: bool = True) -> DataRef:
    """Hash a directory tree by a sorted manifest of its content.

    The manifest has one entry per file, subdirectory and symbolic link, keyed by
    its path relative to ``path`` (``/``-separated, so the directory's own name and
    location do not matter). A file entry holds the file's size and digest (via the
    :func:`hash_file` cache). Hidden files are included. A symbolic link to a file is
    hashed as that file's content; a link to a directory, or a broken link, is
    recorded by its target text and not followed (this avoids cycles). FIFOs,
    sockets and devices are recorded by name only and make the hash partial.

    Args:
        path: The directory.
        profile: Add file/directory/link counts, total bytes and, for up to 256 files,
            each file's short digest.

    Returns:
        A :class:`DataRef` of kind ``"directory"`` whose ``path`` is absolute.

    Raises:
        HashingError: The path is missing, not a directory, or cannot be read.
    """
    root = os.path.abspath(os.fspath(path))
    st = _stat(root)
    if not stat.S_ISDIR(st.st_mode):
        raise HashingError(f"{root} is not a directory; use hash_file() for files")
    real_root = os.path.realpath(root)
    entries: list[tuple[bytes, bytes]] = []
    files: dict[str, str] = {}
    n_files = n_dirs = n_links = total = 0
    special: list[str] = []
    # (relative path, real path) of directories still to list; we never descend through
    # a symlink, so real paths are built by joining names to the resolved root.
    stack: list[tuple[str, str]] = [("", real_root)]
    while stack:
        rel_dir, real_dir = stack.pop()
        try:
            with os.scandir(real_dir) as it:
                listing = list(it)
        except OSError as exc:
            raise _os_error(exc, os.path.join(root, rel_dir)) from exc
        for entry in listing:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            rel_b = os.fsencode(rel)
            try:
                if entry.is_symlink():
                    if entry.is_file():  # follows the link: hash the target's content
                        digest, fst = _file_digest(os.path.realpath(entry.path))
                        entries.append((rel_b, _file_record(rel_b, fst.st_size, digest)))
                        files[rel] = digest
                        n_files += 1
                        total += fst.st_size
                    else:  # a link to a directory, or a broken link: record the target
                        target = os.fsencode(os.readlink(entry.path))
                        entries.append((rel_b, b"L" + _blob(rel_b) + _blob(target)))
                        n_links += 1
                elif entry.is_dir(follow_symlinks=False):
                    entries.append((rel_b, b"d" + _blob(rel_b)))
                    stack.append((rel, entry.path))
                    n_dirs += 1
                elif entry.is_file(follow_symlinks=False):
                    digest, fst = _file_digest(entry.path)
                    entries.append((rel_b, _file_record(rel_b, fst.st_size, digest)))
                    files[rel] = digest
                    n_files += 1
                    total += fst.st_size
                else:
                    entries.append((rel_b, b"x" + _blob(rel_b)))
                    special.append(rel)
            except OSError as exc:
                raise _os_error(exc, os.path.join(root, rel)) from exc
    entries.sort()
    h = xxhash.xxh3_128(SCHEME)
    h.update(_text("directory"))
    h.update(_U64.pack(len(entries)))
    for _, record in entries:
        h.update(record)
    reason = None
    if special:
        reason = (
            f"{len(special)} special file(s) (FIFO, socket or device) recorded by name "
            f"only, e.g. {special[0]!r}"
        )
    prof: dict[str, Any] | None = None
    if profile:
        prof = {"n_files": n_files, "n_dirs": n_dirs, "n_links": n_links, "total_bytes": total}
        if n_files <= _PROFILE_MAX_ITEMS:
            prof["files"] = {k: files[k][:12] for k in sorted(files)}
    if reason:
        prof = {**(prof or {}), "partial_reason": reason}
    return DataRef(
        algorithm=ALGORITHM,
        digest=str(h.hexdigest()),
        kind="directory",
        nbytes=total,
        partial=reason is not None,
        path=root,
        profile=prof,
    )


def file_cache_info() -> dict[str, int]:
    """Counters of the in-process file digest cache.

    Returns:
        ``hits`` (digests served from the cache), ``reads`` (files actually read and
        hashed), ``bytes_read`` and ``size`` (entries currently cached).
    """
    with _CACHE_LOCK:
        return {**_CACHE_COUNTS, "size": len(_FILE_CACHE)}


def clear_file_cache() -> None:
    """Forget every cached file digest and reset the counters."""
    with _CACHE_LOCK:
        _FILE_CACHE.clear()
        for k in _CACHE_COUNTS:
            _CACHE_COUNTS[k] = 0


def _hash_bytes(obj: bytes | bytearray | memoryview, *, profile: bool) -> DataRef:
    mv = memoryview(obj)
    buf: bytes | memoryview = mv.cast("B") if mv.c_contiguous else mv.tobytes()
    n = len(buf)
    return DataRef(
        algorithm=ALGORITHM,
        digest=str(xxhash.xxh3_128(buf).hexdigest()),
        kind="bytes",
        nbytes=n,
        profile={"size": n} if profile else None,
    )


def _hash_path(path: str | os.PathLike[Any], *, profile: bool) -> DataRef:
    p = os.fspath(path)
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    abspath = os.path.abspath(p)
    st = _stat(abspath)
    if stat.S_ISDIR(st.st_mode):
        return hash_directory(abspath, profile=profile)
    return hash_file(abspath, profile=profile)


def _stat(abspath: str) -> os.stat_result:
    try:
        return os.stat(abspath)
    except FileNotFoundError as exc:
        raise HashingError(f"no file or directory at {abspath}") from exc
    except OSError as exc:
        raise _os_error(exc, abspath) from exc


def _os_error(exc: OSError, path: str) -> HashingError:
    if isinstance(exc, FileNotFoundError):
        return HashingError(f"{path} disappeared while it was being hashed")
    if isinstance(exc, PermissionError):
        return HashingError(f"cannot read {path}: permission denied")
    return HashingError(f"cannot read {path}: {exc.strerror or exc}")


_CACHE_LOCK = threading.Lock()
_FILE_CACHE: OrderedDict[tuple[Any, ...], str] = OrderedDict()
_CACHE_COUNTS: dict[str, int] = {"hits": 0, "reads": 0, "bytes_read": 0}


def _cache_key(real: str, st: os.stat_result) -> tuple[Any, ...]:
    # ctime is in the key because it cannot be set back by os.utime(): a rewrite that
    # restores size and mtime still changes it (on filesystems that keep it).
    return (real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _file_digest(real: str) -> tuple[str, os.stat_result]:
    """The digest of a resolved file path, from the cache when its stat is unchanged."""
    try:
        st = os.stat(real)
    except OSError as exc:
        raise _os_error(exc, real) from exc
    key = _cache_key(real, st)
    with _CACHE_LOCK:
        hit = _FILE_CACHE.get(key)
        if hit is not None:
            _FILE_CACHE.move_to_end(key)
            _CACHE_COUNTS["hits"] += 1
            return hit, st
    for _ in range(3):
        try:
            with open(real, "rb", buffering=0) as f:
                before = os.fstat(f.fileno())
                h = xxhash.xxh3_128()
                # readinto a reused buffer, not mmap: a file truncated by another
                # process while mapped would kill the kernel with SIGBUS.
                buf = memoryview(bytearray(_READ_SIZE))
                read = 0
                while n := f.readinto(buf):
                    h.update(buf[:n])
                    read += n
                after = os.fstat(f.fileno())
        except OSError as exc:
            raise _os_error(exc, real) from exc
        with _CACHE_LOCK:
            _CACHE_COUNTS["reads"] += 1
            _CACHE_COUNTS["bytes_read"] += read
        if _cache_key(real, before) == _cache_key(real, after) and read == after.st_size:
            digest = str(h.hexdigest())
            with _CACHE_LOCK:
                _FILE_CACHE[_cache_key(real, after)] = digest
                while len(_FILE_CACHE) > _FILE_CACHE_MAX:
                    _FILE_CACHE.popitem(last=False)
            return digest, after
    raise HashingError(
        f"{real} kept changing while it was being hashed (3 attempts); "
        "hash it once it is no longer being written"
    )


def _file_record(rel: bytes, size: int, digest: str) -> bytes:
    return b"f" + _blob(rel) + _U64.pack(size) + bytes.fromhex(digest)
