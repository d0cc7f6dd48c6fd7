"""The live progress widget, updated by a real search in a real IPython kernel (nbclient)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

SEARCH = """
import tracker
from tracker.widgets import SearchProgressWidget
seen = []
class Spy(SearchProgressWidget):
    def __call__(self, p):
        seen.append(p.n_finished)
        super().__call__(p)
spy = Spy(interval=0.0)
def objective(trial):
    x = trial.suggest_float("x", 0, 1)
    return {"f1": x, "f2": 1 - x * x, "size": 10 * x}
res = tracker.optimize(objective, 6, objectives={"f1": "minimize", "f2": "minimize"},
                       constraints=["size <= 7"], sampler="random", seed=0, progress=spy)
"""

CHECK = """
import json
fig = spy.figure
print(json.dumps({
    "seen": seen,
    "redraws": spy.redraws,
    "bar": [spy.bar.value, spy.bar.max, spy.bar.bar_style],
    "status": spy.status.value,
    "table": spy.table.value,
    "figure_type": type(fig).__name__,
    "points": [len(t.x) for t in fig.data],
}))
"""

AUTO = """
import tracker, sys
res2 = tracker.optimize(objective, 3, objectives={"f1": "minimize"}, sampler="random")
print("widget-mode", "tracker.widgets._progress" in sys.modules)
"""


def _stdout(cell: Any) -> str:
    """Everything a cell printed to stdout, over all its output entries.

    Under load a cell's prints can arrive as several stream entries, with stderr entries
    (warnings) or displays between them; reading only one entry misses text.
    """
    return "".join(
        o.get("text", "")
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )


def _json_line(cell: Any) -> Any:
    """The JSON object a cell printed on a line of its own."""
    lines = [ln for ln in _stdout(cell).splitlines() if ln.startswith("{")]
    assert len(lines) == 1, _stdout(cell)
    return json.loads(lines[0])


def test_widget_updates_as_trials_finish_in_a_real_kernel(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (SEARCH, CHECK, AUTO)]
    NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    # the search cell displayed a widget view (not a text repr)
    views = [
        o
        for o in nb.cells[0].outputs
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert views
    state = _json_line(nb.cells[1])
    assert state["seen"] == [1, 2, 3, 4, 5, 6, 6]
    assert state["redraws"] == 7
    assert state["bar"] == [6, 6, "success"]
    assert "6 trials" in state["status"]
    assert "done" in state["status"]
    assert "Pareto front" in state["table"]
    assert state["figure_type"] == "FigureWidget"
    infeasible, feasible, front = state["points"]
    assert infeasible + feasible == 6
    assert 0 < front <= feasible
    assert "widget-mode True" in _stdout(nb.cells[2])


def test_widget_throttles_redraws() -> None:
    from tracker.tuning import SearchProgress
    from tracker.widgets import SearchProgressWidget

    w = SearchProgressWidget(interval=3600, display_now=False)
    base = dict(
        study_name="s",
        search_run_id="r",
        objectives={"f": "minimize"},
        constraints=[],
        n_complete=0,
        n_feasible=0,
        n_failed=0,
        target=100,
        elapsed_s=0.0,
        timeout_s=None,
        last=None,
        front=[],
    )
    for i in range(50):
        w(SearchProgress(n_finished=i + 1, **base))  # type: ignore[arg-type]
    assert w.redraws == 1
    w(SearchProgress(n_finished=50, done=True, **base))  # type: ignore[arg-type]
    assert w.redraws == 2
    assert w.bar.value == 50


def test_widget_says_plainly_when_no_configuration_met_the_budget_on_test() -> None:
    import tracker
    from tracker.widgets import SearchProgressWidget

    def objective(trial: Any) -> dict[str, float]:
        x = trial.suggest_float("x", 0, 1)
        return {"f1": x, "f2": 1 - x * x, "size": 10 * x}

    def test(params: dict[str, Any]) -> dict[str, float]:
        return {"size": 100.0 + params["x"]}  # the budget breaks on held-out data

    w = SearchProgressWidget(interval=3600, display_now=False)
    res = tracker.optimize(
        objective,
        8,
        objectives={"f1": "minimize", "f2": "minimize"},
        constraints=["size <= 7"],
        sampler="random",
        seed=0,
        test=test,
        progress=w,
    )
    assert res.chosen is None
    assert res.closest is not None
    assert "no configuration met the budget on held-out data" in w.status.value
    assert f"trial #{res.closest.number}" in w.status.value
    assert w.bar.bar_style == "warning"
    assert f"{res.closest.number} closest (does not meet the budget)" in w.table.value
    assert "breaks it" in w.table.value
    assert "chosen" not in w.table.value


def test_widget_stars_the_chosen_trial_when_one_met_the_budget_on_test() -> None:
    import tracker
    from tracker.widgets import SearchProgressWidget

    def objective(trial: Any) -> dict[str, float]:
        x = trial.suggest_float("x", 0, 1)
        return {"f1": x, "f2": 1 - x * x, "size": 10 * x}

    w = SearchProgressWidget(interval=3600, display_now=False)
    res = tracker.optimize(
        objective,
        8,
        objectives={"f1": "minimize", "f2": "minimize"},
        constraints=["size <= 7"],
        sampler="random",
        seed=0,
        test=lambda params: {"size": 1.0},
        progress=w,
    )
    assert res.chosen is not None
    assert w.bar.bar_style == "success"
    assert f"chosen: trial #{res.chosen.number}" in w.status.value
    assert f"{res.chosen.number} ★ chosen" in w.table.value
    assert "no configuration met" not in w.status.value
