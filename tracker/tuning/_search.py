"""The search engine behind ``tracker.optimize`` and ``tracker worker``.

One :class:`Search` drives one process's part of a study: it wraps the user's objective
so every trial is a tracked child run of the search run, writes each constraint on the
Optuna trial (both ``set_constraint``'s named attributes and the older ``constraints``
list that optuna-dashboard 0.21 reads), keeps the feasible Pareto front and the
hypervolume history in the search run as trials finish
(:class:`~tracker.tuning._front_book.FrontBook`), and at the end reconciles every trial
of the study (other workers' included) into the records described in docs/records.md.

The study's own settings live in its user attribute ``tracker.search``
(:class:`~tracker.tuning._records.SearchSpec`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

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
from tracker.records import DataRef, RunStatus
from tracker.run import ActiveRun, start_run
from tracker.store import BaseStore
from tracker.store.ops import Op, SetAttrs
from tracker.tuning._constraints import evaluate_constraints
from tracker.tuning._front_book import FrontBook
from tracker.tuning._optuna_compat import write_trial_attrs
from tracker.tuning._policy import SamplerChoice
from tracker.tuning._progress import (
    ProgressReporter,
    SearchProgress,
    TrialSummary,
    safe_report,
)
from tracker.tuning._records import (
    ERROR_KEY,
    LEGACY_CONSTRAINTS_KEY,
    METRICS_KEY,
    RUN_ID_KEY,
    SearchSpec,
    TrialRecord,
    jsonable_metrics,
    metric_op,
    params_op,
    record_from_trial,
)
from tracker.tuning._returns import Fatal, ReturnCheck

__all__ = ["WRITE_LINGER_S", "Search", "suggest"]

log = logging.getLogger("tracker")

#: How long the store's writer batches records while trials run (seconds): at 0.1 s the
#: bookkeeping per trial measured 1.8-5 ms over Optuna, at 0.5 s a steadier 1.6-1.8 ms.
#: The records are in the spool at once; other processes see them up to 0.5 s later.
WRITE_LINGER_S = 0.5

_FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)


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
        self.names = list(spec.objectives)
        self.sampler_choice: SamplerChoice | None = None
        self.started = time.monotonic()
        self._lock = threading.RLock()
        self.book = FrontBook(study, spec, store, self._lock)
        self.returns = ReturnCheck(self.names, spec.constraints)
        self.ran = 0  # trials this process started

    @property
    def fatal(self) -> BaseException | None:
        """The error that stopped the search (a bad objective return), if any."""
        return self.returns.fatal

    @property
    def known(self) -> dict[int, TrialRecord]:
        """Every finished trial seen so far, by number."""
        return self.book.known

    def front(self) -> list[TrialRecord]:
        """The feasible Pareto trials (the best feasible trial for one objective)."""
        return self.book.front()

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
            raise Fatal(str(self.fatal))
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
            values = self._complete(trial, run, out, time.perf_counter() - t0, latencies)
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
            if isinstance(exc, Fatal):
                trial.study.stop()
            raise

    def _complete(
        self, trial: Trial, run: ActiveRun, out: object, duration: float, latencies: list[Any]
    ) -> list[float]:
        """Check what the objective returned, then record it on the Optuna trial and the run."""
        metrics = self.returns.metrics(trial, out)
        values = self.returns.values(metrics)
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
        run.write_ops(
            [
                params_op(run.id, trial.params),
                metric_op(run.id, metrics),
                SetAttrs(run_id=run.id, attrs=_trial_attrs(record, latencies)),
            ]
        )
        run.end(RunStatus.FINISHED)
        return values

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
                ops.insert(0, params_op(run.id, trial.params))
            run.write_ops(ops)
        finally:
            if exc is None:
                run.end(RunStatus.FINISHED)
            elif isinstance(exc, KeyboardInterrupt):
                run.end(RunStatus.INTERRUPTED, exc)
            else:
                run.end(RunStatus.FAILED, exc)

    # --- after each trial (Optuna callback) -------------------------------------------------

    def after_trial(self, study: Study, ft: FrozenTrial) -> None:
        """Update the front, the hypervolume history and the reporters."""
        try:
            with self._lock:
                # Trials finish in number order in one sequential process; a gap means
                # threads or other workers finished trials this process has not seen.
                rec = None
                if len(self.book.known) < ft.number:
                    self.refresh()
                else:
                    rec = record_from_trial(ft, self.spec)
                    if rec is not None:
                        self.book.add(rec)
                self.book.update(rec)
                event = self._event(self.book.known.get(ft.number)) if self.reporters else None
        except Exception as exc:  # bookkeeping must never stop the search
            log.warning(
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
        counted = study.get_trials(deepcopy=False, states=(*_FINISHED, TrialState.RUNNING))
        if len(counted) >= target:
            study.stop()

    def refresh(self) -> None:
        """Reload every finished trial of the study (other workers' too)."""
        trials = self.study.get_trials(deepcopy=False, states=_FINISHED)
        recs = [r for r in (record_from_trial(ft, self.spec) for ft in trials) if r is not None]
        with self._lock:
            self.book.reload(recs)

    def _event(self, last: TrialRecord | None, done: bool = False) -> SearchProgress:
        recs = self.book.records()
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
            front=[r.summary() for r in self.book.front()],
            trials=[r.summary() for r in recs],
            hypervolume=self.book.current_hypervolume(),
            sampler=self.sampler_choice.name if self.sampler_choice else None,
            done=done,
        )

    # --- the end ----------------------------------------------------------------------------

    def finish(self, report: bool = True) -> list[TrialRecord]:
        """Reconcile every trial of the study into the records; returns them by number.

        Args:
            report: Give the reporters their final call now (``tracker.optimize`` makes it
                later, with the choice, through :meth:`report_final`).
        """
        self.refresh()
        with self._lock:
            self.book.update()
            recs = self.book.records()
            ops: list[Op] = [
                SetAttrs(run_id=r.run_id, attrs={"trial": r.trial_attr()})
                for r in recs
                if r.run_id is not None
            ]
            complete = [r for r in recs if r.state == "complete"]
            counts = {
                "n_trials": float(len(recs)),
                "n_feasible": float(sum(r.feasible for r in complete)),
            }
            ops.append(metric_op(self.spec.search_run_id, counts))
            self.store.write(ops)
            event = self._event(None, done=True) if self.reporters and report else None
        if event is not None:
            safe_report(self.reporters, event)
        return recs

    def report_final(
        self,
        *,
        rechecked: bool,
        front: Sequence[TrialSummary],
        chosen: TrialSummary | None,
        closest: TrialSummary | None,
        outcome: str,
    ) -> None:
        """The reporters' final call, with the search's choice (after :meth:`finish`).

        ``front`` replaces the event's front: the same trials, with their test figures.
        """
        if not self.reporters:
            return
        with self._lock:
            event = replace(
                self._event(None, done=True),
                front=list(front),
                rechecked=rechecked,
                chosen=chosen,
                closest=closest,
                outcome=outcome,
            )
        safe_report(self.reporters, event)


def _trial_attrs(record: TrialRecord, latencies: list[Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {"trial": record.trial_attr()}
    if len(latencies) == 1:
        attrs["latency"] = latencies[0].to_dict()
    elif latencies:
        attrs["latency"] = latencies[-1].to_dict()
        for i, lat in enumerate(latencies):
            attrs[f"latency.{i}"] = lat.to_dict()
    return attrs
