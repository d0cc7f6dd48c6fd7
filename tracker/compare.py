"""How runs differ: params, metrics, data (explained from the stored profiles), environment.

Pure functions over records, shared by the panel's compare view (through
:mod:`tracker.server.serialize`, which puts them on the wire) and by ``tracker diff``:
records in, JSON-safe dicts out.

Free-form values (params, profiles) may hold NaN or the infinities; JSON has no such
numbers, so :func:`json_safe` writes them as the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"``, the same convention :mod:`tracker.records` uses for metrics.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from tracker.records import DataRef, Environment, Run, float_to_json

__all__ = ["MAX_CHANGES", "data_changes", "differences", "json_safe"]


#: How many profile differences one data comparison lists before summarising the rest.
MAX_CHANGES = 40


def json_safe(value: Any) -> Any:
    """``value`` with NaN/inf floats as strings and tuples as lists (strict JSON)."""
    if isinstance(value, float):
        return float_to_json(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _num(value: Any) -> float | None:
    """A finite-or-not float from a JSON-ish value, ``None`` when it is no number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        return float(value)
    return None


def _same(values: Sequence[Any]) -> bool:
    texts = {json.dumps(json_safe(v), sort_keys=True) for v in values}
    return len(texts) <= 1


def _flatten(value: Any, prefix: str, out: dict[str, Any], depth: int = 0) -> None:
    if isinstance(value, Mapping) and depth < 5:
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out, depth + 1)
    else:
        out[prefix] = value


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return json.dumps(json_safe(value)) if not isinstance(value, str) else value


def _change(what: str, before: Any, after: Any, text: str | None = None) -> dict[str, Any]:
    if text is None:
        text = f"{what}: {_fmt(before)} → {_fmt(after)}"
        a, b = _num(before), _num(after)
        if a is not None and b is not None and math.isfinite(a) and math.isfinite(b):
            delta = b - a
            if a != 0:
                text += f" ({delta:+.4g}, {delta / abs(a):+.1%})"
            else:
                text += f" ({delta:+.4g})"
    return {"what": what, "before": json_safe(before), "after": json_safe(after), "text": text}


def data_changes(before: DataRef | None, after: DataRef | None) -> list[dict[str, Any]]:
    """How ``after`` differs from ``before``, read from the refs and their stored profiles.

    Returns:
        ``[{"what", "before", "after", "text"}]``: empty when the digests are equal.
    """
    if before is None and after is None:
        return []
    if before is None:
        assert after is not None
        return [_change("presence", None, after.short, f"new: {after.kind} {after.short}")]
    if after is None:
        return [_change("presence", before.short, None, f"absent (was {before.short})")]
    if before.digest == after.digest and before.algorithm == after.algorithm:
        return []
    out: list[dict[str, Any]] = []
    if before.kind != after.kind:
        out.append(_change("kind", before.kind, after.kind))
    if before.shape != after.shape:
        out.append(
            _change(
                "shape",
                list(before.shape) if before.shape is not None else None,
                list(after.shape) if after.shape is not None else None,
            )
        )
    if before.rows != after.rows and (before.shape is None or after.shape is None):
        out.append(_change("rows", before.rows, after.rows))
    bd, ad = dict(before.dtypes or {}), dict(after.dtypes or {})
    added = [c for c in ad if c not in bd]
    removed = [c for c in bd if c not in ad]
    if added:
        out.append(_change("columns added", None, added, "columns added: " + ", ".join(added)))
    if removed:
        out.append(
            _change("columns removed", removed, None, "columns removed: " + ", ".join(removed))
        )
    for col in bd:
        if col in ad and bd[col] != ad[col]:
            label = f"dtype of {col}" if col else "dtype"
            out.append(_change(label, bd[col], ad[col]))
    bn, an = dict(before.nulls or {}), dict(after.nulls or {})
    for col in sorted(set(bn) | set(an)):
        if bn.get(col, 0) != an.get(col, 0):
            label = f"missing values in {col}" if col else "missing values"
            out.append(_change(label, bn.get(col, 0), an.get(col, 0)))
    if before.nbytes != after.nbytes:
        out.append(_change("bytes", before.nbytes, after.nbytes))
    if before.partial != after.partial:
        out.append(_change("partial hash", before.partial, after.partial))
    if before.path != after.path:
        out.append(_change("path", before.path, after.path))
    if before.algorithm != after.algorithm:
        out.append(_change("hash algorithm", before.algorithm, after.algorithm))
    bp: dict[str, Any] = {}
    ap: dict[str, Any] = {}
    _flatten(dict(before.profile or {}), "", bp)
    _flatten(dict(after.profile or {}), "", ap)
    for key in sorted(set(bp) | set(ap)):
        if key in bp and key in ap:
            if not _same([bp[key], ap[key]]):
                out.append(_change(key, bp[key], ap[key]))
        elif key in ap:
            out.append(_change(key, None, ap[key], f"{key}: new ({_fmt(ap[key])})"))
        else:
            out.append(_change(key, bp[key], None, f"{key}: gone (was {_fmt(bp[key])})"))
    if not out:
        out.append(
            _change(
                "content",
                before.short,
                after.short,
                "values changed; shape, dtypes and the stored profile are the same",
            )
        )
    if len(out) > MAX_CHANGES:
        rest = len(out) - MAX_CHANGES + 1
        out = [*out[: MAX_CHANGES - 1], _change("more", None, rest, f"… and {rest} more")]
    return out


