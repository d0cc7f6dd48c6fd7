"""The values a tracked notebook holds: content hashes of its data, versions of the rest.

**Data** (numpy arrays, pandas DataFrames and Series) is hashed by content with
:func:`tracker.hashing.hash_data`. :class:`DataCache` keeps each digest keyed by the
object's identity, with a weak reference (so the cache never keeps data alive) and a
cheap *signature* (type, shape, strides, dtype, buffer address; for pandas objects the
identity of the internal block manager and blocks). A cached digest is reused when

1. the object is the same (identity, checked through the weak reference),
2. its signature is unchanged, and
3. nothing marked it stale.

The capture hooks mark an entry stale (or rehash it) whenever a cell *can reach* the
object in a way that may change it (see ``tracker.capture._analysis``), and when an
array that shares memory with it (a view, a base) may have changed. The signature
only catches changes of shape and storage; values written in place are found by the
reach analysis, not by the signature. ``docs/notebook.md`` states the guarantee.

**Other values** get a *version*, a short string that changes when the value does, so
a cell's fingerprint changes when anything it reads changes:

* scalars, strings, bytes and small containers of them: a hash of their content;
* modules, and functions or classes imported from modules: their qualified name (and
  the package version);
* anything else (a fitted model, a function defined in the notebook...): decided by
  the caller from the cell record that produced it (:func:`content_version` returns
  ``None``).
"""

from __future__ import annotations

import math
import struct
import sys
import threading
import time
import types
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import xxhash

from tracker.records import DataRef

__all__ = [
    "DataCache",
    "content_version",
    "data_items",
    "digest_bytes",
    "is_data",
    "memory_bounds",
    "short_type",
]

#: Objects above this size are hashed without the profile (min/max/mean per column):
#: identity is what a notebook record needs, and the profile would double the cost.
PROFILE_LIMIT_BYTES = 64 << 20
#: Containers are scanned for data up to this many items, this deep.
CONTAINER_ITEMS = 64
CONTAINER_DEPTH = 2
#: Containers of scalars are versioned by content up to this many elements.
VERSION_ELEMENTS = 10_000


def digest_bytes(*parts: bytes | str) -> str:
    """Hex xxh3-128 of length-prefixed parts (so ``("ab", "c")`` != ``("a", "bc")``)."""
    h = xxhash.xxh3_128()
    for p in parts:
        b = p.encode("utf-8", "surrogatepass") if isinstance(p, str) else p
        h.update(struct.pack("<Q", len(b)))
        h.update(b)
    return str(h.hexdigest())


def short_type(obj: object) -> str:
    """``module.QualName`` of an object's type."""
    t = type(obj)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


_np_ndarray: Any = None
_pd_types: Any = None


def _data_types() -> tuple[type, ...]:
    """The data types, without importing numpy or pandas if the user has not."""
    global _np_ndarray, _pd_types
    out: list[type] = []
    if _np_ndarray is None and "numpy" in sys.modules:
        _np_ndarray = sys.modules["numpy"].ndarray
    if _np_ndarray is not None:
        out.append(_np_ndarray)
    if _pd_types is None and "pandas" in sys.modules:
        pd = sys.modules["pandas"]
        if hasattr(pd, "DataFrame") and hasattr(pd, "Series"):
            _pd_types = (pd.DataFrame, pd.Series)
    if _pd_types is not None:
        out.extend(_pd_types)
    return tuple(out)


def is_data(obj: object) -> bool:
    """Whether ``obj`` is data the tracker hashes: an ndarray, a DataFrame or a Series."""
    types_ = _data_types()
    return bool(types_) and isinstance(obj, types_)


def _is_pandas(obj: object) -> bool:
    return _pd_types is not None and isinstance(obj, _pd_types)


def memory_bounds(obj: Any) -> tuple[int, int] | None:
    """``[low, high)`` byte addresses an ndarray's elements span (``None`` otherwise)."""
    if _np_ndarray is None or not isinstance(obj, _np_ndarray) or obj.size == 0:
        return None
    try:
        start = obj.__array_interface__["data"][0]
    except (AttributeError, KeyError, TypeError):
        return None
    low = high = int(start)
    for extent, stride in zip(obj.shape, obj.strides, strict=True):
        span = (extent - 1) * stride
        if span < 0:
            low += span
        else:
            high += span
    return low, high + obj.itemsize


