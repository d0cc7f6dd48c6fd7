"""What a run search asks for: conditions, order and page, and a parser for filter strings.

A filter string is a conjunction of comparisons, in the spirit of MLflow's::

    metrics.accuracy >= 0.9 and params.kernel = 'rbf' and tags.model != 'svc'
    status in ('finished', 'failed') and name like 'base%' and start_time > '2026-01-01'

Fields: ``name``, ``status``, ``kind``, ``notes``, ``parent_id``, ``start_time``,
``end_time`` (ISO dates or epoch seconds), ``params.<key>``, ``metrics.<key>``,
``tags.<key>``. Keys with spaces or dots may be quoted: ``params."lr schedule"``.
Operators: ``= != < <= > >= like ilike in`` and ``not in``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tracker.exceptions import ValidationError
from tracker.records import Run, to_timestamp

__all__ = [
    "COLUMN_FIELDS",
    "Condition",
    "Cursor",
    "OrderBy",
    "RunQuery",
    "parse_filter",
    "parse_order_by",
]

#: Run columns a condition or an ordering may name directly.
COLUMN_FIELDS = frozenset(
    {"id", "name", "status", "kind", "notes", "parent_id", "start_time", "end_time"}
)
_TIME_FIELDS = frozenset({"start_time", "end_time"})
_PREFIXES = ("params.", "metrics.", "tags.")
OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "like", "ilike", "in", "not in")


@dataclass(frozen=True, slots=True)
class Condition:
    """One comparison: ``field op value``.

    Attributes:
        field: A run column (see :data:`COLUMN_FIELDS`) or ``params.K``, ``metrics.K``, ``tags.K``.
        op: One of ``= != < <= > >= like ilike in`` or ``not in``.
        value: A number, a string, ``None`` (with ``=``/``!=`` only), or a tuple for ``in``.
    """

    field: str
    op: str
    value: Any

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValidationError(
                f"unknown operator {self.op!r} in a run filter; use one of {', '.join(OPERATORS)}"
            )
        if self.field not in COLUMN_FIELDS and not (
            self.field.startswith(_PREFIXES) and self.field.split(".", 1)[1]
        ):
            raise ValidationError(
                f"unknown field {self.field!r} in a run filter; use one of "
                f"{', '.join(sorted(COLUMN_FIELDS))}, params.<key>, metrics.<key> or tags.<key>"
            )
        if self.op in ("in", "not in") and not isinstance(self.value, tuple):
            raise ValidationError(f"{self.field} {self.op} needs a list of values, e.g. ('a', 'b')")
        if self.value is None and self.op not in ("=", "!="):
            raise ValidationError(f"{self.field} {self.op} null: only = and != compare with null")
        if self.field.startswith("metrics.") and self.op not in ("=", "!=", "<", "<=", ">", ">="):
            raise ValidationError(f"{self.field}: metrics compare with = != < <= > >= only")
        if self.field in _TIME_FIELDS and self.value is not None:
            object.__setattr__(self, "value", _as_time(self.field, self.value))

    @property
    def prefix(self) -> str | None:
        """``"params"``, ``"metrics"``, ``"tags"`` or ``None`` for a run column."""
        head, sep, _ = self.field.partition(".")
        return head if sep and self.field not in COLUMN_FIELDS else None

    @property
    def key(self) -> str:
        """The key after the prefix (or the column name)."""
        return self.field.partition(".")[2] if self.prefix else self.field


def _as_time(name: str, value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_as_time(name, v) for v in value)
    if isinstance(value, datetime):
        return to_timestamp(value)
    if isinstance(value, bool):
        raise ValidationError(f"{name} must be compared with a date or a number of seconds")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return to_timestamp(datetime.fromisoformat(value))
        except ValueError:
            raise ValidationError(
                f"{name}: {value!r} is not an ISO date such as '2026-01-31' or '2026-01-31T12:00'"
            ) from None
    raise ValidationError(f"{name} must be compared with a date or a number of seconds")


@dataclass(frozen=True, slots=True)
class OrderBy:
    """Sort key: a run column, ``params.K``, ``metrics.K`` or ``tags.K``; missing values last."""

    field: str
    descending: bool = False

    def __post_init__(self) -> None:
        Condition(self.field, "=", 0 if self.field in _TIME_FIELDS else "x")  # validates the field


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous page ended: its last run, and that run's sort values.

    A page asked for with ``RunQuery(cursor=...)`` starts right after that run in the
    query's order, so page 10,000 costs what page 1 does (an offset makes the database
    walk every row before it). The store re-reads the anchor run's stored sort values
    by its id, because a :class:`Run` record's times are rounded to the microsecond;
    ``values`` says what they were when the page was read (for display and debugging).

    Attributes:
        run_id: The last run of the previous page.
        values: Its sort values, one per ``order_by`` key (``None`` where missing).
    """

    run_id: str
    values: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.run_id, str) or not self.run_id or len(self.run_id) > 200:
            raise ValidationError(
                f"a cursor needs the run id of a page's last run, not {self.run_id!r}"
            )

    @classmethod
    def after(cls, run: Run, order_by: Sequence[OrderBy]) -> Cursor:
        """The cursor that continues after ``run`` in the order ``order_by``."""
        return cls(run.id, tuple(_sort_value(run, ob.field) for ob in order_by))

    def encode(self) -> str:
        """An opaque URL-safe token (what the server's ``next`` holds)."""
        doc = json.dumps([self.run_id, list(self.values)], separators=(",", ":"), default=str)
        return base64.urlsafe_b64encode(doc.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """The cursor an :meth:`encode` token stands for.

        Raises:
            ValidationError: the token was not made by :meth:`encode`.
        """
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            run_id, values = json.loads(raw)
            return cls(str(run_id), tuple(values))
        except (ValueError, TypeError, binascii.Error) as exc:
            raise ValidationError(
                "the cursor is not one this server gave out; ask for the first page again"
            ) from exc

    def token(self, query: RunQuery) -> str:
        """The page token of this cursor in the search ``query``: the cursor, then its check.

        What ``search_runs(...).next_page_token`` and the server's ``next`` hold;
        :meth:`from_token` takes it back only with the same filter and order.
        """
        head = self.encode()
        return f"{head}.{_search_digest(head, query)}"

    @classmethod
    def from_token(
        cls,
        token: object,
        query: RunQuery,
        *,
        name: str = "page_token",
        given_as: str = "next_page_token",
    ) -> Cursor:
        """The cursor of a page token that :meth:`token` gave out for this same search.

        Args:
            token: The token as the caller passed it back.
            query: The search it is passed with (its conditions and order are checked).
            name: What the caller calls the token, for the error.
            given_as: Where the caller got it from, for the error.

        Raises:
            ValidationError: the token is malformed, altered, or from another search.
        """
        if not isinstance(token, str):
            raise ValidationError(
                f"{name} must be the {given_as} string of a previous page, not "
                f"{type(token).__name__} {token!r}"
            )
        head, _, check = token.rpartition(".")
        if head and check == _search_digest(head, query):
            return cls.decode(head)  # made by token(), so it decodes
        shown = repr(token if len(token) <= 80 else token[:77] + "...")
        raise ValidationError(
            f"{name} {shown} is not a {given_as} this search gave out: it was altered or cut "
            "short, or it belongs to a search with another filter or order_by; start again "
            "from the first page"
        )


def _search_digest(cursor_token: str, query: RunQuery) -> str:
    """A check that ties a cursor to the search that gave it out.

    Not a secret signature: a forged token can do no more than start a page after
    another run of the store; the check catches a token that was altered, cut short or
    passed to another search (where its page would silently skip or repeat runs).
    """
    search = repr((query.conditions, query.order_by)).encode()
    h = hashlib.blake2b(cursor_token.encode() + b"\0" + search, digest_size=9)
    return base64.urlsafe_b64encode(h.digest()).decode()


def _sort_value(run: Run, name: str) -> Any:
    head, sep, key = name.partition(".")
    if not sep or name in COLUMN_FIELDS:
        v = getattr(run, name)
        if hasattr(v, "value"):  # an enum: kind, status
            return v.value
        return to_timestamp(v) if isinstance(v, datetime) else v
    found: Any = {"params": run.params, "metrics": run.metrics, "tags": run.tags}[head].get(key)
    if isinstance(found, float) and math.isnan(found):
        return None  # NaN sorts with the missing values
    return found


@dataclass(frozen=True, slots=True)
class RunQuery:
    """A run search.

    Attributes:
        conditions: All must hold.
        ids: Restrict to these run ids.
        order_by: Sort keys, most significant first (default: newest first).
        limit: Page size (``None``: all).
        offset: Rows to skip (after the cursor, when there is one).
        cursor: Start after this run (keyset pagination: deep pages cost like the first).
        with_cells: Load cell records too (``get_run`` does; searches do not by default).
        summary: Leave out each run's attrs, artifacts and environment (they are empty in
            the runs returned): what a table row shows, for a page read on every sort
            and scroll of the panel; three of the page's eight reads, and the largest
            documents, are those.
    """

    conditions: tuple[Condition, ...] = ()
    ids: tuple[str, ...] | None = None
    order_by: tuple[OrderBy, ...] = (OrderBy("start_time", descending=True),)
    limit: int | None = None
    offset: int = 0
    with_cells: bool = field(default=False)
    cursor: Cursor | None = None
    summary: bool = False

    def __post_init__(self) -> None:
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 0):
            raise ValidationError(
                f"limit must be a non-negative integer or None, not {self.limit!r}"
            )
        if not isinstance(self.offset, int) or self.offset < 0:
            raise ValidationError(f"offset must be a non-negative integer, not {self.offset!r}")


