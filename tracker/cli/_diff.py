"""``tracker diff A B``: what differs between two runs or two cell records.

Params, metrics, data (which data changed, and how, from the stored profiles: rows,
columns, dtypes, missing values, statistics), environment (Python, packages with their
versions, git commit and dirty flag, hardware) and, for cell records and ``%%track``
runs, a unified diff of the source. The comparison itself is
:func:`tracker.compare.differences`, the one the side panel's compare view shows.

A side is a run id (or a unique prefix) or ``SESSION:N``, cell record ``#N`` of a
notebook session run (``tracker show SESSION`` lists them).
"""

from __future__ import annotations

import argparse
import difflib
import math
from collections.abc import Sequence
from typing import Any

from tracker.cli._common import (
    Subparsers,
    add_command,
    current_store,
    dump_json,
    resolve_run,
    track_cell,
)
from tracker.compare import differences
from tracker.display import clip, fmt, text_table
from tracker.exceptions import ValidationError
from tracker.records import CellExecution, Run, RunKind, RunStatus
from tracker.store import BaseStore

__all__ = ["register"]


def register(sub: Subparsers) -> None:
    """Add ``diff``."""
    s = add_command(
        sub,
        "diff",
        _cmd_diff,
        help="what differs between two runs: params, metrics, data, environment, source",
        description="Compare two runs (or two cell records, SESSION:N): params, metrics, "
        "which data changed and how (from the stored profiles), environment differences, "
        "and for cell records and %%track runs a unified diff of the source.",
        examples=[
            "tracker diff 3f2a9c1e 9b0d44aa",
            "tracker diff 3f2a9c1e 9b0d44aa --all      # equal values too",
            "tracker diff 5e55aa01:3 5e55aa01:7         # cells #3 and #7 of a session",
            "tracker diff 3f2a9c1e 9b0d44aa --json",
        ],
    )
    s.add_argument("a", metavar="A", help="run id or prefix, or SESSION:N for a cell record")
    s.add_argument("b", metavar="B", help="the same, for the other side")
    s.add_argument("--all", action="store_true", help="also list what is equal")
    s.add_argument("--json", action="store_true", help="the differences as JSON")


class _Side:
    """One side of a diff: a run, or a cell record shown as a run, with its source."""

    def __init__(self, run: Run, source: str | None, label: str) -> None:
        self.run = run
        self.source = source
        self.label = label


def _cell_as_run(session: Run, cell: CellExecution) -> Run:
    # A cell record compares like a run: its params and metrics, its inputs and outputs
    # as data, the session's environment.
    data = {f"in:{k}": v for k, v in cell.inputs.items()}
    data |= {f"out:{k}": v for k, v in cell.outputs.items()}
    return Run(
        id=cell.id,
        name=f"{session.name} #{cell.seq}",
        kind=RunKind.CELL,
        status=RunStatus.FAILED if cell.status == "error" else RunStatus.FINISHED,
        start_time=cell.started,
        parent_id=session.id,
        params=cell.params,
        metrics=cell.metrics,
        data=data,
        environment=session.environment,
        error=cell.error,
        nondeterministic=cell.nondeterministic,
    )


def _side(store: BaseStore, ref: str) -> _Side:
    head, sep, tail = ref.rpartition(":")
    if sep and tail.isdigit() and head:
        session = resolve_run(store, head)
        if session.kind is not RunKind.SESSION:
            raise ValidationError(
                f"{ref!r}: run {session.id[:8]} is a {session.kind.value}, not a notebook "
                "session; cell records (SESSION:N) belong to session runs"
            )
        cells = {c.seq: c for c in session.cells}
        cell = cells.get(int(tail))
        if cell is None:
            have = f"#{min(cells)} to #{max(cells)}" if cells else "none"
            raise ValidationError(
                f"session {session.id[:8]} has no cell record #{tail} (it has {have}); "
                f"`tracker show {session.id[:8]}` lists them"
            )
        return _Side(_cell_as_run(session, cell), cell.source, f"{session.name} #{cell.seq}")
    run = resolve_run(store, ref)
    cell = track_cell(store, run)
    return _Side(run, cell.source if cell is not None else None, run.name)


