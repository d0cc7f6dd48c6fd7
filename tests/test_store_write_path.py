"""The one-run write path's shortcuts keep the stored result (benchmarks/bench_store.py).

Row ids computed without ``uuid.UUID`` are ``uuid5``'s, run ids ``uuid4``'s; column JSON
and spool lines written without ``JSONEncoder.encode`` are the ``json`` module's; a run
created and ended in one batch is one insert with its ending, on SQLite and PostgreSQL,
and a replay of that batch over an existing run sets only its ending, as the ending's
update did; a loop of short runs does not wake the system-metrics thread for each run.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import random
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracker
from tracker.run import _system
from tracker.run._active import _new_run_id
from tracker.store import open_store
from tracker.store._row_ids import _ROW_NS, _uuid5_hex, metric_row_ids
from tracker.store._sql._batch import Batch
from tracker.store._sql._codec import dumps
from tracker.store.ops import (
    CreateRun,
    EndRun,
    Heartbeat,
    LogData,
    LogMetrics,
    Op,
    SetAttrs,
    SetParams,
    SetTags,
    artifact_row_id,
    data_row_id,
    metric_row_id,
    op_to_dict,
)
from tracker.store.spool import TABLE, Spool, read_spool


def test_row_ids_are_uuid5_in_the_row_namespace() -> None:
    rng = random.Random(7)
    alphabet = "abcXYZ019 _.-\x1f\u00e9\u00df\u4e2d\U0001f600"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        assert _uuid5_hex(text) == uuid.uuid5(_ROW_NS, text).hex
    # The public derivations are unchanged, so replays and imports still meet their rows.
    m = f"m\x1frun\x1floss\x1f{0.5!r}\x1f{3!r}\x1f{round(1.5e9 * 1e6)}"
    assert metric_row_id("run", "loss", 0.5, 3, 1.5e9) == uuid.uuid5(_ROW_NS, m).hex
    d = "d\x1frun\x1fNone\x1flogged\x1ftrain\x1fabc"
    assert data_row_id("run", "train", "abc") == uuid.uuid5(_ROW_NS, d).hex
    a = f"a\x1frun\x1fmodel\x1fabc\x1f{round(1.5e9 * 1e6)}"
    assert artifact_row_id("run", "model", "abc", 1.5e9) == uuid.uuid5(_ROW_NS, a).hex


# Lone surrogates cannot be UTF-8: uuid5 refuses them too, and the key check comes first.
_utf8 = st.text(st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    text=_utf8,
    run_id=_utf8,
    metrics=st.dictionaries(_utf8, st.floats(allow_nan=True, allow_infinity=True), max_size=6),
    step=st.none() | st.integers(0, 2**63 - 1),
    timestamp=st.floats(0, 4e9),
)
def test_row_ids_are_byte_identical_to_uuid5(
    text: str, run_id: str, metrics: dict[str, float], step: int | None, timestamp: float
) -> None:
    # Archives and MLflow re-imports recompute these ids: any other byte is a second row.
    assert _uuid5_hex(text) == uuid.uuid5(_ROW_NS, text).hex
    micros = round(timestamp * 1_000_000)
    expected = [
        uuid.uuid5(_ROW_NS, f"m\x1f{run_id}\x1f{k}\x1f{v!r}\x1f{step!r}\x1f{micros}").hex
        for k, v in metrics.items()
    ]
    assert metric_row_ids(run_id, metrics.items(), step, timestamp) == expected
    assert [metric_row_id(run_id, k, v, step, timestamp) for k, v in metrics.items()] == expected


def test_new_run_ids_are_uuid4_hex() -> None:
    ids = [_new_run_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for rid in ids:
        u = uuid.UUID(hex=rid)
        assert (u.version, u.variant, u.hex) == (4, uuid.RFC_4122, rid)
    run = tracker.start_run("id-check", system_metrics=False)
    run.end()
    assert uuid.UUID(hex=run.id).version == 4


def _create(rid: str, name: str) -> CreateRun:
    return CreateRun(run_id=rid, name=name, kind="run", start_time=time.time())


def test_an_ending_in_the_creating_batch_goes_into_the_insert() -> None:
    rid = uuid.uuid4().hex
    end = EndRun(
        run_id=rid, status="failed", end_time=time.time(), error={"type": "E", "message": "m"}
    )
    b = Batch.fold([_create(rid, "a"), end])
    assert not b.runs
    assert not b.ends
    row = b.ended_runs[rid]
    assert (row["status"], row["end_time"]) == ("failed", end.end_time)
    # A heartbeat in the batch applies to running runs only: the ending stays after it.
    beat = Heartbeat(run_ids=[rid], timestamp=time.time())
    b = Batch.fold([_create(rid, "a"), beat, end])
    assert rid in b.runs
    assert rid in b.ends
    assert not b.ended_runs


def test_a_run_created_and_ended_in_one_batch_reads_back_ended(store_url: str) -> None:
    store = open_store(store_url, queued=False)
    try:
        fresh, replayed = uuid.uuid4().hex, uuid.uuid4().hex
        t = time.time()
        store.write([_create(fresh, "fresh"), EndRun(run_id=fresh, status="finished", end_time=t)])
        run = store.get_run(fresh)
        assert (run.name, run.status.value) == ("fresh", "finished")
        assert run.end_time is not None
        assert abs(run.end_time.timestamp() - t) < 1e-3
        # A replay over a run already there (here under another name): only the ending
        # lands, as the separate update wrote it; the row keeps what it had.
        store.write([_create(replayed, "first")])
        store.write(
            [
                _create(replayed, "second"),
                EndRun(
                    run_id=replayed,
                    status="failed",
                    end_time=t,
                    error={"type": "E", "message": "m"},
                ),
            ]
        )
        run = store.get_run(replayed)
        assert (run.name, run.status.value) == ("first", "failed")
        assert run.error is not None
        assert run.error.type == "E"
    finally:
        store.close()


def test_short_runs_do_not_wake_the_sampler_each(monkeypatch: pytest.MonkeyPatch) -> None:
    sampler = _system._Sampler()
    monkeypatch.setattr(_system, "_sampler", sampler)
    looks = 0
    next_ = sampler._next

    def counted(now: float) -> float | None:
        nonlocal looks
        looks += 1
        return next_(now)

    monkeypatch.setattr(sampler, "_next", counted)
    try:
        for i in range(100):
            with tracker.start_run(f"short-{i}", system_metrics=60.0):
                pass
        # Woken at its start and when the first run ended (to begin its idle keep); then
        # it sleeps out the keep while runs come and go: 200 looks if each woke it.
        assert sampler.thread is not None
        assert looks < 20
    finally:
        sampler.stop()


def test_column_json_is_the_json_modules() -> None:
    rng = random.Random(3)
    values: list[object] = [0.0, -0.0, 0.5, 1e300, 5e-324, math.nan, math.inf, -math.inf]
    values += [0, -1, 2**70, True, False, None, "", '\x00\x1f"\\\n', "\ud800", [1, 2.5]]
    values += [{"b": 1, "a": [None, "\u00e9"]}, IntEnumLike.ONE]
    values += [rng.uniform(-1e6, 1e6) for _ in range(500)]
    values += ["".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(8)) for _ in range(200)]
    for v in values:
        want = json.dumps(v, separators=(",", ":"), allow_nan=True, sort_keys=True)
        assert dumps(v) == want, v


class IntEnumLike(enum.IntEnum):
    ONE = 1


def _reference_op_dict(op: Op) -> dict[str, Any]:
    # op_to_dict as it was before its fast path for plain values.
    d: dict[str, Any] = {"op": op.OP}
    for f in dataclasses.fields(op):
        name, v = f.name, getattr(op, f.name)
        if isinstance(op, LogMetrics) and name == "metrics":
            v = [[m.id, m.key, m.value, m.step, m.timestamp] for m in v]
        elif isinstance(v, Mapping):
            v = dict(v)
        elif isinstance(v, tuple):
            v = list(v)
        d[name] = v
    return d


def _reference_line(seq: int, op: Op) -> bytes:
    doc = {"t": TABLE, "+": seq, "d": {"seq": seq, "op": _reference_op_dict(op)}}
    return (json.dumps(doc, separators=(",", ":"), allow_nan=True) + "\n").encode()


def _varied_ops() -> list[Op]:
    rid, t = uuid.uuid4().hex, 1.5e9 + 0.123456
    odd = '\u00e9\u4e2d\U0001f600 \\ " \x1f'
    return [
        CreateRun(run_id=rid, name=f"r {odd}", kind="run", start_time=t, tags={odd: odd}),
        CreateRun(
            run_id=uuid.uuid4().hex,
            name="c",
            kind="trial",
            start_time=t,
            parent_id=rid,
            environment={"packages": {"numpy": "2.0"}, "git_dirty": None, "cores": 2},
            script="/x.py",
            owner="host:/tmp/s.spool",
        ),
        SetParams(run_id=rid, params={"a": {"b": 1, "c": "x"}, "n": None, "f": -0.0, "t": True}),
        LogMetrics.build(rid, {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, odd: 1e-320}),
        LogMetrics.build(rid, {"loss": 0.5}, step=2**63 - 1, timestamp=t),
        SetTags(run_id=rid, tags={"k": None, "v": odd}),
        SetAttrs(run_id=rid, attrs={"a": [1, 2.5, {"x": None}], "b": odd}),
        LogData(id=uuid.uuid4().hex, run_id=rid, name="d", ref={"digest": "ab"}, timestamp=t),
        Heartbeat(run_ids=[rid, uuid.uuid4().hex], timestamp=t),
        EndRun(run_id=rid, status="failed", end_time=t, error={"type": "E", "message": odd}),
    ]


def test_op_dicts_skip_only_conversions_plain_values_never_need() -> None:
    for op in _varied_ops():
        want = _reference_op_dict(op)
        got = op_to_dict(op)
        assert json.dumps(got, allow_nan=True) == json.dumps(want, allow_nan=True)
        assert [type(v) for v in got.values()] == [type(v) for v in want.values()]


def test_spool_lines_are_the_json_modules_and_replay_unchanged(tmp_path: Path) -> None:
    ops = _varied_ops()
    spool = Spool(tmp_path, "sqlite:///x.db")
    try:
        for op in ops[:3]:
            spool.append([op])
        spool.append(ops[3:])  # several ops in one write
    finally:
        spool.close(delete=False)
    lines = spool.path.read_bytes().splitlines(keepends=True)
    assert lines[1:] == [_reference_line(i, op) for i, op in enumerate(ops, 1)]
    _, replayed, unreadable = read_spool(spool.path)
    assert not unreadable
    # Compared as text: NaN is equal to nothing, not even a NaN read back.
    assert [_reference_line(0, op) for op in replayed] == [_reference_line(0, op) for op in ops]


def test_a_spool_line_that_cannot_be_encoded_leaves_the_next_one_right(tmp_path: Path) -> None:
    # The encoder is kept for the spool's life: a pass that raised must not leave its
    # circular-reference markers behind to fail (or skip) a later op.
    rid = uuid.uuid4().hex
    ref: dict[str, Any] = {"digest": "ab"}
    ref["self"] = ref
    looped = LogData(id=uuid.uuid4().hex, run_id=rid, name="d", ref=ref, timestamp=1.5e9)
    spool = Spool(tmp_path, "sqlite:///x.db")
    try:
        with pytest.raises(ValueError, match="Circular"):
            spool.append([looped])
        del ref["self"]  # the same dict, no longer a loop: nothing circular is left
        fine = LogData(
            id=uuid.uuid4().hex,
            run_id=rid,
            name="d",
            ref={"digest": "ab", "in": ref},
            timestamp=1.5e9,
        )
        assert spool.append([fine]) == [1]
    finally:
        spool.close(delete=False)
    assert spool.path.read_bytes().splitlines(keepends=True)[1:] == [_reference_line(1, fine)]
