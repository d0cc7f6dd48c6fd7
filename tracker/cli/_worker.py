"""``tracker worker``: join a search study and run its trials (PostgreSQL stores)."""

from __future__ import annotations

import argparse
import sys

from tracker.cli._common import Subparsers, add_command

__all__ = ["register"]


def register(sub: Subparsers) -> None:
    """Add ``worker``."""
    s = add_command(
        sub,
        "worker",
        _cmd_worker,
        help="join a search study and run its trials",
        description="Run trials of a study created by tracker.optimize, from any number of "
        "processes or machines, until the study reaches its trial target.",
        examples=[
            "tracker worker --study churn --store postgresql://me@db/tracker "
            "--objective my_search:objective",
            "tracker worker --study churn --store postgresql://me@db/tracker "
            "--objective my_search:objective --n-trials 20",
        ],
    )
    s.add_argument("--study", required=True, help="the study name given to tracker.optimize")
    s.add_argument(
        "--store", dest="worker_store", help="postgresql://user@host/db (SQLite is refused)"
    )
    s.add_argument("--objective", required=True, help="module:function, e.g. my_search:objective")
    s.add_argument("--n-trials", type=int, help="trials this worker runs at most")
    s.add_argument("--timeout", type=float, help="seconds after which it starts no new trial")


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
