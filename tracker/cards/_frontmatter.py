"""Model-hub metadata of a card: the Hugging Face model-card fields.

The Markdown card carries it as YAML front matter (``license``, ``library_name``,
``tags``, and a ``model-index`` with one result per evaluated split, whose dataset
``revision`` is the data's content hash). Decided here, from the card's content, so the
Markdown renderer only writes it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracker.cards._format import split_title

__all__ = ["front_matter"]

_HF_LIBRARIES = {
    "scikit-learn": "sklearn",
    "PyTorch": "pytorch",
    "TensorFlow": "tensorflow",
    "Keras": "keras",
    "JAX": "jax",
    "XGBoost": "xgboost",
    "LightGBM": "lightgbm",
    "CatBoost": "catboost",
}
_HF_TASKS = {
    "classification": ("tabular-classification", "Tabular Classification"),
    "regression": ("tabular-regression", "Tabular Regression"),
}


def _finite(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if f == f and abs(f) != float("inf") else None


def front_matter(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The Hugging Face model-card metadata of a card."""
    details = doc["model_details"]
    meta: dict[str, Any] = {}
    lic = doc["sections"]["license"]["text"].strip()
    if lic:
        meta["license"] = lic if (len(lic) <= 64 and lic.split() == [lic]) else "other"
    fw = details.get("framework") or {}
    lib = None if fw.get("ambiguous") else _HF_LIBRARIES.get(str(fw.get("name")))
    if lib:
        meta["library_name"] = lib
    task = _HF_TASKS.get(str(details.get("task")))
    tags = ["jupyterlab-tracker", f"tracker-{details['kind']}"]
    if task:
        tags.append(task[0])
    meta["tags"] = tags
    by_split: dict[str, list[dict[str, Any]]] = {}
    for m in doc["metrics"]:
        v = _finite(m.get("value"))
        if v is None:
            continue
        by_split.setdefault(m.get("split") or "evaluation", []).append(
            {
                "type": m["name"],
                "value": v,
                "name": f"{m['name']} ({split_title(m.get('split'))})",
                "verified": False,
            }
        )
    results = []
    eval_data: dict[str, Mapping[str, Any]] = {}
    for d in doc["evaluation_data"]:
        eval_data.setdefault(d["split"], d)  # the first recorded (features before labels)
    for split in sorted(
        by_split,
        key=lambda s: (
            ("train", "validation", "test").index(s) if s in ("train", "validation", "test") else 9
        ),
    ):
        data = eval_data.get(split) or (
            doc["training_data"][0] if split == "train" and doc["training_data"] else None
        )
        dataset: dict[str, Any] = {
            "name": data["name"] if data else f"{split_title(split)} data",
            "type": data["name"] if data else "unknown",
            "split": split,
        }
        if data:
            dataset["revision"] = f"{data['algorithm']}:{data['digest']}"
        result: dict[str, Any] = {}
        result["task"] = {"type": task[0], "name": task[1]} if task else {"type": "other"}
        result["dataset"] = dataset
        result["metrics"] = by_split[split]
        results.append(result)
    if results:
        meta["model-index"] = [{"name": details["name"], "results": results}]
    return meta
