"""`tracker diff`, `tracker show`, `--help` and bad input, run as users run them: subprocesses.

The two runs compared come from two real processes in a real git repository, one commit
apart, with different data and one more imported package, so every part of a diff
(params, metrics, data from the stored profiles, environment) has something to show.
Cell records and ``%%track`` runs come from a notebook executed by a real kernel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import tracker
from tracker.cli import build_parser
from tracker.records import RunKind
from tracker.store import open_store
from tracker.store.ops import CreateRun

from .capture_harness import kernel_env


def cli(*args: str, store: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TRACKER_STORE=store, TRACKER_SPOOL_DIR=str(cwd / "spool"))
    return subprocess.run(
        [sys.executable, "-m", "tracker", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


LOG = textwrap.dedent(
    """
    import sys
    import pandas as pd
    import tracker
    version = sys.argv[1]
    if version == "b":
        import yaml  # one more package imported: an environment difference
    frame = pd.DataFrame({"age": [30, 40, 50], "income": [1.0, 2.0, None]})
    if version == "b":
        frame = pd.DataFrame(
            {"age": [30.5, 40.0, 52.0, 61.0], "income": [1.0, 2.0, 3.0, 4.0], "city": list("abcd")}
        )
    with tracker.start_run(name=f"model-{version}") as run:
        run.log_params({"C": 0.1 if version == "a" else 1.0, "kernel": "rbf"})
        run.log_data("train", frame)
        run.log_data("labels", b"same bytes in both")
        run.log_metrics({"accuracy": 0.9 if version == "a" else 0.93, "f1": 0.8})
    print(run.id)
    """
)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str, Path]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path_factory.mktemp("repo")
    url = f"sqlite:///{repo / 'diff.db'}"
    (repo / "log.py").write_text(LOG)
    (repo / ".gitignore").write_text("*.db\nspool/\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "first")
    env = dict(os.environ, TRACKER_STORE=url, TRACKER_SPOOL_DIR=str(repo / "spool"))

    def log(version: str) -> str:
        out = subprocess.run(
            [sys.executable, "log.py", version],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.split()[-1]

    a = log("a")
    (repo / "log.py").write_text(LOG + "# tuned\n")
    _git(repo, "commit", "-qam", "second")
    (repo / "notes.txt").write_text("untracked files do not make a tree dirty\n")
    (repo / ".gitignore").write_text("*.db\nspool/\nnotes.txt\n")  # uncommitted change
    b = log("b")
    return url, a, b, repo


def test_diff_shows_params_metrics_data_and_environment(
    two_runs: tuple[str, str, str, Path],
) -> None:
    url, a, b, repo = two_runs
    out = cli("diff", a[:10], b[:10], store=url, cwd=repo)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    # the two runs named, then each part
    assert "model-a" in text
    assert "model-b" in text
    params = _part(text, "params")
    assert params[0].startswith("params: 1 differ, 1 equal")
    assert any(line.split() == ["C", "0.1", "1"] for line in params)
    metrics = _part(text, "metrics")
    assert any(line.split() == ["accuracy", "0.9", "0.93", "+0.03"] for line in metrics)
    assert not any(line.split()[:1] == ["f1"] for line in metrics)  # equal: left out
    data = "\n".join(_part(text, "data"))
    assert "data: 1 changed, 1 the same" in data
    assert "train:" in data
    assert "labels" not in data
    assert "shape: (3, 2) → (4, 3)" in data
    assert "columns added: city" in data
    assert "dtype of age: int64 → float64" in data
    assert "missing values in income: 1 → 0" in data
    env = "\n".join(_part(text, "environment"))
    assert "git_commit" in env
    assert "git_dirty" in env
    assert "packages.PyYAML" in env
    assert "packages.pandas" not in env  # the same version on both sides
    assert "source" not in text  # plain runs have no cell source
    # --all lists the equal ones too
    every = cli("diff", a, b, "--all", store=url, cwd=repo).stdout
    assert any(line.split()[:1] == ["f1"] for line in _part(every, "metrics"))
    assert "labels: same" in every


def test_diff_as_json(two_runs: tuple[str, str, str, Path]) -> None:
    url, a, b, repo = two_runs
    out = cli("diff", a, b, "--json", store=url, cwd=repo)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert (doc["a"]["id"], doc["b"]["id"]) == (a, b)
    assert {p["key"]: p["differs"] for p in doc["params"]} == {"C": True, "kernel": False}
    (train,) = [d for d in doc["data"] if d["name"] == "train"]
    assert train["changed"]
    assert any(c["what"] == "columns added" for c in train["changes"][1])
    assert doc["source"] is None


def test_show_reads_like_a_report(two_runs: tuple[str, str, str, Path]) -> None:
    url, a, _, repo = two_runs
    out = cli("show", a[:8], store=url, cwd=repo)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"run {a}  'model-a'"
    assert lines[1].split() == ["status", "finished"]
    assert ["C", "0.1"] in [ln.split() for ln in _part(out.stdout, "params")]
    assert ["accuracy", "0.9"] in [ln.split() for ln in _part(out.stdout, "metrics")]
    data = _part(out.stdout, "data")
    assert data[1].split()[:5] == ["name", "kind", "shape", "rows", "digest"]
    assert any(ln.split()[:4] == ["train", "dataframe", "3x2", "3"] for ln in data)
    env = _part(out.stdout, "environment")
    assert any(ln.split()[:1] == ["git"] for ln in env)
    as_json = json.loads(cli("show", a, "--json", store=url, cwd=repo).stdout)
    assert as_json["params"] == {"C": 0.1, "kernel": "rbf"}


def _part(text: str, title: str) -> list[str]:
    """The lines of one blank-line-separated part of a report, from its title line on."""
    for block in text.split("\n\n"):
        lines = block.splitlines()
        if lines and lines[0].split(":")[0].split(" (")[0] == title:
            return lines
    return []


NOTEBOOK = [
    "%load_ext tracker\n%track on --name diffs",
    "import tracker\nC = 0.1",
    "%%track --name fit-a\nscore = 1 - C / 10\ntracker.log_metrics({'score': score})",
    "C = 1.0",
    "%%track --name fit-b\nscore = 1 - C / 10\ntracker.log_metrics({'score': score})\nprint(score)",
]


@pytest.mark.kernel
def test_diff_of_track_runs_and_of_cell_records_shows_the_source(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nb.db'}"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK])
    env = kernel_env(TRACKER_STORE=url, TRACKER_SPOOL_DIR=str(tmp_path / "spool"))
    NotebookClient(nb, timeout=180, kernel_name="python3").execute(env=env)
    tracker.set_store(url)
    (session,) = tracker.search_runs(kind="session")
    runs = {r.name: r for r in tracker.search_runs(kind="cell", parent=session.id)}
    fit_a, fit_b = runs["fit-a"], runs["fit-b"]
    # %%track runs: their cells' sources, diffed
    out = cli("diff", fit_a.id[:8], fit_b.id[:8], store=url, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    source = out.stdout.split("\nsource:\n", 1)[1].splitlines()
    assert source[0] == "--- A fit-a"
    assert source[1] == "+++ B fit-b"
    assert "+print(score)" in source
    assert any(
        ln.split() == ["score", "0.99", "0.9", "-0.09"] for ln in _part(out.stdout, "metrics")
    )
    # cell records, as SESSION:N, from the numbers `tracker show SESSION` lists
    records = tracker.get_run(session.id).cells
    cells = {c.source: c.seq for c in records}
    last = repr(records[-1])  # a cell record reads as one line
    assert last.startswith(f"<CellExecution #{records[-1].seq} [{records[-1].execution_count}] ok ")
    assert last.endswith("'%%track --name fit-b score = 1 - C / 10…' score=0.9>")
    shown = cli("show", session.id[:8], store=url, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f"#{cells['C = 1.0']}" in shown.stdout
    first, second = cells[NOTEBOOK[1]], cells[NOTEBOOK[3]]
    a, b = f"{session.id[:8]}:{first}", f"{session.id[:8]}:{second}"
    out = cli("diff", a, b, store=url, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    source = out.stdout.split("\nsource:\n", 1)[1].splitlines()
    assert "-import tracker" in source
    assert "-C = 0.1" in source
    assert "+C = 1.0" in source
    # the %%track run shows its source
    shown = cli("show", fit_b.id, store=url, cwd=tmp_path).stdout
    assert "source (cell #" in shown
    assert "  print(score)" in shown
    assert tracker.get_run(fit_b.id).kind is RunKind.CELL


# --- help and bad input -------------------------------------------------------------------


def _commands() -> list[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sorted(sub.choices)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    examples = text.split("examples:\n", 1)[1].splitlines()
    assert examples
    assert all(
        line.strip().startswith(f"tracker {command}") or "--store" in line
        for line in examples
        if line.strip()
    )


def test_python_dash_m_tracker_is_the_command(tmp_path: Path) -> None:
    out = cli("--help", store=f"sqlite:///{tmp_path / 'm.db'}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "tracker diff" in out.stdout
    assert "examples:" in out.stdout


@pytest.fixture
def crowded(tmp_path: Path) -> str:
    """Runs whose ids share prefixes, and one with metrics and params to misspell."""
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    store = open_store(url, queued=False)
    try:
        store.write(
            [
                CreateRun("abc1" + "0" * 28, "first", "run", 1.0),
                CreateRun("abc2" + "0" * 28, "second", "run", 2.0),
            ]
        )
    finally:
        store.close()
    tracker.set_store(url)
    with tracker.start_run(name="scored", params={"kernel": "rbf"}) as run:
        run.log_metrics({"accuracy": 0.9, "loss": 0.3})
    tracker.get_store().flush()
    return url


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("show", "ffff"), "no run with id 'ffff'"),
        (("diff", "abc1", "ffff"), "no run with id 'ffff'"),
        (("show", "abc"), "run id prefix 'abc' fits 2 runs: abc100000000 (first), abc200000000"),
        (("diff", "abc", "abc1"), "give more characters of the id"),
        (
            ("runs", "metrics.acuracy > 0.5"),
            "no run has metrics.acuracy; did you mean metrics.accuracy?",
        ),
        (
            ("runs", "metric.accuracy > 0.5"),
            "unknown field 'metric.accuracy' in the run filter; did you mean metrics.accuracy?",
        ),
        (("runs", "params.kernl = 'rbf'"), "did you mean params.kernel?"),
        (("runs", "stauts = 'finished'"), "did you mean status?"),
        (
            ("runs", "--order-by", "metrics.acc desc"),
            "no run has metrics.acc; did you mean metrics.accuracy?",
        ),
        (("runs", "metrics.zzz > 1"), "no run has metrics.zzz; runs have metrics: accuracy, loss"),
        (("export", "x.json", "--filter", "metrics.acuracy > 0"), "did you mean metrics.accuracy?"),
        (("diff", "abc1:3", "abc2"), "is a run, not a notebook session"),
    ],
    ids=[
        "unknown-id",
        "unknown-id-in-diff",
        "ambiguous-prefix",
        "ambiguous-in-diff",
        "metric-key-typo",
        "prefix-typo",
        "param-key-typo",
        "column-typo",
        "order-by-typo",
        "no-close-key",
        "export-filter-typo",
        "cell-of-a-plain-run",
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    crowded: str, tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    out = cli(*args, store=crowded, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith("tracker: error: ")
    assert says in out.stderr
    assert "Traceback" not in out.stderr
