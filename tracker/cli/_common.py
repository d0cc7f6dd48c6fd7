"""What every command shares: registration, runs by id or prefix, and filter checks.

A command registers with its examples (``--help`` shows them); a run is found by its id
or a unique prefix; a filter must name fields the store has.

Bad input never ends in a traceback: these raise :class:`~tracker.exceptions.TrackerError`
subclasses whose message says what is wrong and what would work; ``main`` prints it on one
line and exits with status 2.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeAlias

from tracker import run as api
from tracker.exceptions import RunNotFoundError, ValidationError
from tracker.records import CellExecution, Run, RunKind
from tracker.store import BaseStore
from tracker.store.query import COLUMN_FIELDS, Condition, RunQuery, parse_filter, parse_order_by

__all__ = [
    "Handler",
    "Subparsers",
    "add_command",
    "check_fields",
    "current_store",
    "dump_json",
    "resolve_run",
    "track_cell",
]

Handler = Callable[[argparse.Namespace], int]
#: What ``add_subparsers`` returns, which each command module registers into.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

#: Runs whose keys feed the "did you mean" suggestions (the newest ones).
_SAMPLE = 200
_PREFIXES = ("params", "metrics", "tags")
_KEYWORDS = {"and", "or", "not", "in", "like", "ilike", "is", "null", "true", "false"}
_KEYWORDS |= {"asc", "desc", "inf", "nan"}
# A field name as the filter language writes it (params."lr schedule" included), or a
# quoted value, which is skipped.
_WORD = re.compile(
    r"""(?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z0-9_\-]+|"(?:[^"\\]|\\.)*"|`[^`]*`))?)
      | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""",
    re.VERBOSE,
)


def add_command(
    sub: Subparsers,
    name: str,
    handler: Handler,
    *,
    help: str,
    examples: Sequence[str],
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Register ``name``: its ``--help`` ends with ``examples`` (shell lines)."""
    text = description or help[:1].upper() + help[1:] + "."
    parser = sub.add_parser(
        name,
        help=help,
        # Raw, so the examples keep their lines; the description is wrapped here instead.
        description=textwrap.fill(text, 88),
        epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def dump_json(value: Any) -> None:
    """``value`` as indented JSON on stdout (NaN and infinities as the records write them)."""
    json.dump(value, sys.stdout, indent=1, default=str)
    print()


# --- runs by id ---------------------------------------------------------------------------


def resolve_run(store: BaseStore, ref: str) -> Run:
    """The run whose id is ``ref`` or starts with it (with its cell records).

    Raises:
        RunNotFoundError: no run has that id or prefix.
        ValidationError: the prefix fits several runs (they are listed).
    """
    ref = ref.strip()
    try:
        return store.get_run(ref)
    except RunNotFoundError:
        pass
    if not ref:
        raise ValidationError("a run id is empty; `tracker runs` lists runs with their ids")
    query = RunQuery(conditions=(Condition("id", "like", f"{ref}%"),), limit=12)
    found = sorted(
        (r for r in store.search_runs(query) if r.id.startswith(ref)), key=lambda r: r.id
    )
    if not found:
        raise RunNotFoundError(ref, str(store.url))
    if len(found) > 1:
        listed = ", ".join(f"{r.id[:12]} ({r.name})" for r in found[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        raise ValidationError(
            f"run id prefix {ref!r} fits {len(found)} runs: {listed}{more}; "
            "give more characters of the id"
        )
    return store.get_run(found[0].id)


def track_cell(store: BaseStore, run: Run) -> CellExecution | None:
    """The cell record of a ``%%track`` run (``None`` for other runs)."""
    if run.kind is not RunKind.CELL or not run.parent_id:
        return None
    return next((c for c in store.get_cells(run.parent_id) if c.child_run_id == run.id), None)


# --- filter fields ------------------------------------------------------------------------


def _store_fields(store: BaseStore) -> set[str]:
    """Run columns plus the keys the newest runs use, as ``prefix.key``."""
    fields = set(COLUMN_FIELDS)
    for r in store.search_runs(RunQuery(limit=_SAMPLE)):
        fields |= {f"params.{k}" for k in r.params} | {f"metrics.{k}" for k in r.metrics}
        fields |= {f"tags.{k}" for k in r.tags}
    return fields


def _score(word: str, field: str) -> float:
    # Compare the keys (the part after the dot), and the prefixes only a little: against
    # whole names, a shared "metrics." would make every metric look close.
    wp, _, wk = word.lower().rpartition(".") if "." in word else ("", "", word.lower())
    fp, _, fk = field.lower().partition(".") if "." in field else ("", "", field.lower())
    key = difflib.SequenceMatcher(None, wk, fk).ratio()
    if len(wk) >= 3 and fk.startswith(wk):
        key = max(key, 0.85)  # the start of a name: "acc" for "accuracy"
    if wp and fp:
        return 0.8 * key + 0.2 * difflib.SequenceMatcher(None, wp, fp).ratio()
    return key


def _closest(word: str, fields: Iterable[str]) -> list[str]:
    """Up to three fields that look like ``word``, the closest first."""
    scored = sorted((-_score(word, f), f) for f in fields)
    if not scored or -scored[0][0] < 0.7:
        return []
    best = -scored[0][0]
    return [f for s, f in scored[:3] if -s >= max(0.7, best - 0.1)]


def _suggest(what: str, word: str, fields: set[str]) -> str:
    close = _closest(word, fields)
    if close:
        return f"{what}; did you mean {' or '.join(close)}?"
    prefix = word.partition(".")[0]
    same = sorted(f.partition(".")[2] for f in fields if f.startswith(f"{prefix}."))
    if prefix in _PREFIXES and same:
        return f"{what}; runs have {prefix}: {', '.join(same[:8])}" + (
            ", ..." if len(same) > 8 else ""
        )
    if prefix in _PREFIXES:
        return f"{what}; no run has any {prefix} yet"
    return f"{what}; use {', '.join(sorted(COLUMN_FIELDS))}, params.KEY, metrics.KEY or tags.KEY"


def _words(text: str) -> list[str]:
    return [
        m.group("word")
        for m in _WORD.finditer(text)
        if m.group("word") and m.group("word").lower() not in _KEYWORDS
    ]


def check_fields(store: BaseStore, filter_text: str | None, order_by: Sequence[str] | None) -> None:
    """Refuse a filter or ordering that names a field no run has, suggesting the closest.

    Raises:
        ValidationError: a malformed filter (with the closest field names when a name is
            the problem), or a ``params.``/``metrics.``/``tags.`` key that no run has.
    """
    try:
        conditions = parse_filter(filter_text)
        orders = parse_order_by(order_by)
    except ValidationError:
        text = " ".join([filter_text or "", *(order_by or [])])
        odd = [
            w
            for w in _words(text)
            if w not in COLUMN_FIELDS and w.partition(".")[0] not in _PREFIXES
        ]
        if not odd:
            raise
        raise ValidationError(
            _suggest(f"unknown field {odd[0]!r} in the run filter", odd[0], _store_fields(store))
        ) from None
    keyed = [c.field for c in conditions if c.prefix and not (c.value is None and c.op == "=")]
    keyed += [o.field for o in orders if o.field not in COLUMN_FIELDS]
    if not keyed:
        return
    fields = _store_fields(store)
    for name in keyed:
        if name in fields:
            continue
        query = RunQuery(conditions=(Condition(name, "!=", None),), limit=1)
        if store.count_runs(query) == 0:  # older runs than the sample may have it
            raise ValidationError(_suggest(f"no run has {name}", name, fields))


def current_store() -> BaseStore:
    """The current store (``--store``, else ``TRACKER_STORE``, else the project default)."""
    return api.get_store()
