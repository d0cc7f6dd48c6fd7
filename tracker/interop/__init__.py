"""Moving in from other trackers: ``tracker import-mlflow`` and :func:`import_mlflow`.

Each importer reads the other tool through its own client (never its private tables), so
whatever that tool's storage (a SQLite database, a ``mlruns`` folder, a tracking server)
the import sees what its users see. It writes through the same ops and validation as
every other write, with ids derived from the source's ids, so importing twice changes
nothing.
"""

from __future__ import annotations

from tracker.interop.mlflow import MlflowImport, import_mlflow

__all__ = ["MlflowImport", "import_mlflow"]
