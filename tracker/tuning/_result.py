"""What a search returns: its trials, the feasible Pareto front, the test re-check."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tracker.tuning._records import SearchSpec, TrialRecord

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from tracker.viz import Figure

__all__ = ["SearchResult", "TrialResult", "build_result", "choose"]


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

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v:.4g}" for k, v in self.values.items())
        extra = ""
        if self.test is not None:
            tv = ", ".join(f"{k}={v:.4g}" for k, v in self.test.items() if k in self.values)
            extra = f" test[{tv}]" + ("" if self.feasible_on_test else " INFEASIBLE ON TEST")
        return f"<Trial #{self.number} {self.state} {vals} params={dict(self.params)}{extra}>"


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
        chosen: The trial the search recommends (``best`` for one objective; for several,
            the Pareto trial best on the first objective among those that stay feasible on
            test, or among all Pareto trials without a re-check).
        recheck: ``attrs["recheck"]`` as stored (empty without ``test=``).
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

    @property
    def best(self) -> TrialResult | None:
        """The best feasible trial (one objective); for several, :attr:`chosen`.

        ``None`` when no trial was feasible.
        """
        return self.chosen

    @property
    def n_feasible(self) -> int:
        """Completed trials meeting every constraint."""
        return sum(t.feasible for t in self.trials)

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
        return (
            f"<SearchResult {self.study_name!r}: {len(self.trials)} trials, "
            f"{self.n_feasible} feasible, {len(self.pareto)} on the Pareto front, "
            f"sampler {self.sampler.get('name')}>"
        )


def choose(
    pareto: Sequence[TrialResult], objectives: Mapping[str, str], rechecked: bool
) -> TrialResult | None:
    """The Pareto trial best on the first objective, preferring those feasible on test."""
    pool = list(pareto)
    if rechecked:
        ok = [t for t in pool if t.feasible_on_test]
        pool = ok or pool
    if not pool:
        return None
    name, direction = next(iter(objectives.items()))
    sign = -1.0 if direction == "maximize" else 1.0
    return min(pool, key=lambda t: (sign * t.values[name], t.number))


def build_result(
    study: optuna.Study,
    spec: SearchSpec,
    sampler: Mapping[str, Any],
    records: Sequence[TrialRecord],
    recheck: Mapping[str, Any],
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
            )
        )
    pareto = [t for t in trials if t.pareto]
    return SearchResult(
        study=study,
        study_name=study.study_name,
        search_run_id=spec.search_run_id,
        objectives=dict(spec.objectives),
        constraints=[c.expr for c in spec.constraints],
        sampler=dict(sampler),
        trials=trials,
        pareto=pareto,
        chosen=choose(pareto, spec.objectives, bool(recheck)),
        recheck=dict(recheck),
    )


def _float(v: Any) -> float:
    return float(v) if v is not None else math.nan
