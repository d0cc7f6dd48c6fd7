"""A human section's Markdown, parsed into card blocks (a small, safe subset).

People write human sections in Markdown. The Markdown card keeps their text as written
(escaped by :func:`~tracker.cards._escape.md_human`); the HTML card shows it through the
blocks built here: paragraphs, bulleted and numbered lists, headings, fenced code, and
inline code, strong, emphasis and links.

Nothing here produces markup. The parser works on the raw text and returns typed inlines
whose text every renderer escapes; a link becomes a :class:`~tracker.cards._model.Link`
only if its URL passes :func:`~tracker.cards._escape.safe_url` (http, https, mailto,
relative), otherwise its text and a note that it was removed. So no input can place a tag
or an attribute in the output: the empty-link case (``[](http://x/<img onerror=...>)``)
that once put the raw URL into HTML is plain text here.
"""

from __future__ import annotations

import re

from tracker.cards._escape import safe_url
from tracker.cards._model import (
    Block,
    Cell,
    Code,
    CodeBlock,
    Emphasis,
    Heading,
    Inline,
    LineBreak,
    Link,
    ListBlock,
    Muted,
    Paragraph,
    Strong,
    Text,
)

__all__ = ["UNSAFE_LINK_NOTE", "parse_human", "parse_inline"]

#: Shown after the text of a link whose URL is not allowed.
UNSAFE_LINK_NOTE = "[unsafe link removed]"

_INLINE = re.compile(
    r"(?P<code>`+)(?P<codebody>.+?)(?P=code)"
    r"|(?P<img>!)?\[(?P<text>[^\]\n]*)\]\((?P<url>[^)\s]+)(?:\s+\"[^)]*\")?\)"
    r"|\*\*(?P<bold>[^*\n]+)\*\*|__(?P<bold2>[^_\n]+)__"
    r"|(?<![\w*])\*(?P<em>[^*\n]+)\*(?!\w)|(?<!\w)_(?P<em2>[^_\n]+)_(?!\w)"
    r"|(?P<auto>https?://[^\s<>&\"']+)"
)
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\d+[.)]\s+(.*)$")


def _link(url: str, text: str) -> tuple[Inline, ...]:
    label = text or url
    if safe_url(url) is None:
        return (Text(label), Text(" "), Muted(UNSAFE_LINK_NOTE))
    return (Link(url, label),)


def _match(m: re.Match[str]) -> tuple[Inline, ...]:
    if m.group("code"):
        return (Code(m.group("codebody").strip()),)
    if m.group("url") is not None:
        return _link(m.group("url"), m.group("text"))
    if m.group("bold") or m.group("bold2"):
        return (Strong(m.group("bold") or m.group("bold2")),)
    if m.group("em") or m.group("em2"):
        return (Emphasis(m.group("em") or m.group("em2")),)
    return _link(m.group("auto"), "")


def parse_inline(line: str) -> Cell:
    """One line of a human section as inlines (code, links, strong, emphasis, text)."""
    out: list[Inline] = []
    pos = 0
    for m in _INLINE.finditer(line):
        if m.start() > pos:
            out.append(Text(line[pos : m.start()]))
        out.extend(_match(m))
        pos = m.end()
    if pos < len(line):
        out.append(Text(line[pos:]))
    return tuple(out)


class _Blocks:
    """Accumulates blocks; a paragraph or a list is open until a blank line or a change."""

    def __init__(self) -> None:
        self.out: list[Block] = []
        self.para: list[str] = []
        self.items: list[str] = []
        self.ordered = False

    def flush(self) -> None:
        if self.para:
            inlines: list[Inline] = []
            for i, line in enumerate(self.para):
                if i:
                    inlines.append(LineBreak())
                inlines.extend(parse_inline(line))
            self.out.append(Paragraph(tuple(inlines)))
            self.para.clear()
        if self.items:
            items = tuple(parse_inline(x) for x in self.items)
            self.out.append(ListBlock(items, ordered=self.ordered))
            self.items.clear()

    def item(self, text: str, *, ordered: bool) -> None:
        if self.para or (self.items and self.ordered != ordered):
            self.flush()
        self.ordered = ordered
        self.items.append(text)


def parse_human(text: str) -> tuple[Block, ...]:
    """A human section's Markdown as blocks (see the module docstring).

    A heading of level *n* becomes level *n* + 3 (at most 6): the section's own title is
    a level-3 heading of the card.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    acc = _Blocks()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith("```"):
            acc.flush()
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            acc.out.append(CodeBlock("\n".join(body)))
        elif not stripped:
            acc.flush()
        elif m := _HEADING.match(stripped):
            acc.flush()
            acc.out.append(Heading(min(len(m.group(1)) + 3, 6), parse_inline(m.group(2))))
        elif m := _BULLET.match(stripped):
            acc.item(m.group(1), ordered=False)
        elif m := _NUMBERED.match(stripped):
            acc.item(m.group(1), ordered=True)
        else:
            if acc.items:
                acc.flush()
            acc.para.append(stripped)
        i += 1
    acc.flush()
    return tuple(acc.out)
