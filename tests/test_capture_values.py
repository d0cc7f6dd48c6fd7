"""Digest cache, value versions and file auditing of notebook capture (no kernel needed)."""

from __future__ import annotations

import gc
import os
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tracker.capture import _files
from tracker.capture._values import (
    DataCache,
    content_version,
    data_items,
    is_data,
    memory_bounds,
)
from tracker.hashing import hash_data, hash_file


class Namespace(dict[str, object]):
    """A stand-in for the notebook namespace: anchors are resolved in it."""

    def resolve(self, name: str) -> object:
        return self.get(name, _MISSING)


_MISSING = object()


def _cache() -> tuple[DataCache, Namespace]:
    ns = Namespace()
    return DataCache(ns.resolve), ns


def test_cache_reuses_a_digest_while_its_name_holds_the_object() -> None:
    cache, ns = _cache()
    ns["a"] = a = np.arange(100.0)
    first = cache.get(a, "a")
    assert first.digest == hash_data(a).digest
    assert cache.get(a, "a") is first
    assert (cache.hashed, cache.hits) == (1, 1)
    # The cache holds no reference: numpy can still resize the array in place.
    del ns["a"]
    a.resize(200, refcheck=False)
    ns["a"] = a
    assert cache.cached(a) is None  # new buffer and shape: the signature sees it
    assert cache.get(a, "a").digest == hash_data(a).digest


def test_an_entry_without_a_name_holding_its_object_is_never_reused() -> None:
    cache, ns = _cache()
    ns["x"] = x = np.zeros(8)
    cache.get(x, "x")
    ns["x"] = np.ones(8)  # rebound: the old array may die and its id be reused
    assert cache.cached(x) is None
    unnamed = np.zeros(3)
    cache.get(unnamed)  # hashed, not kept: nothing could prove it is the same later
    assert cache.cached(unnamed) is None
    assert len(cache) == 1


def test_release_drops_entries_left_without_anchors() -> None:
    cache, ns = _cache()
    ns["d"] = {"k": np.ones(2), "j": np.zeros(2)}
    for key in ("k", "j"):
        cache.get(ns["d"][key], f"d[{key!r}]")  # type: ignore[index]
    ns["b"] = ns["d"]["k"]  # type: ignore[index]
    cache.get(ns["b"], "b")
    assert len(cache) == 2
    cache.release_prefix("d")
    assert len(cache) == 1  # d['k'] is still held by b
    assert cache.names_of(ns["b"]) == ["b"]


def test_values_written_in_place_need_a_forced_rehash_or_staleness() -> None:
    # The signature cannot see values change: that is what the reach analysis is for.
    cache, ns = _cache()
    ns["a"] = a = np.arange(10.0)
    before = cache.get(a, "a")
    a[3] = 7
    assert cache.get(a, "a") is before  # still cached: nothing said it may have changed
    assert cache.get(a, "a", force=True).digest == hash_data(a).digest
    a[4] = 9
    cache.mark_stale(a)
    assert cache.get(a, "a").digest == hash_data(a).digest


def test_frames_in_place_changes_show_in_the_signature() -> None:
    cache, ns = _cache()
    ns["df"] = df = pd.DataFrame({"x": [1.0, None, 3.0]})
    before = cache.get(df, "df")
    df.fillna(0, inplace=True)
    assert cache.cached(df) is None
    assert cache.get(df, "df").digest != before.digest


def test_views_and_bases_overlap() -> None:
    cache, ns = _cache()
    ns["base"] = base = np.zeros((4, 4))
    ns["row"] = row = base[1]
    ns["other"] = other = np.zeros(3)
    for name in ("base", "row", "other"):
        cache.get(ns[name], name)
    assert [id(x) for x in cache.overlapping(row)] == [id(base)]
    assert [id(x) for x in cache.overlapping(base)] == [id(row)]
    assert cache.overlapping(other) == []


def test_cache_never_keeps_data_alive() -> None:
    cache, ns = _cache()
    ns["df"] = df = pd.DataFrame({"a": [1.0]})
    cache.get(df, "df")
    alive = weakref.ref(df)
    del ns["df"], df
    gc.collect()
    assert alive() is None


