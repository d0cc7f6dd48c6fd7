"""The values a tracked notebook holds: content hashes of its data, versions of the rest.

**Data** (numpy arrays, pandas DataFrames and Series) is hashed by content with
:func:`tracker.hashing.hash_data`. :class:`DataCache` keeps each digest keyed by the
object's identity, anchored to the notebook names that hold it (so the cache keeps
no reference to the data), with a cheap *signature* (type, shape, strides, dtype,
buffer address; for pandas objects the identity of the internal block manager and
blocks). A cached digest is reused when

1. the object is the same (one of its anchor names still holds that very object),
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tracker.records import DataRef

__all__ = [
    "DataCache",
    "content_version",
    "data_items",
    "digest_bytes",
    "is_data",
    "memory_bounds",
    "short_type",
    "signature",
]

#: Objects above this size are hashed without the profile (min/max/mean per column):
#: identity is what a notebook record needs, and the profile would double the cost.
PROFILE_LIMIT_BYTES = 64 << 20
#: Containers are scanned for data up to this many items, this deep.
CONTAINER_ITEMS = 64
CONTAINER_DEPTH = 2
#: Containers of scalars are versioned by content up to this many elements (about a
#: millisecond); bigger ones are versioned by the cell that made them, like any object.
VERSION_ELEMENTS = 1_000


def digest_bytes(*parts: bytes | str) -> str:
    """Hex xxh3-128 of length-prefixed parts (so ``("ab", "c")`` != ``("a", "bc")``)."""
    # tracker.hashing owns xxhash; imported here, like hash_data below, so loading the
    # extension does not load numpy (the first tracked cell does, through hash_source).
    from tracker.hashing import hash_parts

    return hash_parts(*parts)


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


def _is_ndarray(obj: object) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(obj, np.ndarray)


def memory_bounds(obj: Any) -> tuple[int, int] | None:
    """``[low, high)`` byte addresses an ndarray's elements span (``None`` otherwise)."""
    if not _is_ndarray(obj) or obj.size == 0:
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


def signature(obj: Any) -> tuple[Any, ...]:
    """What must stay equal for a cached digest to be reused (see the module docstring)."""
    if _is_ndarray(obj):
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
    if callable(obj):
        # Functions, classes, ufuncs, numpy dispatchers, cython functions, bound methods of
        # module-level objects: named by where they live (instances have no __qualname__).
        module = getattr(obj, "__module__", None)
        qual = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        if isinstance(module, str) and module != "__main__" and isinstance(qual, str):
            return f"def:{module}.{qual}@{_package_version(module)}"
    return None


def _package_version(module: str) -> str:
    top = sys.modules.get(module.partition(".")[0])
    v = getattr(top, "__version__", None)
    return v if isinstance(v, str) else ""


# --- the data cache ------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    signature: tuple[Any, ...]
    dataref: DataRef
    bounds: tuple[int, int] | None
    anchors: set[str] = field(default_factory=set)
    stale: bool = False


