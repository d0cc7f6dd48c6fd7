"""The card of a search whose configurations all broke the budget on held-out data.

A hard constraint is hard: a configuration that broke one on the test re-check is never
presented as the chosen model. Its card says, in every format, that no configuration met
the budget on held-out data, documents the search instead of a model, and shows the
closest configuration as such.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

import tracker
from tests import cards_fixture as fx
from tracker.cards import ModelCard, build_card
from tracker.store import BaseStore, open_store
from tracker.store.ops import SetAttrs
from tracker.tuning import optimize

NO_CONFIG = "No configuration met the budget on held-out data."


def _objective(trial: Any) -> dict[str, float]:
    x = trial.suggest_float("x", 0.0, 1.0)
    return {"acc": 0.5 + 0.4 * x, "lat": 1.0 + 4.0 * x}  # always within the budget


def _on_test(t: Any) -> dict[str, float]:
    # Held-out data is slower for every configuration: "lat <= 5" breaks for all of them.
    return {"acc": 0.45 + 0.4 * t.params["x"], "lat": 6.0 + 10.0 * t.params["x"]}


def _formats(card: ModelCard) -> tuple[str, str, dict[str, Any]]:
    return card.to_markdown(), card.to_html(), json.loads(card.to_json())


def _assert_says_no_configuration(card: ModelCard, search_id: str, closest: str) -> None:
    md, html, doc = _formats(card)
    s = doc["search"]
    # JSON: nothing chosen, the closest named, the card documents the search.
    assert s["chosen"] is None
    assert s["chosen_run_id"] is None
    assert s["closest_run_id"] == closest
    assert s["closest"]["run_id"] == closest
    assert s["closest"]["feasible_on_test"] is False
    assert doc["subject"]["model_run_id"] == search_id
    (cav,) = [c for c in doc["caveats"] if c["code"] == "infeasible_on_test"]
    assert "No configuration met every constraint on held-out test data" in cav["text"]
    assert "None is chosen" in cav["text"]
    assert not {"selected_on_validation", "no_test_recheck"} & {c["code"] for c in doc["caveats"]}
    number = s["closest"]["number"]
    # Markdown and HTML: said plainly at the top, the closest shown as such, no star.
    for text in (md, html):
        assert NO_CONFIG in text
        assert f"Closest point: trial {number} (not chosen)" in text
        assert "Chosen point" not in text
        assert "the chosen point" not in text
        assert "the closest point: none met every constraint on held-out test data" in text
    assert md.index(NO_CONFIG) < md.index("## Model details")
    assert html.index(NO_CONFIG) < html.index('id="model-details"')
    assert 'title="chosen"' not in html
    assert 'title="closest, not chosen"' in html
    meta = yaml.safe_load(md.split("\n---\n", 1)[0].removeprefix("---\n"))
    assert "model-index" not in meta  # no model's metrics published as results


def test_real_search_that_breaks_the_budget_on_test_chooses_nothing() -> None:
    result = optimize(
        _objective,
        8,
        objectives={"acc": "maximize", "lat": "minimize"},
        constraints=["lat <= 5"],
        sampler="random",
        seed=0,
        show_progress=False,
        test=_on_test,
    )
    assert result.pareto
    assert all(t.feasible_on_test is False for t in result.pareto)
    tracker.get_store().flush(30)  # the kernel's queued writes land, as a server would see them
    store = open_store(tracker.get_store().url, queued=False)  # the real SQLite file
    try:
        recheck = store.get_run(result.search_run_id).attrs["recheck"]
        # The closest: the smallest violation on test (here: the fastest configuration).
        closest = min(
            result.pareto,
            key=lambda t: sum(max(0.0, float(v)) for v in recheck[t.run_id]["violations"].values()),
        ).run_id
        card = build_card(result.search_run_id, store=store, persist=False)
        _assert_says_no_configuration(card, result.search_run_id, closest)
        # Reloaded from its JSON, the card says the same without the store.
        again = ModelCard.from_dict(card.to_dict())
        assert again.to_markdown() == card.to_markdown()
    finally:
        store.close()


@pytest.fixture
def store(sqlite_url: str) -> Iterator[BaseStore]:
    st = open_store(sqlite_url, queued=False)
    yield st
    st.close()


def _all_broken_on_test(ids: fx.FixtureIds, store: BaseStore, attrs: dict[str, Any]) -> None:
    run = store.get_run(ids.search)
    recheck = {
        tid: {**e, "feasible_on_test": False, "violations": {"latency_p95_ms <= 100": 1.0 + i}}
        for i, (tid, e) in enumerate(run.attrs["recheck"].items())
    }
    store.write([SetAttrs(run_id=ids.search, attrs={"recheck": recheck, **attrs})])


def test_the_closest_the_search_names_is_shown_as_such(store: BaseStore) -> None:
    # What the optimizer records when nothing held on test: no "chosen", a "closest".
    ids = fx.write_search(store, 12)
    closest = ids.pareto[-1]
    _all_broken_on_test(ids, store, {"chosen": None, "closest": closest})
    card = build_card(ids.search, store=store, persist=False)
    _assert_says_no_configuration(card, ids.search, closest)


def test_an_older_chosen_that_broke_the_budget_on_test_is_not_a_model(store: BaseStore) -> None:
    # Records from an optimizer that fell back to an infeasible trial: the card does not
    # present it as chosen; the closest is the smallest violation on test.
    ids = fx.write_search(store, 12)
    _all_broken_on_test(ids, store, {})
    assert store.get_run(ids.search).attrs["chosen"] == ids.chosen
    card = build_card(ids.search, store=store, persist=False)
    first = next(iter(store.get_run(ids.search).attrs["recheck"]))  # violation 1.0
    _assert_says_no_configuration(card, ids.search, first)


def test_a_chosen_that_held_on_test_stays_chosen(store: BaseStore) -> None:
    ids = fx.write_search(store, 12)
    doc = build_card(ids.search, store=store, persist=False).to_dict()
    assert doc["search"]["chosen_run_id"] == ids.chosen
    assert doc["search"]["closest"] is None
    assert doc["subject"]["model_run_id"] == ids.chosen
