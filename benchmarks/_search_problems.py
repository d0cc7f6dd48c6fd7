"""Constrained multi-objective test problems for the search benchmarks.

Each problem is an objective ``f(trial) -> dict`` (the tracker's objective contract),
its objectives and constraints (the tracker's strings), and a fixed hypervolume reference
point. Two are scikit-learn models on data sets that ship with scikit-learn, with latency
measured by ``tracker.measure_latency``; three are standard synthetic problems.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Problem:
    name: str
    objective: Callable[[Any], dict[str, float]]
    objectives: Mapping[str, str]
    constraints: list[str]
    reference: Mapping[str, float]  # in objective units


# --- synthetic -------------------------------------------------------------------------------


def _c2dtlz2(trial: Any) -> dict[str, float]:
    # C2-DTLZ2 (Jain & Deb 2014), 2 objectives, 6 variables, r = 0.1 (M = 2).
    n, m, r = 6, 2, 0.1
    x = [trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(n)]
    g = sum((xi - 0.5) ** 2 for xi in x[m - 1 :])
    f1 = (1 + g) * math.cos(x[0] * math.pi / 2)
    f2 = (1 + g) * math.sin(x[0] * math.pi / 2)
    f = [f1, f2]
    lhs = min(
        min((f[i] - 1) ** 2 + sum(f[j] ** 2 for j in range(m) if j != i) - r**2 for i in range(m)),
        sum((fi - 1 / math.sqrt(m)) ** 2 for fi in f) - r**2,
    )
    return {"f1": f1, "f2": f2, "c": lhs}


def _bnh(trial: Any) -> dict[str, float]:
    # Binh and Korn: 2 variables, 2 objectives, 2 constraints.
    x = trial.suggest_float("x", 0.0, 5.0)
    y = trial.suggest_float("y", 0.0, 3.0)
    return {
        "f1": 4 * x**2 + 4 * y**2,
        "f2": (x - 5) ** 2 + (y - 5) ** 2,
        "g1": (x - 5) ** 2 + y**2,
        "g2": (x - 8) ** 2 + (y + 3) ** 2,
    }


def _srn(trial: Any) -> dict[str, float]:
    # Srinivas and Deb: 2 variables, 2 objectives, 2 constraints (a narrow feasible band).
    x = trial.suggest_float("x", -20.0, 20.0)
    y = trial.suggest_float("y", -20.0, 20.0)
    return {
        "f1": 2 + (x - 2) ** 2 + (y - 1) ** 2,
        "f2": 9 * x - (y - 1) ** 2,
        "g1": x**2 + y**2,
        "g2": x - 3 * y + 10,
    }


# --- scikit-learn with measured latency ------------------------------------------------------


@cache
def _digits() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    return tuple(train_test_split(X, y, test_size=0.3, random_state=0))


@cache
def _cancer() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    return tuple(train_test_split(X, y, test_size=0.3, random_state=0))


def _knn_digits(trial: Any) -> dict[str, float]:
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    from tracker import measure_latency

    X_tr, X_va, y_tr, y_va = _digits()
    k = trial.suggest_int("n_neighbors", 1, 50)
    comps = trial.suggest_int("n_components", 2, 64, log=True)
    model = make_pipeline(
        PCA(n_components=comps, random_state=0),
        KNeighborsClassifier(n_neighbors=k, algorithm="brute"),
    )
    from threadpoolctl import threadpool_limits

    # One BLAS/OpenMP thread: online inference is single-threaded, and thread pools on a
    # busy 2-core machine put scheduling noise, not model cost, into the tail.
    with threadpool_limits(1):
        model.fit(X_tr, y_tr)
        acc = float((model.predict(X_va) == y_va).mean())
        lat = measure_latency(model.predict, X_va, warmup=3, repeats=30, n_boot=200)
    return {"accuracy": acc, **lat.metrics()}


def _tree_cancer(trial: Any) -> dict[str, float]:
    from sklearn.ensemble import RandomForestClassifier

    from tracker import measure_latency

    X_tr, X_va, y_tr, y_va = _cancer()
    n = trial.suggest_int("n_estimators", 1, 30, log=True)
    depth = trial.suggest_int("max_depth", 1, 12)
    leaf = trial.suggest_int("min_samples_leaf", 1, 30, log=True)
    model = RandomForestClassifier(
        n_estimators=n, max_depth=depth, min_samples_leaf=leaf, random_state=0, n_jobs=1
    )
    model.fit(X_tr, y_tr)
    acc = float((model.predict(X_va) == y_va).mean())
    lat = measure_latency(model.predict, X_va, warmup=3, repeats=30, n_boot=200)
    nodes = float(sum(e.tree_.node_count for e in model.estimators_))
    return {"accuracy": acc, "n_nodes": nodes, **lat.metrics()}


PROBLEMS: list[Problem] = [
    Problem(
        "c2dtlz2",
        _c2dtlz2,
        {"f1": "minimize", "f2": "minimize"},
        ["c <= 0"],
        {"f1": 1.5, "f2": 1.5},
    ),
    Problem(
        "bnh",
        _bnh,
        {"f1": "minimize", "f2": "minimize"},
        ["g1 <= 25", "g2 >= 7.7"],
        {"f1": 140.0, "f2": 50.0},
    ),
    Problem(
        "srn",
        _srn,
        {"f1": "minimize", "f2": "minimize"},
        ["g1 <= 225", "g2 <= 0"],
        {"f1": 250.0, "f2": 50.0},
    ),
    Problem(
        "knn-digits",
        _knn_digits,
        {"accuracy": "maximize", "latency_p95_ms": "minimize"},
        ["latency_p95_ms <= 1"],
        {"accuracy": 0.8, "latency_p95_ms": 1.0},
    ),
    Problem(
        "forest-cancer",
        _tree_cancer,
        {"accuracy": "maximize", "n_nodes": "minimize"},
        ["latency_p95_ms <= 3"],
        {"accuracy": 0.85, "n_nodes": 3000.0},
    ),
]
