"""Records of a tracked notebook session with a constrained search, written as store ops.

Fixed ids, times and values, so cards built from it are byte-stable (golden files). The
records follow docs/records.md exactly (session + cell records, search run with
attrs search/pareto/chosen/recheck and a hypervolume history, trial runs with
attrs trial/test, latency and slices on the chosen trial), written through the public
ops, so the card tests do not depend on the optimizer's or the capture's code.

Also used by benchmarks/bench_cards.py (1,000 trials).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tracker.store import BaseStore
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

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z

ENV: dict[str, Any] = {
    "python": "3.11.9",
    "implementation": "CPython",
    "platform": "Linux-6.1-x86_64-with-glibc2.36",
    "hostname": "lab-01",
    "packages": {"numpy": "2.4.6", "scikit-learn": "1.9.1", "pandas": "3.1.1"},
    "git_commit": "0123456789abcdef0123456789abcdef01234567",
    "git_dirty": False,
    "git_root": "/home/ana/project",
    "hardware": {
        "machine": "x86_64",
        "cpu": "Example CPU @ 3.0GHz",
        "logical_cores": 8,
        "memory_gb": 31.2,
    },
}

SESSION_ID = "5e5510" + "0" * 26
SEARCH_ID = "5ea4c8" + "0" * 26
PLAIN_ID = "9a1a" + "0" * 28


def trial_id(i: int) -> str:
    return f"{i:06d}7e1a" + "0" * 22


def ref(
    digest: str,
    kind: str = "ndarray",
    rows: int | None = None,
    cols: int | None = None,
    partial: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    shape = [rows, cols] if rows is not None and cols is not None else [rows] if rows else None
    d: dict[str, Any] = {
        "algorithm": "xxh3-128",
        "digest": digest,
        "kind": kind,
        "nbytes": (rows or 0) * (cols or 1) * 8,
        "shape": shape,
        "dtypes": {"": "float64"} if kind == "ndarray" else None,
        "rows": rows,
        "nulls": None,
        "partial": partial,
        "path": None,
        "profile": {"partial_reason": "sampled 1 MiB of 4 GiB"} if partial else None,
    }
    d.update(extra)
    return d


D_X = "a1" * 16
D_Y = "b2" * 16
D_XTR, D_XVA, D_XTE = "c3" * 16, "d4" * 16, "e5" * 16
D_YTR, D_YVA, D_YTE = "f6" * 16, "a7" * 16, "b8" * 16


@dataclass(frozen=True)
class FixtureIds:
    session: str
    search: str
    trials: list[str]
    chosen: str
    pareto: list[str]
    plain: str


def _trial_values(i: int) -> tuple[float, float]:
    # A smooth trade-off with some scatter: accuracy rises with latency.
    lat = 20.0 + 160.0 * ((i * 37) % 101) / 100.0
    acc = 0.80 + 0.17 * (1 - math.exp(-lat / 60.0)) - 0.04 * ((i * 53) % 7) / 7.0
    return round(acc, 6), round(lat, 4)


def search_ops(
    n_trials: int = 12, *, slices: Mapping[str, Any] | None = None, name: str = "digits-svc-search"
) -> tuple[list[Op], FixtureIds]:
    ops: list[Op] = []
    env = dict(ENV)
    ops.append(
        CreateRun(
            run_id=SESSION_ID,
            name="session-analysis",
            kind="session",
            start_time=T0,
            notebook="analysis.ipynb",
            environment=env,
        )
    )
    cells = [
        # seq, source, reads, writes, inputs, outputs
        (
            0,
            "X, y = load_digits(return_X_y=True)",
            [],
            ["X", "y"],
            {},
            {"X": ref(D_X, rows=1797, cols=64), "y": ref(D_Y, rows=1797)},
        ),
        (
            1,
            "X_train, X_val, X_test, y_train, y_val, y_test = split(X, y)",
            ["X", "y", "split"],
            ["X_train", "X_val", "X_test", "y_train", "y_val", "y_test"],
            {"X": ref(D_X, rows=1797, cols=64), "y": ref(D_Y, rows=1797)},
            {
                "X_train": ref(D_XTR, rows=1077, cols=64),
                "X_val": ref(D_XVA, rows=360, cols=64),
                "X_test": ref(D_XTE, rows=360, cols=64),
                "y_train": ref(D_YTR, rows=1077),
                "y_val": ref(D_YVA, rows=360),
                "y_test": ref(D_YTE, rows=360),
            },
        ),
        (
            2,
            "plt.imshow(X[0].reshape(8, 8))",
            ["plt", "X"],
            [],
            {"X": ref(D_X, rows=1797, cols=64)},
            {},
        ),
        (
            3,
            "result = tracker.optimize(objective, ...)",
            ["X_train", "y_train", "X_val", "y_val", "objective"],
            ["result"],
            {
                "X_train": ref(D_XTR, rows=1077, cols=64),
                "y_train": ref(D_YTR, rows=1077),
                "X_val": ref(D_XVA, rows=360, cols=64),
                "y_val": ref(D_YVA, rows=360),
            },
            {},
        ),
    ]
    for seq, src, reads, writes, inputs, outputs in cells:
        cid = f"ce11{seq:028d}"
        started = T0 + 10 * seq
        duration = 2000.0 if seq < 3 else 600_000.0
        ops.append(
            LogCell(
                id=cid,
                run_id=SESSION_ID,
                seq=seq,
                cell_id=f"cell-{seq}",
                execution_count=seq + 1,
                source=src,
                source_hash=f"{seq:02d}" * 16,
                status="ok",
                error=None,
                reads=reads,
                writes=writes,
                params={},
                metrics={},
                started=started,
                duration_ms=duration,
                fingerprint=f"fp{seq}",
                outcome_hash=None,
            )
        )
        for role, refs in (("input", inputs), ("output", outputs)):
            for j, (nm, r) in enumerate(sorted(refs.items())):
                ops.append(
                    LogData(
                        id=f"da{seq:04d}{role[:2]}{j:06d}" + "0" * 18,
                        run_id=SESSION_ID,
                        name=nm,
                        ref=r,
                        timestamp=started + 0.5,
                        role=role,
                        cell_record_id=cid,
                    )
                )
    s_start = T0 + 30.5
    ops.append(
        CreateRun(
            run_id=SEARCH_ID,
            name=name,
            kind="search",
            start_time=s_start,
            parent_id=SESSION_ID,
            tags={"optuna.study_name": "study-1"},
            notebook="analysis.ipynb",
            environment=env,
        )
    )
    ops.append(SetParams(run_id=SEARCH_ID, params={"kernel": "rbf"}))
    ops.append(
        LogData(
            id="da7a" + "0" * 28,
            run_id=SEARCH_ID,
            name="X_train",
            ref=ref(D_XTR, rows=1077, cols=64),
            timestamp=s_start,
        )
    )
    ops.append(
        LogData(
            id="da7a" + "0" * 27 + "1",
            run_id=SEARCH_ID,
            name="X_test",
            ref=ref(D_XTE, rows=360, cols=64),
            timestamp=s_start,
        )
    )
    ops.append(
        LogData(
            id="da7a" + "0" * 27 + "2",
            run_id=SEARCH_ID,
            name="X_val",
            ref=ref(D_XVA, rows=360, cols=64),
            timestamp=s_start,
        )
    )
    tids = [trial_id(i) for i in range(n_trials)]
    values = [_trial_values(i) for i in range(n_trials)]
    bound = 100.0
    feasible = [lat <= bound for _, lat in values]
    # Pareto front of (max acc, min latency) among feasible trials.
    pareto = []
    for i, (acc, lat) in enumerate(values):
        if not feasible[i]:
            continue
        dominated = any(
            feasible[j] and values[j][0] >= acc and values[j][1] <= lat and values[j] != (acc, lat)
            for j in range(n_trials)
        )
        if not dominated:
            pareto.append(i)
    chosen = max(pareto, key=lambda i: (values[i][0], -i))
    for i, tid in enumerate(tids):
        acc, lat = values[i]
        start = s_start + 1 + i
        ops.append(
            CreateRun(
                run_id=tid,
                name=f"trial-{i}",
                kind="trial",
                start_time=start,
                parent_id=SEARCH_ID,
                environment=env,
                tags={"optuna.study_name": "study-1", "optuna.trial_number": str(i)},
            )
        )
        ops.append(
            SetParams(
                run_id=tid,
                params={
                    "C": round(0.1 * (1 + (i * 7) % 50), 3),
                    "gamma": round(1e-4 * (1 + (i * 11) % 90), 6),
                },
            )
        )
        ops.append(
            LogMetrics(
                run_id=tid,
                metrics=(
                    MetricRow(
                        id=f"{tid[:24]}m0000001",
                        key="accuracy",
                        value=acc,
                        step=None,
                        timestamp=start + 0.5,
                    ),
                    MetricRow(
                        id=f"{tid[:24]}m0000002",
                        key="latency_p95_ms",
                        value=lat,
                        step=None,
                        timestamp=start + 0.5,
                    ),
                ),
            )
        )
        trial_attr = {
            "number": i,
            "state": "complete",
            "values": {"accuracy": acc, "latency_p95_ms": lat},
            "constraints": {
                "latency_p95_ms <= 100": {
                    "value": lat,
                    "violation": max(0.0, lat - bound),
                    "feasible": feasible[i],
                }
            },
            "feasible": feasible[i],
            "pareto": i in pareto,
            "duration_s": 0.5,
            "error": None,
        }
        attrs: dict[str, Any] = {"trial": trial_attr}
        if i in pareto:
            attrs["test"] = {
                "accuracy": round(acc - 0.012, 6),
                "latency_p95_ms": round(lat * 1.02, 4),
            }
        if i == chosen:
            attrs["latency"] = {
                "p50_ms": round(lat * 0.6, 4),
                "p90_ms": round(lat * 0.9, 4),
                "p95_ms": lat,
                "p99_ms": round(lat * 1.3, 4),
                "mean_ms": round(lat * 0.65, 4),
                "std_ms": 4.2,
                "n": 200,
                "batch_size": 1,
                "warmup": 20,
                "p95_upper_ci_ms": round(lat + 6.5, 4),
                "confidence": 0.95,
                "hardware": {"cpu": "Example CPU @ 3.0GHz", "logical_cores": 8},
            }
            if slices is not None:
                attrs["slices"] = dict(slices)
                attrs[f"slices.{slices['by']}"] = dict(slices)
        ops.append(SetAttrs(run_id=tid, attrs=attrs))
        ops.append(EndRun(run_id=tid, status="finished", end_time=start + 0.9))
    for k in range(1, n_trials + 1):
        ops.append(
            LogMetrics(
                run_id=SEARCH_ID,
                metrics=(
                    MetricRow(
                        id=f"5ea4c8hv{k:024d}",
                        key="hypervolume",
                        value=round(1 - 1 / (k + 1), 6),
                        step=k,
                        timestamp=s_start + k,
                    ),
                ),
            )
        )
    ops.append(
        LogMetrics(
            run_id=SEARCH_ID,
            metrics=(
                MetricRow(
                    id="5ea4c8n" + "0" * 24 + "1",
                    key="n_trials",
                    value=float(n_trials),
                    step=None,
                    timestamp=s_start + n_trials + 1,
                ),
                MetricRow(
                    id="5ea4c8n" + "0" * 24 + "2",
                    key="n_feasible",
                    value=float(sum(feasible)),
                    step=None,
                    timestamp=s_start + n_trials + 1,
                ),
            ),
        )
    )
    recheck = {
        tids[i]: {
            "validation": {"accuracy": values[i][0], "latency_p95_ms": values[i][1]},
            "test": {
                "accuracy": round(values[i][0] - 0.012, 6),
                "latency_p95_ms": round(values[i][1] * 1.02, 4),
            },
            "latency": None,
            "feasible_on_test": values[i][1] * 1.02 <= bound,
            "violations": {}
            if values[i][1] * 1.02 <= bound
            else {"latency_p95_ms <= 100": round(values[i][1] * 1.02 - bound, 4)},
        }
        for i in pareto
    }
    ops.append(
        SetAttrs(
            run_id=SEARCH_ID,
            attrs={
                "search": {
                    "study_name": "study-1",
                    "storage": "sqlite:///tracker.db",
                    "objectives": {"accuracy": "maximize", "latency_p95_ms": "minimize"},
                    "constraints": [
                        {
                            "expr": "latency_p95_ms <= 100",
                            "metric": "latency_p95_ms",
                            "op": "<=",
                            "bound": bound,
                        }
                    ],
                    "sampler": {
                        "name": "TPESampler",
                        "reason": "2 objectives, 1 constraint, 12 trials",
                    },
                    "seed": 42,
                    "budget": {"n_trials": n_trials, "timeout": None},
                    "n_jobs": 1,
                    "space": {
                        "C": {"type": "float", "low": 0.1, "high": 5.0, "log": True},
                        "gamma": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
                    },
                },
                "pareto": [tids[i] for i in pareto],
                "chosen": tids[chosen],
                "recheck": recheck,
            },
        )
    )
    ops.append(EndRun(run_id=SEARCH_ID, status="finished", end_time=s_start + n_trials + 2))
    return ops, FixtureIds(
        SESSION_ID, SEARCH_ID, tids, tids[chosen], [tids[i] for i in pareto], PLAIN_ID
    )


SLICES: dict[str, Any] = {
    "by": "group",
    "metrics": ["accuracy"],
    "higher_is_better": {"accuracy": True},
    "overall": {"accuracy": {"value": 0.95, "ci_low": 0.93, "ci_high": 0.97, "n": 360}},
    "slices": [
        {
            "slice": "a",
            "n": 200,
            "metrics": {"accuracy": {"value": 0.97, "ci_low": 0.95, "ci_high": 0.99}},
            "worse_than_overall": [],
            "too_small": False,
        },
        {
            "slice": "b",
            "n": 140,
            "metrics": {"accuracy": {"value": 0.9, "ci_low": 0.85, "ci_high": 0.94}},
            "worse_than_overall": ["accuracy"],
            "too_small": False,
        },
        {
            "slice": "c",
            "n": 20,
            "metrics": {"accuracy": {"value": 0.95, "ci_low": 0.85, "ci_high": 1.0}},
            "worse_than_overall": [],
            "too_small": True,
        },
    ],
    "confidence": 0.95,
    "method": "bootstrap",
    "n_boot": 1000,
    "seed": 0,
    "min_count": 30,
}


def plain_run_ops(
    *,
    name: str = "svc-baseline",
    tags: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    notes: str = "",
    slice_doc: Mapping[str, Any] | None = None,
    data_name: str = "X_train",
    partial: bool = False,
) -> list[Op]:
    env = dict(ENV)
    ops: list[Op] = [
        CreateRun(
            run_id=PLAIN_ID,
            name=name,
            kind="run",
            start_time=T0,
            script="/home/ana/train.py",
            environment=env,
            tags=dict(tags or {"model": "svc"}),
        ),
        SetParams(run_id=PLAIN_ID, params=dict(params or {"C": 1.0, "kernel": "rbf"})),
        LogMetrics(
            run_id=PLAIN_ID,
            metrics=(
                MetricRow(
                    id="9a1a" + "0" * 27 + "1",
                    key="test_accuracy",
                    value=0.9611,
                    step=None,
                    timestamp=T0 + 5,
                ),
                MetricRow(
                    id="9a1a" + "0" * 27 + "2",
                    key="train_accuracy",
                    value=0.999,
                    step=None,
                    timestamp=T0 + 5,
                ),
            ),
        ),
        LogData(
            id="9a1ad" + "0" * 26 + "1",
            run_id=PLAIN_ID,
            name=data_name,
            ref=ref(D_XTR, rows=1077, cols=64, partial=partial),
            timestamp=T0 + 1,
        ),
        LogData(
            id="9a1ad" + "0" * 26 + "2",
            run_id=PLAIN_ID,
            name="X_test",
            ref=ref(D_XTE, rows=360, cols=64),
            timestamp=T0 + 1,
        ),
    ]
    if notes:
        ops.append(SetRunFields(run_id=PLAIN_ID, fields={"notes": notes}))
    if slice_doc is not None:
        ops.append(
            SetAttrs(
                run_id=PLAIN_ID,
                attrs={"slices": dict(slice_doc), f"slices.{slice_doc['by']}": dict(slice_doc)},
            )
        )
    ops.append(EndRun(run_id=PLAIN_ID, status="finished", end_time=T0 + 6))
    return ops


def write_search(store: BaseStore, n_trials: int = 12, **kw: Any) -> FixtureIds:
    ops, ids = search_ops(n_trials, **kw)
    for i in range(0, len(ops), 2000):
        store.write(ops[i : i + 2000])
    return ids