def test_memory_bounds_of_strided_views() -> None:
    a = np.arange(20, dtype=np.int64)
    lo, hi = memory_bounds(a)  # type: ignore[misc]
    assert hi - lo == a.nbytes
    rev = a[::-2]
    rlo, rhi = memory_bounds(rev)  # type: ignore[misc]
    assert lo <= rlo < rhi <= hi
    assert memory_bounds(np.array([])) is None
    assert memory_bounds([1, 2]) is None


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        pytest.param(1, 1, True, id="int"),
        pytest.param(1, 1.0, False, id="int-vs-float"),
        pytest.param(0.1 + 0.2, 0.3, False, id="float-exact"),
        pytest.param("a", "a", True, id="str"),
        pytest.param((1, "x"), (1, "x"), True, id="tuple"),
        pytest.param([1, 2], (1, 2), False, id="list-vs-tuple"),
        pytest.param({"a": 1, "b": 2}, {"b": 2, "a": 1}, True, id="dict-order"),
        pytest.param({1, 2}, {2, 1}, True, id="set"),
        pytest.param(np.float64(1.5), np.float64(1.5), True, id="numpy-scalar"),
        pytest.param(np.float32(1.5), np.float64(1.5), False, id="numpy-dtype"),
        pytest.param(None, None, True, id="none"),
    ],
)
def test_content_versions(left: object, right: object, same: bool) -> None:
    vl, vr = content_version(left), content_version(right)
    assert vl is not None
    assert vr is not None
    assert (vl == vr) is same


def test_versions_of_modules_imported_functions_and_opaque_objects() -> None:
    assert content_version(np) == f"module:numpy@{np.__version__}"
    assert content_version(np.mean).startswith("def:numpy.mean@")
    assert content_version(pd.DataFrame).startswith("def:pandas.")

    class Model:
        pass

    assert content_version(Model()) is None
    assert content_version([Model()]) is None
    assert content_version(list(range(100_000))) is None  # too big to version by content


def test_data_items_inside_containers() -> None:
    x = np.ones(3)
    frame = pd.DataFrame({"a": [1]})
    nested = {"train": (x, frame), "n": 3, 7: np.zeros(1)}
    found = dict(data_items(nested, "splits"))
    assert set(found) == {"splits['train'][0]", "splits['train'][1]", "splits[7]"}
    assert found["splits['train'][0]"] is x
    assert is_data(frame)
    assert not is_data([1])
    assert not is_data("x")


def _log(tmp_path: Path) -> _files.FileLog:
    return _files.FileLog(_files.excluded_prefixes([tmp_path / ".tracker"]))


def test_file_log_hashes_reads_at_open_and_writes_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    (tmp_path / ".tracker").mkdir()
    (tmp_path / ".tracker" / "tracker.db").write_text("not user data")
    log = _log(tmp_path)
    _files.install_audit_hook()
    _files.begin(log)
    try:
        with open("in.csv") as fh:
            fh.read()
        with open(tmp_path / "out.txt", "w") as fh:
            fh.write("result")
        with open(".tracker/tracker.db") as fh:
            fh.read()
        os.close(os.open("in.csv", os.O_RDONLY))
    finally:
        _files.end()
    assert set(log.inputs) == {"./in.csv"}
    assert log.inputs["./in.csv"].digest == hash_file(tmp_path / "in.csv").digest
    outputs = log.outputs()
    assert set(outputs) == {"./out.txt"}
    assert outputs["./out.txt"].digest == hash_file(tmp_path / "out.txt").digest
    # Outside a cell, opens are not recorded.
    with open("in.csv") as fh:
        fh.read()
    assert set(log.inputs) == {"./in.csv"}


def test_file_log_limits_and_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_files, "MAX_FILES_PER_CELL", 3)
    log = _log(tmp_path)
    for i in range(5):
        p = tmp_path / f"f{i}.txt"
        p.write_text(str(i))
        log.opened(str(p), "r", os.O_RDONLY)
    assert len(log.inputs) == 3
    assert log.skipped == 2
    assert log.display_name(str(tmp_path / "sub" / "x.csv")) == "./sub/x.csv"
    assert log.display_name("/elsewhere/x.csv") == "/elsewhere/x.csv"
    log.opened(str(tmp_path / "missing.txt"), "r", os.O_RDONLY)  # the open will fail: no record
    log.opened(3, "r", os.O_RDONLY)  # a file descriptor: no path
    log.opened(str(tmp_path / "module.py"), "r", os.O_RDONLY)  # code, not data
    assert len(log.inputs) == 3


def test_pyarrow_readers_are_seen_through_their_wrappers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    pd.DataFrame({"a": [1, 2]}).to_parquet("t.parquet")
    assert _files.patch_native_readers()
    try:
        log = _log(tmp_path)
        _files.begin(log)
        try:
            pd.read_parquet("t.parquet")
            pd.DataFrame({"b": [3]}).to_parquet("u.parquet")
        finally:
            _files.end()
    finally:
        _files.unpatch_native_readers()
    assert log.inputs["./t.parquet"].digest == hash_file(tmp_path / "t.parquet").digest
    assert set(log.outputs()) == {"./u.parquet"}
    assert not hasattr(pd.read_parquet, "__tracker_original__")
