"""Parameter importance per objective, computed with Optuna's own evaluators at a search's end.

The panel shows which params matter for each objective. The server may not import Optuna
(the import-linter contract), so the search computes the figures when it finishes (a
resumed search recomputes them over the whole study) and stores them on the search run as
``attrs["search"]["importance"]`` (docs/records.md); the server only reads them.

Optuna's public :func:`optuna.importance.get_param_importances` does the work with
PED-ANOVA (:class:`~optuna.importance.PedAnovaImportanceEvaluator`, fast and Optuna's
default), falling back to fANOVA or mean decrease in impurity on an Optuna without it.
Each objective is its own target over the completed trials, feasible or not (importance
says which params move the objective; the constraints are shown beside it in the panel).
Below :data:`MIN_COMPLETE` completed trials nothing is computed: the figures would be
noise. Nothing here ever fails a search: any error becomes the record's ``reason``.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    # Imported when a search ends, not with the tuning package: optuna.importance loads
    # scikit-learn (fANOVA's forests), and with it joblib, loky and cloudpickle, which a
    # search that never computes importances should not pay for.
    from optuna.importance import BaseImportanceEvaluator

__all__ = ["MIN_COMPLETE", "param_importance"]

log = logging.getLogger(__name__)

#: Completed trials needed before importances are computed (fewer give noise, not a signal).
MIN_COMPLETE = 5


def _evaluator() -> BaseImportanceEvaluator:
    """PED-ANOVA when this Optuna has it, else fANOVA, else mean decrease in impurity."""
    import optuna.importance as imp

    for name in (
        "PedAnovaImportanceEvaluator",
        "FanovaImportanceEvaluator",
        "MeanDecreaseImpurityImportanceEvaluator",
    ):
        cls = getattr(imp, name, None)
        if cls is not None:
            made: BaseImportanceEvaluator = cls()
            return made
    raise RuntimeError("this Optuna has no parameter importance evaluator")


def _target(index: int, maximize: bool) -> Callable[[FrozenTrial], float]:
    # PED-ANOVA ranks low targets as good, so a maximised objective is negated; the other
    # evaluators measure variance, where the sign makes no difference.
    sign = -1.0 if maximize else 1.0

    def target(t: FrozenTrial) -> float:
        values = t.values
        if values is None or index >= len(values):
            return math.nan  # Optuna leaves non-finite targets out
        return sign * float(values[index])

    return target


def param_importance(study: optuna.Study, objectives: Mapping[str, str]) -> dict[str, Any]:
    """The importance of each param for each objective, as stored on the search run.

    Args:
        study: The search's study (every trial of it, other workers' and earlier runs' too).
        objectives: Objective name to ``"maximize"``/``"minimize"``, in the study's order.

    Returns:
        ``{"method", "n_complete", "objectives": {objective: {param: importance}},
        "reason"}``: importances are normalised to sum to 1 per objective, largest first;
        ``objectives`` is empty and ``reason`` says why when nothing was computed.
    """
    out: dict[str, Any] = {"method": None, "n_complete": 0, "objectives": {}, "reason": None}
    try:
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        out["n_complete"] = len(complete)
        if len(complete) < MIN_COMPLETE:
            out["reason"] = (
                f"{len(complete)} completed trial(s); importance needs at least {MIN_COMPLETE}"
            )
            return out
        if not any(t.params for t in complete):
            out["reason"] = "the trials have no params"
            return out
        evaluator = _evaluator()
        out["method"] = type(evaluator).__name__
        for i, (name, direction) in enumerate(objectives.items()):
            with warnings.catch_warnings():
                # Optuna warns that low targets are taken as good (we negate for that) and
                # when few trials make the figures equal; neither is the user's to act on.
                warnings.simplefilter("ignore")
                raw = optuna.importance.get_param_importances(
                    study, evaluator=evaluator, target=_target(i, direction == "maximize")
                )
            out["objectives"][name] = {
                str(k): float(v) if math.isfinite(float(v)) else 0.0 for k, v in raw.items()
            }
    except Exception as exc:  # never fail a finished search over a chart
        log.warning("tracker: could not compute parameter importance: %s", exc)
        out["objectives"] = {}
        out["reason"] = f"importance failed: {type(exc).__name__}: {exc}"[:500]
    return out
