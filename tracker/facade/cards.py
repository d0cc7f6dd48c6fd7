"""``tracker.model_card`` and ``tracker.evaluate_slices``: cards from a notebook.

:mod:`tracker.cards` must not import :mod:`tracker.run` (the server imports the cards
package, and the server never loads the run API), so what needs the *active run* lives
here, above it: this module resolves runs and the process's store, then calls
:mod:`tracker.cards`. The server never imports this module (import-linter checks it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tracker.cards import ModelCard, SliceMetric, SliceReport, build_card
from tracker.cards import evaluate_slices as _evaluate_slices
from tracker.exceptions import NoActiveRunError, ValidationError
from tracker.records import Run
from tracker.run import ActiveRun, active_run
from tracker.store import BaseStore, get_store

__all__ = ["evaluate_slices", "model_card"]


def model_card(
    run_or_search: object,
    *,
    from_file: str | os.PathLike[str] | None = None,
    include_source: bool = False,
    **human_sections: str,
) -> ModelCard:
    """Build the model card of a run, a search (its chosen model) or a trial.

    Example::

        card = tracker.model_card(result, intended_use="Sorting scanned digits")
        card.save("card.html")

    Args:
        run_or_search: A search result, an active or stored run, a run id (or prefix),
            or a registered version (``"models:/name@champion"``, ``"models:/name/3"``, a
            ``ModelVersion``): its run's card with the registered model's digests, input
            schema and registry history.
        from_file: An edited ``.md`` or ``.json`` card of the same run, whose human
            sections are kept.
        include_source: Put the lineage cells' source code in the card.
        **human_sections: Section key (``tracker.cards.SECTION_KEYS``) to Markdown text;
            stored on the run so regenerating keeps them.

    Returns:
        The :class:`~tracker.cards.ModelCard` (``to_markdown``, ``to_html``, ``to_json``,
        ``save``).
    """
    store = run_or_search.store if isinstance(run_or_search, ActiveRun) else get_store()
    return build_card(
        run_or_search,
        store=store,
        from_file=from_file,
        include_source=include_source,
        sections=human_sections,
    )


def _target(run: object, log: bool) -> tuple[str | None, BaseStore | None]:
    if not log:
        return None, None
    if run is None:
        current = active_run()
        if current is None:
            raise NoActiveRunError("evaluate_slices")
        return current.id, current.store
    if isinstance(run, ActiveRun):
        return run.id, run.store
    if isinstance(run, Run):
        return run.id, get_store()
    if isinstance(run, str) and run:
        return run, get_store()
    rid = getattr(run, "run_id", None) or getattr(run, "id", None)
    if isinstance(rid, str) and rid:
        return rid, get_store()
    raise ValidationError(f"run must be a run, a run id or None, not {type(run).__name__}")


def evaluate_slices(
    model: object,
    X: object,
    y: object,
    *,
    by: object,
    metrics: Sequence[str | SliceMetric | Callable[..., float]]
    | Mapping[str, Callable[..., float]]
    | None = None,
    run: object = None,
    log: bool = True,
    y_pred: object = None,
    **options: Any,
) -> SliceReport:
    """Metrics per slice, with counts and bootstrap 95% intervals, logged to a run.

    Example::

        report = tracker.evaluate_slices(model, X_test, y_test, by="region",
                                         metrics=["accuracy", "f1_macro"])
        report.worse        # [(slice, metric), ...] worse than overall beyond the interval

    Args:
        model: A fitted model (``predict``; ``predict_proba`` for score metrics).
        X: Features (a DataFrame when ``by`` names a column).
        y: True labels or values.
        by: Column name(s) of ``X``, or the group of each row (array or Series).
        metrics: Built-in names (``accuracy``, ``f1``, ``f1_macro``, ``roc_auc``,
            ``rmse``...), functions ``fn(y_true, y_pred)``, or ``SliceMetric`` objects.
        run: Log to this run (default: the active run).
        log: ``False`` computes without logging.
        y_pred: Precomputed predictions.
        **options: ``n_boot`` (1000), ``confidence`` (0.95), ``seed`` (0),
            ``min_count`` (30), ``bins``, ``by_name``, ``max_slices``.

    Returns:
        The :class:`~tracker.cards.SliceReport` (``to_frame()``, ``worse``, ``too_small``).

    Raises:
        NoActiveRunError: ``log`` is on, ``run`` is not given and no run is active.
        ValidationError: bad arguments (nothing is computed or logged then).
    """
    run_id, store = _target(run, log)
    return _evaluate_slices(
        model, X, y, by=by, metrics=metrics, run_id=run_id, store=store, y_pred=y_pred, **options
    )
