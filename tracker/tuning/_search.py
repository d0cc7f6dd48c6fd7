"""The search engine behind ``tracker.optimize`` and ``tracker worker``.

One :class:`Search` drives one process's part of a study: it wraps the user's objective
so every trial is a tracked child run of the search run, writes each constraint on the
Optuna trial (both ``set_constraint``'s named attributes and the older ``constraints``
list that optuna-dashboard 0.21 reads), keeps the feasible Pareto front and the
hypervolume history in the search run as trials finish
(:class:`~tracker.tuning._front_book.FrontBook`; booked from the objective as it ends a
trial where that is exact, see :meth:`Search.use_early_booking`), and at the end
reconciles every trial of the study (other workers' included) into the records
described in docs/records.md.

The study's own settings live in its user attribute ``tracker.search``
(:class:`~tracker.tuning._records.SearchSpec`).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
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
from tracker.records import DataRef, RunStatus
from tracker.run import ActiveRun, start_run
from tracker.store import BaseStore
from tracker.store.ops import Op, SetAttrs
from tracker.tuning import _optuna_compat as compat  # INTERNALS via the module: tests switch it
from tracker.tuning._constraints import evaluate_constraints
from tracker.tuning._front_book import FrontBook
from tracker.tuning._optuna_compat import constraints_func_of, finished_trial, write_trial_attrs
from tracker.tuning._policy import SamplerChoice
from tracker.tuning._progress import (
    ProgressReporter,
    SearchProgress,
    TrialSummary,
    safe_report,
)
from tracker.tuning._pruning import (
    CURVE_KEY,
    TrialCurve,
    constraint_verdict,
    curve_of,
    default_rule,
    dominance_verdict,
    optuna_verdict,
    register,
    unregister,
    uses_optuna_pruner,
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

__all__ = ["SAME_FAILURES_TO_STOP", "WRITE_LINGER_S", "Search", "failure_line", "suggest"]

log = logging.getLogger("tracker")

#: How long the store's writer batches records while trials run (seconds): at 0.1 s the
#: bookkeeping per trial measured 1.8-5 ms over Optuna, at 0.5 s a steadier 1.6-1.8 ms.
#: The records are in the spool at once; other processes see them up to 0.5 s later.
WRITE_LINGER_S = 0.5

_FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)

#: A search whose first this-many trials (in this process) all fail with the same error
#: (exception type and message) stops: a deterministic bug would fail every later trial too.
SAME_FAILURES_TO_STOP = 3


def failure_line(number: int, error: str, run_id: str | None) -> str:
    """The one line a failed trial prints: number, error, where its traceback is stored."""
    where = f" (full traceback: tracker show {run_id[:12]} --json)" if run_id else ""
    return f"tracker: trial {number} failed: {_clip(error, 300)}{where}"


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())  # one line, whatever the message holds
    return text if len(text) <= n else text[: n - 1] + "…"


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
        catch: Exceptions that fail only their trial (the others stop the search, as with
            Optuna's ``catch=``); a caught failure prints :func:`failure_line`.
        callbacks: Optuna callbacks ``(study, frozen_trial)``, called after the tracker's
            bookkeeping of each finished trial (an error in one propagates, as in Optuna).
        say: Where the one-line messages go (default: ``sys.stderr``).
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
        catch: tuple[type[BaseException], ...] = (Exception,),
        callbacks: Sequence[Callable[[Study, FrozenTrial], None]] = (),
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.shared = shared
        self.catch = catch
        self.callbacks = list(callbacks)
        self.say = say or _to_stderr
        self.books_early = False  # see use_early_booking
        #: Why the search stopped early (the first trials all failed alike), if it did.
        self.stopped: str | None = None
        self._first_errors: list[str | None] = []
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
        self.returns = ReturnCheck(self.names, spec.constraints, spec.returns)
        self.ran = 0  # trials this process started
        #: Completed feasible trials' curves as losses, by trial number then step (pruning).
        self.curves: dict[int, dict[int, np.ndarray]] = {}
        self._signs = np.array([-1.0 if d == "maximize" else 1.0 for d in spec.objectives.values()])

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
            index = self.ran
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
        curve = TrialCurve(self, run, trial)
        register(curve)
        try:
            for name, ref in self.data.items():
                run.record_data(name, ref)
            for name, d in self.space.items():
                suggest(trial, name, d)
            with recording_latency() as latencies:
                out = self.objective(trial)
            values = self._complete(trial, run, out, time.perf_counter() - t0, latencies, curve)
            self._count_first(index, None)
            self._book_early(trial, TrialState.COMPLETE, values)
            return values[0] if len(values) == 1 else tuple(values)
        except optuna.TrialPruned:
            with contextlib.suppress(Exception):
                write_trial_attrs(trial, {RUN_ID_KEY: run.id}, {})
            self._end_unsuccessful(trial, run, "pruned", None, time.perf_counter() - t0)
            self._count_first(index, None)
            self._book_early(trial, TrialState.PRUNED, None)
            raise
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(Exception):
                write_trial_attrs(trial, {RUN_ID_KEY: run.id, ERROR_KEY: error[:2000]}, {})
            self._end_unsuccessful(trial, run, "fail", exc, time.perf_counter() - t0)
            if isinstance(exc, Fatal):
                trial.study.stop()
            elif isinstance(exc, self.catch):
                # Caught: the trial fails, the search goes on. One line here; Optuna's own
                # warning with the whole traceback is held back (quiet_optuna).
                self.say(failure_line(trial.number, error, run.id))
                if self._count_first(index, error):
                    trial.study.stop()
            if isinstance(exc, self.catch):  # Optuna goes on to its next trial
                self._book_early(trial, TrialState.FAIL, None)
            raise
        finally:
            unregister(self.study.study_name, trial.number)

    def _complete(
        self,
        trial: Trial,
        run: ActiveRun,
        out: object,
        duration: float,
        latencies: list[Any],
        curve: TrialCurve | None = None,
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
        user: dict[str, Any] = {RUN_ID_KEY: run.id, METRICS_KEY: jsonable_metrics(metrics)}
        steps = curve.objective_curve() if curve is not None else {}
        if steps:  # what later trials (in any process) are compared with when pruning
            user[CURVE_KEY] = steps
        write_trial_attrs(trial, user, system)
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

    def _count_first(self, index: int, error: str | None) -> bool:
        """Note how trial ``index`` (1-based, this process) ended; True: stop the search now."""
        if index > SAME_FAILURES_TO_STOP:
            return False
        with self._lock:
            self._first_errors.append(error)
            errors = self._first_errors
            if (
                len(errors) == SAME_FAILURES_TO_STOP
                and errors[0] is not None
                and all(e == errors[0] for e in errors)
                and self.stopped is None
            ):
                self.stopped = (
                    f"the first {SAME_FAILURES_TO_STOP} trials all failed with {errors[0]}; "
                    "the search stopped early: fix the objective and run it again"
                )
                stop = True
            else:
                stop = False
        if stop:
            self.say(f"tracker: {_clip(self.stopped or '', 400)}")
        return stop

    # --- pruning (tracker.report, from the objective's thread) -------------------------------

    def report_step(self, curve: TrialCurve, metrics: Mapping[str, float], step: int) -> bool:
        """Record one step of a running trial; whether to prune it (``_pruning``'s rules)."""
        curve.steps[step] = {**curve.steps.get(step, {}), **metrics}
        curve.run.write_ops([metric_op(curve.run.id, metrics, step)])
        if curve.pruned is not None:
            return True
        pruner = self.study.pruner
        if isinstance(pruner, optuna.pruners.NopPruner):
            return False
        rule = default_rule(pruner)
        why = constraint_verdict(self, metrics, step, rule)
        if why is None and uses_optuna_pruner(self.study, len(self.names)):
            if self.names[0] in metrics:
                why = optuna_verdict(curve.trial, float(metrics[self.names[0]]), step)
        elif why is None and all(n in metrics for n in self.names):
            losses = np.array([float(metrics[n]) for n in self.names]) * self._signs
            with self._lock:
                others = [c[step] for c in self.curves.values() if step in c]
            why = dominance_verdict(losses, others, step, rule)
        if why is None:
            return False
        curve.pruned = {"step": step, "reason": why}
        curve.run.write_ops([SetAttrs(run_id=curve.run.id, attrs={"pruning": curve.pruned})])
        return True

    def _keep_curve(self, ft: FrozenTrial, rec: TrialRecord | None) -> None:
        """Remember a completed feasible trial's curve (call with the lock held)."""
        if rec is None or rec.state != "complete" or not rec.feasible:
            return
        steps = curve_of(ft)
        if steps:
            self.curves[ft.number] = {
                s: v * self._signs for s, v in steps.items() if v.shape == self._signs.shape
            }

    # --- after each trial (Optuna callback) -------------------------------------------------

    def use_early_booking(self, n_jobs: int) -> None:
        """Book trials from the objective (:meth:`_book_early`), not in an Optuna callback.

        Optuna reads each finished trial back from the storage before its callbacks (2.4 ms
        per trial at load 4). Only where the objective's view is exact: one trial at a time,
        a verified Optuna, no sampler ``constraints_func`` (it writes as the trial ends).
        Then pass :meth:`optuna_callbacks` to ``study.optimize``.
        """
        sampler_judges = constraints_func_of(self.study.sampler) is not None
        self.books_early = n_jobs == 1 and compat.INTERNALS and not sampler_judges

    def optuna_callbacks(self) -> list[Callable[[Study, FrozenTrial], None]] | None:
        """``study.optimize(callbacks=...)``: ``None`` when nothing is left to call."""
        if not self.books_early:
            return [self.after_trial]
        return [self.user_callbacks] if self.callbacks else None

    def _book_early(self, trial: Trial, state: TrialState, values: Sequence[float] | None) -> None:
        """Book the ending trial as Optuna will record it (missed ones: see :meth:`_book`)."""
        if not self.books_early:
            return
        try:
            ft = finished_trial(trial, state, values)
            if ft is not None:
                self._book(trial.study, ft)
        except Exception as exc:  # never fails the trial; the next one's gap check finds it
            log.warning("tracker: could not book trial %s: %s", trial.number, exc)

    def after_trial(self, study: Study, ft: FrozenTrial) -> None:
        """Optuna's callback: the front, the hypervolume, the reporters, the user's callbacks."""
        if self._book(study, ft):
            self.user_callbacks(study, ft)

    def user_callbacks(self, study: Study, ft: FrozenTrial) -> None:
        """The user's Optuna callbacks, as Optuna calls them (an error in one propagates)."""
        for callback in self.callbacks:
            callback(study, ft)

    def _book(self, study: Study, ft: FrozenTrial) -> bool:
        """Update the front, the hypervolume history and the reporters; False if that failed."""
        try:
            with self._lock:
                # Trials finish in number order in one sequential process; a gap means
                # threads or other workers finished trials this process has not seen.
                rec = None
                if len(self.book.known) < ft.number:
                    self.refresh()
                    if ft.number not in self.book.known:  # booked before Optuna stored it
                        own = record_from_trial(ft, self.spec)
                        if own is not None:
                            self.book.add(own)
                        self._keep_curve(ft, own)
                else:
                    rec = record_from_trial(ft, self.spec)
                    if rec is not None:
                        self.book.add(rec)
                    self._keep_curve(ft, rec)
                self.book.update(rec)
                event = self._event(self.book.known.get(ft.number)) if self.reporters else None
        except Exception as exc:  # bookkeeping must never stop the search
            log.warning(
                "tracker: could not update the search records after trial %s: %s",
                ft.number,
                exc,
            )
            return False
        if event is not None:
            safe_report(self.reporters, event)
        self._stop_at_target(study)
        return True

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
        pairs = [(ft, record_from_trial(ft, self.spec)) for ft in trials]
        with self._lock:
            self.book.reload([r for _, r in pairs if r is not None])
            for ft, r in pairs:
                self._keep_curve(ft, r)

    def _event(self, last: TrialRecord | None, done: bool = False) -> SearchProgress:
        # After every trial, so from what the book keeps as trials arrive (counts, each
        # trial's summary, the front's hypervolume), not rebuilt from every trial.
        book = self.book
        counts = book.counts
        return SearchProgress(
            study_name=self.study.study_name,
            search_run_id=self.spec.search_run_id,
            objectives=dict(self.spec.objectives),
            constraints=[c.expr for c in self.spec.constraints],
            n_finished=len(book.known),
            n_complete=counts.complete,
            n_feasible=counts.feasible,
            n_failed=counts.failed,
            n_pruned=counts.pruned,
            target=self.spec.target_total,
            elapsed_s=time.monotonic() - self.started,
            timeout_s=self.timeout,
            last=book.summary(last.number) if last else None,
            front=book.front_summaries(),
            trials=book.summaries(),
            hypervolume=book.current_hypervolume(),
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


def _to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _trial_attrs(record: TrialRecord, latencies: list[Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {"trial": record.trial_attr()}
    if len(latencies) == 1:
        attrs["latency"] = latencies[0].to_dict()
    elif latencies:
        attrs["latency"] = latencies[-1].to_dict()
        for i, lat in enumerate(latencies):
            attrs[f"latency.{i}"] = lat.to_dict()
    return attrs
