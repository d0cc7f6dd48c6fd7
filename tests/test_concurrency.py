"""Several processes write one store at once: nothing lost, no error reaches a caller."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tracker.store import RunQuery, open_store

WRITER = textwrap.dedent(
    """
    import sys, tracker
    n, tag = int(sys.argv[1]), sys.argv[2]
    for i in range(n):
        with tracker.start_run(name=f"{tag}-{i}", tags={"writer": tag}) as run:
            run.log_params({f"p{j}": j for j in range(10)})
            run.log_metrics({f"m{j}": i + j / 10 for j in range(5)})
    assert tracker.get_store().flush(120), "not flushed"
    print("done", flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_eight_processes_write_one_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'shared.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    n, procs = 60, 8
    env = dict(os.environ, TRACKER_STORE=url, TRACKER_SPOOL_DIR=str(tmp_path / "spool"))
    running = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(n), f"w{k}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(procs)
    ]
    for p in running:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert out.strip() == "done"
        assert "Traceback" not in err
    store = open_store(url, queued=False)
    runs = store.search_runs(RunQuery())
    assert len(runs) == n * procs
    assert {r.name for r in runs} == {f"w{k}-{i}" for k in range(procs) for i in range(n)}
    assert all(len(r.params) == 10 and len(r.metrics) == 5 for r in runs)
    assert all(r.status.value == "finished" for r in runs)
    store.close()


EXITING_WRITER = textwrap.dedent(
    """
    import sys, tracker
    n, tag = int(sys.argv[1]), sys.argv[2]
    for i in range(n):
        with tracker.start_run(name=f"{tag}-{i}", tags={"writer": tag}) as run:
            run.log_params({f"p{j}": j for j in range(10)})
            run.log_metrics({f"m{j}": i + j / 10 for j in range(5)})
    # No flush, no sync: the process just exits, as a script does.
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_every_run_is_visible_to_another_process_as_soon_as_the_writers_exit(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'shared.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    n, procs = 100, 6
    spool = tmp_path / "spool"
    env = dict(os.environ, TRACKER_STORE=url, TRACKER_SPOOL_DIR=str(spool))
    # Given several processes logging runs at once, each exiting as soon as it is done,
    running = [
        subprocess.Popen(
            [sys.executable, "-c", EXITING_WRITER, str(n), f"w{k}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(procs)
    ]
    for p in running:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        assert "Traceback" not in err
        assert "not yet written" not in err
    # when another process reads the store right after the last one exited (no sync),
    store = open_store(url, queued=False)
    runs = store.search_runs(RunQuery())
    store.close()
    # then it sees every run once, finished, with all its params and metrics,
    names = [r.name for r in runs]
    assert len(names) == len(set(names)) == n * procs
    assert set(names) == {f"w{k}-{i}" for k in range(procs) for i in range(n)}
    assert all(len(r.params) == 10 and len(r.metrics) == 5 for r in runs)
    assert all(r.status.value == "finished" for r in runs)
    # and no spool is left behind for `tracker sync` to finish.
    assert list(spool.glob("*.spool")) == []
