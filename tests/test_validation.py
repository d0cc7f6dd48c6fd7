"""One validation layer: every write path refuses at the call what a backend would refuse later.

Each finding of issue 15 has a regression test here, run on SQLite and on PostgreSQL
through the real queued store (the call returns, then a background thread writes): a
value is either refused at the call with a ValidationError naming the key and the rule,
or it reads back equal and nothing is set aside in ``rejected/``.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker.exceptions import ValidationError
from tracker.server.errors import ApiError
from tracker.server.service import StoreHolder, TrackerService
from tracker.store import QueuedStore, RunQuery, SQLStore, export_runs, import_runs, open_store
from tracker.store.ops import (
    CreateRun,
    EndRun,
    Heartbeat,
    LogCell,
    LogData,
    LogMetrics,
    MetricRow,
    SetAttrs,
    SetParams,
    SetRunFields,
    SetTags,
    op_from_json,
    op_to_json,
)
from tracker.store.validation import MAX_KEY, MAX_NAME, flatten_params

NUL = "a\x00b"
SURROGATE = "a\ud800b"


@pytest.fixture
def store(store_url: str) -> Iterator[QueuedStore]:
    """The process's store on SQLite, then on PostgreSQL (queued, as the run API uses it)."""
    tracker.set_store(store_url)
    s = tracker.get_store()
    assert isinstance(s, QueuedStore)
    yield s
    assert s.flush(60)
    assert s.rejected == 0, s.last_error  # nothing the call accepted was set aside


def _refused(call: Callable[[], object], *words: str) -> str:
    with pytest.raises(ValidationError) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, message
    return message


def _no_runs(store: QueuedStore) -> None:
    assert store.flush(60)
    assert store.count_runs(RunQuery()) == 0


# --- the findings, one test each, on both backends ------------------------------------------


def test_a_run_name_over_500_characters_is_refused_at_the_call(store: QueuedStore) -> None:
    _refused(lambda: tracker.start_run(name="n" * (MAX_NAME + 1)), "run name", "limit is 500")
    with tracker.start_run(name="n" * MAX_NAME) as run:  # the limit itself is fine
        _refused(lambda: run.set_name("m" * (MAX_NAME + 1)), "run name", "500")
    assert store.get_run(run.id).name == "n" * MAX_NAME


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: tracker.start_run(name=NUL), ("run name", "NUL")),
        (lambda: tracker.start_run(tags={NUL: "v"}), ("tag name", "NUL")),
        (lambda: tracker.start_run(tags={"k": NUL}), ("tag 'k'", "NUL")),
        (lambda: tracker.start_run(params={NUL: 1}), ("param name", "NUL")),
        (lambda: tracker.start_run(params={"p": NUL}), ("param 'p'", "NUL")),
    ],
    ids=["run-name", "tag-key", "tag-value", "param-key", "param-value"],
)
def test_a_nul_character_is_refused_at_start_run(
    store: QueuedStore, call: Callable[[], object], words: tuple[str, ...]
) -> None:
    _refused(call, *words)
    assert tracker.active_run() is None
    _no_runs(store)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda r: r.set_notes(NUL), ("notes", "NUL")),
        (lambda r: r.log_data(NUL, b"bytes"), ("data name", "NUL")),
        (lambda r: r.log_metrics({NUL: 1.0}), ("metric name", "NUL")),
        (lambda r: r.set_tags({"t": NUL}), ("tag 't'", "NUL")),
        (lambda r: r.set_name(NUL), ("run name", "NUL")),
        (lambda r: r.set_attrs({NUL: 1}), ("attr name", "NUL")),
    ],
    ids=["notes", "data-name", "metric-key", "tag-value", "rename", "attr-key"],
)
def test_a_nul_character_is_refused_by_every_logging_call(
    store: QueuedStore, call: Callable[[tracker.ActiveRun], object], words: tuple[str, ...]
) -> None:
    with tracker.start_run(name="kept") as run:
        _refused(lambda: call(run), *words)
        run.log_metrics({"after": 1.0})
    stored = store.get_run(run.id)
    assert stored.name == "kept"
    assert stored.notes == ""
    assert stored.metrics == {"after": 1.0}
    assert stored.data == {}
    assert stored.attrs == {}


