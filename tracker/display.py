"""How records look to a person: one-line reprs, aligned text tables, inert HTML tables.

The records' ``__repr__`` (:class:`~tracker.records.Run`, ``CellExecution``, ``DataRef``,
``RunList``), the ``tracker`` command's tables and the notebook HTML views are built from
these few functions, so a new kind of record (a model version, an artifact) looks like
the others by calling them:

* :func:`one_line` - ``<Kind part part ...>`` on one line, whatever the text holds;
* :func:`figures` - ``acc=0.967 f1=0.95 (+3)``: the first few key figures of a mapping;
* :func:`text_table` - aligned columns for a terminal;
* :func:`html_table`, :func:`html_fields`, :func:`html_view` - notebook HTML.

The HTML carries no styles of its own: JupyterLab styles tables in outputs. Every
string that reaches HTML here is escaped (:func:`html.escape` with quotes), so user
text (names, keys, values, sources, dtypes) renders as text and never as markup; callers
pass plain values, never HTML. ``tests/test_security_xss.py`` renders each view with a
hostile corpus in a real browser.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "clip",
    "figures",
    "fmt",
    "html_fields",
    "html_table",
    "html_view",
    "human_bytes",
    "one_line",
    "text_table",
]


def fmt(value: Any) -> str:
    """A value for a table cell: numbers to 6 significant digits, ``None`` as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return f"{value:.6g}"
    return str(value)


def clip(text: str, width: int) -> str:
    """``text`` on one line (line breaks and tabs as spaces), cut to ``width`` with ``…``."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: max(1, width - 1)] + "…"


def _short(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}"
    return fmt(value)


def figures(values: Mapping[str, Any], n: int = 3, width: int = 24) -> str:
    """``key=value`` for the first ``n`` entries (4 significant digits), then ``(+k)``."""
    items = list(values.items())
    shown = " ".join(f"{clip(k, width)}={clip(_short(v), width)}" for k, v in items[:n])
    more = f" (+{len(items) - n})" if len(items) > n else ""
    return shown + more


def one_line(kind: str, *parts: str | None) -> str:
    """``<kind part part ...>``, skipping empty parts; always a single line."""
    return "<" + " ".join(clip(p, 200) for p in (kind, *parts) if p) + ">"


def human_bytes(n: int | None) -> str:
    """``12.0 KB``, ``3.4 GB``: a byte count for people (SI units: 1 KB = 1,000 bytes)."""
    if n is None:
        return ""
    size, unit = float(n), 0
    while size >= 1000 and unit < 4:
        size /= 1000
        unit += 1
    return f"{n} B" if unit == 0 else f"{size:.1f} {('KB', 'MB', 'GB', 'TB')[unit - 1]}"


def text_table(rows: Sequence[Sequence[Any]], headers: Sequence[str], max_width: int = 40) -> str:
    """A plain-text table with aligned columns (cells cut at ``max_width``)."""
    text = [[clip(fmt(v), max_width) for v in row] for row in rows]
    heads = [clip(h, max_width) for h in headers]
    widths = [len(h) for h in heads]
    for row in text:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip()
    sep = "  ".join("-" * w for w in widths).rstrip()
    body = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in text
    ]
    return "\n".join([line, sep, *body])


def _e(value: Any) -> str:
    return html.escape(fmt(value), quote=True)


def html_table(
    rows: Iterable[Sequence[Any]], headers: Sequence[str], *, max_width: int = 240
) -> str:
    """An HTML table; every header and cell is escaped text, cut at ``max_width``.

    Empty (``""``) without rows, so a view leaves the section out.
    """
    rows = list(rows)
    if not rows:
        return ""
    head = "".join(f"<th>{_e(clip(h, max_width))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(clip(fmt(c), max_width))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_fields(pairs: Iterable[tuple[str, Any]], *, max_width: int = 240) -> str:
    """A two-column key/value HTML table (empty values left out); all escaped."""
    rows = [(k, v) for k, v in pairs if v not in (None, "", {}, ())]
    if not rows:
        return ""
    body = "".join(
        f"<tr><th>{_e(clip(k, max_width))}</th><td>{_e(clip(fmt(v), max_width))}</td></tr>"
        for k, v in rows
    )
    return f"<table><tbody>{body}</tbody></table>"


def html_view(
    title: str,
    subtitle: str = "",
    sections: Iterable[tuple[str, str]] = (),
    *,
    pre: str | None = None,
) -> str:
    """One record's notebook view: a bold title, a line under it, then titled sections.

    Args:
        title: Shown in bold (escaped).
        subtitle: One line after the title (escaped).
        sections: ``(heading, html)`` pairs; the HTML must come from this module's
            builders (already escaped); the heading is escaped here. Empty ones are skipped.
        pre: Preformatted text (a cell's source), escaped, shown in a ``<pre>``.
    """
    parts = [
        f"<div><b>{html.escape(title, quote=True)}</b>"
        + (f" <span>{html.escape(subtitle, quote=True)}</span>" if subtitle else "")
        + "</div>"
    ]
    if pre is not None:
        parts.append(
            "<pre style='max-height:16em;overflow:auto'>" + html.escape(pre, quote=True) + "</pre>"
        )
    for heading, body in sections:
        if body:
            if heading:
                parts.append(f"<div><i>{html.escape(heading, quote=True)}</i></div>")
            parts.append(body)
    return "<div>" + "".join(parts) + "</div>"