def _cmd_diff(args: argparse.Namespace) -> int:
    store = current_store()
    a, b = _side(store, args.a), _side(store, args.b)
    diff = differences([a.run, b.run])
    source = _source_diff(a, b)
    if args.json:
        dump_json(
            {
                "a": _brief(a.run),
                "b": _brief(b.run),
                **diff,
                "source": None if source is None else {"unified_diff": source},
            }
        )
        return 0
    print("\n".join(_report(a, b, diff, source, every=args.all)))
    return 0


def _brief(run: Run) -> dict[str, Any]:
    return {"id": run.id, "name": run.name, "kind": run.kind.value, "status": run.status.value}


def _source_diff(a: _Side, b: _Side) -> list[str] | None:
    if a.source is None or b.source is None:
        return None
    return list(
        difflib.unified_diff(
            a.source.splitlines(),
            b.source.splitlines(),
            fromfile=f"A {a.label}",
            tofile=f"B {b.label}",
            lineterm="",
        )
    )


def _delta(a: Any, b: Any) -> str:
    if isinstance(a, bool) or isinstance(b, bool):
        return ""
    try:
        x, y = float(a), float(b)
    except (TypeError, ValueError):
        return ""
    return f"{y - x:+.4g}" if math.isfinite(x) and math.isfinite(y) else ""


def _rows(items: Sequence[dict[str, Any]], every: bool, delta: bool) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for item in items:
        if not (item["differs"] or every):
            continue
        va, vb = item["values"]
        row = [item["key"], "-" if va is None else va, "-" if vb is None else vb]
        if delta:
            row.append(_delta(va, vb) if item["differs"] else "")
        rows.append(row)
    return rows


def _block(title: str, items: Sequence[dict[str, Any]], every: bool, delta: bool) -> list[str]:
    n = sum(bool(i["differs"]) for i in items)
    head = f"{title}: {n} differ" + (f", {len(items) - n} equal" if len(items) > n else "")
    rows = _rows(items, every, delta)
    if not items:
        return ["", f"{title}: none on either side"]
    if not rows:
        return ["", f"{title}: all {len(items)} equal"]
    headers = ["key", "A", "B", *(["B - A"] if delta else [])]
    return ["", head, *("  " + ln for ln in text_table(rows, headers, 50).splitlines())]


def _data_block(rows: Sequence[dict[str, Any]], every: bool) -> list[str]:
    if not rows:
        return ["", "data: none on either side"]
    changed = [r for r in rows if r["changed"]]
    lines = ["", f"data: {len(changed)} changed, {len(rows) - len(changed)} the same"]
    for r in rows:
        ra, rb = r["refs"]
        if not r["changed"]:
            if every:
                lines.append(f"  {r['name']}: same ({ra['short']})")
            continue
        if ra is None or rb is None:
            only = "B" if ra is None else "A"
            ref = rb if ra is None else ra
            lines.append(f"  {r['name']}: only in {only} ({ref['kind']} {ref['short']})")
            continue
        lines.append(f"  {r['name']}: {ra['short']} → {rb['short']}")
        lines += [f"      {clip(c['text'], 110)}" for c in r["changes"][1]]
    return lines


def _report(
    a: _Side, b: _Side, diff: dict[str, Any], source: list[str] | None, *, every: bool
) -> list[str]:
    def who(tag: str, run: Run) -> list[Any]:
        secs = run.duration_s
        return [
            tag,
            run.id[:8],
            run.name,
            run.kind.value,
            run.status.value,
            f"{run.start_time:%Y-%m-%d %H:%M:%S}",
            f"{secs:.3f} s" if secs is not None else "",
        ]

    heads = ["", "id", "name", "kind", "status", "started", "duration"]
    lines = text_table([who("A", a.run), who("B", b.run)], heads, 50).splitlines()
    lines += _block("params", diff["params"], every, delta=False)
    lines += _block("metrics", diff["metrics"], every, delta=True)
    lines += _data_block(diff["data"], every)
    lines += _block("environment", diff["environment"], every, delta=False)
    if source is not None:
        lines += ["", "source: identical" if not source else "source:"]
        lines += [fmt(line) for line in source]
    return lines
