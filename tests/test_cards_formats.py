"""The Markdown, HTML and JSON cards say the same thing.

All three serialize one typed document (tracker.cards._model): the layout decides what a
card says, the renderers only how. These tests hold them to it, so a field cannot be
added to one format only:

* every text of the document (titles, cells, values, run ids, flags, caveats, human
  sections) is visible in the HTML card and in the Markdown card as a Markdown renderer
  shows it (figures aside: plots are HTML only, and each illustrates values its section's
  tables hold);
* every measured value the document shows is the JSON card's value, with the same run and
  path, and every measured value of the JSON card is shown (the exceptions are listed,
  each with its reason);
* each renderer handles every block and inline type.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from tests import cards_fixture as fx
from tests.test_cards_search import _all_broken_on_test
from tests.test_cards_xss import PAYLOADS, _payload_ops
from tracker.cards import ModelCard, build_card
from tracker.cards._format import num, plain
from tracker.cards._html import render_html_fragment
from tracker.cards._markdown import render_markdown
from tracker.cards._model import (
    BLOCK_TYPES,
    INLINE_TYPES,
    Block,
    CardDocument,
    CaveatItem,
    CaveatList,
    Code,
    CodeBlock,
    Details,
    Emphasis,
    Figure,
    Flag,
    Heading,
    HumanSection,
    Inline,
    LineBreak,
    Link,
    ListBlock,
    Muted,
    Origin,
    Paragraph,
    RunRef,
    Section,
    Strong,
    Table,
    Text,
    Value,
)
from tracker.cards._svg import LinePlot
from tracker.store import BaseStore, open_store
from tracker.store.ops import SetRunFields

# Human sections in the Markdown subset the HTML card shows (a full CommonMark renderer
# reads more, e.g. reference definitions; the cards keep to what both read the same).
HUMAN = {
    "description": "Predicts the **digit** in an 8 by 8 image.\nTwo lines, one paragraph.",
    "owners": "- Ana <ana@example.org>\n- the *vision* team",
    "intended_use": "1. Sorting mail\n2. Teaching",
    "license": "mit",
    "citation": "See [the paper](https://example.org/paper) and `doi:10/xyz`.",
    "ethical_considerations": "## Risks\n\nMisread digits route mail wrongly.",
    "caveats_and_recommendations": "```\nnot for cheques\n```\nhttps://example.org/limits",
}


@pytest.fixture
def store(sqlite_url: str) -> Iterator[BaseStore]:
    st = open_store(sqlite_url, queued=False)
    yield st
    st.close()


def _search_card(store: BaseStore) -> ModelCard:
    ids = fx.write_search(store, 12, slices=fx.SLICES)
    return build_card(ids.search, store=store, include_source=True, persist=False, **HUMAN)


def _trial_card(store: BaseStore) -> ModelCard:
    ids = fx.write_search(store, 6)
    other = next(t for t in ids.pareto if t != ids.chosen)
    return build_card(other, store=store, persist=False)


def _closest_card(store: BaseStore) -> ModelCard:
    ids = fx.write_search(store, 12)
    _all_broken_on_test(ids, store, {"chosen": None, "closest": ids.pareto[0]})
    return build_card(ids.search, store=store, persist=False)


def _run_card(store: BaseStore) -> ModelCard:
    ops = fx.plain_run_ops(notes="Baseline.\n\n- tuned by hand", partial=True, slice_doc=fx.SLICES)
    store.write(ops)
    env = dict(fx.ENV, git_dirty=True)
    store.write([SetRunFields(run_id=fx.PLAIN_ID, fields={"environment": env})])
    return build_card(fx.PLAIN_ID, store=store, persist=False, **HUMAN)


def _hostile_card(store: BaseStore) -> ModelCard:
    # Every record field holds markup and Markdown syntax; each must still read the same.
    store.write(_payload_ops(" ".join(PAYLOADS[:8]), 0))
    return build_card(fx.PLAIN_ID, store=store, persist=False)


def _empty_card(store: BaseStore) -> ModelCard:
    from tracker.store.ops import CreateRun, EndRun

    store.write(
        [
            CreateRun(run_id=fx.PLAIN_ID, name="bare", kind="run", start_time=fx.T0),
            EndRun(run_id=fx.PLAIN_ID, status="finished", end_time=fx.T0 + 1),
        ]
    )
    return build_card(fx.PLAIN_ID, store=store, persist=False)


CARDS = {
    "search": _search_card,
    "trial": _trial_card,
    "closest": _closest_card,
    "run": _run_card,
    "hostile": _hostile_card,
    "empty": _empty_card,
}


# --- what a reader sees ----------------------------------------------------------------------


class _Visible(HTMLParser):
    """Text nodes a browser shows (no style, no head, no plots)."""

    _HIDDEN = frozenset({"style", "head", "svg", "script"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.nodes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.depth:
            self.nodes.append(_norm(data))


def _norm(text: str) -> str:
    return " ".join(text.split())


def _visible(html: str) -> str:
    p = _Visible()
    p.feed(html)
    p.close()
    # One line: a text may be split into several nodes by one format and not the other
    # (a note with a blank line is one pre-wrapped paragraph in HTML, two in Markdown).
    return _norm(" ".join(p.nodes))


def _markdown_visible(md: str) -> str:
    body = md.split("\n---\n", 1)[1]  # the front matter is metadata, not the card's text
    return _visible(MarkdownIt("commonmark", {"html": True}).enable("table").render(body))


# --- walking the document ----------------------------------------------------------------------


def _inline_texts(x: Inline) -> Iterator[str]:
    if isinstance(x, RunRef):
        yield (x.run_id or "\u2013")[:12]  # an en dash when there is no run
    elif isinstance(x, Text | Value | Code | Strong | Emphasis | Muted | Flag | Link):
        yield x.text


def _texts(blocks: tuple[Block, ...] | list[Block]) -> Iterator[str]:
    """Every text of the blocks a reader must see, in every format (figures aside)."""
    for b in blocks:
        if isinstance(b, Paragraph | Heading):
            for x in b.inlines:
                yield from _inline_texts(x)
        elif isinstance(b, ListBlock):
            for item in b.items:
                for x in item:
                    yield from _inline_texts(x)
        elif isinstance(b, Table):
            for cell in (*b.headers, *(c for row in b.rows for c in row)):
                for x in cell:
                    yield from _inline_texts(x)
        elif isinstance(b, CodeBlock):
            yield b.text
        elif isinstance(b, CaveatList):
            for c in b.items:
                yield c.text
                yield c.code
        elif isinstance(b, HumanSection):
            if b.level:
                yield b.title
            if b.needs_input:
                yield b.prompt
            else:
                yield from _texts(b.blocks)
        elif isinstance(b, Details):
            yield b.summary
            yield from _texts(b.blocks)
        elif isinstance(b, Section):
            yield b.title
            yield from _texts(b.blocks)


def _values(blocks: tuple[Block, ...] | list[Block]) -> Iterator[Value]:
    for b in blocks:
        cells: list[tuple[Inline, ...]] = []
        if isinstance(b, Paragraph | Heading):
            cells = [b.inlines]
        elif isinstance(b, Table):
            cells = [c for row in b.rows for c in row]
        elif isinstance(b, Section | Details | HumanSection):
            yield from _values(b.blocks)
        for cell in cells:
            yield from (x for x in cell if isinstance(x, Value))


def _figures(blocks: tuple[Block, ...] | list[Block]) -> Iterator[Figure]:
    for b in blocks:
        if isinstance(b, Figure):
            yield b
        elif isinstance(b, Section | Details | HumanSection):
            yield from _figures(b.blocks)


def _all(doc: CardDocument) -> list[Block]:
    return [*doc.summary, *doc.sections]


# --- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(CARDS))
def test_markdown_and_html_show_every_text_of_the_document(store: BaseStore, kind: str) -> None:
    card = CARDS[kind](store)
    doc = card.document()
    html = _visible(card.to_html())
    md = _markdown_visible(card.to_markdown())
    texts = [t for t in (_norm(x) for x in _texts(_all(doc))) if t]
    assert len(texts) > 40
    missing_html = [t for t in texts if t not in html]
    missing_md = [t for t in texts if t not in md]
    assert missing_html == []
    assert missing_md == []
    assert _norm(doc.title) in html
    assert _norm(doc.title) in md
    figures = list(_figures(_all(doc)))
    raw_html = card.to_html()
    assert raw_html.count("<svg") == len(figures)  # the plots: in the HTML card, once each
    assert "<svg" not in card.to_markdown()


def _json_measured(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """``(location in the content, measured value)`` for every measured value of a card."""
    if isinstance(node, dict):
        if {"value", "run_id", "path"} <= set(node):
            yield where, node
        for k, v in node.items():
            yield from _json_measured(v, f"{where}.{k}" if where else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _json_measured(v, f"{where}[{i}]")


def _key(run_id: str, path: Any, step: Any) -> tuple[str, str, Any]:
    return (run_id, json.dumps(list(path)), step)


def _not_shown(where: str, content: dict[str, Any]) -> str | None:
    """Why a measured value of the JSON card is not in the Markdown/HTML cards, if it may not be."""
    search = content.get("search") or {}
    if where.startswith("search.hypervolume[") and where.endswith("]"):
        last = f"search.hypervolume[{len(search['hypervolume']) - 1}]"
        return None if where == last else "the history is the hypervolume plot; the last is shown"
    if where.startswith("search.recorded_counts."):
        return "the cards count the trials the store holds (search.counts)"
    if where.startswith("search.pareto[") and ".constraints." in where:
        return "a constraint's validation value is its metric's, in the objective columns"
    if where.startswith("quantitative_analyses.latency[") and where.endswith(("mean_ms", "std_ms")):
        return "latency is reported (and constrained) by percentiles, never by the mean"
    return None


@pytest.mark.parametrize("kind", list(CARDS))
def test_every_shown_value_is_the_json_value_and_every_json_value_is_shown(
    store: BaseStore, kind: str
) -> None:
    card = CARDS[kind](store)
    content = json.loads(card.to_json())
    doc = card.document()
    in_json = {
        _key(m["run_id"], m["path"], m.get("step")): m["value"] for _, m in _json_measured(content)
    }
    shown: dict[tuple[str, str, Any], Origin] = {}
    for v in _values(_all(doc)):
        for o in v.origins:
            key = _key(o.run_id, o.path, o.step)
            assert key in in_json, (v, o)
            assert json.dumps(in_json[key]) == json.dumps(o.value), (v, o)
            shown[key] = o
            # The text shows that value.
            expected = {plain(o.value), num(o.value)}
            if len(v.origins) == 1:
                assert v.text in expected, (v, o)
            else:
                assert any(e in v.text for e in expected), (v, o)
    unshown = [
        where
        for where, m in _json_measured(content)
        if _key(m["run_id"], m["path"], m.get("step")) not in shown
        and _not_shown(where, content) is None
    ]
    assert unshown == []


def test_the_search_card_shows_its_key_figures_in_every_format(store: BaseStore) -> None:
    ids = fx.write_search(store, 12, slices=fx.SLICES)
    card = build_card(ids.search, store=store, persist=False)
    content = card.to_dict()
    md, html = _markdown_visible(card.to_markdown()), _visible(card.to_html())
    chosen = store.get_run(ids.chosen)
    test_acc = num(chosen.attrs["test"]["accuracy"])
    p90 = num(chosen.attrs["latency"]["p90_ms"])
    final_hv = num(content["search"]["hypervolume"][-1]["value"])
    for text in (md, html):
        assert test_acc in text
        assert p90 in text
        assert f"{final_hv} (after 12 trials)" in text
        assert "Feasible on test" in text
        assert "Column types" in text


# --- every renderer handles every type ---------------------------------------------------------


def test_the_type_lists_match_the_unions() -> None:
    assert set(BLOCK_TYPES) == set(typing.get_args(Block))
    assert set(INLINE_TYPES) == set(typing.get_args(Inline))


def _every_type() -> CardDocument:
    inlines: tuple[Inline, ...] = (
        Text("t-text "),
        Value("t-value", (Origin("r" * 32, ("metrics", "m"), 1.0),)),
        Value("t-literal", literal=True),
        Code("t-code", title="t-title"),
        RunRef("abcdef0123456789" * 2),
        RunRef(None),
        Strong("t-strong"),
        Emphasis("t-em"),
        Muted("t-muted"),
        Flag("worse", "t-worse"),
        Flag("small", "t-small"),
        Flag("warning", "t-warning", "why"),
        Flag("chosen", "t-chosen", "chosen"),
        Flag("closest", "t-closest", "closest"),
        Link("https://example.org/t", "t-link"),
        LineBreak(),
        Text("t-after-break"),
    )
    blocks: tuple[Block, ...] = (
        Paragraph(inlines),
        Paragraph((Text("t-muted-paragraph"),), style="muted"),
        Paragraph((Text("t-pre\nparagraph"),), style="pre"),
        Paragraph((Text("t-needs"),), style="needs"),
        Paragraph((Text("t-alert"),), style="alert"),
        Heading(4, (Text("t-heading"),)),
        ListBlock(((Text("t-item-1"),), (Text("t-item-2"),)), ordered=True),
        ListBlock(((Text("t-bullet"),),)),
        CodeBlock("t = 'code block'", "python"),
        Table(
            ((Text("t-head"),), (Text("n"),)), (((Text("t-cell"),), (Text("1"),)),), frozenset({1})
        ),
        Figure(LinePlot((0.0, 1.0), (1.0, 2.0), "x", "y", "t-figure"), "t-caption"),
        CaveatList((CaveatItem("t_code", "warning", "t-caveat"),)),
        HumanSection(
            "owners", "t-human", "t-human-text", False, "p", (Paragraph((Text("t-human-text"),)),)
        ),
        HumanSection("license", "t-needs-human", "", True, "t-prompt"),
        Details("t-summary", (Paragraph((Text("t-detail"),)),)),
        Section("t-sub", 3, (Paragraph((Text("t-in-sub"),)),)),
    )
    return CardDocument(
        run_id="f" * 32,
        title="Model card: t",
        schema_version=1,
        generator=("jupyterlab-tracker", "0"),
        front_matter={"tags": ["t"]},
        summary=(),
        sections=(Section("t-section", 2, blocks, anchor="t", nav="T"),),
        content={},
    )


def test_each_renderer_serializes_every_block_and_inline_type() -> None:
    doc = _every_type()
    used = {type(b) for b in _walk_blocks(_all(doc))}
    used_inlines = {type(x) for b in _walk_blocks(_all(doc)) for x in _inlines_of(b)}
    assert used == set(BLOCK_TYPES)
    assert used_inlines == set(INLINE_TYPES)
    html = render_html_fragment(doc)
    md = render_markdown(doc)
    seen_html, seen_md = _visible(html), _markdown_visible(md)
    texts = [t for t in (_norm(x) for x in _texts(_all(doc))) if t]
    assert [t for t in texts if t not in seen_html] == []
    assert [t for t in texts if t not in seen_md] == []
    assert "t-figure" in html  # the plot's title, drawn in HTML only
    assert "t-caption" in seen_html
    assert "t-caption" not in md
    assert 'href="https://example.org/t"' in html
    assert "(https://example.org/t)" in md


def _walk_blocks(blocks: tuple[Block, ...] | list[Block]) -> Iterator[Block]:
    for b in blocks:
        yield b
        if isinstance(b, Section | Details | HumanSection):
            yield from _walk_blocks(b.blocks)


def _inlines_of(b: Block) -> Iterator[Inline]:
    if isinstance(b, Paragraph | Heading):
        yield from b.inlines
    elif isinstance(b, Table):
        for cell in (*b.headers, *(c for row in b.rows for c in row)):
            yield from cell
    elif isinstance(b, ListBlock):
        for item in b.items:
            yield from item


def test_a_card_reloaded_from_json_is_the_same_document(store: BaseStore, tmp_path: Path) -> None:
    card = _search_card(store)
    path = card.save(tmp_path / "card.json")
    from tracker.cards import load_card

    again = load_card(path)
    assert again.document() == card.document()
