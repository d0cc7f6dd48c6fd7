"""Pages of a run search that stay fast at a million runs: index-driven sorts, keyset pages.

A sort by one metric or one param is answered in parts, each read in the order of an
index instead of sorting every run: the runs that have the key (off ``latest_metrics
(key, value, run_id)`` or ``params (key, value_num, run_id)``; a param's non-numeric
values after its numbers, sorted by their JSON text), then the runs that lack it (by
id). The order is exactly the general query's: missing values (and NaN) last in both
directions, ties by run id. Every other order runs as one query (see :func:`order_terms`).

A cursor (the last run of the previous page) becomes a condition "after that row" on
the same sort terms, so the database seeks to it instead of walking an offset. The
anchor's sort values are read back from the store by its id, exactly as stored.

Counts can be bounded: exact up to ``limit``, and beyond it an estimate from a sample
of runs (run ids are random, so the first runs by id are a fair sample).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tracker.exceptions import ValidationError
from tracker.store._sql import models as m
from tracker.store._sql._filters import matches, order_terms, where
from tracker.store.query import RunQuery

__all__ = ["SMALL_PAGE", "count_bounded", "page_rows", "small_plans"]

#: Runs checked against the conditions to estimate a count beyond its bound.
SAMPLE = 1000

#: Rows a page may read (its offset plus its limit) and still be planned without parallel
#: workers (:func:`small_plans`); a deep offset walks that many rows, where workers help.
SMALL_PAGE = 10_000

_Terms = list[tuple[Any, bool]]


def small_plans(conn: Connection) -> None:
    """Plan this transaction's queries without PostgreSQL's parallel workers.

    A page or a bounded count reads a few thousand index entries: starting workers costs
    more than they save, and on a loaded machine makes the time vary widely (the
    filtered page + count at a million runs, with workers: 644 / 1,509 ms p50 / p95 at a
    load average of 19; without, and with the count in one statement: 333 / 430 ms).
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")


def page_rows(conn: Connection, query: RunQuery) -> list[Row[Any]]:
    """The run rows of ``query``'s page, in its order."""
    if query.cursor is not None:
        found = conn.execute(
            sa.select(m.runs.c.id).where(m.runs.c.id == query.cursor.run_id)
        ).first()
        if found is None:
            raise ValidationError(
                f"the cursor's run {query.cursor.run_id!r} is not in this store; "
                "ask for the first page again"
            )
    parts = _sorted_key_parts(query)
    if parts is None:
        return _general_page(conn, query)
    return _parts_page(conn, query, parts)


def _ordered(terms: _Terms, idcol: Any) -> list[Any]:
    return [t.desc() if d else t.asc() for t, d in terms] + [idcol.asc()]


def _after(terms: _Terms, anchor: Sequence[Any], idcol: Any, run_id: str) -> Any:
    """Rows after ``anchor`` (the sort values of run ``run_id``) in the order of ``terms``.

    Lexicographic: some term is past the anchor's and every earlier term equals it
    (NULL-safe). A leading bound on the first term lets the database seek its index.
    """
    ors = []
    eqs: list[Any] = []
    for (t, d), a in zip(terms, anchor, strict=True):
        if isinstance(a, bool):  # a "missing" flag: a bound value, so it can be compared
            a = sa.literal(a, sa.Boolean())
        if a is not None:  # nothing sorts past a missing value within its term
            ors.append(sa.and_(*eqs, t < a if d else t > a))
        eqs.append(t.is_not_distinct_from(a))
    ors.append(sa.and_(*eqs, idcol > run_id))
    cond = sa.or_(*ors)
    if terms and anchor[0] is not None and not isinstance(anchor[0], bool):
        t, d = terms[0]
        cond = sa.and_(t <= anchor[0] if d else t >= anchor[0], cond)
    return cond