@pytest.mark.parametrize("step", [2**31, 2**32 + 7, 2**63 - 1], ids=["2^31", "2^32+7", "int64-max"])
def test_int64_steps_read_back_exactly(store: QueuedStore, step: int) -> None:
    with tracker.start_run() as run:
        run.log_metric("loss", 0.5, step=step)
    assert [m.step for m in store.metric_history(run.id, "loss")] == [step]


@pytest.mark.parametrize("step", [2**63, 10**30, -1], ids=["2^63", "10^30", "negative"])
def test_steps_outside_int64_are_refused_at_the_call(store: QueuedStore, step: int) -> None:
    with tracker.start_run() as run:
        _refused(lambda: run.log_metric("loss", 0.5, step=step), "step must be")
    assert store.metric_history(run.id, "loss") == []


def test_a_metric_too_large_for_a_double_names_the_key(store: QueuedStore) -> None:
    with tracker.start_run() as run:
        message = _refused(lambda: run.log_metrics({"ok": 1.0, "big": 10**400}), "'big'")
        assert "too large" in message
        run.log_metrics({"fits": 10**300})
    assert store.get_run(run.id).metrics == {"fits": 1e300}


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.log_params({"p": SURROGATE}),
        lambda r: r.log_params({SURROGATE: 1}),
        lambda r: r.set_tags({"t": SURROGATE}),
        lambda r: r.set_notes(SURROGATE),
        lambda r: r.log_metrics({SURROGATE: 1.0}),
        lambda r: r.set_name(SURROGATE),
    ],
    ids=["param-value", "param-key", "tag-value", "notes", "metric-key", "name"],
)
def test_a_lone_surrogate_is_refused_and_export_keeps_working(
    store: QueuedStore,
    tmp_path: Path,
    call: Callable[[tracker.ActiveRun], object],
) -> None:
    with tracker.start_run(name="kept") as run:
        _refused(lambda: call(run), "lone surrogate")
    assert store.flush(60)
    assert export_runs(store.backend, tmp_path / "all.json") == 1


def test_text_the_tracker_did_not_choose_is_exported_and_imported_losslessly(
    store: QueuedStore, store_url: str, tmp_path: Path
) -> None:
    # An exception message may hold a lone surrogate (a file name decoded with
    # surrogateescape); ending the run must not fail, and neither may export or import.
    message = "no such file: b\udcffd.csv"
    with pytest.raises(FileNotFoundError), tracker.start_run(name="failing") as run:
        raise FileNotFoundError(message)
    assert store.flush(60)
    assert store.get_run(run.id).error.message == message  # type: ignore[union-attr]
    archive = tmp_path / "runs.json"
    assert export_runs(store.backend, archive) == 1
    text = archive.read_text(encoding="utf-8")
    assert "\\udcff" in text
    target = open_store(f"sqlite:///{tmp_path / 'copy.db'}", queued=False)
    assert import_runs(target, archive) == 1
    assert target.get_run(run.id).error.message == message  # type: ignore[union-attr]
    target.close()


def test_negative_zero_survives_the_store_and_an_archive(
    store: QueuedStore, tmp_path: Path
) -> None:
    with tracker.start_run(params={"z": -0.0}) as run:
        run.log_metrics({"m": -0.0})
        run.log_metric("h", -0.0, step=1)
    assert store.flush(60)
    archive = tmp_path / "runs.json"
    export_runs(store.backend, archive)
    copy = open_store(f"sqlite:///{tmp_path / 'copy.db'}", queued=False)  # SQLite: the hard one
    import_runs(copy, archive)
    for s in (store.backend, copy):
        r = s.get_run(run.id)
        for value in (r.metrics["m"], r.params["z"], s.metric_history(run.id, "h")[0].value):
            assert value == 0.0
            assert math.copysign(1.0, value) == -1.0
    copy.close()


def test_a_key_collision_after_flattening_is_refused(store: QueuedStore) -> None:
    message = _refused(
        lambda: tracker.start_run(params={"a.b": 1, "a": {"b": 2}}), "'a.b'", "given twice"
    )
    assert "flattened" in message
    with tracker.start_run() as run:
        _refused(lambda: run.log_params({"a": {"b": 2}, "a.b": 1}), "'a.b'")
        run.log_params({"a": {"b": 2}, "a.c": 1})
    assert store.get_run(run.id).params == {"a.b": 2, "a.c": 1}


