"""Escaping for every user-supplied string that reaches a card.

Two audiences read a card: Markdown renderers (many of which pass raw HTML through, as
CommonMark allows) and browsers (the HTML card). Every string that came from a user
(names, params, tags, notes, slice labels, data names, human sections) goes through one
of these functions; generated structure (tags, markers, tables) never contains user text
unescaped.

* :func:`md_text` - plain text in Markdown: HTML metacharacters become entities and every
  Markdown metacharacter is backslash-escaped, so the text can form neither HTML nor
  links, emphasis, headings or table cells.
* :func:`md_human` - a human section, which is Markdown by intent: HTML metacharacters
  become entities (so no raw HTML or autolinks survive) and link or image destinations
  with a scheme other than http, https or mailto are replaced (``javascript:``,
  ``data:``, ``vbscript:``..., however they are spelled).
* :func:`h` - HTML text and attribute values.
* :func:`safe_url` - a URL for an ``href``: allowed schemes only, else ``None``.
"""

from __future__ import annotations

import html
import re
import unicodedata

__all__ = [
    "BLOCKED_URL",
    "h",
    "md_code",
    "md_human",
    "md_inline",
    "md_text",
    "safe_url",
    "unescape_md_human",
]

#: What an unsafe link destination is replaced with.
BLOCKED_URL = "#blocked-unsafe-link"
_SAFE_SCHEMES = ("http", "https", "mailto")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_BLOCK_START = re.compile(r"^(\s*)([#+\-=]|\d+(?=[.)]))", re.MULTILINE)
_SPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff]")


def h(value: object) -> str:
    """HTML-escape text or an attribute value (quotes included)."""
    return html.escape(_clean(str(value)), quote=True)


def _clean(text: str) -> str:
    # Control and zero-width characters can hide a scheme or break a renderer; they carry
    # nothing a card needs.
    return _CONTROL.sub("", text)


def _entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md_text(value: object, *, table: bool = False) -> str:
    """A user string as inert Markdown text (no HTML, links, emphasis or structure).

    Args:
        value: The string (anything; ``str()`` is applied).
        table: Also fold newlines, for a table cell.
    """
    text = _clean(str(value))
    text = _MD_SPECIAL.sub(r"\\\1", _entities(text))
    if table:  # a table cell cannot start a block; folding newlines keeps it one cell
        return " ".join(text.split())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Stop a line from starting a block (heading, list, setext underline); a quote cannot
    # start because ">" is an entity now.
    return _BLOCK_START.sub(_escape_block, text)


def md_inline(value: object, *, line_start: bool = False) -> str:
    """A user string as inert Markdown within one line (a table cell, a heading, a list item).

    Escaped as :func:`md_text`, with every run of whitespace (newlines included) folded
    to one space but not stripped, so pieces of a line can be escaped one by one and
    joined, and none can end its line or table cell.

    Args:
        value: The string (anything; ``str()`` is applied).
        line_start: The text begins a line: a leading block marker is escaped too.
    """
    text = _SPACE.sub(" ", _MD_SPECIAL.sub(r"\\\1", _entities(_clean(str(value)))))
    if line_start:
        text = _BLOCK_START.sub(_escape_block, text, count=1)
    return text


def _escape_block(match: re.Match[str]) -> str:
    lead, mark = match.group(1), match.group(2)
    if mark.isdigit():
        return f"{lead}{mark}\\"  # "1\." is not an ordered list item
    return f"{lead}\\{mark}"


def md_code(value: object) -> str:
    """A short user string as an inline code span (safe: code spans never hold HTML)."""
    text = " ".join(_clean(str(value)).split())
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def safe_url(url: str) -> str | None:
    """``url`` if its scheme is http, https or mailto, or it is relative; else ``None``."""
    squashed = "".join(ch for ch in html.unescape(url) if not ch.isspace())
    squashed = _clean(unicodedata.normalize("NFKC", squashed)).lower()
    head = re.split(r"[/?#]", squashed, maxsplit=1)[0]
    if ":" not in head:
        return url  # relative path or fragment
    scheme = head.split(":", 1)[0]
    return url if scheme in _SAFE_SCHEMES else None


# [text](dest "title") and ![alt](dest); dest may be <...> (already entity-escaped here).
_INLINE_LINK = re.compile(r"(!?\[[^\]\n]*\]\()\s*((?:&lt;.*?&gt;)|[^\s)]+)((?:\s+[^)]*)?\))")
# [label]: dest "title"  (reference definitions)
_REF_DEF = re.compile(r"^( {0,3}\[[^\]\n]+\]:\s*)(\S+)(.*)$", re.MULTILINE)


def _neutralise(match: re.Match[str]) -> str:
    dest = match.group(2)
    bare = dest[4:-4] if dest.startswith("&lt;") and dest.endswith("&gt;") else dest
    if safe_url(html.unescape(bare)) is None:
        dest = BLOCKED_URL
    return f"{match.group(1)}{dest}{match.group(3)}"


def md_human(text: str) -> str:
    """A human section as Markdown that cannot carry raw HTML or script URLs."""
    out = _entities(_clean(text.replace("\r\n", "\n").replace("\r", "\n")))
    out = _INLINE_LINK.sub(_neutralise, out)
    return _REF_DEF.sub(_neutralise, out)


def unescape_md_human(text: str) -> str:
    """Inverse of the entity step of :func:`md_human` (reading an edited card back)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
