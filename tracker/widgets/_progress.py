"""Live search progress in a notebook: progress bar, best/Pareto table, live trade-off figure.

:class:`SearchProgressWidget` is a progress reporter (``tracker.tuning.SearchProgress``
in, widget updates out). Trials finish on Optuna's threads; the reporter keeps the newest
snapshot and redraws at most every ``interval`` seconds (always on the final call), so a
search of thousands of fast trials pays for a few redraws, not one per trial.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from tracker.viz import live_figure, update_live_figure

__all__ = ["SearchProgressWidget"]

MAX_ROWS = 8


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def _nothing_met(p: Any) -> bool:
    """The final call of a re-checked search where no configuration met the budget on test."""
    return bool(p.done and p.rechecked and p.chosen is None and p.front)


def _mark(p: Any, t: Any) -> str:
    """The chosen trial's star, or the closest one marked as not meeting the budget."""
    if p.chosen is not None and t.number == p.chosen.number:
        return " ★ chosen"
    if p.closest is not None and t.number == p.closest.number:
        return " closest (does not meet the budget)"
    return ""


class SearchProgressWidget:
    """A progress reporter that draws into ipywidgets.

    Args:
        interval: Minimum seconds between redraws.
        display_now: Display the widget at once (in the current cell's output).

    Attributes:
        widget: The top-level ``ipywidgets.VBox``.
        bar: The ``IntProgress`` bar.
        status: One-line summary (``HTML``).
        table: Best or Pareto trials so far (``HTML``).
        figure: The live plotly figure (a ``FigureWidget`` when anywidget is installed).
        redraws: How many times it redrew (tests and benchmarks read it).
    """

    def __init__(self, interval: float = 0.5, display_now: bool = True) -> None:
        self.interval = interval
        self.bar = w.IntProgress(value=0, min=0, max=1, description="trials", bar_style="info")
        self.status = w.HTML("<i>waiting for the first trial…</i>")
        self.table = w.HTML("")
        self.figure: Any = None
        self._fig_box = w.Box()
        self.widget = w.VBox([w.HBox([self.bar, self.status]), w.HBox([self._fig_box, self.table])])
        self.redraws = 0
        self._lock = threading.Lock()
        self._last = -float("inf")
        self._axes: tuple[str, str | None] | None = None
        if display_now:
            from IPython.display import display

            display(self.widget)  # type: ignore[no-untyped-call]

    def __call__(self, p: Any) -> None:
        """Take a ``SearchProgress``; redraw if the interval has passed or the search ended."""
        now = time.monotonic()
        with self._lock:
            if not p.done and now - self._last < self.interval:
                return
            self._last = now
            self._draw(p)
            self.redraws += 1

    def _draw(self, p: Any) -> None:
        target = p.target or max(p.n_finished, 1)
        self.bar.max = max(target, p.n_finished, 1)
        self.bar.value = p.n_finished
        missed = _nothing_met(p)
        self.bar.bar_style = ("warning" if missed else "success") if p.done else "info"
        parts = [
            f"<b>{html.escape(p.study_name)}</b>: {p.n_finished}"
            + (f"/{p.target}" if p.target else "")
            + " trials",
            f"{p.n_feasible} feasible",
        ]
        n_pruned = getattr(p, "n_pruned", 0)
        if n_pruned:
            parts.append(f"{n_pruned} pruned")
        if p.n_failed:
            parts.append(f"{p.n_failed} failed")
        if p.hypervolume is not None:
            parts.append(f"hypervolume {p.hypervolume:.4g}")
        if p.sampler:
            parts.append(f"sampler {html.escape(p.sampler)}")
        parts.append(f"{p.elapsed_s:.0f} s" + (" — done" if p.done else ""))
        status = " · ".join(parts)
        if p.done and p.outcome:
            # The choice, or plainly that there is none (warning colour when nothing met
            # the budget on held-out data).
            style = " style='color:var(--jp-warn-color1,#b35900)'" if missed else ""
            status += f"<br><b{style}>{html.escape(p.outcome)}</b>"
        self.status.value = status
        self.table.value = self._table(p)
        self._draw_figure(p)

    def _table(self, p: Any) -> str:
        objectives = list(p.objectives)
        front: Sequence[Any] = p.front
        if not front:
            return "<i>no feasible trial yet</i>"
        title = "best trial" if len(objectives) == 1 else f"Pareto front ({len(front)})"
        pkeys = sorted({k for t in front for k in t.params})[:4]
        extra = ["on test"] if p.done and p.rechecked else []
        head = "".join(f"<th>{html.escape(k)}</th>" for k in ["#", *objectives, *pkeys, *extra])
        rows = []
        for t in list(front)[:MAX_ROWS]:
            cells = [str(t.number) + _mark(p, t)]
            cells += [_fmt(t.values.get(o, "")) for o in objectives]
            cells += [_fmt(t.params.get(k, "")) for k in pkeys]
            if extra:
                held = {True: "meets the budget", False: "breaks it", None: ""}
                cells.append(held[t.feasible_on_test])
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        more = f"<i>… {len(front) - MAX_ROWS} more</i>" if len(front) > MAX_ROWS else ""
        return (
            f"<div><b>{title}</b><table style='font-size:90%'><tr>{head}</tr>"
            + "".join(rows)
            + f"</table>{more}</div>"
        )

    def _draw_figure(self, p: Any) -> None:
        if self._axes is None:
            names = list(p.objectives)
            x = names[0]
            y = names[1] if len(names) > 1 else None
            self._axes = (x, y)
            self.figure = live_figure(x, y, widget=True, title=p.study_name)
            if isinstance(self.figure, w.DOMWidget):
                self._fig_box.children = (self.figure,)
            else:  # no anywidget: a static figure redrawn in an Output area
                self._out = w.Output()
                self._fig_box.children = (self._out,)
        x, y = self._axes
        points = [
            {
                "number": t.number,
                "metrics": t.metrics,
                "feasible": t.feasible,
                "pareto": t.pareto,
                "state": t.state,
            }
            for t in p.trials
        ]
        update_live_figure(self.figure, points, x, y)
        if not isinstance(self.figure, w.DOMWidget):
            self._out.clear_output(wait=True)
            with self._out:
                from IPython.display import display

                display(self.figure)  # type: ignore[no-untyped-call]