# --- every write path goes through the same rules --------------------------------------------


def test_the_servers_patch_route_refuses_what_the_run_api_refuses(
    store_url: str, tmp_path: Path
) -> None:
    direct = open_store(store_url, queued=False)
    rid = uuid.uuid4().hex
    direct.write([CreateRun(rid, "before", "run", time.time())])
    service = TrackerService(StoreHolder(store_url, tmp_path))
    for body, words in [
        ({"name": NUL}, ("run name", "NUL")),
        ({"notes": SURROGATE}, ("notes", "lone surrogate")),
        ({"tags": {"k": NUL}}, ("tag 'k'", "NUL")),
        ({"tags": {NUL: "v"}}, ("tag name", "NUL")),
    ]:
        with pytest.raises(ValidationError) as info:  # the handler answers 400 invalid_value
            service.update_run(rid, body)
        assert all(w in str(info.value) for w in words), str(info.value)
    with pytest.raises(ApiError):
        service.update_run(rid, {"name": "x" * (MAX_NAME + 1)})
    run = direct.get_run(rid)
    assert (run.name, run.notes, run.tags) == ("before", "", {})
    service.update_run(rid, {"name": "after", "tags": {"k": "v"}})
    assert direct.get_run(rid).tags == {"k": "v"}
    service.holder.close()
    direct.close()


def _archive_with(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    src = open_store(f"sqlite:///{tmp_path / 'src.db'}", queued=False)
    for i in range(3):
        rid = uuid.uuid4().hex
        src.write([CreateRun(rid, f"r{i}", "run", time.time() + i), SetTags(rid, {"k": "v"})])
    path = tmp_path / "in.json"
    export_runs(src, path)
    src.close()
    raw = json.loads(path.read_text(encoding="utf-8"))
    edit(raw["runs"]["3"])
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda d: d["tags"].update({"k": NUL}), ("tag 'k'", "NUL")),
        (lambda d: d.update(name="n" * (MAX_NAME + 1)), ("run name", "500")),
        (lambda d: d.update(params={"k" * (MAX_KEY + 1): 1}), ("param name", "250")),
        (
            lambda d: d.update(metric_history={"m": [[1.0, 2**63, d["start_ts"]]]}),
            ("step must be",),
        ),
        (lambda d: d.update(params={"p": SURROGATE}), ("param 'p'", "lone surrogate")),
        (lambda d: d.update(id="x" * 40), ("run_id", "36")),
    ],
    ids=["nul-tag", "long-name", "long-key", "big-step", "surrogate", "long-id"],
)
def test_tracker_import_refuses_a_bad_archive_whole(
    store_url: str,
    tmp_path: Path,
    edit: Callable[[dict[str, Any]], None],
    words: tuple[str, ...],
) -> None:
    path = _archive_with(tmp_path, edit)
    target = open_store(store_url, queued=False)
    with pytest.raises(ValidationError, match="is malformed") as info:
        import_runs(target, path)
    assert all(w in str(info.value) for w in words), str(info.value)
    assert target.count_runs(RunQuery()) == 0  # the two good runs before it are not written
    target.close()


