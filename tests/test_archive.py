"""Portable archive: export to TinyDB JSON, import anywhere, idempotently."""

from __future__ import annotations

import json
import math
import time
import uuid
from pathlib import Path

import pytest
from tinydb import TinyDB

import tracker
from tracker.store import SQLStore, export_runs, import_runs, open_store
from tracker.store.ops import LogCell, LogData


def _populate() -> tuple[str, str]:
    with tracker.start_run(name="session", kind="session") as session:
        with tracker.start_run(
            name="model", tags={"m": "svc"}, params={"C": 1.0, "k": "rbf"}
        ) as run:
            run.log_metrics({"acc": 0.9, "nan": math.nan})
            run.log_metric("loss", 0.5, step=1)
            run.log_metric("loss", 0.3, step=2)
            run.log_data("train", b"some training bytes")
            run.set_notes("notes <b>")
            run.set_attrs({"card": {"sections": {"intended_use": "demo"}}})
        cell = uuid.uuid4().hex
        ref = tracker.hash_data(b"input bytes").to_dict()
        session.write_ops(
            [
                LogCell(
                    cell,
                    session.id,
                    0,
                    "c1",
                    1,
                    "x = 1",
                    "h",
                    "ok",
                    None,
                    [],
                    ["x"],
                    {},
                    {},
                    time.time(),
                    1.5,
                ),
                LogData(uuid.uuid4().hex, session.id, "x", ref, time.time(), "output", cell),
            ]
        )
    with pytest.raises(ValueError, match="nope"), tracker.start_run(name="broken"):
        raise ValueError("nope")
    assert tracker.get_store().flush(30)  # the direct stores below read the database itself
    return session.id, run.id


def test_round_trip_to_another_store_keeps_everything(tmp_path: Path, pg_url: str) -> None:
    tracker.set_store(f"sqlite:///{tmp_path / 'src.db'}")
    session_id, run_id = _populate()
    src = open_store(f"sqlite:///{tmp_path / 'src.db'}", queued=False)
    archive = tmp_path / "runs.json"
    assert export_runs(src, archive) == 3
    # The archive is a plain TinyDB database.
    with TinyDB(archive) as db:
        assert len(db.table("runs")) == 3
        assert db.table("meta").all()[0]["format"] == "jupyterlab-tracker/archive"
    dst = open_store(pg_url, queued=False)
    assert isinstance(dst, SQLStore)
    assert import_runs(dst, archive) == 3
    for rid in (session_id, run_id):
        a, b = src.get_run(rid), dst.get_run(rid)
        assert a.to_dict() == b.to_dict()
        for key in a.metrics:
            assert [m.value for m in src.metric_history(rid, key)] == [
                m.value for m in dst.metric_history(rid, key)
            ] or math.isnan(a.metrics[key])
    broken = dst.search_runs(
        tracker.store.RunQuery(conditions=tracker.store.parse_filter("name = 'broken'"))
    )
    assert broken[0].status.value == "failed"
    assert broken[0].error is not None
    src.close()
    dst.close()


def test_import_is_idempotent_and_export_is_deterministic(tmp_path: Path) -> None:
    tracker.set_store(f"sqlite:///{tmp_path / 'src.db'}")
    _populate()
    src = open_store(f"sqlite:///{tmp_path / 'src.db'}", queued=False)
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    export_runs(src, first)
    import_runs(src, first)  # into the store it came from
    import_runs(src, first)  # and again
    export_runs(src, second)
    assert first.read_bytes() == second.read_bytes()
    assert src.count_runs(tracker.store.RunQuery()) == 3
    assert len(src.metric_history(_loss_run(src), "loss")) == 2
    src.close()


