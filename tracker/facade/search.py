"""``tracker.optimize``: the search, with a live widget in notebooks and text elsewhere.

The optimizer (``tracker.tuning``) sits below the widgets in the import layers: the search
takes progress reporters, and this facade picks the right one for where it runs. It keeps
the optimizer's signature and docs.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from tracker.tuning import SearchResult, report
from tracker.tuning import optimize as _optimize

__all__ = ["in_notebook", "optimize", "report"]


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel that can display widgets."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get is not None else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


@functools.wraps(_optimize)
def optimize(*args: Any, **kwargs: Any) -> SearchResult:
    """See :func:`tracker.tuning.optimize` (docs copied by ``functools.wraps``).

    In a notebook, ``show_progress=True`` (the default) displays a
    :class:`tracker.widgets.SearchProgressWidget` (progress bar, best or Pareto trials so
    far, a live trade-off figure); elsewhere a line of text every few seconds.
    """
    if kwargs.get("progress") is None and kwargs.get("show_progress", True) and in_notebook():
        try:
            from tracker.widgets._progress import SearchProgressWidget

            kwargs["progress"] = SearchProgressWidget()
        except Exception:  # no widget support in this front end: plain text instead
            kwargs.pop("progress", None)
    return _optimize(*args, **kwargs)
