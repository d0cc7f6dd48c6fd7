"""One contract suite, run against every store: SQLite file, PostgreSQL, in-memory SQLite."""

from __future__ import annotations

import math
import time
import uuid

import pytest

from tracker.exceptions import RunNotFoundError, StoreError, ValidationError
from tracker.records import RunKind, RunStatus
from tracker.store import RunQuery, SQLStore, parse_filter, parse_order_by
from tracker.store._sql.models import SCHEMA_REVISION
from tracker.store.ops import (
    CreateRun,
    EndRun,
    Heartbeat,
    LogCell,
    LogData,
    LogMetrics,
    MetricRow,
    Op,
    SetAttrs,
    SetParams,
    SetRunFields,
    SetTags,
)

REF = {
    "algorithm": "xxh3-128",
    "digest": "ab" * 16,
    "kind": "ndarray",
    "nbytes": 80,
    "shape": [10],
    "dtypes": {"": "float64"},
    "rows": 10,
    "nulls": {"": 0},
    "partial": False,
    "path": None,
    "profile": None,
}


@pytest.fixture
def store(sql_store: SQLStore) -> SQLStore:
    """Each SQL store kind in turn (``sql_store`` in conftest.py)."""
    return sql_store


def new_run(store: SQLStore, name: str = "r", *, start: float | None = None, **kw: object) -> str:
    rid = uuid.uuid4().hex
    store.write(
        [
            CreateRun(
                run_id=rid,
                name=name,
                kind=kw.pop("kind", "run"),
                start_time=start or time.time(),
                **kw,
            )
        ]  # type: ignore[arg-type]
    )
    return rid


def metric(key: str, value: float, step: int | None = None, ts: float | None = None) -> MetricRow:
    return MetricRow(uuid.uuid4().hex, key, value, step, ts if ts is not None else time.time())


def test_create_and_read_back_every_field(store: SQLStore) -> None:
    rid = uuid.uuid4().hex
    parent = new_run(store, "parent")
    env = {"python": "3.11.7", "hostname": "h", "packages": {"numpy": "2.4"}, "git_commit": "abc"}
    store.write(
        [
            CreateRun(
                run_id=rid,
                name="baseline",
                kind="trial",
                start_time=1_700_000_000.5,
                parent_id=parent,
                tags={"model": "svc"},
                notebook="nb/analysis.ipynb",
                cell_id="cell-1",
                environment=env,
            ),
            SetParams(rid, {"C": 1.0, "kernel": "rbf", "n": 3, "flag": True, "none": None}),
            LogMetrics(
                rid, [metric("accuracy", 0.93), metric("nan", math.nan), metric("inf", math.inf)]
            ),
            LogMetrics(rid, [metric("neg", -math.inf)]),
            LogData(uuid.uuid4().hex, rid, "train", REF, time.time()),
            SetAttrs(rid, {"search": {"objectives": {"accuracy": "maximize"}}, "n": [1, 2]}),
            SetRunFields(rid, {"notes": "first try"}),
            EndRun(
                rid,
                "failed",
                1_700_000_010.5,
                {"type": "ValueError", "message": "bad", "traceback": "tb"},
            ),
        ]
    )
    r = store.get_run(rid)
    assert r.name == "baseline"
    assert r.kind is RunKind.TRIAL
    assert r.status is RunStatus.FAILED
    assert r.parent_id == parent
    assert r.tags == {"model": "svc"}
    assert r.params == {"C": 1.0, "kernel": "rbf", "n": 3, "flag": True, "none": None}
    assert type(r.params["C"]) is float
    assert type(r.params["n"]) is int
    assert r.metrics["accuracy"] == 0.93
    assert math.isnan(r.metrics["nan"])
    assert r.metrics["inf"] == math.inf
    assert r.metrics["neg"] == -math.inf
    assert r.data["train"].digest == REF["digest"]
    assert r.data["train"].shape == (10,)
    assert r.attrs == {"search": {"objectives": {"accuracy": "maximize"}}, "n": [1, 2]}
    assert r.notes == "first try"
    assert r.source.notebook == "nb/analysis.ipynb"
    assert r.source.cell_id == "cell-1"
    assert r.environment is not None
    assert r.environment.packages == {"numpy": "2.4"}
    assert r.error is not None
    assert r.error.type == "ValueError"
    assert r.duration_s == pytest.approx(10.0)