def _loss_run(store: SQLStore) -> str:
    return next(r.id for r in store.search_runs(tracker.store.RunQuery()) if "loss" in r.metrics)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no archive at"),
        ("not json", "is not a JSON archive"),
        (json.dumps({"runs": {}}), "is not a tracker archive"),
        (
            json.dumps({"meta": {"1": {"format": "jupyterlab-tracker/archive", "version": 99}}}),
            "newer",
        ),
        (
            json.dumps(
                {
                    "meta": {"1": {"format": "jupyterlab-tracker/archive", "version": 1}},
                    "runs": {"1": {"id": "x"}},
                }
            ),
            "run 'x' in .* is malformed",
        ),
    ],
    ids=["missing", "not-json", "not-archive", "newer-version", "malformed-run"],
)
def test_bad_archives_are_refused_clearly(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "in.json"
    if content is not None:
        path.write_text(content)
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}", queued=False)
    with pytest.raises(tracker.ValidationError, match=message):
        import_runs(store, path)
    assert store.count_runs(tracker.store.RunQuery()) == 0
    store.close()


def test_values_of_any_type_keep_their_type_through_an_archive(tmp_path: Path) -> None:
    tracker.set_store(f"sqlite:///{tmp_path / 'src.db'}")
    params = {"f_nan": math.nan, "t_nan": "NaN", "f_inf": -math.inf, "t_inf": "-Infinity"}
    attrs = {
        "doc": {"$float": "NaN", "x": [math.nan, math.inf, "NaN"]},
        "marker": {"$float": "Infinity"},
        "wrapped": {"$dict": {"a": 1}},
    }
    with tracker.start_run(params=params) as run:
        run.set_attrs(attrs)
    assert tracker.get_store().flush(30)
    src = open_store(f"sqlite:///{tmp_path / 'src.db'}", queued=False)
    export_runs(src, tmp_path / "a.json")
    dst = open_store(f"sqlite:///{tmp_path / 'dst.db'}", queued=False)
    import_runs(dst, tmp_path / "a.json")
    got = dst.get_run(run.id)
    assert got.params["t_nan"] == "NaN"
    assert got.params["t_inf"] == "-Infinity"
    assert isinstance(got.params["f_nan"], float)
    assert math.isnan(got.params["f_nan"])
    assert got.params["f_inf"] == -math.inf
    doc = got.attrs["doc"]
    assert isinstance(doc, dict)
    assert doc["$float"] == "NaN"
    assert math.isnan(doc["x"][0])
    assert doc["x"][1:] == [math.inf, "NaN"]
    assert got.attrs["marker"] == {"$float": "Infinity"}
    assert got.attrs["wrapped"] == {"$dict": {"a": 1}}
    # The file stays strict JSON (no NaN tokens), readable by any JSON parser.
    json.loads((tmp_path / "a.json").read_text(encoding="utf-8"), parse_constant=_refuse)
    src.close()
    dst.close()


def _refuse(token: str) -> float:
    raise AssertionError(f"non-standard JSON token {token}")


def test_a_version_1_archive_is_still_read(tmp_path: Path) -> None:
    # Version 1 wrote a NaN param as the string "NaN" (and had no $float markers).
    run_id = uuid.uuid4().hex
    doc = {
        "id": run_id,
        "name": "old",
        "kind": "run",
        "status": "finished",
        "start_ts": 1.0,
        "end_ts": 2.0,
        "params": {"lr": "NaN", "k": "rbf", "c": 1.5},
        "metric_history": {"acc": [["NaN", None, 1.5], [0.5, 1, 1.6]]},
        "tags": {"t": "v"},
    }
    path = tmp_path / "v1.json"
    path.write_text(
        json.dumps(
            {
                "meta": {"1": {"format": "jupyterlab-tracker/archive", "version": 1}},
                "runs": {"1": doc},
            }
        ),
        encoding="utf-8",
    )
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}", queued=False)
    assert import_runs(store, path) == 1
    run = store.get_run(run_id)
    assert math.isnan(run.params["lr"])  # type: ignore[arg-type]
    assert (run.params["k"], run.params["c"], run.tags) == ("rbf", 1.5, {"t": "v"})
    assert [m.step for m in store.metric_history(run_id, "acc")] == [None, 1]
    store.close()
