"""log_model + load_model of a ~10 MB scikit-learn pipeline, side by side with MLflow.

Rows (one process, the same machine and disk, each store fresh in a temporary directory):

* ``tracker``: ``run.log_model(pipeline)`` (skops bytes, hashed and stored by content, the
  record queued) and ``tracker.load_model(ref)`` (both digests checked, skops load with the
  trusted-types check), timed until each returns; the run's start and end are outside.
* ``mlflow``: ``mlflow.sklearn.log_model(pipeline, name=...)`` (a model directory with
  MLmodel, conda/pip/requirements files and a pickle, copied into the run's artifacts)
  and ``mlflow.sklearn.load_model(uri)``, on a SQLite tracking store with its artifacts
  beside it, as ``bench_artifacts`` does. Skipped when mlflow is not installed.

The pipeline is a StandardScaler and a 120-tree RandomForestClassifier on ``load_digits``,
about 8 MB once saved (quick mode: 12 trees, under 1 MB). Tree models load only with the
tree type named (skops marks it unsafe by default), so both sides are given it.
Target: tracker >= 10x faster than MLflow for log + load (not judged in quick mode).
Medians of ``repeats`` (3; quick: 1), after one untimed log + load of a tiny model on each
side (imports and the store's schema are paid once per process, not per model).
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

#: Tree node storage: skops trusts it only when named (docs/models.md, "Why skops").
TRUSTED = ["sklearn.tree._tree.Tree"]


def _pipeline(quick: bool) -> Any:
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    trees = 12 if quick else 120
    return make_pipeline(
        StandardScaler(), RandomForestClassifier(n_estimators=trees, random_state=0)
    ).fit(X, y), X


def _tiny() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit([[0.0], [1.0]], [0, 1])


def _tracker(tmp: Path, model: Any, X: Any, repeats: int) -> dict[str, Any]:
    import numpy as np

    import tracker

    tracker.set_store(f"sqlite:///{tmp / 'tracker.db'}")
    with tracker.start_run(name="warm-up") as run:  # schema, imports: paid once, not timed
        tracker.load_model(run.log_model(_tiny(), "tiny"))
    logs, loads, size = [], [], 0
    for i in range(repeats):
        with tracker.start_run(name=f"bench-{i}") as run:
            t0 = time.perf_counter()
            ref = run.log_model(model, "model", input_example=X[:2])
            logs.append(time.perf_counter() - t0)
        size = ref.artifact.size
        t0 = time.perf_counter()
        loaded = tracker.load_model(ref, trusted=TRUSTED)
        loads.append(time.perf_counter() - t0)
        assert np.array_equal(loaded.predict(X), model.predict(X))
    tracker.set_store(None)
    return {"log_s": statistics.median(logs), "load_s": statistics.median(loads), "bytes": size}


def _mlflow(tmp: Path, model: Any, X: Any, repeats: int) -> dict[str, Any] | None:
    try:
        import mlflow
        import mlflow.sklearn
    except ImportError:
        return None
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    exp = mlflow.create_experiment("bench", artifact_location=(tmp / "mlartifacts").as_uri())
    with mlflow.start_run(experiment_id=exp):  # the same untimed warm-up as ours
        mlflow.sklearn.load_model(mlflow.sklearn.log_model(_tiny(), name="tiny").model_uri)
    logs, loads = [], []
    for _ in range(repeats):
        with mlflow.start_run(experiment_id=exp):
            t0 = time.perf_counter()
            info = mlflow.sklearn.log_model(model, name="model", skops_trusted_types=TRUSTED)
            logs.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        mlflow.sklearn.load_model(info.model_uri)
        loads.append(time.perf_counter() - t0)
    return {"log_s": statistics.median(logs), "load_s": statistics.median(loads)}


def run(quick: bool = False) -> list[dict[str, Any]]:
    repeats = 1 if quick else 3
    model, X = _pipeline(quick)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ.setdefault("TRACKER_SPOOL_DIR", str(tmp / "spool"))
        ours = _tracker(tmp, model, X, repeats)
        theirs = _mlflow(tmp, model, X, repeats)
    ours_total = ours["log_s"] + ours["load_s"]
    rows: list[dict[str, Any]] = [
        {
            "bench": "tracker log_model + load_model",
            "model_mb": ours["bytes"] / 1e6,
            "log_ms": ours["log_s"] * 1e3,
            "load_ms": ours["load_s"] * 1e3,
            "total_ms": ours_total * 1e3,
        }
    ]
    if theirs is None:
        rows.append({"bench": "mlflow.sklearn log_model + load_model", "skipped": "no mlflow"})
        return rows
    total = theirs["log_s"] + theirs["load_s"]
    rows.append(
        {
            "bench": "mlflow.sklearn log_model + load_model",
            "log_ms": theirs["log_s"] * 1e3,
            "load_ms": theirs["load_s"] * 1e3,
            "total_ms": total * 1e3,
            "speedup": total / ours_total,
        }
    )
    if not quick:  # a quick run's model is too small for the target to mean anything
        rows[-1]["ok"] = total / ours_total >= 10.0
    return rows
