"""Notebook widgets: live search progress (the only package importing ipywidgets).

Importing this package does not import ipywidgets; the widget classes load on use.
``tracker.optimize``, which displays the progress widget in notebooks, is a facade
(:mod:`tracker.facade.search`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.widgets._progress import SearchProgressWidget

__all__ = ["SearchProgressWidget"]


def __getattr__(name: str) -> Any:
    if name == "SearchProgressWidget":
        from tracker.widgets._progress import SearchProgressWidget

        return SearchProgressWidget
    raise AttributeError(f"module 'tracker.widgets' has no attribute {name!r}")
