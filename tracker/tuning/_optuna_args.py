"""Optuna's arguments to ``optimize``, resolved and checked together before the first trial.

``optimize`` takes Optuna's words with their Optuna meaning (``direction(s)``,
``metric_names``, ``study``, ``storage``, ``pruner``, ``catch``, ``callbacks``,
``gc_after_trial``); this module turns them into the tracker's settings and refuses what is
ambiguous together (docs/optimize.md, "Coming from Optuna"): objectives given twice, a
sampler with its own ``constraints_func`` next to ``constraints=``, an Optuna pruner on
several objectives, ``catch=`` with an executor, an objective annotated ``-> float`` with
several directions, a ``study=`` with another name or storage. Each error says what to do.
"""

from __future__ import annotations

import contextlib
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.pruners import BasePruner, NopPruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage

from tracker.config import StoreURL
from tracker.exceptions import ConfigError, ValidationError
from tracker.run import get_store
from tracker.tuning._arguments import Arguments, check_arguments
from tracker.tuning._optuna_compat import constraints_func_of, study_storage
from tracker.tuning._pruning import ParetoPruner
from tracker.tuning._records import SPEC_KEY

__all__ = ["Call", "resolve_call"]


@dataclass(frozen=True, slots=True)
class Call:
    """``optimize``'s arguments once resolved.

    Attributes:
        args: The checked arguments.
        sampler: ``"auto"``, a name, or a sampler (the ``study=``'s own when not given).
        study_name: The study's name (``study=``'s, or as given).
        storage: Where the study lives (``None``: the tracker's database).
    """

    args: Arguments
    sampler: str | BaseSampler
    study_name: str | None
    storage: BaseStorage | None


def resolve_call(
    objective: Callable[..., Any], n_trials: object, timeout: object, **kw: Any
) -> Call:
    """Check ``optimize``'s arguments (its keywords in ``kw``); see the module docstring.

    Raises:
        ValidationError: the first bad or ambiguous argument, with the fix.
        ConfigError: a ``storage=`` URL that cannot be opened.
    """
    study, study_name, storage = kw["study"], kw["study_name"], kw["storage"]
    objectives, direction = kw["objectives"], kw["direction"]
    directions, metric_names, sampler = kw["directions"], kw["metric_names"], kw["sampler"]
    if study is not None:
        study_name, storage = _check_study(study, study_name, storage)
        if objectives is None and direction is None and directions is None:
            objectives, direction, directions, metric_names = _goal_of(study)
        sampler = study.sampler if sampler is None else sampler
    sampler = "auto" if sampler is None else sampler
    args = check_arguments(
        objective,
        n_trials,
        timeout,
        objectives=objectives,
        constraints=kw["constraints"],
        n_jobs=kw["n_jobs"],
        seed=kw["seed"],
        test=kw["test"],
        space=kw["space"],
        reference_point=kw["reference_point"],
        data=kw["data"],
        recheck_repeats=kw["recheck_repeats"],
        show_progress=kw["show_progress"],
        progress=kw["progress"],
        direction=direction,
        directions=directions,
        metric_names=metric_names,
        catch=kw["catch"],
        callbacks=kw["callbacks"],
        gc_after_trial=kw["gc_after_trial"],
    )
    _check_combinations(args, objective, sampler, kw["pruner"], kw["executor"], kw["catch"])
    st = storage if study is not None else _check_storage(storage)
    return Call(args, sampler, study_name, st)


def _check_study(study: object, study_name: str | None, storage: object) -> tuple[str, BaseStorage]:
    """``study=``: an Optuna study, not given together with another name or storage."""
    if not isinstance(study, optuna.Study):
        raise ValidationError(
            f"study must be an optuna.Study (optuna.create_study(...) or optuna.load_study("
            f"...)), not {type(study).__name__}; to resume by name use study_name="
        )
    if study_name is not None and study_name != study.study_name:
        raise ValidationError(
            f"study= is {study.study_name!r} but study_name={study_name!r}; give one of them"
        )
    if storage is not None:
        raise ValidationError(
            "study= already lives in its storage; leave storage= out (or pass study_name= "
            "and storage= instead of study=)"
        )
    try:
        return study.study_name, study_storage(study)
    except RuntimeError as exc:
        raise ValidationError(str(exc)) from None


