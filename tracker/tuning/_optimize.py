"""``optimize``: constrained multi-metric search on Optuna, recorded as tracker runs.

See docs/optimize.md for the user guide. The shape of one call:

1. Check every argument (:mod:`~tracker.tuning._arguments`; nothing runs, nothing is
   recorded, on bad input).
2. Create or resume the Optuna study in the tracker's own database (same URL,
   :mod:`~tracker.tuning._storage`).
3. Start the search run (a child of the active run) and record its settings.
4. Run the trials (:class:`~tracker.tuning._search.Search`), each a tracked child run.
5. Reconcile every trial of the study, re-check the Pareto trials on test data
   (:mod:`~tracker.tuning._recheck`), and choose (:func:`~tracker.tuning._result.choose`):
   never a trial that broke a constraint on test.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, Trial, TrialState

from tracker.config import StoreURL
from tracker.exceptions import ValidationError
from tracker.records import DataRef, RunKind, RunStatus
from tracker.run import ActiveRun, get_store, start_run
from tracker.tuning._arguments import (
    Arguments,
    check_int,
    check_objectives,
    check_reference,
)
from tracker.tuning._constraints import Constraint, parse_constraints
from tracker.tuning._executor import ExecutorPlan, prepare_executor
from tracker.tuning._importance import param_importance
from tracker.tuning._optuna_args import resolve_call
from tracker.tuning._optuna_compat import held_back_failures, study_storage
from tracker.tuning._policy import SamplerChoice, check_trial_seconds
from tracker.tuning._progress import ProgressReporter
from tracker.tuning._recheck import recheck
from tracker.tuning._records import SPEC_KEY, SearchSpec
from tracker.tuning._result import SearchResult, build_result
from tracker.tuning._samplers import describe_distribution, make_sampler
from tracker.tuning._search import Search
from tracker.tuning._storage import open_storage, quiet_optuna, study_exists

__all__ = ["RECHECK_REPEATS", "create_search", "open_storage", "optimize"]

log = logging.getLogger("tracker")

RECHECK_REPEATS = 1000


# --- creating or joining a search ------------------------------------------------------------


def create_search(
    *,
    objectives: Mapping[str, str],
    constraints: Sequence[str | Constraint] | str | None = None,
    study_name: str | None = None,
    n_trials: int | None = None,
    seed: int | None = None,
    sampler: str = "auto",
    reference_point: Mapping[str, float] | None = None,
    parent: ActiveRun | str | None = None,
    storage: BaseStorage | None = None,
    pruner: BasePruner | None = None,
    returns: str = "dict",
    study: optuna.Study | None = None,
) -> tuple[optuna.Study, SearchSpec, ActiveRun]:
    """Create (or resume) a study and its search run without running trials.

    This is what :func:`optimize` does first; call it directly to let ``tracker worker``
    processes do all the trials. The study's trial target is its finished trials so far
    plus ``n_trials``.

    Args:
        objectives: Metric name to direction.
        constraints: Constraint expressions.
        study_name: The study (the same name resumes it).
        n_trials: Trials to add to the study's target.
        seed: Recorded with the settings.
        sampler: The sampler's name (recorded).
        reference_point: Hypervolume reference per objective.
        parent: The search run's parent (default: the active run).
        storage: Where the study lives (default: the tracker's own database).
        pruner: The study's Optuna pruner.
        returns: How the objective returns its metrics (``"dict"`` or ``"values"``).
        study: An existing study to continue (its name and storage are used).

    Returns:
        The study, the shared settings, and the running search run (end it when done).

    Raises:
        ValidationError: bad objectives or constraints, or a resumed study whose
            objectives or constraints differ.
    """
    objs = check_objectives(objectives)
    cons = parse_constraints(constraints)
    ref = check_reference(reference_point, objs)
    n = check_int("n_trials", n_trials, 1)
    if study is not None:
        name = study.study_name
    else:
        name = study_name or f"search-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("study_name must be a non-empty string")
    if storage is None:
        storage = open_storage(get_store().url) if study is None else study_storage(study)
    previous: dict[str, Any] = {}
    done = 0
    if study is not None or study_exists(storage, name):
        old = study if study is not None else optuna.load_study(study_name=name, storage=storage)
        previous = dict(old.user_attrs.get(SPEC_KEY) or {})
        _check_resumable(name, old, previous, objs, cons)
        finished = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
        done = len(old.get_trials(deepcopy=False, states=finished))
    if study is None:
        with quiet_optuna():
            study = optuna.create_study(
                study_name=name,
                storage=storage,
                directions=[optuna.study.StudyDirection[d.upper()] for d in objs.values()],
                load_if_exists=True,
                pruner=pruner,
            )
    elif pruner is not None:
        study.pruner = pruner
    _name_metrics(study, list(objs))
    tags = {"optuna.study_name": name}
    if parent is None:
        run = start_run(name=name, kind=RunKind.SEARCH, tags=tags)
    else:
        run = start_run(name=name, kind=RunKind.SEARCH, tags=tags, parent=parent)
    spec = SearchSpec(
        objectives=objs,
        constraints=cons,
        search_run_id=run.id,
        target_total=None if n is None else done + n,
        reference_point=ref or previous.get("reference_point"),
        seed=seed,
        sampler=sampler if isinstance(sampler, str) else type(sampler).__name__,
        returns=returns,
    )
    attr = spec.to_attr()
    attr["search_runs"] = [*previous.get("search_runs", []), run.id]
    study.set_user_attr(SPEC_KEY, attr)
    return study, spec, run


def _name_metrics(study: optuna.Study, names: list[str]) -> None:
    """Give the study the objectives' names (optuna-dashboard and trials_dataframe show them)."""
    if study.metric_names == names:
        return
    with warnings.catch_warnings(), contextlib.suppress(Exception):
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(names)  # a naming nicety: never a reason to fail a search


def _check_resumable(
    name: str,
    old: optuna.Study,
    previous: Mapping[str, Any],
    objs: Mapping[str, str],
    cons: Sequence[Constraint],
) -> None:
    if previous:
        old_objs = dict(previous.get("objectives", {}))
        old_cons = [c["expr"] for c in previous.get("constraints", [])]
        if old_objs != objs or old_cons != [c.expr for c in cons]:
            raise ValidationError(
                f"study {name!r} already exists with objectives {old_objs} and constraints "
                f"{old_cons}; resume it with the same ones, or choose a new study_name"
            )
    elif [d.name.lower() for d in old.directions] != list(objs.values()):
        raise ValidationError(
            f"study {name!r} already exists with directions "
            f"{[d.name.lower() for d in old.directions]}; choose a new study_name"
        )


def _search_attr(
    spec: SearchSpec,
    store_url: StoreURL,
    study_name: str,
    args: Arguments,
    resumed_from: Sequence[str],
) -> dict[str, Any]:
    return {
        "study_name": study_name,
        "storage": store_url.redacted(),
        "objectives": dict(spec.objectives),
        "constraints": [c.to_dict() for c in spec.constraints],
        "sampler": {"name": spec.sampler, "reason": "chosen after the first trial"},
        "seed": spec.seed,
        "budget": {
            "n_trials": args.n_trials,
            "timeout": args.timeout,
            "target_total": spec.target_total,
        },
        "n_jobs": args.n_jobs,
        "space": {k: describe_distribution(d) for k, d in (args.space or {}).items()},
        "resumed_from": list(resumed_from),
    }


# --- the main entry --------------------------------------------------------------------------


def optimize(
    objective: Callable[[Trial], Any],
    n_trials: int | None = None,
    timeout: float | None = None,
    *,
    objectives: Mapping[str, str] | None = None,
    direction: str | optuna.study.StudyDirection | None = None,
    directions: Sequence[str | optuna.study.StudyDirection] | None = None,
    metric_names: Sequence[str] | None = None,
    constraints: Sequence[str | Constraint] | str | None = None,
    study_name: str | None = None,
    study: optuna.Study | None = None,
    storage: str | BaseStorage | None = None,
    sampler: str | BaseSampler | None = None,
    pruner: BasePruner | None = None,
    n_jobs: int = 1,
    catch: type[Exception] | Sequence[type[Exception]] | None = None,
    callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] | None = None,
    gc_after_trial: bool = False,
    seed: int | None = None,
    test: Callable[[Any], Mapping[str, float]] | None = None,
    show_progress: bool = True,
    progress: ProgressReporter | Sequence[ProgressReporter] | None = None,
    space: Mapping[str, BaseDistribution] | None = None,
    data: Mapping[str, object] | None = None,
    reference_point: Mapping[str, float] | None = None,
    recheck_repeats: int = RECHECK_REPEATS,
    executor: object | None = None,
    trial_seconds: float | None = None,
) -> SearchResult:
    """Search for parameters that optimise several metrics under hard constraints.

    Optuna's objectives run unchanged (docs/optimize.md, "Coming from Optuna"): give
    ``direction=``/``directions=`` instead of ``objectives=`` and return a number or a
    sequence, as with ``optuna.create_study(...).optimize(objective, ...)``.

    Args:
        objective: ``objective(trial)``, ``trial`` an ``optuna.Trial`` (call
            ``trial.suggest_*``). With ``objectives=`` it returns a dict of metric values
            (extra metrics are stored too); with ``direction(s)=`` a number or a sequence.
        n_trials: Trials to run in this call (a resumed study continues from its trials).
        timeout: Stop starting trials after this many seconds.
        objectives: Metric name to ``"maximize"`` or ``"minimize"``.
        direction: Optuna's: one objective, the objective returns a number (named
            ``metric_names[0]``, default ``"value"``).
        directions: Optuna's: several objectives, the objective returns a sequence
            (named by ``metric_names``, default ``"values_0"``, ``"values_1"``...).
        metric_names: Names of the values of ``direction(s)=`` (``Study.set_metric_names``).
        constraints: e.g. ``["latency_p95_ms <= 100", "model_size_mb <= 50"]``: names of
            returned metrics (with ``direction(s)=``: of the values, or of numeric
            ``trial.set_user_attr`` values).
        study_name: The Optuna study; the same name resumes it (default: a new name).
        study: An existing ``optuna.Study`` to continue (its storage, name, directions
            and, unless ``sampler=``/``pruner=`` are given, its sampler and pruner).
        storage: Where the study lives, as in ``optuna.create_study`` (a URL or a
            storage; default: the tracker's own database).
        sampler: ``"auto"`` (the default; chosen from the space and budget, reason
            recorded), a name (``"tpe"``, ``"gp"``, ``"nsga2"``, ``"random"``, ``"qmc"``)
            or an optuna sampler.
        pruner: As in ``optuna.create_study``: an Optuna pruner for one objective
            (``trial.should_prune()`` and :func:`tracker.report` use it; default Optuna's
            ``MedianPruner``); for several objectives a
            :class:`~tracker.tuning.ParetoPruner` (the default) or ``NopPruner``.
        n_jobs: Trials run in parallel threads in this process.
        catch: As in ``Study.optimize``: exceptions that fail only their trial. Default
            (``None``): every ``Exception``; ``catch=()`` stops at the first error.
        callbacks: As in ``Study.optimize``: called with ``(study, frozen_trial)`` after
            each finished trial.
        gc_after_trial: As in ``Study.optimize``: ``gc.collect()`` after each trial.
        seed: Seed of the sampler.
        test: ``test(trial) -> dict`` of metrics on held-out data; called once per Pareto
            trial after the search with an ``optuna.trial.FixedTrial`` holding its params
            (or with the params dict, if its first parameter is named ``params``). Its
            values never reach the sampler. Only a trial that meets every constraint on
            these values can be chosen.
        show_progress: Report progress (plain text here; ``tracker.optimize`` shows a
            widget in notebooks).
        progress: Reporters to call after every trial (see ``tracker.tuning.SearchProgress``).
        space: Parameters suggested before the objective runs (optuna distributions); the
            objective reads them from ``trial.params``.
        data: Name to data (arrays, frames, paths) used by the trials: hashed once and
            recorded on the search run and on every trial run.
        reference_point: Hypervolume reference per objective (default: constraint bounds
            where they bound an objective, else the worst of the first trials plus 10 %).
        recheck_repeats: ``measure_latency`` repeats inside ``test`` (more than in trials).
        executor: Run the trials elsewhere: a Dask ``distributed.Client`` or any
            ``concurrent.futures.Executor`` (``ProcessPoolExecutor``,
            ``client.get_executor()``). Workers in other processes need a PostgreSQL
            store; the objective travels with cloudpickle. The re-check with ``test``
            runs here. See docs/optimize.md, "Scaling out".
        trial_seconds: What one trial costs where the search matters, in seconds, when the
            trials here do not show it (a quick stand-in for a long simulation, or quick
            first trials before slow ones). ``"auto"`` weighs its sampler's cost against
            the larger of this and each trial's measured time (docs/optimize.md,
            "Sampler auto"); other samplers ignore it.

    Returns:
        A :class:`SearchResult` (``best_trial``, ``best_trials``, ``best_params``,
        ``best_value``, ``pareto``, ``chosen``, ``closest`` when nothing met the
        constraints on test, ``outcome``, ``study``, ``trials_frame()``, plots).

    Raises:
        ValidationError: bad or ambiguous arguments (before any trial), a constraint on a
            metric the objective does not return, or a return that does not match the
            directions (after the first trial), an objective that keeps returning
            non-numbers.
        ConfigError: an unsafe or impossible storage setup, or an executor whose workers
            cannot load the objective or reach the store (before any trial).
    """
    # 1. Arguments: every check before anything runs or is recorded.
    # Every parameter by name, as given (first statement: nothing else is local yet).
    call = resolve_call(**locals())
    args, sampler, study_name, st = call.args, call.sampler, call.study_name, call.storage
    trial_s = check_trial_seconds(trial_seconds)
    plan = _prepare(args, objective, sampler, executor, st)
    refs: dict[str, DataRef] = {}
    if args.data:
        from tracker.hashing import hash_data

        refs = {str(k): hash_data(v) for k, v in args.data.items()}

    # 2-3. Study and search run.
    study, spec, run = create_search(
        objectives=args.objectives,
        constraints=args.constraints,
        study_name=study_name,
        n_trials=args.n_trials,
        seed=seed,
        sampler=sampler if isinstance(sampler, str) else type(sampler).__name__,
        reference_point=reference_point,
        storage=st,
        pruner=pruner,
        returns=args.returns,
        study=study,
    )
    try:
        return _run(
            study,
            spec,
            run,
            objective,
            args,
            sampler,
            seed,
            refs,
            test,
            recheck_repeats,
            plan,
            trial_s,
        )
    except KeyboardInterrupt as exc:
        run.end(RunStatus.INTERRUPTED, exc)
        raise
    except BaseException as exc:
        run.end(RunStatus.FAILED, exc)
        raise


