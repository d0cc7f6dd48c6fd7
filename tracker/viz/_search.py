"""Figures of a search, built from tracker records only (never from the Optuna study).

Everything comes from the search run and its trial runs as docs/records.md describes
them, so model cards and the server draw the same figures without importing Optuna.
Infeasible trials are grey everywhere; the feasible Pareto front is highlighted; after
a test re-check, each Pareto trial's test point is drawn beside its validation point.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go

from tracker.records import Run, RunKind
from tracker.store import BaseStore, get_store
from tracker.store.query import Condition, OrderBy, RunQuery

__all__ = [
    "SearchView",
    "history_figure",
    "hypervolume_figure",
    "load_search",
    "pareto_figure",
]

GREY = "rgba(160,160,160,0.55)"
FEASIBLE = "#4c78a8"
FRONT = "#e45756"
TEST = "#54a24b"


@dataclass(frozen=True, slots=True)
class SearchView:
    """A search as the records hold it.

    Attributes:
        run: The search run.
        trials: Its trial runs (and those of the searches it resumed), by trial number.
        objectives: Metric to direction.
        constraints: Constraint expressions.
        pareto: Run ids on the feasible front.
        chosen: The chosen trial's run id.
        recheck: ``attrs["recheck"]``.
    """

    run: Run
    trials: list[Run]
    objectives: Mapping[str, str]
    constraints: list[str]
    pareto: list[str]
    chosen: str | None
    recheck: Mapping[str, Any] = field(default_factory=dict)

    def trial_info(self, t: Run) -> Mapping[str, Any]:
        """``attrs["trial"]`` of a trial run (empty if missing)."""
        info = t.attrs.get("trial")
        return info if isinstance(info, Mapping) else {}

    def number(self, t: Run) -> int:
        """Trial number (from the attrs, else the tag)."""
        n: Any = self.trial_info(t).get("number")
        if n is None:
            n = t.tags.get("optuna.trial_number", "-1")
        return int(n)


def load_search(search: str | Run, store: BaseStore | None = None) -> SearchView:
    """Read a search run and its trial runs.

    Raises:
        RunNotFoundError: no such run.
        ValueError: the run is not a search.
    """
    st = store or get_store()
    run = search if isinstance(search, Run) else st.get_run(search, with_cells=False)
    if run.kind is not RunKind.SEARCH:
        raise ValueError(f"run {run.id} is a {run.kind.value} run, not a search")
    attr = run.attrs.get("search") or {}
    parents = [run.id, *[str(r) for r in attr.get("resumed_from", [])]]
    trials: list[Run] = []
    for pid in parents:
        trials.extend(
            st.search_runs(
                RunQuery(
                    conditions=(
                        Condition("parent_id", "=", pid),
                        Condition("kind", "=", RunKind.TRIAL.value),
                    ),
                    order_by=(OrderBy("start_time"),),
                )
            )
        )
    view = SearchView(
        run=run,
        trials=[],
        objectives=dict(attr.get("objectives") or {}),
        constraints=[c["expr"] for c in attr.get("constraints") or []],
        pareto=list(run.attrs.get("pareto") or []),
        chosen=run.attrs.get("chosen"),
        recheck=dict(run.attrs.get("recheck") or {}),
    )
    by_number: dict[int, Run] = {}
    for t in trials:
        by_number.setdefault(view.number(t), t)  # one run per trial number
    object.__setattr__(view, "trials", [by_number[k] for k in sorted(by_number)])
    return view


def _f(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _hover(view: SearchView, t: Run) -> str:
    info = view.trial_info(t)
    lines = [f"<b>trial #{view.number(t)}</b>"]
    lines += [f"{html.escape(str(k))} = {html.escape(str(v))}" for k, v in t.params.items()]
    lines += [f"{html.escape(k)}: {_f(v):.4g}" for k, v in t.metrics.items()]
    for expr, c in (info.get("constraints") or {}).items():
        ok = "ok" if c.get("feasible") else "VIOLATED"
        lines.append(f"{html.escape(expr)}: {ok}")
    return "<br>".join(lines)


def _axes(view: SearchView, x: str | None, y: str | None) -> tuple[str, str]:
    names = list(view.objectives)
    if x is None:
        x = names[0] if names else None
    if y is None:
        rest = [n for n in names if n != x]
        if rest:
            y = rest[0]
        else:  # one objective: plot it against the first constrained metric
            cmetrics = [c.split()[0] for c in view.constraints]
            y = cmetrics[0] if cmetrics else None
    if x is None or y is None:
        raise ValueError(
            "a Pareto plot needs two metrics: this search has one objective and no "
            "constraint; pass x= and y= (metric names), or use history_figure"
        )
    return x, y


def pareto_figure(
    search: str | Run,
    x: str | None = None,
    y: str | None = None,
    *,
    store: BaseStore | None = None,
) -> go.Figure:
    """The trade-off between two metrics over every completed trial.

    Infeasible trials are grey crosses, feasible ones blue, the feasible Pareto front red
    (joined in objective order), the chosen trial ringed. After a re-check, each Pareto
    trial's test point is a green diamond joined to its validation point; a test point
    that breaks a constraint is drawn as an open red diamond.

    Args:
        search: The search run (or its id).
        x: Metric on the x axis (default: the first objective).
        y: Metric on the y axis (default: the second objective, or the first constrained
            metric for a single-objective search).
        store: Where to read (default: the current store).
    """
    view = load_search(search, store)
    x, y = _axes(view, x, y)
    groups = _pareto_groups(view, x, y)
    fig = go.Figure()
    _add_trial_traces(fig, view, groups, x, y)
    if view.recheck:
        _add_recheck_traces(fig, view, groups["front"], x, y)
    chosen = next((t for t in groups["front"] if t.id == view.chosen), None)
    if chosen is not None:
        fig.add_trace(
            go.Scatter(
                x=[_f(chosen.metrics[x])],
                y=[_f(chosen.metrics[y])],
                mode="markers",
                name="chosen",
                hoverinfo="skip",
                marker={
                    "size": 20,
                    "symbol": "circle-open",
                    "color": "black",
                    "line": {"width": 2},
                },
            )
        )
    _add_constraint_lines(fig, view, x, y)
    fig.update_layout(
        title=f"{html.escape(view.run.name)}: {html.escape(x)} vs {html.escape(y)}",
        xaxis_title=_axis_title(view, x),
        yaxis_title=_axis_title(view, y),
        template="plotly_white",
        legend={"orientation": "h", "y": -0.2},
        meta={"search_run_id": view.run.id},
    )
    return fig


def _pareto_groups(view: SearchView, x: str, y: str) -> dict[str, list[Run]]:
    """Completed trials with both metrics: infeasible, feasible, and the feasible front."""
    groups: dict[str, list[Run]] = {"infeasible": [], "feasible": [], "front": []}
    front_ids = set(view.pareto)
    for t in view.trials:
        info = view.trial_info(t)
        if info.get("state", "complete") != "complete" or x not in t.metrics or y not in t.metrics:
            continue
        if t.id in front_ids:
            groups["front"].append(t)
        elif info.get("feasible"):
            groups["feasible"].append(t)
        else:
            groups["infeasible"].append(t)
    return groups


def _add_trial_traces(
    fig: go.Figure, view: SearchView, groups: dict[str, list[Run]], x: str, y: str
) -> None:
    """One marker trace per group; the front is joined in order of ``x``."""
    styles = {
        "infeasible": {"color": GREY, "symbol": "x", "size": 8},
        "feasible": {"color": FEASIBLE, "symbol": "circle", "size": 8},
        "front": {"color": FRONT, "symbol": "circle", "size": 11},
    }
    labels = {
        "infeasible": "infeasible",
        "feasible": "feasible",
        "front": "Pareto front (feasible)",
    }
    for key, runs in groups.items():
        if key == "front":
            runs = sorted(runs, key=lambda r: _f(r.metrics[x]))
        fig.add_trace(
            go.Scatter(
                x=[_f(r.metrics[x]) for r in runs],
                y=[_f(r.metrics[y]) for r in runs],
                mode="markers+lines" if key == "front" and len(runs) > 1 else "markers",
                name=f"{labels[key]} ({len(runs)})",
                marker=styles[key],
                line={"color": FRONT, "dash": "dot", "shape": "hv"},
                text=[_hover(view, r) for r in runs],
                hoverinfo="text",
                customdata=[r.id for r in runs],
            )
        )


def _add_recheck_traces(fig: go.Figure, view: SearchView, front: list[Run], x: str, y: str) -> None:
    """Each front trial's test point (green diamond, open red if infeasible), joined to it."""
    tx, ty, txt, sym, col = [], [], [], [], []
    lx: list[float | None] = []
    ly: list[float | None] = []
    for t in front:
        chk = view.recheck.get(t.id) or {}
        test = {**t.metrics, **{k: _f(v) for k, v in (chk.get("test") or {}).items()}}
        if not chk.get("test"):
            continue
        ok = bool(chk.get("feasible_on_test"))
        tx.append(_f(test.get(x)))
        ty.append(_f(test.get(y)))
        sym.append("diamond" if ok else "diamond-open")
        col.append(TEST if ok else FRONT)
        txt.append(
            f"<b>trial #{view.number(t)} on test</b><br>"
            + "<br>".join(
                f"{html.escape(k)}: {_f(v):.4g}" for k, v in (chk.get("test") or {}).items()
            )
            + ("" if ok else "<br><b>infeasible on test</b>")
        )
        lx += [_f(t.metrics[x]), tx[-1], None]
        ly += [_f(t.metrics[y]), ty[-1], None]
    fig.add_trace(
        go.Scatter(
            x=lx,
            y=ly,
            mode="lines",
            line={"color": TEST, "width": 1},
            showlegend=False,
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=tx,
            y=ty,
            mode="markers",
            name="test re-check",
            marker={"color": col, "symbol": sym, "size": 11, "line": {"width": 2}},
            text=txt,
            hoverinfo="text",
        )
    )


