"""The digest core: constants, framing, the segment tree, and the job runner.

Everything every other module of :mod:`tracker.hashing` builds on. A digest is fed
length-prefixed fields (:func:`_blob`, :func:`_text`) so no two inputs frame the same
byte stream; value buffers go through a segment tree of 16 MiB leaves
(:func:`_tree_root`, :class:`_StreamTree`) so they can be hashed in parallel with a
digest that does not depend on the number of threads. Hashing work is expressed as
jobs (:class:`_Job`): parallel tasks plus a ``finish`` step that runs on the calling
thread, executed by :func:`_execute` on a small shared thread pool.
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
import struct
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import xxhash

from tracker.exceptions import ValidationError
from tracker.records import float_to_json

if TYPE_CHECKING:
    from numpy.typing import NDArray

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
# Below this many bytes the thread pool costs more than it saves.
_PARALLEL_MIN_BYTES: Final = 1 << 24
# How many columns (or directory files) the profile describes one by one.
_PROFILE_MAX_ITEMS: Final = 256

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
