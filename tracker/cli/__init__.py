"""The ``tracker`` command line (also ``python -m tracker``).

``tracker runs [FILTER]``  list runs (filter, sort, page) as a table, ``--json`` or ``--csv``
``tracker show RUN``       one run for a person to read (``--json``: the whole record)
``tracker diff A B``       what differs: params, metrics, data, environment, source
``tracker sync``           write spooled records and staged artifacts, replay dead processes'
                           spools, mark dead runs; ``--rejected`` lists the records the store
                           refused and retries them
``tracker export F``       write runs to a portable TinyDB JSON archive
``tracker import F``       load an archive into the store (idempotent)
``tracker import-mlflow U`` copy an MLflow tracking store in (idempotent)
``tracker store``          describe the store (never shows a password)
``tracker card RUN``       the model card of a run or search (Markdown, HTML or JSON)
``tracker models ...``     the model registry: list, show, promote (gated), alias
``tracker worker``         join a search study and run its trials (PostgreSQL stores)
``tracker gc``             delete artifact blobs no record references (dry run unless --yes)
``tracker trace PATH``     the run or cell that produced a file (by content) and its lineage

Every command takes ``--store URL`` (else ``TRACKER_STORE``, else the project default) and
has ``--help`` with examples. Errors print one line saying what is wrong and what to do,
and exit with status 2; nothing prints a traceback for a user mistake.

Each module registers its commands (``register(sub)``); :data:`COMMANDS` lists them in
the order ``--help`` shows, so a new command is a new module and one line here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from tracker import run as api
from tracker.cli import (
    _card,
    _diff,
    _gc,
    _import_mlflow,
    _maint,
    _models,
    _runs,
    _trace,
    _worker,
)
from tracker.cli._common import Subparsers
from tracker.cli._runs import runs_table
from tracker.display import text_table as format_table
from tracker.exceptions import TrackerError

__all__ = ["COMMANDS", "format_table", "main", "runs_table"]

#: Each registers its commands on the ``tracker`` parser.
COMMANDS: tuple[Callable[[Subparsers], None], ...] = (
    _runs.register,  # runs, show
    _diff.register,  # diff
    _maint.register,  # sync, export, import, store
    _import_mlflow.register,  # import-mlflow
    _card.register,  # card
    _models.register,  # models list/show/promote/alias
    _worker.register,  # worker
    _gc.register,  # gc
    _trace.register,  # trace
)

_EXAMPLES = """examples:
  tracker runs "metrics.accuracy > 0.9" --order-by "metrics.accuracy desc"
  tracker show 3f2a9c1e
  tracker diff 3f2a9c1e 9b0d44aa
  tracker --store postgresql://me@db/tracker runs --json
  tracker COMMAND --help       # each command's options and examples"""


def build_parser() -> argparse.ArgumentParser:
    """The ``tracker`` argument parser with every command of :data:`COMMANDS`."""
    p = argparse.ArgumentParser(
        prog="tracker",
        description="Experiment tracker command line: runs, diffs, sync, archives, cards.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--store", help="store URL or SQLite path (default: $TRACKER_STORE or .tracker/tracker.db)"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    for stream in (sys.stdout, sys.stderr):
        # A Windows console or pipe may use a code page without "→" or "…": print a
        # replacement character rather than fail on a run's name.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    args = build_parser().parse_args(argv)
    try:
        if args.store and args.command != "worker":
            api.set_store(args.store)
        status: int = args.handler(args)
        return status
    except TrackerError as exc:
        print(f"tracker: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `tracker runs | head`
        return 0
