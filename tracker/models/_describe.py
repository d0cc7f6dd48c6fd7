"""What a logged model's record says about it: framework, input schema, environment, data.

Everything here is read from objects and the store, never guessed: the framework is the
distribution that ships the model's class, the schema comes from ``input_example`` (column
names and dtypes of a DataFrame; shape and dtype of an array), the environment id is a
digest of what the process ran on, and the training data are the data refs recorded on
the run and its parents (a trial's search, a notebook's session).
"""

from __future__ import annotations

import importlib.metadata
import json
from typing import Any

import numpy as np
import pandas as pd

from tracker.environment import capture_environment
from tracker.exceptions import RunNotFoundError, StoreUnavailableError
from tracker.hashing import hash_parts
from tracker.store import BaseStore

__all__ = ["environment", "framework", "input_schema", "training_data"]

#: Distribution of a class's top-level module, where the two names differ.
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "skops": "skops"}
#: Packages a saved model depends on, recorded with their versions.
_MODEL_PACKAGES = ("scikit-learn", "numpy", "scipy", "pandas", "skops", "joblib")


def framework(model: object) -> tuple[str | None, str | None, str]:
    """``(distribution, its version, qualified class name)`` of a model object."""
    cls = type(model)
    module = cls.__module__ or ""
    qualname = f"{module}.{cls.__qualname__}" if module else cls.__qualname__
    top = module.split(".", 1)[0]
    if not top or top in {"builtins", "__main__"}:
        return None, None, qualname
    dist = _DISTRIBUTIONS.get(top, top)
    try:
        version: str | None = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        version = getattr(__import__(top), "__version__", None)
    return dist, version, qualname


def input_schema(example: object) -> dict[str, Any] | None:
    """The schema of an input example: columns and dtypes, or shape and dtype.

    The row count is left out of shapes (``None``): a model takes any number of rows.
    """
    if example is None:
        return None
    if isinstance(example, pd.DataFrame):
        return {
            "type": "dataframe",
            "columns": [
                {"name": str(c), "dtype": str(t)}
                for c, t in zip(example.columns, example.dtypes, strict=True)
            ],
        }
    if isinstance(example, pd.Series):
        return {"type": "series", "name": str(example.name), "dtype": str(example.dtype)}
    arr = np.asarray(example)
    shape: list[int | None] = [None, *arr.shape[1:]] if arr.ndim else []
    return {"type": "ndarray", "shape": shape, "dtype": str(arr.dtype)}


def environment() -> dict[str, Any]:
    """The environment's id (digest of Python, platform and imported packages) and versions."""
    env = capture_environment()
    key = json.dumps(
        [env.python, env.implementation, env.platform, sorted(env.packages.items())],
        separators=(",", ":"),
    )
    lower = {k.lower(): v for k, v in env.packages.items()}
    packages = {p: lower[p] for p in _MODEL_PACKAGES if p in lower}
    return {"id": hash_parts(key), "python": env.python, "packages": packages}


def training_data(store: BaseStore, run_id: str) -> list[dict[str, Any]]:
    """The data refs recorded on the run and its parents, nearest run first.

    The store is read after this process's writes reach it. An unreachable store gives
    an empty list: logging a model must not fail because lineage cannot be read now
    (the card reads it again later).
    """
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    parent: str | None = run_id
    try:
        while parent and parent not in seen and len(seen) < 16:
            seen.add(parent)
            run = store.get_run(parent, with_cells=False)
            for name, ref in run.data.items():
                out.append(
                    {
                        "name": name,
                        "digest": ref.digest,
                        "kind": ref.kind,
                        "run_id": run.id,
                        "rows": ref.rows,
                    }
                )
            parent = run.parent_id
    except (RunNotFoundError, StoreUnavailableError):
        pass
    return out