class DataCache:
    """Digests of data objects, keyed by identity and anchored to names (module docstring).

    The cache holds no reference to the objects, weak or strong: a strong one would keep
    data alive after the user deleted it, and numpy refuses ``ndarray.resize`` on an array
    that has a weak reference. Instead each entry is *anchored* to the notebook names
    (``x``, ``d['k']``) bound to the object when it was hashed. An entry is used only
    while one of its anchors still resolves to the very object asked about: the name
    holds the object alive, so its id cannot have been reused. The capture hooks move
    anchors whenever a cell rebinds or deletes a name, and clear the cache when cells ran
    unobserved (tracking off), so no rebinding goes unseen.

    Args:
        resolve: Name to the object it designates now (``_MISSING``-like sentinel or any
            other object when unbound).

    Attributes:
        hashed: Number of hashes computed (cache misses).
        hashed_bytes: Bytes hashed in total.
        hash_seconds: Time spent hashing.
        hits: Digests reused.
    """

    def __init__(self, resolve: Callable[[str], Any]) -> None:
        self._resolve = resolve
        self._entries: dict[int, _Entry] = {}
        self._names: dict[str, int] = {}  # anchor name -> id of its entry
        self._lock = threading.RLock()
        self.hashed = 0
        self.hashed_bytes = 0
        self.hash_seconds = 0.0
        self.hits = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _valid(self, entry: _Entry, obj: Any) -> bool:
        if entry.stale or entry.signature != signature(obj):
            return False
        return any(self._resolve(name) is obj for name in entry.anchors)

    def cached(self, obj: Any) -> DataRef | None:
        """The cached digest of ``obj`` if it is still valid, else ``None`` (never hashes)."""
        with self._lock:
            entry = self._entries.get(id(obj))
            if entry is None or not self._valid(entry, obj):
                return None
            self.hits += 1
            return entry.dataref

    def get(self, obj: Any, name: str | None = None, *, force: bool = False) -> DataRef:
        """The digest of ``obj``, anchoring it to ``name`` (the name must hold ``obj``).

        Cached if valid (and not ``force``), else computed now. Without a name the digest
        is computed but not kept (nothing would prove later that the object is the same).

        Raises:
            HashingError: the object cannot be hashed.
        """
        key = id(obj)
        if not force:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and self._valid(entry, obj):
                    self.hits += 1
                    if name is not None:
                        self._anchor(name, key, entry)
                    return entry.dataref
        t0 = time.perf_counter()
        ref = self._hash(obj)
        elapsed = time.perf_counter() - t0
        with self._lock:
            self.hashed += 1
            self.hashed_bytes += int(ref.nbytes)
            self.hash_seconds += elapsed
            if name is not None:
                entry = self._entries.get(key)
                anchors = set(entry.anchors) if entry is not None and not force else set()
                if entry is not None and force:
                    anchors = {a for a in entry.anchors if self._resolve(a) is obj}
                new = _Entry(signature(obj), ref, memory_bounds(obj), anchors)
                self._entries[key] = new
                self._anchor(name, key, new)
        return ref

    def adopt(self, obj: Any, name: str, ref: DataRef) -> None:
        """Anchor ``name`` to ``obj`` whose digest is known to be ``ref`` (held meanwhile)."""
        key = id(obj)
        with self._lock:
            entry = self._entries.get(key)
            anchors = {a for a in entry.anchors if self._resolve(a) is obj} if entry else set()
            new = _Entry(signature(obj), ref, memory_bounds(obj), anchors)
            self._entries[key] = new
            self._anchor(name, key, new)

    def _hash(self, obj: Any) -> DataRef:
        from tracker.hashing import hash_data

        nbytes = _nbytes(obj)
        return hash_data(obj, profile=nbytes is not None and nbytes <= PROFILE_LIMIT_BYTES)

    def _anchor(self, name: str, key: int, entry: _Entry) -> None:
        old = self._names.get(name)
        if old is not None and old != key:
            self._drop_anchor(name, old)
        entry.anchors.add(name)
        self._names[name] = key

    def _drop_anchor(self, name: str, key: int) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            entry.anchors.discard(name)
            if not entry.anchors:
                del self._entries[key]

    def release(self, name: str) -> None:
        """``name`` no longer holds the object it was anchored to (rebound or deleted)."""
        with self._lock:
            key = self._names.pop(name, None)
            if key is not None:
                self._drop_anchor(name, key)

    def release_prefix(self, root: str) -> None:
        """Release ``root`` and every item name under it (``root[...]``, ``root.attr``)."""
        with self._lock:
            for name in [
                n for n in self._names if n == root or n.startswith((root + "[", root + "."))
            ]:
                self.release(name)

    def resolve_id(self, key: int) -> Any:
        """The object with id ``key``, if one of its anchor names still holds it."""
        with self._lock:
            entry = self._entries.get(key)
            names = sorted(entry.anchors) if entry is not None else []
        for name in names:
            obj = self._resolve(name)
            if id(obj) == key:
                return obj
        return None

    def names_of(self, obj: Any) -> list[str]:
        """Anchor names that hold ``obj`` now."""
        with self._lock:
            entry = self._entries.get(id(obj))
            names = sorted(entry.anchors) if entry is not None else []
        return [n for n in names if self._resolve(n) is obj]

    def mark_stale(self, obj: Any) -> None:
        """Forget the digest of ``obj`` (it may have changed)."""
        with self._lock:
            entry = self._entries.get(id(obj))
            if entry is not None:
                entry.stale = True

    def overlapping(self, obj: Any) -> list[Any]:
        """Other cached arrays, still bound, whose memory overlaps ``obj``'s (views, bases)."""
        bounds = memory_bounds(obj)
        if bounds is None:
            return []
        lo, hi = bounds
        out: list[Any] = []
        with self._lock:
            candidates = [
                (key, sorted(e.anchors))
                for key, e in self._entries.items()
                if e.bounds is not None and e.bounds[1] > lo and e.bounds[0] < hi
            ]
        for key, names in candidates:
            if key == id(obj):
                continue
            for name in names:
                other = self._resolve(name)
                if id(other) == key:
                    out.append(other)
                    break
        return out

    def clear(self) -> None:
        """Forget every digest (``%track rehash``, or after cells ran unobserved)."""
        with self._lock:
            self._entries.clear()
            self._names.clear()


def _nbytes(obj: Any) -> int | None:
    n = getattr(obj, "nbytes", None)
    if isinstance(n, int):
        return n
    try:
        return int(obj.memory_usage(index=True, deep=False).sum())
    except Exception:
        return None
