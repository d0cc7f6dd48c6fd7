"""The model registry in SQL: versions, aliases and their history, one transaction each.

Registry writes do not go through ops and the spool like run records: the caller needs
the answer (the new version number, whether the version exists) before it returns, and
each change must land whole with its event or not at all. So each is one transaction on
the database, and an unreachable database raises ``StoreUnavailableError`` (nothing is
half-written; the caller retries).

Version numbers are ``max(version) + 1`` of the name, read and inserted in one
transaction. Two clients registering at once on PostgreSQL can read the same maximum;
the primary key (name, version) then refuses the second insert, and :meth:`register`
retries with a fresh read (:data:`_RETRIES` times). SQLite serialises writers, so it
never gets there.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from tracker.exceptions import ModelNotFoundError, StoreError, ValidationError
from tracker.records import ModelVersion, RegistryEvent, from_timestamp
from tracker.store._sql import models as m

__all__ = ["RegistryMixin"]

_RETRIES = 20


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)


def _version(r: Any, aliases: tuple[str, ...]) -> ModelVersion:
    return ModelVersion(
        name=r.name,
        version=int(r.version),
        run_id=r.run_id,
        model_name=r.model_name,
        digest=r.digest,
        sha256=r.sha256,
        created=from_timestamp(r.created),
        created_by=r.created_by,
        aliases=aliases,
        meta=json.loads(r.meta) if r.meta else {},
    )


def _event(r: Any) -> RegistryEvent:
    return RegistryEvent(
        id=r.id,
        name=r.name,
        action=r.action,
        version=None if r.version is None else int(r.version),
        alias=r.alias,
        previous=None if r.previous is None else int(r.previous),
        who=r.who,
        timestamp=from_timestamp(r.timestamp),
        reason=r.reason,
        detail=json.loads(r.detail) if r.detail else {},
    )


def _version_row(v: ModelVersion) -> dict[str, Any]:
    return {
        "name": v.name,
        "version": v.version,
        "run_id": v.run_id,
        "model_name": v.model_name,
        "digest": v.digest,
        "sha256": v.sha256,
        "meta": _dumps(dict(v.meta)),
        "created": v.created.timestamp(),
        "created_by": v.created_by,
    }


def _event_row(ev: RegistryEvent) -> dict[str, Any]:
    return {
        "id": ev.id,
        "name": ev.name,
        "action": ev.action,
        "version": ev.version,
        "alias": ev.alias,
        "previous": ev.previous,
        "who": ev.who,
        "timestamp": ev.timestamp.timestamp(),
        "reason": ev.reason,
        "detail": _dumps(dict(ev.detail)),
    }


def _insert_event(conn: Connection, **fields: Any) -> RegistryEvent:
    row = {
        "id": uuid.uuid4().hex,
        "timestamp": time.time(),
        "version": None,
        "alias": None,
        "previous": None,
        "reason": None,
        **fields,
    }
    row["detail"] = _dumps(dict(fields.get("detail") or {}))
    conn.execute(sa.insert(m.registry_events), [row])
    return _event(_RowLike(row))


class _RowLike:
    """A row dict seen with attribute access (to build the event just inserted)."""

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.__dict__.update(row)


def _versions_of(conn: Connection, name: str) -> list[int]:
    t = m.model_versions
    return [int(v) for v in conn.execute(sa.select(t.c.version).where(t.c.name == name)).scalars()]


def _missing(conn: Connection, name: str, version: int) -> ModelNotFoundError:
    known = sorted(_versions_of(conn, name))
    if not known:
        names = sorted(
            {str(n) for n in conn.execute(sa.select(m.model_versions.c.name).distinct()).scalars()}
        )
        listing = f"registered models: {', '.join(names[:20])}" if names else "none is registered"
        return ModelNotFoundError(
            f"no registered model named {name!r} ({listing}); register one with "
            "tracker.register_model(model_ref, name)"
        )
    return ModelNotFoundError(
        f"{name!r} has no version {version}; its versions are "
        f"{', '.join(str(v) for v in known[-20:])}"
    )


class RegistryMixin:
    """The registry part of the store contract, for :class:`~tracker.store.SQLStore`."""

    _conn: Callable[..., AbstractContextManager[Connection]]

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
        """Register the next version of ``name`` (see :class:`~tracker.store.BaseStore`)."""
        t = m.model_versions
        for attempt in range(_RETRIES):
            try:
                with self._conn(write=True) as conn:
                    top = conn.execute(
                        sa.select(sa.func.max(t.c.version)).where(t.c.name == name)
                    ).scalar_one_or_none()
                    row = {
                        "name": name,
                        "version": int(top or 0) + 1,
                        "run_id": run_id,
                        "model_name": model_name,
                        "digest": digest,
                        "sha256": sha256,
                        "meta": _dumps(dict(meta)),
                        "created": time.time(),
                        "created_by": who,
                    }
                    conn.execute(sa.insert(t), [row])
                    _insert_event(
                        conn,
                        name=name,
                        action="register",
                        version=row["version"],
                        who=who,
                        reason=reason,
                        detail={"source": f"runs:/{run_id}/{model_name}", "digest": digest},
                    )
                return _version(_RowLike(row), ())
            except StoreError as exc:
                # Another client took this number between our read and our insert.
                if not isinstance(exc.__cause__, sa_exc.IntegrityError):
                    raise
                time.sleep(0.005 * (attempt + 1))
        raise StoreError(
            f"could not register a version of {name!r}: {_RETRIES} concurrent registrations "
            "took every number this client tried; try again"
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
        """Point ``alias`` at ``version`` (see :class:`~tracker.store.BaseStore`)."""
        t = m.model_aliases
        with self._conn(write=True) as conn:
            where = (t.c.name == name) & (t.c.alias == alias)
            previous = conn.execute(sa.select(t.c.version).where(where)).scalar_one_or_none()
            if version is None:
                if previous is None:
                    raise ModelNotFoundError(f"{name!r} has no alias {alias!r}; nothing to remove")
                conn.execute(sa.delete(t).where(where))
                action = "remove_alias"
            else:
                if version not in _versions_of(conn, name):
                    raise _missing(conn, name, version)
                conn.execute(sa.delete(t).where(where))
                conn.execute(
                    sa.insert(t),
                    [{"name": name, "alias": alias, "version": version, "updated": time.time()}],
                )
            return _insert_event(
                conn,
                name=name,
                action=action,
                version=version if version is not None else previous,
                alias=alias,
                previous=previous,
                who=who,
                reason=reason,
                detail=detail,
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
        """Record an event that changes nothing else (see :class:`~tracker.store.BaseStore`)."""
        a = m.model_aliases
        with self._conn(write=True) as conn:
            previous = None
            if alias is not None:
                previous = conn.execute(
                    sa.select(a.c.version).where((a.c.name == name) & (a.c.alias == alias))
                ).scalar_one_or_none()
            return _insert_event(
                conn,
                name=name,
                action=action,
                version=version,
                alias=alias,
                previous=previous,
                who=who,
                reason=reason,
                detail=detail,
            )

    def import_registry(
        self,
        versions: Sequence[ModelVersion],
        aliases: Sequence[tuple[str, str, int]],
        events: Sequence[RegistryEvent],
    ) -> int:
        """Write an archive's registry rows (see :class:`~tracker.store.BaseStore`)."""
        t, a, e = m.model_versions, m.model_aliases, m.registry_events
        new = 0
        with self._conn(write=True) as conn:
            have = {
                (r.name, int(r.version)): r.digest
                for r in conn.execute(sa.select(t.c.name, t.c.version, t.c.digest))
            }
            clash = [v for v in versions if have.get((v.name, v.version), v.digest) != v.digest]
            if clash:
                raise ValidationError(
                    f"this store's {clash[0].uri} is another model (digest "
                    f"{have[(clash[0].name, clash[0].version)]}, the archive's {clash[0].digest}); "
                    "import the archive into a store without that registered model, or rename it"
                )
            rows = [_version_row(v) for v in versions if (v.name, v.version) not in have]
            if rows:
                conn.execute(sa.insert(t), rows)
            new = len(rows)
            known = {(r.name, r.alias) for r in conn.execute(sa.select(a.c.name, a.c.alias))}
            versions_now = set(have) | {(v.name, v.version) for v in versions}
            alias_rows = [
                {"name": n, "alias": al, "version": ver, "updated": time.time()}
                for n, al, ver in aliases
                if (n, al) not in known and (n, ver) in versions_now
            ]
            if alias_rows:
                conn.execute(sa.insert(a), alias_rows)
            ids = {str(i) for i in conn.execute(sa.select(e.c.id)).scalars()}
            event_rows = [_event_row(ev) for ev in events if ev.id not in ids]
            if event_rows:
                conn.execute(sa.insert(e), event_rows)
        return new

    def release_artifacts(self, run_ids: Sequence[str], *, kind: str) -> int:
        """Mark artifact records collectable (see :class:`~tracker.store.BaseStore`)."""
        t = m.artifacts
        ids = list(dict.fromkeys(run_ids))
        done = 0
        with self._conn(write=True) as conn:
            for i in range(0, len(ids), 500):  # IN lists stay below every driver's limit
                where = t.c.run_id.in_(ids[i : i + 500]) & (t.c.kind == kind)
                result = conn.execute(
                    sa.update(t).where(where & t.c.released.is_(None)).values(released=time.time())
                )
                done += int(result.rowcount or 0)
        return done

    def model_versions(self, name: str | None = None) -> list[ModelVersion]:
        """Registered versions (see :class:`~tracker.store.BaseStore`)."""
        t, a = m.model_versions, m.model_aliases
        with self._conn(write=False) as conn:
            stmt = sa.select(t)
            astmt = sa.select(a)
            if name is not None:
                stmt = stmt.where(t.c.name == name)
                astmt = astmt.where(a.c.name == name)
            aliases: dict[tuple[str, int], list[str]] = {}
            for r in conn.execute(astmt.order_by(a.c.alias)):
                aliases.setdefault((r.name, int(r.version)), []).append(r.alias)
            rows = conn.execute(stmt.order_by(t.c.name, t.c.version)).all()
        return [_version(r, tuple(aliases.get((r.name, int(r.version)), ()))) for r in rows]

    def registry_events(self, name: str | None = None) -> list[RegistryEvent]:
        """Registry history, oldest first (see :class:`~tracker.store.BaseStore`)."""
        t = m.registry_events
        stmt = sa.select(t)
        if name is not None:
            stmt = stmt.where(t.c.name == name)
        with self._conn(write=False) as conn:
            return [_event(r) for r in conn.execute(stmt.order_by(t.c.timestamp, t.c.id))]