def _data_brief(ref: DataRef | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    return {
        "digest": ref.digest,
        "short": ref.short,
        "kind": ref.kind,
        "shape": list(ref.shape) if ref.shape is not None else None,
        "rows": ref.rows,
        "partial": ref.partial,
    }


def _env_items(env: Environment | None) -> dict[str, Any]:
    if env is None:
        return {}
    out: dict[str, Any] = {
        "python": env.python,
        "platform": env.platform,
        "hostname": env.hostname,
        "git_commit": env.git_commit,
        "git_dirty": env.git_dirty,
    }
    for k, v in env.packages.items():
        out[f"packages.{k}"] = v
    for k, v in env.hardware.items():
        out[f"hardware.{k}"] = v
    return out


def differences(runs: Sequence[Run]) -> dict[str, Any]:
    """Two or more runs side by side; every change is relative to the first run.

    Returns:
        ``params``/``metrics``/``environment`` rows
        (``{"key", "values", "differs"}``) and ``data`` rows with the changes of each
        run's data against the first run's, explained from the stored profiles.
    """
    pkeys = sorted({k for r in runs for k in r.params})
    mkeys = sorted({k for r in runs for k in r.metrics})
    params = []
    for k in pkeys:
        vals = [r.params.get(k) for r in runs]
        present = [k in r.params for r in runs]
        params.append(
            {"key": k, "values": json_safe(vals), "differs": not (_same(vals) and all(present))}
        )
    metrics = []
    for k in mkeys:
        mvals = [r.metrics.get(k) for r in runs]
        metrics.append(
            {
                "key": k,
                "values": [float_to_json(v) if v is not None else None for v in mvals],
                "differs": not _same(mvals),
            }
        )
    data = []
    for name in sorted({n for r in runs for n in r.data}):
        refs = [r.data.get(name) for r in runs]
        base = refs[0]
        data.append(
            {
                "name": name,
                "refs": [_data_brief(ref) for ref in refs],
                "changed": not _same([ref.digest if ref else None for ref in refs]),
                "changes": [
                    [] if i == 0 else data_changes(base, ref) for i, ref in enumerate(refs)
                ],
            }
        )
    envs = [_env_items(r.environment) for r in runs]
    environment = []
    for k in sorted({k for e in envs for k in e}):
        vals = [e.get(k) for e in envs]
        if k.startswith(("packages.", "hardware.")) and _same(vals):
            continue  # hundreds of equal package versions would hide the ones that moved
        environment.append({"key": k, "values": json_safe(vals), "differs": not _same(vals)})
    return {
        "params": params,
        "metrics": metrics,
        "data": data,
        "environment": environment,
    }
