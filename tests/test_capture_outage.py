"""PostgreSQL unreachable while a notebook runs: cells run as usual, nothing is lost.

Two real outages: the database refusing every connection (``ALLOW_CONNECTIONS false``
and its sessions terminated, as when a DBA takes it offline), and the network to the
server cut (a TCP proxy in front of it stopped) while the kernel is then SIGKILLed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.hashing import hash_data
from tracker.records import RunStatus

from .capture_harness import Kernel, Reply, kernel_env
from .conftest import _pg_connect
from .netproxy import TCPProxy

pytestmark = [pytest.mark.kernel, pytest.mark.postgres, pytest.mark.slow]


def _ok(reply: Reply) -> Reply:
    assert reply.status == "ok", (reply.ename, reply.evalue, reply.stderr)
    return reply


def _set_connections(dbname: str, allowed: bool) -> None:
    with _pg_connect() as conn:
        conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (dbname,),
            )


def _wait_until_down(kernel: Kernel, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _ok(kernel.run("print(tracker.get_store().is_down)")).stdout.strip() == "True":
            return
        time.sleep(0.2)
    raise AssertionError("the kernel's store never noticed the outage")


@pytest.fixture
def proxy() -> Iterator[TCPProxy]:
    p = TCPProxy(("127.0.0.1", 5432))
    p.start()
    yield p
    p.stop()


def test_database_offline_during_notebook_loses_nothing(pg_url: str, tmp_path: Path) -> None:
    dbname = pg_url.rsplit("/", 1)[1]
    with Kernel(tmp_path, kernel_env(TRACKER_STORE=pg_url)) as kernel:
        _ok(kernel.run("%load_ext tracker\n%track on"))
        _ok(kernel.run("import numpy as np\nimport tracker\nx = np.arange(4.0)", "x"))
        assert _ok(kernel.run("print(tracker.get_store().flush(30))")).stdout.strip() == "True"

        # Given the database taken offline,
        _set_connections(dbname, allowed=False)
        try:
            # cells still run and succeed,
            for i in range(5):
                reply = _ok(kernel.run(f"y{i} = x * {i}", f"down-{i}"))
                assert reply.ename is None
            _wait_until_down(kernel)
            status = _ok(kernel.run("%track status")).stdout
            assert "unreachable: records wait in the local spool" in status
        finally:
            _set_connections(dbname, allowed=True)
        # and once it is back, every record reaches it.
        assert _ok(kernel.run("print(tracker.get_store().flush(60))")).stdout.strip() == "True"

    tracker.set_store(pg_url)
    (summary,) = tracker.search_runs(kind="session")
    session = tracker.get_run(summary.id)
    down = [c for c in session.cells if (c.cell_id or "").startswith("down-")]
    assert [c.cell_id for c in down] == [f"down-{i}" for i in range(5)]
    for i, cell in enumerate(down):
        assert cell.status == "ok"
        assert cell.inputs["x"].digest == hash_data(np.arange(4.0)).digest
        assert cell.outputs[f"y{i}"].digest == hash_data(np.arange(4.0) * i).digest
    assert session.status is RunStatus.FINISHED


def test_kernel_killed_while_server_unreachable_loses_nothing(
    pg_url: str, proxy: TCPProxy, tmp_path: Path
) -> None:
    url = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    kernel = Kernel(tmp_path, kernel_env(TRACKER_STORE=url))
    try:
        _ok(kernel.run("%load_ext tracker\n%track on"))
        _ok(kernel.run("import numpy as np\nimport tracker\nx = np.arange(3.0)", "x"))
        assert _ok(kernel.run("print(tracker.get_store().flush(30))")).stdout.strip() == "True"
        # Given the network to the server cut, the cells run into the spool only,
        proxy.stop()
        for i in range(3):
            _ok(kernel.run(f"z{i} = x + {i}", f"spooled-{i}"))
        _wait_until_down(kernel)
        # when the kernel is killed before the server comes back,
        kernel.kill()
    finally:
        kernel.shutdown()
    proxy.start()

    # then the next process on the same store replays its spool and ends the session.
    tracker.set_store(url)
    stats = tracker.sync()
    assert stats["replayed_files"] == 1
    assert stats["replayed_ops"] >= 3
    assert stats["interrupted"] == 1
    (summary,) = tracker.search_runs(kind="session")
    session = tracker.get_run(summary.id)
    assert session.status is RunStatus.INTERRUPTED
    spooled = [c for c in session.cells if (c.cell_id or "").startswith("spooled-")]
    assert [c.cell_id for c in spooled] == [f"spooled-{i}" for i in range(3)]
    for i, cell in enumerate(spooled):
        assert cell.outputs[f"z{i}"].digest == hash_data(np.arange(3.0) + i).digest
