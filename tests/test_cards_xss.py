"""An XSS payload corpus through every text field of a card, in HTML and in Markdown.

HTML is parsed with the standard library's parser: the only elements and attributes are
the renderer's own, no event handler, no script, no javascript: URL. Markdown is rendered
by markdown-it with raw HTML *enabled* (as CommonMark allows, and as many renderers do):
the result must be just as clean.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
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


# --- links: one allow-list, and no way out of the link text ------------------------------------

# Each sets document.title if it ever runs; the issue's finding comes first.
LINK_PAYLOADS = [
    '[](http://x/<img/src="x"/onerror="document.title=\'pwned1\'">)',
    "[](javascript:<img/src=x/onerror=document.title='pwned2'>)",
    "![](https://x/<img/src=x/onerror=document.title='pwned3'>)",
    "[<img src=x onerror=document.title='pwned4'>](https://x)",
    "[x](https://x/\"onmouseover=\"document.title='pwned5')",
    "https://x/<img/src=x/onerror=document.title='pwned6'>",
    "[`<img src=x onerror=document.title='pwned7'>`](https://x)",
    "**<img src=x onerror=document.title='pwned8'>**",
]


@pytest.mark.parametrize("payload", LINK_PAYLOADS, ids=[f"l{i}" for i in range(len(LINK_PAYLOADS))])
def test_links_in_human_sections_cannot_carry_markup(store: BaseStore, payload: str) -> None:
    store.write(fx.plain_run_ops())
    card = build_card(fx.PLAIN_ID, store=store, description=payload, persist=False)
    # The notebook view has no CSP: it must be inert by itself.
    for html in (card._repr_html_(), card.to_html()):
        assert _audit(html) == []
        assert "<img" not in html.lower()
        hrefs = [
            v for _, attrs in _elements(html) for k, v in attrs if k == "href" and v is not None
        ]
        assert all(v.startswith(("https://", "http://", "#")) for v in hrefs), hrefs


def _elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class _P(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs))

    p = _P()
    p.feed(html)
    p.close()
    return found


def test_the_issue_payload_is_shown_as_text(store: BaseStore) -> None:
    store.write(fx.plain_run_ops())
    payload = LINK_PAYLOADS[0]
    card = build_card(fx.PLAIN_ID, store=store, description=payload, persist=False)
    html = card._repr_html_()
    # A link to the URL, its text the URL itself, every character of it escaped.
    assert (
        '<a href="http://x/&lt;img/src=&quot;x&quot;/onerror=&quot;document.title='
        '&#x27;pwned1&#x27;&quot;&gt;" rel="noopener noreferrer nofollow">'
    ) in html


def test_the_html_renderer_allow_lists_links_on_its_own() -> None:
    # Even a document whose layout let a bad URL through renders no such href.
    from tracker.cards._html import render_html_fragment
    from tracker.cards._model import CardDocument, Link, Paragraph, Section, Text

    bad = ["javascript:alert(1)", " JaVa\tScRiPt:alert(1)", "data:text/html,x", "vbscript:x"]
    good = ["https://a.example/p?q=1", "mailto:a@example.org", "docs/card.md", "#metrics"]
    inlines = (*(Link(u, f"t{i}") for i, u in enumerate(bad + good)), Text("end"))
    doc = CardDocument(
        run_id="r" * 32,
        title="Model card: t",
        schema_version=1,
        generator=("jupyterlab-tracker", "0"),
        front_matter={},
        summary=(),
        sections=(Section("S", 2, (Paragraph(inlines),), anchor="s", nav="S"),),
        content={},
    )
    html = render_html_fragment(doc)
    hrefs = [v for tag, attrs in _elements(html) if tag == "a" for k, v in attrs if k == "href"]
    assert hrefs == ["#s", *good]
    assert html.count("[unsafe link removed]") == len(bad)


@pytest.mark.browser
def test_card_fragment_runs_nothing_in_chromium_without_csp(
    store: BaseStore, tmp_path: Path
) -> None:
    # What a notebook does with _repr_html_: insert it into a page that has no CSP.
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI must run the browser tests: install chromium")
        pytest.skip("chromium is not installed")
    store.write(fx.plain_run_ops())
    sections = dict(zip(SECTION_KEYS, LINK_PAYLOADS + PAYLOADS, strict=False))
    card = build_card(fx.PLAIN_ID, store=store, persist=False, **sections)
    page = tmp_path / "page.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>card</title></head><body>"
        + card._repr_html_()
        + "</body></html>",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",  # lets every image error fire before the dump
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    dom = proc.stdout
    assert "<title>card</title>" in dom, dom[:500]
    assert "Model card: svc-baseline" in dom  # the page did render
    assert "<img" not in dom.lower()
    assert "<script" not in dom.lower()
