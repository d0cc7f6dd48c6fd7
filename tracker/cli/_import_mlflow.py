"""``tracker import-mlflow URI``: move an MLflow tracking store in (idempotent)."""

from __future__ import annotations

import argparse

from tracker.cli._common import Subparsers, add_command, current_store
from tracker.interop import import_mlflow

__all__ = ["register"]


def register(sub: Subparsers) -> None:
    """Add ``import-mlflow``."""
    s = add_command(
        sub,
        "import-mlflow",
        _cmd_import_mlflow,
        help="copy an MLflow tracking store in: experiments, runs, params, metric histories, "
        "tags, artifacts (idempotent; needs mlflow-skinny)",
        examples=[
            "tracker import-mlflow sqlite:///mlflow.db",
            "tracker import-mlflow ./mlruns --experiment churn --no-artifacts",
        ],
    )
    s.add_argument("uri", help="an MLflow tracking URI or a mlruns folder")
    s.add_argument(
        "--experiment",
        action="append",
        dest="experiments",
        help="only this experiment (by name; repeat for several)",
    )
    s.add_argument("--no-artifacts", action="store_true", help="copy runs but not their artifacts")


def _cmd_import_mlflow(args: argparse.Namespace) -> int:
    report = import_mlflow(
        args.uri,
        current_store(),
        experiments=args.experiments,
        artifacts=not args.no_artifacts,
    )
    print(report)
    return 0