def _goal_of(study: optuna.Study) -> tuple[Any, Any, Any, Any]:
    """``(objectives, direction, directions, metric_names)`` of a study to continue."""
    spec = study.user_attrs.get(SPEC_KEY)
    if spec:
        objs = dict(spec["objectives"])
        if spec.get("returns", "dict") == "dict":
            return objs, None, None, None
        dirs = list(objs.values())
        names: list[str] | None = list(objs)
    else:
        dirs = [d.name.lower() for d in study.directions]
        names = list(study.metric_names) if study.metric_names else None
    if len(dirs) == 1:
        return None, dirs[0], None, names
    return None, None, dirs, names


def _check_storage(storage: object) -> BaseStorage | None:
    """Optuna's ``storage=``: a URL or a storage (``None``: the tracker's database)."""
    if storage is None or isinstance(storage, BaseStorage):
        return storage
    if isinstance(storage, str):
        store_url = get_store().url
        with contextlib.suppress(Exception):
            if StoreURL.parse(storage).redacted() == store_url.redacted():
                return None  # the tracker's own database: its tuned storage
        try:
            return optuna.storages.get_storage(storage)
        except Exception as exc:
            raise ConfigError(f"storage={storage!r:.80} cannot be opened: {exc}") from None
    raise ValidationError(
        "storage must be a database URL (e.g. 'sqlite:///optuna.db') or an optuna storage, "
        f"not {type(storage).__name__}; leave it out to keep the study in the tracker's database"
    )


def _check_combinations(
    args: Arguments,
    objective: object,
    sampler: str | BaseSampler,
    pruner: object,
    executor: object | None,
    catch: object,
) -> None:
    """Refuse what is ambiguous together, before the first trial (each with the fix)."""
    own = isinstance(sampler, BaseSampler) and constraints_func_of(sampler) is not None
    if own and args.constraints:
        raise ValidationError(
            f"the sampler {type(sampler).__name__} has its own constraints_func and "
            "constraints= is given too: feasibility would be judged twice, differently. "
            "Keep one: drop constraints_func from the sampler (the tracker hands every "
            "sampler the constraints= values; Optuna 5 deprecates constraints_func), or "
            "drop constraints="
        )
    if pruner is not None:
        if not isinstance(pruner, BasePruner):
            raise ValidationError(
                f"pruner must be an optuna pruner (e.g. optuna.pruners.MedianPruner()), "
                f"not {type(pruner).__name__}"
            )
        if len(args.objectives) > 1 and not isinstance(pruner, ParetoPruner | NopPruner):
            raise ValidationError(
                f"Optuna's pruners compare one objective; this search has "
                f"{len(args.objectives)}. Leave pruner= out: tracker.report(trial, values, "
                "step) prunes multi-objective trials by dominance (docs/optimize.md, 'Pruning'); "
                "tracker.tuning.ParetoPruner(...) sets its parameters, NopPruner turns it off"
            )
    if executor is not None and catch is not None:
        raise ValidationError(
            "catch= with executor=: trials on the workers always fail alone and the search "
            "goes on; leave catch= out (or run without executor=)"
        )
    _check_annotation(objective, args)


def _check_annotation(objective: object, args: Arguments) -> None:
    """An objective annotated ``-> float`` with several directions cannot work: say so now."""
    if args.returns != "values" or len(args.objectives) < 2:
        return
    try:
        hint = typing.get_type_hints(objective).get("return")
    except Exception:  # unresolvable annotations: the first trial tells
        return
    if hint in (float, int):
        raise ValidationError(
            f"the objective is annotated to return {hint.__name__}, but directions= has "
            f"{len(args.objectives)} entries: return one value per direction (a tuple), or "
            "use direction= for a single objective"
        )
