"""A record the database refuses is never silent, and never lost.

The database is made to refuse params named ``bad*`` with a real trigger (what a schema
drift or a constraint of another tool looks like to us), on SQLite and on PostgreSQL.
Given records it refused, the process that logged them warns once with the count and
the command; ``tracker sync --rejected`` lists and retries them; ``%track status``,
``tracker store`` and the server's ``GET /store`` (the panel's footer) give the count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tracker
from tracker.store import QueuedStore, RunQuery, SQLStore, open_store

from .capture_harness import Kernel, kernel_env
from .server_helpers import JupyterServer

REFUSAL = "refused by a test trigger"


def _refuse_bad_params(url: str) -> None:
    """Create the schema, then a trigger that refuses every param whose key starts with bad."""
    store = SQLStore(tracker.StoreURL.parse(url))
    store.describe()
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_bad BEFORE INSERT ON tracker_params "
                f"WHEN NEW.key LIKE 'bad%' BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse_bad() RETURNS trigger AS $$ BEGIN "
                f"IF left(NEW.key, 3) = 'bad' THEN RAISE EXCEPTION '{REFUSAL}'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_bad BEFORE INSERT ON tracker_params "
                "FOR EACH ROW EXECUTE FUNCTION refuse_bad()"
            )
    store.close()


def _accept_bad_params(url: str) -> None:
    store = SQLStore(tracker.StoreURL.parse(url))
    on = "" if store.engine.dialect.name == "sqlite" else " ON tracker_params"
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TRIGGER refuse_bad{on}")
    store.close()


WRITER = textwrap.dedent(
    """
    import tracker
    store = tracker.get_store()
    with store.hold_writes():  # the three runs go to the database in one batch
        for i in range(3):
            with tracker.start_run(name=f"r{i}") as run:
                run.log_params({"bad": i})
                run.log_metrics({"m": float(i)})
    assert store.flush(60)
    with tracker.start_run(name="r3") as run:  # refused after the warning was written
        run.log_params({"bad": 3})
    assert store.flush(60)
    print("done", flush=True)
    """
)


def _cli(url: str, spool: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TRACKER_SPOOL_DIR=str(spool))
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", "--store", url, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_refused_records_warn_once_then_sync_rejected_lists_and_retries_them(
    store_url: str, tmp_path: Path
) -> None:
    # Given a database that refuses some params,
    _refuse_bad_params(store_url)
    spool = tmp_path / "spool"
    # when a script logs four runs whose params it refuses,
    out = subprocess.run(
        [sys.executable, "-c", WRITER],
        env=dict(os.environ, TRACKER_STORE=store_url, TRACKER_SPOOL_DIR=str(spool)),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done"
    # then it warns once, with the count and the command, not once per record,
    warnings = [line for line in out.stderr.splitlines() if "refused" in line]
    assert len(warnings) == 2, out.stderr
    assert "the store refused 3 record(s)" in warnings[0]
    assert "`tracker sync --rejected` lists them and retries" in warnings[0]
    assert REFUSAL in warnings[0]
    # and says at exit how many it refused in all (one more came after the warning).
    assert "the store refused 4 record(s) in this process" in warnings[1]
    assert str(spool / "rejected") in warnings[1]

    # The rest of each run is in the database.
    direct = open_store(store_url, queued=False)
    runs = {r.name: r for r in direct.search_runs(RunQuery())}
    assert sorted(runs) == ["r0", "r1", "r2", "r3"]
    assert all(r.params == {} for r in runs.values())
    assert runs["r2"].metrics == {"m": 2.0}

    # `tracker store` counts them; `tracker sync` says they are there.
    info = json.loads(_cli(store_url, spool, "store", "--format", "json").stdout)
    assert info["rejected"] == 4
    assert "4 record(s) the store refused" in _cli(store_url, spool, "sync").stdout

    # `tracker sync --rejected` lists each (run, record, error); still refused: exit 1.
    again = _cli(store_url, spool, "sync", "--rejected")
    assert again.returncode == 1, again.stderr
    for r in runs.values():
        assert f"run {r.id}  set_params: refused again" in again.stdout
    assert again.stdout.count(REFUSAL) == 4
    assert "written 0; 4 still refused" in again.stdout

    # Once the cause is fixed, the retry writes them and removes them.
    _accept_bad_params(store_url)
    fixed = _cli(store_url, spool, "sync", "--rejected")
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.count("written now") == 4
    assert "none left" in fixed.stdout
    assert {r.name: r.params for r in direct.search_runs(RunQuery())} == {
        f"r{i}": {"bad": i} for i in range(4)
    }
    assert "no record refused by" in _cli(store_url, spool, "sync", "--rejected").stdout
    assert json.loads(_cli(store_url, spool, "store", "--format", "json").stdout)["rejected"] == 0
    direct.close()


@pytest.mark.slow
def test_the_server_reports_how_many_records_its_store_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'refusing.db'}"
    _refuse_bad_params(url)
    # Records refused on this machine, for this store and for another one,
    monkeypatch.setenv("TRACKER_SPOOL_DIR", str(tmp_path / "spool"))
    for target, n in ((url, 2), (f"sqlite:///{tmp_path / 'other.db'}", 1)):
        if target != url:
            _refuse_bad_params(target)
        tracker.set_store(target)
        for i in range(n):
            with tracker.start_run(name=f"x{i}") as run:
                run.log_params({"bad": i})
        store = tracker.get_store()
        assert isinstance(store, QueuedStore)
        assert store.flush(60)
        assert store.rejected == n
    # are counted by the server for its own store only (the panel's footer shows it).
    server = JupyterServer(tmp_path, store_url=url).start()
    try:
        d = server.api("/store").json()
        assert d["rejected"] == 2
        assert d["runs"] == 2
    finally:
        server.stop()


@pytest.mark.kernel
@pytest.mark.slow
def test_track_status_shows_how_many_records_the_store_refused(tmp_path: Path) -> None:
    url = str(tracker.get_store().url)
    _refuse_bad_params(url)
    with Kernel(tmp_path, kernel_env()) as kernel:
        assert kernel.run("%load_ext tracker\n%track on").status == "ok"
        before = kernel.run("%track status")
        assert "rejected records: 0" in before.stdout
        logged = kernel.run(
            "import tracker\n"
            "with tracker.start_run(name='x') as run:\n"
            "    run.log_params({'bad': 1})\n"
            "assert tracker.get_store().flush(60)"
        )
        assert logged.status == "ok", logged.traceback
        status = kernel.run("%track status")
        assert "rejected records: 1 (`tracker sync --rejected` lists and retries them)" in (
            status.stdout
        )
