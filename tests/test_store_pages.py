"""Store contract: index-driven sorts, cursor (keyset) pages and bounded counts.

Run against a SQLite file, PostgreSQL and in-memory SQLite. The index-driven sort of one
metric or param must give exactly the order of the general query (missing and NaN last
in both directions, ties by run id), and a walk by cursors the same rows as one page.
"""

from __future__ import annotations

import math
import random
import time
import uuid

import pytest

from tracker.exceptions import ValidationError
from tracker.store import Cursor, RunQuery, SQLStore, parse_filter, parse_order_by
from tracker.store._sql import _pages
from tracker.store._sql._pages import _general_page
from tracker.store.ops import CreateRun, LogMetrics, MetricRow, Op, SetParams, SetTags


@pytest.fixture
def store(sql_store: SQLStore) -> SQLStore:
    """Each SQL store kind in turn (``sql_store`` in conftest.py)."""
    return sql_store


METRIC_VALUES = [0.5, 0.5, 0.25, -0.0, 0.0, math.inf, -math.inf, math.nan, 1e-300, 7.0]
PARAM_VALUES: list[object] = [1, 1.0, 2.5, 2.5, "rbf", "linear", True, None, -3, "1"]


def _fill(store: SQLStore, n: int = 45, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    t0 = time.time()
    ops: list[Op] = []
    ids = []
    for i in range(n):
        rid = uuid.uuid4().hex
        ids.append(rid)
        # Ties in start time too, so the id decides among them.
        ops.append(CreateRun(rid, f"r{i:02d}", "run", t0 + (i // 3)))
        if rng.random() < 0.8:
            v = rng.choice(METRIC_VALUES)
            ops.append(LogMetrics(rid, [MetricRow(uuid.uuid4().hex, "acc", v, None, t0)]))
        if rng.random() < 0.8:
            ops.append(SetParams(rid, {"C": rng.choice(PARAM_VALUES)}))
        ops.append(SetParams(rid, {"kernel": rng.choice(["rbf", "linear"])}))
        if rng.random() < 0.5:
            ops.append(SetTags(rid, {"team": rng.choice(["a", "b"])}))
    store.write(ops)
    return ids


def _general(store: SQLStore, q: RunQuery) -> list[str]:
    with store.engine.connect() as conn:
        return [r.id for r in _general_page(conn, q)]


def _ids(store: SQLStore, q: RunQuery) -> list[str]:
    return [r.id for r in store.search_runs(q)]


def _walk(store: SQLStore, q: RunQuery, size: int) -> list[str]:
    """Every run of ``q``, a page of ``size`` at a time, each page after the last's cursor."""
    out: list[str] = []
    cursor = None
    while True:
        page = store.search_runs(
            RunQuery(q.conditions, q.ids, q.order_by, limit=size, cursor=cursor)
        )
        out += [r.id for r in page]
        if len(page) < size:
            return out
        cursor = Cursor.after(page[-1], q.order_by)


ORDERS = [
    "metrics.acc",
    "metrics.acc desc",
    "params.C",
    "params.C desc",
    "tags.team",
    "tags.team desc",
    "start_time desc",
    "name",
    ["params.kernel", "metrics.acc desc"],
]
FILTERS = [None, "params.kernel = 'rbf'", "metrics.acc > 0.1", "tags.team = 'a'"]


@pytest.mark.parametrize("order", ORDERS, ids=str)
def test_sorted_pages_match_the_general_order_and_cursor_walks(
    store: SQLStore, order: str | list[str]
) -> None:
    _fill(store)
    for filter_ in FILTERS:
        q = RunQuery(conditions=parse_filter(filter_), order_by=parse_order_by(order))
        everything = _general(store, q)
        assert _ids(store, q) == everything
        # Pages by offset, crossing from the runs that have the key to those that lack it
        for offset in (0, 3, len(everything) - 2, len(everything) + 5):
            paged = RunQuery(q.conditions, None, q.order_by, limit=4, offset=offset)
            assert _ids(store, paged) == everything[offset : offset + 4]
        # and by cursor, with a cursor and an offset together
        assert _walk(store, q, 4) == everything
        if len(everything) > 6:
            after = store.search_runs(RunQuery(q.conditions, None, q.order_by, limit=3))[-1]
            q2 = RunQuery(
                q.conditions,
                None,
                q.order_by,
                limit=2,
                offset=1,
                cursor=Cursor.after(after, q.order_by),
            )
            assert _ids(store, q2) == everything[4:6]


def test_missing_and_nan_sort_last_in_both_directions(store: SQLStore) -> None:
    names = {}
    ops: list[Op] = []
    for name, value in (("a", 0.1), ("b", None), ("c", 0.9), ("d", math.nan)):
        rid = uuid.uuid4().hex
        names[rid] = name
        ops.append(CreateRun(rid, name, "run", time.time()))
        if value is not None:
            ops.append(LogMetrics(rid, [MetricRow(uuid.uuid4().hex, "acc", value, None, 1.0)]))
    store.write(ops)
    missing = sorted(("b", "d"), key=lambda n: next(r for r, x in names.items() if x == n))
    for order, present in (("metrics.acc", ["a", "c"]), ("metrics.acc desc", ["c", "a"])):
        got = [r.name for r in store.search_runs(RunQuery(order_by=parse_order_by(order)))]
        assert got == present + missing


def test_a_cursor_naming_an_unknown_run_says_what_to_do(store: SQLStore) -> None:
    _fill(store, 3)
    with pytest.raises(ValidationError, match="first page"):
        store.search_runs(RunQuery(limit=2, cursor=Cursor("no-such-run")))
    with pytest.raises(ValidationError, match="first page"):
        Cursor.decode("%%%not-a-token")
    c = Cursor("abc", (0.5, None))
    assert Cursor.decode(c.encode()) == c


@pytest.mark.parametrize(
    "flt",
    [
        "metrics.acc > 0.3",
        "metrics.acc != 0.5",
        "metrics.acc = nan",
        "metrics.acc != nan",
        "metrics.acc = null",
        "metrics.acc <= 0 and params.kernel = 'rbf'",
        "params.C >= 1",
        "params.C in (1, 2.5)",
        "params.C = 'rbf'",
        "params.C like '%i%'",
        "params.C = null",
        "params.C != null and tags.team = 'a'",
        "tags.team != 'b'",
    ],
)
def test_conditions_checked_run_by_run_select_the_same_runs(store: SQLStore, flt: str) -> None:
    # A bounded count's sample checks its conditions per run (PostgreSQL's OFFSET 0
    # fence); it must count exactly what the joined form does.
    import sqlalchemy as sa

    from tracker.store._sql import models as m
    from tracker.store._sql._filters import where

    _fill(store, 60, seed=11)
    q = RunQuery(conditions=parse_filter(flt))
    count = sa.select(sa.func.count()).select_from(m.runs)
    with store.engine.connect() as conn:
        joined = conn.execute(where(count, q)).scalar_one()
        per_row = conn.execute(where(count, q, per_row=True)).scalar_one()
    assert per_row == joined == store.count_runs(q)
    assert 0 < joined < 60 or flt in ("metrics.acc = nan", "params.C = 'rbf'")


def test_counts_are_exact_up_to_the_bound_and_estimated_beyond(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(store, 60)
    q = RunQuery(conditions=parse_filter("params.kernel = 'rbf'"))
    exact = store.count_runs(q)
    assert store.count_runs_bounded(q, exact) == (exact, True)
    assert store.count_runs_bounded(q, 1000) == (exact, True)
    # Beyond the bound, in a store smaller than the sample: every run is counted
    assert store.count_runs_bounded(q, exact - 5) == (exact, True)
    # In a bigger store: an estimate from a sample of runs, never below the bound
    monkeypatch.setattr(_pages, "SAMPLE", 30)
    n, is_exact = store.count_runs_bounded(q, exact - 5)
    assert not is_exact
    assert n > exact - 5  # (the scale is the planner's size estimate on PostgreSQL)
    first = tuple(sorted(r.id for r in store.search_runs(RunQuery()))[:30])
    hits = store.count_runs(RunQuery(ids=first, conditions=q.conditions))
    if store.engine.dialect.name == "sqlite":  # the size is exact there: 60 rows
        assert n == max(exact - 4, round(60 * hits / 30))
    n, is_exact = store.count_runs_bounded(RunQuery(), 10)
    assert not is_exact
    assert n >= 11
    ids = tuple(r.id for r in store.search_runs(RunQuery(limit=5)))
    assert store.count_runs_bounded(RunQuery(ids=ids), 2) == (5, True)


def test_a_summary_page_has_the_table_s_fields_and_leaves_out_attrs(store: SQLStore) -> None:
    from tracker.store.ops import SetAttrs

    ids = _fill(store, n=12)
    store.write([SetAttrs(rid, {"search": {"big": list(range(50))}}) for rid in ids])
    q = RunQuery(order_by=parse_order_by(["metrics.acc desc"]), limit=5)
    full = store.search_runs(q)
    rows = store.search_runs(RunQuery(order_by=q.order_by, limit=5, summary=True))
    # The same runs in the same order with what a table row shows,
    assert [r.id for r in rows] == [r.id for r in full]
    for a, b in zip(rows, full, strict=True):
        assert (a.name, a.status, a.tags, a.params, a.data) == (
            b.name,
            b.status,
            b.tags,
            b.params,
            b.data,
        )
        assert a.metrics.keys() == b.metrics.keys()
        assert b.attrs == {"search": {"big": list(range(50))}}
        # and no attrs, artifacts or environment read.
        assert a.attrs == {}
        assert a.artifacts == {}
        assert a.environment is None
