"""Environments are stored once per distinct environment, and read back as they were logged.

Runs on a SQLite file, PostgreSQL and in-memory SQLite, straight on the SQL store.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker.exceptions import StoreError
from tracker.records import Environment
from tracker.store import RunQuery, SQLStore, open_store
from tracker.store._sql import _environments
from tracker.store._sql._codec import document_digest, dumps
from tracker.store.ops import CreateRun, SetRunFields

ENV: dict[str, Any] = {
    "python": "3.11.7",
    "implementation": "CPython",
    "platform": "Linux-6.1-x86_64",
    "hostname": "h1",
    "packages": {f"pkg-{i}": f"1.{i}.0" for i in range(60)},
    "git_commit": "abc123",
    "git_dirty": False,
    "git_root": "/repo",
    "hardware": {"cpu": "Xeon", "cores": 8, "memory_gb": 31.2},
}


@pytest.fixture
def store(sql_store: SQLStore) -> SQLStore:
    """Each SQL store kind in turn (``sql_store`` in conftest.py)."""
    return sql_store


def _run(store: SQLStore, env: dict[str, Any] | None) -> str:
    rid = uuid.uuid4().hex
    store.write([CreateRun(rid, "r", "run", time.time(), environment=env)])
    return rid


def _stored(store: SQLStore) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT document FROM tracker_environments")).scalars())


def _digests(store: SQLStore, *ids: str) -> list[str | None]:
    with store.engine.connect() as conn:
        return [
            conn.execute(
                sa.text("SELECT environment_digest FROM tracker_runs WHERE id = :i"), {"i": i}
            ).scalar_one()
            for i in ids
        ]


def test_runs_in_one_environment_store_one_copy(store: SQLStore) -> None:
    a = _run(store, ENV)
    # The same environment built in another order is the same environment.
    b = _run(store, dict(reversed(ENV.items())))
    assert _stored(store) == [dumps(ENV)]
    assert _digests(store, a, b) == [document_digest(dumps(ENV))] * 2
    expected = Environment.from_dict(ENV)
    assert store.get_run(a).environment == expected
    assert store.get_run(b).environment == expected
    assert [r.environment for r in store.search_runs(RunQuery())] == [expected, expected]


def test_different_environments_store_one_copy_each(store: SQLStore) -> None:
    other = {**ENV, "packages": {**ENV["packages"], "numpy": "2.4.1"}}
    a, b, c = _run(store, ENV), _run(store, other), _run(store, other)
    assert sorted(_stored(store)) == sorted([dumps(ENV), dumps(other)])
    assert store.get_run(a).environment == Environment.from_dict(ENV)
    assert store.get_run(b).environment == store.get_run(c).environment
    assert store.get_run(c).environment == Environment.from_dict(other)
    assert store.get_run(a).environment != store.get_run(c).environment


def test_no_environment_and_an_empty_one_read_back_as_none(store: SQLStore) -> None:
    a, b = _run(store, None), _run(store, {})
    assert _stored(store) == []
    assert _digests(store, a, b) == [None, None]
    assert store.get_run(a).environment is None
    assert store.get_run(b).environment is None


def test_set_run_fields_replaces_and_clears_the_environment(store: SQLStore) -> None:
    rid = _run(store, ENV)
    other = {**ENV, "hostname": "h2"}
    store.write([SetRunFields(rid, {"environment": other})])
    assert store.get_run(rid).environment == Environment.from_dict(other)
    store.write([SetRunFields(rid, {"environment": None})])
    assert store.get_run(rid).environment is None
    assert len(_stored(store)) == 2  # documents stay: other runs may share them


def _refuse_runs_named_boom(store: SQLStore) -> None:
    """A trigger that makes the database itself fail a batch (after its environment insert)."""
    store.describe()  # create the tables
    with store.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER boom BEFORE INSERT ON tracker_runs WHEN NEW.name = 'boom' "
                "BEGIN SELECT RAISE(ABORT, 'boom'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN "
                "IF NEW.name = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END "
                "$$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER boom BEFORE INSERT ON tracker_runs "
                "FOR EACH ROW EXECUTE FUNCTION boom()"
            )


def test_an_environment_in_a_failed_batch_is_written_by_the_next_one(store: SQLStore) -> None:
    # The store remembers which environments are committed, so it skips their insert: a
    # batch the database failed must not leave its environment remembered as written.
    _refuse_runs_named_boom(store)
    env = {**ENV, "hostname": "failed-batch"}
    with pytest.raises(StoreError, match="boom"):
        store.write([CreateRun(uuid.uuid4().hex, "boom", "run", time.time(), environment=env)])
    assert _stored(store) == []
    again = _run(store, env)
    assert store.get_run(again).environment == Environment.from_dict(env)
    assert _stored(store) == [dumps(env)]


def test_two_writers_in_one_environment_share_its_row(store_url: str) -> None:
    one, two = open_store(store_url, queued=False), open_store(store_url, queued=False)
    assert isinstance(one, SQLStore)
    assert isinstance(two, SQLStore)
    a, b = _run(one, ENV), _run(two, ENV)
    assert _run(two, ENV)  # two now knows the row is there
    assert _stored(one) == [dumps(ENV)]
    assert one.get_run(a).environment == two.get_run(b).environment
    one.close()
    two.close()


def test_each_run_gets_its_own_environment_record(store: SQLStore) -> None:
    a, b = _run(store, ENV), _run(store, ENV)
    ra, rb = store.get_run(a), store.get_run(b)
    assert ra.environment is not None
    assert rb.environment is not None
    ra.environment.packages["pkg-0"] = "changed"  # type: ignore[index]
    assert rb.environment.packages["pkg-0"] == "1.0.0"
    assert store.get_run(a).environment == Environment.from_dict(ENV)


def test_a_reference_without_its_document_reads_as_no_environment(store: SQLStore) -> None:
    rid = _run(store, ENV)
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM tracker_environments"))
    _environments._cache.clear()
    assert store.get_run(rid).environment is None


_text = st.text(st.characters(), max_size=8)  # NUL, controls, lone surrogates, astral
_envs = st.fixed_dictionaries(
    {
        "python": _text,
        "hostname": _text,
        "packages": st.dictionaries(_text, _text, max_size=5),
        "git_commit": st.one_of(st.none(), _text),
        "git_dirty": st.one_of(st.none(), st.booleans()),
        "hardware": st.dictionaries(
            _text, st.one_of(st.integers(), st.floats(allow_nan=False), _text), max_size=3
        ),
    }
)


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(env=_envs)
def test_any_environment_reads_back_as_logged(store_url: str, env: dict[str, Any]) -> None:
    store = open_store(store_url, queued=False)
    assert isinstance(store, SQLStore)
    try:
        a, b = _run(store, env), _run(store, dict(reversed(env.items())))
        expected = Environment.from_dict(env)
        assert store.get_run(a).environment == expected
        assert store.get_run(b).environment == expected
        digest = document_digest(dumps(env))
        assert _digests(store, a, b) == [digest, digest]
        with store.engine.connect() as conn:
            n = conn.execute(
                sa.text("SELECT count(*) FROM tracker_environments WHERE digest = :d"),
                {"d": digest},
            ).scalar_one()
        assert n == 1
    finally:
        store.close()
