"""The search engine behind ``tracker.optimize`` and ``tracker worker``.

One :class:`Search` drives one process's part of a study: it wraps the user's objective
so every trial is a tracked child run of the search run, writes each constraint on the
Optuna trial (both ``set_constraint`` and the older ``constraints`` list that
optuna-dashboard 0.21 reads), keeps the feasible Pareto front and the hypervolume
history in the search run as trials finish, and at the end reconciles every trial of the
study (other workers' included) into the records described in docs/records.md.

The study's own settings (objectives, constraints, the search run, the trial budget and
the hypervolume reference point) live in the study's user attribute ``tracker.search``,
so a worker on another machine joins with nothing but the study name and the URL.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.study import Study
from optuna.trial import FrozenTrial, Trial, TrialState

from tracker.exceptions import ValidationError
from tracker.latency import recording_latency
from tracker.records import DataRef, RunStatus, float_to_json
from tracker.run import ActiveRun, start_run, validate_metrics
from tracker.store import BaseStore
from tracker.store.ops import LogMetrics, MetricRow, Op, SetAttrs, SetParams
from tracker.tuning._constraints import Constraint, evaluate_constraints
from tracker.tuning._front import dominates, hypervolume, pareto_mask, reference_point
from tracker.tuning._policy import SamplerChoice
from tracker.tuning._progress import ProgressReporter, SearchProgress, TrialSummary, safe_report
from tracker.tuning._trial_attrs import write_trial_attrs

__all__ = [
    "LEGACY_CONSTRAINTS_KEY",
    "SPEC_KEY",
    "Search",
    "SearchSpec",
    "TrialRecord",
    "jsonable_metrics",
]

SPEC_KEY = "tracker.search"
RUN_ID_KEY = "tracker.run_id"
METRICS_KEY = "tracker.metrics"
ERROR_KEY = "tracker.error"
#: Optuna's pre-``set_constraint`` system attribute (a list), still what optuna-dashboard reads.
LEGACY_CONSTRAINTS_KEY = "constraints"
#: Completed trials needed before the hypervolume reference point is fixed from data.
REF_AFTER = 10
#: Consecutive trials failing on a malformed return before the search stops.
MAX_BAD_RETURNS = 3
#: How long the store's writer batches records while trials run (seconds): at 0.1 s the
#: bookkeeping per trial measured 1.8-5 ms over Optuna, at 0.5 s a steadier 1.6-1.8 ms.
#: The records are in the spool at once; other processes see them up to 0.5 s later.
WRITE_LINGER_S = 0.5


class _Fatal(ValidationError):
    """Raised inside a trial to stop the whole search with a user-facing error."""


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """The settings every participant of a study shares (study user attr ``tracker.search``)."""

    objectives: Mapping[str, str]
    constraints: Sequence[Constraint]
    search_run_id: str
    target_total: int | None = None
    reference_point: Sequence[float] | None = None
    seed: int | None = None
    sampler: str = "auto"

    def to_attr(self) -> dict[str, Any]:
        """JSON form stored on the study."""
        return {
            "objectives": dict(self.objectives),
            "constraints": [c.to_dict() for c in self.constraints],
            "search_run_id": self.search_run_id,
            "target_total": self.target_total,
            "reference_point": list(self.reference_point) if self.reference_point else None,
            "seed": self.seed,
            "sampler": self.sampler,
        }

    @classmethod
    def from_attr(cls, d: Mapping[str, Any]) -> SearchSpec:
        """Inverse of :meth:`to_attr`."""
        return cls(
            objectives=dict(d["objectives"]),
            constraints=[
                Constraint(metric=c["metric"], op=c["op"], bound=float(c["bound"]))
                for c in d.get("constraints", [])
            ],
            search_run_id=str(d["search_run_id"]),
            target_total=d.get("target_total"),
            reference_point=d.get("reference_point"),
            seed=d.get("seed"),
            sampler=str(d.get("sampler", "auto")),
        )


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """What the search knows of one finished trial (built from the Optuna trial)."""

    number: int
    run_id: str | None
    state: str
    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    values: Mapping[str, float]
    constraints: Mapping[str, Mapping[str, Any]]
    feasible: bool
    duration_s: float | None
    error: str | None
    pareto: bool = False

    def trial_attr(self) -> dict[str, Any]:
        """``attrs["trial"]`` of the trial run (docs/records.md)."""
        return {
            "number": self.number,
            "state": self.state,
            "values": {k: float_to_json(v) for k, v in self.values.items()},
            "constraints": {k: dict(v) for k, v in self.constraints.items()},
            "feasible": self.feasible,
            "pareto": self.pareto,
            "duration_s": self.duration_s,
            "error": self.error,
        }

    def summary(self) -> TrialSummary:
        """The reporter's view."""
        return TrialSummary(
            number=self.number,
            run_id=self.run_id,
            state=self.state,
            params=dict(self.params),
            values=dict(self.values),
            metrics=dict(self.metrics),
            feasible=self.feasible,
            pareto=self.pareto,
            error=self.error,
        )


