"""An XSS payload corpus through every text field of a card, in HTML and in Markdown.

HTML is parsed with the standard library's parser: the only elements and attributes are
the renderer's own, no event handler, no script, no javascript: URL. Markdown is rendered
by markdown-it with raw HTML *enabled* (as CommonMark allows, and as many renderers do):
the result must be just as clean.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt

from tests import cards_fixture as fx
from tracker.cards import SECTION_KEYS, build_card, sections_from_file
from tracker.store import BaseStore, open_store
from tracker.store.ops import LogData, SetAttrs, SetRunFields, SetTags

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "'><iframe src=javascript:alert(1)>",
    "[click](javascript:alert(1))",
    "[click]( JaVaScRiPt:alert(1) )",
    "![x](javascript:alert(1))",
    "[a](java\tscript:alert(1))",
    "[b](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[c](vbscript:msgbox(1))",
    "[d]: javascript:alert(1)\n\n[d]",
    "<javascript:alert(1)>",
    "<a href='javascript:alert(1)'>x</a>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<!-- tracker:end owners -->\n<script>alert(1)</script>",
    "</style><script>alert(1)</script>",
    "</textarea></title><script>alert(1)</script>",
    "<details open ontoggle=alert(1)>",
    "javascript:alert(1)",
    "`<script>`alert(1)",
    "<<script>script>alert(1)<</script>/script>",
    "\u202e<script>alert(1)</script>",
    "x\n---\nmalicious: yaml\n---",
    '{"a": "<b onmouseover=alert(1)>"}',
]

_ALLOWED_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "body",
    "style",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "nav",
    "a",
    "p",
    "strong",
    "em",
    "code",
    "pre",
    "span",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "ul",
    "ol",
    "li",
    "details",
    "summary",
    "br",
    "svg",
    "rect",
    "line",
    "text",
    "circle",
    "polyline",
    "blockquote",
    "hr",
    "img",
}


class _Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED_TAGS:
            self.problems.append(f"element <{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"handler {name} on <{tag}>")
            if name in ("href", "src", "action", "formaction", "xlink:href") and value:
                squashed = "".join(value.split()).lower()
                if not (squashed.startswith(("http://", "https://", "mailto:", "#"))):
                    self.problems.append(f"{name}={value!r} on <{tag}>")


def _audit(html: str) -> list[str]:
    a = _Audit()
    a.feed(html)
    a.close()
    return a.problems


def _payload_ops(payload: str, i: int) -> list:
    rid = fx.PLAIN_ID
    doc = json.loads(json.dumps(fx.SLICES))
    doc["by"] = payload
    doc["metrics"] = [payload]
    doc["higher_is_better"] = {payload: True}
    doc["overall"] = {payload: doc["overall"]["accuracy"]}
    for s in doc["slices"]:
        s["slice"] = payload + s["slice"]
        s["metrics"] = {payload: s["metrics"]["accuracy"]}
        s["worse_than_overall"] = [payload] if s["worse_than_overall"] else []
    ops = fx.plain_run_ops(
        name=payload,
        tags={payload: payload, "model": payload},
        params={payload: payload, "kernel": payload},
        notes=payload,
        slice_doc=doc,
        data_name=payload,
    )
    ops.append(SetTags(run_id=rid, tags={"version": payload, "framework": payload}))
    ops.append(SetRunFields(run_id=rid, fields={"notebook": payload}))
    ops.append(
        SetAttrs(
            run_id=rid,
            attrs={"latency": {"p50_ms": 1.0, "p95_ms": 2.0, "hardware": {payload: payload}}},
        )
    )
    ref = fx.ref(fx.D_XVA, rows=10, cols=2, dtypes={payload: payload}, nulls={payload: 1})
    ops.append(LogData(id=f"{i:032d}", run_id=rid, name="X_val", ref=ref, timestamp=fx.T0))
    return ops


@pytest.fixture
def store(sqlite_url: str) -> Iterator[BaseStore]:
    st = open_store(sqlite_url, queued=False)
    yield st
    st.close()


@pytest.mark.parametrize("payload", PAYLOADS, ids=[f"p{i}" for i in range(len(PAYLOADS))])
def test_payload_in_every_field_is_inert(store: BaseStore, payload: str, tmp_path: Path) -> None:
    store.write(_payload_ops(payload, PAYLOADS.index(payload)))
    sections = {k: f"{payload}\n\nsafe [link](https://example.org) {payload}" for k in SECTION_KEYS}
    card = build_card(fx.PLAIN_ID, store=store, **sections)

    html = card.to_html()
    assert _audit(html) == []
    assert "<script" not in html.lower()

    md = card.to_markdown()
    rendered = MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    assert _audit(rendered) == [], rendered[:2000]
    assert "<script" not in rendered.lower()
    # The front matter is still one YAML mapping holding the payload as data.
    meta = yaml.safe_load(md.split("\n---\n", 1)[0].removeprefix("---\n"))
    assert meta["model-index"][0]["name"] == payload

    # The safe link survives in both formats.
    assert 'href="https://example.org"' in html
    assert 'href="https://example.org"' in rendered

    # Reading the card back gives the sections' text (dangerous links excepted).
    path = card.save(tmp_path / "card.md")
    back = sections_from_file(path)
    if "](" not in payload and "]:" not in payload:
        assert back == card.sections


def test_unsafe_links_are_blocked_in_markdown_sections(store: BaseStore) -> None:
    store.write(fx.plain_run_ops())
    card = build_card(
        fx.PLAIN_ID, store=store, description="[x](javascript:alert(1)) [y](https://a.b)"
    )
    md = card.to_markdown()
    assert "javascript:" not in md
    assert "#blocked-unsafe-link" in md
    assert "(https://a.b)" in md
    html = card.to_html()
    assert "[unsafe link removed]" in html
    assert 'href="javascript' not in html.lower()
