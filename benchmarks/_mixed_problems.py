"""Searches whose spaces are categorical or conditional, for the "auto" policy (issue 18).

The eleven problems of ``_search_problems`` are all-numeric. Real searches often choose
between model families, each with its own parameters (a conditional space), or among
categorical options. For these the policy must pick a sampler that models them: TPE,
grouped (``group=True``) when the space is conditional, never the GP (which one-hot
encodes categories and cannot model parameters that only some trials have).

``EXPECTED`` says what "auto" should pick for each: ``tests/test_tuning.py`` runs them.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from _search_problems import Problem


@cache
def _wine() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    X, y = load_wine(return_X_y=True)
    return tuple(train_test_split(X, y, test_size=0.3, random_state=0, stratify=y))


def _model_family(trial: Any) -> dict[str, float]:
    # A pipeline choosing between model families, each with its own parameters.
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    X_tr, X_va, y_tr, y_va = _wine()
    family = trial.suggest_categorical("family", ["logreg", "svc", "forest"])
    model: Any
    if family == "logreg":
        model = LogisticRegression(C=trial.suggest_float("C", 1e-3, 1e2, log=True), max_iter=500)
    elif family == "svc":
        model = SVC(
            C=trial.suggest_float("svc_C", 1e-2, 1e2, log=True),
            gamma=trial.suggest_float("gamma", 1e-4, 1.0, log=True),
        )
    else:
        model = RandomForestClassifier(
            n_estimators=trial.suggest_int("n_estimators", 2, 40, log=True),
            max_depth=trial.suggest_int("max_depth", 1, 10),
            random_state=0,
            n_jobs=1,
        )
    pipe = make_pipeline(StandardScaler(), model).fit(X_tr, y_tr)
    size = float(len(__import__("pickle").dumps(pipe))) / 1024
    return {"accuracy": float((pipe.predict(X_va) == y_va).mean()), "size_kb": size}


def _categorical_design(trial: Any) -> dict[str, float]:
    # A design picked from catalogues (material, profile) plus two dimensions.
    density = {"steel": 7.85, "aluminium": 2.7, "titanium": 4.5}
    strength = {"steel": 250.0, "aluminium": 95.0, "titanium": 880.0}
    shape = {"tube": 0.6, "i-beam": 0.45, "solid": 1.0}
    material = trial.suggest_categorical("material", list(density))
    profile = trial.suggest_categorical("profile", list(shape))
    width = trial.suggest_float("width", 1.0, 10.0)
    height = trial.suggest_float("height", 1.0, 10.0)
    area = width * height * shape[profile]
    mass = density[material] * area
    stress = 1000.0 / (area * (1 + height / width)) / strength[material] * 100
    return {"mass": mass, "stress": stress}


def _conditional_synthetic(trial: Any) -> dict[str, float]:
    # Two regimes with different parameters (like "use early stopping? then its patience").
    regime = trial.suggest_categorical("regime", ["smooth", "rugged"])
    x = trial.suggest_float("x", -3.0, 3.0)
    if regime == "smooth":
        w = trial.suggest_float("w", 0.1, 2.0)
        f1, f2 = (x - 1) ** 2 * w, (x + 1) ** 2 / w
    else:
        k = trial.suggest_int("k", 1, 8)
        f1, f2 = abs(np.sin(k * x)) + x**2 / 4, (x - 2) ** 2 / k
    return {"f1": float(f1), "f2": float(f2), "c": float(f1 + f2)}


MIXED_PROBLEMS: list[Problem] = [
    Problem(
        "model-family-wine",
        _model_family,
        {"accuracy": "maximize", "size_kb": "minimize"},
        ["size_kb <= 200"],
        {"accuracy": 0.5, "size_kb": 200.0},
    ),
    Problem(
        "catalogue-design",
        _categorical_design,
        {"mass": "minimize", "stress": "minimize"},
        ["stress <= 50"],
        {"mass": 800.0, "stress": 50.0},
    ),
    Problem(
        "two-regimes",
        _conditional_synthetic,
        {"f1": "minimize", "f2": "minimize"},
        ["c <= 12"],
        {"f1": 12.0, "f2": 12.0},
    ),
]

#: What "auto" must pick for each: (sampler name, grouped TPE for a conditional space).
EXPECTED: dict[str, tuple[str, bool]] = {
    "model-family-wine": ("TPESampler", True),
    "catalogue-design": ("TPESampler", False),
    "two-regimes": ("TPESampler", True),
}
