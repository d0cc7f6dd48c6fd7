"""System metrics: this process's CPU, memory and GPUs, sampled into runs' metric series.

One daemon thread per process (not per run) samples every few seconds and appends, to
each open run that asked for them, the series

* ``system.cpu_percent``: CPU time of the whole process (all threads) over wall time
  since the previous sample of that run, in percent (200 is two cores busy);
* ``system.rss_mb``: resident memory of the process, in MB (10**6 bytes);
* ``system.gpu<i>_util_percent`` and ``system.gpu<i>_memory_mb``: for each NVIDIA GPU
  (device-wide figures, from NVML), only when ``pynvml`` (the ``gpu`` extra,
  ``nvidia-ml-py``) is installed and a driver answers.

Each sample is an ordinary ``LogMetrics`` op (built by :meth:`LogMetrics.build`, the one
check) written through the run's queued store like any ``log_metrics`` call; it does not
notify log listeners, so notebook capture never takes a sample for a metric the running
cell logged. Steps count the samples of a run from 0.

How often: :data:`ENV_SYSTEM_METRICS` (seconds, or ``off``), :func:`set_system_metrics`,
and ``start_run(system_metrics=...)`` for one run. By default a run records them unless
its parent is open in this process (a trial of a search, a ``%%track`` cell's run in a
tracked notebook): the parent's series already cover the process.

Lifecycle: the thread starts with the first run that records, exits once it has found
nothing to serve for :data:`IDLE_KEEP_S` (no run recording and no peak-memory watch
open, see :mod:`tracker.run._system_peak`): one to two keeps after the last run ended,
as it is not woken for each run that starts or ends (see ``_Sampler.add``), and is
stopped at interpreter exit before the runs are ended and the store is drained. A
failure while sampling (``psutil`` raising, a GPU vanishing) is logged once per kind to
the ``tracker`` logger and never reaches user code; the runs go on and end as usual.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracker.exceptions import TrackerError, ValidationError
from tracker.store.ops import LogMetrics

if TYPE_CHECKING:
    from tracker.run._active import ActiveRun

__all__ = [
    "DEFAULT_INTERVAL_S",
    "ENV_SYSTEM_METRICS",
    "configured_interval",
    "set_system_metrics",
]

log = logging.getLogger("tracker")

#: Environment variable: seconds between samples (e.g. ``30``), or ``off`` (also ``0``,
#: ``false``, ``no``) to record no system metrics at all, cell peak memory included.
ENV_SYSTEM_METRICS = "TRACKER_SYSTEM_METRICS"
#: Seconds between samples when nothing says otherwise: cheap enough to leave on.
DEFAULT_INTERVAL_S = 10.0
#: The shortest interval accepted (tests sample fast; below this the thread would spin).
MIN_INTERVAL_S = 0.01
#: How often the thread looks for new peak-memory watches, for POLL_LINGER_S after one
#: opened (see _Sampler.watch).
WATCH_POLL_S = 0.1
POLL_LINGER_S = 1.0
#: How long the thread outlives the last run it served: a loop of short runs reuses it
#: rather than starting a thread per run (a start waits for the new thread to run, which
#: measured 1.8 ms of a 4 ms run on a loaded 2-core machine, ``bench_store.py --one-run``).
IDLE_KEEP_S = 2.0
#: Bytes in the MB of the ``*_mb`` series.
MB = 1e6
_OFF = frozenset({"0", "off", "false", "no", "none"})


class _Unset:
    pass


_UNSET = _Unset()
_override: float | _Unset | None = _UNSET  # set_system_metrics()
_warned_env: set[str] = set()


def _check_interval(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(
            f"{what} must be True, False or the seconds between samples, got {value!r:.60}"
        )
    v = float(value)
    if not (math.isfinite(v) and v >= MIN_INTERVAL_S):
        raise ValidationError(
            f"{what} must be at least {MIN_INTERVAL_S} seconds between samples, got {value!r}"
        )
    return v


def _env_interval() -> float | None:
    raw = os.environ.get(ENV_SYSTEM_METRICS, "").strip().lower()
    if not raw:
        return DEFAULT_INTERVAL_S
    if raw in _OFF:
        return None
    try:
        return _check_interval(ENV_SYSTEM_METRICS, float(raw))
    except (ValueError, ValidationError):
        if raw in _warned_env:
            return DEFAULT_INTERVAL_S
        _warned_env.add(raw)
        log.warning(
            "tracker: ignoring %s=%r: expected seconds between samples (a number >= %s) "
            "or 'off'; sampling every %s s",
            ENV_SYSTEM_METRICS,
            raw,
            MIN_INTERVAL_S,
            DEFAULT_INTERVAL_S,
        )
        return DEFAULT_INTERVAL_S


def configured_interval() -> float | None:
    """Seconds between samples for runs that do not choose (``None``: system metrics off).

    :func:`set_system_metrics` if it was called, else :data:`ENV_SYSTEM_METRICS` (read
    at each run start and each cell), else :data:`DEFAULT_INTERVAL_S`.
    """
    if not isinstance(_override, _Unset):
        return _override
    return _env_interval()


def set_system_metrics(every: float | bool | None) -> None:
    """Turn system metrics on or off for this process, or change how often they are taken.

    Applies to runs started afterwards (and to the peak memory of notebook cells).

    Args:
        every: Seconds between samples, ``True`` (every :data:`DEFAULT_INTERVAL_S`),
            ``False`` (off), or ``None`` (back to :data:`ENV_SYSTEM_METRICS`).

    Raises:
        ValidationError: not a bool or a number of seconds >= 0.01.
    """
    global _override
    if every is None:
        _override = _UNSET
    elif every is True:
        _override = DEFAULT_INTERVAL_S
    elif every is False:
        _override = None
    else:
        _override = _check_interval("set_system_metrics()", every)


def run_interval(choice: object, parent_open: bool) -> float | None:
    """Seconds between samples for a new run (``None``: it records none).

    Args:
        choice: ``start_run(system_metrics=...)``: ``None`` (the default rule), a bool, or
            seconds.
        parent_open: The run's parent is open in this process.

    Raises:
        ValidationError: ``choice`` is none of those.
    """
    if choice is None:
        return None if parent_open else configured_interval()
    if choice is True:
        return configured_interval() or DEFAULT_INTERVAL_S
    if choice is False:
        return None
    return _check_interval("system_metrics", choice)


# --- what a sample reads ---------------------------------------------------------------------


class _Probe:
    """Reads the figures (importing psutil costs milliseconds: done on first need)."""

    def __init__(self) -> None:
        import psutil

        self.process = psutil.Process()
        self.gpus: list[Any] | None = None  # found by the sampler thread, on first sample
        self.nvml: Any = None
        self.statm = self.status = -1
        if sys.platform.startswith("linux"):
            # For the cell hooks, on Linux: RSS from a descriptor kept open, read with
            # pread. psutil opens the file each time, and every open in a tracked cell
            # goes through capture's audit hook; this is 10x cheaper (2 us). A forked
            # child makes a _Probe of its own.
            try:
                self.statm = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
                self.page = os.sysconf("SC_PAGE_SIZE")
                self.rss_now()
                self.status = os.open("/proc/self/status", os.O_RDONLY | os.O_CLOEXEC)
                self.high_water()
            except (OSError, ValueError, IndexError):
                self.statm = self.status = -1

    def rss(self) -> int:
        """RSS in bytes, from psutil (the sampler thread: cost does not matter there)."""
        return int(self.process.memory_info().rss)

    def rss_now(self) -> int:
        """RSS in bytes, as cheaply as this platform allows (the cell hooks)."""
        if self.statm >= 0:
            return int(os.pread(self.statm, 256, 0).split()[1]) * self.page
        return self.rss()

    def high_water(self) -> int | None:
        """Linux: the process's peak RSS (``VmHWM``), in bytes; ``None`` elsewhere.

        Not ``ru_maxrss``: that one starts, after ``exec``, at the peak of the process
        that forked it (a Jupyter server, a test runner), so it hides a kernel's own peaks.
        """
        if self.status < 0:
            return None
        text = os.pread(self.status, 4096, 0)
        at = text.index(b"VmHWM:")
        return int(text[at + 6 : text.index(b"kB", at)]) * 1024

    def find_gpus(self) -> list[Any]:
        if self.gpus is None:
            self.gpus = []
            try:  # the optional ``gpu`` extra; no NVIDIA driver is the common case, no error
                nvml = importlib.import_module("pynvml")
                nvml.nvmlInit()
                count = nvml.nvmlDeviceGetCount()
                self.gpus = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
                self.nvml = nvml
            except Exception:
                self.gpus = []
        return self.gpus

    def gpu_metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for i, handle in enumerate(self.find_gpus()):
            util = self.nvml.nvmlDeviceGetUtilizationRates(handle)
            mem = self.nvml.nvmlDeviceGetMemoryInfo(handle)
            out[f"system.gpu{i}_util_percent"] = float(util.gpu)
            out[f"system.gpu{i}_memory_mb"] = mem.used / MB
        return out


@dataclass(slots=True)
class _Sub:
    """One run's series: when its next sample is due, its step, its CPU reference."""

    run: ActiveRun
    every: float
    due: float  # time.monotonic()
    wall0: float
    cpu0: float
    step: int = 0


