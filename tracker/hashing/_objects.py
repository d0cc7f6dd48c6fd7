"""Python objects in object columns: containers, scalars, and anything else.

An object column is hashed value by value with a one-byte type tag, as three streams
(tags, payload lengths, payloads; see :class:`_ObjectJob`). Columns of strings take a
vectorised path (:func:`_encode_chunk`), Arrow-backed string columns are read straight
from their Arrow buffers (:class:`_ArrowStringJob`), and every other value is encoded
by :func:`_encode_object`. A value that cannot be encoded deterministically counts by
its type name and makes the hash partial.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import fractions
import importlib
import sys
import uuid
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import xxhash

from ._digest import (
    _F64,
    _I64,
    _U64,
    _blob,
    _canon_dtype,
    _Job,
    _le_bytes,
    _native,
    _text,
    _Thunk,
    _type_name,
    _Values,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

# Object columns are encoded this many values at a time (bounds the temporary lists).
_OBJ_CHUNK: Final = 1 << 16
# Nested containers inside object columns deeper than this are not followed.
_MAX_DEPTH: Final = 64

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
    return _encode_compound(x, opaque, depth)


def _encode_compound(x: Any, opaque: dict[str, int], depth: int) -> tuple[int, bytes]:
    """The rest of :func:`_encode_object`: containers, nested data, and opaque values.

    Arrays, frames and series nested in an object column hash by their own digest; the
    modules that hash them import this one, hence the imports inside this function.
    """
    from ._arrays import _hash_ndarray
    from ._frames import _hash_frame, _hash_series

    t = type(x)
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
