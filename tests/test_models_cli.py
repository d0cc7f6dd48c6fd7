"""``tracker models``: list, show, promote through gates, alias; on real SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

import tracker
from tracker.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return X[:300], y[:300]


def _version(digits: tuple[np.ndarray, np.ndarray], c: float, latency: float) -> int:
    X, y = digits
    model = LogisticRegression(C=c, max_iter=50).fit(X, y)
    with tracker.start_run(name=f"C={c}") as run:
        run.log_metrics({"accuracy": float(model.score(X, y)), "latency_p95_ms": latency})
        ref = run.log_model(model, "model", input_example=X[:2])
    return tracker.register_model(ref, "digits", reason=f"C={c}").version


@pytest.fixture
def registry(digits: tuple[np.ndarray, np.ndarray]) -> str:
    """Two versions of ``digits`` on the test's store: 1 is fast, 2 is slow; returns its URL."""
    assert _version(digits, 0.1, 20.0) == 1
    assert _version(digits, 1.0, 400.0) == 2
    tracker.get_store().flush()
    return str(tracker.get_store().url)


def run_cli(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    status = main(["--store", url, "models", *args])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_list_and_show_a_model_its_versions_aliases_and_history(
    registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tracker.set_alias("digits", "staging", 1, reason="first try")
    status, out, _ = run_cli(capsys, registry, "list")
    assert status == 0
    assert out.splitlines()[0].split() == ["name", "latest", "versions", "aliases", "updated"]
    assert out.splitlines()[2].split()[:4] == ["digits", "2", "2", "@staging=1"]
    status, out, _ = run_cli(capsys, registry, "list", "--json")
    [listed] = json.loads(out)["models"]
    assert (listed["name"], listed["latest_version"], listed["aliases"]) == (
        "digits",
        2,
        {"staging": 1},
    )
    status, out, _ = run_cli(capsys, registry, "show", "digits")
    assert status == 0
    assert "2 version(s), latest 2" in out
    assert "@staging -> 1" in out
    assert "LogisticRegression" in out
    assert "set_alias @staging 1  (first try)" in out
    status, out, _ = run_cli(capsys, registry, "show", "digits", "--json")
    shown = json.loads(out)
    assert [v["version"] for v in shown["versions"]] == [2, 1]  # newest first
    assert [e["action"] for e in shown["history"]] == ["register", "register", "set_alias"]


@pytest.mark.parametrize("ref", ["digits@staging", "digits/1", "models:/digits/1"])
def test_show_one_version_by_alias_or_number(
    registry: str, capsys: pytest.CaptureFixture[str], ref: str
) -> None:
    tracker.set_alias("digits", "staging", 1)
    status, out, _ = run_cli(capsys, registry, "show", ref, "--json")
    assert status == 0
    shown = json.loads(out)
    assert (shown["version"], shown["aliases"]) == (1, ["staging"])
    assert [e["action"] for e in shown["history"]] == ["register", "set_alias"]
    status, out, _ = run_cli(capsys, registry, "show", ref)
    assert out.startswith("digits/1  @staging")
    assert f"sha256 {shown['sha256']}" in out


def test_unknown_models_versions_and_aliases_fail_with_what_exists(
    registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for ref, says in (
        ("nope", "no registered model named 'nope'"),
        ("digits/9", "no version 9"),
        ("digits@gone", "no alias 'gone'"),
    ):
        status, out, err = run_cli(capsys, registry, "show", ref)
        assert (status, out) == (2, "")
        assert says in err
    assert run_cli(capsys, registry, "alias", "digits", "staging", "9")[0] == 2
    assert run_cli(capsys, registry, "promote", "digits", "1", "--require", "fast")[0] == 2
    assert [e.action for e in tracker.model_history("digits")] == ["register", "register"]


def test_promote_moves_the_alias_when_every_gate_holds(
    registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run_cli(
        capsys, registry, "promote", "digits", "1", "--require", "latency_p95_ms <= 100"
    )
    assert status == 0
    assert "promoted digits/1 to @champion" in out
    assert "ok   latency_p95_ms <= 100" in out
    assert tracker.get_model_version("digits@champion").version == 1
    status, out, _ = run_cli(
        capsys, registry, "promote", "digits", "latest", "--alias", "canary", "--json"
    )
    assert json.loads(out) == {
        "name": "digits",
        "version": 2,
        "alias": "canary",
        "promoted": True,
        "requirements": [],
        "failed": {},
    }


def test_alias_moves_and_removes(registry: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, registry, "alias", "digits", "staging", "1")[1] == (
        "digits @staging -> version 1\n"
    )
    status, out, _ = run_cli(capsys, registry, "alias", "digits", "staging", "2", "--json")
    event = json.loads(out)
    assert (event["action"], event["version"], event["previous"]) == ("set_alias", 2, 1)
    assert (
        "removed @staging" in run_cli(capsys, registry, "alias", "digits", "staging", "--remove")[1]
    )
    assert tracker.list_models()[0].aliases == {}
    status, _, err = run_cli(capsys, registry, "alias", "digits", "staging")
    assert status == 2
    assert "--remove" in err


def _subprocess_cli(url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TRACKER_STORE=url, TRACKER_SPOOL_DIR=str(cwd / "spool-cli"))
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", "models", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _refusal_is_reported_and_kept(url: str, tmp_path: Path) -> None:
    """The slow version fails the latency gate and the card gate: exit 1, each one named."""
    tracker.set_alias("digits", "champion", 1)
    done = _subprocess_cli(
        url,
        tmp_path,
        "promote",
        "digits",
        "2",
        "--alias",
        "champion",
        "--require",
        "latency_p95_ms <= 100",
        "--require",
        "accuracy >= 0",
        "--require",
        "card",
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    failed = [ln for ln in done.stderr.splitlines() if ln.startswith("  FAIL ")]
    assert [ln.split(":")[0] for ln in failed] == ["  FAIL latency_p95_ms <= 100", "  FAIL card"]
    assert "400" in failed[0]
    assert "2 requirement(s) failed" in done.stderr
    assert tracker.get_model_version("digits@champion").version == 1  # unmoved
    last = tracker.model_history("digits")[-1]
    assert (last.action, last.version, last.previous) == ("promotion_refused", 2, 1)
    shown = _subprocess_cli(url, tmp_path, "show", "digits")
    assert shown.returncode == 0
    assert "promotion_refused @champion 1 -> 2" in shown.stdout
    assert "FAIL card" in shown.stdout


def test_a_refused_promotion_exits_1_naming_each_failed_requirement(
    registry: str, tmp_path: Path
) -> None:
    _refusal_is_reported_and_kept(registry, tmp_path)


def test_the_models_command_on_postgres(
    pg_url: str, digits: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    tracker.set_store(pg_url, artifacts=str(tmp_path / "artifacts"))
    assert (_version(digits, 0.1, 20.0), _version(digits, 1.0, 400.0)) == (1, 2)
    tracker.get_store().flush()
    _refusal_is_reported_and_kept(pg_url, tmp_path)
    listed = _subprocess_cli(pg_url, tmp_path, "list", "--json")
    assert json.loads(listed.stdout)["models"][0]["aliases"] == {"champion": 1}
