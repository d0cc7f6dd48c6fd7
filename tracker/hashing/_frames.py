"""pandas data frames, series and indexes.

A frame hashes its row count, column labels, index, and each column's dtype and
values; every column becomes one job (:func:`_values_job`), so a wide frame hashes its
columns in parallel. Extension arrays are mapped onto the numpy and object paths:
nullable arrays hash their NA mask, categoricals their categories and codes,
timezone-aware and period columns their int64 values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import xxhash

from tracker.records import DataRef

from ._arrays import _Acc, _array_job, _ArrayJob, _k_nat
from ._digest import (
    _FULL_PROFILE,
    _I64,
    _PROFILE_MAX_ITEMS,
    _U64,
    ALGORITHM,
    SCHEME,
    _Composite,
    _Const,
    _dtype_display,
    _dtype_key,
    _execute,
    _Job,
    _json_num,
    _partial_profile,
    _text,
    _Values,
)
from ._objects import _T_NA, _T_NAN, _ArrowStringJob, _nested, _ObjectJob

if TYPE_CHECKING:
    from numpy.typing import NDArray


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
