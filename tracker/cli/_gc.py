"""``tracker gc``: delete artifact blobs no record references."""

from __future__ import annotations

import argparse

from tracker import run as api
from tracker.cli._common import Subparsers, add_command
from tracker.display import human_bytes

__all__ = ["register"]


def register(sub: Subparsers) -> None:
    """Add ``gc``."""
    s = add_command(
        sub,
        "gc",
        _cmd_gc,
        help="delete artifact blobs no record references (dry run unless --yes)",
        description="List (and with --yes delete) the blobs in the artifact root that no "
        "artifact record of this store names. Blobs younger than --grace hours are kept: a "
        "record naming them may still wait in some client's spool.",
        examples=["tracker gc", "tracker gc --yes --grace 1"],
    )
    s.add_argument("--yes", action="store_true", help="delete them (default: only print)")
    s.add_argument("--grace", type=float, default=24.0, help="hours a new blob is kept (24)")


def _cmd_gc(args: argparse.Namespace) -> int:
    from tracker.store.artifacts import collect_garbage, for_store

    artifacts = for_store(api.get_store())
    report = collect_garbage(artifacts, grace_s=args.grace * 3600.0, delete=args.yes)
    print(
        f"artifact root {report.root}: {report.blobs} blob(s), {report.referenced} referenced, "
        f"{report.young} unreferenced but younger than {args.grace:g} h (kept)"
    )
    for blob in sorted(report.garbage, key=lambda b: b.modified):
        print(f"  {blob.digest}  {human_bytes(blob.size):>9}")
    verb = "freed" if args.yes else "would free"
    print(
        f"{verb} {human_bytes(report.garbage_bytes)} in {len(report.garbage)} blob(s)"
        + (f" and {len(report.temporaries)} stale temporary file(s)" if report.temporaries else "")
        + ("" if args.yes else "; run `tracker gc --yes` to delete them")
    )
    return 0