def jsonable_metrics(metrics: Mapping[str, float]) -> dict[str, float | str]:
    """Metrics with NaN/inf as strings (Optuna stores attrs as strict JSON)."""
    return {k: float_to_json(float(v)) for k, v in metrics.items()}


def _metrics_from_attr(d: Mapping[str, Any] | None) -> dict[str, float]:
    return {k: float(v) for k, v in (d or {}).items()}


_STATE = {
    TrialState.COMPLETE: "complete",
    TrialState.FAIL: "fail",
    TrialState.PRUNED: "pruned",
}


def suggest(trial: Trial, name: str, d: BaseDistribution) -> Any:
    """Suggest one parameter of a declared ``space`` through the public Trial API."""
    if isinstance(d, FloatDistribution):
        return trial.suggest_float(name, d.low, d.high, log=d.log, step=d.step)
    if isinstance(d, IntDistribution):
        return trial.suggest_int(name, d.low, d.high, log=d.log, step=d.step)
    if isinstance(d, CategoricalDistribution):
        return trial.suggest_categorical(name, d.choices)
    raise ValidationError(f"space[{name!r}]: unsupported distribution {type(d).__name__}")


class Search:
    """One process's part of a study (see the module docstring).

    Args:
        study: The Optuna study (already created or loaded).
        spec: The shared settings.
        objective: The user's objective, ``objective(trial) -> dict``.
        store: The tracker store (the process's queued store).
        space: Declared parameters, suggested before the objective runs.
        data: Data references recorded on every trial run.
        reporters: Progress reporters.
        timeout: This participant's time limit (for progress display).
        shared: Other processes may work on the study (stop at the study's trial target).
    """

    def __init__(
        self,
        study: Study,
        spec: SearchSpec,
        objective: Callable[[Trial], Any],
        store: BaseStore,
        *,
        space: Mapping[str, BaseDistribution] | None = None,
        data: Mapping[str, DataRef] | None = None,
        reporters: Sequence[ProgressReporter] = (),
        timeout: float | None = None,
        shared: bool = False,
    ) -> None:
        self.shared = shared
        self.study = study
        self.spec = spec
        self.objective = objective
        self.store = store
        self.space = dict(space or {})
        self.data = dict(data or {})
        self.reporters = list(reporters)
        self.timeout = timeout
        self.directions = list(spec.objectives.values())
        self.names = list(spec.objectives)
        self.known: dict[int, TrialRecord] = {}
        self.front_ids: list[str] = []
        self.sampler_choice: SamplerChoice | None = None
        self.fatal: BaseException | None = None
        self.started = time.monotonic()
        self._lock = threading.RLock()
        self._metrics_checked = False
        self._bad_returns = 0
        self._ref: np.ndarray | None = (
            np.asarray(spec.reference_point, dtype=float) if spec.reference_point else None
        )
        self._hv_logged = 0  # highest step logged by this process
        self._front: list[TrialRecord] | None = None  # cached; None = recompute from known
        self.ran = 0  # trials this process started

    def batched_writes(self) -> contextlib.AbstractContextManager[None]:
        """While trials run: the store's writer batches over :data:`WRITE_LINGER_S`.

        A search's records commit with other trials' records instead of every 10 ms,
        out of the way of Optuna's own transactions on the same database (see
        ``QueuedStore.lingering``); a store without a writer thread is left as it is.
        """
        lingering = getattr(self.store, "lingering", None)
        if lingering is None:
            return contextlib.nullcontext()
        cm: contextlib.AbstractContextManager[None] = lingering(WRITE_LINGER_S)
        return cm

    # --- per trial (runs in Optuna's worker threads) ---------------------------------------

    def run_trial(self, trial: Trial) -> tuple[float, ...] | float:
        """The objective Optuna calls: the user's objective inside a tracked trial run."""
        if self.fatal is not None:
            trial.study.stop()
            raise _Fatal(str(self.fatal))
        with self._lock:
            self.ran += 1
        run = start_run(
            name=f"{self.study.study_name} #{trial.number}",
            kind="trial",
            parent=self.spec.search_run_id,
            tags={
                "optuna.study_name": self.study.study_name,
                "optuna.trial_number": str(trial.number),
            },
        )
        t0 = time.perf_counter()
        try:
            for name, ref in self.data.items():
                run.record_data(name, ref)
            for name, d in self.space.items():
                suggest(trial, name, d)
            with recording_latency() as latencies:
                out = self.objective(trial)
            duration = time.perf_counter() - t0
            metrics = self._check_return(trial, out)
            values = self._values(metrics)
            results = evaluate_constraints(self.spec.constraints, metrics)
            system: dict[str, Any] = {
                f"{LEGACY_CONSTRAINTS_KEY}:{r.constraint.expr}": r.violation for r in results
            }
            if results:
                # optuna-dashboard 0.21 reads only this older list-valued attribute.
                system[LEGACY_CONSTRAINTS_KEY] = [r.violation for r in results]
            write_trial_attrs(
                trial, {RUN_ID_KEY: run.id, METRICS_KEY: jsonable_metrics(metrics)}, system
            )
            record = TrialRecord(
                number=trial.number,
                run_id=run.id,
                state="complete",
                params=dict(trial.params),
                metrics=metrics,
                values=dict(zip(self.names, values, strict=True)),
                constraints={r.constraint.expr: r.to_dict() for r in results},
                feasible=all(r.feasible for r in results),
                duration_s=duration,
                error=None,
            )
            ops: list[Op] = [
                SetParams(run_id=run.id, params=_params(trial.params)),
                _metric_op(run.id, metrics),
                SetAttrs(run_id=run.id, attrs=self._trial_attrs(record, latencies)),
            ]
            run.write_ops(ops)
            run.end(RunStatus.FINISHED)
            return values[0] if len(values) == 1 else tuple(values)
        except optuna.TrialPruned:
            with contextlib.suppress(Exception):
                write_trial_attrs(trial, {RUN_ID_KEY: run.id}, {})
            self._end_unsuccessful(trial, run, "pruned", None, time.perf_counter() - t0)
            raise
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(Exception):
                write_trial_attrs(trial, {RUN_ID_KEY: run.id, ERROR_KEY: error[:2000]}, {})
            self._end_unsuccessful(trial, run, "fail", exc, time.perf_counter() - t0)
            if isinstance(exc, _Fatal):
                trial.study.stop()
            raise

    def _end_unsuccessful(
        self,
        trial: Trial,
        run: ActiveRun,
        state: str,
        exc: BaseException | None,
        duration: float,
    ) -> None:
        record = TrialRecord(
            number=trial.number,
            run_id=run.id,
            state=state,
            params=dict(trial.params),
            metrics={},
            values={},
            constraints={},
            feasible=False,
            duration_s=duration,
            error=None if exc is None else f"{type(exc).__name__}: {exc}",
        )
        try:
            ops: list[Op] = [SetAttrs(run_id=run.id, attrs={"trial": record.trial_attr()})]
            if trial.params:
                ops.insert(0, SetParams(run_id=run.id, params=_params(trial.params)))
            run.write_ops(ops)
        finally:
            if exc is None:
                run.end(RunStatus.FINISHED)
            elif isinstance(exc, KeyboardInterrupt):
                run.end(RunStatus.INTERRUPTED, exc)
            else:
                run.end(RunStatus.FAILED, exc)

    def _trial_attrs(self, record: TrialRecord, latencies: list[Any]) -> dict[str, Any]:
        attrs: dict[str, Any] = {"trial": record.trial_attr()}
        if len(latencies) == 1:
            attrs["latency"] = latencies[0].to_dict()
        elif latencies:
            attrs["latency"] = latencies[-1].to_dict()
            for i, lat in enumerate(latencies):
                attrs[f"latency.{i}"] = lat.to_dict()
        return attrs

    def _check_return(self, trial: Trial, out: object) -> dict[str, float]:
        if not isinstance(out, Mapping):
            hint = ""
            if isinstance(out, int | float | tuple | list):
                hint = (
                    f" (return e.g. {{{', '.join(repr(n) + ': ...' for n in self.names)}}} "
                    "instead of bare values)"
                )
            raise self._bad_return(
                f"the objective must return a dict of metric name -> number; trial "
                f"{trial.number} returned {type(out).__name__} {out!r:.80}{hint}"
            )
        try:
            metrics = validate_metrics(out)
        except ValidationError as exc:
            raise self._bad_return(
                f"trial {trial.number}: the objective returned a value that is not a number: {exc}"
            ) from None
        with self._lock:
            self._bad_returns = 0
            if not self._metrics_checked:
                self._metrics_checked = True
                self._check_names(trial, metrics)
        return metrics

    def _bad_return(self, message: str) -> ValidationError:
        with self._lock:
            self._bad_returns += 1
            if self._bad_returns >= MAX_BAD_RETURNS and self.fatal is None:
                self.fatal = ValidationError(
                    f"{message}. The last {MAX_BAD_RETURNS} trials all failed this way, so the "
                    "search stopped; fix the objective's return value"
                )
                return _Fatal(str(self.fatal))
        return ValidationError(message)

    def _check_names(self, trial: Trial, metrics: Mapping[str, float]) -> None:
        returned = ", ".join(sorted(metrics)) or "nothing"
        unknown_obj = [n for n in self.names if n not in metrics]
        unknown_con = [c for c in self.spec.constraints if c.metric not in metrics]
        problems = []
        if unknown_obj:
            problems.append(
                f"objective metric(s) {', '.join(map(repr, unknown_obj))} are not returned"
            )
        if unknown_con:
            problems.append(
                "constraint(s) "
                + ", ".join(repr(c.expr) for c in unknown_con)
                + " name metrics the objective does not return"
            )
        if not trial.params:
            problems.append(
                "the objective suggested no parameters (the search space is empty): call "
                "trial.suggest_float/int/categorical in it, or pass space="
            )
        if problems:
            self.fatal = ValidationError(
                f"{'; '.join(problems)}. The first trial returned: {returned}. "
                "The search stopped after that trial; fix the names and run it again"
            )
            raise _Fatal(str(self.fatal))

    def _values(self, metrics: Mapping[str, float]) -> list[float]:
        values = []
        for name in self.names:
            if name not in metrics:
                raise ValidationError(
                    f"the objective did not return the objective metric {name!r} this time "
                    f"(it returned {', '.join(sorted(metrics)) or 'nothing'}); trial failed"
                )
            v = float(metrics[name])
            if math.isnan(v):
                raise ValidationError(f"objective metric {name!r} is NaN; trial failed")
            values.append(v)
        return values

    # --- after each trial (Optuna callback) -------------------------------------------------

    def after_trial(self, study: Study, ft: FrozenTrial) -> None:
        """Update the front, the hypervolume history and the reporters."""
        try:
            with self._lock:
                # Trials finish in number order in one sequential process; a gap means
                # threads or other workers finished trials this process has not seen.
                gap = len(self.known) < ft.number
                rec = None
                if gap:
                    self.refresh()
                else:
                    rec = record_from_trial(ft, self.spec)
                    if rec is not None:
                        self.known[ft.number] = rec
                self._update_front(rec)
                event = self._event(self.known.get(ft.number)) if self.reporters else None
        except Exception as exc:  # bookkeeping must never stop the search
            import logging

            logging.getLogger("tracker").warning(
                "tracker: could not update the search records after trial %s: %s",
                ft.number,
                exc,
            )
            return
        if event is not None:
            safe_report(self.reporters, event)
        self._stop_at_target(study)

    def _stop_at_target(self, study: Study) -> None:
        # Only where other processes may share the study: a lone process stops at its own
        # n_trials, and this count is a query per trial.
        target = self.spec.target_total
        if target is None or not self.shared:
            return
        counted = study.get_trials(
            deepcopy=False,
            states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED, TrialState.RUNNING),
        )
        if len(counted) >= target:
            study.stop()

    def refresh(self) -> None:
        """Reload every finished trial of the study (other workers' too)."""
        trials = self.study.get_trials(
            deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
        )
        with self._lock:
            for ft in trials:
                rec = record_from_trial(ft, self.spec)
                if rec is not None:
                    self.known[ft.number] = rec
            self._front = None  # recomputed from everything on the next update

    def _complete(self) -> list[TrialRecord]:
        return [r for _, r in sorted(self.known.items()) if r.state == "complete"]

    def front(self) -> list[TrialRecord]:
        """The feasible Pareto trials (the best feasible trial for one objective)."""
        with self._lock:
            if self._front is None:
                self._front = self._full_front()
            return [self.known.get(r.number, r) for r in self._front]

    def _full_front(self) -> list[TrialRecord]:
        feas = [r for r in self._complete() if r.feasible]
        if not feas:
            return []
        losses = self._losses(feas)
        if len(self.names) == 1:
            best = float(losses[:, 0].min())
            return [r for r, lv in zip(feas, losses[:, 0], strict=True) if lv == best][:1]
        mask = pareto_mask(losses)
        return [r for r, m in zip(feas, mask, strict=True) if m]

    def _add_to_front(self, rec: TrialRecord) -> None:
        """Update the cached front with one new trial: O(front), not O(trials^2)."""
        if self._front is None:
            self._front = self._full_front()
            return
        if rec.state != "complete" or not rec.feasible:
            return
        new = self._losses([rec])[0]
        if not self._front:
            self._front = [rec]
            return
        old = self._losses(self._front)
        if len(self.names) == 1:
            best, number = float(old[0, 0]), self._front[0].number
            if new[0] < best or (new[0] == best and rec.number < number):
                self._front = [rec]
            return
        if dominates(old, new).any():
            return  # dominated: the front does not change
        keep = ~dominates(new, old)
        front = [r for r, k in zip(self._front, keep, strict=True) if k] + [rec]
        self._front = sorted(front, key=lambda r: r.number)

    def _losses(self, recs: Sequence[TrialRecord]) -> np.ndarray:
        signs = np.array([-1.0 if d == "maximize" else 1.0 for d in self.directions])
        arr = np.array([[r.values[n] for n in self.names] for r in recs], dtype=float)
        return np.asarray(arr.reshape(len(recs), len(self.names)) * signs)

    def _update_front(self, rec: TrialRecord | None = None) -> None:
        before = {r.number for r in self._front or ()}
        if rec is not None:
            self._add_to_front(rec)
        front = self.front()
        ids = {r.number for r in front}
        # Only trials that entered or left the front change flag (all of them after a refresh).
        changed = before ^ ids if rec is not None else set(self.known)
        for n in changed:
            r = self.known.get(n)
            if r is not None and r.pareto != (n in ids):
                self.known[n] = replace(r, pareto=n in ids)
        run_ids = [r.run_id for r in front if r.run_id]
        ops: list[Op] = []
        if run_ids != self.front_ids:
            self.front_ids = run_ids
            ops.append(SetAttrs(run_id=self.spec.search_run_id, attrs={"pareto": run_ids}))
        if len(self.names) > 1:
            ops.extend(self._hypervolume_ops())
        if ops:
            self.store.write(ops)

    def _fix_reference(self) -> bool:
        """Fix the reference point once enough is known (see docs/optimize.md)."""
        if self._ref is not None:
            return True
        complete = self._complete()
        from_bounds: dict[int, float] = {}
        for i, (name, direction) in enumerate(self.spec.objectives.items()):
            for c in self.spec.constraints:
                if c.metric != name:
                    continue
                if direction == "minimize" and c.op in ("<=", "<"):
                    from_bounds[i] = c.bound
                elif direction == "maximize" and c.op in (">=", ">"):
                    from_bounds[i] = -c.bound
        if len(from_bounds) < len(self.names) and len(complete) < REF_AFTER:
            return False
        if not complete and len(from_bounds) < len(self.names):
            return False
        ref = reference_point(self._losses(complete)) if complete else np.zeros(len(self.names))
        for i, v in from_bounds.items():
            ref[i] = v
        self._ref = ref
        spec_attr = self.study.user_attrs.get(SPEC_KEY, {})
        if not spec_attr.get("reference_point"):
            spec_attr = dict(spec_attr)
            spec_attr["reference_point"] = [float(x) for x in ref]
            self.study.set_user_attr(SPEC_KEY, spec_attr)
        self.store.write(
            [
                SetAttrs(
                    run_id=self.spec.search_run_id,
                    attrs={"hypervolume_reference": self.reference_dict()},
                )
            ]
        )
        return True

    def reference_dict(self) -> dict[str, float] | None:
        """The reference point in objective units (maximised objectives back to their sign)."""
        if self._ref is None:
            return None
        return {
            n: float(-v if d == "maximize" else v)
            for n, d, v in zip(self.names, self.directions, self._ref, strict=True)
        }

    def _hypervolume_ops(self) -> list[Op]:
        if not self._fix_reference():
            return []
        assert self._ref is not None
        finished = sorted(self.known)
        n_done = len(finished)
        if n_done <= self._hv_logged:
            return []
        rows = []
        hv_by_step: list[tuple[int, float]] = []
        if n_done == self._hv_logged + 1:
            # The common case, one more finished trial: the hypervolume of the current front
            # (the same as of every feasible trial, at the cost of the front's size).
            front = self.front()
            hv = hypervolume(self._losses(front), self._ref) if front else 0.0
            hv_by_step.append((n_done, hv))
        else:
            # The first time (the backfill up to the fixed reference) or after a refresh:
            # every step not logged yet, over the trials in number order.
            recs = [self.known[n] for n in finished]
            feas = [r.state == "complete" and r.feasible for r in recs]
            losses = self._losses([r for r, f in zip(recs, feas, strict=True) if f])
            seen = 0
            for step, f in enumerate(feas, start=1):
                seen += f
                if step > self._hv_logged:
                    hv = hypervolume(losses[:seen], self._ref) if seen else 0.0
                    hv_by_step.append((step, hv))
        now = time.time()
        for step, hv in hv_by_step:
            rows.append(MetricRow(id=_uid(), key="hypervolume", value=hv, step=step, timestamp=now))
        self._hv_logged = n_done
        return [LogMetrics(run_id=self.spec.search_run_id, metrics=tuple(rows))]

    def current_hypervolume(self) -> float | None:
        """Hypervolume of the feasible front now (multi-objective, once the reference is fixed)."""
        if len(self.names) < 2 or self._ref is None:
            return None
        feas = [r for r in self._complete() if r.feasible]
        if not feas:
            return 0.0
        return hypervolume(self._losses(feas), self._ref)

    def _event(self, last: TrialRecord | None, done: bool = False) -> SearchProgress:
        recs = [r for _, r in sorted(self.known.items())]
        return SearchProgress(
            study_name=self.study.study_name,
            search_run_id=self.spec.search_run_id,
            objectives=dict(self.spec.objectives),
            constraints=[c.expr for c in self.spec.constraints],
            n_finished=len(recs),
            n_complete=sum(r.state == "complete" for r in recs),
            n_feasible=sum(r.state == "complete" and r.feasible for r in recs),
            n_failed=sum(r.state == "fail" for r in recs),
            target=self.spec.target_total,
            elapsed_s=time.monotonic() - self.started,
            timeout_s=self.timeout,
            last=last.summary() if last else None,
            front=[r.summary() for r in self.front()],
            trials=[r.summary() for r in recs],
            hypervolume=self.current_hypervolume(),
            sampler=self.sampler_choice.name if self.sampler_choice else None,
            done=done,
        )

    # --- the end ----------------------------------------------------------------------------

    def finish(self) -> list[TrialRecord]:
        """Reconcile every trial of the study into the records; returns them by number."""
        self.refresh()
        with self._lock:
            self._update_front()
            recs = [r for _, r in sorted(self.known.items())]
            ops: list[Op] = []
            for r in recs:
                if r.run_id is not None:
                    ops.append(SetAttrs(run_id=r.run_id, attrs={"trial": r.trial_attr()}))
            complete = [r for r in recs if r.state == "complete"]
            ops.append(
                _metric_op(
                    self.spec.search_run_id,
                    {
                        "n_trials": float(len(recs)),
                        "n_feasible": float(sum(r.feasible for r in complete)),
                    },
                )
            )
            self.store.write(ops)
            event = self._event(None, done=True) if self.reporters else None
        if event is not None:
            safe_report(self.reporters, event)
        return recs


