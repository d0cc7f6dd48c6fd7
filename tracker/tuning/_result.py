"""What a search returns: its trials, the feasible Pareto front, the test re-check, the choice.

The choice is hard about constraints: with a test re-check, :attr:`SearchResult.chosen`
is the best Pareto trial that still meets every constraint on the held-out data, and
``None`` when none does; :attr:`SearchResult.closest` then names the Pareto trial that
missed by the least, marked as not meeting the budget, never as a choice.
"""

from __future__ import annotations

import copy
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tracker.display import clip, figures, one_line
from tracker.tuning._progress import TrialSummary
from tracker.tuning._records import SearchSpec, TrialRecord

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from tracker.viz import Figure

__all__ = [
    "NO_CONFIGURATION_MET",
    "SearchResult",
    "TrialResult",
    "build_result",
    "choose",
    "excess_on_test",
]

#: What every view says when no configuration met the constraints on held-out data.
NO_CONFIGURATION_MET = "no configuration met the budget on held-out data"


@dataclass(frozen=True, slots=True)
class TrialResult:
    """One trial of a search, as the result reports it.

    Attributes:
        number: Optuna trial number.
        run_id: Its tracker run (``tracker.get_run(run_id)``).
        state: ``"complete"``, ``"fail"`` or ``"pruned"``.
        params: Its parameters.
        values: Objective name to validation value.
        metrics: Everything the objective returned.
        constraints: Constraint expression to ``{"value", "violation", "feasible"}``.
        feasible: All constraints met on validation.
        pareto: On the feasible Pareto front (the best trial, for one objective).
        duration_s: Wall time of the trial.
        error: Why it failed.
        test: Metrics on the held-out data (Pareto trials, after the re-check).
        feasible_on_test: Whether every constraint still holds on the test metrics.
        test_latency: The latency re-measured during the re-check (record form).
        test_violations: Constraint expression to its normalised violation on test
            (``<= 0`` holds; docs/optimize.md, "Constraints").
    """

    number: int
    run_id: str | None
    state: str
    params: Mapping[str, Any]
    values: Mapping[str, float]
    metrics: Mapping[str, float]
    constraints: Mapping[str, Mapping[str, Any]]
    feasible: bool
    pareto: bool
    duration_s: float | None
    error: str | None = None
    test: Mapping[str, float] | None = None
    feasible_on_test: bool | None = None
    test_latency: Mapping[str, Any] | None = None
    test_violations: Mapping[str, float] | None = None

    def summary(self) -> TrialSummary:
        """The progress reporters' view of this trial."""
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
            test=dict(self.test) if self.test is not None else None,
            feasible_on_test=self.feasible_on_test,
        )

    def __repr__(self) -> str:
        test = None
        if self.test is not None:
            shown = {k: v for k, v in self.test.items() if k in self.values}
            test = f"test[{figures(shown)}]" + ("" if self.feasible_on_test else " INFEASIBLE")
        return one_line(
            "Trial",
            f"#{self.number}",
            self.state,
            figures(self.values) or None,
            f"| {figures(self.params)}" if self.params else None,
            test,
        )


