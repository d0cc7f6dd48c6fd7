"""Peak memory growth over a stretch of code: how notebook capture measures each cell.

Growth is the highest resident memory (RSS) of the process during the stretch minus its
RSS at the start, in MB (10**6 bytes), never negative. The highest RSS is the largest of:

* the RSS at the start and at the end (psutil);
* the kernel's high-water mark of the process when the stretch raised it: then the peak
  is exact, however short it was (Linux: ``VmHWM``; macOS and the BSDs: ``ru_maxrss``;
  Windows: psutil's ``peak_wset``);
* the sampler thread's RSS samples, every :data:`PEAK_INTERVAL_S` while the stretch runs,
  from its start, or from at most ``WATCH_POLL_S`` (0.1 s) after it when stretches
  follow each other closely (:mod:`tracker.run._system`: the thread is not woken for
  each, which would cost short cells more than their record). So a peak below an
  earlier, higher one of the process can be missed when it lasts less than 20 ms, or
  comes in the first 0.1 s of a cell run right after another and is gone by its end.

The high-water mark is read, never reset (resetting it would change what the user's own
``resource.getrusage`` reports). Memory is the process's: another thread allocating
during the cell counts too. Nothing here raises: a failure measures nothing (``None``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from tracker.run import _system

__all__ = ["PEAK_INTERVAL_S", "PeakMemory"]

#: Seconds between RSS samples while a measured stretch runs.
PEAK_INTERVAL_S = 0.02


def _high_water_reader() -> Callable[[], int]:
    try:
        import resource
    except ImportError:  # Windows: the peak working set
        return lambda: int(getattr(_system.memory_info(), "peak_wset", 0))
    unit = 1 if sys.platform == "darwin" else 1024  # macOS: bytes; the BSDs: KiB

    def read() -> int:
        hwm = _system.high_water()  # Linux: VmHWM (see _system._Probe.high_water)
        if hwm is not None:
            return hwm
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit

    return read


_high_water = _high_water_reader()


class PeakMemory:
    """One measured stretch: :meth:`begin` before it, :meth:`end` after it."""

    __slots__ = ("_hwm0", "_rss0", "_watch")

    def __init__(self, rss0: int, hwm0: int, watch: _system.PeakWatch) -> None:
        self._rss0 = rss0
        self._hwm0 = hwm0
        self._watch = watch

    @classmethod
    def begin(cls) -> PeakMemory | None:
        """Start measuring (``None``: system metrics are off, or RSS cannot be read)."""
        if _system.configured_interval() is None:
            return None
        try:
            hwm0 = _high_water()
            rss0 = _system.current_rss()
        except Exception:
            return None
        return cls(rss0, hwm0, _system.peak_watch(PEAK_INTERVAL_S))

    def end(self) -> float | None:
        """Stop measuring: the growth in MB (``None``: it could not be measured)."""
        _system.end_watch(self._watch)
        try:
            peak = max(_system.current_rss(), self._watch.peak)
            hwm = _high_water()
        except Exception:
            return None
        if hwm > self._hwm0:  # the stretch set a new peak for the process: the exact one
            peak = max(peak, hwm)
        return max(0, peak - self._rss0) / _system.MB
