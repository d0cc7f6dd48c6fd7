"""Content hashes of data: arrays, data frames, series, bytes, files and directories.

:func:`hash_data` turns a piece of data into a :class:`~tracker.records.DataRef`: an
xxh3-128 digest of the *full* content (never a sample), plus the shape, dtypes, row
and null counts, and a small profile used to explain differences between versions.

What goes into a digest (``docs/hashing.md`` has the full recipe):

* Arrays: dtype (byte order normalised), shape, and the values in C order as
  little-endian bytes. Views, non-contiguous and Fortran-ordered arrays hash like
  their C-contiguous copy. Every NaN hashes as the canonical quiet NaN, so NaNs
  produced by different CPUs agree; ``-0.0`` and ``0.0`` stay different.
* Data frames and series: row count, column labels in order, the index (a
  ``RangeIndex`` by its first value, step and length), each column's dtype and
  values. Nullable extension arrays hash their NA mask; object columns hash each
  value with a type tag. A value that cannot be hashed deterministically (an
  arbitrary Python object) contributes only its type name and sets ``partial``.
* Bytes and files: the plain xxh3-128 of the bytes, so a file and its content as
  ``bytes`` have the same digest (and it matches ``xxhsum -H2``). A directory hashes
  a sorted manifest of relative paths, sizes and file digests.

Large arrays and frames are hashed in 16 MiB segments on a small thread pool (xxhash
and numpy release the GIL); the digest does not depend on the number of threads.
File digests are cached in-process, keyed by path, device, inode, size, mtime and
ctime, so an unchanged file is never read twice.

Every function here is thread-safe.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import fractions
import functools
import importlib
import math
import os
import stat
import struct
import sys
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import xxhash

from tracker.exceptions import HashingError, ValidationError
from tracker.records import DataRef, float_to_json

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "ALGORITHM",
    "SCHEME",
    "clear_file_cache",
    "file_cache_info",
    "hash_data",
    "hash_directory",
    "hash_file",
    "hash_source",
    "is_hashable_data",
]

#: The value of :attr:`DataRef.algorithm` for every digest made here.
ALGORITHM: Final = "xxh3-128"
#: Prefix of every structured digest. Bump it whenever the recipe changes, so old and
#: new digests can never be mistaken for each other (the golden tests pin it).
SCHEME: Final = b"tracker.hashing/1\x00"

# Leaf size of the segment tree over a value buffer. Fixed: it is part of the digest.
_SEGMENT: Final = 1 << 24
# Working chunk inside a segment: small enough to stay in cache between the hash and
# the reductions (NaN check, min/max, sum) that run over the same bytes, large enough
# that the ~7 us of Python per chunk stays small next to the ~80 us of work.
_CHUNK: Final = 1 << 20
# Object columns are encoded this many values at a time (bounds the temporary lists).
_OBJ_CHUNK: Final = 1 << 16
# Below this many bytes the thread pool costs more than it saves.
_PARALLEL_MIN_BYTES: Final = 1 << 24
# Nested containers inside object columns deeper than this are not followed.
_MAX_DEPTH: Final = 64
# How many columns (or directory files) the profile describes one by one.
_PROFILE_MAX_ITEMS: Final = 256
# File read size: large enough to amortise syscalls, small enough to stay cached.
_READ_SIZE: Final = 1 << 20
_FILE_CACHE_MAX: Final = 65536

# Profile levels: identity only, the default (what the mandatory passes give, plus
# cheap extras), and full (exact float min/max too, about 30% slower).
_NO_PROFILE: Final = 0
_DEFAULT_PROFILE: Final = 1
_FULL_PROFILE: Final = 2

_NAT: Final = int(np.iinfo(np.int64).min)
_I64_MAX: Final = int(np.iinfo(np.int64).max)
_BIG_ENDIAN_HOST: Final = sys.byteorder == "big"
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")

# Tags of values in object columns (one byte each; see _encode_object).
_T_STR: Final = ord("s")
_T_NONE: Final = ord("N")
_T_NAN: Final = ord("F")
_T_NA: Final = ord("A")
_T_NAT: Final = ord("T")
_T_BOOL: Final = ord("b")
_T_INT: Final = ord("i")
_T_FLOAT: Final = ord("f")
_T_COMPLEX: Final = ord("c")
_T_BYTES: Final = ord("y")
_T_NPSCALAR: Final = ord("g")
_T_DATETIME: Final = ord("d")
_T_DATE: Final = ord("D")
_T_TIME: Final = ord("t")
_T_TIMEDELTA: Final = ord("e")
_T_DECIMAL: Final = ord("m")
_T_FRACTION: Final = ord("r")
_T_UUID: Final = ord("U")
_T_ENUM: Final = ord("n")
_T_PATH: Final = ord("p")
_T_TUPLE: Final = ord("u")
_T_LIST: Final = ord("l")
_T_DICT: Final = ord("o")
_T_SET: Final = ord("S")
_T_ARRAY: Final = ord("a")
_T_PANDAS: Final = ord("P")
_T_PANDAS_SCALAR: Final = ord("q")
_T_OPAQUE: Final = ord("?")
_NULL_TAGS: Final = frozenset({_T_NONE, _T_NAN, _T_NA, _T_NAT})


# --------------------------------------------------------------------------- public API


def hash_data(obj: object, *, profile: bool | Literal["full"] = True) -> DataRef:
    """Hash a piece of data by its full content.

    Args:
        obj: A numpy ``ndarray``, a pandas ``DataFrame`` or ``Series``, ``bytes``,
            ``bytearray`` or ``memoryview``, or the path of a file or directory as an
            ``os.PathLike`` or a ``str``. A ``str`` is taken as a path and must name an
            existing file or directory; it is never hashed as text (a mistyped path
            would otherwise silently hash the typo). Hash text as ``text.encode()``.
        profile: What summary to compute besides the digest. ``True`` (the default)
            gives what costs (almost) nothing on top of hashing: per-column digests,
            the mean of float and bool columns, min/max/mean of integer columns,
            min/max of datetime columns, file sizes. ``"full"`` adds the exact
            min/max of float columns (two more passes over the data, about 30%
            slower). ``False`` computes no profile: only the identity fields and
            null counts (the profile then holds only ``partial_reason`` when the
            hash is partial).

    Returns:
        A :class:`DataRef` with ``algorithm="xxh3-128"``.

    Raises:
        HashingError: The object's type is not supported (the message names it), a
            path does not exist or cannot be read, or the content cannot be read.
        ValidationError: ``profile`` is not ``True``, ``False`` or ``"full"``.
    """
    level = _profile_level(profile)
    try:
        if isinstance(obj, bytes | bytearray | memoryview):
            return _hash_bytes(obj, profile=level > 0)
        if isinstance(obj, np.ndarray):
            return _hash_ndarray(obj, profile=level, parallel=True)
        if "pandas" in sys.modules:
            import pandas as pd

            if isinstance(obj, pd.DataFrame):
                return _hash_frame(obj, profile=level, parallel=True)
            if isinstance(obj, pd.Series):
                return _hash_series(obj, profile=level, parallel=True)
    except (TypeError, ValueError, RecursionError) as exc:
        # numpy/pandas raise these for exotic inputs; callers only need to catch ours.
        raise HashingError(f"cannot hash {_type_name(obj)}: {exc}") from exc
    if isinstance(obj, str):
        if not os.path.lexists(obj):
            raise HashingError(
                f"hash_data() got the str {obj!r}, which names no existing file or directory "
                f"(relative to {os.getcwd()!r}). A str is always taken as a path; to hash "
                "text, pass text.encode()."
            )
        return _hash_path(obj, profile=level > 0)
    if isinstance(obj, os.PathLike):
        return _hash_path(obj, profile=level > 0)
    raise HashingError(
        f"cannot hash an object of type {_type_name(obj)}: hash_data() takes a numpy "
        "ndarray, a pandas DataFrame or Series, bytes/bytearray/memoryview, or the path "
        "of a file or directory"
    )


def is_hashable_data(obj: object) -> bool:
    """Whether ``obj`` is data-like: a numpy array, a pandas DataFrame or Series.

    Cheap (a few ``isinstance`` checks, no import of pandas); the notebook hook uses
    it to decide which variables to hash.

    Args:
        obj: Any object.

    Returns:
        ``True`` for ``numpy.ndarray`` (and subclasses), ``pandas.DataFrame`` and
        ``pandas.Series``.
    """
    if isinstance(obj, np.ndarray):
        return True
    if "pandas" not in sys.modules:
        return False  # pandas not imported, so obj cannot be a pandas object
    import pandas as pd  # already imported: a dictionary lookup

    return isinstance(obj, pd.DataFrame | pd.Series)


def hash_source(text: str) -> str:
    """Hex xxh3-128 digest of a cell's source text.

    The text is hashed exactly (UTF-8, lone surrogates kept); no whitespace or
    line-ending normalisation.

    Args:
        text: The source.

    Returns:
        32 hex digits.
    """
    return str(xxhash.xxh3_128(text.encode("utf-8", "surrogatepass")).hexdigest())


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


# ----------------------------------------------------------------------- small helpers


def _profile_level(profile: object) -> int:
    if profile is True or profile is False:
        return _DEFAULT_PROFILE if profile else _NO_PROFILE
    if profile == "full":
        return _FULL_PROFILE
    raise ValidationError(f"profile must be True, False or 'full', not {profile!r}")


def _type_name(obj: object) -> str:
    t = type(obj)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _blob(b: bytes) -> bytes:
    return _U64.pack(len(b)) + b


def _text(s: str) -> bytes:
    return _blob(s.encode("utf-8", "surrogatepass"))


def _shape_bytes(shape: tuple[int, ...]) -> bytes:
    return _U64.pack(len(shape)) + b"".join(_U64.pack(d) for d in shape)


@functools.lru_cache(maxsize=512)
def _canon_dtype(dt: np.dtype[Any]) -> str:
    """A host-independent name of a numpy dtype for the digest (byte order as ``<``)."""
    if dt.fields is not None and dt.names is not None:
        parts = ",".join(f"{n}:{_canon_dtype(dt.fields[n][0])}" for n in dt.names)
        return f"struct({parts})"
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        return f"{_canon_dtype(base)}{shape}"
    return str(dt.newbyteorder("<").str)


@functools.lru_cache(maxsize=512)
def _dtype_key(dtype: Any) -> str:
    """The dtype as it goes into a digest: canonical for numpy, ``str()`` for pandas."""
    return _canon_dtype(dtype) if isinstance(dtype, np.dtype) else str(dtype)


@functools.lru_cache(maxsize=512)
def _dtype_display(dtype: Any) -> str:
    """The dtype as shown in :attr:`DataRef.dtypes` (``float64``, ``Int64``, ``str``...)."""
    if isinstance(dtype, np.dtype) and not dtype.isnative:
        return str(dtype.newbyteorder("="))
    return str(dtype)


def _le_bytes(c: NDArray[Any]) -> NDArray[Any]:
    """A contiguous native chunk as little-endian bytes (a view on little-endian hosts)."""
    if _BIG_ENDIAN_HOST and c.dtype.itemsize > 1:
        c = c.byteswap()
    return c.view(np.uint8)


def _native(c: NDArray[Any]) -> NDArray[Any]:
    """A C-contiguous, native-byte-order version of ``c`` (no copy when it already is)."""
    dt = c.dtype if c.dtype.isnative else c.dtype.newbyteorder("=")
    return np.ascontiguousarray(c, dtype=dt)


def _iso_ns(ns: int) -> str:
    return _dt.datetime.fromtimestamp(ns / 1e9, tz=_dt.UTC).isoformat()


def _json_num(x: float | int) -> float | int | str:
    return float_to_json(x) if isinstance(x, float) else x


def _partial_profile(reasons: list[str]) -> str:
    return "; ".join(reasons)


# -------------------------------------------------------------- segment tree over bytes


def _tree_root(total: int, leaves: list[bytes]) -> bytes:
    """Root of the segment tree: the byte count and every leaf digest, in order."""
    h = xxhash.xxh3_128(b"tree\x00")
    h.update(_U64.pack(total))
    for leaf in leaves:
        h.update(leaf)
    return bytes(h.digest())


class _StreamTree:
    """Builds the same segment tree as the parallel path, from a stream of chunks."""

    def __init__(self) -> None:
        self._leaf = xxhash.xxh3_128()
        self._fill = 0
        self._leaves: list[bytes] = []
        self.total = 0

    def update(self, data: NDArray[Any]) -> None:
        buf = data.data  # ``data`` is a contiguous 1-D uint8 array (see _le_bytes)
        pos, n = 0, len(buf)
        self.total += n
        while pos < n:
            take = min(_SEGMENT - self._fill, n - pos)
            self._leaf.update(buf[pos : pos + take])
            self._fill += take
            pos += take
            if self._fill == _SEGMENT:
                self._leaves.append(bytes(self._leaf.digest()))
                self._leaf.reset()
                self._fill = 0

    def root(self) -> bytes:
        if self._fill:
            self._leaves.append(bytes(self._leaf.digest()))
            self._fill = 0
            self._leaf.reset()
        return _tree_root(self.total, self._leaves)


# ------------------------------------------------------------------------ chunk kernels


@dataclass(slots=True)
class _Acc:
    """Running statistics of the values of one buffer (merged across segments)."""

    nulls: int = 0
    count: int = 0  # values that are not missing
    total: float | int = 0
    lo: float | int | None = None
    hi: float | int | None = None

    def bound(self, lo: float | int, hi: float | int) -> None:
        if lo == lo:  # NaN when a chunk is all-NaN: nothing to record
            self.lo = lo if self.lo is None else min(self.lo, lo)
        if hi == hi:
            self.hi = hi if self.hi is None else max(self.hi, hi)

    def merge(self, other: _Acc) -> None:
        self.nulls += other.nulls
        self.count += other.count
        self.total += other.total
        if other.lo is not None and other.hi is not None:
            self.bound(other.lo, other.hi)


# A kernel takes a contiguous native chunk, updates the statistics for the profile
# level ``stats`` (see _NO_PROFILE...), and returns the chunk to hash (the same array,
# or a canonicalised copy). What it returns must not depend on ``stats``: the digest
# must not depend on the profile.
_Kernel = Callable[[Any, _Acc, int], Any]


def _k_float(c: NDArray[Any], acc: _Acc, stats: int) -> NDArray[Any]:
    # One sum finds any NaN (NaN propagates through addition) and gives the mean; it
    # costs about as much as the hash. einsum's sum is ~25% cheaper than add.reduce's
    # pairwise one and precise enough for a mean. The isnan pass and the copy run
    # only on chunks that hold a NaN (or both infinities).
    s = np.einsum("i->", c) if c.dtype.itemsize >= 4 else np.add.reduce(c, dtype=np.float32)
    if s != s:
        mask = np.isnan(c)
        missing = int(np.count_nonzero(mask))
        if missing:
            acc.nulls += missing
            # NaN bit patterns differ between CPUs (x86's default NaN has the sign
            # bit set); hash every NaN as the canonical quiet NaN.
            c = np.where(mask, c.dtype.type("nan"), c)
            s = np.add.reduce(c, where=~mask, dtype=_sum_dtype(c)) if stats else s
        if stats and missing < c.size:
            acc.count += c.size - missing
            acc.total += float(s)
            if stats >= _FULL_PROFILE:
                acc.bound(float(np.fmin.reduce(c)), float(np.fmax.reduce(c)))
        return c
    if stats and c.size:
        acc.count += c.size
        acc.total += float(s)
        if stats >= _FULL_PROFILE:  # two more passes: only when asked for
            acc.bound(float(np.minimum.reduce(c)), float(np.maximum.reduce(c)))
    return c


def _sum_dtype(c: NDArray[Any]) -> type[np.floating[Any]] | None:
    return np.float32 if c.dtype.itemsize < 4 else None


def _k_complex(c: NDArray[Any], acc: _Acc, stats: int) -> NDArray[Any]:
    parts = c.view(c.real.dtype)
    lo = np.minimum.reduce(parts)
    if lo != lo:  # a NaN in some real or imaginary part
        pmask = np.isnan(parts)
        if pmask.any():
            acc.nulls += int(np.count_nonzero(np.isnan(c)))
            c = np.where(pmask, parts.dtype.type("nan"), parts).view(c.dtype)
    return c


def _k_int(c: NDArray[Any], acc: _Acc, stats: int) -> NDArray[Any]:
    # An exact mean needs the bounds (to rule out int64 overflow), so integers get
    # min, max and mean even in the default profile: three passes.
    if stats and c.size:
        lo, hi = int(np.minimum.reduce(c)), int(np.maximum.reduce(c))
        acc.bound(lo, hi)
        acc.count += c.size
        # Sum exactly in 64-bit when it cannot overflow, else in float64.
        if max(abs(lo), abs(hi)) * c.size < 2**63:
            acc.total += int(np.add.reduce(c, dtype=np.int64))
        else:
            acc.total += float(np.add.reduce(c, dtype=np.float64))
    return c


def _k_bool(c: NDArray[Any], acc: _Acc, stats: int) -> NDArray[Any]:
    if stats:
        acc.count += c.size
        acc.total += int(np.count_nonzero(c))
    return c


def _k_nat(c: NDArray[Any], acc: _Acc, stats: int) -> NDArray[Any]:
    # datetime64/timedelta64/period values as int64; NaT is the int64 minimum, so the
    # min pass that the profile needs also tells whether a NaT count is needed.
    if not c.size:
        return c
    i = c.view(np.int64)
    lo = int(np.minimum.reduce(i))
    missing = 0
    if lo == _NAT:
        mask = i == _NAT
        missing = int(np.count_nonzero(mask))
        acc.nulls += missing
        if missing == i.size:
            return c
        if stats:
            lo = int(np.minimum.reduce(i, where=~mask, initial=_I64_MAX))
    if stats:
        acc.count += i.size - missing
        acc.bound(lo, int(np.maximum.reduce(i)))
    return c


def _k_raw(c: NDArray[Any], acc: _Acc, stats: int) -> NDArray[Any]:
    return c


# ------------------------------------------------------------------------------ jobs


@dataclass(slots=True)
class _Values:
    """What hashing one buffer (a column, an index, an array) produced."""

    digest: bytes
    nbytes: int
    nulls: int | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    partial: list[str] = field(default_factory=list)


_Thunk = Callable[[], Any]


class _Job:
    """A unit of hashing work: parallel ``tasks`` plus a ``finish`` run by the caller.

    ``finish`` gets one thunk per task (a completed or pending future's result); jobs
    without tasks do all their work in ``finish``, on the calling thread.
    """

    nbytes: int = 0

    def tasks(self) -> list[_Thunk]:
        return []

    def finish(self, results: list[_Thunk]) -> _Values:
        raise NotImplementedError


class _Const(_Job):
    def __init__(self, values: _Values) -> None:
        self._values = values

    def finish(self, results: list[_Thunk]) -> _Values:
        return self._values


class _Composite(_Job):
    """Runs sub-jobs together and combines their results."""

    def __init__(self, parts: list[_Job], combine: Callable[[list[_Values]], _Values]) -> None:
        self._parts = parts
        self._combine = combine
        self._counts: list[int] = []
        self.nbytes = sum(p.nbytes for p in parts)

    def tasks(self) -> list[_Thunk]:
        out: list[_Thunk] = []
        self._counts = []
        for p in self._parts:
            t = p.tasks()
            self._counts.append(len(t))
            out.extend(t)
        return out

    def finish(self, results: list[_Thunk]) -> _Values:
        slices: list[list[_Thunk]] = []
        pos = 0
        for n in self._counts:
            slices.append(results[pos : pos + n])
            pos += n
        done: dict[int, _Values] = {}
        # Sequential parts first, on this thread, while the pool works on the rest.
        for i, (p, n) in enumerate(zip(self._parts, self._counts, strict=True)):
            if n == 0:
                done[i] = p.finish([])
        for i, (p, n) in enumerate(zip(self._parts, self._counts, strict=True)):
            if n:
                done[i] = p.finish(slices[i])
        return self._combine([done[i] for i in range(len(self._parts))])


def _run_segment(flat: NDArray[Any], kernel: _Kernel, seg: int, stats: int) -> tuple[bytes, _Acc]:
    """Hash segment ``seg`` of a 1-D array (any stride, any byte order)."""
    itemsize = flat.dtype.itemsize
    per_seg = _SEGMENT // itemsize
    step = max(1, _CHUNK // itemsize)
    start = seg * per_seg
    stop = min(flat.shape[0], start + per_seg)
    contiguous = flat.flags.c_contiguous and flat.dtype.isnative
    h = xxhash.xxh3_128()
    acc = _Acc()
    # Overflow in a sum or inf - inf is expected here; never warn the user about it.
    with np.errstate(all="ignore"):
        for i in range(start, stop, step):
            c = flat[i : min(i + step, stop)]
            if not contiguous:
                c = _native(c)
            c = kernel(c, acc, stats)
            h.update(_le_bytes(c).data)
    return bytes(h.digest()), acc


def _c_chunks(a: NDArray[Any]) -> Iterator[NDArray[Any]]:
    """The values of ``a`` in C order as contiguous native 1-D chunks of ~_CHUNK bytes."""
    if a.size == 0:
        return
    itemsize = a.dtype.itemsize or 1
    if a.ndim <= 1 or a.flags.c_contiguous:
        flat = a.reshape(-1)  # a view: a is 1-D or C-contiguous
        step = max(1, _CHUNK // itemsize)
        for i in range(0, flat.shape[0], step):
            yield _native(flat[i : i + step])
        return
    row_bytes = math.prod(a.shape[1:]) * itemsize
    if row_bytes <= _CHUNK:
        rows = max(1, _CHUNK // row_bytes)
        for i in range(0, a.shape[0], rows):
            yield _native(a[i : i + rows]).reshape(-1)
    else:
        for i in range(a.shape[0]):
            yield from _c_chunks(a[i])


class _ArrayJob(_Job):
    """Hash a non-object numpy array's values (C order) with a kernel."""

    def __init__(
        self,
        arr: NDArray[Any],
        kernel: _Kernel,
        stats: int,
        fmt: Callable[[_Acc], dict[str, Any]] | None = None,
        nulls: bool = True,
        partial: list[str] | None = None,
    ) -> None:
        self._arr = arr
        self._kernel = kernel
        self._stats = stats if fmt is not None else _NO_PROFILE
        self._fmt = fmt
        self._nulls = nulls
        self._partial = partial or []
        self.nbytes = int(arr.nbytes)
        itemsize = arr.dtype.itemsize
        self._flat: NDArray[Any] | None = None
        # Random access to segments needs a 1-D view and element-aligned segments;
        # anything else (Fortran order, odd item sizes) streams on the calling thread.
        if itemsize and _SEGMENT % itemsize == 0 and (arr.ndim <= 1 or arr.flags.c_contiguous):
            self._flat = arr.reshape(-1)

    def tasks(self) -> list[_Thunk]:
        if self._flat is None or self.nbytes <= _CHUNK:  # small: finish() does it inline
            return []
        n = -(-self.nbytes // _SEGMENT)
        return [
            functools.partial(_run_segment, self._flat, self._kernel, k, self._stats)
            for k in range(n)
        ]

    def finish(self, results: list[_Thunk]) -> _Values:
        acc = _Acc()
        if self._flat is not None:
            if not results and self.nbytes:  # a single segment: hashed here, inline
                results = [
                    functools.partial(_run_segment, self._flat, self._kernel, 0, self._stats)
                ]
            leaves: list[bytes] = []
            for r in results:
                leaf, part = r()
                leaves.append(leaf)
                acc.merge(part)
            root = _tree_root(self.nbytes, leaves)
        else:
            tree = _StreamTree()
            with np.errstate(all="ignore"):
                for c in _c_chunks(self._arr):
                    tree.update(_le_bytes(self._kernel(c, acc, self._stats)))
            root = tree.root()
        stats = self._fmt(acc) if self._stats and self._fmt is not None else {}
        return _Values(
            root, self.nbytes, acc.nulls if self._nulls else None, stats, list(self._partial)
        )


def _fmt_float(acc: _Acc) -> dict[str, Any]:
    if not acc.count:
        return {}
    mean = _json_num(float(acc.total) / acc.count)
    if acc.lo is None or acc.hi is None:  # min/max only in the full profile
        return {"mean": mean}
    return {"min": _json_num(float(acc.lo)), "max": _json_num(float(acc.hi)), "mean": mean}


def _fmt_int(acc: _Acc) -> dict[str, Any]:
    if not acc.count or acc.lo is None or acc.hi is None:
        return {}
    return {"min": int(acc.lo), "max": int(acc.hi), "mean": _json_num(acc.total / acc.count)}


def _fmt_bool(acc: _Acc) -> dict[str, Any]:
    return {"mean": acc.total / acc.count} if acc.count else {}


def _fmt_time(dtype: np.dtype[Any]) -> Callable[[_Acc], dict[str, Any]]:
    native = dtype.newbyteorder("=")

    def fmt(acc: _Acc) -> dict[str, Any]:
        if acc.lo is None or acc.hi is None:
            return {}
        lo, hi = np.array([acc.lo, acc.hi], dtype=np.int64).view(native)
        return {"min": str(lo), "max": str(hi)}

    return fmt


def _array_job(arr: NDArray[Any], stats: int, where: str) -> _Job:
    """The job that hashes a numpy array's values (its dtype and shape are not included)."""
    dt = arr.dtype
    if dt.names is not None:
        return _struct_job(arr, where)
    kind = dt.kind
    if kind == "O":
        return _ObjectJob(arr.reshape(-1), where)  # reshape copies only if non-contiguous
    if kind == "f" and dt.itemsize > 8:
        # long double: 80-bit x87 values padded to 16 bytes with undefined bytes, and a
        # different format on other CPUs; only the float64 rounding is portable.
        reason = f"{where}: {dt} values hashed after rounding to float64"
        return _ArrayJob(arr.astype(np.float64), _k_float, stats, _fmt_float, True, [reason])
    if kind == "c" and dt.itemsize > 16:
        reason = f"{where}: {dt} values hashed after rounding to complex128"
        return _ArrayJob(arr.astype(np.complex128), _k_complex, stats, None, True, [reason])
    if kind == "f":
        return _ArrayJob(arr, _k_float, stats, _fmt_float)
    if kind == "c":
        return _ArrayJob(arr, _k_complex, stats, None)
    if kind in "iu":
        return _ArrayJob(arr, _k_int, stats, _fmt_int)
    if kind == "b":
        return _ArrayJob(arr, _k_bool, stats, _fmt_bool)
    if kind in "Mm":
        return _ArrayJob(arr, _k_nat, stats, _fmt_time(dt))
    # Fixed-width bytes/str/void: no missing values, nothing to summarise.
    return _ArrayJob(arr, _k_raw, stats, None)


def _struct_job(arr: NDArray[Any], where: str) -> _Job:
    # Field by field, so the padding bytes between fields (undefined) never count.
    names = list(arr.dtype.names or ())
    parts = [_array_job(arr[n], False, f"{where} field {n!r}") for n in names]

    def combine(vals: list[_Values]) -> _Values:
        h = xxhash.xxh3_128(b"struct\x00")
        for n, v in zip(names, vals, strict=True):
            h.update(_text(n))
            h.update(v.digest)
        return _Values(
            bytes(h.digest()),
            sum(v.nbytes for v in vals),
            None,
            {},
            [r for v in vals for r in v.partial],
        )

    return _Composite(parts, combine)


# ------------------------------------------------------------------ object values


class _ObjectJob(_Job):
    """Hash a 1-D sequence of Python objects value by value, with type tags.

    Three streams are hashed (see :func:`_encode_chunk`): one tag byte per value, one
    int64 payload length per value, and the payloads (a string's is its UTF-8). This
    is also the layout of an Arrow string column (offsets and data), so Arrow-backed
    columns hash without touching their values one by one (:class:`_ArrowStringJob`).
    """

    def __init__(self, values: NDArray[Any], where: str, null_tag: int | None = None) -> None:
        self._values = values
        self._where = where
        # For a pandas string column: every value is a str or this missing marker.
        self._null_tag = null_tag
        self.nbytes = 0

    def finish(self, results: list[_Thunk]) -> _Values:
        tags_h, lens_h, data_h = xxhash.xxh3_128(), xxhash.xxh3_128(), xxhash.xxh3_128()
        n = self._values.shape[0]
        nbytes = nulls = 0
        opaque: dict[str, int] = {}
        for i in range(0, n, _OBJ_CHUNK):
            chunk = self._values[i : i + _OBJ_CHUNK]
            tags, lens, payload, k = _encode_chunk(chunk, opaque, self._null_tag)
            tags_h.update(tags)
            lens_h.update(_le_bytes(lens).data)
            data_h.update(payload)
            nbytes += len(tags) + lens.nbytes + memoryview(payload).nbytes
            nulls += k
        partial = []
        if opaque:
            kinds = ", ".join(f"{c} x {t}" for t, c in sorted(opaque.items()))
            partial.append(f"{self._where}: values hashed by type name only ({kinds})")
        root = _objects_root(n, tags_h, lens_h, data_h)
        return _Values(root, nbytes, nulls, {}, partial)


def _objects_root(n: int, tags_h: Any, lens_h: Any, data_h: Any) -> bytes:
    h = xxhash.xxh3_128(b"objects\x00")
    h.update(_U64.pack(n))
    h.update(tags_h.digest())
    h.update(lens_h.digest())
    h.update(data_h.digest())
    return bytes(h.digest())


class _ArrowStringJob(_Job):
    """Hash an Arrow-backed pandas string column straight from its Arrow buffers.

    pandas 3 stores ``str`` columns in Arrow when pyarrow is installed. Converting
    them to Python objects costs ~70 ns a value; the three streams of
    :class:`_ObjectJob` (so both storages give one digest) are here the tags, the
    differences of the Arrow offsets, and the Arrow data buffer itself (no copy).
    Arrow holds valid UTF-8 only, so there are no surrogates to handle.
    """

    def __init__(self, arr: Any, where: str) -> None:
        self._arr = arr
        self._where = where

    def finish(self, results: list[_Thunk]) -> _Values:
        import pandas as pd

        null_tag = _T_NA if self._arr.dtype.na_value is pd.NA else _T_NAN
        tags_h, lens_h, data_h = xxhash.xxh3_128(), xxhash.xxh3_128(), xxhash.xxh3_128()
        n = nbytes = nulls = 0
        for chunk in self._arr.__arrow_array__().chunks:
            encoded = _arrow_chunk_streams(chunk, null_tag)
            if encoded is None:  # a layout this path does not know: take the slow one
                return _ObjectJob(np.asarray(self._arr, dtype=object), self._where).finish([])
            tags, lens, payload, k = encoded
            tags_h.update(tags)
            lens_h.update(_le_bytes(lens).data)
            data_h.update(payload)
            n += len(chunk)
            nbytes += len(tags) + lens.nbytes + memoryview(payload).nbytes
            nulls += k
        return _Values(_objects_root(n, tags_h, lens_h, data_h), nbytes, nulls, {}, [])


def _arrow_chunk_streams(chunk: Any, null_tag: int) -> tuple[Any, Any, Any, int] | None:
    """The (tags, lengths, payload, nulls) of one Arrow string chunk, as _encode_chunk."""
    # Loaded already (the chunk is an Arrow array); untyped, hence Any.
    pa: Any = importlib.import_module("pyarrow")
    if not pa.types.is_large_string(chunk.type):
        if not (pa.types.is_string(chunk.type) or pa.types.is_string_view(chunk.type)):
            return None
        chunk = chunk.cast(pa.large_string())
    n = len(chunk)
    if n == 0:
        return b"", _NO_LENGTHS, b"", 0
    _, offsets_buf, data_buf = chunk.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[chunk.offset : chunk.offset + n + 1]
    lens = np.diff(offsets)  # a missing value's length is 0, as in _encode_chunk
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else _NO_BYTES
    payload = data[int(offsets[0]) : int(offsets[-1])]
    k = chunk.null_count
    if not k:
        return b"s" * n, lens, payload, 0
    valid = np.asarray(chunk.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
    if lens[~valid].any():  # Arrow allows bytes under a null slot; rare, so go slow
        return None
    tags = np.where(valid, np.uint8(_T_STR), np.uint8(null_tag)).astype(np.uint8)
    return tags, lens, payload, k


_Encoded = tuple[Any, "NDArray[np.int64]", Any, int]  # tags, lengths, payload, nulls
_NO_LENGTHS: Final = np.zeros(0, dtype=np.int64)
_NO_BYTES: Final = np.zeros(0, dtype=np.uint8)


def _encode_chunk(
    chunk: NDArray[Any], opaque: dict[str, int], null_tag: int | None = None
) -> _Encoded:
    """Encode object values as (tags, payload lengths, payload, null count).

    Columns of strings, with or without missing markers, take a vectorised path; the
    result is byte for byte what :func:`_encode_generic` gives. ``null_tag`` says the
    values are known to be strings or that one missing marker (a pandas string array).
    """
    n = chunk.shape[0]
    strs: list[Any] | None = None
    mask: NDArray[np.bool_] | None = None
    tags = np.full(n, _T_STR, dtype=np.uint8)
    if null_tag is not None:  # strings and one known marker: no need to inspect types
        import pandas as pd

        if pd.api.types.infer_dtype(chunk, skipna=False) == "string":  # ~7 ns a value
            strs = chunk.tolist()
        else:
            mask = np.asarray(pd.isna(chunk), dtype=np.bool_)  # ~28 ns a value
            tags[mask] = null_tag
            strs = chunk[~mask].tolist()
    elif "pandas" in sys.modules:
        import pandas as pd

        # infer_dtype scans in C (~8 ns a value, vs ~20 for a set of the types).
        infer = pd.api.types.infer_dtype
        if infer(chunk, skipna=False) == "string":
            strs = chunk.tolist()
        elif infer(chunk, skipna=True) == "string":
            # Strings and missing markers (no payload, length 0): tag the markers.
            mask = np.asarray(pd.isna(chunk), dtype=np.bool_)
            marks = _missing_tags(chunk[mask].tolist())
            if marks is None:  # e.g. Decimal("NaN"): let the generic encoder decide
                return _encode_generic(chunk.tolist(), opaque)
            tags[mask] = marks
            strs = chunk[~mask].tolist()
    else:
        items = chunk.tolist()
        if set(map(type, items)) == {str}:
            strs = items
    if strs is None:
        return _encode_generic(chunk.tolist(), opaque)
    try:
        str_lens, payload = _string_payload(strs)
    except TypeError:  # a value infer_dtype skipped as missing that pd.isna did not
        return _encode_generic(chunk.tolist(), opaque)
    if mask is None:
        return tags, str_lens, payload, 0
    lens = np.zeros(n, dtype=np.int64)
    lens[~mask] = str_lens
    return tags, lens, payload, int(np.count_nonzero(mask))


def _missing_tags(missing: list[Any]) -> int | NDArray[np.uint8] | None:
    """Tags of missing markers: one tag when all are alike (the usual case)."""
    if not missing:
        return _T_STR
    if len(set(map(type, missing))) == 1:  # all NaN, all None, all NA or all NaT
        return _missing_tag(missing[0])
    marks = [_missing_tag(x) for x in missing]
    if any(m is None for m in marks):
        return None
    return np.array(marks, dtype=np.uint8)


def _string_payload(strs: list[str]) -> tuple[NDArray[np.int64], Any]:
    """The UTF-8 byte length of each string, and their UTF-8 concatenated.

    A handful of C calls for a whole chunk instead of one ``encode`` per string.
    """
    if not strs:
        return _NO_LENGTHS, b""
    chars = np.fromiter(map(len, strs), dtype=np.int64, count=len(strs))
    joined = "".join(strs)
    if joined.isascii():  # one byte per character
        return chars, joined.encode("ascii")
    # Each character's UTF-8 width from its code point (a lone surrogate, kept by
    # surrogatepass, takes 3 bytes: the formula holds), summed per string.
    cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    width = (cps >= 0x80).astype(np.int64)
    width += cps >= 0x800
    width += cps >= 0x10000
    extra = np.concatenate(([0], np.cumsum(width)))
    ends = np.cumsum(chars)
    return chars + extra[ends] - extra[ends - chars], joined.encode("utf-8", "surrogatepass")


def _encode_generic(items: list[Any], opaque: dict[str, int]) -> _Encoded:
    tags = bytearray(len(items))
    lens: list[int] = []
    parts: list[bytes] = []
    nulls = 0
    for j, x in enumerate(items):
        tag, payload = _encode_object(x, opaque, 0)
        tags[j] = tag
        lens.append(len(payload))
        parts.append(payload)
        if tag in _NULL_TAGS:
            nulls += 1
    return bytes(tags), np.array(lens, dtype=np.int64), b"".join(parts), nulls


def _missing_tag(x: object) -> int | None:
    """The tag of a missing-value marker, or ``None`` if ``x`` is not one."""
    if x is None:
        return _T_NONE
    if isinstance(x, float) and x != x:
        return _T_NAN
    pd = sys.modules.get("pandas")
    if pd is not None:
        if x is getattr(pd, "NA", None):
            return _T_NA
        if x is getattr(pd, "NaT", None):
            return _T_NAT
    return None


def _int_bytes(x: int) -> bytes:
    return x.to_bytes(x.bit_length() // 8 + 1, "little", signed=True)


def _float_bytes(x: float) -> bytes:
    # A flag byte first, so a NaN part (no value bytes) cannot shift the next part.
    return b"\x00" if x != x else b"\x01" + _F64.pack(x)


def _nested(x: Any, opaque: dict[str, int], depth: int) -> bytes:
    tag, payload = _encode_object(x, opaque, depth + 1)
    return bytes([tag]) + _blob(payload)


def _encode_object(x: Any, opaque: dict[str, int], depth: int) -> tuple[int, bytes]:
    """Deterministic (tag, payload) of one Python value; unknown types count in ``opaque``.

    Missing markers (None, NaN, pd.NA, NaT) have their own tags and no payload.
    """
    t = type(x)
    if t is str:
        return _T_STR, x.encode("utf-8", "surrogatepass")
    if t is float:
        return (_T_NAN, b"") if x != x else (_T_FLOAT, _F64.pack(x))
    if t is int:
        return _T_INT, _int_bytes(x)
    if t is bool:
        return _T_BOOL, b"\x01" if x else b"\x00"
    if x is None:
        return _T_NONE, b""
    tag = _missing_tag(x)
    if tag is not None:
        return tag, b""
    if isinstance(x, str):  # str subclasses, numpy.str_
        return _T_STR, str(x).encode("utf-8", "surrogatepass")
    if isinstance(x, bytes | bytearray):
        return _T_BYTES, bytes(x)
    if isinstance(x, np.generic):
        if isinstance(x, np.floating | np.complexfloating) and np.isnan(x):
            return _T_NAN, b""
        if isinstance(x, np.datetime64 | np.timedelta64) and np.isnat(x):
            return _T_NAT, b""
        arr = np.asarray(x)
        if arr.dtype.kind == "O":
            return _encode_object(arr.item(), opaque, depth)
        return _T_NPSCALAR, _text(_canon_dtype(arr.dtype)) + bytes(_le_bytes(_native(arr)))
    if isinstance(x, bool):
        return _T_BOOL, b"\x01" if x else b"\x00"
    if isinstance(x, int | enum.Enum):
        if isinstance(x, enum.Enum):
            return _T_ENUM, _text(_type_name(x)) + _text(x.name)
        return _T_INT, _int_bytes(int(x))
    if isinstance(x, float):
        return (_T_NAN, b"") if x != x else (_T_FLOAT, _F64.pack(float(x)))
    if isinstance(x, complex):
        return _T_COMPLEX, _float_bytes(x.real) + _float_bytes(x.imag)
    if isinstance(x, _dt.datetime):  # also pandas.Timestamp (its isoformat keeps ns)
        return _T_DATETIME, _text(x.isoformat()) + _text(str(x.tzinfo))
    if isinstance(x, _dt.date):
        return _T_DATE, _text(x.isoformat())
    if isinstance(x, _dt.time):
        return _T_TIME, _text(x.isoformat()) + _text(str(x.tzinfo))
    if isinstance(x, _dt.timedelta):  # also pandas.Timedelta, which adds nanoseconds
        ns = int(getattr(x, "nanoseconds", 0))
        return _T_TIMEDELTA, b"".join(_I64.pack(v) for v in (x.days, x.seconds, x.microseconds, ns))
    if isinstance(x, decimal.Decimal):
        return _T_DECIMAL, str(x).encode()
    if isinstance(x, fractions.Fraction):
        return _T_FRACTION, f"{x.numerator}/{x.denominator}".encode()
    if isinstance(x, uuid.UUID):
        return _T_UUID, x.bytes
    if isinstance(x, PurePath):
        return _T_PATH, _text(x.as_posix())
    if depth >= _MAX_DEPTH:
        opaque[f"{_type_name(x)} nested deeper than {_MAX_DEPTH}"] = (
            opaque.get(f"{_type_name(x)} nested deeper than {_MAX_DEPTH}", 0) + 1
        )
        return _T_OPAQUE, _text(_type_name(x))
    if isinstance(x, tuple | list):
        tag = _T_TUPLE if isinstance(x, tuple) else _T_LIST
        return tag, _U64.pack(len(x)) + b"".join(_nested(e, opaque, depth) for e in x)
    if isinstance(x, dict):
        # Insertion order is kept: it is part of a dict's observable content.
        return _T_DICT, _U64.pack(len(x)) + b"".join(
            _nested(k, opaque, depth) + _nested(v, opaque, depth) for k, v in x.items()
        )
    if isinstance(x, set | frozenset):
        # Iteration order of a set depends on hash seeds: sort the encodings.
        return _T_SET, _U64.pack(len(x)) + b"".join(sorted(_nested(e, opaque, depth) for e in x))
    if isinstance(x, np.ndarray):
        ref = _hash_ndarray(x, profile=False, parallel=False)
        if ref.partial:
            key = "ndarray nested in an object column (partial)"
            opaque[key] = opaque.get(key, 0) + 1
        return _T_ARRAY, bytes.fromhex(ref.digest)
    module = t.__module__ or ""
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(x, pd.DataFrame | pd.Series):
            ref = (
                _hash_frame(x, profile=False, parallel=False)
                if isinstance(x, pd.DataFrame)
                else _hash_series(x, profile=False, parallel=False)
            )
            if ref.partial:
                key = f"{_type_name(x)} nested in an object column (partial)"
                opaque[key] = opaque.get(key, 0) + 1
            return _T_PANDAS, bytes.fromhex(ref.digest)
        if isinstance(x, pd.Period | pd.Interval | pd.DateOffset):
            # Their repr() spells every field (str() of a Period omits its freq).
            return _T_PANDAS_SCALAR, _text(_type_name(x)) + _text(repr(x))
    # Anything else may print memory addresses or depend on hash seeds: say so.
    name = _type_name(x)
    opaque[name] = opaque.get(name, 0) + 1
    return _T_OPAQUE, _text(name)


# ------------------------------------------------------------------------- pandas


def _unbox(values: Any) -> Any:
    """The array behind a Series or Index: a numpy view, or the ExtensionArray."""
    return values.to_numpy() if isinstance(values.dtype, np.dtype) else values.array


def _values_job(arr: Any, stats: int, where: str) -> _Job:
    """The job that hashes the values of a column (an ndarray or an ExtensionArray)."""
    if isinstance(arr, np.ndarray):
        # A zero-copy view of the column (a row of the frame's 2-D block: contiguous
        # for frames pandas built, strided for frames wrapping a 2-D array).
        return _array_job(arr, stats, where)
    import pandas as pd

    dtype = arr.dtype
    if isinstance(dtype, np.dtype):  # NumpyExtensionArray
        return _array_job(np.asarray(arr), stats, where)
    if isinstance(dtype, pd.CategoricalDtype):
        return _categorical_job(arr, stats, where)
    if isinstance(dtype, pd.DatetimeTZDtype):
        unit, tz = dtype.unit, dtype.tz

        def fmt_tz(acc: _Acc) -> dict[str, Any]:
            if acc.lo is None or acc.hi is None:
                return {}
            lo = pd.Timestamp(int(acc.lo), unit=unit, tz="UTC").tz_convert(tz)
            hi = pd.Timestamp(int(acc.hi), unit=unit, tz="UTC").tz_convert(tz)
            return {"min": lo.isoformat(), "max": hi.isoformat()}

        return _ArrayJob(np.asarray(arr.asi8), _k_nat, stats, fmt_tz)
    if isinstance(dtype, pd.PeriodDtype):
        return _ArrayJob(np.asarray(arr.asi8), _k_nat, False, None)
    if isinstance(arr, pd.arrays.IntegerArray | pd.arrays.FloatingArray | pd.arrays.BooleanArray):
        return _masked_job(arr, stats, where)
    if isinstance(dtype, pd.StringDtype):
        # Both storages (python, pyarrow) give the same streams, so the same digest.
        if dtype.storage == "pyarrow" and hasattr(arr, "__arrow_array__"):
            return _ArrowStringJob(arr, where)
        null_tag = _T_NA if dtype.na_value is pd.NA else _T_NAN
        return _ObjectJob(np.asarray(arr, dtype=object), where, null_tag)
    # Other extension arrays (sparse, interval, arrow-backed...): their numpy form
    # carries the values; the dtype string (with its parameters) is hashed alongside.
    dense = np.asarray(arr)
    return _array_job(dense, stats, where)


def _masked_job(arr: Any, stats: int, where: str) -> _Job:
    mask = np.asarray(arr.isna(), dtype=np.bool_)
    has_na = bool(mask.any())
    np_dtype = arr.dtype.numpy_dtype
    # Values under the mask are undefined: fill them with zero so equal arrays agree.
    data = (
        arr.to_numpy(dtype=np_dtype, na_value=np_dtype.type(0))
        if has_na
        else arr.to_numpy(dtype=np_dtype)
    )
    parts = [_array_job(mask, 0, where), _array_job(data, 0 if has_na else stats, where)]

    def combine(vals: list[_Values]) -> _Values:
        h = xxhash.xxh3_128(b"masked\x00")
        h.update(vals[0].digest)
        h.update(vals[1].digest)
        summary = vals[1].stats
        if stats and has_na and not mask.all():
            summary = _masked_stats(arr, np_dtype, stats)
        return _Values(
            bytes(h.digest()),
            vals[0].nbytes + vals[1].nbytes,
            int(np.count_nonzero(mask)) + (vals[1].nulls or 0),
            summary,
            vals[0].partial + vals[1].partial,
        )

    return _Composite(parts, combine)


def _masked_stats(arr: Any, np_dtype: np.dtype[Any], stats: int) -> dict[str, Any]:
    # The same statistics as for numpy columns of the dtype (see the kernels).
    mean = _json_num(float(arr.mean()))
    if np_dtype.kind == "b":
        return {"mean": mean}
    if np_dtype.kind == "f":
        if stats < _FULL_PROFILE:
            return {"mean": mean}
        return {
            "min": _json_num(float(arr.min())),
            "max": _json_num(float(arr.max())),
            "mean": mean,
        }
    return {"min": int(arr.min()), "max": int(arr.max()), "mean": mean}


def _categorical_job(arr: Any, stats: int, where: str) -> _Job:
    codes = np.asarray(arr.codes)
    ordered = bool(arr.ordered)
    n_categories = len(arr.categories)
    parts = [
        _index_job(arr.categories, True, f"{where} categories"),
        _array_job(codes, False, where),
    ]

    def combine(vals: list[_Values]) -> _Values:
        h = xxhash.xxh3_128(b"categorical\x00")
        h.update(b"\x01" if ordered else b"\x00")
        h.update(vals[0].digest)
        h.update(vals[1].digest)
        return _Values(
            bytes(h.digest()),
            vals[0].nbytes + vals[1].nbytes,
            int(np.count_nonzero(codes == -1)),
            {"n_categories": n_categories} if stats else {},
            vals[0].partial + vals[1].partial,
        )

    return _Composite(parts, combine)


def _names_bytes(names: Any) -> bytes:
    opaque: dict[str, int] = {}
    out = _U64.pack(len(names)) + b"".join(_nested(n, opaque, 0) for n in names)
    return out  # an opaque name still hashes by its type; names are labels, not data


def _as_range(v: NDArray[Any]) -> tuple[int, int, int] | None:
    """``(first, step, length)`` if the int64 values are an arithmetic progression."""
    n = v.shape[0]
    if n == 0:
        return (0, 1, 0)
    first = int(v[0])
    if n == 1:
        return (first, 1, 1)
    step = int(v[1]) - first
    if step == 0 or not -(2**63) <= step < 2**63 or int(v[-1]) != first + step * (n - 1):
        return None
    # With the endpoints exact (Python ints above), consecutive differences equal to
    # the step modulo 2**64 (np.diff wraps) prove every value: all lie in int64 range.
    block = 1 << 20
    for i in range(0, n - 1, block):
        if not bool((np.diff(v[i : i + block + 1]) == step).all()):
            return None
    return (first, step, n)


def _index_job(idx: Any, include_dtype: bool, where: str) -> _Job:
    """The job that hashes a pandas Index (labels, names, and dtype if asked)."""
    import pandas as pd

    names = _names_bytes(list(idx.names))
    if isinstance(idx, pd.MultiIndex):
        levels = [idx.get_level_values(i) for i in range(idx.nlevels)]
        parts = [_values_job(_unbox(lv), 0, f"{where} level {i}") for i, lv in enumerate(levels)]
        dtypes = [_dtype_key(lv.dtype) for lv in levels]
        n = len(idx)

        def combine(vals: list[_Values]) -> _Values:
            h = xxhash.xxh3_128(b"multiindex\x00")
            h.update(names)
            h.update(_U64.pack(n))
            for d, v in zip(dtypes, vals, strict=True):
                if include_dtype:
                    h.update(_text(d))
                h.update(v.digest)
            return _Values(
                bytes(h.digest()),
                sum(v.nbytes for v in vals),
                None,
                {"kind": "multi", "nlevels": len(levels)},
                [r for v in vals for r in v.partial],
            )

        return _Composite(parts, combine)
    rng: tuple[int, int, int] | None = None
    if isinstance(idx, pd.RangeIndex):
        n = len(idx)
        rng = (int(idx.start), int(idx.step) if n > 1 else 1, n) if n else (0, 1, 0)
    elif isinstance(idx.dtype, np.dtype) and idx.dtype == np.int64:
        # An int64 index equal to a range hashes like the RangeIndex it equals.
        rng = _as_range(idx.to_numpy())
    if rng is not None:
        h = xxhash.xxh3_128(b"range\x00")
        h.update(names)
        h.update(_I64.pack(rng[0]) + _I64.pack(rng[1]) + _U64.pack(rng[2]))
        summary = {"kind": "range", "start": rng[0], "step": rng[1], "length": rng[2]}
        return _Const(_Values(bytes(h.digest()), 24, None, summary))
    dtype_key = _dtype_key(idx.dtype)
    n = len(idx)

    def combine_one(vals: list[_Values]) -> _Values:
        h = xxhash.xxh3_128(b"index\x00")
        h.update(names)
        h.update(_U64.pack(n))
        if include_dtype:
            h.update(_text(dtype_key))
        h.update(vals[0].digest)
        return _Values(
            bytes(h.digest()), vals[0].nbytes, None, {"kind": type(idx).__name__}, vals[0].partial
        )

    return _Composite([_values_job(_unbox(idx), 0, where)], combine_one)


def _column_key(label: Any, seen: set[str]) -> str:
    base = key = str(label)
    n = 0
    while key in seen:  # duplicate labels: keep every column visible in the mappings
        n += 1
        key = f"{base} #{n}"
    seen.add(key)
    return key


def _column_arrays(df: Any, *, public: bool = False) -> list[Any]:
    """The arrays of a frame's columns, in order (views: nothing is copied).

    ``df.items()`` builds a Series per column (~20 us each: 20 ms for 1,000 columns);
    pandas' ``_iter_column_arrays`` returns the block views directly (~1 us each) and
    is documented there as safe for read-only use, which is all we do. If a pandas
    version lacks it, the public route gives the same arrays.
    """
    fast = None if public else getattr(df, "_iter_column_arrays", None)
    if fast is not None:
        return list(fast())
    return [_unbox(s) for _, s in df.items()]


def _hash_frame(df: Any, *, profile: int, parallel: bool, public: bool = False) -> DataRef:
    arrays = _column_arrays(df, public=public)
    labels = df.columns.tolist()  # iterating an Arrow-backed Index costs ~5 us a label
    n_rows, n_cols = len(df), len(arrays)
    seen: set[str] = set()
    keys = [_column_key(label, seen) for label in labels]
    dtypes = [arr.dtype for arr in arrays]  # df.dtypes builds a Series: ~40 us
    col_jobs = [
        _values_job(arr, profile, f"column {label!r}")
        for label, arr in zip(labels, arrays, strict=True)
    ]
    parts: list[_Job] = [
        _index_job(df.columns, False, "column labels"),
        _index_job(df.index, True, "index"),
        *col_jobs,
    ]

    def combine(vals: list[_Values]) -> _Values:
        h = xxhash.xxh3_128(SCHEME)
        h.update(_text("dataframe"))
        h.update(_U64.pack(n_rows) + _U64.pack(n_cols))
        for v in vals[:2]:
            h.update(v.digest)
        for d, v in zip(dtypes, vals[2:], strict=True):
            h.update(_text(_dtype_key(d)))
            h.update(v.digest)
        return _Values(bytes(h.digest()), sum(v.nbytes for v in vals), None, {}, [])

    vals: list[_Values] = []

    def keep(v: list[_Values]) -> _Values:
        vals.extend(v)
        return combine(v)

    root = _execute(_Composite(parts, keep), parallel)
    col_vals = vals[2:]
    reasons = [r for v in vals for r in v.partial]
    prof: dict[str, Any] | None = None
    if profile:
        columns: dict[str, Any] = {}
        for key, v in list(zip(keys, col_vals, strict=True))[:_PROFILE_MAX_ITEMS]:
            columns[key] = {"digest": v.digest.hex()[:12], **v.stats}
        prof = {
            "columns": columns,
            "index": {"digest": vals[1].digest.hex()[:12], **vals[1].stats},
        }
        if n_cols > _PROFILE_MAX_ITEMS:
            prof["columns_truncated"] = n_cols - _PROFILE_MAX_ITEMS
    if reasons:
        prof = {**(prof or {}), "partial_reason": _partial_profile(reasons)}
    nulls = {k: v.nulls for k, v in zip(keys, col_vals, strict=True) if v.nulls is not None}
    return DataRef(
        algorithm=ALGORITHM,
        digest=root.digest.hex(),
        kind="dataframe",
        nbytes=root.nbytes,
        shape=(n_rows, n_cols),
        dtypes={k: _dtype_display(d) for k, d in zip(keys, dtypes, strict=True)},
        rows=n_rows,
        nulls=nulls,
        partial=bool(reasons),
        profile=prof,
    )


def _hash_series(s: Any, *, profile: int, parallel: bool) -> DataRef:
    name = _names_bytes([s.name])
    n = len(s)
    dtype = s.dtype
    parts = [_index_job(s.index, True, "index"), _values_job(_unbox(s), profile, "values")]
    vals: list[_Values] = []

    def combine(v: list[_Values]) -> _Values:
        vals.extend(v)
        h = xxhash.xxh3_128(SCHEME)
        h.update(_text("series"))
        h.update(name)
        h.update(_U64.pack(n))
        h.update(_text(_dtype_key(dtype)))
        h.update(v[0].digest)
        h.update(v[1].digest)
        return _Values(bytes(h.digest()), v[0].nbytes + v[1].nbytes)

    root = _execute(_Composite(parts, combine), parallel)
    reasons = vals[0].partial + vals[1].partial
    prof: dict[str, Any] | None = None
    if profile:
        prof = {**vals[1].stats, "index": {"digest": vals[0].digest.hex()[:12], **vals[0].stats}}
    if reasons:
        prof = {**(prof or {}), "partial_reason": _partial_profile(reasons)}
    return DataRef(
        algorithm=ALGORITHM,
        digest=root.digest.hex(),
        kind="series",
        nbytes=root.nbytes,
        shape=(n,),
        dtypes={"": _dtype_display(dtype)},
        rows=n,
        nulls={"": vals[1].nulls} if vals[1].nulls is not None else None,
        partial=bool(reasons),
        profile=prof,
    )


# -------------------------------------------------------------------------- numpy


def _hash_ndarray(a: NDArray[Any], *, profile: int, parallel: bool) -> DataRef:
    reasons: list[str] = []
    kind = "ndarray"
    if isinstance(a, np.ma.MaskedArray):
        job = _masked_ndarray_job(a, profile)
        header = "masked-ndarray"
    else:
        if type(a) is not np.ndarray and not isinstance(a, np.matrix):
            reasons.append(
                f"{_type_name(a)} is an ndarray subclass: only its values, dtype and "
                "shape were hashed, not its extra attributes"
            )
        a = np.asarray(a)
        job = _array_job(a, profile, "values")
        header = "ndarray"
    v = _execute(job, parallel)
    reasons = reasons + v.partial
    h = xxhash.xxh3_128(SCHEME)
    h.update(_text(header))
    h.update(_text(_canon_dtype(a.dtype)))
    h.update(_shape_bytes(tuple(a.shape)))
    h.update(v.digest)
    prof: dict[str, Any] | None = dict(v.stats) if profile else None
    if reasons:
        prof = {**(prof or {}), "partial_reason": _partial_profile(reasons)}
    return DataRef(
        algorithm=ALGORITHM,
        digest=str(h.hexdigest()),
        kind=kind,
        nbytes=v.nbytes,
        shape=tuple(int(d) for d in a.shape),
        dtypes={"": _dtype_display(a.dtype)},
        rows=int(a.shape[0]) if a.ndim else None,
        nulls={"": v.nulls} if v.nulls is not None else None,
        partial=bool(reasons),
        profile=prof,
    )


def _masked_ndarray_job(a: np.ma.MaskedArray[Any, Any], stats: int) -> _Job:
    mask = np.ma.getmaskarray(a)
    data = np.asarray(np.ma.getdata(a))
    # Values under the mask are arbitrary: replace them by zeros so equal arrays agree.
    filled = np.where(mask, np.zeros((), dtype=data.dtype), data) if mask.any() else data
    parts = [_array_job(mask, False, "mask"), _array_job(filled, False, "values")]

    def combine(vals: list[_Values]) -> _Values:
        h = xxhash.xxh3_128(b"masked\x00")
        h.update(vals[0].digest)
        h.update(vals[1].digest)
        return _Values(
            bytes(h.digest()),
            vals[0].nbytes + vals[1].nbytes,
            int(np.count_nonzero(mask)) + (vals[1].nulls or 0),
            {},
            vals[1].partial,
        )

    return _Composite(parts, combine)


# --------------------------------------------------------------------- execution

_POOL_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None
_POOL_PID = 0
_POOL_WORKERS = 0


def _worker_count() -> int:
    env = os.environ.get("TRACKER_HASH_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def _pool() -> ThreadPoolExecutor | None:
    global _POOL, _POOL_PID, _POOL_WORKERS
    workers = _worker_count()
    if workers < 2:
        return None
    with _POOL_LOCK:
        # A forked child inherits the pool object but not its threads: make a new one.
        if _POOL is None or os.getpid() != _POOL_PID or workers != _POOL_WORKERS:
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tracker-hash")
            _POOL_PID, _POOL_WORKERS = os.getpid(), workers
        return _POOL


def _execute(job: _Job, parallel: bool) -> _Values:
    """Run a job: its tasks on the pool when worthwhile, its finish on this thread."""
    tasks = job.tasks()
    pool = _pool() if parallel and len(tasks) > 1 and job.nbytes >= _PARALLEL_MIN_BYTES else None
    if pool is None:
        done = [t() for t in tasks]
        return job.finish([functools.partial(_identity, r) for r in done])
    try:
        futures = [pool.submit(t) for t in tasks]
    except RuntimeError:  # the pool is shut down (interpreter exit): work inline
        return job.finish([functools.partial(_identity, t()) for t in tasks])
    try:
        return job.finish([f.result for f in futures])
    finally:
        for f in futures:
            f.cancel()


def _identity(x: Any) -> Any:
    return x


# --------------------------------------------------------------------- bytes & paths


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