@dataclass(slots=True)
class SearchResult:
    """The outcome of :func:`tracker.optimize`.

    Attributes:
        study: The ``optuna.Study`` (same database as the tracker; optuna-dashboard opens it).
        study_name: Its name.
        search_run_id: The search's tracker run.
        objectives: Metric to direction.
        constraints: Constraint expressions.
        sampler: ``{"name", "reason", "options"}`` of the sampler used.
        trials: Every finished trial of the study, by number.
        pareto: Feasible, non-dominated trials (validation values, constraint values,
            run ids, and test values after a re-check).
        chosen: The trial the search recommends: the Pareto trial best on the first
            objective among those that meet every constraint on test after a re-check
            (``None`` when none does), or among all Pareto trials without one.
        recheck: ``attrs["recheck"]`` as stored (empty without ``test=``).
        closest: Only when a re-check left nothing to choose: the Pareto trial whose
            constraints were broken on test by the least (normalised violations summed).
            It does not meet the budget; it is what to look at next, not a model to ship.
        stopped: Why the search stopped early (its first trials all failed alike), if so.

    Optuna's questions, in Optuna's words, on the study's (validation) values and only
    over feasible trials: :attr:`best_trial`, :attr:`best_trials`, :attr:`best_params`,
    :attr:`best_value`, :attr:`best_values`. They raise ``ValueError`` with the reason
    when there is no answer (no feasible trial; ``best_trial`` of several objectives), as
    Optuna's ``Study.best_trial`` does; :attr:`chosen` is the test-confirmed pick.
    """

    study: optuna.Study
    study_name: str
    search_run_id: str
    objectives: Mapping[str, str]
    constraints: Sequence[str]
    sampler: Mapping[str, Any]
    trials: list[TrialResult]
    pareto: list[TrialResult]
    chosen: TrialResult | None
    recheck: Mapping[str, Any] = field(default_factory=dict)
    closest: TrialResult | None = None
    stopped: str | None = None

    # --- Optuna's questions ----------------------------------------------------------------

    def _front_trials(self) -> list[TrialResult]:
        if not self.pareto:
            raise ValueError(f"no feasible trial to answer with: {self._why_none()}")
        return sorted(self.pareto, key=lambda t: t.number)

    def _why_none(self) -> str:
        budget = " and ".join(self.constraints)
        if self.stopped:
            return self.stopped
        if not any(t.state == "complete" for t in self.trials):
            return "no trial completed"
        if budget:
            return f"no completed trial met the constraints ({budget})"
        return "no trial completed"

    def _frozen(self, t: TrialResult) -> optuna.trial.FrozenTrial:
        trials = self.study.get_trials(deepcopy=False)
        ft = trials[t.number] if t.number < len(trials) else None
        if ft is None or ft.number != t.number:  # trials are listed by number; a safety net
            ft = next(f for f in trials if f.number == t.number)
        return copy.deepcopy(ft)  # the caller's to change, as Study.best_trial's is

    @property
    def best_trial(self) -> optuna.trial.FrozenTrial:
        """The best feasible trial of a single-objective search (Optuna's ``FrozenTrial``).

        Raises:
            ValueError: several objectives (use :attr:`best_trials` or :attr:`chosen`), or
                no trial met every constraint (the reason is in the message).
        """
        if len(self.objectives) > 1:
            raise ValueError(
                f"this search has {len(self.objectives)} objectives "
                f"({', '.join(self.objectives)}): there is no single best trial. Use "
                ".best_trials (the feasible Pareto front) or .chosen (the recommended one)"
            )
        return self._frozen(self._front_trials()[0])

    @property
    def best_trials(self) -> list[optuna.trial.FrozenTrial]:
        """The feasible Pareto front as Optuna's ``FrozenTrial`` s (``[]`` when none is feasible).

        For one objective: the best feasible trial. Pruned and failed trials are never
        on it, nor a trial that broke a constraint.
        """
        return [self._frozen(t) for t in sorted(self.pareto, key=lambda t: t.number)]

    @property
    def best_params(self) -> dict[str, Any]:
        """Parameters of :attr:`best_trial` (one objective; see there for the errors)."""
        return dict(self.best_trial.params)

    @property
    def best_value(self) -> float:
        """Objective value of :attr:`best_trial` (one objective; see there for the errors)."""
        return float(self.best_trial.values[0])

    @property
    def best_values(self) -> list[dict[str, float]]:
        """Objective values of each of :attr:`best_trials`, by objective name.

        Raises:
            ValueError: no trial met every constraint (the reason is in the message).
        """
        return [dict(t.values) for t in self._front_trials()]

    @property
    def best(self) -> TrialResult | None:
        """The best feasible trial (one objective); for several, :attr:`chosen`.

        ``None`` when no trial was feasible (after a re-check: on test).
        """
        return self.chosen

    @property
    def outcome(self) -> str:
        """One sentence on what the search recommends, or why it recommends nothing."""
        budget = " and ".join(self.constraints)
        if self.chosen is not None:
            if not self.recheck:
                return f"chosen: trial #{self.chosen.number} (on validation data, no test re-check)"
            held = f"meets {budget}" if budget else "was re-checked"
            return f"chosen: trial #{self.chosen.number}, which {held} on held-out data"
        if not self.pareto:
            if self.stopped:
                return f"stopped early: {self.stopped}"
            if budget and any(t.state == "complete" for t in self.trials):
                return (
                    f"no configuration met the budget ({budget}) even on validation data; "
                    "nothing to choose"
                )
            return "no trial completed; nothing to choose"
        head = NO_CONFIGURATION_MET + (f" ({budget})" if budget else "")
        if self.closest is None:
            return f"{head}: the test re-check failed for every Pareto trial (see .recheck)"
        broken = ", ".join(
            f"{expr} by {_percent(v)} of its bound"
            for expr, v in (self.closest.test_violations or {}).items()
            if v > 0
        )
        return (
            f"{head}; the closest, trial #{self.closest.number}, breaks {broken or 'it'} "
            "on test and is not a choice"
        )

    @property
    def n_feasible(self) -> int:
        """Completed trials meeting every constraint."""
        return sum(t.feasible for t in self.trials)

    @property
    def n_pruned(self) -> int:
        """Trials stopped early by pruning (never on the front; their curves are kept)."""
        return sum(t.state == "pruned" for t in self.trials)

    def trials_frame(self) -> pd.DataFrame:
        """Every trial as a DataFrame.

        Columns: number, state, feasible, pareto, duration_s, params.*, values.*, metrics.*,
        constraint violations (``violation.<expr>``), test.* and feasible_on_test after a
        re-check, error and run_id.
        """
        import pandas as pd

        rows = []
        for t in self.trials:
            row: dict[str, Any] = {
                "number": t.number,
                "state": t.state,
                "feasible": t.feasible,
                "pareto": t.pareto,
                "duration_s": t.duration_s,
            }
            row.update({f"params.{k}": v for k, v in t.params.items()})
            row.update({f"values.{k}": v for k, v in t.values.items()})
            row.update({f"metrics.{k}": v for k, v in t.metrics.items()})
            row.update({f"violation.{k}": c.get("violation") for k, c in t.constraints.items()})
            if t.test is not None:
                row.update({f"test.{k}": v for k, v in t.test.items()})
                row["feasible_on_test"] = t.feasible_on_test
            row["error"] = t.error
            row["run_id"] = t.run_id
            rows.append(row)
        return pd.DataFrame(rows)

    def plot_pareto(self, x: str | None = None, y: str | None = None) -> Figure:
        """The trade-off plot (plotly), from the tracker records.

        The feasible front is highlighted, infeasible trials are grey, and test values sit
        beside validation values after a re-check. See :func:`tracker.viz.pareto_figure`.
        """
        from tracker.viz import pareto_figure

        return pareto_figure(self.search_run_id, x=x, y=y)

    def plot_history(self, metric: str | None = None) -> Figure:
        """Objective value per trial with the best-so-far line (plotly); infeasible grey."""
        from tracker.viz import history_figure

        return history_figure(self.search_run_id, metric=metric)

    def plot_hypervolume(self) -> Figure:
        """Hypervolume of the feasible front by finished trials (multi-objective searches)."""
        from tracker.viz import hypervolume_figure

        return hypervolume_figure(self.search_run_id)

    def __repr__(self) -> str:
        # One short line; .outcome has the whole sentence.
        if self.chosen is not None:
            pick = f"chosen #{self.chosen.number} {figures(self.chosen.values)}"
        else:  # why, up to the first ";" (the closest trial's story is in .outcome)
            pick = self.outcome.split(";")[0]
            if self.closest is not None:
                pick += f"; closest #{self.closest.number}"
        return one_line(
            "SearchResult",
            repr(clip(self.study_name, 40)) + ":",
            f"{len(self.trials)} trials, {self.n_feasible} feasible,",
            f"{self.n_pruned} pruned," if self.n_pruned else None,
            f"{len(self.pareto)} on the front;",
            pick,
        )

    def _repr_html_(self) -> str:
        """A summary and the Pareto front, validation next to test (every value escaped)."""
        e = html.escape
        objectives = list(self.objectives)
        missed = self.chosen is None and bool(self.recheck) and bool(self.pareto)
        style = "color:var(--jp-warn-color1,#b35900);font-weight:bold" if missed else ""
        head = (
            f"<b>{e(self.study_name)}</b>: {len(self.trials)} trials, {self.n_feasible} "
            f"feasible, {f'{self.n_pruned} pruned, ' if self.n_pruned else ''}"
            f"{len(self.pareto)} on the Pareto front, sampler "
            f"{e(str(self.sampler.get('name')))}"
        )
        cols = ["#", *objectives]
        if self.recheck:
            cols += [f"{o} on test" for o in objectives] + ["meets constraints on test"]
        rows = []
        for t in self.pareto:
            mark = ""
            if self.chosen is not None and t.number == self.chosen.number:
                mark = " ★ chosen"
            elif self.closest is not None and t.number == self.closest.number:
                mark = " closest (does not meet the budget)"
            cells = [f"{t.number}{mark}", *(_fmt(t.values.get(o)) for o in objectives)]
            if self.recheck:
                test = t.test or {}
                ok = {True: "yes", False: "no", None: ""}[t.feasible_on_test]
                cells += [*(_fmt(test.get(o)) for o in objectives), ok]
            rows.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
        table = (
            "<table><tr>"
            + "".join(f"<th>{e(c)}</th>" for c in cols)
            + "</tr>"
            + "".join(rows)
            + "</table>"
            if rows
            else ""
        )
        return f"<div><p>{head}</p><p style='{style}'>{e(self.outcome)}</p>{table}</div>"


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.4g}"


