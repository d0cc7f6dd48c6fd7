"""The filter language of ``search_runs`` in SQL: conditions and orderings on runs.

Tags, params and metrics are separate tables (``latest_metrics`` for metrics), so each
condition is an ``EXISTS`` on its table and each ordering an outer join; params compare
as numbers when both sides are numbers, else by their JSON text.
"""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa

from tracker.exceptions import ValidationError
from tracker.store._sql import models as m
from tracker.store._sql._codec import dumps
from tracker.store.query import Condition, OrderBy, RunQuery

__all__ = ["matches", "order", "order_terms", "where"]


def where(stmt: Any, query: RunQuery, *, per_row: bool = False) -> Any:
    """``stmt`` narrowed to the runs ``query`` selects (ids and conditions).

    ``per_row``: check each condition run by run, by its primary key (PostgreSQL may not
    turn it into a join). For a statement over a few known runs, such as a count's sample
    of a thousand: left free, PostgreSQL hash-joined every run with ``accuracy > 0.9``
    (190,000 of a million) to count the few in the sample.
    """
    r = m.runs
    if query.ids is not None:
        stmt = stmt.where(r.c.id.in_(list(query.ids)))
    for cond in query.conditions:
        stmt = stmt.where(_condition(cond, per_row))
    return stmt


def matches(query: RunQuery, *, per_row: bool = False) -> Any:
    """The condition "this run is one ``query`` selects", as one boolean expression."""
    stmt = where(sa.select(m.runs.c.id), query, per_row=per_row)
    clause = stmt.whereclause
    return sa.true() if clause is None else clause


def _exists(clause: Any, per_row: bool) -> Any:
    if not per_row:
        return sa.exists().where(clause)
    # OFFSET 0 is PostgreSQL's fence: an EXISTS over a subquery with an offset stays a
    # subplan run for each row instead of being planned as a (hash) semi-join.
    return sa.select(sa.literal(1)).where(clause).offset(0).exists()


def _condition(cond: Condition, per_row: bool = False) -> Any:
    r = m.runs
    prefix = cond.prefix
    if prefix is None:
        return _compare(r.c[cond.field], cond.op, cond.value)
    if prefix == "tags":
        t = m.tags
        inner = (t.c.run_id == r.c.id) & (t.c.key == cond.key)
        return _exists(inner & _compare(t.c.value, cond.op, _as_text(cond.value)), per_row)
    if prefix == "metrics":
        t = m.latest_metrics
        inner = (t.c.run_id == r.c.id) & (t.c.key == cond.key)
        if cond.value is None:
            present = _exists(inner, per_row)
            return ~present if cond.op == "=" else present
        v = float(cond.value)
        if math.isnan(v):
            match = t.c.is_nan.is_(True) if cond.op == "=" else t.c.is_nan.is_(False)
            return _exists(inner & match, per_row)
        # A NaN is stored as a NULL value (and is_nan), so no comparison matches it; no
        # is_nan test here lets an index holding the value answer without the table.
        return _exists(inner & _compare(t.c.value, cond.op, v), per_row)
    # params: numbers compare as numbers, everything else by its JSON text
    t = m.params
    inner = (t.c.run_id == r.c.id) & (t.c.key == cond.key)
    if cond.value is None:
        present = _exists(inner & (t.c.value_json != "null"), per_row)
        return ~present if cond.op == "=" else present
    values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if numeric:
        nv = tuple(float(v) for v in values) if isinstance(cond.value, tuple) else float(cond.value)
        return _exists(inner & _compare(t.c.value_num, cond.op, nv), per_row)
    if cond.op in ("like", "ilike"):
        return _exists(inner & _compare(t.c.value_json, cond.op, dumps(cond.value)), per_row)
    jv = tuple(dumps(v) for v in values) if isinstance(cond.value, tuple) else dumps(cond.value)
    return _exists(inner & _compare(t.c.value_json, cond.op, jv), per_row)


def order(stmt: Any, ob: OrderBy) -> Any:
    """``stmt`` ordered by ``ob`` (a column, a param, a metric or a tag), missing last."""
    stmt, terms = order_terms(stmt, ob)
    return stmt.order_by(*(t.desc() if desc else t.asc() for t, desc in terms))


def order_terms(stmt: Any, ob: OrderBy) -> tuple[Any, list[tuple[Any, bool]]]:
    """``stmt`` joined to what ``ob`` sorts on, and its sort terms as ``(expression, desc)``.

    The terms put missing values last in both directions, portably (no NULLS LAST).
    Keyset pagination compares a row with the previous page's last row term by term.
    """
    r = m.runs
    head, sep, key = ob.field.partition(".")
    d = ob.descending
    if not sep or ob.field in r.c:
        col = r.c[ob.field]
        # A NOT NULL column has no missing value, and an extra term would stop the
        # database from reading the page off the column's index (a full sort: 170 ms
        # instead of 3 at 100,000 runs).
        return stmt, ([] if not col.nullable else [(col.is_(None), False)]) + [(col, d)]
    table = {"params": m.params, "metrics": m.latest_metrics, "tags": m.tags}[head]
    alias = table.alias()
    stmt = stmt.outerjoin(alias, (alias.c.run_id == r.c.id) & (alias.c.key == key))
    if head == "params":
        # Numbers first, by value; then the other params by their JSON text.
        num = alias.c.value_num
        vj = alias.c.value_json
        return stmt, [(vj.is_(None), False), (num.is_(None), False), (num, d), (vj, d)]
    # An outer-joined column is NULL where the run lacks the key, NOT NULL or not.
    return stmt, [(alias.c.value.is_(None), False), (alias.c.value, d)]


def _as_text(v: Any) -> Any:
    if isinstance(v, tuple):
        return tuple(_as_text(x) for x in v)
    return v if v is None or isinstance(v, str) else str(v)


def _compare(col: Any, op: str, value: Any) -> Any:
    if op == "=":
        return col.is_(None) if value is None else col == value
    if op == "!=":
        return col.is_not(None) if value is None else col != value
    if op == "<":
        return col < value
    if op == "<=":
        return col <= value
    if op == ">":
        return col > value
    if op == ">=":
        return col >= value
    if op == "like":
        return col.like(value)
    if op == "ilike":
        return col.ilike(value)
    if op == "in":
        return col.in_(list(value))
    if op == "not in":
        return col.not_in(list(value))
    raise ValidationError(f"unknown operator {op!r}")
