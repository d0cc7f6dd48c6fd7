"""``tracker runs`` and ``tracker show RUN``: which runs, and one run in full.

``runs`` prints a filtered table, JSON or CSV; ``show`` prints one run for a person to
read, or as JSON.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from tracker import run as api
from tracker.cli._common import (
    Subparsers,
    add_command,
    check_fields,
    current_store,
    dump_json,
    resolve_run,
    track_cell,
)
from tracker.display import clip, fmt, human_bytes, text_table
from tracker.records import CellExecution, Environment, Run
from tracker.run import RunList
from tracker.store.query import Condition, RunQuery

__all__ = ["register"]


def register(sub: Subparsers) -> None:
    """Add ``runs`` and ``show``."""
    s = add_command(
        sub,
        "runs",
        _cmd_runs,
        help="list runs: a table, JSON or CSV, filtered and sorted",
        description="List runs, newest first. FILTER is a conjunction of comparisons on "
        "name, status, kind, notes, parent_id, start_time, end_time, params.KEY, "
        "metrics.KEY and tags.KEY (= != < <= > >= like ilike in, not in, is null).",
        examples=[
            "tracker runs",
            "tracker runs \"metrics.accuracy > 0.9 and params.kernel = 'rbf'\"",
            "tracker runs --order-by 'metrics.accuracy desc' --limit 5",
            "tracker runs \"status = 'failed'\" --json",
            "tracker runs --kind trial --csv > trials.csv",
        ],
    )
    s.add_argument("filter", nargs="?", help='which runs, e.g. "metrics.accuracy > 0.9"')
    s.add_argument("--order-by", action="append", help="e.g. 'metrics.accuracy desc' (repeatable)")
    s.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    s.add_argument("--offset", type=int, default=0, help="skip this many first")
    s.add_argument("--kind", help="run, session, cell, search or trial")
    out = s.add_mutually_exclusive_group()
    out.add_argument("--format", choices=["table", "json", "csv"], default="table")
    out.add_argument(
        "--json", dest="format", action="store_const", const="json", help="same as --format json"
    )
    out.add_argument(
        "--csv", dest="format", action="store_const", const="csv", help="same as --format csv"
    )

    s = add_command(
        sub,
        "show",
        _cmd_show,
        help="one run in full: params, metrics, data, environment, cells",
        examples=["tracker show 3f2a9c1e", "tracker show 3f2a9c1e --json | jq .metrics"],
    )
    s.add_argument("run", help="run id (or a unique prefix)")
    s.add_argument("--json", action="store_true", help="the whole record as JSON")


def _cmd_runs(args: argparse.Namespace) -> int:
    check_fields(current_store(), args.filter, args.order_by)
    runs = api.search_runs(
        args.filter,
        order_by=args.order_by,
        limit=args.limit,
        offset=args.offset,
        kind=args.kind,
    )
    if args.format == "json":
        dump_json([r.to_dict(include_cells=False) for r in runs])
    elif args.format == "csv":
        frame = api.runs_frame(
            args.filter, order_by=args.order_by, limit=args.limit, kind=args.kind
        )
        frame.to_csv(sys.stdout, index=False)
    else:
        print(runs.to_text() if runs else "no runs match")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    store = current_store()
    run = resolve_run(store, args.run)
    if args.json:
        dump_json(run.to_dict())
        return 0
    children = store.count_runs(RunQuery(conditions=(Condition("parent_id", "=", run.id),)))
    print("\n".join(describe(run, children, track_cell(store, run))))
    return 0


def _pairs(rows: Iterable[tuple[str, Any]], indent: str = "  ") -> list[str]:
    rows = [(k, v) for k, v in rows if v is not None and v != ""]
    width = max((len(k) for k, _ in rows), default=0)
    return [f"{indent}{k.ljust(width)}  {clip(fmt(v), 100)}" for k, v in rows]


def _section(title: str, lines: Sequence[str]) -> list[str]:
    return ["", title, *lines] if lines else []


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> list[str]:
    return ["  " + line for line in text_table(rows, headers).splitlines()] if rows else []


def _environment(env: Environment | None) -> list[str]:
    if env is None:
        return []
    git = None
    if env.git_commit:
        git = env.git_commit[:12] + (" (uncommitted changes)" if env.git_dirty else "")
    hw = env.hardware
    hardware = ", ".join(
        str(x)
        for x in (
            hw.get("cpu"),
            f"{hw['logical_cores']} cores" if hw.get("logical_cores") else None,
            f"{hw['memory_gb']} GB" if hw.get("memory_gb") else None,
        )
        if x
    )
    packages = ", ".join(f"{k} {v}" for k, v in sorted(env.packages.items()))
    return _pairs(
        [
            ("python", f"{env.python} ({env.implementation})"),
            ("platform", env.platform),
            ("host", env.hostname),
            ("git", git),
            ("hardware", hardware),
            ("packages", packages),
        ]
    )


def _cells(cells: Sequence[CellExecution]) -> list[str]:
    rows = [
        (
            f"#{c.seq}",
            f"[{c.execution_count}]" if c.execution_count is not None else "",
            c.status + (" (!)" if c.nondeterministic else ""),
            f"{c.duration_ms:.0f} ms",
            f"+{c.peak_memory_mb:.0f} MB" if c.peak_memory_mb is not None else "",
            clip(c.source, 60),
        )
        for c in cells
    ]
    return _table(rows, ["cell", "in", "status", "time", "peak mem", "source"])


def _children(run_id: str, n: int) -> str | None:
    return f"{n}: tracker runs \"parent_id = '{run_id}'\"" if n else None


def describe(run: Run, children: int = 0, cell: CellExecution | None = None) -> list[str]:
    """``run`` as lines for a person: what it is, its figures, data, environment, cells."""
    secs = run.duration_s
    head = [
        f"{run.kind.value} {run.id}  {run.name!r}",
        *_pairs(
            [
                ("status", run.status.value),
                ("outcome", "nondeterministic" if run.nondeterministic else None),
                ("started", f"{run.start_time:%Y-%m-%d %H:%M:%S} UTC"),
                ("duration", f"{secs:.3f} s" if secs is not None else "still running"),
                ("parent", run.parent_id),
                ("notebook", run.source.notebook),
                ("cell id", run.source.cell_id),
                ("script", run.source.script),
                (
                    "children",
                    f"{children}: tracker runs \"parent_id = '{run.id}'\"" if children else None,
                ),
            ]
        ),
    ]
    data = [
        (
            name,
            ref.kind,
            ref.shape_text,
            ref.rows,
            f"{ref.algorithm}:{ref.short}",
            human_bytes(ref.nbytes),
            "partial" if ref.partial else "",
        )
        for name, ref in run.data.items()
    ]
    err = run.error
    lines = head
    lines += _section("params", _pairs(run.params.items()))
    lines += _section("metrics", _pairs(run.metrics.items()))
    lines += _section("tags", _pairs(run.tags.items()))
    lines += _section(
        "data", _table(data, ["name", "kind", "shape", "rows", "digest", "hashed", "partial"])
    )
    lines += _section("error", [f"  {err.type}: {clip(err.message, 200)}"] if err else [])
    lines += _section("notes", [f"  {line}" for line in run.notes.splitlines()])
    lines += _section("environment", _environment(run.environment))
    if cell is not None:
        lines += _section(
            f"source (cell #{cell.seq})", [f"  {line}" for line in cell.source.splitlines()]
        )
    lines += _section(f"cells ({len(run.cells)})" if run.cells else "cells", _cells(run.cells))
    return lines


def runs_table(runs: Sequence[Run]) -> str:
    """Runs as an aligned text table (what ``tracker runs`` prints)."""
    return RunList(runs).to_text()
