"""Serialize a card document to one self-contained HTML file (inline CSS and SVG, no scripts).

Inert by construction: every text of the document goes through
:func:`~tracker.cards._escape.h`, markup comes only from this module, and every ``href``
is a URL that passed :func:`~tracker.cards._escape.safe_url` (http, https, mailto,
relative) here, whatever the layout did before. A Content-Security-Policy in the
standalone document also forbids scripts and every external load; the fragment a notebook
shows (``_repr_html_``) has no CSP and needs none.

This module decides syntax only; what the card says is decided by
:mod:`tracker.cards._layout`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, assert_never

from tracker.cards._analyses import slice_blocks
from tracker.cards._escape import h, safe_url
from tracker.cards._human import UNSAFE_LINK_NOTE
from tracker.cards._model import (
    Block,
    CardDocument,
    CaveatList,
    Cell,
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
    Paragraph,
    RunRef,
    Section,
    Strong,
    Table,
    Text,
    Value,
)

__all__ = ["CSP", "render_html", "render_html_fragment", "slice_table_html"]

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)

_CSS = """
.tracker-card{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,
sans-serif;color:#1f2328;max-width:980px;margin:0 auto;padding:8px 16px 48px;line-height:1.5;
font-size:15px}
.tracker-card h1{font-size:1.8em;border-bottom:1px solid #d0d7de;padding-bottom:.3em}
.tracker-card h2{font-size:1.35em;border-bottom:1px solid #d0d7de;padding-bottom:.2em;
margin-top:1.8em}
.tracker-card h3{font-size:1.1em;margin-top:1.4em}.tracker-card h4{font-size:1em}
.tracker-card table{border-collapse:collapse;margin:.6em 0;font-size:13.5px;display:block;
overflow-x:auto}
.tracker-card th,.tracker-card td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;
vertical-align:top}
.tracker-card th{background:#f6f8fa}
.tracker-card td.num{text-align:right;font-variant-numeric:tabular-nums}
.tracker-card code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12.5px;
background:#f6f8fa;padding:1px 4px;border-radius:4px;word-break:break-all}
.tracker-card code.rid{white-space:nowrap;word-break:normal}
.tracker-card .human{border-left:3px solid #1f6feb;padding:2px 12px;margin:.5em 0}
.tracker-card .needs-input{border-left:3px solid #bf8700;background:#fff8c5;padding:6px 12px;
margin:.5em 0;color:#6e5600}
.tracker-card .caveat{margin:.3em 0}.tracker-card .warning{color:#9a3412}
.tracker-card .flag-worse{color:#d1242f;font-weight:600}
.tracker-card .flag-small{color:#9a6700}
.tracker-card .muted{color:#59636e;font-size:13px}.tracker-card nav{font-size:13.5px}
.tracker-card nav a{margin-right:10px}
.tracker-card svg.tracker-plot{max-width:680px;display:block;margin:.5em 0}
.tracker-card details{margin:.5em 0}
.tracker-card .summary-needs{background:#fff8c5;padding:8px 12px;border-radius:6px}
@media print{.tracker-card nav{display:none}}
"""

_PARAGRAPH_ATTRS = {
    "plain": "",
    "muted": ' class="muted"',
    "pre": ' style="white-space:pre-wrap"',
    "needs": ' class="summary-needs"',
    "alert": ' class="summary-needs warning"',
}
_FLAG_CLASSES = {"worse": "flag-worse", "small": "flag-small", "warning": "warning"}
_REL = ' rel="noopener noreferrer nofollow"'


def _href(url: str) -> str | None:
    """The ``href`` attribute value of ``url``, or ``None`` if its scheme is not allowed."""
    ok = safe_url(url)
    return None if ok is None else h(ok)


# --- inlines -------------------------------------------------------------------------------------


def _title(title: str | None) -> str:
    return "" if title is None else f' title="{h(title)}"'


def _flag(f: Flag) -> str:
    css = _FLAG_CLASSES.get(f.kind)
    if css is None:  # the chosen or the closest point: a mark, not a warning
        return f"<strong{_title(f.title)}>{h(f.text)}</strong>"
    return f'<span class="{css}"{_title(f.title)}>{h(f.text)}</span>'


def _inline(x: Inline) -> str:
    match x:
        case Text():
            return h(x.text)
        case Value():
            return f"<code>{h(x.text)}</code>" if x.literal else h(x.text)
        case Code():
            return f"<code{_title(x.title)}>{h(x.text)}</code>"
        case RunRef():
            if not x.run_id:
                return "–"
            return f'<code class="rid" title="{h(x.run_id)}">{h(x.run_id[:12])}</code>'
        case Strong():
            return f"<strong>{h(x.text)}</strong>"
        case Emphasis():
            return f"<em>{h(x.text)}</em>"
        case Muted():
            return f'<span class="muted">{h(x.text)}</span>'
        case Flag():
            return _flag(x)
        case Link():
            href = _href(x.url)
            if href is None:
                return f'{h(x.text)} <span class="muted">{h(UNSAFE_LINK_NOTE)}</span>'
            return f'<a href="{href}"{_REL}>{h(x.text)}</a>'
        case LineBreak():
            return "<br>"
        case _:
            assert_never(x)


def _inlines(cell: Cell) -> str:
    return "".join(_inline(x) for x in cell)


# --- blocks --------------------------------------------------------------------------------------


def _table(t: Table) -> str:
    if not t.rows:
        return ""
    head = "".join(f"<th>{_inlines(c)}</th>" for c in t.headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_inlines(c)}</td>' if j in t.numeric else f"<td>{_inlines(c)}</td>"
            for j, c in enumerate(row)
        )
        + "</tr>"
        for row in t.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _caveats(c: CaveatList) -> str:
    return (
        "<ul>"
        + "".join(
            f'<li class="caveat {h(x.severity)}" data-code="{h(x.code)}">'
            f"{'⚠ ' if x.severity == 'warning' else 'ℹ '}"
            f"{h(x.text)} <code>{h(x.code)}</code></li>"
            for x in c.items
        )
        + "</ul>"
    )


def _human(s: HumanSection) -> str:
    heading = f'<h{s.level} id="section-{h(s.key)}">{h(s.title)}</h{s.level}>' if s.level else ""
    if s.needs_input:
        body = (
            f'<div class="needs-input" data-section="{h(s.key)}">'
            f"<strong>Needs input:</strong> {h(s.prompt)}</div>"
        )
    else:
        body = f'<div class="human" data-section="{h(s.key)}">{_blocks(s.blocks)}</div>'
    return heading + body


def _blocks(blocks: tuple[Block, ...] | list[Block]) -> str:
    return "".join(_block(b) for b in blocks)


def _block(b: Block) -> str:
    match b:
        case Paragraph():
            return f"<p{_PARAGRAPH_ATTRS[b.style]}>{_inlines(b.inlines)}</p>"
        case Heading():
            return f"<h{b.level}>{_inlines(b.inlines)}</h{b.level}>"
        case ListBlock():
            tag = "ol" if b.ordered else "ul"
            return f"<{tag}>" + "".join(f"<li>{_inlines(x)}</li>" for x in b.items) + f"</{tag}>"
        case CodeBlock():
            return f"<pre><code>{h(b.text)}</code></pre>"
        case Table():
            return _table(b)
        case Figure():
            caption = f'<p class="muted">{h(b.caption)}</p>' if b.caption else ""
            return b.plot.svg() + caption
        case CaveatList():
            return _caveats(b)
        case HumanSection():
            return _human(b)
        case Details():
            return f"<details><summary>{h(b.summary)}</summary>{_blocks(b.blocks)}</details>"
        case Section():
            anchor = f' id="{h(b.anchor)}"' if b.anchor else ""
            return f"<h{b.level}{anchor}>{h(b.title)}</h{b.level}>{_blocks(b.blocks)}"
        case _:
            assert_never(b)


# --- documents -----------------------------------------------------------------------------------


def slice_table_html(s: Mapping[str, Any], *, run_id: str | None = None) -> str:
    """One sliced evaluation as HTML (a ``SliceReport``'s notebook view)."""
    body = _blocks(slice_blocks(s, run_id=run_id))
    return f'<div class="tracker-card" style="padding:0">{body}</div>'


def _nav(doc: CardDocument) -> str:
    links = []
    for s in doc.sections:
        href = _href(f"#{s.anchor}") if s.nav and s.anchor else None
        if href is not None and s.nav:
            links.append(f'<a href="{href}">{h(s.nav)}</a>')
    return f"<nav>{''.join(links)}</nav>"


def render_html_fragment(doc: CardDocument) -> str:
    """The card as an HTML fragment (a ``div.tracker-card`` with its own style)."""
    name, version = doc.generator
    return (
        f"<style>{_CSS}</style>"
        f'<div class="tracker-card" data-run-id="{h(doc.run_id)}">'
        f"<h1>{h(doc.title)}</h1>"
        + _nav(doc)
        + _blocks((*doc.summary, *doc.sections))
        + f'<p class="muted">Generated by {h(name)} {h(version)} from tracked '
        f"records (card schema {h(doc.schema_version)}).</p>"
        "</div>"
    )


def render_html(doc: CardDocument) -> str:
    """The card as one self-contained HTML document."""
    name, version = doc.generator
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{h(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="{h(name)} {h(version)}">'
        f"<title>{h(doc.title)}</title></head><body>"
        + render_html_fragment(doc)
        + "</body></html>\n"
    )
