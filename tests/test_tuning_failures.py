"""A failing trial prints one line, never a traceback; a search failing alike from the start stops.

The line names the trial, the exception and where its full traceback is stored (the trial
run, ``tracker show RUN --json``). Checked in this process (captured file descriptors) and
in a real IPython kernel through nbclient, where a flood of tracebacks would land in the
cell's output.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import optuna
import pytest
from nbclient import NotebookClient

import tracker
from tracker.tuning import optimize
from tracker.tuning._search import SAME_FAILURES_TO_STOP

from .capture_harness import kernel_env, outputs_text


def _flaky(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 0, 1)
    if trial.number % 2 == 1:
        raise RuntimeError(f"boom in trial {trial.number}")
    return x


def test_a_failed_trial_prints_one_line_with_where_its_traceback_is(
    capfd: pytest.CaptureFixture[str],
) -> None:
    res = optimize(_flaky, 6, direction="minimize", sampler="random", seed=0, show_progress=False)
    out, err = capfd.readouterr()
    text = out + err
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if "failed" in line]
    assert len(lines) == 3  # trials 1, 3 and 5, one line each
    runs = {r.tags["optuna.trial_number"]: r for r in tracker.search_runs(kind="trial")}
    for n in (1, 3, 5):
        (line,) = [ln for ln in lines if f"trial {n} failed" in ln]
        assert f"RuntimeError: boom in trial {n}" in line
        run = runs[str(n)]
        assert f"tracker show {run.id[:12]} --json" in line
        # ... and the traceback is there, whole.
        assert run.error is not None
        assert run.error.traceback is not None
        assert "Traceback" in run.error.traceback
        assert "_flaky" in run.error.traceback
    assert res.stopped is None
    assert [t.state for t in res.trials] == ["complete", "fail"] * 3


def test_the_first_trials_failing_alike_stop_the_search_and_say_so(
    capfd: pytest.CaptureFixture[str],
) -> None:
    def broken(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0, 1)
        raise KeyError("X_train")  # e.g. a name the objective expects is missing

    res = optimize(broken, 20, direction="minimize", sampler="random", show_progress=False)
    assert len(res.trials) == SAME_FAILURES_TO_STOP
    assert res.stopped is not None
    assert f"first {SAME_FAILURES_TO_STOP} trials all failed with KeyError: 'X_train'" in (
        res.stopped
    )
    assert res.outcome.startswith("stopped early:")
    assert "stopped early" in repr(res)
    with pytest.raises(ValueError, match="all failed with KeyError"):
        _ = res.best_trial
    err = capfd.readouterr().err
    assert "Traceback" not in err
    assert "the search stopped early" in err


def test_different_failures_or_one_success_do_not_stop_the_search() -> None:
    def varied(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0, 1)
        raise ValueError(f"bad {trial.number}")  # a different message every time

    res = optimize(varied, 5, direction="minimize", sampler="random", show_progress=False)
    assert len(res.trials) == 5
    assert res.stopped is None

    res = optimize(_flaky, 7, direction="minimize", sampler="random", show_progress=False)
    assert len(res.trials) == 7


CELL = """
import optuna, tracker

def objective(trial):
    x = trial.suggest_float("x", 0, 1)
    if trial.number in (1, 2):
        raise ZeroDivisionError("division by zero in my objective")
    return x

result = tracker.optimize(objective, n_trials=5, direction="minimize", sampler="random",
                          show_progress=False)
print("best", result.best_trial.number)
"""

CELL_ALL_FAIL = """
def broken(trial):
    trial.suggest_float("x", 0, 1)
    return 1 / 0

result = tracker.optimize(broken, n_trials=10, direction="minimize", show_progress=False)
print(result.outcome)
"""


@pytest.mark.kernel
def test_in_a_notebook_the_cell_shows_lines_not_tracebacks(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL), nbformat.v4.new_code_cell(CELL_ALL_FAIL)]
    env = kernel_env(
        TRACKER_STORE=f"sqlite:///{tmp_path / 'tracker.db'}",
        TRACKER_SPOOL_DIR=str(tmp_path / "spool"),
    )
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=env)
    first, second = (outputs_text(c) for c in nb.cells)
    assert "Traceback" not in first
    assert "Traceback" not in second
    failed = [ln for ln in first.splitlines() if "failed" in ln]
    assert len(failed) == 2
    assert all("ZeroDivisionError: division by zero in my objective" in ln for ln in failed)
    assert all("--json" in ln for ln in failed)
    assert "best 0" in first or "best 3" in first or "best 4" in first
    assert "stopped early" in second
    assert second.count("failed:") == SAME_FAILURES_TO_STOP