def test_run_head_is_the_run_without_what_it_leaves_out(store: SQLStore) -> None:
    """``get_run_head`` (what trace and lineage read) agrees with ``get_run`` on its fields."""
    parent = new_run(store, "session", kind="session")
    rid = new_run(store, "head", parent_id=parent, tags={"t": "1"}, notebook="nb.ipynb")
    store.write(
        [
            SetParams(rid, {"C": 1.0}),
            LogMetrics(rid, [metric("acc", 0.5)]),
            SetAttrs(rid, {"k": 1}),
            LogData(uuid.uuid4().hex, rid, "train", REF, time.time()),
            LogData(uuid.uuid4().hex, rid, "seen", REF, time.time(), "input", None),
            EndRun(rid, "finished", time.time() + 1),
        ]
    )
    full, head = store.get_run(rid, with_cells=False), store.get_run_head(rid)
    for f in ("id", "name", "kind", "status", "start_time", "end_time", "parent_id", "source"):
        assert getattr(head, f) == getattr(full, f), f
    assert head.data == full.data
    assert set(head.data) == {"train"}
    assert full.params
    assert full.metrics
    assert full.tags
    assert full.attrs
    assert (head.tags, head.params, head.metrics, head.attrs, head.cells) == ({}, {}, {}, {}, ())
    with pytest.raises(RunNotFoundError, match="no run with id 'nope'"):
        store.get_run_head("nope")


def test_unknown_run_raises_not_found(store: SQLStore) -> None:
    with pytest.raises(RunNotFoundError, match="no run with id 'nope'"):
        store.get_run("nope")


def test_replaying_ops_changes_nothing(store: SQLStore) -> None:
    rid = uuid.uuid4().hex
    ops: list[Op] = [
        CreateRun(rid, "r", "run", time.time(), tags={"a": "1"}),
        SetParams(rid, {"x": 1}),
        LogMetrics(rid, [metric("loss", 0.5, 1), metric("loss", 0.4, 2)]),
        LogData("d1", rid, "train", REF, time.time()),
        EndRun(rid, "finished", time.time()),
    ]
    store.write(ops)
    before = store.get_run(rid)
    store.write(ops)  # the whole batch again, as a spool replay would
    store.write(ops[2:3])
    after = store.get_run(rid)
    assert after == before
    assert [m.value for m in store.metric_history(rid, "loss")] == [0.5, 0.4]


def test_a_failing_batch_writes_nothing(store: SQLStore) -> None:
    rid = uuid.uuid4().hex
    with pytest.raises(StoreError):
        store.write([CreateRun(rid, "r", "run", time.time()), SetRunFields(rid, {"owner": "x"})])
    with pytest.raises(RunNotFoundError):
        store.get_run(rid)


def test_latest_metric_is_the_newest_even_when_replayed_out_of_order(store: SQLStore) -> None:
    rid = new_run(store)
    t = time.time()
    store.write([LogMetrics(rid, [metric("acc", 0.9, 2, t + 2)])])
    store.write([LogMetrics(rid, [metric("acc", 0.5, 1, t + 1)])])  # older, arrives later
    assert store.get_run(rid).metrics["acc"] == 0.9
    history = store.metric_history(rid, "acc")
    assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.9)]


