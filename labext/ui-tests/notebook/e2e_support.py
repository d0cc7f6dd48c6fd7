"""Helpers of the end-to-end notebook: record what the notebook does, per docs/records.md.

The notebook uses the public run API for its runs. Two things come from branches that
may not be merged where the tests run, so they are written here as the records those
branches write: content hashes (``tracker.hashing``; used when present) and the cell
records of ``%track on`` (``LogCell`` ops on a session run), and a search's records
(``tracker.optimize``; the server never imports Optuna, it only reads these).
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

import tracker
from tracker.records import DataRef
from tracker.store.ops import LogCell, LogData, SetAttrs


def session(notebook: str) -> tracker.ActiveRun:
    """The session run a tracked notebook records its cells under."""
    return tracker.start_run(name=f"session {notebook}", kind="session", parent=None, source=tracker.Source(notebook=notebook))


def data_ref(arr: np.ndarray) -> DataRef:
    """The content hash of an array (``tracker.hashing`` when installed)."""
    try:
        from tracker.hashing import hash_data

        return hash_data(arr)
    except ImportError:
        digest = xxhash.xxh3_128_hexdigest(repr((arr.shape, str(arr.dtype))).encode() + np.ascontiguousarray(arr).tobytes())
        return DataRef(
            algorithm="xxh3-128",
            digest=digest,
            kind="ndarray",
            nbytes=int(arr.nbytes),
            shape=tuple(int(s) for s in arr.shape),
            dtypes={"": str(arr.dtype)},
            rows=int(arr.shape[0]),
            profile={"min": float(arr.min()), "max": float(arr.max()), "mean": round(float(arr.mean()), 6)},
        )


def log_data(run: tracker.ActiveRun, name: str, arr: np.ndarray) -> DataRef:
    ref = data_ref(arr)
    run.record_data(name, ref)
    return ref


def record_cells(sess: tracker.ActiveRun, notebook: str, cells: dict[str, dict[str, Any]]) -> None:
    """Cell records for the given cell ids, with the data each read and wrote."""
    nb = json.loads(Path(notebook).read_text())
    sources = {c.get("id"): "".join(c["source"]) for c in nb["cells"]}
    ops: list[Any] = []
    now = time.time()
    for seq, (cell_id, io) in enumerate(cells.items()):
        rec = uuid.uuid4().hex
        src = sources[cell_id]
        ops.append(
            LogCell(
                id=rec, run_id=sess.id, seq=seq, cell_id=cell_id, execution_count=seq + 1,
                source=src, source_hash=xxhash.xxh3_64_hexdigest(src.encode()), status="ok", error=None,
                reads=sorted(io.get("inputs", {})), writes=sorted(io.get("outputs", {})),
                params={}, metrics={}, started=now - 10 + seq, duration_ms=100.0 * (seq + 1),
            )
        )
        for role in ("inputs", "outputs"):
            for name, ref in io.get(role, {}).items():
                ops.append(LogData(uuid.uuid4().hex, sess.id, name, ref.to_dict(), now - 10 + seq, role=role[:-1], cell_record_id=rec))
    sess.write_ops(ops)


def search(name: str, n_trials: int = 16, seed: int = 0) -> str:
    """A two-objective search under a latency constraint, recorded as tracker.optimize does."""
    rng = random.Random(seed)
    with tracker.start_run(name=name, kind="search", parent=None, tags={"optuna.study_name": name}) as srch:
        pts: list[tuple[str, float, float, bool]] = []
        for n in range(n_trials):
            acc, lat = rng.uniform(0.80, 0.99), rng.uniform(5.0, 90.0)
            feasible = lat <= 50.0
            with tracker.start_run(name=f"trial {n}", kind="trial", parent=srch, tags={"optuna.study_name": name, "optuna.trial_number": str(n)}) as t:
                t.log_params({"C": round(10 ** rng.uniform(-2, 2), 4)})
                t.log_metrics({"accuracy": acc, "latency_p95_ms": lat})
                pts.append((t.id, acc, lat, feasible))
            front = [p for p in pts if p[3] and not any(q[3] and q[1] >= p[1] and q[2] <= p[2] and q != p for q in pts)]
            hv = sum((b[1] - 0.8) * (50.0 - b[2]) for b in front) / 10.0
            srch.log_metrics({"hypervolume": hv}, step=n + 1)
        pareto = [p[0] for p in front]
        for tid, acc, lat, feasible in pts:
            tracker.get_store().write([SetAttrs(tid, {"trial": {
                "number": [p[0] for p in pts].index(tid), "state": "complete",
                "values": {"accuracy": acc, "latency_p95_ms": lat},
                "constraints": {"latency_p95_ms <= 50": {"value": lat, "violation": max(0.0, lat - 50.0), "feasible": feasible}},
                "feasible": feasible, "pareto": tid in pareto, "duration_s": 0.2, "error": None}})])
        chosen = max(front, key=lambda p: p[1])[0]
        srch.set_attrs({
            "search": {
                "study_name": name, "storage": "sqlite:///optuna.db",
                "objectives": {"accuracy": "maximize", "latency_p95_ms": "minimize"},
                "constraints": [{"expr": "latency_p95_ms <= 50", "metric": "latency_p95_ms", "op": "<=", "bound": 50}],
                "sampler": {"name": "TPESampler", "reason": "two objectives and a constraint"}, "seed": seed,
                "budget": {"n_trials": n_trials, "timeout": None}, "n_jobs": 1,
                "space": {"C": {"type": "float", "low": 0.01, "high": 100.0, "log": True}},
            },
            "pareto": pareto,
            "chosen": chosen,
            "recheck": {chosen: {"validation": {"accuracy": round(next(p[1] for p in pts if p[0] == chosen), 4)}, "test": {"accuracy": 0.9}, "latency": {}, "feasible_on_test": True, "violations": {}}},
        })
        srch.log_metrics({"n_trials": float(n_trials), "n_feasible": float(sum(p[3] for p in pts))})
        assert not math.isnan(hv)
        return srch.id
