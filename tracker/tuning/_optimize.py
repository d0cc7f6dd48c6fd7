"""``optimize``: constrained multi-metric search on Optuna, recorded as tracker runs.

See docs/optimize.md for the user guide. The shape of one call:

1. Check every argument (nothing runs, nothing is recorded, on bad input).
2. Create or resume the Optuna study in the tracker's own database (same URL).
3. Start the search run (a child of the active run) and record its settings.
4. Run the trials (:class:`tracker.tuning._search.Search`), each a tracked child run.
5. Reconcile every trial of the study, then re-check the Pareto trials on test data.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import os
import sqlite3
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.trial import FixedTrial, Trial, TrialState

from tracker.config import StoreURL
from tracker.exceptions import ConfigError, ValidationError
from tracker.latency import recording_latency
from tracker.records import DataRef, RunKind, RunStatus, float_to_json
from tracker.run import ActiveRun, get_store, start_run, validate_metrics
from tracker.store.ops import SetAttrs
from tracker.tuning._constraints import Constraint, evaluate_constraints, parse_constraints
from tracker.tuning._policy import SamplerChoice
from tracker.tuning._progress import ProgressReporter, TextProgress
from tracker.tuning._result import SearchResult, TrialResult
from tracker.tuning._samplers import describe_distribution, make_sampler
from tracker.tuning._search import SPEC_KEY, Search, SearchSpec, TrialRecord

__all__ = ["create_search", "open_storage", "optimize"]

log = logging.getLogger("tracker")

DIRECTIONS = ("maximize", "minimize")
RECHECK_REPEATS = 1000

_storages: dict[str, BaseStorage] = {}
_storages_lock = threading.Lock()


# --- arguments -------------------------------------------------------------------------------


def _check_objectives(objectives: object) -> dict[str, str]:
    example = "e.g. objectives={'accuracy': 'maximize', 'latency_p95_ms': 'minimize'}"
    if objectives is None:
        raise ValidationError(f"objectives= is required: metric name -> direction, {example}")
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


def _check_int(name: str, value: object, low: int, allow_none: bool = True) -> int | None:
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


def _check_reference(
    reference_point: Mapping[str, float] | None, objectives: Mapping[str, str]
) -> list[float] | None:
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


# --- storage ---------------------------------------------------------------------------------


def open_storage(url: StoreURL) -> BaseStorage:
    """Optuna storage on the tracker's database (one per URL and process).

    SQLite gets a long busy timeout (threads of one process share the file); PostgreSQL
    gets Optuna's heartbeat, so trials of a worker that died are failed, not left running.
    """
    if url.is_memory:
        raise ConfigError(
            "the tracker store is an in-memory SQLite database, which Optuna cannot share; "
            "use a file (tracker.set_store('sqlite:///tracker.db')) or PostgreSQL"
        )
    key = url.redacted()
    with _storages_lock:
        st = _storages.get(key)
        if st is not None:
            return st
        if url.kind == "sqlite":
            st = optuna.storages.RDBStorage(
                url.connect_url(), engine_kwargs={"creator": _sqlite_connector(url)}
            )
        else:
            with warnings.catch_warnings():
                # Optuna flags the heartbeat as experimental; it is what fails the trials of
                # a worker that died instead of leaving them running forever.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                st = optuna.storages.RDBStorage(
                    url.connect_url(),
                    engine_kwargs={"pool_pre_ping": True},
                    heartbeat_interval=30,
                    grace_period=120,
                )
        _storages[key] = st
        return st


def _sqlite_connector(url: StoreURL) -> Callable[[], sqlite3.Connection]:
    # The tracker's file is in WAL mode; with synchronous=NORMAL a commit no longer waits
    # for fsync (still safe against a crashed process, which is what a search must survive),
    # which cuts Optuna's per-trial commits from ~8 ms to well under 1 ms. The long busy
    # timeout lets threads of one process and the tracker's writer share the file.
    path = str(url.path)

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=60, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    return connect


def _study_exists(storage: BaseStorage, name: str) -> bool:
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return False
    return True


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    # Our records and progress display replace Optuna's INFO lines ("A new study created",
    # one per trial), which otherwise land in the notebook as red stderr; warnings (failed
    # trials) still show. A verbosity the user chose (DEBUG, or WARNING and up) is kept.
    before = optuna.logging.get_verbosity()
    if before != optuna.logging.INFO:
        yield
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


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
) -> tuple[optuna.Study, SearchSpec, ActiveRun]:
    """Create (or resume) a study and its search run without running trials.

    This is what :func:`optimize` does first; call it directly to let ``tracker worker``
    processes do all the trials. The study's trial target is its finished trials so far
    plus ``n_trials``.

    Returns:
        The study, the shared settings, and the running search run (end it when done).

    Raises:
        ValidationError: bad objectives or constraints, or a resumed study whose
            objectives or constraints differ.
    """
    objs = _check_objectives(objectives)
    cons = parse_constraints(constraints)
    ref = _check_reference(reference_point, objs)
    n = _check_int("n_trials", n_trials, 1)
    name = study_name or f"search-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("study_name must be a non-empty string")
    store = get_store()
    storage = open_storage(store.url)
    existing = _study_exists(storage, name)
    previous: dict[str, Any] = {}
    if existing:
        old = optuna.load_study(study_name=name, storage=storage)
        previous = dict(old.user_attrs.get(SPEC_KEY) or {})
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
        done = len(
            old.get_trials(
                deepcopy=False,
                states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED),
            )
        )
    else:
        done = 0
    with _quiet_optuna():
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            directions=[optuna.study.StudyDirection[d.upper()] for d in objs.values()],
            load_if_exists=True,
        )
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
    )
    attr = spec.to_attr()
    history = list(previous.get("search_runs", []))
    attr["search_runs"] = [*history, run.id]
    study.set_user_attr(SPEC_KEY, attr)
    return study, spec, run


def _search_attr(
    spec: SearchSpec,
    store_url: StoreURL,
    study_name: str,
    n_trials: int | None,
    timeout: float | None,
    n_jobs: int,
    space: Mapping[str, BaseDistribution] | None,
    resumed_from: Sequence[str],
) -> dict[str, Any]:
    return {
        "study_name": study_name,
        "storage": store_url.redacted(),
        "objectives": dict(spec.objectives),
        "constraints": [c.to_dict() for c in spec.constraints],
        "sampler": {"name": spec.sampler, "reason": "chosen after the first trial"},
        "seed": spec.seed,
        "budget": {"n_trials": n_trials, "timeout": timeout, "target_total": spec.target_total},
        "n_jobs": n_jobs,
        "space": {k: describe_distribution(d) for k, d in (space or {}).items()},
        "resumed_from": list(resumed_from),
    }


# --- the main entry --------------------------------------------------------------------------


def optimize(
    objective: Callable[[Trial], Mapping[str, float]],
    n_trials: int | None = None,
    timeout: float | None = None,
    *,
    objectives: Mapping[str, str] | None = None,
    constraints: Sequence[str | Constraint] | str | None = None,
    study_name: str | None = None,
    sampler: str | BaseSampler = "auto",
    n_jobs: int = 1,
    seed: int | None = None,
    test: Callable[[Any], Mapping[str, float]] | None = None,
    show_progress: bool = True,
    progress: ProgressReporter | Sequence[ProgressReporter] | None = None,
    space: Mapping[str, BaseDistribution] | None = None,
    data: Mapping[str, object] | None = None,
    reference_point: Mapping[str, float] | None = None,
    recheck_repeats: int = RECHECK_REPEATS,
) -> SearchResult:
    """Search for parameters that optimise several metrics under hard constraints.

    Args:
        objective: ``objective(trial) -> dict`` of metric values, ``trial`` an
            ``optuna.Trial`` (call ``trial.suggest_*``). Extra metrics are stored too.
        n_trials: Trials to run in this call (a resumed study continues from its trials).
        timeout: Stop starting trials after this many seconds.
        objectives: Metric name to ``"maximize"`` or ``"minimize"``.
        constraints: e.g. ``["latency_p95_ms <= 100", "model_size_mb <= 50"]``.
        study_name: The Optuna study; the same name resumes it (default: a new name).
        sampler: ``"auto"`` (chosen from the space and budget, reason recorded), a name
            (``"tpe"``, ``"gp"``, ``"nsga2"``, ``"random"``, ``"qmc"``) or an optuna sampler.
        n_jobs: Trials run in parallel threads in this process.
        seed: Seed of the sampler.
        test: ``test(trial) -> dict`` of metrics on held-out data; called once per Pareto
            trial after the search with an ``optuna.trial.FixedTrial`` holding its params
            (or with the params dict, if its first parameter is named ``params``). Its
            values never reach the sampler.
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

    Returns:
        A :class:`SearchResult` (``pareto``, ``best``, ``study``, ``trials_frame()``,
        ``plot_pareto()``, ``plot_history()``).

    Raises:
        ValidationError: bad arguments (before any trial), a constraint on a metric the
            objective does not return (after the first trial), an objective that keeps
            returning non-numbers.
        ConfigError: an unsafe or impossible storage setup.
    """
    # 1. Arguments: every check before anything runs or is recorded.
    if not callable(objective):
        raise ValidationError(f"objective must be callable, not {type(objective).__name__}")
    objs = _check_objectives(objectives)
    cons = parse_constraints(constraints)
    n = _check_int("n_trials", n_trials, 1)
    t_out = _check_timeout(timeout)
    if n is None and t_out is None:
        raise ValidationError(
            "give n_trials= or timeout= (or both): a search needs a budget to stop"
        )
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or (n_jobs < 1 and n_jobs != -1):
        raise ValidationError(f"n_jobs must be a positive integer or -1, got {n_jobs!r}")
    jobs = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
    _check_int("seed", seed, 0)
    if test is not None and not callable(test):
        raise ValidationError(f"test must be callable, not {type(test).__name__}")
    sp = _check_space(space)
    _check_int("recheck_repeats", recheck_repeats, 20, allow_none=False)
    _check_reference(reference_point, objs)
    if data is not None and not isinstance(data, Mapping):
        raise ValidationError("data must be a dict of name -> array, frame or path")
    reporters: list[ProgressReporter] = []
    if progress is not None:
        reporters.extend([progress] if callable(progress) else list(progress))
    elif show_progress:
        reporters.append(TextProgress())
    store = get_store()
    if store.url.is_memory:
        open_storage(store.url)  # raises the ConfigError with the fix
    if jobs > 1 and store.url.kind == "sqlite":
        log.warning(
            "tracker: %d parallel trials on SQLite share one database file; this works in one "
            "process (with a busy timeout) but serialises writes. For parallel or distributed "
            "searches use PostgreSQL: tracker.set_store('postgresql://user@host/db')",
            jobs,
        )
    refs: dict[str, DataRef] = {}
    if data:
        from tracker.hashing import hash_data

        refs = {str(k): hash_data(v) for k, v in data.items()}

    # 2-3. Study and search run.
    study, spec, run = create_search(
        objectives=objs,
        constraints=cons,
        study_name=study_name,
        n_trials=n,
        seed=seed,
        sampler=sampler if isinstance(sampler, str) else type(sampler).__name__,
        reference_point=reference_point,
    )
    prior = [r for r in study.user_attrs.get(SPEC_KEY, {}).get("search_runs", []) if r != run.id]
    search: Search | None = None
    try:
        attr = _search_attr(spec, store.url, study.study_name, n, t_out, jobs, sp, prior)
        run.set_attrs({"search": attr})
        for name, ref in refs.items():
            run.record_data(name, ref)

        def on_choice(choice: SamplerChoice) -> None:
            attr["sampler"] = choice.to_dict()
            if search is not None:
                search.sampler_choice = choice
            run.set_attrs({"search": attr})

        study.sampler = make_sampler(
            sampler,
            seed=seed,
            n_objectives=len(objs),
            budget=n,
            parallel=jobs > 1,
            space=sp,
            on_choice=on_choice,
        )
        search = Search(
            study,
            spec,
            objective,
            store,
            space=sp,
            data=refs,
            reporters=reporters,
            timeout=t_out,
            shared=store.url.kind == "postgresql",
        )
        chosen_now = attr["sampler"]
        if "options" in chosen_now:
            search.sampler_choice = SamplerChoice(
                chosen_now["name"], chosen_now["reason"], chosen_now["options"]
            )
        search.refresh()

        # 4. Trials.
        with search.batched_writes(), _quiet_optuna():
            study.optimize(
                search.run_trial,
                n_trials=n,
                timeout=t_out,
                n_jobs=jobs,
                catch=(Exception,),
                callbacks=[search.after_trial],
                gc_after_trial=False,
                show_progress_bar=False,
            )
        # 5. Reconcile, re-check, choose.
        records = search.finish()
        if search.fatal is not None:
            raise search.fatal
        recheck = _recheck(search, test, recheck_repeats) if test is not None else {}
        result = _result(study, spec, attr["sampler"], records, search, recheck)
        if result.chosen is not None and result.chosen.run_id:
            run.set_attrs({"chosen": result.chosen.run_id})
    except KeyboardInterrupt as exc:
        _finish_quietly(search)
        run.end(RunStatus.INTERRUPTED, exc)
        raise
    except BaseException as exc:
        _finish_quietly(search)
        run.end(RunStatus.FAILED, exc)
        raise
    run.end(RunStatus.FINISHED)
    return result


def _finish_quietly(search: Search | None) -> None:
    if search is None:
        return
    try:
        search.finish()
    except Exception as exc:
        log.warning("tracker: could not write the final search records: %s", exc)


# --- the test-set re-check ------------------------------------------------------------------


class RecheckTrial(FixedTrial):
    """A ``FixedTrial`` whose ``params`` are all of the trial's parameters from the start.

    ``suggest_*`` calls return the fixed values, so the objective's model-building code
    can be reused; nothing it does reaches the study.
    """

    @property
    def params(self) -> dict[str, Any]:
        """Every parameter of the trial being re-checked."""
        return dict(self._params)


def _call_test(test: Callable[[Any], Any], params: Mapping[str, Any], number: int) -> Any:
    try:
        first = next(iter(inspect.signature(test).parameters), None)
    except (TypeError, ValueError):
        first = None
    if first == "params":
        return test(dict(params))
    return test(RecheckTrial(dict(params), number=number))


def _recheck(search: Search, test: Callable[[Any], Any], repeats: int) -> dict[str, Any]:
    """Evaluate every Pareto trial once on the held-out data (never told to the sampler)."""
    out: dict[str, Any] = {}
    ops = []
    for rec in search.front():
        if rec.run_id is None:
            continue
        entry: dict[str, Any]
        with recording_latency(repeats) as lats:
            try:
                raw = _call_test(test, rec.params, rec.number)
                if not isinstance(raw, Mapping):
                    raise ValidationError(
                        f"test must return a dict of metric name -> number, "
                        f"got {type(raw).__name__}"
                    )
                metrics = validate_metrics(raw)
            except Exception as exc:
                entry = {
                    "validation": _json(rec.metrics),
                    "test": {},
                    "latency": None,
                    "feasible_on_test": False,
                    "violations": {},
                    "error": f"{type(exc).__name__}: {exc}",
                }
                out[rec.run_id] = entry
                log.warning("tracker: the test re-check of trial %s failed: %s", rec.number, exc)
                continue
        # Constraints the test does not measure keep their validation value.
        merged = {**rec.metrics, **metrics}
        results = evaluate_constraints(search.spec.constraints, merged)
        entry = {
            "validation": _json(rec.metrics),
            "test": _json(metrics),
            "latency": lats[-1].to_dict() if lats else None,
            "feasible_on_test": all(r.feasible for r in results),
            "violations": {r.constraint.expr: r.violation for r in results},
            "from_validation": sorted(
                r.constraint.metric for r in results if r.constraint.metric not in metrics
            ),
        }
        out[rec.run_id] = entry
        ops.append(SetAttrs(run_id=rec.run_id, attrs={"test": _json(metrics)}))
    ops.append(SetAttrs(run_id=search.spec.search_run_id, attrs={"recheck": out}))
    search.store.write(ops)
    return out


def _json(metrics: Mapping[str, float]) -> dict[str, Any]:
    return {k: float_to_json(float(v)) for k, v in metrics.items()}


def _float(v: Any) -> float:
    return float(v) if v is not None else math.nan


# --- the result ------------------------------------------------------------------------------


def _result(
    study: optuna.Study,
    spec: SearchSpec,
    sampler: Mapping[str, Any],
    records: Sequence[TrialRecord],
    search: Search,
    recheck: Mapping[str, Any],
) -> SearchResult:
    trials = []
    for r in records:
        chk = recheck.get(r.run_id or "") if r.pareto else None
        trials.append(
            TrialResult(
                number=r.number,
                run_id=r.run_id,
                state=r.state,
                params=dict(r.params),
                values=dict(r.values),
                metrics=dict(r.metrics),
                constraints={k: dict(v) for k, v in r.constraints.items()},
                feasible=r.feasible,
                pareto=r.pareto,
                duration_s=r.duration_s,
                error=r.error,
                test={k: _float(v) for k, v in chk["test"].items()} if chk else None,
                feasible_on_test=chk["feasible_on_test"] if chk else None,
                test_latency=chk.get("latency") if chk else None,
            )
        )
    pareto = [t for t in trials if t.pareto]
    chosen = _choose(pareto, spec, bool(recheck))
    return SearchResult(
        study=study,
        study_name=study.study_name,
        search_run_id=spec.search_run_id,
        objectives=dict(spec.objectives),
        constraints=[c.expr for c in spec.constraints],
        sampler=dict(sampler),
        trials=trials,
        pareto=pareto,
        chosen=chosen,
        recheck=dict(recheck),
    )


def _choose(pareto: Sequence[TrialResult], spec: SearchSpec, rechecked: bool) -> TrialResult | None:
    pool = list(pareto)
    if rechecked:
        ok = [t for t in pool if t.feasible_on_test]
        pool = ok or pool
    if not pool:
        return None
    name, direction = next(iter(spec.objectives.items()))
    sign = -1.0 if direction == "maximize" else 1.0
    return min(pool, key=lambda t: (sign * t.values[name], t.number))