def test_tags_and_attrs_none_deletes(store: SQLStore) -> None:
    rid = new_run(store, tags={"a": "1", "b": "2"})
    store.write([SetTags(rid, {"a": None, "c": "3"}), SetAttrs(rid, {"k": 1})])
    store.write([SetAttrs(rid, {"k": None})])
    r = store.get_run(rid)
    assert r.tags == {"b": "2", "c": "3"}
    assert r.attrs == {}


def test_interrupted_never_overrides_a_real_ending(store: SQLStore) -> None:
    a, b = new_run(store), new_run(store)
    store.write([EndRun(a, "finished", time.time()), EndRun(a, "interrupted", time.time())])
    assert store.get_run(a).status is RunStatus.FINISHED
    # ...but a real ending replayed late from a spool overrides "interrupted"
    store.write([EndRun(b, "interrupted", time.time()), EndRun(b, "finished", time.time())])
    assert store.get_run(b).status is RunStatus.FINISHED


def test_heartbeat_and_live_runs(store: SQLStore) -> None:
    a, b = new_run(store, owner="host:/x"), new_run(store)
    store.write([EndRun(b, "finished", time.time()), Heartbeat([a, b], 123.0)])
    live = {lr.run_id: lr for lr in store.live_runs()}
    assert set(live) == {a}
    assert live[a].heartbeat == 123.0
    assert live[a].owner == "host:/x"


def test_cells_round_trip_with_inputs_and_outputs(store: SQLStore) -> None:
    session = new_run(store, "nb", kind="session")
    cid = uuid.uuid4().hex
    store.write(
        [
            LogCell(
                id=cid,
                run_id=session,
                seq=0,
                cell_id="c1",
                execution_count=3,
                source="y = f(x)",
                source_hash="h1",
                status="error",
                error={"type": "KeyError", "message": "'k'", "traceback": None},
                reads=["f", "x"],
                writes=["y"],
                params={"alpha": 0.1},
                metrics={"loss": math.nan},
                started=1_700_000_000.0,
                duration_ms=12.5,
            ),
            LogData("i1", session, "x", REF, 1.0, role="input", cell_record_id=cid),
            LogData(
                "o1",
                session,
                "y",
                dict(REF, digest="cd" * 16),
                2.0,
                role="output",
                cell_record_id=cid,
            ),
        ]
    )
    (cell,) = store.get_run(session).cells
    assert cell.cell_id == "c1"
    assert cell.execution_count == 3
    assert cell.reads == ("f", "x")
    assert cell.writes == ("y",)
    assert cell.inputs["x"].digest == "ab" * 16
    assert cell.outputs["y"].digest == "cd" * 16
    assert cell.params == {"alpha": 0.1}
    assert math.isnan(cell.metrics["loss"])
    assert cell.error is not None
    assert cell.error.type == "KeyError"
    assert store.get_run(session).data == {}  # cell inputs are not the run's logged data
    uses = store.data_uses(["ab" * 16])
    assert [(u.role, u.name, u.cell_record_id) for u in uses] == [("input", "x", cid)]


def test_nondeterministic_flag_for_runs_and_cells(store: SQLStore) -> None:
    a, b, c = new_run(store), new_run(store), new_run(store)
    store.write(
        [
            SetRunFields(a, {"fingerprint": "fp1", "outcome_hash": "o1"}),
            SetRunFields(b, {"fingerprint": "fp1", "outcome_hash": "o2"}),
            SetRunFields(c, {"fingerprint": "fp2", "outcome_hash": "o1"}),
        ]
    )
    flags = {r.id: r.nondeterministic for r in store.search_runs(RunQuery())}
    assert flags == {a: True, b: True, c: False}


