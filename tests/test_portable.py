"""Nothing POSIX-only on the way: the spool, a crash and its replay, and the store, run in
processes where ``fcntl`` cannot be imported, as on Windows.

Each process here starts with a shim that makes ``import fcntl`` fail and removes
``os.fork``, ``os.register_at_fork`` and ``os.O_CLOEXEC`` (none exists on Windows).
Without any OS file lock the tracker judges a dead writer by the process id its spool
names; with one (the other tests, and the last ones here) by the lock it held.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import tracker
from tracker.records import RunStatus
from tracker.store import open_store
from tracker.store.spool import read_pending

SHIM = textwrap.dedent(
    """
    import os, sys
    sys.modules["fcntl"] = None  # `import fcntl` raises ImportError, as on Windows
    for _name in ("fork", "register_at_fork", "O_CLOEXEC"):
        if hasattr(os, _name):
            delattr(os, _name)
    """
)

WRITER = textwrap.dedent(
    """
    import json, sys, tracker
    store = tracker.get_store()
    # Keep every op in the spool, unwritten, until this process dies: the writer thread
    # lingers an hour and no run ends to cut that short.
    with store.lingering(3600):
        run = tracker.start_run(name="crashes", params={"C": 0.5})
        run.log_metrics({"acc": 0.75})
        run.log_data("x", b"some bytes")
        print(json.dumps({"id": run.id, "fcntl": "fcntl" in sys.modules and
                          sys.modules["fcntl"] is not None}), flush=True)
        sys.stdin.read()  # until the test kills this process
    """
)

SYNC = textwrap.dedent(
    """
    import json, tracker
    print(json.dumps(tracker.sync(timeout=60)), flush=True)
    """
)


def _env(store: str, spool: Path) -> dict[str, str]:
    return dict(os.environ, TRACKER_STORE=store, TRACKER_SPOOL_DIR=str(spool))


def _python(
    code: str, env: dict[str, str], *, shim: bool = True
) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-c", (SHIM if shim else "") + code],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    return out


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path, str]]:
    url = f"sqlite:///{tmp_path / 'portable.db'}"
    spool = tmp_path / "spool"
    proc = subprocess.Popen(
        [sys.executable, "-c", SHIM + WRITER],
        env=_env(url, spool),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        line = json.loads(proc.stdout.readline())
        yield proc, line["id"], spool, url
    finally:
        proc.kill()
        proc.wait(timeout=60)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


def test_the_spool_a_crash_and_its_replay_without_fcntl(
    writer: tuple[subprocess.Popen[str], str, Path, str],
) -> None:
    proc, run_id, spool, url = writer
    # Given a writer without fcntl whose records are only in its spool,
    (spooled,) = spool.glob("*.spool")
    assert spooled.with_suffix(".lock").exists()
    _, ops = read_pending(spooled)
    assert {type(op).__name__ for op in ops} >= {"CreateRun", "SetParams", "LogMetrics"}
    # when another fcntl-less process syncs while the writer lives, then nothing of the
    # living writer is replayed or declared dead;
    alive = json.loads(_python(SYNC, _env(url, spool)).stdout)
    assert alive["replayed_files"] == 0
    assert alive["interrupted"] == 0
    assert spooled.exists()
    # and once it is killed, the next sync replays its spool and marks its run interrupted.
    proc.kill()
    proc.wait(timeout=60)
    dead = json.loads(_python(SYNC, _env(url, spool)).stdout)
    assert dead["replayed_files"] == 1
    assert dead["replayed_ops"] == len(ops)
    assert dead["interrupted"] == 1
    store = open_store(url, queued=False)
    try:
        run = store.get_run(run_id)
    finally:
        store.close()
    assert run.status is RunStatus.INTERRUPTED
    assert run.params == {"C": 0.5}
    assert run.metrics == {"acc": 0.75}
    assert run.data["x"].kind == "bytes"
    assert sorted(p.name for p in spool.iterdir()) == []  # spool and lock file both gone


def test_the_store_and_every_read_work_without_fcntl(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    code = textwrap.dedent(
        """
        import json, sys, tracker
        assert sys.modules.get("fcntl") is None
        for i in range(3):
            with tracker.start_run(name=f"r{i}", params={"i": i}) as run:
                run.log_metrics({"m": i / 10})
                run.log_metric("curve", 1.0, step=0)
        found = tracker.search_runs("metrics.m >= 0.1", order_by="metrics.m desc")
        frame = tracker.runs_frame()
        print(json.dumps({
            "names": [r.name for r in found],
            "rows": len(frame),
            "history": [m.value for m in tracker.metric_history(found[0].id, "curve")],
        }))
        """
    )
    out = json.loads(_python(code, _env(url, tmp_path / "spool")).stdout)
    assert out == {"names": ["r2", "r1"], "rows": 3, "history": [1.0]}
    # A clean exit leaves nothing behind, lock files included.
    assert list((tmp_path / "spool").iterdir()) == []


def test_the_command_line_runs_as_a_module_without_fcntl(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'cli.db'}", tmp_path / "spool")
    code = (
        "import runpy, sys\n"
        "sys.argv = ['tracker', 'store', '--format', 'json']\n"
        "try:\n    runpy.run_module('tracker', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
    )
    info = json.loads(_python(code, env).stdout)
    assert info["kind"] == "sqlite"


def test_a_forked_child_does_not_keep_its_dead_parents_spool_alive(tmp_path: Path) -> None:
    # With the OS lock (flock here): a child forked after the spool exists closes its copy
    # of the lock, so killing the parent frees the spool while the child still runs.
    url = f"sqlite:///{tmp_path / 'fork.db'}"
    spool = tmp_path / "spool"
    code = textwrap.dedent(
        """
        import json, os, sys, tracker
        store = tracker.get_store()
        with store.lingering(3600):
            run = tracker.start_run(name="parent")
            run.log_metrics({"m": 1.0})
            child = os.fork()
            if child == 0:
                sys.stdin.read()  # the child outlives its parent, until stdin closes
                os._exit(0)
            print(json.dumps({"id": run.id, "child": child}), flush=True)
            sys.stdin.read()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=_env(url, spool),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        info = json.loads(proc.stdout.readline())
        assert json.loads(_python(SYNC, _env(url, spool), shim=False).stdout)["interrupted"] == 0
        proc.kill()
        proc.wait(timeout=60)
        stats = json.loads(_python(SYNC, _env(url, spool), shim=False).stdout)
        assert stats["replayed_files"] == 1
        assert stats["interrupted"] == 1
        os.kill(info["child"], 0)  # the child is still running: it did not hold the lock
    finally:
        proc.kill()
        proc.stdin.close()  # ends the child
        proc.stdout.close()
        proc.wait(timeout=60)
    store = open_store(url, queued=False)
    try:
        assert store.get_run(info["id"]).metrics == {"m": 1.0}
    finally:
        store.close()


