"""System metrics: ``system.*`` series sampled into runs, and each cell's peak memory growth.

Runs are real, on SQLite and PostgreSQL; the cell test drives a real IPython kernel. The
conftest sets ``TRACKER_SYSTEM_METRICS=3600`` for every test (the thread runs, no sample
lands); these tests choose a fast rate themselves. No timing is asserted: the tests wait
for a number of samples, however long the loaded machine takes.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

import tracker
from tracker.exceptions import ValidationError
from tracker.records import RunStatus
from tracker.run import PeakMemory, _system, set_system_metrics

from .capture_harness import Kernel, kernel_env

PATIENCE_S = 120.0  # how long a loaded machine may take to get a few samples in


def _wait(what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting for {what} after {PATIENCE_S:.0f} s")
        sum(range(20_000))  # some CPU for the samples to see
        time.sleep(0.005)


@pytest.fixture
def sampler(monkeypatch: pytest.MonkeyPatch) -> Iterator[_system._Sampler]:
    """A sampler of the test's own (its warnings once-only state starts empty)."""
    fresh = _system._Sampler()
    monkeypatch.setattr(_system, "_sampler", fresh)
    yield fresh
    fresh.stop()
    set_system_metrics(None)


def _samples(s: _system._Sampler, run_id: str) -> int:
    sub = s.subs.get(run_id)
    return sub.step if sub is not None else -1


def test_a_run_records_cpu_and_memory_series(store_url: str, sampler: _system._Sampler) -> None:
    tracker.set_store(store_url)
    # Given a run sampled every 50 ms, left to work until three samples are written,
    with tracker.start_run("sampled", system_metrics=0.05) as run:
        _wait("3 samples", lambda: _samples(sampler, run.id) >= 3)
    # when it ends, the sampler thread exits (it served that run only),
    _wait("the sampler thread to exit", lambda: sampler.thread is None)
    # and the run holds the series, with steps 0, 1, 2... and sane values,
    info = tracker.get_run(run.id)
    assert info.status is RunStatus.FINISHED
    assert {"system.cpu_percent", "system.rss_mb"} <= set(info.metrics)
    rss = tracker.metric_history(run.id, "system.rss_mb")
    cpu = tracker.metric_history(run.id, "system.cpu_percent")
    assert len(rss) >= 3
    assert len(cpu) == len(rss)
    assert [m.step for m in rss] == list(range(len(rss)))
    here = psutil.Process().memory_info().rss / 1e6
    assert all(10 < m.value < 10 * here for m in rss)
    assert all(m.value >= 0 for m in cpu)
    # and no GPU series where there is no NVIDIA driver.
    if not _system._Probe().find_gpus():
        assert not [k for k in info.metrics if k.startswith("system.gpu")]


class _FakeNVML:
    """NVIDIA's NVML as ``pynvml`` presents it, for one GPU (this machine has none)."""

    class _Util:
        gpu = 37

    class _Mem:
        used = 1_500_000_000

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> object:
        return self._Util()

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> object:
        return self._Mem()


