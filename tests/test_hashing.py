"""Tests of tracker.hashing: identity properties of digests, files, directories, errors.

Real numpy/pandas objects, real files; no mocks and no timing assertions.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import struct
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xxhash
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.extra import pandas as pdst

from tracker.exceptions import HashingError, ValidationError
from tracker.hashing import (
    _frames,
    _objects,
    clear_file_cache,
    file_cache_info,
    hash_data,
    hash_directory,
    hash_file,
    hash_parts,
    hash_source,
    is_hashable_data,
)
from tracker.records import DataRef

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NUMERIC_DTYPES = [
    np.dtype(t)
    for t in (
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint64",
        "float16",
        "float32",
        "float64",
        "complex128",
        "bool",
    )
]


def digest(obj: Any, **kw: Any) -> str:
    return hash_data(obj, **kw).digest


def column_digests(df: pd.DataFrame) -> dict[str, str]:
    prof = hash_data(df).profile
    assert prof is not None
    return {k: v["digest"] for k, v in prof["columns"].items()}


# ----------------------------------------------------------------------------- golden

# Fixed inputs whose digests are pinned. If one of these changes, the digest recipe
# changed: every stored hash stops matching. Bump hashing.SCHEME and update the values
# on purpose, never silently.
GOLDEN_SCRIPT = textwrap.dedent(
    """
    import datetime, decimal, json
    import numpy as np, pandas as pd
    from tracker.hashing import hash_data, hash_source

    def cases():
        yield "f64", np.arange(12, dtype=np.float64).reshape(3, 4)
        yield "i32_nan_free", np.array([[1, -2], [3, 2**31 - 1]], dtype=np.int32)
        yield "f32_nan", np.array([1.5, np.nan, -0.0, np.inf], dtype=np.float32)
        yield "bytes", b"hello tracker"
        yield "series", pd.Series([1.0, None, 3.0], name="y", index=["a", "b", "c"])
        yield "frame", pd.DataFrame({
            "x": [1.0, np.nan, 3.0],
            "n": pd.array([1, None, 3], dtype="Int64"),
            "s": ["a", None, "\u00e9t\u00e9"],
            "c": pd.Categorical(["u", "v", "u"]),
            "t": pd.to_datetime(["2024-01-01", None, "2024-03-01"]).tz_localize("UTC"),
            "o": [{"k": (1, 2.5)}, {3, 1, 2}, decimal.Decimal("1.10")],
        })
        yield "multiindex", pd.DataFrame(
            {"v": [1, 2, 3]},
            index=pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["k", "j"]),
        )

    out = {name: hash_data(obj).digest for name, obj in cases()}
    out["source"] = hash_source("x = 1\\n")
    print(json.dumps(out, sort_keys=True))
    """
)

GOLDEN = {
    "bytes": "0915e6254cfa3edf40bab6b7e98be826",
    "f32_nan": "bdde1566277bb5ffb4b7022e337b0097",
    "f64": "db7f0fd855073bf0f276110b5be2705f",
    "frame": "52ddd2498eba0d705f0d297d65ab8b29",
    "i32_nan_free": "9d85a8ea9289fa5fa5f5835ca5654409",
    "multiindex": "a37091375f902a213cd54cd1fa586b25",
    "series": "44645a0be0b9a6b3d2a10d9b59eb01c0",
    "source": "7298ca6b1c4f816bcca6297538b6249e",
}


def _golden_here() -> dict[str, str]:
    ns: dict[str, Any] = {}
    code = GOLDEN_SCRIPT.replace("print(json.dumps(out, sort_keys=True))", "RESULT = out")
    exec(compile(code, "<golden>", "exec"), ns)
    result: dict[str, str] = ns["RESULT"]
    return result


def test_golden_digests_are_pinned() -> None:
    assert _golden_here() == GOLDEN


def test_digests_are_equal_in_another_process_with_another_hash_seed() -> None:
    env = {**os.environ, "PYTHONHASHSEED": "12345", "TRACKER_HASH_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", GOLDEN_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    assert json.loads(proc.stdout) == _golden_here()


def test_bytes_digest_is_plain_xxh3_128() -> None:
    import xxhash

    assert digest(b"hello tracker") == xxhash.xxh3_128(b"hello tracker").hexdigest()


# -------------------------------------------------------------------- arrays: equality

arrays = hnp.arrays(
    dtype=st.sampled_from(NUMERIC_DTYPES),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6),
)


@SETTINGS
@given(arrays)
def test_equal_arrays_hash_equal_whatever_the_memory_layout(a: np.ndarray) -> None:
    d = digest(a)
    assert digest(a.copy()) == d
    assert digest(np.asfortranarray(a)) == d
    swapped = a.astype(a.dtype.newbyteorder(">" if sys.byteorder == "little" else "<"))
    assert digest(swapped) == d
    # A strided view over a bigger buffer that holds the same values.
    big = np.zeros((*a.shape[:-1], a.shape[-1] * 3), dtype=a.dtype)
    view = big[..., ::3]
    view[...] = a
    assert not view.flags.c_contiguous or view.size <= 1
    assert digest(view) == d


@SETTINGS
@given(arrays, st.data())
def test_changing_any_single_value_changes_the_digest(a: np.ndarray, data: st.DataObject) -> None:
    flat_index = data.draw(st.integers(0, a.size - 1))
    pos = np.unravel_index(flat_index, a.shape)
    new = data.draw(hnp.from_dtype(a.dtype))
    old = a[pos]
    both_nan = a.dtype.kind in "fc" and bool(np.isnan(old)) and bool(np.isnan(new))
    assume(not both_nan)  # every NaN hashes as the canonical NaN, on purpose
    assume(np.asarray(old).tobytes() != np.asarray(new, dtype=a.dtype).tobytes())
    b = a.copy()
    b[pos] = new
    assert digest(b) != digest(a)


@SETTINGS
@given(
    hnp.arrays(
        np.int64, hnp.array_shapes(min_dims=1, max_dims=2), elements=st.integers(-1000, 1000)
    )
)
def test_same_numbers_in_another_dtype_hash_differently(a: np.ndarray) -> None:
    d = digest(a)
    assert digest(a.astype(np.float64)) != d
    assert digest(a.astype(np.int32)) != d
    f64 = a.astype(np.float64)
    assert digest(f64.astype(np.float32)) != digest(f64)


@SETTINGS
@given(hnp.arrays(np.float64, st.sampled_from([(12,), (3, 4), (4, 3), (2, 6), (2, 2, 3)])))
def test_reshaping_the_same_buffer_changes_the_digest(a: np.ndarray) -> None:
    shapes = {(12,), (3, 4), (4, 3), (2, 6), (2, 2, 3), (12, 1), (1, 12)}
    digests = {digest(a.reshape(s)) for s in shapes}
    assert len(digests) == len(shapes)


def test_multi_segment_arrays_hash_the_same_serially_in_parallel_and_streamed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 40 MiB: three 16 MiB segments, so the thread pool is used.
    a = np.random.default_rng(3).random((1024, 5 * 1024))
    a[17, 33] = np.nan
    parallel = hash_data(a)
    fortran = hash_data(np.asfortranarray(a))  # the streamed path (no segment views)
    monkeypatch.setenv("TRACKER_HASH_THREADS", "1")
    serial = hash_data(a)
    assert parallel.digest == fortran.digest == serial.digest
    assert parallel.nulls == fortran.nulls == serial.nulls == {"": 1}
    assert parallel.profile == serial.profile


def test_hashing_does_not_copy_the_data() -> None:
    # numpy reports its buffers to tracemalloc: the peak extra memory while hashing
    # must stay at a few working chunks, far below the 64 MB being hashed.
    import tracemalloc

    rng = np.random.default_rng(5)
    df = pd.DataFrame({f"c{i}": rng.random(1_000_000) for i in range(8)})
    df.iloc[10, 3] = np.nan  # the chunk holding a NaN is copied, once
    wrapped = pd.DataFrame(df.to_numpy(), copy=False)  # strided columns
    fortran = np.asfortranarray(df.to_numpy())
    for obj in (df, wrapped, fortran, df.to_numpy()):
        hash_data(obj)  # warm up the pool and caches
        tracemalloc.start()
        try:
            hash_data(obj, profile="full")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 8 * 2**20, (type(obj), peak)


def test_nan_bit_patterns_hash_alike_but_signed_zeros_do_not() -> None:
    a = np.array([1.0, np.nan, 3.0])
    negative_nan = a.copy()
    negative_nan.view(np.uint64)[1] |= np.uint64(1 << 63)  # x86's default NaN
    payload_nan = a.copy()
    payload_nan.view(np.uint64)[1] = np.uint64(0x7FF0000000000001)
    assert np.isnan(negative_nan[1])
    assert np.isnan(payload_nan[1])
    assert digest(a) == digest(negative_nan) == digest(payload_nan)
    assert digest(np.array([0.0])) != digest(np.array([-0.0]))
    c = np.array([1 + 1j, complex(np.nan, 0)])
    c2 = c.copy()
    c2.view(np.float64)[2:3].view(np.uint64)[0] |= np.uint64(1 << 63)
    assert digest(c) == digest(c2)


def test_array_metadata_and_profile() -> None:
    a = np.array([[1.0, np.nan], [np.nan, -4.0]])
    ref = hash_data(a)
    assert ref.kind == "ndarray"
    assert ref.algorithm == "xxh3-128"
    assert ref.shape == (2, 2)
    assert ref.rows == 2
    assert ref.dtypes == {"": "float64"}
    assert ref.nulls == {"": 2}
    assert ref.nbytes == 32
    assert not ref.partial
    # Floats: the mean rides on the NaN-check pass; min/max cost two passes more.
    assert ref.profile == {"mean": -1.5}
    full = hash_data(a, profile="full")
    assert full.profile == {"min": -4.0, "max": 1.0, "mean": -1.5}
    light = hash_data(a, profile=False)
    assert light.digest == ref.digest == full.digest
    assert light.profile is None
    assert light.nulls == full.nulls == {"": 2}
    ints = hash_data(np.array([3, -1, 7], dtype=np.int16))
    assert ints.profile == {"min": -1, "max": 7, "mean": 3.0}
    assert ints.nulls == {"": 0}
    assert DataRef.from_dict(json.loads(json.dumps(ref.to_dict()))) == ref


def test_other_array_kinds() -> None:
    t = np.array(["2024-01-01", "NaT", "2024-02-01"], dtype="datetime64[s]")
    ref = hash_data(t)
    assert ref.nulls == {"": 1}
    assert ref.profile == {"min": "2024-01-01T00:00:00", "max": "2024-02-01T00:00:00"}
    assert digest(t) != digest(t.astype("datetime64[ms]"))
    u = np.array(["a", "bé"], dtype="U3")
    assert digest(u) == digest(u.astype(">U3")) != digest(u.astype("U4"))
    assert digest(np.array(5)) != digest(np.array([5]))
    assert digest(np.zeros((0, 3))) != digest(np.zeros((3, 0)))
    b = np.array([True, False, True])
    assert hash_data(b).profile == {"mean": pytest.approx(2 / 3)}


def test_structured_arrays_ignore_padding() -> None:
    aligned = np.dtype([("a", "u1"), ("b", "<f8")], align=True)
    packed = np.dtype([("a", "u1"), ("b", "<f8")])
    x = np.zeros(3, dtype=aligned)
    x.view(np.uint8)[:] = 0xAB  # garbage in the padding bytes
    x["a"], x["b"] = [1, 2, 3], [0.5, 1.5, 2.5]
    y = np.array(list(zip([1, 2, 3], [0.5, 1.5, 2.5], strict=True)), dtype=packed)
    assert digest(x) == digest(y)
    y["b"][1] = 9.0
    assert digest(x) != digest(y)


def test_masked_arrays_ignore_values_under_the_mask() -> None:
    a = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    b = np.ma.masked_array([1.0, 99.0, 3.0], mask=[False, True, False])
    assert digest(a) == digest(b)
    assert digest(a) != digest(np.array([1.0, 2.0, 3.0]))
    assert hash_data(a).nulls == {"": 1}


def test_ndarray_subclasses_other_than_masked_and_matrix_are_partial() -> None:
    class Tagged(np.ndarray):
        pass

    ref = hash_data(np.arange(3).view(Tagged))
    assert ref.partial
    assert ref.profile is not None
    assert "Tagged" in ref.profile["partial_reason"]


def test_object_arrays_hash_by_value() -> None:
    a = np.array(["x", None, 3, 2.5, (1, "y"), dt.date(2024, 1, 2)], dtype=object)
    b = np.array(["x", None, 3, 2.5, (1, "y"), dt.date(2024, 1, 2)], dtype=object)
    assert digest(a) == digest(b)
    assert not hash_data(a).partial
    assert hash_data(a).nulls == {"": 1}
    b[4] = (1, "z")
    assert digest(a) != digest(b)
    assert digest(np.array([1], dtype=object)) != digest(np.array([1.0], dtype=object))
    assert digest(np.array(["1"], dtype=object)) != digest(np.array([1], dtype=object))
    assert digest(np.array([True], dtype=object)) != digest(np.array([1], dtype=object))


# --------------------------------------------------------------------- data frames

frames = pdst.data_frames(
    columns=[
        pdst.column("f", dtype=float),
        pdst.column("i", dtype=np.int64, elements=st.integers(-(2**40), 2**40)),
        pdst.column("s", dtype=object, elements=st.none() | st.text(max_size=5)),
    ],
    index=pdst.range_indexes(min_size=1, max_size=30),
)


@SETTINGS
@given(frames)
def test_equal_frames_hash_equal(df: pd.DataFrame) -> None:
    d = digest(df)
    assert digest(df.copy(deep=True)) == d
    # (pass the dtype: pandas 3 would infer `str` for an object array of strings)
    rebuilt = pd.DataFrame(
        {c: pd.Series(df[c].to_numpy().copy(), dtype=df[c].dtype) for c in df.columns}
    )
    assert digest(rebuilt) == d
    # Same content through a 2-D block that pandas does not own (strided columns).
    num = df[["f", "i"]].astype(np.float64)
    wrapped = pd.DataFrame(num.to_numpy().copy(), columns=num.columns, copy=False)
    assert digest(wrapped) == digest(num)


@SETTINGS
@given(frames, st.data())
def test_frame_changes_change_the_digest(df: pd.DataFrame, data: st.DataObject) -> None:
    d = digest(df)
    assert digest(df.rename(columns={"f": "g"})) != d
    assert digest(df[["i", "f", "s"]]) != d
    assert digest(df.set_axis(df.index + 1)) != d
    row = data.draw(st.integers(0, len(df) - 1))
    changed = df.copy()
    old = changed.loc[row, "i"]
    changed.loc[row, "i"] = old + 1
    assert digest(changed) != d
    assert digest(df.astype({"i": np.float64})) != d
    if len(df) > 1:
        assert digest(df.iloc[:-1]) != d


def test_million_row_frame_middle_value_change() -> None:
    n = 1_000_000
    rng = np.random.default_rng(7)
    df = pd.DataFrame({"a": rng.random(n), "b": rng.integers(0, 100, n), "c": rng.random(n)})
    d = digest(df)
    changed = df.copy()
    changed.iloc[n // 2, 1] += 1
    assert digest(changed) != d
    changed = df.copy()
    changed.iloc[n // 2, 2] = np.nextafter(changed.iloc[n // 2, 2], 2.0)
    assert digest(changed) != d
    assert digest(df.copy()) == d


def test_frames_with_nan_hash_deterministically_and_count_nulls() -> None:
    def make() -> pd.DataFrame:
        return pd.DataFrame(
            {
                "x": [1.0, np.nan, np.nan, 4.0],
                "y": np.array([np.nan, 1, 2, 3], dtype=np.float32),
                "s": ["a", None, "c", np.nan],
                "k": [1, 2, 3, 4],
            }
        )

    a, b = make(), make()
    ref = hash_data(a)
    assert ref.digest == digest(b)
    assert ref.nulls == {"x": 2, "y": 1, "s": 2, "k": 0}
    assert dict(ref.nulls) == {k: int(v) for k, v in a.isna().sum().items()}
    assert ref.profile is not None
    assert ref.profile["columns"]["x"] == {
        "digest": ref.profile["columns"]["x"]["digest"],
        "mean": 2.5,
    }
    full = hash_data(a, profile="full").profile
    assert full is not None
    assert full["columns"]["x"]["min"] == 1.0
    assert full["columns"]["x"]["max"] == 4.0
    assert full["columns"]["y"]["min"] == 1.0
    assert full["columns"]["k"] == ref.profile["columns"]["k"]


@SETTINGS
@given(frames)
def test_the_profile_level_never_changes_the_digest(df: pd.DataFrame) -> None:
    refs = [hash_data(df, profile=p) for p in (False, True, "full")]
    assert len({r.digest for r in refs}) == 1
    assert len({tuple(sorted((r.nulls or {}).items())) for r in refs}) == 1


def test_bad_profile_argument() -> None:
    with pytest.raises(ValidationError, match="profile"):
        hash_data(np.zeros(2), profile="yes")  # type: ignore[arg-type]


def test_fast_and_public_column_access_agree() -> None:
    # hash_data reads columns through pandas' _iter_column_arrays when it exists; the
    # public df.items() route (the fallback) must give the same digest and profile.
    df = pd.DataFrame(
        {
            "f": [1.0, np.nan, 3.0],
            "i": [1, 2, 3],
            "n": pd.array([1, None, 3], dtype="Int64"),
            "s": ["a", None, "c"],
            "c": pd.Categorical(["u", "v", "u"]),
            "t": pd.date_range("2024-01-01", periods=3, tz="Europe/Paris"),
            "p": pd.period_range("2024-01", periods=3, freq="M"),
            "o": [(1, 2), None, "x"],
        }
    )
    df["f2"] = df["f"] * 2  # a second float block, not consolidated
    fast = _frames._hash_frame(df, profile=1, parallel=False)
    public = _frames._hash_frame(df, profile=1, parallel=False, public=True)
    assert fast == public
    assert hash_data(df) == fast


def test_every_dataref_is_strict_json() -> None:
    df = pd.DataFrame(
        {
            "inf": [np.inf, -np.inf, 1.0],
            "allnan": [np.nan, np.nan, np.nan],
            "big": np.array([2**64 - 1, 0, 1], dtype=np.uint64),
            "b": [True, False, True],
            "n": pd.array([None, None, None], dtype="Int64"),
            "t": pd.to_datetime(["2024-01-01", None, "2024-01-03"]),
            "td": pd.to_timedelta([1, None, 3], unit="s"),
            "c": pd.Categorical(["a", None, "b"]),
            "s": ["x", None, "y"],
            "o": [object(), 1, 2],
        },
        index=pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)]),
    )
    for level in (False, True, "full"):
        ref = hash_data(df, profile=level)
        text = json.dumps(ref.to_dict(), allow_nan=False)
        assert DataRef.from_dict(json.loads(text)).digest == ref.digest
    assert ref.nulls == {
        "inf": 0,
        "allnan": 3,
        "big": 0,
        "b": 0,
        "n": 3,
        "t": 1,
        "td": 1,
        "c": 1,
        "s": 1,
        "o": 0,
    }
    assert ref.profile is not None
    assert ref.profile["columns"]["inf"]["max"] == "Infinity"
    assert ref.profile["columns"]["big"]["max"] == 2**64 - 1


def test_frame_metadata() -> None:
    df = pd.DataFrame({"a": [1, 2], 3: [0.5, 1.5]})
    ref = hash_data(df)
    assert ref.kind == "dataframe"
    assert ref.shape == (2, 2)
    assert ref.rows == 2
    assert ref.dtypes == {"a": "int64", "3": "float64"}
    assert ref.nbytes >= 32
    assert not ref.partial
    assert ref.profile is not None
    assert set(ref.profile) == {"columns", "index"}
    light = hash_data(df, profile=False)
    assert light.digest == ref.digest
    assert light.profile is None
    dup = pd.DataFrame([[1, 2]], columns=["a", "a"])
    assert set(hash_data(dup).dtypes or {}) == {"a", "a #1"}


def test_column_labels_types_and_names_matter() -> None:
    a = pd.DataFrame({"1": [1.0]})
    b = pd.DataFrame({1: [1.0]})
    assert digest(a) != digest(b)
    c = a.copy()
    c.columns.name = "features"
    assert digest(c) != digest(a)
    # ...but not the dtype of the label index (object vs str labels).
    d = a.copy()
    d.columns = pd.Index(["1"], dtype=object)
    assert digest(d) == digest(a)


def test_range_index_equals_its_materialised_int64_index() -> None:
    df = pd.DataFrame({"v": [1.0, 2.0, 3.0]})
    materialised = df.set_axis(pd.Index([0, 1, 2], dtype=np.int64))
    assert isinstance(df.index, pd.RangeIndex)
    assert not isinstance(materialised.index, pd.RangeIndex)
    assert digest(df) == digest(materialised)
    assert digest(df) != digest(df.set_axis(pd.Index([0, 1, 3])))
    assert digest(df) != digest(df.set_axis(pd.RangeIndex(0, 6, 2)))
    assert digest(df) != digest(df.rename_axis("row"))
    evens = pd.DataFrame({"v": [1.0, 2.0]}, index=pd.RangeIndex(0, 3, 2))
    assert digest(evens) == digest(evens.set_axis(pd.Index([0, 2])))
    assert digest(evens) == digest(evens.set_axis(pd.RangeIndex(0, 4, 2)))


def test_multiindex_and_other_indexes() -> None:
    mi = pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["k", "j"])
    df = pd.DataFrame({"v": [1, 2, 3]}, index=mi)
    d = digest(df)
    mi2 = pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 2)], names=["k", "j"])
    assert digest(df.set_axis(mi2)) != d
    assert digest(df.rename_axis(["k", "x"])) != d
    # Unused levels left by slicing do not change the labels, so not the digest.
    sliced = pd.DataFrame(
        {"v": [1, 2, 3, 4]},
        index=mi.append(pd.MultiIndex.from_tuples([("z", 9)], names=["k", "j"])),
    ).iloc[:3]
    assert digest(sliced) == d
    dates = pd.DataFrame({"v": [1, 2]}, index=pd.to_datetime(["2024-01-01", "2024-01-02"]))
    assert digest(dates) != digest(dates.set_axis(pd.to_datetime(["2024-01-01", "2024-01-03"])))
    strs = pd.DataFrame({"v": [1, 2]}, index=["a", "b"])
    assert digest(strs) != digest(strs.set_axis(["a", "c"]))


def test_nullable_extension_columns() -> None:
    values = np.array([1, 2, 3], dtype=np.int64)
    mask = np.array([False, True, False])
    other_values = np.array([1, 12345, 3], dtype=np.int64)
    a = pd.DataFrame({"n": pd.arrays.IntegerArray(values, mask)})
    b = pd.DataFrame({"n": pd.arrays.IntegerArray(other_values, mask.copy())})
    assert digest(a) == digest(b)  # the value under the NA mask does not count
    c = pd.DataFrame({"n": pd.array([1, 0, 3], dtype="Int64")})
    assert digest(a) != digest(c)  # NA is not 0
    ref = hash_data(a)
    assert ref.nulls == {"n": 1}
    assert ref.dtypes == {"n": "Int64"}
    assert ref.profile is not None
    assert ref.profile["columns"]["n"]["max"] == 3
    assert digest(a) != digest(a.astype("Int32"))
    bools = pd.DataFrame({"b": pd.array([True, None, False], dtype="boolean")})
    assert hash_data(bools).nulls == {"b": 1}
    assert digest(bools) != digest(
        pd.DataFrame({"b": pd.array([True, False, False], dtype="boolean")})
    )
    floats = pd.DataFrame({"f": pd.array([1.5, None], dtype="Float64")})
    assert hash_data(floats).nulls == {"f": 1}


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def test_string_columns() -> None:
    values = ["a", None, "\u00e9", "\ud800", "", "a\x00b"]
    obj = pd.DataFrame({"s": pd.Series(values, dtype=object)})
    py = pd.DataFrame({"s": pd.Series(values, dtype="string[python]")})
    # pandas' default str dtype is Arrow-backed when pyarrow is installed, and Arrow only
    # holds valid UTF-8: a lone surrogate cannot even be stored there, so leave it out.
    storable = [v for v in values if v != "\ud800"] if _has_pyarrow() else values
    default = pd.DataFrame({"s": pd.Series(storable)})
    ref = hash_data(py)
    assert ref.nulls == {"s": 1}
    assert not ref.partial
    assert hash_data(obj).nulls == {"s": 1}
    assert hash_data(default).nulls == {"s": 1}
    # The str dtype stores the missing value as NaN: the same values as an object
    # column holding NaN, while None is a different marker. The dtype still counts.
    obj_nan = pd.DataFrame(
        {"s": pd.Series([np.nan if v is None else v for v in storable], dtype=object)}
    )
    assert column_digests(obj_nan)["s"] == column_digests(default)["s"]
    obj_none = pd.DataFrame({"s": pd.Series(storable, dtype=object)})
    assert column_digests(obj_none)["s"] != column_digests(obj_nan)["s"]
    assert len({digest(x) for x in (obj, py, default, obj_nan)}) == 4
    changed = ["a", None, "\u00e9", "\ud800", " ", "a\x00b"]
    assert digest(pd.DataFrame({"s": pd.Series(changed, dtype="string[python]")})) != digest(py)
    # Length prefixes: moving a character between neighbours changes the digest.
    assert digest(pd.DataFrame({"s": ["ab", "c"]})) != digest(pd.DataFrame({"s": ["a", "bc"]}))


def test_string_fast_path_matches_the_generic_encoder() -> None:
    cases: list[list[Any]] = [
        ["x", "", "z" * 300],
        ["x", None, "\u00e9\u00e9", float("nan"), "", pd.NA, pd.NaT],
        ["caf\u00e9", "\ud800", "\udcff", "\udc80x", "\u00ff"],  # lone surrogates, U+00FF
        ["x", 1.5],  # a float that is not NaN is a value: the generic path runs
        [1.0, None],
        [None, None],
    ]
    for items in cases:
        fast = _objects._encode_chunk(np.array(items, dtype=object), {})
        generic = _objects._encode_generic(list(items), {})
        assert bytes(fast[0]) == bytes(generic[0]), items
        assert fast[1].tolist() == generic[1].tolist(), items
        assert bytes(fast[2]) == bytes(generic[2]), items
        assert fast[3] == generic[3], items
    chunk = np.array(["ab", None, "c\u00e9"], dtype=object)
    tags, lens, payload, nulls = _objects._encode_chunk(chunk, {})
    assert (bytes(tags), lens.tolist(), bytes(payload), nulls) == (
        b"sNs",
        [2, 0, 3],
        "abc\u00e9".encode(),
        1,
    )


any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=8)  # surrogates too


@SETTINGS
@given(
    st.lists(any_text | st.none() | st.just(float("nan")) | st.just(pd.NA), min_size=1, max_size=40)
)
def test_vectorised_string_encoding_matches_value_by_value(items: list[Any]) -> None:
    fast = _objects._encode_chunk(np.array(items, dtype=object), {})
    generic = _objects._encode_generic(list(items), {})
    assert bytes(fast[0]) == bytes(generic[0])
    assert fast[1].tolist() == generic[1].tolist()
    assert bytes(fast[2]) == bytes(generic[2])
    assert fast[3] == generic[3]


def test_arrow_strings_hash_like_python_strings() -> None:
    pa = pytest.importorskip("pyarrow")
    values = ["a", None, "\u00e9t\u00e9", "", "\U0001f600", "x" * 1000] * 50
    for na in (np.nan, pd.NA):
        py = pd.Series(values, dtype=pd.StringDtype("python", na_value=na))
        arrow = pd.Series(values, dtype=pd.StringDtype("pyarrow", na_value=na))
        assert hash_data(arrow) == hash_data(py)
        assert hash_data(arrow.iloc[7:]) == hash_data(py.iloc[7:])  # sliced Arrow data
        assert hash_data(arrow).nulls == {"": 50}
    # Several Arrow chunks hash like one.
    chunked = pa.chunked_array([pa.array(values[:100]), pa.array(values[100:])])
    arrow = pd.Series(pd.arrays.ArrowStringArray(chunked.cast(pa.large_string())))
    py = pd.Series(values, dtype=pd.StringDtype("python", na_value=pd.NA))
    assert str(arrow.dtype) == str(py.dtype) == "string"  # the dtype as the digest sees it
    assert hash_data(arrow).digest == hash_data(py).digest
    # And the columns hash alike inside frames, with the object column of the same values.
    frame = pd.DataFrame({"s": pd.Series(values, dtype=pd.StringDtype("pyarrow", na_value=np.nan))})
    obj = pd.DataFrame({"s": pd.Series([np.nan if v is None else v for v in values], dtype=object)})
    assert column_digests(frame) == column_digests(obj)


def test_categorical_and_datetime_columns() -> None:
    cat = pd.DataFrame({"c": pd.Categorical(["a", "b", None, "a"])})
    ref = hash_data(cat)
    assert ref.nulls == {"c": 1}
    assert ref.dtypes == {"c": "category"}
    reordered = pd.DataFrame({"c": pd.Categorical(["a", "b", None, "a"], categories=["b", "a"])})
    assert digest(reordered) != digest(cat)
    ordered = pd.DataFrame({"c": pd.Categorical(["a", "b", None, "a"], ordered=True)})
    assert digest(ordered) != digest(cat)
    assert digest(cat) == digest(pd.DataFrame({"c": pd.Categorical(["a", "b", None, "a"])}))

    t = pd.to_datetime(["2024-01-01 10:00", None, "2024-06-01 00:00"])
    utc = pd.DataFrame({"t": t.tz_localize("UTC")})
    paris = pd.DataFrame({"t": t.tz_localize("UTC").tz_convert("Europe/Paris")})
    naive = pd.DataFrame({"t": t})
    assert hash_data(utc).nulls == {"t": 1}
    assert hash_data(naive).nulls == {"t": 1}
    assert len({digest(x) for x in (utc, paris, naive)}) == 3
    prof = hash_data(paris).profile
    assert prof is not None
    assert prof["columns"]["t"]["min"].endswith("+01:00")
    assert digest(pd.DataFrame({"p": pd.period_range("2024-01", periods=3, freq="M")})) != digest(
        pd.DataFrame({"p": pd.period_range("2024-01", periods=3, freq="D")})
    )


def test_object_columns_with_arbitrary_objects_are_partial() -> None:
    class Thing:
        pass

    df = pd.DataFrame({"o": [Thing(), 1, "x"], "v": [1, 2, 3]})
    ref = hash_data(df)
    assert ref.partial
    assert ref.profile is not None
    assert "Thing" in ref.profile["partial_reason"]
    assert "column 'o'" in ref.profile["partial_reason"]
    light = hash_data(df, profile=False)
    assert light.partial
    assert light.profile == {"partial_reason": ref.profile["partial_reason"]}
    # Two different Things are indistinguishable: that is what partial says.
    assert digest(pd.DataFrame({"o": [Thing(), 1, "x"], "v": [1, 2, 3]})) == ref.digest
    deterministic = pd.DataFrame(
        {
            "o": [
                dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                decimal.Decimal("1.5"),
                (1, [2, {"a": None}]),
                frozenset({"b", "a"}),
                np.float32(1.5),
                pd.Timestamp("2024-01-01 00:00:00.000000001"),
            ]
        }
    )
    assert not hash_data(deterministic).partial


def test_review_fixes_for_edge_values() -> None:
    nan = float("nan")
    # A NaN real part must not shift the imaginary part into its place.
    pairs = {
        digest(np.array([complex(nan, 1.0)], dtype=object)),
        digest(np.array([complex(1.0, nan)], dtype=object)),
        digest(np.array([complex(nan, nan)], dtype=object)),
    }
    assert len(pairs) == 3
    # str() of a Period leaves out its frequency; the digest must not.
    q_dec = np.array([pd.Period("2020Q1", "Q-DEC")], dtype=object)
    q_nov = np.array([pd.Period("2020Q1", "Q-NOV")], dtype=object)
    assert digest(q_dec) != digest(q_nov)
    assert not hash_data(q_dec).partial
    # int64 indexes at the ends of the range (a progression check must not overflow).
    top = 2**63
    for values in ([top - 2, top - 1], [-top, top - 1], [top - 1, -top], [-top, -top + 5]):
        s = pd.Series([1.0, 2.0], index=pd.Index(values, dtype=np.int64))
        assert digest(s) != digest(s.set_axis(pd.Index([0, 1])))
    # Duplicate labels get distinct keys, even next to a label that looks like one.
    dup = pd.DataFrame([[1, 2, 3]], columns=["a", "a #1", "a"])
    assert list(hash_data(dup).dtypes or {}) == ["a", "a #1", "a #2"]


def test_series() -> None:
    s = pd.Series([1.0, 2.0, np.nan], name="y")
    ref = hash_data(s)
    assert ref.kind == "series"
    assert ref.shape == (3,)
    assert ref.rows == 3
    assert ref.dtypes == {"": "float64"}
    assert ref.nulls == {"": 1}
    assert digest(s.rename("z")) != ref.digest
    assert digest(s.set_axis([5, 6, 7])) != ref.digest
    assert digest(s.copy()) == ref.digest
    assert digest(s.to_frame()) != ref.digest
    assert digest(s.to_numpy()) != ref.digest


@SETTINGS
@given(
    pdst.series(
        elements=st.floats(width=32), dtype=float, index=pdst.range_indexes(min_size=1, max_size=20)
    )
)
def test_equal_series_hash_equal(s: pd.Series) -> None:
    assert digest(s) == digest(s.copy(deep=True))
    assert digest(s) != digest(s.astype(np.float32))


# ------------------------------------------------------------------ thread safety


def test_concurrent_hashing_gives_the_same_digests() -> None:
    rng = np.random.default_rng(11)
    df = pd.DataFrame({f"c{i}": rng.random(600_000) for i in range(6)})  # ~29 MB
    df["s"] = [f"row{i}" for i in range(len(df))]
    expected = digest(df)
    results: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(digest(df))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == [expected] * 6


# ------------------------------------------------------------------------------ files


@pytest.fixture
def fresh_cache() -> None:
    clear_file_cache()


def test_file_digest_is_the_content_digest(tmp_path: Path, fresh_cache: None) -> None:
    p = tmp_path / "data.bin"
    content = os.urandom(3_000_000)
    p.write_bytes(content)
    ref = hash_file(p)
    assert ref.kind == "file"
    assert ref.digest == digest(content)
    assert ref.nbytes == len(content)
    assert ref.path == str(p.resolve())
    assert ref.profile is not None
    assert ref.profile["size"] == len(content)
    assert hash_data(p).digest == ref.digest == hash_data(str(p)).digest
    assert hash_file(p, profile=False).profile is None


def test_unchanged_file_is_read_once(tmp_path: Path, fresh_cache: None) -> None:
    p = tmp_path / "data.csv"
    p.write_text("a,b\n1,2\n")
    first = hash_file(p)
    assert file_cache_info()["reads"] == 1
    for _ in range(3):
        assert hash_file(p).digest == first.digest
    info = file_cache_info()
    assert info["reads"] == 1
    assert info["hits"] == 3


def test_changed_content_and_mtime_is_detected(tmp_path: Path, fresh_cache: None) -> None:
    p = tmp_path / "data.csv"
    p.write_text("a,b\n1,2\n")
    first = hash_file(p)
    p.write_text("a,b\n1,3\n")
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert hash_file(p).digest != first.digest
    assert file_cache_info()["reads"] == 2


def test_same_size_rewrite_with_mtime_restored_is_detected_through_ctime(
    tmp_path: Path, fresh_cache: None
) -> None:
    # The cache key includes ctime, which os.utime() cannot set back. Filesystems
    # that do not keep ctime would miss this rewrite (see docs/hashing.md).
    p = tmp_path / "data.csv"
    p.write_text("a,b\n1,2\n")
    before = p.stat()
    first = hash_file(p)
    p.write_text("a,b\n9,9\n")
    os.utime(p, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = p.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    if after.st_ctime_ns == before.st_ctime_ns:
        pytest.skip("this filesystem's ctime did not change: such a rewrite is invisible")
    assert hash_file(p).digest != first.digest


def test_symlinked_file_hashes_as_its_target(tmp_path: Path, fresh_cache: None) -> None:
    target = tmp_path / "target.bin"
    target.write_bytes(b"xyz")
    link = tmp_path / "link.bin"
    link.symlink_to(target)
    ref = hash_file(link)
    assert ref.digest == hash_file(target).digest
    assert ref.path == str(link)  # the path as given, made absolute (not resolved)


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.csv").write_text("x\n1\n")
    (root / "sub" / "b.bin").write_bytes(b"\x00\x01")
    (root / ".hidden").write_text("h")
    return root


def test_directory_manifest(tmp_path: Path, fresh_cache: None) -> None:
    one = _tree(tmp_path / "one")
    two = _tree(tmp_path / "elsewhere" / "two")
    ref = hash_directory(one)
    assert ref.kind == "directory"
    assert ref.path == str(one)
    assert not ref.partial
    assert ref.nbytes == 4 + 2 + 1
    assert ref.profile is not None
    assert ref.profile["n_files"] == 3
    assert ref.profile["n_dirs"] == 1
    assert set(ref.profile["files"]) == {"a.csv", "sub/b.bin", ".hidden"}
    assert hash_directory(two).digest == ref.digest  # same files, another place
    assert hash_data(one).digest == ref.digest

    (two / "sub" / "b.bin").rename(two / "sub" / "c.bin")
    renamed = hash_directory(two).digest
    assert renamed != ref.digest
    (two / "sub" / "c.bin").rename(two / "sub" / "b.bin")
    assert hash_directory(two).digest == ref.digest

    (two / "new.txt").write_text("")
    assert hash_directory(two).digest != ref.digest
    (two / "new.txt").unlink()
    (two / ".hidden").write_text("H")
    assert hash_directory(two).digest != ref.digest
    (two / ".hidden").write_text("h")
    (two / "empty").mkdir()
    assert hash_directory(two).digest != ref.digest


def test_directory_symlinks(tmp_path: Path, fresh_cache: None) -> None:
    one = _tree(tmp_path / "one")
    plain = hash_directory(one).digest
    (one / "loop").symlink_to(one, target_is_directory=True)  # not followed: no cycle
    ref = hash_directory(one)
    assert ref.digest != plain
    assert ref.profile is not None
    assert ref.profile["n_links"] == 1
    (one / "loop").unlink()
    two = _tree(tmp_path / "two")
    (two / "a.csv").unlink()
    (two / "a.csv").symlink_to(one / "a.csv")  # a file link hashes as the file
    assert hash_directory(two).digest == plain


# ----------------------------------------------------------------------------- errors


def test_unsupported_types_raise_hashing_error_naming_the_type() -> None:
    with pytest.raises(HashingError, match=r"\blist\b"):
        hash_data([object(), object()])
    with pytest.raises(HashingError, match="dict"):
        hash_data({"a": 1})
    with pytest.raises(HashingError, match="int"):
        hash_data(3)


def test_missing_paths_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(HashingError, match=r"text\.encode\(\)"):
        hash_data("no such thing here.csv")
    with pytest.raises(HashingError, match="no file or directory"):
        hash_data(tmp_path / "missing.csv")
    with pytest.raises(HashingError, match="no file or directory"):
        hash_file(tmp_path / "missing.csv")
    with pytest.raises(HashingError, match="is a directory"):
        hash_file(tmp_path)
    with pytest.raises(HashingError, match="not a directory"):
        hash_directory(Path(__file__))


def test_fifo_is_refused(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(HashingError, match="not a regular file"):
        hash_file(fifo)
    ref = hash_directory(tmp_path)
    assert ref.partial
    assert ref.profile is not None
    assert "pipe" in ref.profile["partial_reason"]


# ---------------------------------------------------------------------------- helpers


def test_is_hashable_data() -> None:
    assert is_hashable_data(np.zeros(2))
    assert is_hashable_data(pd.DataFrame({"a": [1]}))
    assert is_hashable_data(pd.Series([1]))
    for other in ([1, 2], "x", b"x", 3, None, pd.Index([1])):
        assert not is_hashable_data(other)


def test_hash_source() -> None:
    assert hash_source("x = 1\n") == hash_source("x = 1\n")
    assert hash_source("x = 1\n") != hash_source("x = 1\r\n")
    assert len(hash_source("")) == 32
    assert hash_source("\ud800") != hash_source("")


def test_hash_parts_frames_each_part_by_its_length() -> None:
    # Given parts that concatenate to the same bytes, when hashed as parts,
    # then the digests differ; str and its UTF-8 bytes are the same part.
    assert hash_parts("ab", "c") != hash_parts("a", "bc")
    assert hash_parts("x", b"y") == hash_parts(b"x", "y")
    assert hash_parts("caf\u00e9") == hash_parts("caf\u00e9".encode())
    assert hash_parts() != hash_parts("")
    # The recipe is fixed: stored value versions depend on it.
    length_prefixed = struct.pack("<Q", 2) + b"ab" + struct.pack("<Q", 1) + b"c"
    assert hash_parts("ab", "c") == xxhash.xxh3_128(length_prefixed).hexdigest()


def test_import_tracker_hashing_does_not_import_pandas() -> None:
    code = "import sys, tracker.hashing; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
