"""Value types, run states and kinds, and the time and float conventions of every record."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

ParamValue = str | int | float | bool | None
#: Anything ``json.dumps`` accepts.
JSONValue = Any


class RunStatus(StrEnum):
    """Lifecycle of a run. Only ``running`` is not final."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class RunKind(StrEnum):
    """What a run stands for; it decides how the panel and cards show it."""

    RUN = "run"  # an explicit tracker.start_run()
    SESSION = "session"  # one notebook kernel session (parent of its tracked cells)
    CELL = "cell"  # a %%track cell run (child of its session)
    SEARCH = "search"  # a hyperparameter search (parent of its trials)
    TRIAL = "trial"  # one trial of a search


def now() -> float:
    """Seconds since the epoch, rounded to whole microseconds.

    Whole microseconds survive a round trip through ``datetime`` exactly, so a time read
    back from a record compares equal to the time that was stored (filters such as
    ``started_after=run.start_time`` include that run).
    """
    return time.time_ns() // 1000 / 1_000_000


def to_timestamp(dt: datetime) -> float:
    """Seconds since the epoch for an aware datetime (naive ones are taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def from_timestamp(ts: float) -> datetime:
    """Aware UTC datetime from seconds since the epoch."""
    return datetime.fromtimestamp(ts, tz=UTC)


def float_to_json(value: float) -> float | str:
    """Encode a float for strict JSON, keeping NaN and the infinities as strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def float_from_json(value: float | int | str) -> float:
    """Inverse of :func:`float_to_json`."""
    return float(value)  # float("NaN"), float("Infinity") and float("-Infinity") all parse
