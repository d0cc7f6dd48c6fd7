"""Media types of artifacts, and figures as bytes (matplotlib and plotly, duck-typed).

Figures are recognised by their methods, not their classes, so neither matplotlib nor
plotly is imported here (``import tracker`` must not load plotly; the server never needs
either). A matplotlib figure (or axes) is saved with ``savefig``: PNG by default, or the
format the name's extension asks for (``.svg``, ``.pdf``, ``.jpg``...), with the creation
date left out so the same figure gives the same bytes. A plotly figure is saved as its
JSON (``.json``, the default: small, and what plotly and JupyterLab render again) or as a
self-contained HTML page (``.html``, with plotly.js inlined: no network needed to view it).
SVG ids are salted with a constant, for the same reason as the date.
"""

from __future__ import annotations

import contextlib
import io
import mimetypes
import sys
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any, Final

from tracker.exceptions import ValidationError

__all__ = ["PLOTLY_JSON", "figure_bytes", "guess_media_type"]

PLOTLY_JSON: Final = "application/vnd.plotly.v1+json"
_MATPLOTLIB_FORMATS: Final = {
    "png": "image/png",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "eps": "application/postscript",
}
_NO_DATE: Final = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}
# mimetypes does not know these on every platform.
_EXTRA: Final = {".md": "text/markdown", ".skops": "application/octet-stream"}


def guess_media_type(name: str, default: str = "application/octet-stream") -> str:
    """The media type a name's extension implies, or ``default``."""
    ext = PurePosixPath(name).suffix.lower()
    if ext in _EXTRA:
        return _EXTRA[ext]
    guessed, _ = mimetypes.guess_type(f"x{ext}", strict=False) if ext else (None, None)
    return guessed or default


def _extension(name: str) -> str:
    return PurePosixPath(name).suffix.lower().lstrip(".")


@contextlib.contextmanager
def _fixed_svg_ids() -> Iterator[None]:
    """Matplotlib's SVG ids are random unless salted; salt them so equal figures match."""
    mpl = sys.modules.get("matplotlib")  # loaded already: the figure is one of its objects
    if mpl is None:
        yield
        return
    with mpl.rc_context({"svg.hashsalt": "tracker"}):
        yield


def figure_bytes(figure: Any, name: str) -> tuple[bytes, str, str]:
    """A figure's bytes, its media type and the name to store it under.

    Args:
        figure: A matplotlib ``Figure`` (or anything with ``savefig``, or an ``Axes``
            through its ``.figure``), or a plotly ``Figure`` (``to_json``/``to_html``).
        name: The artifact name; its extension picks the format. Without one, ``.png``
            (matplotlib) or ``.json`` (plotly) is added.

    Raises:
        ValidationError: not a figure, or a format the library cannot write.
    """
    if not hasattr(figure, "savefig") and hasattr(getattr(figure, "figure", None), "savefig"):
        figure = figure.figure  # a matplotlib Axes
    if hasattr(figure, "savefig"):
        ext = _extension(name) or "png"
        if ext not in _MATPLOTLIB_FORMATS:
            raise ValidationError(
                f"cannot save a matplotlib figure as {ext!r}; name it with one of "
                f"{', '.join('.' + e for e in sorted(_MATPLOTLIB_FORMATS))}"
            )
        buf = io.BytesIO()
        with _fixed_svg_ids():
            figure.savefig(buf, format=ext, metadata=_NO_DATE.get(ext))
        return buf.getvalue(), _MATPLOTLIB_FORMATS[ext], name if _extension(name) else f"{name}.png"
    if hasattr(figure, "to_json") and hasattr(figure, "to_html"):
        ext = _extension(name) or "json"
        if ext == "json":
            text = figure.to_json()
            media = PLOTLY_JSON
        elif ext in ("html", "htm"):
            text = figure.to_html(include_plotlyjs=True, full_html=True)
            media = "text/html"
        else:
            raise ValidationError(
                f"cannot save a plotly figure as {ext!r}; name it .json (the figure, default) "
                "or .html (a self-contained page)"
            )
        return str(text).encode("utf-8"), media, name if _extension(name) else f"{name}.json"
    raise ValidationError(
        f"log_figure() takes a matplotlib Figure or Axes or a plotly Figure, not "
        f"{type(figure).__module__}.{type(figure).__qualname__}; log other images as files "
        "with log_artifact()"
    )