def _signature(obj: Any) -> tuple[Any, ...]:
    """What must stay equal for a cached digest to be reused (see the module docstring)."""
    if _np_ndarray is not None and isinstance(obj, _np_ndarray):
        try:
            ptr = obj.__array_interface__["data"][0]
        except (AttributeError, KeyError, TypeError):
            ptr = None
        return (type(obj), obj.shape, obj.strides, obj.dtype.str, ptr)
    mgr = getattr(obj, "_mgr", None)  # pandas internals: best effort, never required
    blocks: tuple[int, ...] = ()
    try:
        blocks = tuple(id(b.values) for b in mgr.blocks[:64]) if mgr is not None else ()
    except (AttributeError, TypeError):
        blocks = ()
    return (type(obj), getattr(obj, "shape", None), id(mgr), blocks)


def data_items(obj: object, prefix: str, depth: int = CONTAINER_DEPTH) -> Iterator[tuple[str, Any]]:
    """``(name, value)`` of the data inside a container (dict, list, tuple, plain object).

    Names follow Python syntax: ``d['train']``, ``splits[0]``, ``ds.X``. Bounded to
    :data:`CONTAINER_ITEMS` items per level and :data:`CONTAINER_DEPTH` levels.
    """
    if depth <= 0:
        return
    items: list[tuple[str, Any]] = []
    try:
        if isinstance(obj, dict):
            for i, (k, v) in enumerate(obj.items()):
                if i >= CONTAINER_ITEMS:
                    break
                if isinstance(k, str | int):
                    items.append((f"{prefix}[{k!r}]", v))
        elif isinstance(obj, list | tuple):
            items = [(f"{prefix}[{i}]", v) for i, v in enumerate(obj[:CONTAINER_ITEMS])]
        elif isinstance(obj, types.SimpleNamespace) or _is_notebook_instance(obj):
            d = vars(obj)
            items = [(f"{prefix}.{k}", v) for k, v in list(d.items())[:CONTAINER_ITEMS]]
        else:
            return
    except Exception:  # a container whose iteration misbehaves: nothing to see
        return
    for name, value in items:
        if is_data(value):
            yield name, value
        elif isinstance(value, dict | list | tuple | types.SimpleNamespace):
            yield from data_items(value, name, depth - 1)


def _is_notebook_instance(obj: object) -> bool:
    t = type(obj)
    return t.__module__ == "__main__" and hasattr(obj, "__dict__") and not isinstance(obj, type)


def is_container(obj: object) -> bool:
    """Whether :func:`data_items` looks inside ``obj``."""
    return isinstance(obj, dict | list | tuple | types.SimpleNamespace) or _is_notebook_instance(
        obj
    )


# --- versions of non-data values -----------------------------------------------------------

_SCALARS = (int, float, complex, bool, str, bytes, type(None))


def _encode_value(obj: Any, budget: list[int], depth: int) -> bytes | None:
    """Canonical bytes of a scalar or small container of scalars; ``None`` if not one."""
    budget[0] -= 1
    if budget[0] < 0 or depth > 6:
        return None
    t = type(obj)
    if t is bool or obj is None:
        return repr(obj).encode()
    if t is int:
        return b"i" + repr(obj).encode()
    if t is float:
        f = float(obj)
        return b"f" + (b"nan" if math.isnan(f) else f.hex().encode())
    if t is complex:
        return b"c" + repr(obj).encode()
    if t is str:
        return b"s" + bytes(obj.encode("utf-8", "surrogatepass"))
    if t is bytes:
        return b"b" + bytes(obj)
    if t in (tuple, list, frozenset, set):
        seq = sorted(obj, key=repr) if t in (set, frozenset) else obj
        parts = []
        for x in seq:
            enc = _encode_value(x, budget, depth + 1)
            if enc is None:
                return None
            parts.append(struct.pack("<Q", len(enc)) + enc)
        return t.__name__.encode() + b"(" + b"".join(parts) + b")"
    if t is dict:
        parts = []
        for k, v in obj.items():
            ek = _encode_value(k, budget, depth + 1)
            ev = _encode_value(v, budget, depth + 1)
            if ek is None or ev is None:
                return None
            parts.append(struct.pack("<QQ", len(ek), len(ev)) + ek + ev)
        parts.sort()
        return b"dict(" + b"".join(parts) + b")"
    np = sys.modules.get("numpy")
    if np is not None and isinstance(obj, np.generic) and not isinstance(obj, np.void):
        return b"n" + str(obj.dtype).encode() + b":" + repr(obj.item()).encode()
    return None


