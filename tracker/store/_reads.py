"""Reads that first bring the database up to date with this process's writes.

:class:`QueuedStore` writes in the background; a read that went straight to the
database could miss what the same process logged a moment ago. Every read of the
store contract therefore goes through ``_sync_for_read`` first (flush this process's
queue, replay dead writers' spools now and then) and then to the backend. They live
here, apart from the writer, because each is the same two lines.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

from tracker.records import ArtifactRef, CellExecution, Metric, Run
from tracker.store._base import BaseStore, DataUse, LiveRun
from tracker.store.query import RunQuery

__all__ = ["ReadThrough"]


class ReadThrough(BaseStore):
    """The store contract's reads for a wrapper that must sync before reading.

    Subclasses set ``backend`` and implement ``_sync_for_read``.
    """

    backend: BaseStore

    @abstractmethod
    def _sync_for_read(self) -> None:
        """Make this process's writes (and dead writers' spools) visible to reads."""

    def get_run(self, run_id: str, *, with_cells: bool = True) -> Run:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.get_run(run_id, with_cells=with_cells)

    def search_runs(self, query: RunQuery) -> list[Run]:
        """Flush, then search (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.search_runs(query)

    def count_runs(self, query: RunQuery) -> int:
        """Flush, then count (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.count_runs(query)

    def count_runs_bounded(self, query: RunQuery, limit: int) -> tuple[int, bool]:
        """Flush, then count up to a bound (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.count_runs_bounded(query, limit)

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.metric_history(run_id, key)

    def get_cells(self, run_id: str) -> list[CellExecution]:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.get_cells(run_id)

    def data_uses(
        self, digests: Sequence[str], roles: Sequence[str] | None = None
    ) -> list[DataUse]:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.data_uses(digests, roles)

    def artifacts(
        self,
        *,
        run_id: str | None = None,
        name: str | None = None,
        digests: Sequence[str] | None = None,
    ) -> list[ArtifactRef]:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.artifacts(run_id=run_id, name=name, digests=digests)

    def referenced_blobs(self) -> dict[str, str]:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.referenced_blobs()

    def get_setting(self, key: str) -> str | None:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.get_setting(key)

    def live_runs(self) -> list[LiveRun]:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.live_runs()