def test_search_filters_order_and_pages(store: SQLStore) -> None:
    t0 = time.time()
    ids = []
    for i in range(12):
        rid = new_run(
            store, f"run-{i:02d}", start=t0 + i, tags={"group": "even" if i % 2 == 0 else "odd"}
        )
        store.write(
            [
                SetParams(rid, {"C": float(i), "kernel": "rbf" if i < 6 else "linear"}),
                LogMetrics(rid, [metric("acc", i / 10)]),
            ]
        )
        if i % 3 == 0:
            store.write([EndRun(rid, "finished", t0 + i + 1)])
        ids.append(rid)

    def names(
        filter_: str | None = None, order: str | list[str] | None = None, **kw: int
    ) -> list[str]:
        q = RunQuery(conditions=parse_filter(filter_), order_by=parse_order_by(order), **kw)
        return [r.name for r in store.search_runs(q)]

    assert names() == [f"run-{i:02d}" for i in reversed(range(12))]
    assert names("metrics.acc >= 0.9") == ["run-11", "run-10", "run-09"]
    assert names("params.kernel = 'linear' and tags.group = 'even'") == [
        "run-10",
        "run-08",
        "run-06",
    ]
    assert names("params.C < 2") == ["run-01", "run-00"]
    assert names("status = 'finished'", "name") == ["run-00", "run-03", "run-06", "run-09"]
    assert names("status in ('finished') and name like 'run-0%'", "-name") == [
        "run-09",
        "run-06",
        "run-03",
        "run-00",
    ]
    assert names(None, "metrics.acc desc", limit=3) == ["run-11", "run-10", "run-09"]
    assert names(None, "params.C", limit=2, offset=2) == ["run-02", "run-03"]
    assert names("tags.group != 'even'", "metrics.acc", limit=2) == ["run-01", "run-03"]
    assert names(f"start_time >= {t0 + 10}") == ["run-11", "run-10"]
    q = RunQuery(conditions=parse_filter("metrics.acc > 0.45"))
    assert store.count_runs(q) == 7  # acc = 0.5 ... 1.1
    assert names("params.missing = null", limit=1) == ["run-11"]
    assert names("params.C != null and params.C > 10") == ["run-11"]


def test_order_by_a_metric_puts_missing_values_last(store: SQLStore) -> None:
    a, b, c = new_run(store, "a"), new_run(store, "b"), new_run(store, "c")
    store.write([LogMetrics(a, [metric("acc", 0.1)]), LogMetrics(c, [metric("acc", 0.9)])])
    for order in ("metrics.acc", "metrics.acc desc"):
        got = [r.name for r in store.search_runs(RunQuery(order_by=parse_order_by(order)))]
        assert got[-1] == "b"
        assert set(got[:2]) == {"a", "c"}
    _ = b


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metrics.acc >>= 1", "expected a value at position 13"),
        ("metrics.acc ~ 1", "cannot read the run filter at position 12"),
        ("bogus = 1", "unknown field 'bogus'"),
        ("metrics.acc like 'x'", "metrics compare with"),
        ("name = 'a' or name = 'b'", "expected 'and'"),
        ("params.x in 1", "needs a list"),
        ("start_time > 'yesterday'", "not an ISO date"),
        ("metrics.acc >", "ends where a value was expected"),
        ("name = 'a' and", "ends with 'and'"),
    ],
    ids=[
        "bad-op",
        "bad-char",
        "unknown-field",
        "metric-like",
        "or",
        "in-without-list",
        "bad-date",
        "no-value",
        "dangling-and",
    ],
)
def test_malformed_filters_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_filter(text)


def test_describe_counts_and_never_shows_a_password(store: SQLStore) -> None:
    new_run(store, kind="session")
    info = store.describe()
    assert info["runs"] == 1
    assert info["runs_by_kind"] == {"session": 1}
    assert info["schema_revision"] == SCHEMA_REVISION
    assert "password" not in str(info).lower()


def test_search_by_many_ids(store: SQLStore) -> None:
    ids = [new_run(store, f"r{i}") for i in range(3)]
    ids += [uuid.uuid4().hex for _ in range(1200)]  # more ids than one load chunk holds
    found = store.search_runs(RunQuery(ids=tuple(ids)))
    assert len(found) == 3