def _general_page(conn: Connection, query: RunQuery) -> list[Row[Any]]:
    frm: Any = m.runs
    terms: _Terms = []
    for ob in query.order_by:
        frm, t = order_terms(frm, ob)
        terms += t
    stmt = where(sa.select(m.runs).select_from(frm), query)
    if query.cursor is not None:
        anchor = conn.execute(
            sa.select(*(t for t, _ in terms))
            .select_from(frm)
            .where(m.runs.c.id == query.cursor.run_id)
        ).one()
        stmt = stmt.where(_after(terms, tuple(anchor), m.runs.c.id, query.cursor.run_id))
    stmt = stmt.order_by(*_ordered(terms, m.runs.c.id))
    if query.limit is not None:
        stmt = stmt.limit(query.limit)
    if query.offset:
        stmt = stmt.offset(query.offset)
    return list(conn.execute(stmt).all())


@dataclass(frozen=True)
class _Part:
    """One run of the page's order read off an index: a select of run rows, its terms."""

    stmt: Any
    terms: _Terms
    idcol: Any
    anchor: Any  # the anchor's sort values in this part, from a select of one row
    #: The part after a run id, when "after" must reach inside a subquery to seek an index.
    seek: Callable[[str], Any] | None = None


def _sorted_key_parts(query: RunQuery) -> list[_Part] | None:
    """The parts of a sort by one metric or one param; ``None`` for any other order."""
    if len(query.order_by) != 1:
        return None
    ob = query.order_by[0]
    head, sep, key = ob.field.partition(".")
    if not sep or ob.field in m.runs.c or head not in ("metrics", "params"):
        return None
    d = ob.descending
    r = m.runs
    rid = query.cursor.run_id if query.cursor else ""
    parts = []
    present: Any
    if head == "metrics":
        # Aliased: a condition's EXISTS on the same table must not correlate to it.
        t = m.latest_metrics.alias("sort_key")
        present = (t.c.key == key) & t.c.value.is_not(None)
        sel = sa.select(r).select_from(t.join(r, r.c.id == t.c.run_id))
        parts.append(
            _Part(
                where(sel.where(present), query),
                [(t.c.value, d)],
                t.c.run_id,
                sa.select(t.c.value).where(present & (t.c.run_id == rid)),
            )
        )
    else:
        t = m.params.alias("sort_key")
        sel = sa.select(r).select_from(t.join(r, r.c.id == t.c.run_id))
        numeric = (t.c.key == key) & t.c.value_num.is_not(None)
        other = (t.c.key == key) & t.c.value_num.is_(None)
        parts.append(
            _Part(
                where(sel.where(numeric), query),
                [(t.c.value_num, d), (t.c.value_json, d)],
                t.c.run_id,
                sa.select(t.c.value_num, t.c.value_json).where(numeric & (t.c.run_id == rid)),
            )
        )
        parts.append(
            _Part(
                where(sel.where(other), query),
                [(t.c.value_json, d)],
                t.c.run_id,
                sa.select(t.c.value_json).where(other & (t.c.run_id == rid)),
            )
        )
        present = t.c.key == key
    lacking = ~sa.exists().where((t.c.run_id == r.c.id) & present)

    def lacking_after(after: str) -> Any:
        # The redundant bound inside lets PostgreSQL's anti-join start its index scan at
        # the cursor instead of the first run id (0.8 s instead of ms at 100,000 runs).
        gone = ~sa.exists().where((t.c.run_id == r.c.id) & present & (t.c.run_id > after))
        return where(sa.select(r).where(gone & (r.c.id > after)), query)

    parts.append(
        _Part(
            where(sa.select(r).where(lacking), query),
            [],
            r.c.id,
            sa.select(r.c.id).where((r.c.id == rid) & lacking),
            lacking_after,
        )
    )
    return parts


