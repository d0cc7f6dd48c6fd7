"""The feasible Pareto front and the hypervolume history of a search, kept as trials finish.

Per trial this is the search's hot path, so the front is updated incrementally (O(front)
per trial, not O(trials^2), its losses kept as an array beside it) and the hypervolume
logged from it; the counts and trial summaries a progress event shows are kept as trials
arrive, not rebuilt from every trial. After a refresh (other threads or workers finished
trials this process had not seen) everything is recomputed from every known trial.
``tests/test_tuning_bookkeeping.py`` holds each shortcut against the brute-force
computation.

The search run's ``pareto`` attribute (the front's run ids) is rewritten at most every
:data:`PARETO_EVERY_S` while trials run, and always by :meth:`FrontBook.update` after a
refresh (which is how a search ends): a front that changes with every trial would
otherwise be validated, spooled and written whole after each one, while the store's
writer only commits every half second anyway.

The hypervolume reference point is fixed once (docs/optimize.md, "Hypervolume"): the
caller's, else a constraint bound on each objective, else the worst of the first
:data:`REF_AFTER` completed trials plus 10 %; the steps before it was fixed are backfilled.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace

import numpy as np
from optuna.study import Study

from tracker.store import BaseStore
from tracker.store.ops import LogMetrics, MetricRow, Op, SetAttrs
from tracker.tuning._front import dominates, hypervolume, pareto_mask, reference_point
from tracker.tuning._progress import TrialSummary
from tracker.tuning._records import SPEC_KEY, SearchSpec, TrialRecord

__all__ = ["PARETO_EVERY_S", "REF_AFTER", "Counts", "FrontBook"]

log = logging.getLogger("tracker")

#: Completed trials needed before the hypervolume reference point is fixed from data.
REF_AFTER = 10
#: Shortest time between two writes of the search run's ``pareto`` attribute while
#: trials run (the store's writer batches over 0.5 s during a search, see ``_search``).
PARETO_EVERY_S = 0.5


class Counts:
    """How many known trials are complete, feasible, failed and pruned."""

    __slots__ = ("complete", "failed", "feasible", "pruned")

    def __init__(self) -> None:
        self.complete = self.feasible = self.failed = self.pruned = 0

    def count(self, rec: TrialRecord, sign: int) -> None:
        """Count ``rec`` in (``sign=1``) or out (``sign=-1``)."""
        if rec.state == "complete":
            self.complete += sign
            self.feasible += sign * rec.feasible
        elif rec.state == "fail":
            self.failed += sign
        elif rec.state == "pruned":
            self.pruned += sign


class FrontBook:
    """Known trials, the feasible front and the hypervolume history of one process's search.

    Not locked itself: the caller (:class:`tracker.tuning._search.Search`) holds ``lock``
    around every call, which :meth:`front` also takes.

    Args:
        study: The Optuna study (its user attr gets the fixed reference point).
        spec: The shared settings.
        store: Where the search run's ``pareto``, ``hypervolume`` and reference go.
        lock: The search's lock.

    Attributes:
        known: Trial number to its record, every finished trial seen so far (change it
            only through :meth:`add` and :meth:`reload`: the counts, the summaries and
            the front are kept in step with it).
        counts: The known trials by state.
    """

    def __init__(
        self, study: Study, spec: SearchSpec, store: BaseStore, lock: threading.RLock
    ) -> None:
        self.study = study
        self.spec = spec
        self.store = store
        self.lock = lock
        self.names = list(spec.objectives)
        self.directions = list(spec.objectives.values())
        self._signs = np.array([-1.0 if d == "maximize" else 1.0 for d in self.directions])
        self.known: dict[int, TrialRecord] = {}
        self.counts = Counts()
        self._numbers: list[int] = []  # the keys of ``known``, ascending
        self._summaries: list[TrialSummary] = []  # the reporters' view of each, in step
        # The pareto attribute last written: None until first written (a search whose
        # front stays empty still records ``pareto: []``; readers need not tell "empty"
        # from "not recorded").
        self.front_ids: list[str] | None = None
        self._pareto_at = -float("inf")  # when it was written (monotonic)
        self._pareto_of = -1  # the front version it was last checked against
        self._timer: threading.Timer | None = None  # a write of it that is due later
        # The front as trial numbers, ascending, with its losses row by row; None:
        # recompute from ``known`` (after a reload). The version counts its changes.
        self._front: list[int] | None = None
        self._front_losses = np.zeros((0, len(self.names)))
        self._version = 0
        self._ref: np.ndarray | None = (
            np.asarray(spec.reference_point, dtype=float) if spec.reference_point else None
        )
        self._hv_logged = 0  # highest step logged by this process
        # The front version the last hypervolume was computed from: most trials leave the
        # front as it is, and then the hypervolume is the same.
        self._hv_of: tuple[int, float] | None = None

    # --- trials ---------------------------------------------------------------------------

    def add(self, rec: TrialRecord) -> None:
        """Remember one finished trial (call :meth:`update` next)."""
        self._put(rec)

    def reload(self, recs: Iterable[TrialRecord]) -> None:
        """Remember many trials (a refresh); the front is recomputed on the next update."""
        for rec in recs:
            self._put(rec)
        self._front = None
        self._version += 1

    def _put(self, rec: TrialRecord) -> None:
        old = self.known.get(rec.number)
        self.known[rec.number] = rec
        self.counts.count(rec, 1)
        if old is not None:
            self.counts.count(old, -1)
            self._summaries[bisect.bisect_left(self._numbers, rec.number)] = rec.summary()
        elif not self._numbers or rec.number > self._numbers[-1]:
            self._numbers.append(rec.number)  # trials mostly finish in number order
            self._summaries.append(rec.summary())
        else:
            at = bisect.bisect_left(self._numbers, rec.number)
            self._numbers.insert(at, rec.number)
            self._summaries.insert(at, rec.summary())

    def _flag(self, number: int, pareto: bool) -> None:
        r = self.known.get(number)
        if r is not None and r.pareto != pareto:
            r = self.known[number] = replace(r, pareto=pareto)
            self._summaries[bisect.bisect_left(self._numbers, number)] = r.summary()

    def complete(self) -> list[TrialRecord]:
        """Completed trials by number."""
        return [r for r in self.records() if r.state == "complete"]

    def records(self) -> list[TrialRecord]:
        """Every known trial by number."""
        known = self.known
        return [known[n] for n in self._numbers]

    def summary(self, number: int) -> TrialSummary:
        """The reporters' view of a known trial (made when its record changes)."""
        return self._summaries[bisect.bisect_left(self._numbers, number)]

    def summaries(self) -> list[TrialSummary]:
        """The reporters' view of every known trial, by number."""
        return list(self._summaries)

    # --- the front ------------------------------------------------------------------------

    def front(self) -> list[TrialRecord]:
        """The feasible Pareto trials (the best feasible trial for one objective)."""
        with self.lock:
            return [self.known[n] for n in self._front_numbers()]

    def front_summaries(self) -> list[TrialSummary]:
        """:meth:`front` in the reporters' view."""
        with self.lock:
            return [self.summary(n) for n in self._front_numbers()]

    def _front_numbers(self) -> list[int]:
        if self._front is None:
            self._set_front(self._full_front())
        assert self._front is not None
        return self._front

    def _set_front(self, recs: Sequence[TrialRecord]) -> None:
        self._front = [r.number for r in recs]
        self._front_losses = self.losses(recs)
        self._version += 1

    def _full_front(self) -> list[TrialRecord]:
        feas = [r for r in self.complete() if r.feasible]
        if not feas:
            return []
        losses = self.losses(feas)
        if len(self.names) == 1:
            best = float(losses[:, 0].min())
            return [r for r, lv in zip(feas, losses[:, 0], strict=True) if lv == best][:1]
        mask = pareto_mask(losses)
        return [r for r, m in zip(feas, mask, strict=True) if m]

    def _add_to_front(self, front: list[int], rec: TrialRecord) -> list[int]:
        """Update the front with one new trial: O(front), not O(trials^2).

        Returns:
            The trials that left the front (``rec`` entered it if it is on it now).
        """
        if rec.state != "complete" or not rec.feasible:
            return []
        new = self.losses([rec])[0]
        if not front:
            self._set_front([rec])
            return []
        old = self._front_losses
        if len(self.names) == 1:
            best, number = float(old[0, 0]), front[0]
            if new[0] < best or (new[0] == best and rec.number < number):
                self._set_front([rec])
                return [number]
            return []
        if dominates(old, new).any():
            return []  # dominated: the front does not change
        keep = ~dominates(new, old)
        numbers = [n for n, k in zip(front, keep, strict=True) if k]
        left = (
            [n for n, k in zip(front, keep, strict=True) if not k]
            if len(numbers) < len(front)
            else []
        )
        at = bisect.bisect(numbers, rec.number)  # the end, unless trials finish out of order
        numbers.insert(at, rec.number)
        self._front = numbers
        self._front_losses = np.insert(old[keep], at, new, axis=0)
        self._version += 1
        return left

    def losses(self, recs: Sequence[TrialRecord]) -> np.ndarray:
        """``(n, k)`` losses of ``recs`` (maximised objectives negated)."""
        arr = np.array([[r.values[n] for n in self.names] for r in recs], dtype=float)
        return np.asarray(arr.reshape(len(recs), len(self.names)) * self._signs)

    def update(self, rec: TrialRecord | None = None) -> None:
        """After ``rec`` finished (or after a reload, ``None``): flags, front and hypervolume."""
        if rec is not None and self._front is not None:
            # Only trials that entered or left the front change flag.
            version = self._version
            for n in self._add_to_front(self._front, rec):
                self._flag(n, False)
            if self._version != version:
                self._flag(rec.number, True)
        else:  # after a reload (or the first trial): every flag from the whole front
            ids = set(self._front_numbers())
            for n in self._numbers:
                self._flag(n, n in ids)
        ops = self._pareto_ops(force=rec is None)
        if len(self.names) > 1:
            ops.extend(self._hypervolume_ops())
        if ops:
            self.store.write(ops)

    # --- the pareto attribute -------------------------------------------------------------

    def _pareto_ops(self, *, force: bool) -> list[Op]:
        """The ``pareto`` attribute's write if the front's run ids changed and one is due.

        Not due yet (written less than :data:`PARETO_EVERY_S` ago): a timer writes it
        when it is, so a slow trial after a quick one does not leave it stale.
        """
        if self._version == self._pareto_of:
            return []
        if not force:
            if self._timer is not None:
                return []  # already due later
            wait = self._pareto_at + PARETO_EVERY_S - time.monotonic()
            if wait > 0:
                self._timer = threading.Timer(wait, self._pareto_due)
                self._timer.daemon = True
                self._timer.start()
                return []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pareto_of = self._version
        run_ids = [r for r in (self.known[n].run_id for n in self._front_numbers()) if r]
        if run_ids == self.front_ids:
            return []
        self.front_ids = run_ids
        self._pareto_at = time.monotonic()
        return [SetAttrs(run_id=self.spec.search_run_id, attrs={"pareto": run_ids})]

    def _pareto_due(self) -> None:
        """The timer's write of the ``pareto`` attribute (never raises: its own thread)."""
        try:
            with self.lock:
                self._timer = None
                ops = self._pareto_ops(force=True)
                if ops:
                    self.store.write(ops)
        except Exception as exc:  # the next update (at the latest the search's end) retries
            log.warning("tracker: could not record the search's Pareto front: %s", exc)

    # --- hypervolume ----------------------------------------------------------------------

    def _fix_reference(self) -> bool:
        """Fix the reference point once enough is known (see the module docstring)."""
        if self._ref is not None:
            return True
        complete = self.complete()
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
        ref = reference_point(self.losses(complete)) if complete else np.zeros(len(self.names))
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
        n_done = len(self.known)
        if n_done <= self._hv_logged:
            return []
        hv_by_step: list[tuple[int, float]] = []
        if n_done == self._hv_logged + 1:
            # The common case, one more finished trial: the hypervolume of the current front
            # (the same as of every feasible trial, at the cost of the front's size).
            hv_by_step.append((n_done, self._front_hypervolume()))
        else:
            # The first time (the backfill up to the fixed reference) or after a reload:
            # every step not logged yet, over the trials in number order.
            recs = self.records()
            feas = [r.state == "complete" and r.feasible for r in recs]
            losses = self.losses([r for r, f in zip(recs, feas, strict=True) if f])
            seen = 0
            for step, f in enumerate(feas, start=1):
                seen += f
                if step > self._hv_logged:
                    hv = hypervolume(losses[:seen], self._ref) if seen else 0.0
                    hv_by_step.append((step, hv))
        now = time.time()
        rows = tuple(
            MetricRow(id=uuid.uuid4().hex, key="hypervolume", value=hv, step=step, timestamp=now)
            for step, hv in hv_by_step
        )
        self._hv_logged = n_done
        return [LogMetrics(run_id=self.spec.search_run_id, metrics=rows)]

    def _front_hypervolume(self) -> float:
        """Hypervolume of the current front, reused while the front is unchanged."""
        assert self._ref is not None
        numbers = self._front_numbers()
        if self._hv_of is None or self._hv_of[0] != self._version:
            hv = hypervolume(self._front_losses, self._ref) if numbers else 0.0
            self._hv_of = (self._version, hv)
        return self._hv_of[1]

    def current_hypervolume(self) -> float | None:
        """Hypervolume of the feasible front now (multi-objective, once the reference is fixed).

        The front's hypervolume is that of every feasible trial: a dominated point adds no
        volume, and one beyond the reference point has a front point beyond it too.
        """
        if len(self.names) < 2 or self._ref is None:
            return None
        return self._front_hypervolume()
