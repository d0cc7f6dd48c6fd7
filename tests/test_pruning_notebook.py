"""notebooks/pruning.ipynb end to end, executed headless in a real kernel.

The notebook prunes a constrained two-objective search of an MLP on a learning curve with
``tracker.report``. It runs once here with nbclient against this module's own SQLite store;
the tests read back what it recorded: pruned trials with their reason and curves, a front
of complete feasible trials only, and no traceback in any cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import tracker
from tracker.records import Run

from .capture_harness import errors, kernel_env, outputs_text

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "pruning.ipynb"


@dataclass
class Executed:
    """The notebook after its run, and the store it wrote to."""

    nb: nbformat.NotebookNode
    store: str

    def trials(self) -> list[Run]:
        tracker.set_store(self.store)
        (search,) = tracker.search_runs(kind="search")
        runs = tracker.search_runs(parent=search.id)
        return sorted(runs, key=lambda r: int(r.tags["optuna.trial_number"]))


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Executed:
    work = tmp_path_factory.mktemp("pruning")
    store = f"sqlite:///{work / 'tracker.db'}"
    env = kernel_env(TRACKER_STORE=store, TRACKER_SPOOL_DIR=str(work / "spool"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(work)}},
    )
    client.execute(env=env)
    return Executed(nb, store)


def test_every_cell_runs_without_errors_or_tracebacks(executed: Executed) -> None:
    for cell in executed.nb.cells:
        if cell.cell_type != "code":
            continue
        assert not errors(cell), outputs_text(cell)
        assert "Traceback" not in outputs_text(cell)


def test_pruned_trials_keep_their_reason_and_curve_and_stay_off_the_front(
    executed: Executed,
) -> None:
    trials = executed.trials()
    assert len(trials) == 30
    pruned = [r for r in trials if r.attrs["trial"]["state"] == "pruned"]
    assert pruned, "the search pruned nothing"
    for r in pruned:
        full = tracker.get_run(r.id)
        reason = full.attrs["pruning"]["reason"]
        assert any(
            why in reason for why in ("size_kb <= 40", "dominated at step", "to the hypervolume")
        ), reason
        steps = [m.step for m in tracker.metric_history(r.id, "accuracy") if m.step is not None]
        assert steps == list(range(full.attrs["pruning"]["step"] + 1))
        assert not full.attrs["trial"]["pareto"]
    front = [r for r in trials if r.attrs["trial"]["pareto"]]
    assert front
    assert all(r.attrs["trial"]["state"] == "complete" for r in front)
    assert all(r.metrics["size_kb"] <= 40 for r in front)
