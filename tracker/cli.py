"""The ``tracker`` command line.

``tracker runs``      list runs (filter, sort, page) as a table, JSON or CSV
``tracker show RUN``  one run in full
``tracker sync``      write spooled records and staged artifacts, replay dead processes' spools,
                      mark dead runs; ``--rejected`` lists the records the store refused and
                      retries them
``tracker export F``  write runs to a portable TinyDB JSON archive
``tracker import F``  load an archive into the store (idempotent)
``tracker store``     describe the store (never shows a password)
``tracker card RUN``  the model card of a run or search (Markdown, HTML or JSON)
``tracker worker``    join a search study and run its trials (PostgreSQL stores)
``tracker gc``        delete artifact blobs no record references (dry run unless --yes)

Every command takes ``--store URL`` (else ``TRACKER_STORE``, else the project default).
Errors print one line saying what to do and exit with status 2; nothing prints a traceback
for a user mistake.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from tracker import run as api
from tracker.exceptions import TrackerError
from tracker.records import Run, float_to_json
from tracker.store import QueuedStore
from tracker.store.rejected import COMMAND as REJECTED_COMMAND
from tracker.store.rejected import rejected_dir

__all__ = ["format_table", "main"]

Handler = Callable[[argparse.Namespace], int]


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(float_to_json(value))
        return f"{value:.6g}"
    return str(value)


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str], max_width: int = 40) -> str:
    """A plain-text table with aligned columns (cells cut at ``max_width``)."""
    text = [[_fmt(v) for v in row] for row in rows]
    text = [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in row] for row in text]
    widths = [len(h) for h in headers]
    for row in text:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in text]
    return "\n".join([line, sep, *body])


def runs_table(runs: Sequence[Run], max_keys: int = 6) -> str:
    """Runs as a table: id, name, status, start, duration, then params and metrics columns."""
    pkeys = sorted({k for r in runs for k in r.params})[:max_keys]
    mkeys = sorted({k for r in runs for k in r.metrics})[:max_keys]
    headers = ["id", "name", "kind", "status", "started", "secs"]
    headers += [f"p.{k}" for k in pkeys] + [f"m.{k}" for k in mkeys]
    rows = []
    for r in runs:
        row: list[Any] = [
            r.id[:8],
            r.name + (" (!)" if r.nondeterministic else ""),
            r.kind.value,
            r.status.value,
            r.start_time.strftime("%Y-%m-%d %H:%M:%S"),
            round(r.duration_s, 3) if r.duration_s is not None else None,
        ]
        row += [r.params.get(k) for k in pkeys] + [r.metrics.get(k) for k in mkeys]
        rows.append(row)
    return format_table(rows, headers)


def _cmd_runs(args: argparse.Namespace) -> int:
    runs = api.search_runs(
        args.filter,
        order_by=args.order_by,
        limit=args.limit,
        offset=args.offset,
        kind=args.kind,
    )
    if args.format == "json":
        json.dump([r.to_dict(include_cells=False) for r in runs], sys.stdout, indent=1)
        print()
    elif args.format == "csv":
        frame = api.runs_frame(
            args.filter, order_by=args.order_by, limit=args.limit, kind=args.kind
        )
        frame.to_csv(sys.stdout, index=False)
    else:
        print(runs_table(runs) if runs else "no runs match")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    matches = (
        [r for r in api.search_runs(f"id like '{args.run}%'", limit=2)]
        if len(args.run) < 32
        else []
    )
    run = api.get_run(matches[0].id if len(matches) == 1 else args.run)
    json.dump(run.to_dict(), sys.stdout, indent=1)
    print()
    return 0


def _cmd_sync(args: argparse.Namespace) -> int:
    from tracker.store.artifacts import for_store

    # Staged artifacts first: their records join the queue that sync() then flushes.
    uploads = for_store(api.get_store()).sync()
    stats = api.sync(timeout=args.timeout)
    print(
        f"replayed {stats['replayed_ops']} record(s) from {stats['replayed_files']} spool file(s); "
        f"marked {stats['interrupted']} run(s) interrupted; {stats['pending']} still pending"
    )
    if uploads["uploaded"] or uploads["pending"]:
        print(
            f"uploaded {uploads['uploaded']} staged artifact(s); {uploads['pending']} still "
            "staged" + (f" ({uploads['error']})" if uploads["error"] else "")
        )
    status = 0 if stats["pending"] == 0 and uploads["pending"] == 0 else 1
    if args.rejected:
        return max(status, _sync_rejected())
    store = api.get_store()
    if isinstance(store, QueuedStore) and (n := store.rejected_count()):
        print(f"{n} record(s) the store refused are kept aside: `{REJECTED_COMMAND}` retries them")
    return status


def _sync_rejected() -> int:
    """List the records the store refused, with what became of retrying each."""
    store = api.get_store()
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


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover - the loop returns


def _cmd_gc(args: argparse.Namespace) -> int:
    from tracker.store.artifacts import collect_garbage, for_store

    artifacts = for_store(api.get_store())
    report = collect_garbage(artifacts, grace_s=args.grace * 3600.0, delete=args.yes)
    print(
        f"artifact root {report.root}: {report.blobs} blob(s), {report.referenced} referenced, "
        f"{report.young} unreferenced but younger than {args.grace:g} h (kept)"
    )
    for blob in sorted(report.garbage, key=lambda b: b.modified):
        print(f"  {blob.digest}  {_size(blob.size):>9}")
    verb = "freed" if args.yes else "would free"
    print(
        f"{verb} {_size(report.garbage_bytes)} in {len(report.garbage)} blob(s)"
        + (f" and {len(report.temporaries)} stale temporary file(s)" if report.temporaries else "")
        + ("" if args.yes else "; run `tracker gc --yes` to delete them")
    )
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from tracker.store import export_runs

    store = api.get_store()
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

    store = api.get_store()
    n = import_runs(store, args.path)
    if not store.flush(60.0):
        print(f"imported {n} run(s); some records wait in the spool until the store answers")
        return 1
    print(f"imported {n} run(s) from {args.path} into {store.url}")
    return 0


def _cmd_store(args: argparse.Namespace) -> int:
    info = api.get_store().describe()
    if args.format == "json":
        json.dump(info, sys.stdout, indent=1, default=str)
        print()
    else:
        for k, v in info.items():
            print(f"{k:16} {v}")
    return 0


def _cmd_card(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tracker.cards import FORMATS, build_card, read_card_file
    from tracker.exceptions import ValidationError

    sections: dict[str, str] = {}
    for item in args.section or []:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValidationError(f"--section takes KEY=TEXT, got {item!r}")
        sections[key.strip()] = text
    fmt = args.format
    out = Path(args.output) if args.output else None
    if out is not None:
        by_ext = FORMATS.get(out.suffix.lower())
        if by_ext is None:
            raise ValidationError(
                f"cannot tell the format of {str(out)!r}: end it with {', '.join(sorted(FORMATS))}"
            )
        if fmt is not None and fmt != by_ext:
            raise ValidationError(
                f"--format {fmt} does not match the extension of {str(out)!r}; drop one of them"
            )
        fmt = by_ext
    fmt = fmt or "md"
    from_file = args.sections_from
    # Regenerating over an edited card keeps the person's text: read it back first.
    editable = out is not None and out.suffix.lower() in (".md", ".markdown", ".json")
    if from_file is None and out is not None and editable and out.is_file():
        try:
            if not out.is_symlink() and read_card_file(out).run_id is not None:
                from_file = str(out)
        except ValidationError:
            pass  # not a card: save() refuses to replace it below
    card = build_card(
        args.run,
        store=api.get_store(),
        from_file=from_file,
        include_source=args.include_source,
        sections=sections,
    )
    if out is None:
        sys.stdout.write(card.render(fmt))
        return 0
    path = card.save(out, overwrite=args.force)
    kept = [k for k, v in card.sections.items() if v]
    print(
        f"wrote {fmt} model card of run {card.run_id} to {path}"
        + (f" (kept {len(kept)} human section(s))" if kept else "")
        + (f"; {len(card.needs_input)} section(s) need input" if card.needs_input else "")
    )
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    # Imported here: the worker pulls in optuna, which no other command needs.
    from tracker.tuning.worker import run_worker

    store = args.store or args.worker_store
    if not store:
        print(
            "tracker: error: --store postgresql://user@host/db is required: the database "
            "holding the study and the tracker records",
            file=sys.stderr,
        )
        return 2
    report = run_worker(
        args.study,
        store,
        args.objective,
        n_trials=args.n_trials,
        timeout=args.timeout,
    )
    target = f" of {report.target}" if report.target is not None else ""
    sampler = f" with {report.sampler.name}" if report.sampler else ""
    print(
        f"worker ran {report.n_trials} trial(s){sampler}; study {report.study_name!r} has "
        f"{report.n_study_trials}{target} finished trial(s)"
    )
    return 0


def _parser() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    p = argparse.ArgumentParser(prog="tracker", description="Experiment tracker command line")
    p.add_argument(
        "--store", help="store URL or SQLite path (default: $TRACKER_STORE or .tracker/tracker.db)"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    handlers: dict[str, Handler] = {}

    s = sub.add_parser("runs", help="list runs")
    s.add_argument(
        "filter", nargs="?", help="e.g. \"metrics.accuracy > 0.9 and params.kernel = 'rbf'\""
    )
    s.add_argument("--order-by", action="append", help="e.g. 'metrics.accuracy desc' (repeatable)")
    s.add_argument("--limit", type=int, default=50)
    s.add_argument("--offset", type=int, default=0)
    s.add_argument("--kind", help="run, session, cell, search or trial")
    s.add_argument("--format", choices=["table", "json", "csv"], default="table")
    handlers["runs"] = _cmd_runs

    s = sub.add_parser("show", help="one run in full, as JSON")
    s.add_argument("run", help="run id (or a unique prefix)")
    handlers["show"] = _cmd_show

    s = sub.add_parser("sync", help="write spooled records and replay dead processes' spools")
    s.add_argument("--timeout", type=float, default=60.0)
    s.add_argument(
        "--rejected",
        action="store_true",
        help="also list the records the store refused (run, record, error) and retry them; "
        "those that now succeed are removed",
    )
    handlers["sync"] = _cmd_sync

    s = sub.add_parser("export", help="write runs to a TinyDB JSON archive")
    s.add_argument("path")
    s.add_argument("--filter", help="only runs matching this filter")
    handlers["export"] = _cmd_export

    s = sub.add_parser("import", help="load a TinyDB JSON archive (idempotent)")
    s.add_argument("path")
    handlers["import"] = _cmd_import

    s = sub.add_parser("store", help="describe the store")
    s.add_argument("--format", choices=["text", "json"], default="text")
    handlers["store"] = _cmd_store

    s = sub.add_parser("card", help="the model card of a run or search")
    s.add_argument("run", help="run or search id (or a unique prefix)")
    s.add_argument("--format", choices=["md", "html", "json"], help="default: from -o, else md")
    s.add_argument("-o", "--output", help="write here (.md, .html, .json); default: stdout")
    s.add_argument(
        "--section",
        action="append",
        metavar="KEY=TEXT",
        help="set a human section, e.g. intended_use='Triage' (repeatable; stored on the run)",
    )
    s.add_argument("--sections-from", help="read human sections from an edited .md/.json card")
    s.add_argument("--include-source", action="store_true", help="add the lineage cells' code")
    s.add_argument(
        "--force", action="store_true", help="replace a file that is not a card of this run"
    )
    handlers["card"] = _cmd_card
    s = sub.add_parser(
        "worker",
        help="join a search study and run its trials",
        description="Run trials of a study created by tracker.optimize, from any number of "
        "processes or machines, until the study reaches its trial target.",
    )
    s.add_argument("--study", required=True, help="the study name given to tracker.optimize")
    s.add_argument(
        "--store", dest="worker_store", help="postgresql://user@host/db (SQLite is refused)"
    )
    s.add_argument("--objective", required=True, help="module:function, e.g. my_search:objective")
    s.add_argument("--n-trials", type=int, help="trials this worker runs at most")
    s.add_argument("--timeout", type=float, help="seconds after which it starts no new trial")
    handlers["worker"] = _cmd_worker
    _add_gc(sub, handlers)
    return p, handlers


def _add_gc(sub: Any, handlers: dict[str, Handler]) -> None:
    s = sub.add_parser(
        "gc",
        help="delete artifact blobs no record references (dry run unless --yes)",
        description="List (and with --yes delete) the blobs in the artifact root that no "
        "artifact record of this store names. Blobs younger than --grace hours are kept: a "
        "record naming them may still wait in some client's spool.",
    )
    s.add_argument("--yes", action="store_true", help="delete them (default: only print)")
    s.add_argument("--grace", type=float, default=24.0, help="hours a new blob is kept (24)")
    handlers["gc"] = _cmd_gc


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser, handlers = _parser()
    args = parser.parse_args(argv)
    try:
        if args.store and args.command != "worker":
            api.set_store(args.store)
        return handlers[args.command](args)
    except TrackerError as exc:
        print(f"tracker: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `tracker runs | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
