"""Plots of runs and searches (the only package importing plotly).

Figures are built from tracker records (docs/records.md), never from an Optuna study,
so the server and model cards can draw them too.
"""

from __future__ import annotations

from plotly.graph_objects import Figure

from tracker.viz._live import live_figure, update_live_figure
from tracker.viz._search import (
    SearchView,
    history_figure,
    hypervolume_figure,
    load_search,
    pareto_figure,
)

__all__ = [
    "Figure",
    "SearchView",
    "history_figure",
    "hypervolume_figure",
    "live_figure",
    "load_search",
    "pareto_figure",
    "update_live_figure",
]
