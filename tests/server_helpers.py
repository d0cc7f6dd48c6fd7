"""A real Jupyter server with the tracker extension, and records to show it.

The server runs as a subprocess (``python -m jupyter server``) with token
authentication on, on a free loopback port, reading the store given by URL. Test data
is written straight to that store as ops, the way the kernel writes it (see
docs/records.md), so the API is exercised exactly as a notebook would feed it.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracker.records import DataRef
from tracker.store import open_store
from tracker.store.ops import (
    CreateRun,
    EndRun,
    LogCell,
    LogData,
    LogMetrics,
    MetricRow,
    Op,
    SetAttrs,
    SetParams,
    SetRunFields,
)

API = "/tracker/api/v1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        def no_constants(name: str) -> Any:
            raise AssertionError(f"the API sent the non-JSON constant {name}")

        return json.loads(self.body, parse_constant=no_constants)


@dataclass
class JupyterServer:
    """A running ``jupyter server`` subprocess with the tracker extension."""

    root: Path
    store_url: str | None
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> JupyterServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
        env.update(self.env)
        env["TRACKER_SPOOL_DIR"] = str(self.root / "spool")
        if self.store_url is None:
            env.pop("TRACKER_STORE", None)
        else:
            env["TRACKER_STORE"] = self.store_url
        # Keep the user's and the machine's Jupyter config out of the test server.
        env["JUPYTER_CONFIG_DIR"] = str(self.root / "jupyter-config")
        env["JUPYTER_RUNTIME_DIR"] = str(self.root / "jupyter-runtime")
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            "server",
            "--no-browser",
            f"--port={self.port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.allow_root=True",
            "--ServerApp.port_retries=0",
            *self.extra_args,
        ]
        self.log = (self.root / "server.log").open("wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited: {self.read_log()[-3000:]}")
            try:
                if self.get("/api/status").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"jupyter server did not start in {timeout} s: {self.read_log()[-3000:]}"
        )

    def read_log(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if hasattr(self, "log"):
            self.log.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: bool | str = True,
        content_type: str | None = "application/json",
        raw: bytes | None = None,
    ) -> Response:
        headers: dict[str, str] = {}
        if auth is True:
            headers["Authorization"] = f"token {self.token}"
        elif isinstance(auth, str):
            headers["Authorization"] = f"token {auth}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None and content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return Response(r.status, dict(r.headers.items()), r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, dict(e.headers.items()), e.read())

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def api(self, path: str, **kw: Any) -> Response:
        return self.request("GET", API + path, **kw)


# --- records -------------------------------------------------------------------------------


def _id() -> str:
    return uuid.uuid4().hex


def ref(digest: int, rows: int, cols: dict[str, str], **profile: Any) -> dict[str, Any]:
    """A DataRef dict as the hashing module writes it (with a profile)."""
    return DataRef(
        algorithm="xxh3-128",
        digest=f"{digest:032x}",
        kind="dataframe",
        nbytes=rows * 8 * len(cols),
        shape=(rows, len(cols)),
        dtypes=cols,
        rows=rows,
        nulls={c: 0 for c in cols},
        profile={"columns": {c: {"mean": profile.get(c, 1.0)} for c in cols}},
    ).to_dict()


@dataclass
class Seeded:
    """Ids of the records :func:`seed` wrote."""

    runs: list[str]
    hostile: str
    session: str
    cell_run: str
    cells: list[str]
    search: str
    trials: list[str]
    pareto: list[str]
    chosen: str
    infeasible: list[str]


HOSTILE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
ENV = {
    "python": "3.11.7",
    "implementation": "CPython",
    "platform": "Linux-test",
    "hostname": "box",
    "packages": {"numpy": "2.4.0", "scikit-learn": "1.9.0"},
    "git_commit": "abc123",
    "git_dirty": False,
    "git_root": "/src",
    "hardware": {"cpu": "test cpu", "cores": 2},
}


def seed(url: str, t0: float | None = None) -> Seeded:
    """Write runs, a session with cells, and a search with trials, per docs/records.md."""
    store = open_store(url, queued=False)
    t0 = t0 if t0 is not None else time.time() - 3600
    ops: list[Op] = []
    runs: list[str] = []
    # Three plain runs: C grows, accuracy grows, the training data gains rows and a column.
    for i, C in enumerate((0.1, 1.0, 10.0)):
        rid = _id()
        runs.append(rid)
        start = t0 + i * 10
        cols = (
            {"a": "float64", "b": "int64"}
            if i < 2
            else {"a": "float64", "b": "int64", "c": "object"}
        )
        ops += [
            CreateRun(
                rid,
                f"svc-C{C}",
                "run",
                start,
                tags={"model": "svc"},
                environment={**ENV, "packages": {**ENV["packages"], "numpy": f"2.4.{i}"}},
            ),
            SetParams(rid, {"C": C, "kernel": "rbf", "gamma": "scale" if i else "auto"}),
            LogMetrics(
                rid, [MetricRow(_id(), "loss", 1.0 / (s + 1 + i), s, start + s) for s in range(4)]
            ),
            LogMetrics(rid, [MetricRow(_id(), "accuracy", 0.80 + 0.05 * i, None, start + 5)]),
            LogData(_id(), rid, "X_train", ref(100 + i, 100 + 10 * i, cols, a=0.5 + i), start + 1),
            EndRun(rid, "finished", start + 9),
        ]
    hostile = _id()
    ops += [
        CreateRun(hostile, HOSTILE, "run", t0 + 40, tags={"note": HOSTILE}),
        SetParams(hostile, {"C": 2.0, "html": HOSTILE}),
        LogMetrics(hostile, [MetricRow(_id(), "accuracy", float("nan"), None, t0 + 41)]),
        SetRunFields(hostile, {"notes": HOSTILE}),
        EndRun(
            hostile,
            "failed",
            t0 + 42,
            error={"type": "ValueError", "message": HOSTILE, "traceback": None},
        ),
    ]
    # A notebook session: cell 1 loads df, cell 2 reads df and writes X, cell 3 starts a run
    # that logs X.
    session, cell_run = _id(), _id()
    cells = [_id(), _id(), _id()]
    nb = "analysis.ipynb"
    d_df, d_x = ref(200, 50, {"x": "float64"}), ref(201, 50, {"x": "float64", "y": "float64"})
    ops += [
        CreateRun(session, "analysis session", "session", t0 + 100, notebook=nb),
        LogCell(
            cells[0],
            session,
            0,
            "cell-aaa",
            1,
            "df = load()",
            "h1",
            "ok",
            None,
            [],
            ["df"],
            {},
            {},
            t0 + 101,
            12.0,
        ),
        LogData(_id(), session, "df", d_df, t0 + 101.5, role="output", cell_record_id=cells[0]),
        LogCell(
            cells[1],
            session,
            1,
            "cell-bbb",
            2,
            "X = prepare(df)",
            "h2",
            "ok",
            None,
            ["df"],
            ["X"],
            {},
            {},
            t0 + 102,
            30.0,
        ),
        LogData(_id(), session, "df", d_df, t0 + 102, role="input", cell_record_id=cells[1]),
        LogData(_id(), session, "X", d_x, t0 + 102.5, role="output", cell_record_id=cells[1]),
        LogCell(
            cells[2],
            session,
            2,
            "cell-ccc",
            3,
            "with tracker.start_run():\n    fit(X)",
            "h3",
            "ok",
            None,
            ["X"],
            [],
            {"C": 1.0},
            {"accuracy": 0.9},
            t0 + 103,
            250.0,
            child_run_id=cell_run,
        ),
        LogData(_id(), session, "X", d_x, t0 + 103, role="input", cell_record_id=cells[2]),
        CreateRun(
            cell_run,
            "fit in notebook",
            "run",
            t0 + 103.1,
            parent_id=session,
            notebook=nb,
            cell_id="cell-ccc",
        ),
        LogData(_id(), cell_run, "X", d_x, t0 + 103.2),
        LogMetrics(cell_run, [MetricRow(_id(), "accuracy", 0.88, None, t0 + 103.3)]),
        EndRun(cell_run, "finished", t0 + 103.5),
    ]
    # A search with two objectives and a latency constraint.
    search = _id()
    trials: list[str] = []
    pts: list[tuple[str, float, float, bool]] = []
    values = [(0.90, 20.0), (0.95, 40.0), (0.85, 10.0), (0.97, 80.0), (0.80, 30.0), (0.93, 60.0)]
    ops.append(
        CreateRun(search, "svc search", "search", t0 + 200, tags={"optuna.study_name": "study-1"})
    )
    for n, (acc, lat) in enumerate(values):
        tid = _id()
        trials.append(tid)
        feasible = lat <= 50
        pts.append((tid, acc, lat, feasible))
        ops += [
            CreateRun(
                tid,
                f"trial {n}",
                "trial",
                t0 + 201 + n,
                parent_id=search,
                tags={"optuna.study_name": "study-1", "optuna.trial_number": str(n)},
            ),
            SetParams(tid, {"C": 0.1 * (n + 1)}),
            LogMetrics(
                tid,
                [
                    MetricRow(_id(), "accuracy", acc, None, t0 + 201.5 + n),
                    MetricRow(_id(), "latency_p95_ms", lat, None, t0 + 201.5 + n),
                ],
            ),
            LogMetrics(
                search, [MetricRow(_id(), "hypervolume", 0.1 * (n + 1), n + 1, t0 + 201.6 + n)]
            ),
            EndRun(tid, "finished", t0 + 201.9 + n),
        ]
    front = [
        p
        for p in pts
        if p[3] and not any(q[3] and q[1] >= p[1] and q[2] <= p[2] and q != p for q in pts)
    ]
    pareto = [p[0] for p in front]
    for tid, acc, lat, feasible in pts:
        ops.append(
            SetAttrs(
                tid,
                {
                    "trial": {
                        "number": trials.index(tid),
                        "state": "complete",
                        "values": {"accuracy": acc, "latency_p95_ms": lat},
                        "constraints": {
                            "latency_p95_ms <= 50": {
                                "value": lat,
                                "violation": max(0.0, lat - 50),
                                "feasible": feasible,
                            }
                        },
                        "feasible": feasible,
                        "pareto": tid in pareto,
                        "duration_s": 0.5,
                        "error": None,
                    }
                },
            )
        )
    chosen = pareto[0]
    ops += [
        SetAttrs(
            search,
            {
                "search": {
                    "study_name": "study-1",
                    "storage": "sqlite:///study.db",
                    "objectives": {"accuracy": "maximize", "latency_p95_ms": "minimize"},
                    "constraints": [
                        {
                            "expr": "latency_p95_ms <= 50",
                            "metric": "latency_p95_ms",
                            "op": "<=",
                            "bound": 50,
                        }
                    ],
                    "sampler": {"name": "TPESampler", "reason": "2 objectives, 1 constraint"},
                    "seed": 0,
                    "budget": {"n_trials": 6, "timeout": None},
                    "n_jobs": 1,
                    "space": {"C": {"type": "float", "low": 0.01, "high": 10.0, "log": True}},
                    # What tracker.tuning computes with Optuna's PED-ANOVA at the end.
                    "importance": {
                        "method": "PedAnovaImportanceEvaluator",
                        "n_complete": 6,
                        "objectives": {"accuracy": {"C": 1.0}, "latency_p95_ms": {"C": 1.0}},
                        "reason": None,
                    },
                },
                "pareto": pareto,
                "chosen": chosen,
                "recheck": {
                    chosen: {
                        "validation": {"accuracy": 0.95},
                        "test": {"accuracy": 0.94},
                        "latency": {},
                        "feasible_on_test": True,
                        "violations": {},
                    }
                },
            },
        ),
        LogMetrics(
            search,
            [
                MetricRow(_id(), "n_trials", 6.0, None, t0 + 300),
                MetricRow(_id(), "n_feasible", float(sum(p[3] for p in pts)), None, t0 + 300),
            ],
        ),
        EndRun(search, "finished", t0 + 300),
    ]
    store.write(ops)
    store.close()
    return Seeded(
        runs=runs,
        hostile=hostile,
        session=session,
        cell_run=cell_run,
        cells=cells,
        search=search,
        trials=trials,
        pareto=pareto,
        chosen=chosen,
        infeasible=[p[0] for p in pts if not p[3]],
    )
