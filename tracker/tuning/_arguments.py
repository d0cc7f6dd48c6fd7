"""``optimize``'s arguments, checked before anything runs or is recorded.

Every check raises a :class:`~tracker.exceptions.ValidationError` that names the argument
and shows a correct form, so bad input costs nothing: no study, no run, no trial.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optuna.distributions import BaseDistribution

from tracker.exceptions import ValidationError
from tracker.tuning._constraints import Constraint, parse_constraints
from tracker.tuning._progress import ProgressReporter, TextProgress

__all__ = [
    "DIRECTIONS",
    "Arguments",
    "Goal",
    "check_arguments",
    "check_goal",
    "check_int",
    "check_objectives",
    "check_reference",
]

DIRECTIONS = ("maximize", "minimize")


def check_objectives(objectives: object) -> dict[str, str]:
    """``objectives`` as metric name -> ``"maximize"``/``"minimize"`` (lower-cased)."""
    example = "e.g. objectives={'accuracy': 'maximize', 'latency_p95_ms': 'minimize'}"
    if objectives is None:
        raise ValidationError(
            f"objectives= is required: metric name -> direction, {example}; or, as in Optuna, "
            "direction='maximize' (the objective returns a number) or directions=[...]"
        )
    if isinstance(objectives, str):
        raise ValidationError(
            f"objectives must map metric names to 'maximize' or 'minimize', {example}"
        )
    if not isinstance(objectives, Mapping) or not objectives:
        raise ValidationError(f"objectives must be a non-empty dict, {example}")
    out: dict[str, str] = {}
    for name, direction in objectives.items():
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(f"objective names must be non-empty strings, got {name!r}")
        d = str(direction).strip().lower() if isinstance(direction, str) else direction
        if d not in DIRECTIONS:
            raise ValidationError(
                f"unknown direction {direction!r} for objective {name!r}; "
                "use 'maximize' or 'minimize'"
            )
        out[name] = str(d)
    return out


@dataclass(frozen=True, slots=True)
class Goal:
    """What a search optimises, and how the objective hands it over.

    Attributes:
        objectives: Metric name to ``"maximize"``/``"minimize"``, in order.
        returns: ``"dict"`` (``objectives=``: the objective returns a dict of metrics) or
            ``"values"`` (Optuna's ``direction=``/``directions=``: it returns a number or
            a sequence of numbers, one per direction, named by ``metric_names``).
    """

    objectives: dict[str, str]
    returns: str = "dict"


def _direction(d: object, where: str) -> str:
    # An optuna.study.StudyDirection has a .name ("MINIMIZE"); Optuna also takes strings.
    name = getattr(d, "name", d)
    text = name.strip().lower() if isinstance(name, str) else name
    if text not in DIRECTIONS:
        raise ValidationError(f"{where}: unknown direction {d!r}; use 'maximize' or 'minimize'")
    return str(text)


def check_goal(
    objectives: object,
    direction: object = None,
    directions: object = None,
    metric_names: object = None,
) -> Goal:
    """The search's goal from ``objectives=``, or from Optuna's ``direction(s)=``.

    Exactly one way must be used: ``objectives={"accuracy": "maximize"}`` (the objective
    returns a dict), or ``direction="maximize"`` / ``directions=[...]`` (it returns a
    number or a sequence, as in Optuna), optionally with ``metric_names=[...]`` (default
    names: ``value`` for one objective, ``values_0``, ``values_1``, ... for several, as
    in Optuna's ``trials_dataframe``).

    Raises:
        ValidationError: both ways at once, ``direction`` with ``directions``, names
            whose count does not match, or none of them.
    """
    optuna_style = direction is not None or directions is not None
    if objectives is not None and optuna_style:
        raise ValidationError(
            "give either objectives= (a dict of metric -> direction; the objective returns a "
            "dict) or Optuna's direction=/directions= (the objective returns a number or a "
            "sequence), not both"
        )
    if not optuna_style:
        if metric_names is not None:
            raise ValidationError(
                "metric_names= names the values of direction=/directions=; with objectives= "
                "the dict's keys are the names already"
            )
        return Goal(check_objectives(objectives), "dict")
    if direction is not None and directions is not None:
        raise ValidationError("give direction= (one objective) or directions= (several), not both")
    if direction is not None:
        dirs = [_direction(direction, "direction")]
    else:
        if isinstance(directions, str) or not isinstance(directions, Sequence) or not directions:
            raise ValidationError(
                "directions must be a non-empty list, e.g. directions=['maximize', 'minimize']"
            )
        dirs = [_direction(d, f"directions[{i}]") for i, d in enumerate(directions)]
    if metric_names is None:
        names = ["value"] if direction is not None else [f"values_{i}" for i in range(len(dirs))]
    else:
        if isinstance(metric_names, str) or not isinstance(metric_names, Sequence):
            raise ValidationError(
                f"metric_names must be a list of {len(dirs)} name(s), e.g. "
                "metric_names=['accuracy', 'latency_p95_ms']"
            )
        names = list(metric_names)
        if len(names) != len(dirs):
            raise ValidationError(
                f"metric_names has {len(names)} name(s) for {len(dirs)} direction(s); "
                "give one name per direction"
            )
        bad = [n for n in names if not isinstance(n, str) or not n.strip()]
        if bad or len(set(names)) != len(names):
            raise ValidationError(f"metric_names must be distinct non-empty strings, got {names!r}")
    return Goal(dict(zip(names, dirs, strict=True)), "values")


def _check_space(space: object) -> dict[str, BaseDistribution] | None:
    if space is None:
        return None
    if not isinstance(space, Mapping):
        raise ValidationError(
            "space must be a dict of parameter name -> optuna distribution, e.g. "
            "{'C': optuna.distributions.FloatDistribution(1e-3, 1e3, log=True)}"
        )
    if not space:
        raise ValidationError(
            "the search space is empty: give space= at least one parameter, or leave it out "
            "and call trial.suggest_* in the objective"
        )
    for k, v in space.items():
        if not isinstance(v, BaseDistribution):
            raise ValidationError(
                f"space[{k!r}] must be an optuna distribution (FloatDistribution, "
                f"IntDistribution, CategoricalDistribution), not {type(v).__name__}"
            )
    return dict(space)


def check_int(name: str, value: object, low: int, allow_none: bool = True) -> int | None:
    """``value`` as an integer >= ``low`` (or ``None`` when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValidationError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _check_timeout(timeout: object) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValidationError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def check_reference(
    reference_point: Mapping[str, float] | None, objectives: Mapping[str, str]
) -> list[float] | None:
    """The hypervolume reference as losses, one per objective (maximised ones negated)."""
    if reference_point is None:
        return None
    missing = [n for n in objectives if n not in reference_point]
    extra = [n for n in reference_point if n not in objectives]
    if missing or extra:
        raise ValidationError(
            f"reference_point must give one value per objective ({', '.join(objectives)}); "
            f"missing {missing}, unknown {extra}"
        )
    return [
        -float(reference_point[n]) if d == "maximize" else float(reference_point[n])
        for n, d in objectives.items()
    ]


@dataclass(frozen=True, slots=True)
class Arguments:
    """What ``optimize`` runs with, once checked."""

    objectives: dict[str, str]
    constraints: list[Constraint]
    n_trials: int | None
    timeout: float | None
    n_jobs: int
    space: dict[str, BaseDistribution] | None
    reporters: list[ProgressReporter]
    data: dict[str, object]
    returns: str = "dict"
    catch: tuple[type[Exception], ...] = (Exception,)
    callbacks: tuple[Callable[[Any, Any], None], ...] = ()
    gc_after_trial: bool = False


def _check_catch(catch: object) -> tuple[type[Exception], ...]:
    """Optuna's ``catch=``: an exception class or an iterable of them (``None``: any Exception)."""
    if catch is None:
        return (Exception,)
    items = (catch,) if isinstance(catch, type) else catch
    if not isinstance(items, Iterable) or isinstance(items, str | bytes):
        raise ValidationError(
            f"catch must be an exception class or a tuple of them, e.g. catch=(ValueError,), "
            f"not {type(catch).__name__}"
        )
    out = tuple(items)
    for c in out:
        if not (isinstance(c, type) and issubclass(c, Exception)):
            raise ValidationError(f"catch: {c!r} is not an Exception class")
    return out


def _check_callbacks(callbacks: object) -> tuple[Callable[[Any, Any], None], ...]:
    if callbacks is None:
        return ()
    if callable(callbacks) or not isinstance(callbacks, Iterable):
        raise ValidationError(
            "callbacks must be a list of callables taking (study, frozen_trial), "
            "e.g. callbacks=[my_callback]"
        )
    out = tuple(callbacks)
    for i, c in enumerate(out):
        if not callable(c):
            raise ValidationError(f"callbacks[{i}] is not callable: {c!r:.60}")
    return out


def check_arguments(
    objective: object,
    n_trials: object,
    timeout: object,
    *,
    objectives: object,
    constraints: Sequence[str | Constraint] | str | None,
    n_jobs: object,
    direction: object = None,
    directions: object = None,
    metric_names: object = None,
    catch: object = None,
    callbacks: object = None,
    gc_after_trial: object = False,
    seed: object,
    test: object,
    space: object,
    reference_point: Mapping[str, float] | None,
    data: object,
    recheck_repeats: object,
    show_progress: bool,
    progress: ProgressReporter | Sequence[ProgressReporter] | None,
) -> Arguments:
    """Check every argument of ``optimize`` (documented there).

    Raises:
        ValidationError: the first bad argument, with a correct form.
    """
    if not callable(objective):
        raise ValidationError(f"objective must be callable, not {type(objective).__name__}")
    goal = check_goal(objectives, direction, directions, metric_names)
    objs = goal.objectives
    cons = parse_constraints(constraints)
    n = check_int("n_trials", n_trials, 1)
    t_out = _check_timeout(timeout)
    if n is None and t_out is None:
        raise ValidationError(
            "give n_trials= or timeout= (or both): a search needs a budget to stop"
        )
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or (n_jobs < 1 and n_jobs != -1):
        raise ValidationError(f"n_jobs must be a positive integer or -1, got {n_jobs!r}")
    jobs = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
    check_int("seed", seed, 0)
    if test is not None and not callable(test):
        raise ValidationError(f"test must be callable, not {type(test).__name__}")
    sp = _check_space(space)
    check_int("recheck_repeats", recheck_repeats, 20, allow_none=False)
    check_reference(reference_point, objs)
    if data is not None and not isinstance(data, Mapping):
        raise ValidationError("data must be a dict of name -> array, frame or path")
    reporters: list[ProgressReporter] = []
    if progress is not None:
        reporters.extend([progress] if callable(progress) else list(progress))
    elif show_progress:
        reporters.append(TextProgress())
    if not isinstance(gc_after_trial, bool):
        raise ValidationError(f"gc_after_trial must be True or False, got {gc_after_trial!r}")
    return Arguments(
        objs,
        cons,
        n,
        t_out,
        jobs,
        sp,
        reporters,
        dict(data or {}),
        returns=goal.returns,
        catch=_check_catch(catch),
        callbacks=_check_callbacks(callbacks),
        gc_after_trial=gc_after_trial,
    )
