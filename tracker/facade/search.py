"""``tracker.optimize``: the search, with a live widget in notebooks and text elsewhere.

The optimizer (``tracker.tuning``) sits below the widgets in the import layers: the search
takes progress reporters, and this facade picks the right one for where it runs. It keeps
the optimizer's signature and docs.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any

from tracker.store import get_store
from tracker.tuning import SearchResult, report
from tracker.tuning import optimize as _optimize
from tracker.tuning._keep import check_keep_models, release_dominated_models, set_keep_models

__all__ = ["in_notebook", "optimize", "report"]

log = logging.getLogger("tracker")


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel that can display widgets."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get is not None else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


@functools.wraps(_optimize)
def optimize(*args: Any, keep_models: str = "pareto", **kwargs: Any) -> SearchResult:
    """See :func:`tracker.tuning.optimize` (docs copied by ``functools.wraps``).

    In a notebook, ``show_progress=True`` (the default) displays a
    :class:`tracker.widgets.SearchProgressWidget` (progress bar, best or Pareto trials so
    far, a live trade-off figure); elsewhere a line of text every few seconds.

    ``keep_models="pareto"`` (the default): when the search ends, the models that trials
    logged (``tracker.log_model`` in the objective) are kept for the Pareto trials (and the
    chosen or closest one), and released for the others: their records stay, and
    ``tracker gc`` may collect their bytes, so a 1,000-trial search keeps the disk of its
    front. A registered version is always kept. ``keep_models="all"`` releases nothing.
    Trials run by an ``executor=`` are trials of the study like the others; the choice is
    recorded on the study, so ``tracker worker`` processes still running when this search
    returns apply it at their own end.
    """
    check_keep_models(keep_models)
    if kwargs.get("progress") is None and kwargs.get("show_progress", True) and in_notebook():
        try:
            from tracker.widgets._progress import SearchProgressWidget

            kwargs["progress"] = SearchProgressWidget()
        except Exception:  # no widget support in this front end: plain text instead
            kwargs.pop("progress", None)
    result = _optimize(*args, **kwargs)
    try:  # workers that finish after this search apply the same choice (tuning/_keep.py)
        set_keep_models(result.study, keep_models)
    except Exception as exc:  # the result matters more; those workers then keep their models
        log.warning("tracker: could not record keep_models on the study: %s", exc)
    if keep_models == "pareto":
        release_dominated_models(result, get_store())
    return result
