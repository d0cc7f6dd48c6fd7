"""Inference latency as a distribution: percentiles, an upper confidence bound, the hardware.

``measure_latency(predict, X_sample)`` times ``predict`` on batches drawn from
``X_sample`` with :func:`time.perf_counter_ns` after a warm-up, and reports p50, p90,
p95, p99, mean and standard deviation in milliseconds, plus a bootstrap upper
confidence bound of p95 and the hardware fingerprint of the machine. Latency
constraints in a search (``"latency_p95_ms <= 100"``) use these figures.

Why a distribution: a product requirement such as "p95 under 100 ms" is about the
tail, which the mean hides; why warm-up: first calls pay for lazy imports, caches
and allocator growth that production traffic does not see; why the upper bound: a
p95 from a few hundred calls is itself uncertain, and a constraint that must hold
in production is safer judged on ``p95_upper_ci_ms``.

This module sits in the run layer and imports neither optuna nor plotly, so cards
and the server can read the same dictionaries (``Latency.to_dict()``, stored under
``attrs["latency"]`` per docs/records.md).
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracker.environment import hardware_fingerprint
from tracker.exceptions import ValidationError
from tracker.store import quiet_writer

__all__ = ["DEFAULT_REPEATS", "Latency", "measure_latency", "recording_latency"]

_PERCENTILES = (50, 90, 95, 99)
DEFAULT_REPEATS = 200

# Set by the optimizer around a trial or a test re-check: measurements made inside land
# in the trial's records, and a re-check can ask for more repeats without the user's
# objective knowing about it.
_RECORDER: ContextVar[list[Latency] | None] = ContextVar("tracker_latency_recorder", default=None)
_REPEATS: ContextVar[int | None] = ContextVar("tracker_latency_repeats", default=None)


@contextmanager
def recording_latency(repeats: int | None = None) -> Iterator[list[Latency]]:
    """Collect every :func:`measure_latency` result made inside the block (this context only).

    Args:
        repeats: Default ``repeats`` for calls inside the block that do not pass their own
            (the test re-check uses this to re-measure with more calls).

    Yields:
        The list the measurements are appended to, in order.
    """
    found: list[Latency] = []
    t1 = _RECORDER.set(found)
    t2 = _REPEATS.set(repeats)
    try:
        yield found
    finally:
        _RECORDER.reset(t1)
        _REPEATS.reset(t2)


@dataclass(frozen=True, slots=True)
class Latency:
    """Latency figures of one measurement, in milliseconds per call.

    Attributes:
        p50_ms: Median.
        p90_ms: 90th percentile.
        p95_ms: 95th percentile (what latency constraints use by default).
        p99_ms: 99th percentile.
        mean_ms: Mean (reported, never a good constraint on its own).
        std_ms: Standard deviation.
        n: Number of timed calls.
        batch_size: Rows per call.
        warmup: Untimed calls made first.
        p95_upper_ci_ms: Upper bound of a one-sided bootstrap confidence interval of p95.
        confidence: Level of that bound (e.g. 0.95).
        hardware: CPU model, logical cores, memory of the machine that measured.
        samples_ms: Every timed call, in order (not stored in records; for plots and tests).
    """

    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    n: int
    batch_size: int
    warmup: int
    p95_upper_ci_ms: float
    confidence: float
    hardware: Mapping[str, Any] = field(default_factory=dict)
    samples_ms: tuple[float, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The record form (docs/records.md, "Latency measurements"); no raw samples."""
        return {
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "mean_ms": self.mean_ms,
            "std_ms": self.std_ms,
            "n": self.n,
            "batch_size": self.batch_size,
            "warmup": self.warmup,
            "p95_upper_ci_ms": self.p95_upper_ci_ms,
            "confidence": self.confidence,
            "hardware": dict(self.hardware),
        }

    def metrics(self, prefix: str = "latency_") -> dict[str, float]:
        """Flat metrics to log or to return from an objective.

        ``{"latency_p50_ms", "latency_p90_ms", "latency_p95_ms", "latency_p99_ms",
        "latency_mean_ms", "latency_p95_upper_ci_ms"}`` (with ``prefix``).
        """
        return {
            f"{prefix}p50_ms": self.p50_ms,
            f"{prefix}p90_ms": self.p90_ms,
            f"{prefix}p95_ms": self.p95_ms,
            f"{prefix}p99_ms": self.p99_ms,
            f"{prefix}mean_ms": self.mean_ms,
            f"{prefix}p95_upper_ci_ms": self.p95_upper_ci_ms,
        }


def _rows(x: object) -> int:
    if hasattr(x, "shape") and getattr(x, "shape", None) is not None:
        shape = x.shape
        if len(shape) == 0:
            raise ValidationError("X_sample is a scalar; pass an array or frame of input rows")
        return int(shape[0])
    try:
        return len(x)  # type: ignore[arg-type]
    except TypeError:
        raise ValidationError(
            f"X_sample must be an array, a DataFrame or a sequence of rows, not {type(x).__name__}"
        ) from None


def _take(x: object, idx: np.ndarray) -> object:
    iloc = getattr(x, "iloc", None)
    if iloc is not None:  # pandas: positional rows
        return iloc[idx]
    if isinstance(x, np.ndarray) or (hasattr(x, "__array__") and hasattr(x, "shape")):
        return x[idx]  # type: ignore[index]
    seq = list(x)  # type: ignore[call-overload]
    return [seq[i] for i in idx]