def _prepare(
    args: Arguments,
    objective: Callable[[Trial], Any],
    sampler: str | BaseSampler,
    executor: object | None,
    storage: BaseStorage | None,
) -> ExecutorPlan | None:
    """Check the store (and the executor) before anything is recorded."""
    store = get_store()
    if store.url.is_memory:
        open_storage(store.url)  # raises the ConfigError with the fix
    if args.n_jobs > 1 and store.url.kind == "sqlite" and storage is None:
        log.warning(
            "tracker: %d parallel trials on SQLite share one database file; this works in one "
            "process (with a busy timeout) but serialises writes. For parallel or distributed "
            "searches use PostgreSQL: tracker.set_store('postgresql://user@host/db')",
            args.n_jobs,
        )
    if executor is None:
        return None
    plan = prepare_executor(executor, objective, sampler, store.url, args.n_jobs, storage)
    if args.gc_after_trial:
        plan.job = replace(plan.job, gc_after_trial=True)
    return plan


def _record_search(
    study: optuna.Study,
    spec: SearchSpec,
    run: ActiveRun,
    args: Arguments,
    refs: Mapping[str, DataRef],
    trial_seconds: float | None,
) -> dict[str, Any]:
    """Write the search run's ``search`` attribute and data references; returns the attribute."""
    prior = [r for r in study.user_attrs.get(SPEC_KEY, {}).get("search_runs", []) if r != run.id]
    attr = _search_attr(spec, get_store().url, study.study_name, args, prior)
    if trial_seconds is not None:
        attr["budget"]["trial_seconds"] = trial_seconds
    run.set_attrs({"search": attr})
    for name, ref in refs.items():
        run.record_data(name, ref)
    return attr


