"""Module-level logging: ``tracker.log_param`` and friends act on the active run.

Each is the method of the same name on :class:`~tracker.run._active.ActiveRun`, called on
the innermost run active in this thread; without one, a clear error says to start one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tracker.records import ArtifactRef, DataRef, ModelRef, ParamValue
from tracker.run._state import _require_active

__all__ = [
    "log_artifact",
    "log_data",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_text",
]


def log_param(key: str, value: ParamValue) -> None:
    """Log one param to the active run."""
    _require_active("log_param").log_param(key, value)


def log_params(params: Mapping[str, Any]) -> dict[str, ParamValue]:
    """Log params to the active run (see :meth:`ActiveRun.log_params`)."""
    return _require_active("log_params").log_params(params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Log one metric to the active run."""
    _require_active("log_metric").log_metric(key, value, step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log metrics to the active run (see :meth:`ActiveRun.log_metrics`)."""
    _require_active("log_metrics").log_metrics(metrics, step)


def log_data(name: str, data: object) -> DataRef:
    """Hash and record data on the active run (see :meth:`ActiveRun.log_data`)."""
    return _require_active("log_data").log_data(name, data)


def log_artifact(
    source: bytes | bytearray | memoryview | str | os.PathLike[str],
    name: str | None = None,
    *,
    media_type: str | None = None,
) -> ArtifactRef:
    """Store a file, directory or bytes with the active run (see :meth:`ActiveRun.log_artifact`)."""
    return _require_active("log_artifact").log_artifact(source, name, media_type=media_type)


def log_model(
    model: object, name: str = "model", *, input_example: object = None, format: str = "skops"
) -> ModelRef:
    """Save a model with the active run (see :meth:`ActiveRun.log_model`)."""
    run = _require_active("log_model")
    return run.log_model(model, name, input_example=input_example, format=format)


def log_text(text: str, name: str) -> ArtifactRef:
    """Store text with the active run (see :meth:`ActiveRun.log_text`)."""
    return _require_active("log_text").log_text(text, name)


def log_figure(figure: Any, name: str) -> ArtifactRef:
    """Store a figure with the active run (see :meth:`ActiveRun.log_figure`)."""
    return _require_active("log_figure").log_figure(figure, name)
