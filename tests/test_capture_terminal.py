"""Notebook capture in a plain IPython terminal (no Jupyter, no notebook path)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.hashing import hash_data
from tracker.records import RunKind, RunStatus

pytestmark = [pytest.mark.kernel, pytest.mark.slow]


def test_ipython_terminal_records_every_line(tmp_path: Path) -> None:
    # Given the `ipython` command reading cells from a pipe (one cell per line),
    lines = [
        "%load_ext tracker",
        "%track on",
        "import numpy as np",
        "x = np.arange(6.0)",
        "x[2] = -1",
        "total = float(x.sum())",
    ]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "IPython",
            "--simple-prompt",
            "--no-banner",
            "--colors=nocolor",
            "--HistoryManager.hist_file=:memory:",
        ],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in out.stdout + out.stderr, out.stdout + out.stderr
    assert "tracking on" in out.stdout

    # then each line after `%track on` is a record of a session named for the terminal.
    (summary,) = tracker.search_runs(kind="session")
    session = tracker.get_run(summary.id)
    assert session.name == "ipython"
    assert session.tags["frontend"] == "terminal"
    assert session.source.notebook is None
    assert session.status is RunStatus.FINISHED  # IPython exited normally
    assert [c.source for c in session.cells] == lines[2:]
    expected = np.arange(6.0)
    mutate = session.cells[2]
    assert mutate.inputs["x"].digest == hash_data(expected).digest
    expected[2] = -1
    assert mutate.outputs["x"].digest == hash_data(expected).digest


def test_interactive_shell_multiline_cells_and_track_cell(tmp_path: Path) -> None:
    # Given a terminal shell running multi-line cells (what a pasted block does),
    script = textwrap.dedent(
        """
        from IPython.terminal.interactiveshell import TerminalInteractiveShell

        shell = TerminalInteractiveShell.instance()
        cells = [
            "%load_ext tracker\\n%track on --name term-session  # a comment, as in the README",
            "import tracker\\nvalues = [1, 2, 3]",
            "%%track --name term-run  # own\\ntotal = sum(values)\\ntracker.log_metric('t', total)",
            "values.append(4)",
        ]
        for cell in cells:
            result = shell.run_cell(cell, store_history=True)
            assert result.success, (cell, result.error_in_exec)
        assert "card" in shell.magics_manager.magics["line"]  # %card comes with %load_ext
        # Unloading ends the session run and removes the magics and the hooks.
        shell.run_cell("%unload_ext tracker", store_history=True)
        assert "track" not in shell.magics_manager.magics["line"]
        shell.run_cell("after_unload = 1", store_history=True)
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True, timeout=120)

    (summary,) = tracker.search_runs(kind="session")
    session = tracker.get_run(summary.id)
    assert session.name == "term-session"
    tracked = session.cells[1]
    (run,) = tracker.search_runs(parent=session.id)
    assert run.kind is RunKind.CELL
    assert run.name == "term-run"
    assert run.metrics == {"t": 6.0}
    assert tracked.child_run_id == run.id
    # A list changed by a method call is a write of the cell.
    assert session.cells[2].writes == ("values",)
    assert len(session.cells) == 3  # nothing after %unload_ext
    assert session.status is RunStatus.FINISHED


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("on   # every cell you run now leaves a record", ["on"]),
        ("on --name run#3", ["on", "--name", "run#3"]),
        ("on --name 'a # b'  # c", ["on", "--name", "a # b"]),
        ('params C gamma # "unclosed', ["params", "C", "gamma"]),
        ("# only a comment", []),
    ],
)
def test_magic_lines_drop_a_trailing_comment(line: str, words: list[str]) -> None:
    """``%track on  # ...`` as examples write it: a ``#`` starting a word ends the line."""
    from tracker.capture.magics import _split

    assert _split(line) == words
