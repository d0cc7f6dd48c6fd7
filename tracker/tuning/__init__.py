"""Constrained multi-metric search on Optuna (the only package importing optuna).

``optimize`` runs a search whose trials are tracked runs; ``measure_latency`` (in
:mod:`tracker.latency`) gives the percentiles latency constraints use; ``run_worker``
joins a study from another process (``tracker worker``). Everything the panel and
model cards show about a search is written to tracker records (docs/records.md), so
they never need Optuna.
"""

from __future__ import annotations

from tracker.tuning._constraints import (
    Constraint,
    ConstraintResult,
    evaluate_constraints,
    parse_constraint,
    parse_constraints,
)
from tracker.tuning._keep import set_keep_models
from tracker.tuning._optimize import create_search, optimize
from tracker.tuning._policy import SamplerChoice, choose_sampler, gp_available
from tracker.tuning._progress import ProgressReporter, SearchProgress, TextProgress, TrialSummary
from tracker.tuning._pruning import ParetoPruner, report
from tracker.tuning._result import SearchResult, TrialResult
from tracker.tuning._samplers import AutoSampler
from tracker.tuning._storage import open_storage
from tracker.tuning.worker import WorkerReport, load_objective, run_worker

__all__ = [
    "AutoSampler",
    "Constraint",
    "ConstraintResult",
    "ParetoPruner",
    "ProgressReporter",
    "SamplerChoice",
    "SearchProgress",
    "SearchResult",
    "TextProgress",
    "TrialResult",
    "TrialSummary",
    "WorkerReport",
    "choose_sampler",
    "create_search",
    "evaluate_constraints",
    "gp_available",
    "load_objective",
    "open_storage",
    "optimize",
    "parse_constraint",
    "parse_constraints",
    "report",
    "run_worker",
    "set_keep_models",
]
