"""The first ``start_run`` in a fresh process (target <= 100 ms), beside MLflow's.

A script or a notebook kernel pays this once: what ``start_run`` costs right after
``import tracker``, with the run's environment (Python, imported packages with versions,
git state, hardware) captured. Each sample is a new interpreter on a fresh SQLite file,
timed inside the process from just after the import to ``start_run`` returning; we also
time until the run is ended and durable (``end`` + ``flush``). MLflow's figure is the same
sequence with ``mlflow.start_run`` on its default SQLite store (its first call creates
the schema, as ours does). Median and p95 over the samples.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

_OURS = """
import json, sys, time
t0 = time.perf_counter()
import tracker
t1 = time.perf_counter()
run = tracker.start_run("first")
t2 = time.perf_counter()
run.end()
tracker.get_store().flush()
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "start_run": t2 - t1, "durable": t3 - t1}))
"""

_MLFLOW = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
import mlflow
t1 = time.perf_counter()
mlflow.set_tracking_uri(sys.argv[1])
run = mlflow.start_run(run_name="first")
t2 = time.perf_counter()
mlflow.end_run()
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "start_run": t2 - t1, "durable": t3 - t1}))
"""


def _p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def _sample(code: str, tmp: Path, i: int, arg: str) -> dict[str, float]:
    env = {
        "TRACKER_STORE": f"sqlite:///{tmp / f'ours{i}.db'}",
        "TRACKER_SPOOL_DIR": str(tmp / f"spool{i}"),
    }
    out = subprocess.run(
        [sys.executable, "-c", code, arg],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=tmp,
        env={**os.environ, **env},
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = 3 if quick else 12
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    try:
        import mlflow  # noqa: F401

        has_mlflow = True
    except ImportError:
        has_mlflow = False
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for i in range(n):  # interleaved, so load hits both alike
            ours.append(_sample(_OURS, tmp, i, ""))
            if has_mlflow:
                theirs.append(_sample(_MLFLOW, tmp, i, f"sqlite:///{tmp / f'mlflow{i}.db'}"))
    row: dict[str, Any] = {
        "bench": "first start_run in a fresh process",
        "samples": n,
        "start_run_ms_median": 1000 * statistics.median(x["start_run"] for x in ours),
        "start_run_ms_p95": 1000 * _p95([x["start_run"] for x in ours]),
        "durable_ms_median": 1000 * statistics.median(x["durable"] for x in ours),
        "import_ms_median": 1000 * statistics.median(x["import"] for x in ours),
    }
    if theirs:
        row["mlflow_start_run_ms_median"] = 1000 * statistics.median(x["start_run"] for x in theirs)
        row["mlflow_durable_ms_median"] = 1000 * statistics.median(x["durable"] for x in theirs)
        row["ratio_durable"] = row["mlflow_durable_ms_median"] / row["durable_ms_median"]
    row["target"] = "start_run <= 100 ms"
    row["ok"] = row["start_run_ms_median"] <= 100
    return [row]


if __name__ == "__main__":
    for r in run():
        print(r)
