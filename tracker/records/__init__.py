"""Immutable records: what the tracker stores and returns.

These frozen dataclasses are the vocabulary shared by every layer: the store turns
rows into them, the run handle turns logging calls into them, the server serialises
them to JSON (``to_dict``), and cards read them. They carry no behaviour that talks
to a database, so they are safe to pass between threads and to cache.

Times are timezone-aware UTC ``datetime`` objects. Metric values keep NaN and the
infinities exactly (JSON uses the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``).

Modules: ``_values`` (value types, run states and kinds, time and float conventions),
``_data`` (metrics, data and artifact references by content), ``_runs`` (runs, their
environment, source and error, and a session's cell records), ``_models`` (logged models,
registered versions, registry events).
"""

from __future__ import annotations

from tracker.records._data import DATA_HEADERS, ArtifactRef, DataRef, Metric
from tracker.records._models import (
    MODEL_KIND,
    ModelRef,
    ModelVersion,
    RegisteredModel,
    RegistryEvent,
)
from tracker.records._runs import CellExecution, Environment, Run, RunError, Source
from tracker.records._values import (
    JSONValue,
    ParamValue,
    RunKind,
    RunStatus,
    float_from_json,
    float_to_json,
    from_timestamp,
    now,
    to_timestamp,
)

__all__ = [
    "DATA_HEADERS",
    "MODEL_KIND",
    "ArtifactRef",
    "CellExecution",
    "DataRef",
    "Environment",
    "JSONValue",
    "Metric",
    "ModelRef",
    "ModelVersion",
    "ParamValue",
    "RegisteredModel",
    "RegistryEvent",
    "Run",
    "RunError",
    "RunKind",
    "RunStatus",
    "Source",
    "float_from_json",
    "float_to_json",
    "from_timestamp",
    "now",
    "to_timestamp",
]