def _run(
    study: optuna.Study,
    spec: SearchSpec,
    run: ActiveRun,
    objective: Callable[[Trial], Any],
    args: Arguments,
    sampler: str | BaseSampler,
    seed: int | None,
    refs: Mapping[str, DataRef],
    test: Callable[[Any], Mapping[str, float]] | None,
    recheck_repeats: int,
    plan: ExecutorPlan | None = None,
    trial_seconds: float | None = None,
) -> SearchResult:
    """Steps 4-5 of the module docstring, in the search run ``run`` (ended here on success)."""
    store = get_store()
    attr = _record_search(study, spec, run, args, refs, trial_seconds)
    search = Search(
        study,
        spec,
        objective,
        store,
        space=args.space,
        data=refs,
        reporters=args.reporters,
        timeout=args.timeout,
        # With an executor this process runs no trial: the tasks stop at the target.
        shared=store.url.kind == "postgresql" and plan is None,
        catch=args.catch,
        callbacks=args.callbacks,
    )

    def on_choice(choice: SamplerChoice) -> None:
        attr["sampler"] = choice.to_dict()
        search.sampler_choice = choice
        run.set_attrs({"search": attr})

    try:
        study.sampler = make_sampler(
            sampler,
            seed=seed,
            n_objectives=len(args.objectives),
            budget=args.n_trials,
            parallel=args.n_jobs > 1 or plan is not None,
            space=args.space,
            on_choice=on_choice,
            trial_seconds=trial_seconds,
        )
        search.refresh()
        if plan is None:
            search.use_early_booking(args.n_jobs)
        # 4. Trials.
        with search.batched_writes(), quiet_optuna(), held_back_failures():
            if plan is not None:
                plan.run(
                    search, spec, n_trials=args.n_trials, timeout=args.timeout, on_choice=on_choice
                )
            else:
                study.optimize(
                    search.run_trial,
                    n_trials=args.n_trials,
                    timeout=args.timeout,
                    n_jobs=args.n_jobs,
                    catch=args.catch,
                    callbacks=search.optuna_callbacks(),
                    gc_after_trial=args.gc_after_trial,
                    show_progress_bar=False,
                )
        # 5. Reconcile, re-check, choose.
        records = search.finish(report=False)
        if search.fatal is not None:
            raise search.fatal
        checked = recheck(search, test, recheck_repeats) if test is not None else {}
        result = build_result(
            study, spec, attr["sampler"], records, checked, stopped=search.stopped
        )
    except BaseException as exc:
        _finish_quietly(search, run, attr, interrupted=isinstance(exc, KeyboardInterrupt))
        raise
    _conclude(run, search, result, attr)
    return result