def _add_constraint_lines(fig: go.Figure, view: SearchView, x: str, y: str) -> None:
    """A dashed line at the bound of each constraint on one of the two axes."""
    for expr in view.constraints:
        parts = expr.split()
        if len(parts) == 3 and parts[0] in (x, y):
            bound = _f(parts[2])
            if parts[0] == x:
                fig.add_vline(
                    x=bound, line_dash="dash", line_color="grey", annotation_text=html.escape(expr)
                )
            else:
                fig.add_hline(
                    y=bound, line_dash="dash", line_color="grey", annotation_text=html.escape(expr)
                )


def _axis_title(view: SearchView, metric: str) -> str:
    d = view.objectives.get(metric)
    return f"{html.escape(metric)} ({d})" if d else html.escape(metric)


def history_figure(
    search: str | Run, metric: str | None = None, *, store: BaseStore | None = None
) -> go.Figure:
    """One objective per trial, with the best feasible value so far.

    Infeasible trials are grey; failed trials are marked along the bottom.

    Args:
        search: The search run (or its id).
        metric: Which metric (default: the first objective).
        store: Where to read.
    """
    view = load_search(search, store)
    if metric is None:
        if not view.objectives:
            raise ValueError("this search records no objectives; pass metric=")
        metric = next(iter(view.objectives))
    h = _history(view, metric)
    feas_x, feas_y, txt_f = h.feas_x, h.feas_y, h.txt_f
    inf_x, inf_y, txt_i = h.inf_x, h.inf_y, h.txt_i
    fail_x, best_x, best_y = h.fail_x, h.best_x, h.best_y
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=inf_x,
            y=inf_y,
            mode="markers",
            name=f"infeasible ({len(inf_x)})",
            marker={"color": GREY, "symbol": "x"},
            text=txt_i,
            hoverinfo="text",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=feas_x,
            y=feas_y,
            mode="markers",
            name=f"feasible ({len(feas_x)})",
            marker={"color": FEASIBLE},
            text=txt_f,
            hoverinfo="text",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=best_x,
            y=best_y,
            mode="lines",
            name="best feasible so far",
            line={"color": FRONT, "shape": "hv"},
        )
    )
    if fail_x:
        all_y = feas_y + inf_y
        floor = min(all_y) if all_y else 0.0
        fig.add_trace(
            go.Scatter(
                x=fail_x,
                y=[floor] * len(fail_x),
                mode="markers",
                name=f"failed ({len(fail_x)})",
                marker={"color": "black", "symbol": "line-ns-open", "size": 10},
            )
        )
    fig.update_layout(
        title=f"{html.escape(view.run.name)}: {html.escape(metric)} by trial",
        xaxis_title="trial",
        yaxis_title=_axis_title(view, metric),
        template="plotly_white",
        meta={"search_run_id": view.run.id},
    )
    return fig


