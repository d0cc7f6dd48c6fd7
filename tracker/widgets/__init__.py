"""Notebook widgets: live search progress (the only package importing ipywidgets).

Importing this package does not import ipywidgets; the widget classes load on use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracker.widgets.search import in_notebook, optimize

if TYPE_CHECKING:
    from tracker.widgets._progress import SearchProgressWidget

__all__ = ["SearchProgressWidget", "in_notebook", "optimize"]


def __getattr__(name: str) -> Any:
    if name == "SearchProgressWidget":
        from tracker.widgets._progress import SearchProgressWidget

        return SearchProgressWidget
    raise AttributeError(f"module 'tracker.widgets' has no attribute {name!r}")
