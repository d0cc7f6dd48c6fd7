"""Progress of a running search: the event passed to reporters, and the plain-text reporter.

A reporter is any callable taking a :class:`SearchProgress`. The search calls it after
every finished trial (from the thread that ran the trial, so a reporter must be
thread-safe) and once more with ``done=True`` at the end. A reporter that raises is
disabled for the rest of the search: progress display never stops a search. Reporters
throttle themselves; the search does not wait for them beyond the call.

The notebook widget (``tracker.widgets``) is another reporter; ``tracker.optimize``
picks it inside a notebook and :class:`TextProgress` elsewhere.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["ProgressReporter", "SearchProgress", "TextProgress", "TrialSummary"]


@dataclass(frozen=True, slots=True)
class TrialSummary:
    """What a reporter needs of one trial.

    Attributes:
        number: Optuna trial number.
        run_id: The trial's tracker run.
        state: ``"complete"``, ``"fail"`` or ``"pruned"``.
        params: Its parameters.
        values: Objective name to value (complete trials).
        metrics: Everything the objective returned.
        feasible: All constraints met.
        pareto: On the feasible Pareto front (or the best, for one objective).
        error: Why it failed.
        test: Metrics on the held-out data (Pareto trials, after the re-check).
        feasible_on_test: Whether every constraint held on the test metrics.
    """

    number: int
    run_id: str | None
    state: str
    params: Mapping[str, Any]
    values: Mapping[str, float]
    metrics: Mapping[str, float]
    feasible: bool
    pareto: bool = False
    error: str | None = None
    test: Mapping[str, float] | None = None
    feasible_on_test: bool | None = None


@dataclass(frozen=True, slots=True)
class SearchProgress:
    """A snapshot of a search after a trial finished.

    Attributes:
        study_name: The Optuna study.
        search_run_id: The search's tracker run.
        objectives: Metric to ``"maximize"``/``"minimize"``.
        constraints: Constraint expressions.
        n_finished: Trials finished in the study (all states).
        n_complete: Trials that completed.
        n_feasible: Completed trials meeting every constraint.
        n_failed: Trials that failed.
        n_pruned: Trials pruned (``tracker.report`` or ``trial.should_prune()``).
        target: Trials this search aims at in the study (``None``: timeout only).
        elapsed_s: Seconds since this search started.
        timeout_s: Its time limit, if any.
        last: The trial that just finished (``None`` on the final call).
        front: The feasible Pareto trials (the best one, for one objective).
        trials: Every finished trial, by number (for plots).
        hypervolume: Hypervolume of the feasible front (multi-objective), if known.
        sampler: Name of the sampler in use, once chosen.
        done: This is the final call.
        rechecked: The test re-check ran (final call of ``tracker.optimize``).
        chosen: The trial the search recommends (final call of ``tracker.optimize``).
        closest: When no configuration met the constraints on test: the one that missed by
            the least, which is not a choice (final call, after a re-check).
        outcome: One sentence on the choice, or on why there is none (final call of
            ``tracker.optimize``; ``None`` from workers, which choose nothing).
    """

    study_name: str
    search_run_id: str
    objectives: Mapping[str, str]
    constraints: Sequence[str]
    n_finished: int
    n_complete: int
    n_feasible: int
    n_failed: int
    target: int | None
    elapsed_s: float
    timeout_s: float | None
    last: TrialSummary | None
    front: Sequence[TrialSummary]
    trials: Sequence[TrialSummary] = field(default_factory=tuple)
    hypervolume: float | None = None
    sampler: str | None = None
    done: bool = False
    rechecked: bool = False
    chosen: TrialSummary | None = None
    closest: TrialSummary | None = None
    outcome: str | None = None
    n_pruned: int = 0


ProgressReporter = Callable[[SearchProgress], None]


def _fmt(v: float) -> str:
    return f"{v:.4g}"


class TextProgress:
    """One line per update on a text stream, at most every ``interval`` seconds.

    Args:
        stream: Where to write (default: ``sys.stderr``).
        interval: Minimum seconds between lines (the final line is always written).
    """

    def __init__(self, stream: TextIO | None = None, interval: float = 2.0) -> None:
        self._stream = stream
        self._interval = interval
        self._last = -float("inf")
        self._lock = threading.Lock()

    def __call__(self, p: SearchProgress) -> None:
        """Write a line if the interval has passed (or the search is done)."""
        now = time.monotonic()
        with self._lock:
            if not p.done and now - self._last < self._interval:
                return
            self._last = now
        stream = self._stream or sys.stderr
        stream.write(self.line(p) + "\n")
        stream.flush()

    @staticmethod
    def line(p: SearchProgress) -> str:
        """The text of one update."""
        target = f"/{p.target}" if p.target is not None else ""
        parts = [
            f"[{p.study_name}] {p.n_finished}{target} trials",
            f"{p.n_feasible} feasible",
        ]
        if p.n_pruned:
            parts.append(f"{p.n_pruned} pruned")
        if p.n_failed:
            parts.append(f"{p.n_failed} failed")
        if p.front:
            if len(p.objectives) == 1:
                (name,) = p.objectives
                best = p.front[0]
                parts.append(
                    f"best {name}={_fmt(best.values.get(name, float('nan')))} (#{best.number})"
                )
            else:
                parts.append(f"Pareto front: {len(p.front)} trial(s)")
        if p.hypervolume is not None:
            parts.append(f"hypervolume {_fmt(p.hypervolume)}")
        parts.append(f"{p.elapsed_s:.0f} s")
        if p.done:
            parts.append("done")
        line = ", ".join(parts)
        return f"{line}; {p.outcome}" if p.done and p.outcome else line


def safe_report(reporters: list[ProgressReporter], event: SearchProgress) -> None:
    """Call each reporter; drop any that raises (display must never stop a search)."""
    for r in list(reporters):
        try:
            r(event)
        except Exception as exc:
            reporters.remove(r)
            sys.stderr.write(f"tracker: progress display disabled after an error: {exc}\n")


def as_dict(p: SearchProgress) -> dict[str, Any]:
    """A plain dict (for tests and JSON)."""
    return {
        "study_name": p.study_name,
        "n_finished": p.n_finished,
        "n_feasible": p.n_feasible,
        "target": p.target,
        "done": p.done,
    }