def content_version(obj: object) -> str | None:
    """A version derived from the value alone, or ``None`` for opaque objects.

    Scalars and small containers of scalars hash their content; modules and objects
    imported from modules (functions, classes) use their qualified name and package
    version. Functions and classes defined in the notebook, and any other object,
    return ``None``: their version comes from the cell that made them.
    """
    enc = _encode_value(obj, [VERSION_ELEMENTS], 0)
    if enc is not None:
        return "v:" + digest_bytes(enc)[:24]
    if isinstance(obj, types.ModuleType):
        return f"module:{obj.__name__}@{_package_version(obj.__name__)}"
    if isinstance(obj, types.FunctionType | types.BuiltinFunctionType | type):
        module = getattr(obj, "__module__", None)
        if isinstance(module, str) and module != "__main__":
            qual = getattr(obj, "__qualname__", getattr(obj, "__name__", "?"))
            return f"def:{module}.{qual}@{_package_version(module)}"
    return None


def _package_version(module: str) -> str:
    top = sys.modules.get(module.partition(".")[0])
    v = getattr(top, "__version__", None)
    return v if isinstance(v, str) else ""


# --- the data cache ------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    ref: weakref.ReferenceType[Any]
    signature: tuple[Any, ...]
    dataref: DataRef
    bounds: tuple[int, int] | None
    stale: bool = False


class DataCache:
    """Digests of data objects, keyed by identity (see the module docstring). Thread-safe.

    Attributes:
        hashed: Number of hashes computed (cache misses).
        hashed_bytes: Bytes hashed in total.
        hash_seconds: Time spent hashing.
        hits: Digests reused.
    """

    def __init__(self) -> None:
        self._entries: dict[int, _Entry] = {}
        self._lock = threading.RLock()
        self.hashed = 0
        self.hashed_bytes = 0
        self.hash_seconds = 0.0
        self.hits = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _hash(self, obj: Any) -> DataRef:
        from tracker.hashing import hash_data

        nbytes = _nbytes(obj)
        return hash_data(obj, profile=nbytes is not None and nbytes <= PROFILE_LIMIT_BYTES)

    def cached(self, obj: Any) -> DataRef | None:
        """The cached digest if it is still valid, else ``None`` (never hashes)."""
        with self._lock:
            entry = self._entries.get(id(obj))
            if entry is None or entry.stale or entry.ref() is not obj:
                return None
            if entry.signature != _signature(obj):
                return None
            self.hits += 1
            return entry.dataref

    def get(self, obj: Any, *, force: bool = False) -> DataRef:
        """The digest of ``obj``: cached if valid (and not ``force``), else computed now.

        Raises:
            HashingError: the object cannot be hashed.
        """
        if not force:
            hit = self.cached(obj)
            if hit is not None:
                return hit
        t0 = time.perf_counter()
        ref = self._hash(obj)
        elapsed = time.perf_counter() - t0
        self._store(obj, ref, elapsed)
        return ref

    def _store(self, obj: Any, ref: DataRef, elapsed: float) -> None:
        key = id(obj)

        def _forget(_: object, key: int = key) -> None:
            with self._lock:
                e = self._entries.get(key)
                if e is not None and e.ref() is None:
                    del self._entries[key]

        try:
            wr = weakref.ref(obj, _forget)
        except TypeError:
            return  # cannot be referenced weakly: never cache (an id could be reused)
        with self._lock:
            self.hashed += 1
            self.hashed_bytes += int(ref.nbytes)
            self.hash_seconds += elapsed
            self._entries[key] = _Entry(wr, _signature(obj), ref, memory_bounds(obj))

    def mark_stale(self, obj: Any) -> None:
        """Forget the digest of ``obj`` (it may have changed)."""
        with self._lock:
            entry = self._entries.get(id(obj))
            if entry is not None and entry.ref() is obj:
                entry.stale = True

    def overlapping(self, obj: Any) -> list[Any]:
        """Other cached arrays whose memory overlaps ``obj``'s (views, bases), still alive."""
        bounds = memory_bounds(obj)
        if bounds is None:
            return []
        lo, hi = bounds
        out = []
        with self._lock:
            for entry in self._entries.values():
                b = entry.bounds
                if b is None or b[1] <= lo or b[0] >= hi:
                    continue
                other = entry.ref()
                if other is not None and other is not obj:
                    out.append(other)
        return out

    def clear(self) -> None:
        """Forget every digest (``%track rehash``)."""
        with self._lock:
            self._entries.clear()


def _nbytes(obj: Any) -> int | None:
    n = getattr(obj, "nbytes", None)
    if isinstance(n, int):
        return n
    try:
        return int(obj.memory_usage(index=True, deep=False).sum())
    except Exception:
        return None
