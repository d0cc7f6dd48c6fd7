"""Reads that first bring the database up to date with this process's writes.

:class:`QueuedStore` writes in the background; a read that went straight to the
database could miss what the same process logged a moment ago. Every read of the
store contract therefore goes through ``_sync_for_read`` first (flush this process's
queue, replay dead writers' spools now and then) and then to the backend. They live
here, apart from the writer, because each is the same two lines.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from tracker.records import ArtifactRef, CellExecution, Metric, ModelVersion, RegistryEvent, Run
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

    def get_run_head(self, run_id: str) -> Run:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.get_run_head(run_id)

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

    # Registry writes are direct transactions: the run and artifact records they name are
    # flushed first, so a version never points at a run the database does not have yet.

    def register_model_version(
        self,
        name: str,
        *,
        run_id: str,
        model_name: str,
        digest: str,
        sha256: str,
        meta: Mapping[str, Any],
        who: str,
        reason: str | None = None,
    ) -> ModelVersion:
        """Flush, then register (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.register_model_version(
            name,
            run_id=run_id,
            model_name=model_name,
            digest=digest,
            sha256=sha256,
            meta=meta,
            who=who,
            reason=reason,
        )

    def set_model_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        who: str,
        action: str = "set_alias",
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> RegistryEvent:
        """Flush, then move the alias (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.set_model_alias(
            name, alias, version, who=who, action=action, reason=reason, detail=detail
        )

    def add_registry_event(
        self,
        name: str,
        action: str,
        *,
        who: str,
        version: int | None = None,
        alias: str | None = None,
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> RegistryEvent:
        """Flush, then record (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.add_registry_event(
            name, action, who=who, version=version, alias=alias, reason=reason, detail=detail
        )

    def import_registry(
        self,
        versions: Sequence[ModelVersion],
        aliases: Sequence[tuple[str, str, int]],
        events: Sequence[RegistryEvent],
    ) -> int:
        """Flush, then import (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.import_registry(versions, aliases, events)

    def release_artifacts(self, run_ids: Sequence[str], *, kind: str) -> int:
        """Flush, then release (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.release_artifacts(run_ids, kind=kind)

    def model_versions(self, name: str | None = None) -> list[ModelVersion]:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.model_versions(name)

    def registry_events(self, name: str | None = None) -> list[RegistryEvent]:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.registry_events(name)

    def live_runs(self) -> list[LiveRun]:
        """Flush, then read (see :class:`BaseStore`)."""
        self._sync_for_read()
        return self.backend.live_runs()