@dataclass(slots=True)
class PeakWatch:
    """The highest RSS (bytes) the sampler saw while the watch was open (0: none taken)."""

    every: float
    due: float  # time.monotonic() of its next sample
    peak: int = 0


class _Sampler:
    """The process's one sampler thread and what it serves (see the module docstring)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.write_lock = threading.Lock()  # held while a sample is written (see remove)
        self.subs: dict[str, _Sub] = {}
        self.watches: list[PeakWatch] = []
        self.thread: threading.Thread | None = None
        self.stopped = False
        self.probe: _Probe | None = None
        self.gpu_ok = True
        self.poll_until = 0.0  # look for new peak watches every WATCH_POLL_S until then
        self.idle = False  # the thread sleeps longer than WATCH_POLL_S: a watch wakes it
        self.keep_until = 0.0  # nothing to serve: the thread exits at this time
        self.wake_at: float | None = None  # when the waiting thread wakes by itself
        self.warned: set[str] = set()
        self.atexit_installed = False

    # --- what the run API and capture call (never raise) -------------------------------

    def add(self, run: ActiveRun, every: float) -> None:
        now = time.monotonic()
        sub = _Sub(run, every, due=now + every, wall0=now, cpu0=time.process_time())
        with self.cond:
            self.subs[run.id] = sub
            self.keep_until = 0.0  # served again: the idle countdown restarts when it looks
            # Woken only if it would otherwise sleep past this run's first sample: a loop
            # of short runs would make the thread runnable twice per run (here and in
            # remove), and on a busy machine each of those switches cost the run's thread
            # more than the rest of start_run (bench_store.py --one-run).
            if self.thread is None or self.wake_at is None or sub.due < self.wake_at:
                self._wake()

    def remove(self, run_id: str) -> None:
        """Stop a run's series; returns once no sample of it can still be written."""
        with self.cond:
            if self.subs.pop(run_id, None) is None:
                return
            # Not woken (see add): at its next wake-up it finds the series gone. Unless
            # it served no one else and would sleep past its idle keep: then it looks
            # now, so that it exits within two keeps of the last run's end.
            if not (self.subs or self.watches) and (
                self.wake_at is None or self.wake_at > time.monotonic() + IDLE_KEEP_S
            ):
                self.cond.notify_all()
        with self.write_lock:  # a sample being written now lands before the run's end
            pass

    def watch(self, every: float) -> PeakWatch:
        w = PeakWatch(every, due=time.monotonic() + every)
        with self.cond:
            self.watches.append(w)
            # Cells run back to back do not wake the thread one by one (a thread made
            # runnable at every cell start costs a trivial cell more than its record on a
            # busy machine): for a second after a watch opens, it looks for new ones every
            # WATCH_POLL_S. Only a watch that finds it asleep for longer wakes it.
            self.poll_until = w.due + POLL_LINGER_S
            if self.thread is None:
                self._wake()
            elif self.idle:
                self.idle = False
                self.cond.notify_all()
        return w

    def unwatch(self, w: PeakWatch) -> None:
        with self.cond, contextlib.suppress(ValueError):
            self.watches.remove(w)

    def stop(self, timeout: float = 2.0) -> None:
        """At exit: end the thread (the runs it served are ended next)."""
        with self.cond:
            self.stopped = True
            self.cond.notify_all()
            thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _wake(self) -> None:
        """Start the thread if it is not running, else let it reschedule (lock held)."""
        if self.stopped:
            return
        if self.thread is None:
            if not self.atexit_installed:
                self.atexit_installed = True
                atexit.register(self.stop)
            self.thread = threading.Thread(
                target=self._loop, name="tracker-system-metrics", daemon=True
            )
            self.thread.start()
        else:
            self.cond.notify_all()

    # --- the thread ---------------------------------------------------------------------

    def _next(self, now: float) -> float | None:
        """Seconds until the next sample (lock held); ``None``: nothing to do, exit."""
        if self.stopped:
            return None
        if not (self.subs or self.watches):
            if not self.keep_until:
                self.keep_until = now + IDLE_KEEP_S
            if now < self.keep_until:
                return self.keep_until - now
            self.keep_until = 0.0
            return None
        self.keep_until = 0.0
        times = [s.due for s in self.subs.values()] + [w.due for w in self.watches]
        if now < self.poll_until:
            times.append(now + WATCH_POLL_S)
        return max(0.0, min(times) - now)

    def _loop(self) -> None:
        while True:
            with self.cond:
                now = time.monotonic()
                wait = self._next(now)
                while wait is not None and wait > 0:
                    self.idle = wait > WATCH_POLL_S
                    self.wake_at = now + wait
                    self.cond.wait(wait)
                    now = time.monotonic()
                    wait = self._next(now)
                self.idle = False
                self.wake_at = None
                if wait is None:
                    self.thread = None
                    return
                due = [s for s in self.subs.values() if s.due <= now]
                for s in due:  # rescheduled first: a failing sample must not spin
                    s.due = now + s.every
                watches = [w for w in self.watches if w.due <= now]
                for w in watches:
                    w.due = now + w.every
            try:
                self._tick(due, watches)
            except BaseException as exc:  # nothing may escape the thread
                self._warn("taking system metrics", exc)

    def _tick(self, due: list[_Sub], watches: list[PeakWatch]) -> None:
        probe = self.probe or _Probe()
        self.probe = probe
        if watches:  # while a cell runs: no file opened (capture audits opens in cells)
            rss = probe.rss_now()
            for w in watches:
                w.peak = max(w.peak, rss)
        if not due:
            return
        values = {"system.rss_mb": probe.rss() / MB}
        if self.gpu_ok:
            try:
                values.update(probe.gpu_metrics())
            except Exception as exc:  # a GPU gone or a driver error: drop GPUs, keep the rest
                self.gpu_ok = False
                self._warn("reading GPU metrics (no more GPU samples in this process)", exc)
        wall, cpu, stamp = time.monotonic(), time.process_time(), time.time()
        for s in due:
            elapsed = wall - s.wall0
            metrics = dict(values)
            if elapsed > 0:
                metrics["system.cpu_percent"] = 100.0 * (cpu - s.cpu0) / elapsed
            s.wall0, s.cpu0 = wall, cpu
            self._write(s, metrics, stamp)

    def _write(self, s: _Sub, metrics: dict[str, float], stamp: float) -> None:
        op = LogMetrics.build(s.run.id, metrics, s.step, stamp)  # the one check
        # Not under ``cond``: a spool append must not hold up the cell hooks' watches.
        with self.write_lock:
            if self.subs.get(s.run.id) is not s:
                return  # the run ended meanwhile
            try:
                s.run.write_ops([op])
            except TrackerError:
                return  # ended by another thread without going through end()
            except Exception as exc:
                self._warn("writing system metrics", exc)
                return
            s.step += 1

    def _warn(self, where: str, exc: BaseException) -> None:
        key = f"{where}:{type(exc).__name__}"
        if key in self.warned:
            return
        self.warned.add(key)
        with contextlib.suppress(Exception):
            log.warning(
                "tracker: %s failed (%s: %s); runs go on without these samples",
                where,
                type(exc).__name__,
                exc,
            )


