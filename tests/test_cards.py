"""Model cards: golden files, values against the records, human sections, safety, caveats."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import cards_fixture as fx
from tracker import __version__
from tracker.cards import (
    SECTION_KEYS,
    ModelCard,
    build_card,
    load_card,
    sections_from_file,
    update_sections,
)
from tracker.exceptions import RunNotFoundError, ValidationError
from tracker.records import float_from_json
from tracker.store import BaseStore, open_store
from tracker.store.ops import CreateRun, EndRun, LogMetrics, MetricRow, SetRunFields

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDENS") == "1"


@pytest.fixture
def store(sqlite_url: str) -> Iterator[BaseStore]:
    st = open_store(sqlite_url, queued=False)
    yield st
    st.close()


def _normalise(text: str) -> str:
    return text.replace(__version__, "<version>")


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    text = _normalise(text)
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDENS=1 once"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from its golden file (UPDATE_GOLDENS=1 to accept)"


# --- golden files ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
def test_search_card_matches_golden_file(store: BaseStore, fmt: str) -> None:
    ids = fx.write_search(store, 12, slices=fx.SLICES)
    card = build_card(ids.search, store=store, intended_use="Recognise handwritten digits.")
    _golden(f"search_card.{fmt}", card.render(fmt))


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
def test_run_card_matches_golden_file(store: BaseStore, fmt: str) -> None:
    store.write(fx.plain_run_ops(notes="Baseline before tuning."))
    card = build_card(fx.PLAIN_ID, store=store)
    _golden(f"run_card.{fmt}", card.render(fmt))


def test_building_twice_gives_identical_output(store: BaseStore) -> None:
    ids = fx.write_search(store, 12, slices=fx.SLICES)
    a, b = build_card(ids.search, store=store), build_card(ids.search, store=store)
    assert a.to_html() == b.to_html()
    assert a.to_markdown() == b.to_markdown()
    assert a.to_json() == b.to_json()


# --- values equal the stored records ----------------------------------------------------------


def _measured(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if {"value", "run_id", "path"} <= set(node):
            yield node
        for v in node.values():
            yield from _measured(v)
    elif isinstance(node, list):
        for v in node:
            yield from _measured(v)


def _resolve(store: BaseStore, run_id: str, path: list[Any], step: Any) -> Any:
    if path[0] == "metric_history":
        history = store.metric_history(run_id, path[1])
        (m,) = [m for m in history if m.step == step]
        return m.value
    node: Any = store.get_run(run_id).to_dict()
    for key in path:
        node = node[key]
    return node


def _same(a: Any, b: Any) -> bool:
    if isinstance(b, bool) or isinstance(a, bool) or a is None or b is None:
        return a == b
    if isinstance(b, int | float | str) and isinstance(a, int | float | str):
        try:
            fa, fb = float_from_json(a), float_from_json(b)
        except ValueError:
            return a == b
        return fa == fb or (fa != fa and fb != fb)
    return bool(a == b)


def test_every_measured_value_equals_its_record(store_url: str) -> None:
    store = open_store(store_url, queued=False)
    try:
        ids = fx.write_search(store, 12, slices=fx.SLICES)
        doc = json.loads(build_card(ids.search, store=store).to_json())
        found = list(_measured(doc))
        assert len(found) > 60  # metrics, params, pareto, slices, latency, hypervolume...
        for m in found:
            stored = _resolve(store, m["run_id"], m["path"], m.get("step"))
            assert _same(m["value"], stored), (m, stored)
        # The figures a reader looks at first, against the records directly.
        chosen = store.get_run(ids.chosen)
        rows = {(r["name"], r["split"]): r for r in doc["metrics"]}
        assert rows[("accuracy", "validation")]["value"] == chosen.metrics["accuracy"]
        assert rows[("accuracy", "test")]["value"] == chosen.attrs["test"]["accuracy"]
        assert doc["search"]["counts"]["trials"] == 12
        assert [p["run_id"] for p in doc["search"]["pareto"]] == sorted(
            ids.pareto, key=lambda t: ids.trials.index(t)
        )
        assert doc["search"]["chosen"]["run_id"] == ids.chosen
        history = store.metric_history(ids.search, "hypervolume")
        assert [h["value"] for h in doc["search"]["hypervolume"]] == [m.value for m in history]
        digests = {d["digest"] for d in doc["training_data"]}
        assert fx.D_XTR in digests
        assert fx.D_YTR in digests
    finally:
        store.close()


def test_lineage_lists_the_cells_that_produced_the_model(store: BaseStore) -> None:
    ids = fx.write_search(store, 6)
    lin = build_card(ids.search, store=store).to_dict()["lineage"]
    # Cell 2 (a plot) did not feed the search; cells 0 -> 1 -> 3 did.
    assert [c["seq"] for c in lin["cells"]] == [0, 1, 3]
    assert lin["session_run_id"] == ids.session
    assert [r["kind"] for r in lin["chain"]] == ["trial", "search", "session"]
    assert lin["git"]["commit"] == fx.ENV["git_commit"]
    origin = lin["data_origin"][fx.D_XTR]["produced_by"]
    assert [(o["name"], o["seq"]) for o in origin] == [("X_train", 1)]


def test_trial_card_has_its_search_context(store: BaseStore) -> None:
    ids = fx.write_search(store, 6)
    other = next(t for t in ids.pareto if t != ids.chosen)
    doc = build_card(other, store=store).to_dict()
    assert doc["subject"]["kind"] == "trial"
    assert doc["search"]["chosen_run_id"] == other
    assert doc["model_details"]["model_run_id"] == other


def test_run_id_prefix_and_missing_runs(store: BaseStore) -> None:
    store.write(fx.plain_run_ops())
    assert build_card(fx.PLAIN_ID[:8], store=store).run_id == fx.PLAIN_ID
    with pytest.raises(RunNotFoundError):
        build_card("feedfacefeed", store=store)
    with pytest.raises(ValidationError, match="expected a run"):
        build_card(3.5, store=store)


# --- human sections ----------------------------------------------------------------------------


def test_empty_sections_need_input_and_are_never_invented(store: BaseStore) -> None:
    store.write(fx.plain_run_ops())
    card = build_card(fx.PLAIN_ID, store=store)
    assert card.needs_input == list(SECTION_KEYS)
    assert all(v == "" for v in card.sections.values())
    md = card.to_markdown()
    assert md.count("*Needs input:") == len(SECTION_KEYS)
    assert card.to_html().count('class="needs-input"') == len(SECTION_KEYS)


def test_arguments_are_stored_and_kept_on_regeneration(store: BaseStore) -> None:
    store.write(fx.plain_run_ops())
    build_card(fx.PLAIN_ID, store=store, intended_use="Sorting mail.", owners="ML team")
    again = build_card(fx.PLAIN_ID, store=store)
    assert again.sections["intended_use"] == "Sorting mail."
    assert again.sections["owners"] == "ML team"
    assert store.get_run(fx.PLAIN_ID).attrs["card"]["sections"]["owners"] == "ML team"


@pytest.mark.parametrize("ext", [".md", ".json"])
def test_edits_to_a_saved_card_survive_regeneration(
    store: BaseStore, tmp_path: Path, ext: str
) -> None:
    store.write(fx.plain_run_ops())
    path = build_card(fx.PLAIN_ID, store=store, owners="Ana").save(tmp_path / f"card{ext}")
    text = "Not for medical use.\n\n- never on *children*\n- a < b & c > d"
    if ext == ".md":
        content = path.read_text()
        block = re.compile(
            r"(<!-- tracker:section out_of_scope_uses -->\n).*?"
            r"(\n<!-- tracker:end out_of_scope_uses -->)",
            re.S,
        )
        from tracker.cards._escape import md_human

        path.write_text(block.sub(lambda m: m.group(1) + md_human(text) + m.group(2), content))
    else:
        doc = json.loads(path.read_text())
        doc["sections"]["out_of_scope_uses"]["text"] = text
        path.write_text(json.dumps(doc))
    assert sections_from_file(path)["out_of_scope_uses"] == text
    # Saving a fresh card over the edited one would lose the text: refused.
    with pytest.raises(ValidationError, match="out_of_scope_uses"):
        build_card(fx.PLAIN_ID, store=store).save(path)
    card = build_card(fx.PLAIN_ID, store=store, from_file=path)
    assert card.sections["out_of_scope_uses"] == text
    assert card.sections["owners"] == "Ana"
    card.save(path)  # now it holds the text, so it may replace the file
    assert sections_from_file(path)["out_of_scope_uses"] == text
    # Stored too: the next card has it without the file.
    assert build_card(fx.PLAIN_ID, store=store).sections["out_of_scope_uses"] == text


def test_a_card_file_of_another_run_is_refused(store: BaseStore, tmp_path: Path) -> None:
    ids = fx.write_search(store, 4)
    store.write(fx.plain_run_ops())
    path = build_card(ids.search, store=store).save(tmp_path / "card.md")
    with pytest.raises(ValidationError, match="is the card of run"):
        build_card(fx.PLAIN_ID, store=store, from_file=path)


def test_update_sections_merges_clears_and_validates(store: BaseStore) -> None:
    store.write(fx.plain_run_ops())
    out = update_sections(fx.PLAIN_ID, {"owners": "Ana", "license": "mit"}, store=store)
    assert set(out) == set(SECTION_KEYS)
    assert out["owners"] == "Ana"
    out = update_sections(fx.PLAIN_ID, {"owners": "", "factors": "Age"}, store=store)
    assert out["owners"] == ""
    assert out["license"] == "mit"
    assert out["factors"] == "Age"
    card = build_card(fx.PLAIN_ID, store=store)
    assert card.sections["license"] == "mit"
    assert "owners" in card.needs_input
    meta = yaml.safe_load(card.to_markdown().split("---")[1])
    assert meta["license"] == "mit"
    with pytest.raises(ValidationError, match="unknown model card section 'purpose'"):
        update_sections(fx.PLAIN_ID, {"purpose": "x"}, store=store)
    with pytest.raises(ValidationError, match="must be text"):
        update_sections(fx.PLAIN_ID, {"owners": 3}, store=store)  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match="unknown model card section"):
        build_card(fx.PLAIN_ID, store=store, purpose="x")


# --- formats --------------------------------------------------------------------------------


def test_markdown_front_matter_is_hugging_face_metadata(store: BaseStore) -> None:
    ids = fx.write_search(store, 12)
    md = build_card(ids.search, store=store).to_markdown()
    assert md.startswith("---\n")
    meta = yaml.safe_load(md.split("\n---\n", 1)[0].removeprefix("---\n"))
    assert meta["library_name"] == "sklearn"
    assert "tabular-classification" in meta["tags"]
    (entry,) = meta["model-index"]
    assert entry["name"] == "digits-svc-search"
    by_split = {r["dataset"]["split"]: r for r in entry["results"]}
    chosen = store.get_run(ids.chosen)
    test_acc = next(m for m in by_split["test"]["metrics"] if m["type"] == "accuracy")
    assert test_acc["value"] == chosen.attrs["test"]["accuracy"]
    assert by_split["test"]["dataset"]["revision"] == f"xxh3-128:{fx.D_XTE}"
    for r in entry["results"]:
        assert r["task"]["type"]
        assert r["dataset"]["name"]
        assert r["dataset"]["type"]


def test_json_card_reloads_and_renders_without_the_store(store: BaseStore, tmp_path: Path) -> None:
    ids = fx.write_search(store, 6)
    card = build_card(ids.search, store=store, owners="Ana")
    path = card.save(tmp_path / "card.json")
    again = load_card(path)
    assert again.to_html() == card.to_html()
    assert isinstance(again, ModelCard)
    assert again.sections["owners"] == "Ana"


def test_html_is_self_contained(store: BaseStore) -> None:
    ids = fx.write_search(store, 12, slices=fx.SLICES)
    html = build_card(ids.search, store=store).to_html()
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "url(" not in html
    assert "@import" not in html
    assert "Content-Security-Policy" in html
    assert html.count("<svg") >= 4  # Pareto front, hypervolume, slices, latency


# --- save ----------------------------------------------------------------------------------------


def test_save_writes_exactly_the_requested_file(store: BaseStore, tmp_path: Path) -> None:
    store.write(fx.plain_run_ops())
    card = build_card(fx.PLAIN_ID, store=store)
    out = tmp_path / "out"
    out.mkdir()
    for ext in (".md", ".html", ".json"):
        written = card.save(out / f"card{ext}")
        assert written == out / f"card{ext}"
    assert sorted(p.name for p in out.iterdir()) == ["card.html", "card.json", "card.md"]
    assert (out / "card.html").read_text().startswith("<!DOCTYPE html>")
    json.loads((out / "card.json").read_text())


def test_save_refuses_unsafe_targets(store: BaseStore, tmp_path: Path) -> None:
    store.write(fx.plain_run_ops())
    card = build_card(fx.PLAIN_ID, store=store)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "card.html"
    link.symlink_to(victim)
    with pytest.raises(ValidationError, match="symbolic link"):
        card.save(link)
    assert victim.read_text() == "precious"
    with pytest.raises(ValidationError, match="outside"):
        card.save(tmp_path / "a" / ".." / ".." / "escape.html", within=tmp_path / "a")
    (tmp_path / "a").mkdir()
    with pytest.raises(ValidationError, match="outside"):
        card.save(tmp_path / "a" / ".." / "escape.html", within=tmp_path / "a")
    assert card.save(tmp_path / "a" / "ok.html", within=tmp_path / "a").exists()
    with pytest.raises(ValidationError, match="does not exist"):
        card.save(tmp_path / "missing" / "card.md")
    with pytest.raises(ValidationError, match="format"):
        card.save(tmp_path / "card.txt")
    (tmp_path / "dir.md").mkdir()
    with pytest.raises(ValidationError, match="directory"):
        card.save(tmp_path / "dir.md")
    notes = tmp_path / "notes.md"
    notes.write_text("# my notes\n")
    with pytest.raises(ValidationError, match="not a tracker model card"):
        card.save(notes)
    assert notes.read_text() == "# my notes\n"
    card.save(notes, overwrite=True)
    assert "tracker:card" in notes.read_text()
    leftovers = [p.name for p in tmp_path.rglob("*.tmp")]
    assert leftovers == []


# --- caveats --------------------------------------------------------------------------------


def _codes(card: ModelCard) -> set[str]:
    return {c["code"] for c in card.caveats}


def test_search_caveats(store: BaseStore) -> None:
    ids = fx.write_search(store, 12, slices=fx.SLICES)
    codes = _codes(build_card(ids.search, store=store))
    assert {"thin_margin", "selected_on_validation", "small_slice", "worse_slice"} <= codes
    assert "no_test_recheck" not in codes


def test_no_recheck_and_infeasible_on_test_caveats(store: BaseStore) -> None:
    ops, ids = fx.search_ops(12)
    from tracker.store.ops import SetAttrs

    store.write(ops)
    store.write([SetAttrs(run_id=ids.chosen, attrs={"test": None})])
    store.write([SetAttrs(run_id=ids.search, attrs={"recheck": {}})])
    codes = _codes(build_card(ids.search, store=store))
    assert {"selected_on_validation", "no_test_recheck"} <= codes
    recheck = {
        ids.chosen: {
            "test": {"accuracy": 0.9},
            "feasible_on_test": False,
            "violations": {"latency_p95_ms <= 100": 3.0},
        }
    }
    store.write([SetAttrs(run_id=ids.search, attrs={"recheck": recheck})])
    card = build_card(ids.search, store=store)
    assert "infeasible_on_test" in _codes(card)
    assert "no_test_recheck" not in _codes(card)


def test_run_caveats_partial_hash_dirty_git_unfinished_nondeterministic(store: BaseStore) -> None:
    ops = fx.plain_run_ops(partial=True)
    env = dict(fx.ENV, git_dirty=True)
    ops = [o for o in ops if not isinstance(o, EndRun)]
    ops.append(
        SetRunFields(
            run_id=fx.PLAIN_ID,
            fields={"environment": env, "fingerprint": "fp", "outcome_hash": "o1"},
        )
    )
    ops.append(EndRun(run_id=fx.PLAIN_ID, status="failed", end_time=fx.T0 + 9))
    twin = "7717" + "0" * 28
    ops += [
        CreateRun(run_id=twin, name="twin", kind="run", start_time=fx.T0 + 20),
        LogMetrics(run_id=twin, metrics=(MetricRow("m" * 32, "test_accuracy", 0.5, None, fx.T0),)),
        SetRunFields(run_id=twin, fields={"fingerprint": "fp", "outcome_hash": "o2"}),
    ]
    store.write(ops)
    card = build_card(fx.PLAIN_ID, store=store)
    assert {"partial_hash", "uncommitted_code", "run_not_finished", "nondeterministic"} <= _codes(
        card
    )
    partial = next(c for c in card.caveats if c["code"] == "partial_hash")
    assert "sampled 1 MiB of 4 GiB" in partial["text"]


def test_no_data_caveat(store: BaseStore) -> None:
    store.write(
        [
            CreateRun(run_id=fx.PLAIN_ID, name="bare", kind="run", start_time=fx.T0),
            EndRun(run_id=fx.PLAIN_ID, status="finished", end_time=fx.T0 + 1),
        ]
    )
    assert "no_data" in _codes(build_card(fx.PLAIN_ID, store=store))
