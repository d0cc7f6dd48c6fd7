"""Keeping the store whole and portable: ``tracker sync``, ``export``, ``import``, ``store``."""

from __future__ import annotations

import argparse
import time

from tracker import run as api
from tracker.cli._common import Subparsers, add_command, check_fields, current_store, dump_json
from tracker.store import QueuedStore
from tracker.store.rejected import COMMAND as REJECTED_COMMAND
from tracker.store.rejected import rejected_dir

__all__ = ["register"]


def register(sub: Subparsers) -> None:
    """Add ``sync``, ``export``, ``import`` and ``store``."""
    s = add_command(
        sub,
        "sync",
        _cmd_sync,
        help="write spooled records and staged artifacts, replay dead processes' spools, "
        "mark dead runs",
        examples=["tracker sync", "tracker sync --rejected   # list and retry refused records"],
    )
    s.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the store")
    s.add_argument(
        "--rejected",
        action="store_true",
        help="also list the records the store refused (run, record, error) and retry them; "
        "those that now succeed are removed",
    )

    s = add_command(
        sub,
        "export",
        _cmd_export,
        help="write runs to a portable TinyDB JSON archive",
        examples=[
            "tracker export runs.json",
            'tracker export best.json --filter "metrics.accuracy > 0.95"',
        ],
    )
    s.add_argument("path", help="the archive to write (.json)")
    s.add_argument("--filter", help="only runs matching this filter")

    s = add_command(
        sub,
        "import",
        _cmd_import,
        help="load a TinyDB JSON archive into the store (idempotent)",
        examples=[
            "tracker import runs.json",
            "tracker --store sqlite:///team.db import runs.json",
        ],
    )
    s.add_argument("path", help="an archive written by tracker export")

    s = add_command(
        sub,
        "store",
        _cmd_store,
        help="describe the store: which one, how many runs (never a password)",
        examples=[
            "tracker store",
            "tracker --store postgresql://me@db/tracker store --format json",
        ],
    )
    s.add_argument("--format", choices=["text", "json"], default="text")


def _cmd_sync(args: argparse.Namespace) -> int:
    from tracker.store.artifacts import for_store

    # Staged artifacts first: their records join the queue that sync() then flushes.
    uploads = for_store(api.get_store()).sync()
    stats = api.sync(timeout=args.timeout)
    print(
        f"replayed {stats['replayed_ops']} record(s) from {stats['replayed_files']} spool file(s); "
        f"marked {stats['interrupted']} run(s) interrupted; {stats['pending']} still pending"
    )
    if stats.get("rejected"):
        print(
            f"set aside {stats['rejected']} spooled record(s) this tracker cannot read "
            f"(written by a newer version?): `{REJECTED_COMMAND}` lists them"
        )
    if uploads["uploaded"] or uploads["pending"]:
        print(
            f"uploaded {uploads['uploaded']} staged artifact(s); {uploads['pending']} still "
            "staged" + (f" ({uploads['error']})" if uploads["error"] else "")
        )
    status = 0 if stats["pending"] == 0 and uploads["pending"] == 0 else 1
    if args.rejected:
        return max(status, _sync_rejected())
    store = current_store()
    if isinstance(store, QueuedStore) and (n := store.rejected_count()):
        print(f"{n} record(s) the store refused are kept aside: `{REJECTED_COMMAND}` retries them")
    return status


def _sync_rejected() -> int:
    """List the records the store refused, with what became of retrying each."""
    store = current_store()
    if not isinstance(store, QueuedStore) or store.spool_dir is None:
        print(f"{store.url} has no spool directory: no record is ever set aside")
        return 0
    where = rejected_dir(store.spool_dir)
    outcomes = store.retry_rejected()
    if not outcomes:
        print(f"no record refused by {store.url} is kept in {where}")
        return 0
    print(f"{len(outcomes)} record(s) refused by {store.url}, kept in {where}:")
    for record, error in outcomes:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.time or 0))
        run = f"run {record.run_id}" if record.run_id else "several runs"
        print(
            f"  {when}  {run}  {record.kind}: {'written now' if error is None else 'refused again'}"
        )
        print(f"      {'was refused' if error is None else 'error'}: {error or record.error}")
    left = sum(error is not None for _, error in outcomes)
    print(
        f"written {len(outcomes) - left}; "
        + (
            f"{left} still refused (kept; fix the cause, then run `{REJECTED_COMMAND}` again)"
            if left
            else "none left"
        )
    )
    return 1 if left else 0


def _cmd_export(args: argparse.Namespace) -> int:
    from tracker.store import export_runs

    store = current_store()
    check_fields(store, args.filter, None)
    query = api._build_query(
        args.filter,
        name=None,
        kind=None,
        status=None,
        tags=None,
        params=None,
        metrics=None,
        parent=api.DEFAULT,
        started_after=None,
        started_before=None,
        order_by=None,
        limit=None,
        offset=0,
    )
    n = export_runs(store, args.path, query)
    print(f"exported {n} run(s) to {args.path}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from tracker.store import import_runs

    store = current_store()
    n = import_runs(store, args.path)
    if not store.flush(60.0):
        print(f"imported {n} run(s); some records wait in the spool until the store answers")
        return 1
    print(f"imported {n} run(s) from {args.path} into {store.url}")
    return 0


def _cmd_store(args: argparse.Namespace) -> int:
    info = current_store().describe()
    if args.format == "json":
        dump_json(info)
    else:
        for k, v in info.items():
            print(f"{k:16} {v}")
    return 0