def _bootstrap_upper(
    samples: np.ndarray, q: float, confidence: float, n_boot: int, seed: int
) -> float:
    # Percentile bootstrap of the q-th percentile; one-sided upper bound.
    rng = np.random.default_rng(seed)
    n = samples.size
    stats = np.empty(n_boot)
    for start in range(0, n_boot, 256):  # chunks keep memory flat for large n
        k = min(256, n_boot - start)
        idx = rng.integers(0, n, size=(k, n))
        stats[start : start + k] = np.percentile(samples[idx], q, axis=1)
    return float(np.quantile(stats, confidence))


def _checked_repeats(
    predict: object,
    batch_size: int,
    warmup: int,
    repeats: int | None,
    confidence: float,
    n_boot: int,
) -> int:
    """Check :func:`measure_latency`'s arguments; the number of timed calls to make."""
    if not callable(predict):
        raise ValidationError(f"predict must be callable (e.g. model.predict), not {predict!r:.60}")
    for name, value, low in (("batch_size", batch_size, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValidationError(f"{name} must be an integer >= {low}, got {value!r}")
    if repeats is None:
        repeats = _REPEATS.get() or DEFAULT_REPEATS
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 20:
        raise ValidationError(
            f"repeats must be an integer >= 20 (a p95 needs at least 20 calls), got {repeats!r}"
        )
    if not 0.5 <= confidence < 1.0:
        raise ValidationError(f"confidence must be in [0.5, 1), got {confidence!r}")
    if n_boot < 100:
        raise ValidationError(f"n_boot must be >= 100, got {n_boot!r}")
    return repeats


def measure_latency(
    predict: Callable[[Any], object],
    X_sample: object,
    batch_size: int = 1,
    *,
    warmup: int = 20,
    repeats: int | None = None,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    max_seconds: float | None = None,
) -> Latency:
    """Time ``predict`` on batches of ``X_sample`` and summarise the distribution.

    Each timed call is ``predict(batch)`` on ``batch_size`` consecutive rows (wrapping
    around ``X_sample``), measured with :func:`time.perf_counter_ns`. The first
    ``warmup`` calls are not timed. The garbage collector is paused while timing so a
    collection triggered by earlier code does not land in one call's figure (it is
    restored afterwards, whatever happens).

    Args:
        predict: The function to time, e.g. ``model.predict``.
        X_sample: Input rows (numpy array, DataFrame, or a sequence of rows).
        batch_size: Rows per call (1 = online inference).
        warmup: Untimed calls first.
        repeats: Timed calls (at least 20: fewer cannot give a p95). Default
            :data:`DEFAULT_REPEATS`, or what an enclosing :func:`recording_latency` asks for
            (the optimizer's test re-check asks for more).
        confidence: Level of the upper bound of p95.
        n_boot: Bootstrap resamples for that bound.
        seed: Seed of the bootstrap (the bound is reproducible from the samples).
        max_seconds: Stop timing after this long even if fewer than ``repeats`` calls
            were made (at least 20 are always made); ``None`` = no limit.

    Returns:
        A :class:`Latency` (``to_dict()`` for records, ``metrics()`` for an objective).

    Raises:
        ValidationError: bad arguments (said before anything is timed).
    """
    repeats = _checked_repeats(predict, batch_size, warmup, repeats, confidence, n_boot)
    n_rows = _rows(X_sample)
    if n_rows == 0:
        raise ValidationError("X_sample has no rows; pass at least one input row")
    # Pre-build every batch so slicing cost stays out of the timings.
    n_calls = warmup + repeats
    distinct = max(1, min(n_calls, math.ceil(n_rows / batch_size) if n_rows >= batch_size else 1))
    batches = []
    for b in range(distinct):
        idx = (np.arange(batch_size) + b * batch_size) % n_rows
        batches.append(_take(X_sample, idx))
    for i in range(warmup):
        predict(batches[i % distinct])
    times = np.empty(repeats, dtype=np.int64)
    deadline = None if max_seconds is None else time.perf_counter() + max_seconds
    gc_was_enabled = gc.isenabled()
    n = 0
    # The tracker's own writer thread waits too: its commits would be our noise in p95.
    with quiet_writer():
        gc.disable()
        try:
            clock = time.perf_counter_ns
            for i in range(repeats):
                batch = batches[(warmup + i) % distinct]
                t0 = clock()
                predict(batch)
                times[i] = clock() - t0
                n = i + 1
                if deadline is not None and n >= 20 and time.perf_counter() > deadline:
                    break
        finally:
            if gc_was_enabled:
                gc.enable()
    ms = times[:n].astype(np.float64) / 1e6
    p50, p90, p95, p99 = (float(v) for v in np.percentile(ms, _PERCENTILES))
    upper = _bootstrap_upper(ms, 95, confidence, n_boot, seed)
    result = Latency(
        p50_ms=p50,
        p90_ms=p90,
        p95_ms=p95,
        p99_ms=p99,
        mean_ms=float(ms.mean()),
        std_ms=float(ms.std(ddof=1)) if n > 1 else 0.0,
        n=n,
        batch_size=batch_size,
        warmup=warmup,
        p95_upper_ci_ms=max(upper, p95),
        confidence=confidence,
        hardware=hardware_fingerprint(),
        samples_ms=tuple(float(v) for v in ms),
    )
    found = _RECORDER.get()
    if found is not None:
        found.append(result)
    return result