def test_gpu_series_when_nvml_answers(
    sampler: _system._Sampler, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The GPU branch, with NVML's API faked (no NVIDIA driver here): the series names.
    monkeypatch.setitem(sys.modules, "pynvml", _FakeNVML())
    with tracker.start_run("gpu", system_metrics=0.02) as run:
        _wait("2 samples", lambda: _samples(sampler, run.id) >= 2)
    info = tracker.get_run(run.id)
    assert info.metrics["system.gpu0_util_percent"] == 37
    assert info.metrics["system.gpu0_memory_mb"] == 1500


def test_no_sample_follows_the_end(sampler: _system._Sampler) -> None:
    with tracker.start_run("short", system_metrics=0.01) as run:
        _wait("2 samples", lambda: _samples(sampler, run.id) >= 2)
    n = len(tracker.metric_history(run.id, "system.rss_mb"))
    time.sleep(0.2)  # 20 intervals: a sample written after the end would show
    tracker.sync()
    assert len(tracker.metric_history(run.id, "system.rss_mb")) == n


def test_one_thread_serves_every_run(sampler: _system._Sampler) -> None:
    a = tracker.start_run("a", system_metrics=0.02)
    b = tracker.start_run("b", parent=None, system_metrics=0.03)
    _wait("samples in both", lambda: min(_samples(sampler, a.id), _samples(sampler, b.id)) >= 2)
    names = [t.name for t in threading.enumerate()]
    assert names.count("tracker-system-metrics") == 1
    b.end()
    a.end()
    assert tracker.metric_history(b.id, "system.rss_mb")


def test_a_script_exits_cleanly_with_the_sampler_running(tmp_path: Path) -> None:
    # A script that leaves its run open: at exit the sampler stops, the run ends
    # finished, and its samples are in the store, with nothing said on stderr.
    script = tmp_path / "train.py"
    script.write_text(
        "import time, tracker\n"
        "from tracker.run import _system\n"
        "run = tracker.start_run('script', system_metrics=0.01)\n"
        "deadline = time.monotonic() + 120\n"
        "while _system._sampler.subs[run.id].step < 3 and time.monotonic() < deadline:\n"
        "    sum(range(10_000))\n"
        "print(run.id)\n"
    )
    url = f"sqlite:///{tmp_path / 'script.db'}"
    env = {**os.environ, "TRACKER_STORE": url, "TRACKER_SPOOL_DIR": str(tmp_path / "sp")}
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    tracker.set_store(url)
    info = tracker.get_run(done.stdout.strip())
    assert info.status is RunStatus.FINISHED
    assert len(tracker.metric_history(info.id, "system.rss_mb")) >= 3


def test_which_runs_record_by_default(
    sampler: _system._Sampler, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run with no open parent records (at the configured rate); a child of an open
    # run does not (its parent's series cover the process) unless it asks.
    with tracker.start_run("top") as top:
        assert sampler.subs[top.id].every == 3600
        with tracker.start_run("child") as child:
            assert child.id not in sampler.subs
        with tracker.start_run("asks", system_metrics=True) as asks:
            assert sampler.subs[asks.id].every == 3600
    with tracker.start_run("off", system_metrics=False) as off:
        assert off.id not in sampler.subs
    monkeypatch.setenv(_system.ENV_SYSTEM_METRICS, "off")
    with tracker.start_run("env off") as r:
        assert r.id not in sampler.subs
    set_system_metrics(2.5)  # the process setting wins over the environment
    with tracker.start_run("set") as r:
        assert sampler.subs[r.id].every == 2.5
    set_system_metrics(False)
    with tracker.start_run("set off") as r:
        assert r.id not in sampler.subs
    assert not sampler.subs


@pytest.mark.parametrize("bad", [0, -1, 0.001, float("nan"), "10", [1]])
def test_a_bad_rate_is_refused_naming_the_argument(bad: object) -> None:
    with pytest.raises(ValidationError, match="system_metrics"):
        tracker.start_run("bad", system_metrics=bad)  # type: ignore[arg-type]
    assert tracker.active_run() is None  # nothing started
    with pytest.raises(ValidationError, match="set_system_metrics"):
        set_system_metrics(bad)  # type: ignore[arg-type]


def test_a_bad_environment_value_warns_once_and_keeps_the_default(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(_system.ENV_SYSTEM_METRICS, "often")
    with caplog.at_level(logging.WARNING, logger="tracker"):
        assert _system.configured_interval() == _system.DEFAULT_INTERVAL_S
        assert _system.configured_interval() == _system.DEFAULT_INTERVAL_S
    said = [r.getMessage() for r in caplog.records if "TRACKER_SYSTEM_METRICS" in r.getMessage()]
    assert len(said) == 1
    assert "'often'" in said[0]
    assert "'off'" in said[0]


def test_a_failing_sampler_warns_once_and_the_run_ends(
    sampler: _system._Sampler,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = []

    def broken(self: psutil.Process) -> None:
        calls.append(1)
        raise psutil.AccessDenied(self.pid, "memory_info")

    monkeypatch.setattr(psutil.Process, "memory_info", broken)
    with caplog.at_level(logging.WARNING, logger="tracker"):
        # Given a sampler whose every sample fails,
        with tracker.start_run("unlucky", system_metrics=0.01) as run:
            _wait("several failed samples", lambda: len(calls) >= 5)
            tracker.log_metric("accuracy", 0.9)  # the user's logging is unaffected
        _wait("the sampler thread to exit", lambda: sampler.thread is None)
    # then the failure was said once, the run ended as usual, without system series.
    warned = [r for r in caplog.records if "taking system metrics failed" in r.getMessage()]
    assert len(warned) == 1
    assert "AccessDenied" in warned[0].getMessage()
    info = tracker.get_run(run.id)
    assert info.status is RunStatus.FINISHED
    assert info.metrics == {"accuracy": 0.9}


def test_peak_memory_of_a_stretch_of_code(sampler: _system._Sampler) -> None:
    # The measurement the cell hooks make, in process: 200 MB allocated and touched.
    meter = PeakMemory.begin()
    assert meter is not None
    block = bytearray(200_000_000)
    block[::4096] = b"x" * len(block[::4096])
    del block
    growth = meter.end()
    assert growth is not None
    assert growth >= 150
    assert not sampler.watches  # the watch is closed
    _wait("the sampler thread to exit", lambda: sampler.thread is None)


def test_peak_memory_is_off_with_system_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_system.ENV_SYSTEM_METRICS, "off")
    assert PeakMemory.begin() is None


@pytest.mark.kernel
@pytest.mark.slow
def test_a_cell_records_its_wall_time_and_peak_memory(tmp_path: Path) -> None:
    # Given a tracked notebook kernel with system metrics on,
    env = kernel_env(TRACKER_SYSTEM_METRICS="10")
    with Kernel(tmp_path, env) as k:
        assert k.run("%load_ext tracker\n%track on").status == "ok"
        assert k.run("import time\nimport numpy as np").status == "ok"
        assert k.run("small = 1").status == "ok"
        # when a cell allocates about 300 MB and frees it before it ends (a new peak for
        # the process: the kernel's high-water mark has it exactly),
        heavy = k.run("a = np.ones(37_500_000)  # every page touched\ntotal = a.sum()\ndel a")
        assert heavy.status == "ok", heavy.traceback
        # and another then holds 200 MB for half a second (below that peak: sampled),
        held = k.run("b = np.ones(25_000_000)\ntime.sleep(0.5)\ndel b")
        assert held.status == "ok", held.traceback
        assert k.run("%track off\n%track sync").status == "ok"
    # then their records hold the peak growth, and the small cell's is small.
    tracker.sync()
    (session,) = tracker.search_runs(kind="session")
    cells = {c.source.split()[0]: c for c in tracker.get_run(session.id).cells}
    peaks = {name: c.peak_memory_mb for name, c in cells.items()}
    assert peaks["a"] is not None
    assert peaks["a"] >= 250, peaks
    assert peaks["b"] is not None
    assert peaks["b"] >= 150, peaks
    assert peaks["small"] is not None
    assert peaks["small"] < 50, peaks
    assert cells["b"].duration_ms >= 500
    assert "MB peak" in repr(cells["a"])
    # and `tracker show` lists it beside the wall time.
    from tracker.cli._runs import describe

    text = "\n".join(describe(tracker.get_run(session.id)))
    assert "peak mem" in text
    assert f"+{peaks['a']:.0f} MB" in text


def test_the_peak_survives_a_forked_parent_with_a_higher_one(sampler: _system._Sampler) -> None:
    # ru_maxrss starts, after exec, at the peak of the parent; VmHWM does not. A kernel is
    # such a child (of the Jupyter server, or of this test run): the cell above checks it
    # end to end; here the reading itself, on Linux.
    if not sys.platform.startswith("linux"):
        pytest.skip("VmHWM is Linux's")
    hwm = _system.high_water()
    assert hwm is not None
    assert hwm >= _system.current_rss() > 0
