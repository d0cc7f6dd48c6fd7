"""Analysis routes of the REST API: the keys runs have, and metric curves of several runs.

``GET /keys?filter=&kind=&exclude_kind=&status=&q=&parent=``
    The params, metrics and tags the matching runs have, each with how many of them
    have it, read from the newest :data:`KEY_SAMPLE` matching runs (the column chooser
    of the panel, and its default columns).
``GET /curves?ids=a,b,c&key=loss&key=accuracy&max_points=500``
    Each run's history of each metric as ``[step, value]`` points, thinned evenly to
    ``max_points`` per run and key (the compare view's overlaid curves). Without
    ``key``, the metrics the runs have (those most of them share first).

Everything is read through the store (``search_runs``, ``count_runs``,
``metric_history``, ``get_run``); the server imports no kernel-side package. How two
runs differ (params, metrics, data) is ``GET /compare``, from :mod:`tracker.compare`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized

from tracker.records import Metric, Run, float_to_json
from tracker.server.errors import ApiError
from tracker.server.handlers import API_PREFIX, TrackerHandler
from tracker.server.service import Args, TrackerService, check_run_id
from tracker.store import BaseStore, OrderBy, RunQuery

__all__ = [
    "KEY_SAMPLE",
    "MAX_CURVE_KEYS",
    "MAX_CURVE_RUNS",
    "AnalysisService",
    "analysis_routes",
    "thin",
]

#: How many of the newest matching runs ``/keys`` reads (a key only older runs have can
#: still be typed into the column chooser).
KEY_SAMPLE = 1000
#: Most runs and metrics one ``/curves`` request may ask for.
MAX_CURVE_RUNS = 20
MAX_CURVE_KEYS = 12
#: Points per run and key: default and bounds of ``max_points``.
DEFAULT_POINTS = 500
_POINTS_RANGE = (10, 20_000)
_CACHE_SECONDS = 10.0


def thin(points: Sequence[Any], limit: int) -> list[Any]:
    """At most ``limit`` items of ``points``, evenly spaced, always the first and the last.

    Args:
        points: Items in order.
        limit: At least 2.

    Returns:
        ``points`` itself (as a list) when it is short enough.
    """
    n = len(points)
    if n <= limit:
        return list(points)
    step = (n - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def _keys_of(runs: Sequence[Run]) -> dict[str, list[dict[str, Any]]]:
    counts: dict[str, Counter[str]] = {"metrics": Counter(), "params": Counter(), "tags": Counter()}
    for r in runs:
        counts["metrics"].update(r.metrics.keys())
        counts["params"].update(r.params.keys())
        counts["tags"].update(r.tags.keys())
    return {
        group: [
            {"key": k, "count": n} for k, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        for group, c in counts.items()
    }


def _curve(run: Run, history: Sequence[Metric], limit: int) -> dict[str, Any]:
    # A measurement without a step is placed at its index: a curve still reads left to right.
    points = [
        [m.step if m.step is not None else i, float_to_json(m.value)] for i, m in enumerate(history)
    ]
    kept = thin(points, limit)
    return {"run_id": run.id, "name": run.name, "points": kept, "dropped": len(points) - len(kept)}


class AnalysisService:
    """What the analysis routes compute, over the API service's store (thread-safe)."""

    def __init__(self, service: TrackerService) -> None:
        self.service = service
        self._cache: dict[tuple[Any, ...], tuple[int, float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def keys(self, args: Args) -> dict[str, Any]:
        """The params, metrics and tags of the newest runs that match the filter."""
        query = self.service.run_query(args)
        store = self.service.holder.get()
        empty: dict[str, Any] = {"metrics": [], "params": [], "tags": [], "sampled": 0, "total": 0}
        if store is None:
            return empty
        total = store.count_runs(query)
        # The panel asks again after each filter: while no run was added, an answer of the
        # last few seconds holds (a running run may still add keys, hence the expiry).
        ck = (query.conditions, store.count_runs(RunQuery()))
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(ck)
        if hit is not None and hit[0] == total and now - hit[1] < _CACHE_SECONDS:
            return hit[2]
        runs = store.search_runs(
            RunQuery(
                conditions=query.conditions,
                order_by=(OrderBy("start_time", True),),
                limit=KEY_SAMPLE,
            )
        )
        out = {**_keys_of(runs), "sampled": len(runs), "total": total}
        with self._lock:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[ck] = (total, now, out)
        return out

    def curves(self, args: Args) -> dict[str, Any]:
        """Each run's history of each metric, thinned to ``max_points``."""
        ids = list(dict.fromkeys(args.get_list("ids")))
        if not ids:
            raise ApiError.bad_request("name the runs with ?ids=<id1>,<id2>")
        if len(ids) > MAX_CURVE_RUNS:
            raise ApiError.bad_request(f"ask for the curves of at most {MAX_CURVE_RUNS} runs")
        keys = list(dict.fromkeys(args.get_list("key")))
        if len(keys) > MAX_CURVE_KEYS:
            raise ApiError.bad_request(f"ask for at most {MAX_CURVE_KEYS} metrics at a time")
        limit = args.get_int("max_points", DEFAULT_POINTS, *_POINTS_RANGE)
        store: BaseStore = self.service.require_store()
        runs = [store.get_run(check_run_id(i), with_cells=False) for i in ids]
        if not keys:
            shared: Counter[str] = Counter()
            for r in runs:
                shared.update(r.metrics.keys())
            keys = [k for k, _ in sorted(shared.items(), key=lambda kv: (-kv[1], kv[0]))]
            keys = keys[:MAX_CURVE_KEYS]
        return {
            "keys": keys,
            "curves": {
                k: [_curve(r, store.metric_history(r.id, k), limit) for r in runs] for k in keys
            },
        }


def _analysis(handler: TrackerHandler) -> AnalysisService:
    state = handler.settings["tracker"]
    service: AnalysisService | None = state.get("analysis")
    if service is None:
        # One per server: the cache of /keys answers lives in it.
        service = state.setdefault("analysis", AnalysisService(handler.service))
    return service


class KeysHandler(TrackerHandler):
    """``GET /keys``: the params, metrics and tags the matching runs have."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        """Keys with counts."""
        self.send(await self.call(_analysis(self).keys, self.args()))


class CurvesHandler(TrackerHandler):
    """``GET /curves?ids=&key=&max_points=``: metric-over-step curves of several runs."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        """The curves."""
        self.send(await self.call(_analysis(self).curves, self.args()))


def analysis_routes() -> list[tuple[str, type[TrackerHandler]]]:
    """The analysis routes (jupyter_server puts its ``base_url`` in front)."""
    return [
        (f"{API_PREFIX}/keys", KeysHandler),
        (f"{API_PREFIX}/curves", CurvesHandler),
    ]
