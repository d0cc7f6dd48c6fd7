"""Which trials' models a search keeps: ``keep_models="pareto"`` or ``"all"``.

When a search ends, the models its trials logged (``tracker.log_model`` in the objective)
are kept for the Pareto trials (and the chosen or closest one) and released for the others:
their records stay, and ``tracker gc`` may collect their bytes.

Trials run by ``tracker worker`` processes (or by an executor's processes) are trials of
the same study. ``tracker.optimize`` releases over every finished trial of the study when
it returns, and records its choice on the study (user attr :data:`KEEP_KEY`), so a worker
that finishes *after* it applies the same choice to the whole study at its own end. A
study whose creator recorded no choice (``create_search`` without :func:`set_keep_models`)
keeps every model: a worker never releases what the search's owner may want.

Releasing is monotone, so it is safe from any participant at any time: a trial off the
front is dominated for good (later trials only add to the front's dominance), and the
closest trial can only be replaced by a closer one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import optuna

from tracker.exceptions import ValidationError
from tracker.records import MODEL_KIND
from tracker.store import BaseStore
from tracker.tuning._records import SPEC_KEY, SearchSpec, TrialRecord
from tracker.tuning._result import SearchResult, build_result

__all__ = [
    "KEEP_KEY",
    "KEEP_MODELS",
    "check_keep_models",
    "release_dominated_models",
    "release_for_study",
    "set_keep_models",
]

log = logging.getLogger("tracker")

KEEP_MODELS = ("pareto", "all")
#: The study user attr holding the search's choice, read by every participant.
KEEP_KEY = "tracker.keep_models"


def check_keep_models(keep: object) -> str:
    """``keep`` if it is one of :data:`KEEP_MODELS`.

    Raises:
        ValidationError: anything else.
    """
    if not isinstance(keep, str) or keep not in KEEP_MODELS:
        raise ValidationError(f"keep_models must be 'pareto' or 'all', not {keep!r:.40}")
    return keep


def set_keep_models(study: optuna.Study, keep: str) -> None:
    """Record which models the study's participants keep (``tracker worker`` reads it).

    ``tracker.optimize`` records its own ``keep_models``; call this after
    ``create_search`` when only workers run the trials.

    Raises:
        ValidationError: ``keep`` is not ``"pareto"`` or ``"all"``.
    """
    study.set_user_attr(KEEP_KEY, check_keep_models(keep))


def release_dominated_models(result: SearchResult, store: BaseStore) -> int:
    """Release the models of ``result``'s trials off the Pareto front; how many were released.

    Kept: the front, this search's chosen or closest trial, and the chosen or closest
    trial every earlier search of the same study recorded (a resumed study's new trials
    can push an earlier pick off the front, and that search's result still names it).

    Never raises: the search has finished and its records are written; a store that cannot
    be reached now only leaves the models kept (a warning says so).
    """
    try:
        attrs = result.study.user_attrs
    except Exception as exc:  # the study's database is down: keep everything
        log.warning("tracker: could not read the study's earlier searches: %s", exc)
        return 0
    picks = _picks_of_searches(attrs, result.search_run_id, store)
    if picks is None:
        return 0
    return _release_off_front(result, picks, store)


def _picks_of_searches(
    attrs: dict[str, object], search_run_id: str, store: BaseStore
) -> set[object] | None:
    """The chosen and closest trial runs every search of the study recorded on its run.

    ``None`` when a search run cannot be read now: then nothing may be released.
    """
    spec = attrs.get(SPEC_KEY)
    earlier = spec.get("search_runs", []) if isinstance(spec, dict) else []
    picks: set[object] = set()
    for run_id in {search_run_id, *earlier}:
        try:
            run_attrs = store.get_run(run_id, with_cells=False).attrs
        except Exception:  # a search run that cannot be read now: keep every model
            return None
        picks |= {run_attrs.get("chosen"), run_attrs.get("closest")}
    return picks


def _release_off_front(result: SearchResult, picks: set[object], store: BaseStore) -> int:
    keep = {t.run_id for t in result.pareto} | picks
    keep |= {t.run_id for t in (result.chosen, result.closest) if t is not None}
    others = [t.run_id for t in result.trials if t.run_id and t.run_id not in keep]
    if not others:
        return 0
    try:
        return store.release_artifacts(others, kind=MODEL_KIND)
    except Exception as exc:  # the search's result matters more than the disk
        log.warning("tracker: could not release the models of dominated trials: %s", exc)
        return 0


def release_for_study(
    study: optuna.Study, spec: SearchSpec, records: Sequence[TrialRecord], store: BaseStore
) -> int:
    """A participant's end: apply the study's recorded choice to its finished trials.

    ``records`` are the study's trials as :meth:`Search.finish` reconciled them. Without a
    recorded choice nothing is released (see the module docstring). The chosen or closest
    trial each search of the study recorded on its run is kept too; if a search run cannot
    be read, nothing is released.
    """
    try:
        attrs = study.user_attrs  # read now: the search may have ended since
    except Exception as exc:  # the study's database is down: keep everything
        log.warning("tracker: could not read the study's keep_models: %s", exc)
        return 0
    if attrs.get(KEEP_KEY) != "pareto":
        return 0
    picks = _picks_of_searches(attrs, spec.search_run_id, store)
    if picks is None:
        return 0
    # Every search of the study keeps its own pick (chosen, closest), even if trials that
    # finished since moved it off the front.
    return _release_off_front(build_result(study, spec, {}, records, {}), picks, store)
