"""Reading runs back: one run, a metric's history, searches and the runs table; ``sync``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tracker.exceptions import ValidationError
from tracker.records import Metric, Run, RunKind, RunStatus
from tracker.run._active import DEFAULT, ActiveRun, _Default
from tracker.run._list import RunList
from tracker.store import QueuedStore, get_store
from tracker.store.query import Condition, Cursor, RunQuery, parse_filter, parse_order_by
from tracker.store.validation import param_value

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["get_run", "metric_history", "runs_frame", "search_runs", "sync"]

#: Matches counted exactly for a page's ``total`` before it is estimated (the server's bound).
COUNT_BOUND = 200


def _run_id(run: str | ActiveRun | Run) -> str:
    if isinstance(run, ActiveRun | Run):
        return run.id
    if isinstance(run, str) and run:
        return run
    raise ValidationError(f"expected a run or a run id, got {type(run).__name__} {run!r}")


def get_run(run: str | ActiveRun | Run) -> Run:
    """The stored run (with its cell records), after pending writes have landed.

    Raises:
        RunNotFoundError: no run with that id.
        StoreUnavailableError: the store cannot be reached.
    """
    return get_store().get_run(_run_id(run))


def metric_history(run: str | ActiveRun | Run, key: str) -> list[Metric]:
    """Every logged value of metric ``key`` in ``run``, by step then time."""
    return get_store().metric_history(_run_id(run), key)


def _values(v: object) -> tuple[Any, ...]:
    if isinstance(v, str) or not isinstance(v, Iterable):
        return (v,)
    return tuple(v)


def _build_query(
    filter: str | None,
    *,
    name: str | None,
    kind: str | Sequence[str] | None,
    status: str | Sequence[str] | None,
    tags: Mapping[str, str] | None,
    params: Mapping[str, Any] | None,
    metrics: Mapping[str, Any] | None,
    parent: str | ActiveRun | Run | _Default | None,
    started_after: datetime | str | float | None,
    started_before: datetime | str | float | None,
    order_by: str | Sequence[str] | None,
    limit: int | None,
    offset: int,
) -> RunQuery:
    conds: list[Condition] = list(parse_filter(filter))
    if name is not None:
        if any(ch in name for ch in "*%"):
            conds.append(Condition("name", "like", name.replace("*", "%")))
        else:
            conds.append(Condition("name", "=", name))
    for fld, val, enum in (("kind", kind, RunKind), ("status", status, RunStatus)):
        if val is None:
            continue
        vals = tuple(str(x) for x in _values(val))
        allowed = {e.value for e in enum}
        bad = [v for v in vals if v not in allowed]
        if bad:
            raise ValidationError(
                f"unknown {fld} {bad[0]!r}; use one of {', '.join(sorted(allowed))}"
            )
        conds.append(Condition(fld, "in", vals) if len(vals) > 1 else Condition(fld, "=", vals[0]))
    for prefix, mapping in (("tags", tags), ("params", params), ("metrics", metrics)):
        for k, v in (mapping or {}).items():
            if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str):
                conds.append(Condition(f"{prefix}.{k}", v[0], v[1]))
            else:
                if prefix == "params":
                    v = param_value(str(k), v)
                conds.append(Condition(f"{prefix}.{k}", "=", v))
    if not isinstance(parent, _Default):
        conds.append(Condition("parent_id", "=", None if parent is None else _run_id(parent)))
    if started_after is not None:
        conds.append(Condition("start_time", ">=", started_after))
    if started_before is not None:
        conds.append(Condition("start_time", "<", started_before))
    return RunQuery(
        conditions=tuple(conds), order_by=parse_order_by(order_by), limit=limit, offset=offset
    )


def search_runs(
    filter: str | None = None,
    *,
    name: str | None = None,
    kind: str | Sequence[str] | None = None,
    status: str | Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    parent: str | ActiveRun | Run | _Default | None = DEFAULT,
    started_after: datetime | str | float | None = None,
    started_before: datetime | str | float | None = None,
    order_by: str | Sequence[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
    page_token: str | None = None,
) -> RunList:
    """Find runs, all at once or a page at a time.

    To page through a big search, give a ``limit`` and pass each page's
    ``next_page_token`` back with the same filter and order; every page costs what the
    first does, even at page 10,000 (an ``offset`` makes the store walk every run
    before it)::

        token = None
        while True:
            page = tracker.search_runs("metrics.accuracy > 0.9", limit=100, page_token=token)
            ...  # page.total: how many match in all (page.total_exact: counted, not estimated)
            token = page.next_page_token
            if token is None:
                break

    Runs that start while you page do not shift the pages: a page continues right after
    the previous page's last run in the search's order (each run comes once; a new run
    shows up if it sorts after where you are).

    Args:
        filter: A filter string, e.g. ``"metrics.accuracy >= 0.9 and params.kernel = 'rbf'"``
            (see :mod:`tracker.store.query`).
        name: Exact name, or a pattern with ``*``.
        kind: One kind or several.
        status: One status or several.
        tags: Tag equalities.
        params: Param equalities, or ``{"C": (">", 0.5)}`` comparisons.
        metrics: Metric comparisons, ``{"accuracy": (">=", 0.9)}``, or equalities.
        parent: Only children of this run; ``None`` for top-level runs only.
        started_after: Start time lower bound (inclusive).
        started_before: Start time upper bound (exclusive).
        order_by: e.g. ``"metrics.accuracy desc"`` or a list of those (default: newest first).
        limit: Page size (default: all).
        offset: Rows to skip (after the page token's run, when there is one).
        page_token: The ``next_page_token`` of the previous page of this same search
            (``None``: the first page).

    Returns:
        Matching runs, a list shown as a compact table (:class:`~tracker.run.RunList`;
        :func:`runs_frame` has every column), without cell records (use :func:`get_run`
        for those). Each has
        ``nondeterministic`` set when another run with the same code, inputs and params
        measured different metrics. The list's ``next_page_token`` continues after it
        (``None`` on the last page) and its ``total`` / ``total_exact`` say how many runs
        the search matches (counted when first read: exact up to 200, then estimated).

    Raises:
        ValidationError: a malformed filter or argument, with what was expected; a
            ``page_token`` that is not one this search gave out (altered, cut short, or
            from a search with another filter or order), naming the token.
    """
    query = _build_query(
        filter,
        name=name,
        kind=kind,
        status=status,
        tags=tags,
        params=params,
        metrics=metrics,
        parent=parent,
        started_after=started_after,
        started_before=started_before,
        order_by=order_by,
        limit=limit,
        offset=offset,
    )
    if page_token is not None:
        query = dataclasses.replace(query, cursor=Cursor.from_token(page_token, query))
    store = get_store()
    try:
        runs = store.search_runs(query)
    except ValidationError as exc:
        if page_token is None:
            raise
        # The token was well formed, but its run is not in this store (another store?).
        raise ValidationError(f"page_token {_shown(page_token)}: {exc}") from None
    following = None
    if query.limit and len(runs) == query.limit:
        following = Cursor.after(runs[-1], query.order_by).token(query)
    whole = dataclasses.replace(query, limit=None, offset=0, cursor=None)
    return RunList(
        runs,
        next_page_token=following,
        count=lambda: store.count_runs_bounded(whole, COUNT_BOUND),
    )


def _shown(token: str) -> str:
    return repr(token if len(token) <= 80 else token[:77] + "...")


def runs_frame(filter: str | None = None, **kwargs: Any) -> pd.DataFrame:
    """:func:`search_runs` as a pandas DataFrame.

    Columns: ``id, name, kind, status, start_time, end_time, duration_s, parent_id,
    nondeterministic``, then ``params.*``, ``metrics.*`` and ``tags.*``.
    """
    import pandas as pd

    runs = search_runs(filter, **kwargs)
    rows = []
    for r in runs:
        row: dict[str, Any] = {
            "id": r.id,
            "name": r.name,
            "kind": r.kind.value,
            "status": r.status.value,
            "start_time": r.start_time,
            "end_time": r.end_time,
            "duration_s": r.duration_s,
            "parent_id": r.parent_id,
            "nondeterministic": r.nondeterministic,
        }
        row.update({f"params.{k}": v for k, v in r.params.items()})
        row.update({f"metrics.{k}": v for k, v in r.metrics.items()})
        row.update({f"tags.{k}": v for k, v in r.tags.items()})
        rows.append(row)
    base = [
        "id",
        "name",
        "kind",
        "status",
        "start_time",
        "end_time",
        "duration_s",
        "parent_id",
        "nondeterministic",
    ]
    frame = pd.DataFrame(rows, columns=None if rows else base)
    extra = sorted(c for c in frame.columns if c not in base)
    order = [c for p in ("params.", "metrics.", "tags.") for c in extra if c.startswith(p)]
    return frame[base + order]


def sync(timeout: float = 30.0) -> dict[str, Any]:
    """Write everything pending, replay spools left by dead processes, mark dead runs interrupted.

    Returns:
        Counts (``replayed_files``, ``replayed_ops``, ``interrupted``, ``rejected``: spooled
        records this tracker cannot read, set aside for ``tracker sync --rejected``) and
        ``pending`` (records still waiting because the store is down).
    """
    store = get_store()
    if isinstance(store, QueuedStore):
        stats: dict[str, Any] = dict(store.sync(timeout))
        stats["pending"] = store.pending
        return stats
    from tracker.store import sweep

    return dict(sweep(store, None), pending=0)
