"""The store contract.

A store persists runs and answers queries about them. There is one database
implementation (:class:`tracker.store._sql.SQLStore`, for SQLite and PostgreSQL)
and one wrapper (:class:`tracker.store._queued.QueuedStore`) that makes writes
non-blocking and durable through a local spool. Features are written once,
against this contract, never per backend.

Contract:
    * ``write(ops)`` applies the ops in order in one transaction: all or none.
      Applying the same ops again changes nothing (ops carry ids), so a caller may
      retry after any failure.
    * Reads return immutable records (:mod:`tracker.records`); callers may cache them.
    * ``StoreUnavailableError`` means "cannot reach the database now, retry later";
      every other ``StoreError`` is permanent for the given input.
    * Implementations are thread-safe: one store object may be shared by threads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tracker.config import StoreURL
from tracker.records import (
    ArtifactRef,
    CellExecution,
    DataRef,
    Metric,
    ModelVersion,
    RegistryEvent,
    Run,
)
from tracker.store.ops import Op
from tracker.store.query import RunQuery

__all__ = ["BaseStore", "DataUse", "LiveRun"]


@dataclass(frozen=True, slots=True)
class DataUse:
    """Where a data digest was seen: a run logged it, or a cell read or wrote it.

    Attributes:
        run_id: The run (for cells, the session run).
        name: Variable or logged name.
        role: ``"logged"``, ``"input"`` or ``"output"``.
        ref: The data reference.
        cell_record_id: The cell record, for ``input``/``output``.
        timestamp: When it was recorded.
    """

    run_id: str
    name: str
    role: str
    ref: DataRef
    cell_record_id: str | None
    timestamp: float


@dataclass(frozen=True, slots=True)
class LiveRun:
    """A run whose status is still ``running``, with what tells whether its writer lives."""

    run_id: str
    owner: str | None
    heartbeat: float | None
    start_time: float


class BaseStore(ABC):
    """Persistence of runs. See the module docstring for the contract."""

    url: StoreURL

    @abstractmethod
    def write(self, ops: Sequence[Op]) -> None:
        """Apply ``ops`` in order, atomically and idempotently.

        Raises:
            StoreUnavailableError: the database cannot be reached (nothing was written).
            StoreError: an op is invalid for this store (nothing was written).
        """

    @abstractmethod
    def get_run(self, run_id: str, *, with_cells: bool = True) -> Run:
        """The run with this id.

        Raises:
            RunNotFoundError: no such run.
        """

    def get_run_head(self, run_id: str) -> Run:
        """The run's own fields and its logged data, without the rest (one or two queries).

        For reads that pass through runs and need only what a run *is* (kind, name,
        status, times, parent, source, environment, logged data refs): ``tracker.trace``
        and lineage. Tags, params, metrics, attrs, artifacts and cells are left empty
        (``get_run`` has them), and ``nondeterministic`` is not worked out. This default
        reads the whole run; a store that can read less overrides it.

        Raises:
            RunNotFoundError: no such run.
        """
        run = self.get_run(run_id, with_cells=False)
        return replace(
            run, tags={}, params={}, metrics={}, attrs={}, artifacts={}, nondeterministic=False
        )

    @abstractmethod
    def search_runs(self, query: RunQuery) -> list[Run]:
        """Runs matching ``query``, in its order, one page."""

    @abstractmethod
    def count_runs(self, query: RunQuery) -> int:
        """How many runs match ``query``'s conditions (ignoring its page)."""

    def count_runs_bounded(self, query: RunQuery, limit: int) -> tuple[int, bool]:
        """``(n, exact)``: the exact count when at most ``limit`` runs match, else an estimate.

        An exact count of a broad filter walks every match (hundreds of ms at a million
        runs); a table saying "about 67,000" needs only a bound and a sample. A store
        that counts cheaply may always answer exactly (this default does).
        """
        return self.count_runs(query), True

    @abstractmethod
    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every measurement of ``key`` in ``run_id``, by step then time."""

    @abstractmethod
    def get_cells(self, run_id: str) -> list[CellExecution]:
        """Cell records of a session run, in execution order."""

    @abstractmethod
    def data_uses(
        self, digests: Sequence[str], roles: Sequence[str] | None = None
    ) -> list[DataUse]:
        """Every place these digests were recorded, oldest first."""

    @abstractmethod
    def artifacts(
        self,
        *,
        run_id: str | None = None,
        name: str | None = None,
        digests: Sequence[str] | None = None,
    ) -> list[ArtifactRef]:
        """Every artifact record matching all the filters given, oldest first.

        Every record, not only the latest per name (``Run.artifacts`` has those): the
        history of a name, and every run that logged some content (``digests``).
        """

    @abstractmethod
    def referenced_blobs(self) -> dict[str, str]:
        """Digest -> kind of every blob an artifact record names (``tracker gc``)."""

    @abstractmethod
    def get_setting(self, key: str) -> str | None:
        """A store-wide setting (written with the ``SetSetting`` op), or ``None``."""

    # --- the model registry: direct transactions, not ops (tracker/store/_sql/registry.py) ---

    @abstractmethod
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
        """Register the next version of ``name`` (1 for a new name) with its event.

        One transaction: the version and its ``register`` event are written together or
        not at all. Concurrent registrations never share a number.

        Raises:
            StoreUnavailableError: the database cannot be reached (nothing was written).
        """

    @abstractmethod
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
        """Point ``alias`` of ``name`` at ``version`` (``None`` removes it), with its event.

        Raises:
            ModelNotFoundError: no such version (or no such alias to remove); nothing
                was written.
        """

    @abstractmethod
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
        """Record an event that changes nothing else (a refused promotion)."""

    @abstractmethod
    def import_registry(
        self,
        versions: Sequence[ModelVersion],
        aliases: Sequence[tuple[str, str, int]],
        events: Sequence[RegistryEvent],
    ) -> int:
        """Write registry rows as they are (an archive's): idempotent, all or nothing.

        Versions and events already present (same name and version; same event id) are
        kept; an alias already set is left where it is. Returns how many versions were new.

        Raises:
            ValidationError: a version number already taken by other content (nothing is
                written).
        """

    @abstractmethod
    def release_artifacts(self, run_ids: Sequence[str], *, kind: str) -> int:
        """Let ``tracker gc`` collect the blobs of these runs' artifacts of ``kind``.

        The records stay (the run still lists them); a blob another kept record or a
        registered version names stays too. Returns how many records were released.
        """

    @abstractmethod
    def model_versions(self, name: str | None = None) -> list[ModelVersion]:
        """Registered versions (of ``name``, or all), by name then version, aliases filled."""

    @abstractmethod
    def registry_events(self, name: str | None = None) -> list[RegistryEvent]:
        """Registry history (of ``name``, or all), oldest first."""

    @abstractmethod
    def live_runs(self) -> list[LiveRun]:
        """Runs whose status is ``running``."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Kind, redacted URL, schema revision and record counts. Never a password."""

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until earlier writes are in the database. Direct stores are always flushed."""
        return True

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release connections and threads."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url.redacted()!r})"