# --- filter string parser -------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf|nan)\b)
    | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<op><=|>=|!=|<>|==|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z0-9_\-]+|"(?:[^"\\]|\\.)*"|`[^`]*`))?)
    )""",
    re.VERBOSE,
)


def _unquote(s: str) -> str:
    if s[:1] in ("'", '"', "`") and s[-1:] == s[:1]:
        body = s[1:-1]
        return re.sub(r"\\(.)", r"\1", body)
    return s


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            pos += len(text[pos:]) - len(text[pos:].lstrip())  # point at the culprit
            raise ValidationError(
                f"cannot read the run filter at position {pos}: {text[pos : pos + 20]!r}; "
                "write e.g. \"metrics.accuracy >= 0.9 and params.kernel = 'rbf'\""
            )
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


_Token = tuple[str, str, int]  # kind, text, position


def parse_filter(text: str | None) -> tuple[Condition, ...]:
    """Parse a filter string into conditions (joined by ``and``).

    Raises:
        ValidationError: with the position and an example of the expected form.
    """
    if text is None or not text.strip():
        return ()
    toks = _tokens(text)
    conds: list[Condition] = []
    i = 0
    while i < len(toks):
        kind, fld, p = toks[i]
        if kind != "word":
            raise ValidationError(
                f"expected a field name at position {p} of the run filter, found {fld!r}"
            )
        head, sep, rest = fld.partition(".")
        field_name = f"{head}.{_unquote(rest)}" if sep else fld
        i += 1
        if i >= len(toks):
            raise ValidationError(
                f"the run filter {text!r} ends after {fld!r}; add an operator and a value"
            )
        op_l, i = _filter_operator(toks, i)
        op_l, value, i = _filter_operand(text, toks, i, field_name, op_l)
        conds.append(Condition(field_name, op_l, value))
        if i < len(toks):
            kind, word, p = toks[i]
            if kind != "word" or word.lower() != "and":
                raise ValidationError(
                    f"expected 'and' at position {p} of the run filter, found {word!r} "
                    "(conditions can only be joined with 'and')"
                )
            i += 1
            if i >= len(toks):
                raise ValidationError(f"the run filter {text!r} ends with 'and'")
    return tuple(conds)


def _filter_operator(toks: list[_Token], i: int) -> tuple[str, int]:
    """The operator at ``toks[i]``, lower-cased and normalised, and the next index."""
    kind, op, p = toks[i]
    op_l = op.lower()
    if kind == "word" and op_l == "not" and i + 1 < len(toks) and toks[i + 1][1].lower() == "in":
        op_l = "not in"
        i += 1
    elif kind == "op":
        op_l = {"==": "=", "<>": "!="}.get(op_l, op_l)
    elif not (kind == "word" and op_l in ("like", "ilike", "in", "is")):
        raise ValidationError(
            f"expected an operator at position {p} of the run filter, found {op!r}"
        )
    return op_l, i + 1


def _filter_operand(
    text: str, toks: list[_Token], i: int, field_name: str, op_l: str
) -> tuple[str, Any, int]:
    """The value after an operator at ``toks[i]``: ``(operator, value, next index)``.

    ``is null`` and ``is not null`` become ``=`` and ``!=`` with ``None``; ``in`` and
    ``not in`` take a parenthesised list, returned as a tuple.
    """
    value: Any
    if op_l == "is":  # "x is null" / "x is not null"
        negate = i < len(toks) and toks[i][1].lower() == "not"
        i += 1 if negate else 0
        value, i = _filter_value(text, toks, i)
        if value is not None:
            raise ValidationError("only 'is null' and 'is not null' are allowed")
        op_l = "!=" if negate else "="
    elif op_l in ("in", "not in"):
        if i >= len(toks) or toks[i][1] != "(":
            raise ValidationError(
                f"{field_name} {op_l} needs a list in parentheses, e.g. ('a', 'b')"
            )
        i += 1
        items: list[Any] = []
        while True:
            v, i = _filter_value(text, toks, i)
            items.append(v)
            if i < len(toks) and toks[i][1] == ",":
                i += 1
                continue
            if i < len(toks) and toks[i][1] == ")":
                i += 1
                break
            raise ValidationError(f"unclosed list after {field_name} {op_l}")
        value = tuple(items)
    else:
        value, i = _filter_value(text, toks, i)
    return op_l, value, i


def _filter_value(text: str, toks: list[_Token], j: int) -> tuple[Any, int]:
    """The literal at ``toks[j]`` (number, quoted string, null, true/false), and the next index."""
    if j >= len(toks):
        raise ValidationError(f"the run filter {text!r} ends where a value was expected")
    kind, val, p = toks[j]
    if kind == "num":
        f = float(val)
        return (int(val) if re.fullmatch(r"[-+]?\d+", val) else f), j + 1
    if kind == "str":
        return _unquote(val), j + 1
    if kind == "word" and val.lower() in ("null", "none"):
        return None, j + 1
    if kind == "word" and val.lower() in ("true", "false"):
        return val.lower() == "true", j + 1
    raise ValidationError(f"expected a value at position {p} of the run filter, found {val!r}")


def parse_order_by(items: str | Sequence[str] | None) -> tuple[OrderBy, ...]:
    """Parse ``"metrics.accuracy desc"``-style sort keys (a string or a list of them)."""
    if items is None:
        return (OrderBy("start_time", descending=True),)
    if isinstance(items, str):
        items = [items]
    out: list[OrderBy] = []
    for item in items:
        parts = item.strip().rsplit(None, 1)
        desc = False
        if len(parts) == 2 and parts[1].lower() in ("asc", "desc"):
            desc = parts[1].lower() == "desc"
            name = parts[0]
        else:
            name = item.strip()
        if name.startswith("-"):
            desc, name = True, name[1:]
        head, sep, rest = name.partition(".")
        out.append(OrderBy(f"{head}.{_unquote(rest)}" if sep else name, descending=desc))
    return tuple(out)
