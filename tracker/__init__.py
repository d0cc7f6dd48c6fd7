"""Experiment tracking and constrained multi-metric search inside JupyterLab.

Quick start::

    import tracker
    with tracker.start_run(name="baseline", tags={"model": "svc"}) as run:
        run.log_params({"C": 1.0, "kernel": "rbf"})
        run.log_metrics({"accuracy": 0.93})
        run.log_data("train", X_train)
    tracker.search_runs("metrics.accuracy > 0.9")

In a notebook: ``%load_ext tracker`` then ``%track on``.

Importing ``tracker`` loads the run API and the store; the optimizer (Optuna),
plots (plotly), widgets (ipywidgets) and the server (tornado) load only when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tracker._version import __version__
from tracker.config import StoreURL
from tracker.exceptions import (
    ArtifactNotFoundError,
    ConfigError,
    HashingError,
    IntegrityError,
    ModelNotFoundError,
    NoActiveRunError,
    PromotionRefused,
    RunNotFoundError,
    SchemaError,
    StoreError,
    StoreUnavailableError,
    TrackerError,
    UntrustedModelError,
    ValidationError,
)
from tracker.records import (
    ArtifactRef,
    CellExecution,
    DataRef,
    Environment,
    Metric,
    ModelRef,
    ModelVersion,
    RegisteredModel,
    RegistryEvent,
    Run,
    RunError,
    RunKind,
    RunStatus,
    Source,
)
from tracker.run import (
    ActiveRun,
    active_run,
    get_run,
    get_store,
    log_artifact,
    log_data,
    log_figure,
    log_metric,
    log_metrics,
    log_model,
    log_param,
    log_params,
    log_text,
    metric_history,
    runs_frame,
    search_runs,
    set_store,
    start_run,
    sync,
)

__all__ = [
    "ActiveRun",
    "ArtifactNotFoundError",
    "ArtifactRef",
    "CellExecution",
    "ConfigError",
    "DataRef",
    "Environment",
    "HashingError",
    "IntegrityError",
    "Metric",
    "ModelNotFoundError",
    "ModelRef",
    "ModelVersion",
    "NoActiveRunError",
    "PromotionRefused",
    "RegisteredModel",
    "RegistryEvent",
    "Run",
    "RunError",
    "RunKind",
    "RunNotFoundError",
    "RunStatus",
    "SchemaError",
    "Source",
    "StoreError",
    "StoreURL",
    "StoreUnavailableError",
    "TrackerError",
    "UntrustedModelError",
    "ValidationError",
    "__version__",
    "active_run",
    "evaluate_slices",
    "get_model_version",
    "get_run",
    "get_store",
    "hash_data",
    "lineage",
    "list_models",
    "load_artifact",
    "load_ipython_extension",
    "load_model",
    "log_artifact",
    "log_data",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_text",
    "measure_latency",
    "metric_history",
    "model_card",
    "model_history",
    "optimize",
    "promote",
    "register_model",
    "report",
    "runs_frame",
    "search_runs",
    "session_run",
    "set_alias",
    "set_store",
    "start_run",
    "sync",
    "trace",
    "unload_ipython_extension",
]

if TYPE_CHECKING:
    from tracker.capture import session_run
    from tracker.facade.search import optimize, report
    from tracker.hashing import hash_data
    from tracker.latency import measure_latency
    from tracker.models import (
        get_model_version,
        list_models,
        load_model,
        model_history,
        register_model,
        set_alias,
    )
    from tracker.promotion import promote
    from tracker.provenance import lineage
    from tracker.store.artifacts import load_artifact
    from tracker.tracing import trace

# Public names whose modules are loaded on first use: name -> (module, attribute).
_LAZY: dict[str, tuple[str, str]] = {
    "hash_data": ("tracker.hashing", "hash_data"),
    # artifacts (issue 17): the blob stores load with the first artifact
    "load_artifact": ("tracker.store.artifacts", "load_artifact"),
    # notebook capture (issue 3): IPython loads only with the extension
    "session_run": ("tracker.capture", "session_run"),
    "lineage": ("tracker.provenance", "lineage"),
    # trace a file back by content (issue 17)
    "trace": ("tracker.tracing", "trace"),
    # the notebook facades (tracker/facade/): model cards (issue 5) and the search
    # (issue 4), whose optuna and, in notebooks, ipywidgets load on first use
    "model_card": ("tracker.facade.cards", "model_card"),
    "evaluate_slices": ("tracker.facade.cards", "evaluate_slices"),
    "optimize": ("tracker.facade.search", "optimize"),
    # pruning (issue 18): a trial's intermediate metrics, and whether to prune it
    "report": ("tracker.facade.search", "report"),
    "measure_latency": ("tracker.latency", "measure_latency"),
    # models and the registry (issue 17): skops loads with the first saved model
    "load_model": ("tracker.models", "load_model"),
    "register_model": ("tracker.models", "register_model"),
    "set_alias": ("tracker.models", "set_alias"),
    "get_model_version": ("tracker.models", "get_model_version"),
    "list_models": ("tracker.models", "list_models"),
    "model_history": ("tracker.models", "model_history"),
    "promote": ("tracker.promotion", "promote"),
}

if TYPE_CHECKING:  # what _LAZY loads, for type checkers
    from tracker.facade.cards import evaluate_slices, model_card


# --- notebook capture (issue 3) ---------------------------------------------------------------


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext tracker``: register the ``%track`` magics and the cell hooks.

    Args:
        ipython: The IPython shell.
    """
    from tracker.capture import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext tracker``: stop tracking, end the session run, remove the hooks.

    Args:
        ipython: The IPython shell.
    """
    from tracker.capture import unload_ipython_extension as unload

    unload(ipython)


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'tracker' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
