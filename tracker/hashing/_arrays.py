"""numpy arrays: the chunk kernels, the segment jobs, and :func:`_hash_ndarray`.

An array's values are hashed in C order as little-endian bytes, segment by segment
(:class:`_ArrayJob`); a kernel per dtype kind canonicalises each chunk (NaN bit
patterns) and gathers the profile's statistics in the same pass. Object arrays go to
:mod:`tracker.hashing._objects`, structured arrays field by field.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import xxhash

from tracker.records import DataRef

from ._digest import (
    _CHUNK,
    _FULL_PROFILE,
    _I64_MAX,
    _NAT,
    _NO_PROFILE,
    _SEGMENT,
    ALGORITHM,
    SCHEME,
    _canon_dtype,
    _Composite,
    _dtype_display,
    _execute,
    _Job,
    _json_num,
    _le_bytes,
    _native,
    _partial_profile,
    _shape_bytes,
    _StreamTree,
    _text,
    _Thunk,
    _tree_root,
    _type_name,
    _Values,
)
from ._objects import _ObjectJob

if TYPE_CHECKING:
    from numpy.typing import NDArray


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