def _guarded(chain: list[ast.AST], node: ast.AST) -> bool:
    """Whether ``node`` runs only where it exists: under ``try: ... except ImportError``
    (imports) or ``if hasattr(os, "<name>"):`` (``os`` functions)."""
    for parent in chain:
        if isinstance(parent, ast.Try) and isinstance(node, ast.Import | ast.ImportFrom):
            caught = [h.type for h in parent.handlers if h.type is not None]
            names = {getattr(t, "id", "") for c in caught for t in getattr(c, "elts", [c])}
            if names & {"ImportError", "ModuleNotFoundError"}:
                return True
        if isinstance(parent, ast.If) and isinstance(node, ast.Call):
            test = parent.test
            if (
                isinstance(test, ast.Call)
                and getattr(test.func, "id", "") == "hasattr"
                and len(test.args) == 2
                and isinstance(test.args[1], ast.Constant)
                and test.args[1].value == getattr(node.func, "attr", None)
            ):
                return True
    return False


def test_no_module_imports_posix_only_modules_unguarded() -> None:
    # fcntl, termios, pwd, grp and resource exist only on POSIX; os.fork and
    # os.register_at_fork too. The shimmed processes above only meet what runs; this
    # reads every module, including paths those runs do not take. A use is fine where it
    # is guarded (an import under `except ImportError`, a call under `if hasattr(os, ...)`).
    posix_only = {"fcntl", "termios", "pwd", "grp", "resource", "posix"}
    root = Path(tracker.__file__).parent
    found, guarded = [], []

    def visit(node: ast.AST, chain: list[ast.AST], path: Path) -> None:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module.split(".")[0]]
        uses = [f"{path.relative_to(root)}: import {n}" for n in names if n in posix_only]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("fork", "register_at_fork", "forkpty", "setsid")
        ):
            uses.append(f"{path.relative_to(root)}:{node.lineno}: os.{node.func.attr}")
        (guarded if _guarded(chain, node) else found).extend(uses)
        for child in ast.iter_child_nodes(node):
            visit(child, [*chain, node], path)

    for path in sorted(root.rglob("*.py")):
        visit(ast.parse(path.read_text()), [], path)
    assert found == []
    # The checker sees guards (so it is not vacuous): the fork hooks and the optional fcntl.
    assert any("register_at_fork" in g for g in guarded)


def test_a_spool_whose_owner_died_before_its_header_is_cleared(tmp_path: Path) -> None:
    # A process killed between creating its spool and writing the header leaves an empty
    # file and a free lock: the next sync removes both (there is nothing to replay).
    url = f"sqlite:///{tmp_path / 'born.db'}"
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "host-1-deadbeef.lock").write_bytes(b"")
    (spool / "host-1-deadbeef.spool").write_bytes(b"")
    stats = json.loads(_python(SYNC, _env(url, spool), shim=False).stdout)
    assert stats["replayed_files"] == 0
    assert list(spool.iterdir()) == []