def _percent(v: float) -> str:
    return f"{100 * v:.0f} %" if math.isfinite(v) else "an unknown amount"


def excess_on_test(t: TrialResult) -> float:
    """How far ``t`` missed its constraints on test: positive normalised violations, summed.

    ``inf`` when the re-check of ``t`` measured nothing (it failed).
    """
    if not t.test_violations:
        return math.inf
    return sum(max(0.0, v) for v in t.test_violations.values())


def choose(
    pareto: Sequence[TrialResult], objectives: Mapping[str, str], rechecked: bool
) -> tuple[TrialResult | None, TrialResult | None]:
    """``(chosen, closest)`` for a search's Pareto trials (see the module docstring).

    Both are ranked by the first objective, then the trial number; ``closest`` by how far
    it missed on test first (:func:`excess_on_test`), and only when nothing can be chosen.
    """
    name, direction = next(iter(objectives.items()))
    sign = -1.0 if direction == "maximize" else 1.0

    def rank(t: TrialResult) -> tuple[float, int]:
        return (sign * t.values[name], t.number)

    pool = [t for t in pareto if t.feasible_on_test] if rechecked else list(pareto)
    if pool:
        return min(pool, key=rank), None
    measured = [t for t in pareto if math.isfinite(excess_on_test(t))]
    if not rechecked or not measured:
        return None, None
    return None, min(measured, key=lambda t: (excess_on_test(t), *rank(t)))


def build_result(
    study: optuna.Study,
    spec: SearchSpec,
    sampler: Mapping[str, Any],
    records: Sequence[TrialRecord],
    recheck: Mapping[str, Any],
    stopped: str | None = None,
) -> SearchResult:
    """The :class:`SearchResult` of a finished search: its records, re-check and choice."""
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
                test_violations=(
                    {k: _float(v) for k, v in chk.get("violations", {}).items()} if chk else None
                ),
            )
        )
    pareto = [t for t in trials if t.pareto]
    chosen, closest = choose(pareto, spec.objectives, bool(recheck))
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
        closest=closest,
        stopped=stopped,
    )


def _float(v: Any) -> float:
    return float(v) if v is not None else math.nan
