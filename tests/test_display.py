"""What a person sees: short one-line reprs, search results as a table, HTML views.

That every HTML view is inert for hostile text is checked in a real browser by
``tests/test_security_xss.py``; here, what the views and reprs say.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tracker
from tracker.cards import build_card
from tracker.display import html_table, text_table
from tracker.run import RunList

LONG = "a name\nwith a line break and " + "x" * 300


@pytest.fixture
def logged(tmp_path: Path) -> list[str]:
    tracker.set_store(f"sqlite:///{tmp_path / 'display.db'}")
    ids = []
    for i in range(35):
        with tracker.start_run(name=f"svc-{i}", params={"C": 0.1 * (i + 1), "kernel": "rbf"}) as r:
            r.log_metrics({"accuracy": 0.5 + i / 100, "f1": 0.4})
        ids.append(r.id)
    with tracker.start_run(name=LONG, params={f"p{i}": "v" * 80 for i in range(50)}) as r:
        r.log_metrics({f"m{i}": float(i) for i in range(50)})
        r.log_data("train", pd.DataFrame({"a": np.arange(150.0), "b": ["x"] * 150}))
        r.log_data("blob", b"\x00" * 5000)
    ids.append(r.id)
    tracker.get_store().flush()
    return ids


def test_a_run_is_one_short_line(logged: list[str]) -> None:
    run = tracker.get_run(logged[3])
    text = repr(run)
    assert text == (
        f"<Run {run.id[:8]} 'svc-3' finished {run.duration_s:.2f}s "
        "| accuracy=0.53 f1=0.4 | C=0.4 kernel='rbf'>"
    )
    big = tracker.get_run(logged[-1])
    text = repr(big)
    assert "\n" not in text
    assert len(text) < 250  # a run with 50 params and 50 metrics, and a long name
    assert "(+47)" in text  # 3 metrics shown, the rest counted


def test_a_data_ref_is_one_line(logged: list[str]) -> None:
    data = tracker.get_run(logged[-1]).data
    train = data["train"]
    assert (
        repr(train)
        == f"<DataRef dataframe 150x2 xxh3-128:{train.short} {train.nbytes / 1000:.1f} KB>"
    )
    assert repr(data["blob"]) == f"<DataRef bytes xxh3-128:{data['blob'].short} 5.0 KB>"


def test_search_results_show_as_a_compact_table(logged: list[str]) -> None:
    runs = tracker.search_runs("metrics.f1 >= 0.4", order_by="metrics.accuracy desc")
    assert isinstance(runs, RunList)
    assert isinstance(runs, list)
    lines = repr(runs).splitlines()
    assert lines[0].split() == [
        "id",
        "name",
        "kind",
        "status",
        "started",
        "secs",
        "p.C",
        "p.kernel",
        "m.accuracy",
        "m.f1",
    ]
    body = lines[2:-1]
    assert len(body) == RunList.MAX_ROWS
    assert [ln.split()[1] for ln in body[:2]] == ["svc-34", "svc-33"]
    assert lines[-1] == "… 5 more; tracker.runs_frame(...) has every run"
    html = runs._repr_html_()
    assert html.count("<tr>") == RunList.MAX_ROWS + 1  # the header row, then the runs
    assert "tracker.runs_frame(...) has every run" in html
    # runs_frame stays the way to get everything
    assert len(tracker.runs_frame("metrics.f1 >= 0.4")) == 35
    assert repr(RunList()) == "no runs"


def test_html_views_say_what_the_record_holds(logged: list[str]) -> None:
    run = tracker.get_run(logged[-1])
    html = run._repr_html_()
    assert "m49" in html
    assert "p49" in html
    assert "train" in html
    assert "150x2" in html
    ref = run.data["train"]._repr_html_()
    assert "<td>a</td><td>float64</td>" in ref
    assert html_table([], ["x"]) == ""


def test_search_result_and_card_reprs_are_one_line(logged: list[str]) -> None:
    from tracker.tuning import SearchResult, TrialResult

    trial = TrialResult(
        number=3,
        run_id=logged[0],
        state="complete",
        params={f"p{i}": LONG for i in range(10)},
        values={"accuracy": 0.91234, "latency_p95_ms": 4.0},
        metrics={},
        constraints={},
        feasible=True,
        pareto=True,
        duration_s=1.0,
    )
    result = SearchResult(
        study=None,  # type: ignore[arg-type]  # repr never reads the study
        study_name=LONG,
        search_run_id=logged[0],
        objectives={"accuracy": "maximize", "latency_p95_ms": "minimize"},
        constraints=["latency_p95_ms <= 5"],
        sampler={"name": "TPESampler"},
        trials=[trial],
        pareto=[trial],
        chosen=trial,
        recheck={},
    )
    for text in (repr(trial), repr(result)):
        assert "\n" not in text
        assert len(text) < 250
    assert "chosen #3 accuracy=0.9123 latency_p95_ms=4" in repr(result)
    card = build_card(logged[-1], store=tracker.get_store(), persist=False)
    assert "\n" not in repr(card)
    assert repr(card).startswith("<ModelCard 'a name with a line break and xxx")


def test_text_table_aligns_and_cuts() -> None:
    table = text_table([["a", 1.0], ["bbbbbb", float("nan")]], ["name", "value"], max_width=5)
    assert table.splitlines() == ["name   value", "-----  -----", "a      1", "bbbb…  NaN"]