@dataclass
class _History:
    """The points of :func:`history_figure`, by trial number."""

    feas_x: list[int] = field(default_factory=list)
    feas_y: list[float] = field(default_factory=list)
    txt_f: list[str] = field(default_factory=list)
    inf_x: list[int] = field(default_factory=list)
    inf_y: list[float] = field(default_factory=list)
    txt_i: list[str] = field(default_factory=list)
    fail_x: list[int] = field(default_factory=list)
    best_x: list[int] = field(default_factory=list)
    best_y: list[float] = field(default_factory=list)


def _history(view: SearchView, metric: str) -> _History:
    """Feasible, infeasible and failed trials, and the best feasible value so far."""
    direction = view.objectives.get(metric, "minimize")
    h = _History()
    feas_x, feas_y, inf_x, inf_y, fail_x = h.feas_x, h.feas_y, h.inf_x, h.inf_y, h.fail_x
    txt_f, txt_i, best_x, best_y = h.txt_f, h.txt_i, h.best_x, h.best_y
    best = math.nan
    for t in view.trials:
        info = view.trial_info(t)
        n = view.number(t)
        if info.get("state", "complete") != "complete" or metric not in t.metrics:
            if info.get("state") == "fail":
                fail_x.append(n)
            continue
        v = _f(t.metrics[metric])
        if info.get("feasible"):
            feas_x.append(n)
            feas_y.append(v)
            txt_f.append(_hover(view, t))
            better = v > best if direction == "maximize" else v < best
            if math.isnan(best) or better:
                best = v
        else:
            inf_x.append(n)
            inf_y.append(v)
            txt_i.append(_hover(view, t))
        if not math.isnan(best):
            best_x.append(n)
            best_y.append(best)
    return h


def hypervolume_figure(search: str | Run, *, store: BaseStore | None = None) -> go.Figure:
    """Hypervolume of the feasible front by number of finished trials (multi-objective)."""
    st = store or get_store()
    view = load_search(search, st)
    hist = st.metric_history(view.run.id, "hypervolume")
    by_step: dict[int, float] = {}
    for m in hist:
        if m.step is not None:
            by_step[m.step] = m.value  # the latest write for a step wins
    steps = sorted(by_step)
    fig = go.Figure(
        go.Scatter(
            x=steps,
            y=[by_step[s] for s in steps],
            mode="lines+markers",
            name="hypervolume",
            line={"shape": "hv", "color": FRONT},
        )
    )
    ref = view.run.attrs.get("hypervolume_reference")
    sub = f" (reference {json.dumps(ref)})" if ref else ""
    fig.update_layout(
        title=f"{html.escape(view.run.name)}: hypervolume of the feasible front{html.escape(sub)}",
        xaxis_title="finished trials",
        yaxis_title="hypervolume",
        template="plotly_white",
        meta={"search_run_id": view.run.id},
    )
    return fig
