"""A live trade-off figure for search progress widgets.

``live_figure`` makes a plotly ``FigureWidget`` (plain ``Figure`` when anywidget is
missing) with three traces: infeasible (grey), feasible, Pareto front; ``update_live_figure``
replaces their points in one batched update. Points are plain mappings, so the widgets
layer passes what it has without knowing plotly, and this module never imports the tuner.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from tracker.viz._search import FEASIBLE, FRONT, GREY

__all__ = ["live_figure", "update_live_figure"]


def live_figure(x: str, y: str | None, *, widget: bool = True, title: str = "") -> go.Figure:
    """An empty live figure of ``y`` against ``x`` (or ``x`` by trial number when ``y`` is None).

    Args:
        x: Metric on the x axis (the objective, for a one-objective history).
        y: Metric on the y axis, or ``None`` for "x by trial".
        widget: Return a ``FigureWidget`` (needs anywidget); else a plain ``Figure``.
        title: Figure title.
    """
    fig: go.Figure
    if widget:
        try:
            fig = go.FigureWidget()
        except ImportError:
            fig = go.Figure()
    else:
        fig = go.Figure()
    for name, color, symbol, size in (
        ("infeasible", GREY, "x", 7),
        ("feasible", FEASIBLE, "circle", 7),
        ("Pareto front" if y is not None else "best so far", FRONT, "circle", 10),
    ):
        fig.add_trace(
            go.Scatter(
                x=[],
                y=[],
                mode="markers",
                name=name,
                marker={"color": color, "symbol": symbol, "size": size},
                hoverinfo="text",
            )
        )
    fig.update_layout(
        title=html.escape(title),
        xaxis_title=html.escape(x if y is not None else "trial"),
        yaxis_title=html.escape(y if y is not None else x),
        template="plotly_white",
        height=360,
        margin={"l": 50, "r": 20, "t": 40, "b": 40},
    )
    return fig


def update_live_figure(
    fig: go.Figure, points: Sequence[Mapping[str, Any]], x: str, y: str | None
) -> None:
    """Replace the figure's points.

    Args:
        fig: From :func:`live_figure`.
        points: One mapping per trial: ``number``, ``metrics`` (name -> value),
            ``feasible`` and ``pareto`` (booleans), ``state``.
        x: As given to :func:`live_figure`.
        y: As given to :func:`live_figure`.
    """
    groups: list[list[Mapping[str, Any]]] = [[], [], []]
    for p in points:
        m = p.get("metrics") or {}
        if p.get("state", "complete") != "complete" or x not in m or (y is not None and y not in m):
            continue
        idx = 2 if p.get("pareto") else (1 if p.get("feasible") else 0)
        groups[idx].append(p)
        if idx == 2:  # the front is also drawn among the feasible points
            groups[1].append(p)
    if y is not None:
        groups[2].sort(key=lambda p: float(p["metrics"][x]))

    def coords(ps: list[Mapping[str, Any]]) -> tuple[list[float], list[float], list[str]]:
        if y is None:
            xs = [float(p["number"]) for p in ps]
            ys = [float(p["metrics"][x]) for p in ps]
        else:
            xs = [float(p["metrics"][x]) for p in ps]
            ys = [float(p["metrics"][y]) for p in ps]
        txt = [f"trial #{p['number']}" for p in ps]
        return xs, ys, txt

    with fig.batch_update() if hasattr(fig, "batch_update") else _null():
        for trace, ps in zip(fig.data, groups, strict=False):
            xs, ys, txt = coords(ps)
            trace.x, trace.y, trace.text = xs, ys, txt
        if y is not None and len(fig.data) > 2:
            fig.data[2].mode = "markers+lines" if len(groups[2]) > 1 else "markers"
            fig.data[2].line = {"color": FRONT, "dash": "dot", "shape": "hv"}


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