def record_from_trial(ft: FrozenTrial, spec: SearchSpec) -> TrialRecord | None:
    """A :class:`TrialRecord` from a finished Optuna trial (``None`` while it runs)."""
    state = _STATE.get(ft.state)
    if state is None:
        return None
    metrics = _metrics_from_attr(ft.user_attrs.get(METRICS_KEY))
    names = list(spec.objectives)
    values: dict[str, float] = {}
    if state == "complete" and ft.values is not None:
        values = dict(zip(names, (float(v) for v in ft.values), strict=False))
    results = evaluate_constraints(spec.constraints, metrics) if state == "complete" else []
    stored = ft.constraints
    cons: dict[str, dict[str, Any]] = {}
    for r in results:
        d = r.to_dict()
        if r.constraint.expr in stored:  # what the sampler saw wins
            d["violation"] = float(stored[r.constraint.expr])
            d["feasible"] = d["violation"] <= 0.0
        cons[r.constraint.expr] = d
    feasible = state == "complete" and all(c["feasible"] for c in cons.values())
    duration = (
        (ft.datetime_complete - ft.datetime_start).total_seconds()
        if ft.datetime_complete is not None and ft.datetime_start is not None
        else None
    )
    error = ft.user_attrs.get(ERROR_KEY) or ft.system_attrs.get("fail_reason")
    return TrialRecord(
        number=ft.number,
        run_id=ft.user_attrs.get(RUN_ID_KEY),
        state=state,
        params=dict(ft.params),
        metrics=metrics,
        values=values,
        constraints=cons,
        feasible=feasible,
        duration_s=duration,
        error=str(error) if error and state == "fail" else None,
    )


def _uid() -> str:
    import uuid

    return uuid.uuid4().hex


def _params(params: Mapping[str, Any]) -> dict[str, Any]:
    from tracker.run import flatten_params

    safe = {
        k: v if isinstance(v, str | int | float | bool) or v is None else repr(v)
        for k, v in params.items()
    }
    return flatten_params(safe)


def _metric_op(run_id: str, metrics: Mapping[str, float]) -> LogMetrics:
    now = time.time()
    return LogMetrics(
        run_id=run_id,
        metrics=tuple(
            MetricRow(id=_uid(), key=k, value=float(v), step=None, timestamp=now)
            for k, v in metrics.items()
        ),
    )