def _conclude(run: ActiveRun, search: Search, result: SearchResult, attr: dict[str, Any]) -> None:
    """Record the choice and the importances, give the reporters their final call, end the run."""
    # Which params matter for each objective, for the panel (the server may not import
    # Optuna): over the whole study, so a resumed search refreshes them.
    attr["importance"] = param_importance(search.study, search.spec.objectives)
    run.set_attrs({"search": attr})
    # Hard constraints stay hard: "chosen" only names a trial that qualifies; otherwise
    # the closest is recorded under its own key (docs/records.md), never as the choice.
    if result.chosen is not None and result.chosen.run_id:
        run.set_attrs({"chosen": result.chosen.run_id})
    elif result.closest is not None and result.closest.run_id:
        run.set_attrs({"closest": result.closest.run_id})
    search.report_final(
        rechecked=bool(result.recheck),
        front=[t.summary() for t in result.pareto],
        chosen=result.chosen.summary() if result.chosen else None,
        closest=result.closest.summary() if result.closest else None,
        outcome=result.outcome,
    )
    run.end(RunStatus.FINISHED)


def _record_importance_quietly(run: ActiveRun, search: Search, attr: dict[str, Any]) -> None:
    try:
        attr["importance"] = param_importance(search.study, search.spec.objectives)
        run.set_attrs({"search": attr})
    except Exception as exc:  # never mask the interrupt with the tracker's own failure
        log.warning("tracker: could not record the interrupted search's importances: %s", exc)


def _finish_quietly(
    search: Search, run: ActiveRun, attr: dict[str, Any], *, interrupted: bool
) -> None:
    try:
        search.finish()
    except Exception as exc:
        log.warning("tracker: could not write the final search records: %s", exc)
    if interrupted:
        # A search stopped by hand is often the longest one: its trials are kept, so
        # the panel should still say which params mattered in them.
        _record_importance_quietly(run, search, attr)