# Each op, built with one bad field, as capture, the search, cards or a replay would build it.
_T = time.time()
_BAD_OPS: dict[str, Callable[[], object]] = {
    "create-name": lambda: CreateRun("r", NUL, "run", _T),
    "create-kind": lambda: CreateRun("r", "n", "banana", _T),
    "create-status": lambda: CreateRun("r", "n", "run", _T, status="done"),
    "create-time": lambda: CreateRun("r", "n", "run", math.nan),
    "create-script": lambda: CreateRun("r", "n", "run", _T, script=SURROGATE),
    "create-id": lambda: CreateRun("r" * 37, "n", "run", _T),
    "end-running": lambda: EndRun("r", "running", _T),
    "end-time": lambda: EndRun("r", "finished", 1e20),
    "params-key": lambda: SetParams("r", {"k" * (MAX_KEY + 1): 1}),
    "params-int": lambda: SetParams("r", {"seed": 2**1100}),
    "metric-value": lambda: MetricRow("m", "k", 10**400, None, _T),
    "metric-step": lambda: MetricRow("m", "k", 1.0, 2**63, _T),
    "metric-key": lambda: MetricRow("m", NUL, 1.0, None, _T),
    "metric-rows": lambda: LogMetrics("r", [("m", "k", 1.0, None, _T)]),  # type: ignore[list-item]
    "data-name": lambda: LogData("d", "r", "n" * (MAX_NAME + 1), {"digest": "x"}, _T),
    "data-role": lambda: LogData("d", "r", "n", {"digest": "x"}, _T, role="weird"),
    "tags-value": lambda: SetTags("r", {"k": [1]}),  # type: ignore[dict-item]
    "attrs-json": lambda: SetAttrs("r", {"k": {"x": object()}}),  # type: ignore[dict-item]
    "attrs-keys": lambda: SetAttrs("r", {"k": {1: "x"}}),  # type: ignore[dict-item]
    "fields-notes": lambda: SetRunFields("r", {"notes": NUL}),
    "cell-source": lambda: LogCell(
        "c", "r", 0, None, 1, NUL, "h", "ok", None, [], [], {}, {}, _T, 1.0
    ),
    "cell-params": lambda: LogCell(
        "c", "r", 0, None, 1, "x = 1", "h", "ok", None, [], [], {NUL: 1}, {}, _T, 1.0
    ),
    "cell-duration": lambda: LogCell(
        "c", "r", 0, None, 1, "x = 1", "h", "ok", None, [], [], {}, {}, _T, math.nan
    ),
    "heartbeat-time": lambda: Heartbeat(["r"], math.inf),
}


@pytest.mark.parametrize("build", list(_BAD_OPS.values()), ids=list(_BAD_OPS))
def test_no_op_can_be_built_with_a_value_a_backend_would_refuse(
    build: Callable[[], object],
) -> None:
    with pytest.raises(ValidationError):
        build()


def test_ops_normalise_once_and_a_spool_replay_rebuilds_them_equal() -> None:
    op = SetParams("r", {"a": {"b": 1}, "np": __import__("numpy").float32(0.5)})
    assert op.params == {"a.b": 1, "np": 0.5}
    tags = SetTags("r", {"n": 3, "gone": None})
    assert tags.tags == {"n": "3", "gone": None}
    metrics = LogMetrics.build("r", {"x": 1, "y": -0.0}, step=2**40, timestamp=_T)
    assert [(m.key, m.value, m.step) for m in metrics.metrics] == [
        ("x", 1.0, 2**40),
        ("y", -0.0, 2**40),
    ]
    for o in (op, tags, metrics):
        assert op_from_json(op_to_json(o)) == o


def test_flatten_params_checks_every_level() -> None:
    assert flatten_params({"a": {"b": {"c": 1}}, "d": None}) == {"a.b.c": 1, "d": None}
    with pytest.raises(ValidationError, match="names must be strings"):
        flatten_params({"a": {1: 2}})
    with pytest.raises(ValidationError, match="250"):
        flatten_params({"a" * 200: {"b" * 60: 1}})


def test_the_direct_store_refuses_nothing_the_ops_accepted(tmp_path: Path, pg_url: str) -> None:
    # The same ops, written straight to both backends (the server and `tracker import` use
    # direct stores): both take every one of them and read back the same run.
    rid = uuid.uuid4().hex
    ops = [
        CreateRun(rid, "é" * MAX_NAME, "run", _T, tags={"t" * MAX_KEY: "v" * 5000}),
        SetParams(rid, {"k" * MAX_KEY: "x" * 65_535, "big": 2**1000, "neg": -0.0}),
        LogMetrics.build(rid, {"m": 1e308, "n": -1e-320, "nan": math.nan}, step=2**63 - 1),
        SetRunFields(rid, {"notes": "🙂" * 100_000}),
        EndRun(rid, "finished", _T + 1),
    ]
    runs = []
    for url in (f"sqlite:///{tmp_path / 'd.db'}", pg_url):
        s = open_store(url, queued=False)
        assert isinstance(s, SQLStore)
        s.write(ops)
        runs.append(s.get_run(rid).to_dict())
        s.close()
    assert runs[0] == runs[1]
