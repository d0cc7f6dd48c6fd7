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

from tracker.exceptions import ValidationError
from tracker.records import MODEL_KIND
from tracker.store import get_store
from tracker.tuning import SearchResult, report
from tracker.tuning import optimize as _optimize

__all__ = ["in_notebook", "optimize", "release_dominated_models", "report"]

log = logging.getLogger("tracker")


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel that can display widgets."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get is not None else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


KEEP_MODELS = ("pareto", "all")


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
    """
    if keep_models not in KEEP_MODELS:
        raise ValidationError(f"keep_models must be 'pareto' or 'all', not {keep_models!r:.40}")
    if kwargs.get("progress") is None and kwargs.get("show_progress", True) and in_notebook():
        try:
            from tracker.widgets._progress import SearchProgressWidget

            kwargs["progress"] = SearchProgressWidget()
        except Exception:  # no widget support in this front end: plain text instead
            kwargs.pop("progress", None)
    result = _optimize(*args, **kwargs)
    if keep_models == "pareto":
        release_dominated_models(result)
    return result


def release_dominated_models(result: SearchResult) -> int:
    """Release the models of trials off the Pareto front (see :func:`optimize`).

    Never raises: the search has finished and its records are written; a store that cannot
    be reached now only leaves the models kept (a warning says so).
    """
    keep = {t.run_id for t in result.pareto}
    keep |= {t.run_id for t in (result.chosen, result.closest) if t is not None}
    others = [t.run_id for t in result.trials if t.run_id and t.run_id not in keep]
    if not others:
        return 0
    try:
        return get_store().release_artifacts(others, kind=MODEL_KIND)
    except Exception as exc:  # the search's result matters more than the disk
        log.warning("tracker: could not release the models of dominated trials: %s", exc)
        return 0
