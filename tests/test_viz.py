"""Search figures are built from tracker records alone (no Optuna needed to draw them)."""

from __future__ import annotations

from typing import Any

import pytest

import tracker
from tracker.store import open_store
from tracker.tuning import optimize
from tracker.viz import history_figure, hypervolume_figure, load_search, pareto_figure


def _objective(trial: Any) -> dict[str, float]:
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_float("y", 0.0, 1.0)
    return {"f1": x, "f2": (1 - x) ** 2 + y, "size": 10 * y}


@pytest.fixture
def search_id() -> str:
    res = optimize(
        _objective,
        15,
        objectives={"f1": "minimize", "f2": "minimize"},
        constraints=["size <= 5"],
        sampler="random",
        seed=0,
        show_progress=False,
        test=lambda t: {"f2": 0.3, "size": 20 * t.params["y"]},
    )
    return res.search_run_id


def test_pareto_figure_greys_infeasible_and_marks_test_points(search_id: str) -> None:
    # A direct store: what the server and cards use (no queued writer, no Optuna).
    tracker.get_store().flush(30)  # the kernel's queued writes land, as a server would see them
    store = open_store(tracker.get_store().url, queued=False)
    fig = pareto_figure(search_id, store=store)
    by_name = {t.name.split(" (")[0]: t for t in fig.data if t.name}
    view = load_search(search_id, store)
    infeasible = [t for t in view.trials if not t.attrs["trial"]["feasible"]]
    assert len(by_name["infeasible"].x) == len(infeasible) > 0
    assert by_name["infeasible"].marker.color.startswith("rgba(160,160,160")
    assert len(by_name["Pareto front"].x) == len(view.pareto)
    test_trace = by_name["test re-check"]
    assert len(test_trace.x) == len(view.recheck)
    assert all(v == 0.3 for v in test_trace.y)
    assert fig.layout.meta["search_run_id"] == search_id


def test_history_and_hypervolume_figures(search_id: str) -> None:
    fig = history_figure(search_id)
    names = [t.name for t in fig.data]
    assert any(n.startswith("infeasible") for n in names)
    best = next(t for t in fig.data if t.name == "best feasible so far")
    assert list(best.y) == sorted(best.y, reverse=True)  # minimising: never goes up
    hv = hypervolume_figure(search_id)
    assert list(hv.data[0].x) == list(range(1, 16))


def test_user_text_is_escaped_in_figures() -> None:
    res = optimize(
        lambda t: {"<b>m</b>": t.suggest_float("x", 0, 1), "g": 1.0},
        3,
        objectives={"<b>m</b>": "minimize"},
        constraints=["g <= 2"],
        study_name="<script>x</script>",
        show_progress=False,
    )
    fig = pareto_figure(res.search_run_id)
    assert "<script>" not in fig.layout.title.text
    assert "&lt;script&gt;" in fig.layout.title.text


def test_load_search_refuses_other_runs() -> None:
    with tracker.start_run() as run:
        pass
    with pytest.raises(ValueError, match="not a search"):
        load_search(run.id)


def test_card_plots_live_in_cards_and_import_no_plotly() -> None:
    # The card SVG moved out of tracker.viz (the plotly package): building and drawing a
    # card must not load plotly, so the server and a plain kernel pay nothing for it.
    import subprocess
    import sys

    code = (
        "import sys, tracker.cards, tracker.cards._svg as s\n"
        "svg = s.line_svg([0.0, 1.0], [1.0, 2.0], x_label='x', y_label='y', title='t')\n"
        "assert svg.startswith('<svg') and svg.endswith('</svg>')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'plotly'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
    import importlib.util

    assert importlib.util.find_spec("tracker.viz.cards") is None
