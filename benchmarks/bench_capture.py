"""Notebook capture: what tracking adds to a cell, measured from a real kernel's client.

Every figure is the wall time a client (like JupyterLab) waits for a cell, from the
execute request to the reply and the kernel going idle, in one real IPython kernel.
"Added" is the median (or p99) with tracking on minus the same with tracking off;
tracking is switched on and off in interleaved blocks so drift hits both alike. Next to
it: the hooks' own time inside the kernel (``%track status``'s "hook overhead"), and the
kernel's added CPU time per cell, which includes the background thread that writes the
records to the database (batched; ``%track sync`` after each tracked block makes sure
that work is counted on the tracked side).

Rows:
* a trivial cell (``x = 1``), >= 1,000 executions each way. Target: added median
  <= 1 ms, p99 <= 5 ms;
* the same trivial cell with a 200 MB DataFrame elsewhere in the namespace (target:
  unaffected, i.e. the same bounds);
* a cell that only reads a 200 MB numeric DataFrame: warm (its digest is cached), and
  cold (first use after tracking was off: hashed in full). Target: <= 60 ms added;
  a cell that changes it in place (hashed again in full) is shown too;
* system metrics on vs off (issue 19): the same trivial cell, tracked, with each cell's
  peak-memory watch (and the session's 10 s sampler thread) on, then off
  (``tracker.run.set_system_metrics``), in interleaved blocks. Target: with them on, the
  trivial cell's bounds above still hold (hooks and client delta);
* one cell's 10 params + 5 metrics recorded, on top of the cell's record: ours
  (``%track params/metrics``), MLflow's SQLite store (a run per cell, as MLflow records
  a unit of work), W&B offline (``config.update`` + ``log`` into one open run), with
  ratios. The four cells run in turn, one after the other.

Usage: python benchmarks/run.py --only capture  [--quick]
       python benchmarks/bench_capture.py system  (the system-metrics rows alone)
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PARAMS = {f"p{i}": i * 0.5 for i in range(10)}
METRICS = {f"m{i}": i / 7 for i in range(5)}


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


class _Kernel:
    """A kernel and a client that times each execute request."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        from jupyter_client.manager import KernelManager

        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=env, cwd=str(cwd))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 600) -> tuple[float, str]:
        """Execute ``code``; return (seconds until reply and idle, stdout)."""
        t0 = time.perf_counter()
        msg_id = self.kc.execute(code, store_history=True)
        while True:  # the reply comes after the post_run_cell hook has returned
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        out: list[str] = []
        while True:  # then every output, and the kernel going idle
            msg = self.kc.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content["name"] == "stdout":
                out.append(content["text"])
            elif kind == "error":
                raise RuntimeError(f"{code!r} failed: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                break
        elapsed = time.perf_counter() - t0
        if reply["content"].get("status") != "ok":
            raise RuntimeError(f"{code!r} failed: {reply['content']}")
        return elapsed, "".join(out)

    def times(self, code: str, n: int) -> list[float]:
        return [self.run(code)[0] * 1000 for _ in range(n)]

    def cpu_ms(self) -> float:
        """CPU time the kernel process has used (all its threads), in ms (Linux)."""
        provisioner = self.km.provisioner
        pid = provisioner.process.pid  # type: ignore[union-attr]
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime + stime
        return ticks * 1000 / os.sysconf("SC_CLK_TCK")

    def shutdown(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@contextmanager
def _kernel(tmp: Path) -> Iterator[_Kernel]:
    env = dict(os.environ)
    env.update(
        TRACKER_STORE=f"sqlite:///{tmp / 'tracker.db'}",
        TRACKER_SPOOL_DIR=str(tmp / "spool"),
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        WANDB_DIR=str(tmp),
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow.db'}",
        GIT_PYTHON_REFRESH="quiet",
    )
    env.pop("JPY_SESSION_NAME", None)
    k = _Kernel(tmp, env)
    try:
        yield k
    finally:
        k.shutdown()


class Sample:
    """Per-cell wall times each way, and the kernel's CPU time spent on each side."""

    def __init__(self) -> None:
        self.off: list[float] = []
        self.on: list[float] = []
        self.cpu_off = 0.0
        self.cpu_on = 0.0


def _interleaved(k: _Kernel, code: str, n: int, blocks: int) -> Sample:
    """``n`` timings each way, tracking off and on in ``blocks`` alternating blocks.

    Records are written to the database by a background thread, batched over a quarter
    second: ``%track sync`` after each tracked block waits for that work, so it is
    counted (in CPU time) on the tracked side and never lands in an untracked block.
    """
    s = Sample()
    per = max(1, n // blocks)
    for _ in range(blocks):
        k.run("%track off")
        c0 = k.cpu_ms()
        s.off += k.times(code, per)
        k.run("%track sync")
        c1 = k.cpu_ms()
        k.run("%track on")
        c2 = k.cpu_ms()
        s.on += k.times(code, per)
        k.run("%track sync")
        c3 = k.cpu_ms()
        s.cpu_off += c1 - c0
        s.cpu_on += c3 - c2
    return s


def _pairs(k: _Kernel, code: str, n: int) -> tuple[list[float], list[float]]:
    """``n`` (off, on) timings, alternating one by one (the finest interleaving)."""
    off: list[float] = []
    on: list[float] = []
    for _ in range(n):
        k.run("%track off")
        off.append(k.run(code)[0] * 1000)
        k.run("%track on")
        on.append(k.run(code)[0] * 1000)
    return off, on


def _hook_times(k: _Kernel) -> list[float]:
    """The in-kernel hook times recorded since the last reset, then reset them."""
    _, out = k.run(
        "%track off\n"
        "import json as _j\n"
        "from tracker.capture import current_capture as _cc\n"
        "print(_j.dumps(list(_cc().overhead_ms)))\n"
        "_cc().overhead_ms.clear()"
    )
    return [float(x) for x in json.loads(out.strip().splitlines()[-1])]


def _wall(off: list[float], on: list[float]) -> dict[str, float]:
    return {
        "off_median_ms": statistics.median(off),
        "on_median_ms": statistics.median(on),
        "added_median_ms": statistics.median(on) - statistics.median(off),
        "added_p99_ms": _pct(on, 0.99) - _pct(off, 0.99),
    }


def _added(s: Sample) -> dict[str, float]:
    return {
        **_wall(s.off, s.on),
        "added_cpu_per_cell_ms": (s.cpu_on - s.cpu_off) / len(s.on),
    }


def _hooks(times: list[float]) -> dict[str, float]:
    return {
        "hook_median_ms": statistics.median(times) if times else float("nan"),
        "hook_p99_ms": _pct(times, 0.99) if times else float("nan"),
    }


def bench_trivial(k: _Kernel, n: int, label: str) -> dict[str, Any]:
    k.run("%track off")
    _hook_times(k)
    off, on = _pairs(k, "x = 1", n)  # wall time, finely interleaved
    hooks = _hook_times(k)
    cpu = _interleaved(k, "x = 1", n, blocks=10)  # CPU, in blocks (ticks are coarse)
    _hook_times(k)
    row: dict[str, Any] = {"bench": label, "n_each": len(on), **_wall(off, on)}
    row["added_cpu_per_cell_ms"] = (cpu.cpu_on - cpu.cpu_off) / len(cpu.on)
    row.update(_hooks(hooks))
    row["target"] = "added median <= 1 ms, p99 <= 5 ms (client delta and hook time)"
    # The client-side delta is what a user waits, but on a busy host it is noisy (it can
    # even come out negative); the hooks' own time is exact. Both must meet the bounds.
    row["ok"] = (
        max(row["added_median_ms"], row["hook_median_ms"]) <= 1.0
        and max(row["added_p99_ms"], row["hook_p99_ms"]) <= 5.0
    )
    return row


def bench_big_frame(k: _Kernel, rows_n: int, reps: int) -> list[dict[str, Any]]:
    mb = rows_n * 10 * 8 / 1e6
    k.run("%track off")
    k.run("import numpy as np, pandas as pd")
    k.run(f"big = pd.DataFrame(np.random.default_rng(0).random(({rows_n}, 10)))")
    k.run("%track on")
    k.run("m = big.mean()")  # the first read hashes it
    _hook_times(k)
    out: list[dict[str, Any]] = []

    # Warm: the digest is cached; the cell's hooks only look it up.
    read_off, read_on = _pairs(k, "m = big.mean()", reps * 4)
    warm_hooks = _hook_times(k)
    # Cold: a new frame (made with tracking off, so never hashed) read for the first time.
    cold: list[float] = []
    cold_hooks: list[float] = []
    for _ in range(reps):
        k.run("%track off")
        k.run("big = big.copy()")
        k.run("%track on")
        cold.append(k.run("m = big.mean()")[0] * 1000)
        cold_hooks += _hook_times(k)
    mutate_off, mutate_on = _pairs(k, "big.iloc[0, 0] = 0.5", reps * 4)
    mutate_hooks = _hook_times(k)

    base = statistics.median(read_off)
    warm = {**_wall(read_off, read_on), **_hooks(warm_hooks)}
    out.append(
        {
            "bench": f"cell that only reads a {mb:.0f} MB DataFrame (cached digest)",
            **warm,
            "target": "added <= 60 ms (client delta and hook time)",
            "ok": max(warm["added_median_ms"], warm["hook_median_ms"]) <= 60.0,
        }
    )
    cold_row = {
        "off_median_ms": base,
        "on_median_ms": statistics.median(cold),
        "added_median_ms": statistics.median(cold) - base,
        **_hooks(cold_hooks),
        "hook_max_ms": max(cold_hooks),
        "n": len(cold),
    }
    out.append(
        {
            "bench": f"cell that only reads a {mb:.0f} MB DataFrame (first read: full hash)",
            **cold_row,
            "target": "added <= 60 ms (client delta and hook time)",
            "ok": max(cold_row["added_median_ms"], cold_row["hook_median_ms"]) <= 60.0,
        }
    )
    out.append(
        {
            "bench": f"cell that changes a {mb:.0f} MB DataFrame in place (hashed again)",
            **_wall(mutate_off, mutate_on),
            **_hooks(mutate_hooks),
            "note": "not a target: a changed frame must be hashed in full",
        }
    )
    return out


def bench_system_metrics(k: _Kernel, n: int, blocks: int = 10) -> dict[str, Any]:
    """A tracked trivial cell with system metrics off and on, in alternating blocks.

    "On" is the default: each recorded cell opens a peak-memory watch (RSS and the
    kernel's high-water mark read before and after, the sampler thread noting RSS every
    20 ms while the cell runs) and the session run is sampled every 10 s. "Off" keeps the
    session's sampler (it was started with the session) but measures no cell.
    """
    k.run("%track off\nimport tracker.run as _tr")
    _hook_times(k)
    wall: dict[bool, list[float]] = {False: [], True: []}
    hooks: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, float] = {False: 0.0, True: 0.0}
    per = max(1, n // blocks)
    for _ in range(blocks):
        for on in (False, True):
            k.run(f"%track off\n_tr.set_system_metrics({on})")
            _hook_times(k)
            k.run("%track on")
            c0 = k.cpu_ms()
            wall[on] += k.times("x = 1", per)
            k.run("%track sync")
            cpu[on] += k.cpu_ms() - c0
            hooks[on] += _hook_times(k)
    k.run("%track off\n_tr.set_system_metrics(None)")
    row: dict[str, Any] = {
        "bench": "trivial cell, system metrics on vs off",
        "n_each": per * blocks,
    }
    row.update({f"off_{k_}": v for k_, v in _hooks(hooks[False]).items()})
    row.update({f"on_{k_}": v for k_, v in _hooks(hooks[True]).items()})
    row["off_median_ms"] = statistics.median(wall[False])
    row["on_median_ms"] = statistics.median(wall[True])
    row["added_median_ms"] = row["on_median_ms"] - row["off_median_ms"]
    row["added_p99_ms"] = _pct(wall[True], 0.99) - _pct(wall[False], 0.99)
    row["added_hook_median_ms"] = row["on_hook_median_ms"] - row["off_hook_median_ms"]
    row["added_cpu_per_cell_ms"] = (cpu[True] - cpu[False]) / (per * blocks)
    row["target"] = "with system metrics on, hooks median <= 1 ms and p99 <= 5 ms"
    row["ok"] = row["on_hook_median_ms"] <= 1.0 and row["on_hook_p99_ms"] <= 5.0
    return row


def bench_params_metrics(k: _Kernel, n: int) -> dict[str, Any]:
    """A bare cell, ours, MLflow and W&B in turn; medians against the bare cell."""
    setup = "\n".join(f"{key} = {value!r}" for key, value in {**PARAMS, **METRICS}.items())
    k.run("%track off\n" + setup)
    cells = {
        "base": "pass",
        "ours": "tracker.log_params(_P)\ntracker.log_metrics(_M)",
        "ours_magics": f"%track params {' '.join(PARAMS)}\n%track metrics {' '.join(METRICS)}",
        "mlflow": "with mlflow.start_run():\n    mlflow.log_params(_P)\n    mlflow.log_metrics(_M)",
        "wandb": "_run.config.update(_P, allow_val_change=True)\n_run.log(_M)",
    }
    row: dict[str, Any] = {"bench": "one cell's 10 params + 5 metrics recorded (SQLite)", "n": n}
    k.run("import tracker\n_P = " + repr(PARAMS) + "\n_M = " + repr(METRICS))
    try:
        k.run("import mlflow\nmlflow.set_experiment('bench')")
    except Exception as exc:  # report, do not hide, a peer that cannot run here
        row["mlflow"] = f"could not run: {exc}"
        del cells["mlflow"]
    try:
        k.run("import wandb\n_run = wandb.init(project='bench', mode='offline')")
    except Exception as exc:
        row["wandb"] = f"could not run (pip install wandb to compare): {exc}"
        del cells["wandb"]
    # Tracking stays on for every cell, so each gets a record: the differences are the
    # cost of recording the params and metrics, with each tool, on top of that.
    times: dict[str, list[float]] = {name: [] for name in cells}
    k.run("%track on")
    for _ in range(n):
        for name, code in cells.items():
            times[name].append(k.run(code)[0] * 1000)
    cpu: dict[str, float] = dict.fromkeys(cells, 0.0)
    per = max(1, n // 5)
    for _ in range(5):  # CPU in blocks (ticks are coarse), background writes included
        for name, code in cells.items():
            c0 = k.cpu_ms()
            k.times(code, per)
            k.run("%track sync")
            cpu[name] += (k.cpu_ms() - c0) / (5 * per)
    k.run("%track off")
    if "wandb" in cells:
        k.run("_run.finish()")
    base = statistics.median(times["base"])
    base_p99 = _pct(times["base"], 0.99)
    row["baseline_median_ms"] = base
    for name in cells:
        if name == "base":
            continue
        row[f"{name}_added_median_ms"] = statistics.median(times[name]) - base
        row[f"{name}_added_p99_ms"] = _pct(times[name], 0.99) - base_p99
        row[f"{name}_added_cpu_per_cell_ms"] = cpu[name] - cpu["base"]
    ours = max(row["ours_added_median_ms"], 1e-3)
    for name in ("mlflow", "wandb"):
        if name in cells:
            row[f"ratio_{name}_vs_ours"] = row[f"{name}_added_median_ms"] / ours
    row["note"] = (
        "every cell is tracked, so all figures are on top of a cell record (see the trivial "
        "cell row); ours: tracker.log_params/log_metrics into the session run and the "
        "cell record (ours_magics: the same with %track params/metrics, which adds "
        "IPython's magic handling); MLflow: a run per cell; "
        "W&B: logging into one open offline run (written by a separate wandb-core process, "
        "not counted in the kernel's CPU)"
    )
    return row


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = 200 if quick else 1000
    rows_n = 250_000 if quick else 2_500_000  # 20 MB / 200 MB of float64
    reps = 3 if quick else 5
    n_pm = 50 if quick else 300
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as d, _kernel(Path(d)) as k:
        k.run("%load_ext tracker")
        k.run("%track on")
        k.times("x = 1", 50)  # warm up imports and caches
        out.append(bench_trivial(k, n, "trivial cell (x = 1)"))
        out += bench_big_frame(k, rows_n, reps)
        out.append(
            bench_trivial(k, n, f"trivial cell, {rows_n * 80 / 1e6:.0f} MB DataFrame elsewhere")
        )
        out.append(bench_system_metrics(k, n))
        out.append(bench_params_metrics(k, n_pm))
        out[-1]["ok"] = out[-1].get("ratio_mlflow_vs_ours", 0) > 1
        out[-1]["target"] = "cheaper than MLflow"
    if quick:
        for row in out:
            row.pop("ok", None)  # a smoke run, not figures
    return out


def run_system_metrics(n: int = 1000) -> list[dict[str, Any]]:
    """Only the rows system metrics touch: the trivial cell (on, the default) and on vs off."""
    with tempfile.TemporaryDirectory() as d, _kernel(Path(d)) as k:
        k.run("%load_ext tracker")
        k.run("%track on")
        k.times("x = 1", 50)
        return [bench_trivial(k, n, "trivial cell (x = 1)"), bench_system_metrics(k, n)]


if __name__ == "__main__":
    # ``python benchmarks/bench_capture.py system``: the system-metrics rows alone.
    import sys

    if sys.argv[1:] == ["system"]:
        rows = run_system_metrics(200 if os.environ.get("QUICK") else 1000)
    else:
        rows = run(quick=bool(os.environ.get("QUICK")))
    for row in rows:
        print(json.dumps(row, default=str))
