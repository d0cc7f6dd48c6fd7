"""Griffe extension for the API reference: Sphinx roles in docstrings become code spans.

The tracker's docstrings name other objects with Sphinx roles (``:func:`hash_data```,
``:class:`~tracker.records.DataRef```), which read well in the source and in ``help()``.
mkdocstrings renders docstrings as Markdown, where a role would print as
``:func: hash_data``. This extension rewrites each role as an inline code span before
rendering (``~`` keeps the last component only, as in Sphinx); the docstrings stay as
they are. Loaded by mkdocs.yml (``extensions`` of the python handler).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:py:)?(?:func|class|meth|attr|data|mod|exc|obj|const|term):`(~?)([^`<]+?)(?:\s*<[^`]*>)?`"
)


def _as_code(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def roles_as_code(text: str) -> str:
    """``text`` with every Sphinx cross-reference role written as an inline code span."""
    return _ROLE.sub(_as_code, text)


class SphinxRolesAsCode(griffe.Extension):
    """Rewrite Sphinx roles in every docstring griffe loads."""

    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        """Rewrite ``obj``'s docstring once the object tree is complete."""
        if obj.docstring is not None:
            obj.docstring.value = roles_as_code(obj.docstring.value)
