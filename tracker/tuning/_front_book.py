"""The feasible Pareto front and the hypervolume history of a search, kept as trials finish.

Per trial this is the search's hot path, so the front is updated incrementally (O(front)
per trial, not O(trials^2)) and the hypervolume logged from it; after a refresh (other
threads or workers finished trials this process had not seen) both are recomputed from
every known trial. ``tests/test_tuning_bookkeeping.py`` holds each shortcut against the
brute-force computation.

The hypervolume reference point is fixed once (docs/optimize.md, "Hypervolume"): the
caller's, else a constraint bound on each objective, else the worst of the first
:data:`REF_AFTER` completed trials plus 10 %; the steps before it was fixed are backfilled.
"""

from __future__ import annotations

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
from tracker.tuning._records import SPEC_KEY, SearchSpec, TrialRecord

__all__ = ["REF_AFTER", "FrontBook"]

#: Completed trials needed before the hypervolume reference point is fixed from data.
REF_AFTER = 10


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
        known: Trial number to its record, every finished trial seen so far.
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
        self.known: dict[int, TrialRecord] = {}
        # None until first written: a search whose front stays empty still records
        # ``pareto: []`` (readers need not tell "empty" from "not recorded").
        self.front_ids: list[str] | None = None
        self._front: list[TrialRecord] | None = None  # cached; None = recompute from known
        self._ref: np.ndarray | None = (
            np.asarray(spec.reference_point, dtype=float) if spec.reference_point else None
        )
        self._hv_logged = 0  # highest step logged by this process
        # The front (trial numbers) the last logged hypervolume was computed from: most
        # trials leave the front as it is, and then the hypervolume is the same.
        self._hv_of: tuple[tuple[int, ...], float] | None = None

    # --- trials ---------------------------------------------------------------------------

    def add(self, rec: TrialRecord) -> None:
        """Remember one finished trial (call :meth:`update` next)."""
        self.known[rec.number] = rec

    def reload(self, recs: Iterable[TrialRecord]) -> None:
        """Remember many trials (a refresh); the front is recomputed on the next update."""
        for rec in recs:
            self.known[rec.number] = rec
        self._front = None
        self._hv_of = None

    def complete(self) -> list[TrialRecord]:
        """Completed trials by number."""
        return [r for _, r in sorted(self.known.items()) if r.state == "complete"]

    def records(self) -> list[TrialRecord]:
        """Every known trial by number."""
        return [r for _, r in sorted(self.known.items())]

    # --- the front ------------------------------------------------------------------------

    def front(self) -> list[TrialRecord]:
        """The feasible Pareto trials (the best feasible trial for one objective)."""
        with self.lock:
            if self._front is None:
                self._front = self._full_front()
            return [self.known.get(r.number, r) for r in self._front]

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

    def _add_to_front(self, rec: TrialRecord) -> None:
        """Update the cached front with one new trial: O(front), not O(trials^2)."""
        if self._front is None:
            self._front = self._full_front()
            return
        if rec.state != "complete" or not rec.feasible:
            return
        new = self.losses([rec])[0]
        if not self._front:
            self._front = [rec]
            return
        old = self.losses(self._front)
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

    def losses(self, recs: Sequence[TrialRecord]) -> np.ndarray:
        """``(n, k)`` losses of ``recs`` (maximised objectives negated)."""
        signs = np.array([-1.0 if d == "maximize" else 1.0 for d in self.directions])
        arr = np.array([[r.values[n] for n in self.names] for r in recs], dtype=float)
        return np.asarray(arr.reshape(len(recs), len(self.names)) * signs)

    def update(self, rec: TrialRecord | None = None) -> None:
        """After ``rec`` finished (or after a reload, ``None``): flags, front and hypervolume."""
        before = {r.number for r in self._front or ()}
        if rec is not None:
            self._add_to_front(rec)
        front = self.front()
        ids = {r.number for r in front}
        # Only trials that entered or left the front change flag (all of them after a reload).
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
        finished = sorted(self.known)
        n_done = len(finished)
        if n_done <= self._hv_logged:
            return []
        hv_by_step: list[tuple[int, float]] = []
        if n_done == self._hv_logged + 1:
            # The common case, one more finished trial: the hypervolume of the current front
            # (the same as of every feasible trial, at the cost of the front's size).
            front = self.front()
            numbers = tuple(r.number for r in front)
            if self._hv_of is None or self._hv_of[0] != numbers:
                hv = hypervolume(self.losses(front), self._ref) if front else 0.0
                self._hv_of = (numbers, hv)
            hv_by_step.append((n_done, self._hv_of[1]))
        else:
            # The first time (the backfill up to the fixed reference) or after a reload:
            # every step not logged yet, over the trials in number order.
            recs = [self.known[n] for n in finished]
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

    def current_hypervolume(self) -> float | None:
        """Hypervolume of the feasible front now (multi-objective, once the reference is fixed)."""
        if len(self.names) < 2 or self._ref is None:
            return None
        feas = [r for r in self.complete() if r.feasible]
        if not feas:
            return 0.0
        return hypervolume(self.losses(feas), self._ref)