def _parts_page(conn: Connection, query: RunQuery, parts: list[_Part]) -> list[Row[Any]]:
    """Run rows of the page: each part in turn, from the part holding the cursor's run."""
    start, anchor = 0, None
    if query.cursor is not None:
        for i, part in enumerate(parts):
            row = conn.execute(part.anchor).first()
            if row is not None:
                start, anchor = i, tuple(row) if part.terms else ()
                break
    out: list[Row[Any]] = []
    offset = query.offset
    for i, part in enumerate(parts[start:], start):
        want = None if query.limit is None else query.limit - len(out)
        if want == 0:
            break
        stmt = part.stmt
        if i == start and anchor is not None and query.cursor is not None:
            after = query.cursor.run_id
            if part.seek is not None:
                stmt = part.seek(after)
            else:
                stmt = stmt.where(_after(part.terms, anchor, part.idcol, after))
        got = list(
            conn.execute(
                stmt.order_by(*_ordered(part.terms, part.idcol)).limit(want).offset(offset or None)
            )
        )
        if got:
            offset = 0  # the offset ended inside this part
        elif offset:  # the part had no more rows than the offset: skip them all
            offset -= int(
                conn.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()
            )
        out += got
    return out


def count_bounded(conn: Connection, query: RunQuery, limit: int) -> tuple[int, bool]:
    """How many runs match: exact up to ``limit``, else an estimate (``(n, exact)``).

    One statement, so one round trip (on a loaded machine each costs milliseconds): the
    matches up to ``limit + 1``, the matches among the sample, the sample's size and the
    store's estimated size, each its own subquery with its own plan.
    """
    r = m.runs
    capped = where(sa.select(r.c.id), query).limit(limit + 1).subquery()
    n_capped = sa.select(sa.func.count()).select_from(capped).scalar_subquery()
    if query.ids is not None or not query.conditions:
        n = int(conn.execute(sa.select(n_capped)).scalar_one())
        if n <= limit:
            return n, True
        if query.ids is not None:  # an id list is short: count it exactly
            stmt = where(sa.select(sa.func.count()).select_from(r), query)
            return int(conn.execute(stmt).scalar_one()), True
        return max(_total_estimate(conn), n), False
    # The sample: the first SAMPLE runs by id, its conditions checked run by run on
    # PostgreSQL (which otherwise hash-joined every run matching ``accuracy > 0.9``,
    # 190,000 of a million, to count the few among 1,000).
    pg = conn.dialect.name == "postgresql"
    first = sa.select(r.c.id).order_by(r.c.id).limit(SAMPLE).scalar_subquery()
    hit = sa.case((matches(query, per_row=pg), 1), else_=0)
    sample = sa.select(sa.func.coalesce(sa.func.sum(hit), 0), sa.func.count()).where(
        r.c.id.in_(first)
    )
    sampled = sample.subquery()
    n, hits, size, total = conn.execute(
        sa.select(n_capped, sampled.c[0], sampled.c[1], _total_guess(conn))
    ).one()
    n, hits, size = int(n), int(hits), int(size)
    if n <= limit:
        return n, True
    if size < SAMPLE:  # the sample is every run: its count is exact
        return hits, True
    total = int(total) if total is not None and total > 0 else _total_estimate(conn)
    return max(n, round(total * hits / SAMPLE)), False


def _total_guess(conn: Connection) -> Any:
    """About how many runs the store holds, as a scalar subquery (``NULL``: unknown)."""
    if conn.dialect.name == "sqlite":
        # Runs are never deleted, and SQLite gives a new row the largest rowid plus one.
        return sa.text("(SELECT max(rowid) FROM tracker_runs)")
    # What the planner does: the last statistics' rows per page times the pages now.
    return sa.text(
        "(SELECT CASE WHEN reltuples > 0 AND relpages > 0 THEN reltuples / relpages"
        " * (pg_relation_size(oid) / current_setting('block_size')::int) END"
        " FROM pg_class WHERE oid = 'tracker_runs'::regclass)"
    )


def _total_estimate(conn: Connection) -> int:
    """About how many runs the store holds, without counting them."""
    if conn.dialect.name == "sqlite":
        # Runs are never deleted, and SQLite gives a new row the largest rowid plus one.
        return int(conn.execute(sa.text("SELECT max(rowid) FROM tracker_runs")).scalar() or 0)
    # PostgreSQL's planner scales its last statistics to the table's current size.
    plan = conn.execute(sa.text("EXPLAIN (FORMAT JSON) SELECT 1 FROM tracker_runs")).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])
