"""How a kernel's session run ends: killed mid-cell, or shut down with worker processes.

A kernel killed mid-cell (SIGKILL, like the OOM killer) leaves an interrupted session run.
The kernel is driven the way JupyterLab drives it (cell ids in the request metadata,
``JPY_SESSION_NAME`` in its environment), then killed while a cell runs. This test
process then opens the same store and spool directory, as the next notebook or
``tracker sync`` would.

A kernel whose cells used joblib worker processes and is shut down normally ends
``finished``: it takes ipykernel longer to stop loky's processes than the kernel manager
waits before its SIGTERM, so the session must end before atexit would run.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import tracker
from tracker.hashing import hash_data
from tracker.records import RunStatus
from tracker.store import RunQuery, open_store

from .capture_harness import Kernel, kernel_env

pytestmark = [pytest.mark.kernel, pytest.mark.slow]


def _wait_for_running_cell(store_url: str, timeout: float = 60) -> dict[str, object]:
    """Poll the database (directly, without sweeping) until the long cell is marked."""
    direct = open_store(store_url, queued=False)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sessions = [r for r in direct.search_runs(RunQuery()) if r.kind == "session"]
            if sessions:
                marker = direct.get_run(sessions[0].id, with_cells=False).attrs.get("running_cell")
                if isinstance(marker, dict):
                    return marker
            time.sleep(0.1)
    finally:
        direct.close()
    raise AssertionError("the running cell was never marked on the session run")


def test_killed_kernel_leaves_interrupted_session_with_every_record(tmp_path: Path) -> None:
    notebook = tmp_path / "analysis" / "crash.ipynb"
    store_url = str(tracker.get_store().url)
    env = kernel_env(JPY_SESSION_NAME=str(notebook))
    kernel = Kernel(tmp_path, env)
    try:
        # Given a tracked notebook session with a few cells run, each with its cell id,
        assert kernel.run("%load_ext tracker\n%track on", cell_id="load").status == "ok"
        assert kernel.run("import numpy as np\nx = np.arange(5.0)", cell_id="make-x").status == "ok"
        assert kernel.run("x[0] = 42", cell_id="mutate").status == "ok"
        assert kernel.run("C = 3\n%track params C", cell_id="param").status == "ok"
        # when the kernel is killed while a long cell runs,
        kernel.send("import time\ntime.sleep(600)", cell_id="long")
        marker = _wait_for_running_cell(store_url)
        kernel.kill()
    finally:
        kernel.shutdown()

    # then the next process to open the store finds the session interrupted,
    stats = tracker.sync()
    sessions = tracker.search_runs(kind="session")
    assert len(sessions) == 1
    session = tracker.get_run(sessions[0].id)
    assert session.status is RunStatus.INTERRUPTED
    assert session.error is not None
    assert session.error.type == "Interrupted"
    assert stats["pending"] == 0

    # with every record taken before the kill,
    assert [c.cell_id for c in session.cells] == ["make-x", "mutate", "param"]
    assert [c.status for c in session.cells] == ["ok", "ok", "ok"]
    expected = np.arange(5.0)
    assert session.cells[0].outputs["x"].digest == hash_data(expected).digest
    expected[0] = 42
    assert session.cells[1].outputs["x"].digest == hash_data(expected).digest
    assert session.cells[2].params == {"C": 3}

    # and it says which cell was running when the kernel died.
    assert marker["cell_id"] == "long"
    assert session.attrs["running_cell"]["cell_id"] == "long"
    assert str(session.attrs["running_cell"]["source"]).startswith("import time")

    # The session is named after the notebook JupyterLab reported.
    assert session.name == "crash"
    assert session.source.notebook == str(notebook)
    assert session.attrs["kernel"]["notebook"] == str(notebook)


def test_a_kernel_that_used_joblib_workers_and_was_shut_down_ends_its_session_finished(
    tmp_path: Path,
) -> None:
    # Given a tracked notebook whose cells ran work on joblib worker processes (n_jobs=-1),
    cells = [
        "%load_ext tracker\n%track on",
        "from joblib import Parallel, delayed\n"
        "squares = Parallel(n_jobs=-1)(delayed(pow)(i, 2) for i in range(16))",
        "from sklearn.datasets import load_iris\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.model_selection import cross_val_score\n"
        "X, y = load_iris(return_X_y=True)\n"
        "scores = cross_val_score(LogisticRegression(max_iter=500), X, y, cv=3, n_jobs=-1)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    # when it is run and its kernel shut down normally (nbclient: a shutdown request),
    client.execute(env=kernel_env())
    for cell in nb.cells:
        assert not [o for o in cell.outputs if o.get("output_type") == "error"], cell.outputs
    # then the session ends finished, not interrupted, with both cells recorded: also after
    # the next process looked for runs whose kernel died.
    tracker.sync()
    (session,) = tracker.search_runs(kind="session")
    session = tracker.get_run(session.id)
    assert session.status is RunStatus.FINISHED, session.error
    assert session.error is None
    assert len(session.cells) == 2
    assert all(c.status == "ok" for c in session.cells)
