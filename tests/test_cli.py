"""The `tracker` command line, run as users run it: a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tracker


def cli(*args: str, store: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TRACKER_STORE=store, TRACKER_SPOOL_DIR=str(cwd / "spool"))
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def populated(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    tracker.set_store(url)
    for c in (0.1, 1.0, 10.0):
        with tracker.start_run(name=f"svc-{c}", params={"C": c}) as r:
            r.log_metrics({"acc": c / 10})
    tracker.get_store().flush()
    return url


def test_runs_table_json_and_csv(populated: str, tmp_path: Path) -> None:
    out = cli(
        "runs",
        "metrics.acc > 0.05",
        "--order-by",
        "metrics.acc desc",
        store=populated,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:4] == ["id", "name", "kind", "status"]
    assert [ln.split()[1] for ln in lines[2:]] == ["svc-10.0", "svc-1.0"]
    js = json.loads(cli("runs", "--format", "json", store=populated, cwd=tmp_path).stdout)
    assert {r["name"] for r in js} == {"svc-0.1", "svc-1.0", "svc-10.0"}
    csv = cli("runs", "--format", "csv", store=populated, cwd=tmp_path).stdout.splitlines()
    assert csv[0].startswith("id,name,kind,status")
    assert len(csv) == 4


def test_show_by_prefix(populated: str, tmp_path: Path) -> None:
    rid = tracker.search_runs(name="svc-1.0")[0].id
    out = cli("show", rid[:8], "--json", store=populated, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["params"] == {"C": 1.0}


def test_export_import_sync_and_store(populated: str, tmp_path: Path) -> None:
    archive = tmp_path / "runs.json"
    assert cli("export", str(archive), store=populated, cwd=tmp_path).returncode == 0
    other = f"sqlite:///{tmp_path / 'other.db'}"
    imp = cli("import", str(archive), store=other, cwd=tmp_path)
    assert imp.returncode == 0, imp.stderr
    assert "imported 3 run(s)" in imp.stdout
    assert cli("import", str(archive), store=other, cwd=tmp_path).returncode == 0
    listed = json.loads(cli("runs", "--format", "json", store=other, cwd=tmp_path).stdout)
    assert len(listed) == 3
    sync = cli("sync", store=other, cwd=tmp_path)
    assert sync.returncode == 0
    assert "0 still pending" in sync.stdout
    info = json.loads(cli("store", "--format", "json", store=other, cwd=tmp_path).stdout)
    assert info["runs"] == 3
    assert info["kind"] == "sqlite"


def test_store_description_hides_the_password(tmp_path: Path, pg_url: str) -> None:
    url = pg_url.replace("postgres@", "postgres:hunter2@")
    out = cli("store", store=url, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "hunter2" not in out.stdout + out.stderr
    assert "***" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("runs", "metrics.acc >> 1"), "expected a value"),
        (("show", "doesnotexist"), "no run with id"),
        (("import", "missing.json"), "no archive at"),
        (("--store", "mysql://x/y", "runs"), "unsupported store scheme"),
    ],
    ids=["bad-filter", "unknown-run", "missing-archive", "bad-store"],
)
def test_user_errors_print_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    out = cli(*args, store=f"sqlite:///{tmp_path / 'e.db'}", cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
