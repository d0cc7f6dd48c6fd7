"""Serialize a card document to Markdown, with Hugging Face model-card front matter.

The front matter is YAML whose strings are all double-quoted JSON strings (a subset of
YAML), so no user string can break out of its scalar; its fields are decided by
:mod:`tracker.cards._frontmatter`.

The body escapes every text of the document (:mod:`tracker.cards._escape`): text becomes
inert Markdown (no HTML, links, emphasis or structure), folded to one line inside tables,
headings and lists. Human sections are written as their authors wrote them, escaped by
:func:`~tracker.cards._escape.md_human`, between ``tracker:section`` markers so an edited
file can be read back. Figures are left out: Markdown has no inline plots a model hub
renders, and every figure illustrates values a table of its section shows.

This module decides syntax only; what the card says is decided by
:mod:`tracker.cards._layout`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, assert_never
from urllib.parse import quote

from tracker.cards._escape import h, md_code, md_inline, md_text, safe_url
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
from tracker.cards._sections import CARD_MARKER, section_block

__all__ = ["render_markdown"]

_Context = Literal["line", "cell", "pre"]
_SEVERITY_ICONS = {"warning": "⚠"}

# --- YAML ---------------------------------------------------------------------------------------

_YAML_ESCAPES = {ch: f"\\u{ord(ch):04x}" for ch in "<>&[]"}

# --- YAML ---------------------------------------------------------------------------------------


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return json.dumps(v)
    # A JSON string is a YAML double-quoted scalar. HTML and link brackets are escaped
    # too, so a renderer that shows the front matter as Markdown meets neither raw HTML
    # nor a link in it; YAML reads the escapes back to the same text.
    text = json.dumps(str(v), ensure_ascii=True)
    return "".join(_YAML_ESCAPES.get(ch, ch) for ch in text)


def _yaml(obj: Any, indent: int = 0) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            key = _scalar(k) if not str(k).replace("-", "").replace("_", "").isalnum() else str(k)
            if isinstance(v, Mapping) and v:
                lines.append(f"{pad}{key}:")
                lines.extend(_yaml(v, indent + 1))
            elif isinstance(v, list) and v:
                lines.append(f"{pad}{key}:")
                lines.extend(_yaml(v, indent))
            else:
                lines.append(f"{pad}{key}: {_empty(v)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, Mapping) and item:
                sub = _yaml(item, indent + 1)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    return lines


def _empty(v: Any) -> str:
    if isinstance(v, list):
        return "[]"
    if isinstance(v, Mapping):
        return "{}"
    return _scalar(v)


# --- inlines -------------------------------------------------------------------------------------


def _text(text: str, ctx: _Context, first: bool) -> str:
    if ctx == "pre":
        return md_text(text)
    return md_inline(text, line_start=first and ctx == "line")


def _url(url: str) -> str:
    # Percent-encode what would end or break a link destination (spaces, parentheses, <>).
    return quote(url, safe=":/?#[]@!$&'*+,;=%~")


def _flag(f: Flag, ctx: _Context) -> str:
    text = _text(f.text, ctx, False)
    if f.kind == "worse":
        return f"⚠ {text}"
    if f.kind == "warning":
        return f"**{text}**"
    return text


def _inline(x: Inline, ctx: _Context, first: bool = False) -> str:
    match x:
        case Text() | Value() | Muted():
            return _text(x.text, ctx, first)
        case Code():
            return md_code(x.text)
        case RunRef():
            return md_code(x.run_id[:12]) if x.run_id else "–"
        case Strong():
            return f"**{_text(x.text, ctx, False)}**"
        case Emphasis():
            return f"*{_text(x.text, ctx, False)}*"
        case Flag():
            return _flag(x, ctx)
        case Link():
            label = _text(x.text, ctx, first)
            if safe_url(x.url) is None:
                return f"{label} {md_inline(UNSAFE_LINK_NOTE)}"
            return f"[{label}]({_url(x.url)})"
        case LineBreak():
            return " " if ctx == "cell" else "  \n"
        case _:
            assert_never(x)


def _inlines(cell: Cell, ctx: _Context) -> str:
    return "".join(_inline(x, ctx, i == 0) for i, x in enumerate(cell))


# --- blocks --------------------------------------------------------------------------------------


def _table(t: Table) -> str | None:
    if not t.rows:
        return None

    def row(cells: tuple[Cell, ...]) -> str:
        return "| " + " | ".join(_inlines(c, "cell").strip() for c in cells) + " |"

    out = [row(t.headers), "|" + "|".join("---" for _ in t.headers) + "|"]
    out += [row(r) for r in t.rows]
    return "\n".join(out)


def _caveats(c: CaveatList) -> str:
    return "\n".join(
        f"- {_SEVERITY_ICONS.get(x.severity, 'ℹ')} {md_inline(x.text)} ({md_code(x.code)})"
        for x in c.items
    )


def _code(c: CodeBlock) -> str:
    fence = "````" if "```" in c.text else "```"
    return f"{fence}{c.language or ''}\n{c.text.replace(fence, '')}\n{fence}"


def _heading(level: int, text: str) -> str:
    return f"{'#' * level} {md_inline(text)}"


def _blocks(blocks: tuple[Block, ...]) -> str:
    return "\n\n".join(t for b in blocks if (t := _block(b)) is not None)


def _block(b: Block) -> str | None:
    match b:
        case Paragraph():
            text = _inlines(b.inlines, "pre" if b.style == "pre" else "line")
            return f"> {text}" if b.style in ("needs", "alert") else text
        case Heading():
            return f"{'#' * b.level} {_inlines(b.inlines, 'cell')}"
        case ListBlock():
            return "\n".join(
                f"{f'{i + 1}.' if b.ordered else '-'} {_inlines(x, 'cell')}"
                for i, x in enumerate(b.items)
            )
        case CodeBlock():
            return _code(b)
        case Table():
            return _table(b)
        case Figure():
            return None  # see the module docstring
        case CaveatList():
            return _caveats(b)
        case HumanSection():
            block = section_block(b.key, b.text, b.prompt)
            return f"{_heading(b.level, b.title)}\n\n{block}" if b.level else block
        case Details():
            inner = _blocks(b.blocks)
            return f"<details><summary>{h(b.summary)}</summary>\n\n{inner}\n\n</details>"
        case Section():
            inner = _blocks(b.blocks)
            heading = _heading(b.level, b.title)
            return f"{heading}\n\n{inner}" if inner else heading
        case _:
            assert_never(b)


def render_markdown(doc: CardDocument) -> str:
    """The card as Markdown (see the module docstring)."""
    head = [
        "---",
        *_yaml(doc.front_matter),
        "---",
        "",
        CARD_MARKER.format(run_id=doc.run_id, schema=doc.schema_version),
        "<!-- Generated by jupyterlab-tracker from tracked records. Text between the "
        "tracker:section markers is yours: edit it here and regenerate with "
        f"`tracker card {doc.run_id} -o <this file>`; it is kept. "
        "Everything else is regenerated from the records. -->",
        "",
        _heading(1, doc.title),
    ]
    body = _blocks((*doc.summary, *doc.sections))
    return ("\n".join(head) + "\n\n" + body).rstrip() + "\n"
