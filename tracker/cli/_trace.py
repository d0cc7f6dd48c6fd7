"""``tracker trace PATH``: the run or cell that produced a file, and its lineage."""

from __future__ import annotations

import argparse
import sys

from tracker.cli._common import Subparsers, add_command, current_store, dump_json

__all__ = ["register"]


def register(sub: Subparsers) -> None:
    """Add ``trace``."""
    s = add_command(
        sub,
        "trace",
        _cmd_trace,
        help="the run or cell that produced a file (found by content), and its lineage",
        description="Hash PATH by content (as notebook capture and artifacts hash files), find "
        "the runs that logged it as an artifact or data and the tracked cells that wrote it, "
        "and print the lineage of the newest one back to the cells and data files it was made "
        "from. A file no record names prints one line with its digest and exits with status 2.",
        examples=[
            "tracker trace /srv/models/model.joblib",
            "tracker trace data/clean.csv --json",
        ],
    )
    s.add_argument("path", help="the file (or directory) to trace; any copy, under any name")
    s.add_argument("--json", action="store_true", help="the whole trace as JSON")


def _cmd_trace(args: argparse.Namespace) -> int:
    from tracker.tracing import trace

    result = trace(args.path, store=current_store())
    if args.json:
        dump_json(result.to_dict())
    elif result.found:
        print(result)
    else:
        print(f"tracker: {result.headline}", file=sys.stderr)
    return 0 if result.found else 2