_sampler = _Sampler()


def start_series(run: ActiveRun, every: float | None) -> None:
    """Sample system metrics into ``run`` every ``every`` seconds (``None``: do nothing)."""
    if every is not None:
        _sampler.add(run, every)


def end_series(run_id: str) -> None:
    """Stop ``run``'s series (before its end is written)."""
    if run_id in _sampler.subs:
        _sampler.remove(run_id)


def peak_watch(every: float) -> PeakWatch:
    """Have the sampler note the highest RSS every ``every`` seconds until :func:`end_watch`."""
    return _sampler.watch(every)


def end_watch(w: PeakWatch) -> None:
    """Close a watch from :func:`peak_watch`."""
    _sampler.unwatch(w)


def sampler_thread() -> threading.Thread | None:
    """The sampler thread, while it runs (for tests and ``%track status``)."""
    return _sampler.thread


def _probe() -> _Probe:
    probe = _sampler.probe
    if probe is None:
        probe = _sampler.probe = _Probe()
    return probe


def current_rss() -> int:
    """This process's resident memory now, in bytes (cheap: the cell hooks call it)."""
    return _probe().rss_now()


def high_water() -> int | None:
    """Linux: this process's peak RSS so far (``VmHWM``), in bytes; ``None`` elsewhere."""
    return _probe().high_water()


def memory_info() -> Any:
    """The ``memory_info()`` of this process, from psutil (fields differ by platform)."""
    return _probe().process.memory_info()


def _reset_after_fork() -> None:
    # The child has no sampler thread, and the parent's runs are not the child's.
    global _sampler
    _sampler = _Sampler()


if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_reset_after_fork)
