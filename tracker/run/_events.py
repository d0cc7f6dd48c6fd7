"""Log listeners: how notebook capture attributes logged params and metrics to the running cell."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tracker.records import ParamValue

__all__ = ["LogEvent", "add_log_listener", "remove_log_listener"]


@dataclass(frozen=True, slots=True)
class LogEvent:
    """Params or metrics just logged to a run (passed to log listeners).

    Attributes:
        run_id: The run they were logged to.
        params: Validated, flattened params (may be empty).
        metrics: Validated metrics (may be empty).
        step: The step of the metrics.
    """

    run_id: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    step: int | None = None


#: Mutated in place only: the run API tests ``if _listeners`` to skip building events.
_listeners: list[Callable[[LogEvent], None]] = []


def add_log_listener(callback: Callable[[LogEvent], None]) -> None:
    """Call ``callback`` after every successful params/metrics logging call in this process.

    Listeners must be fast and must not raise (errors are swallowed to protect user code).
    """
    if callback not in _listeners:
        _listeners.append(callback)


def remove_log_listener(callback: Callable[[LogEvent], None]) -> None:
    """Stop calling ``callback``."""
    if callback in _listeners:
        _listeners.remove(callback)


def _notify(event: LogEvent) -> None:
    for cb in list(_listeners):
        try:
            cb(event)
        except Exception:  # a listener's bug must never fail the user's logging call
            continue
