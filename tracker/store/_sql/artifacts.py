"""Artifact records and store settings in SQL: rows from ops, and the queries.

Kept apart from ``store.py`` so the SQL store only routes to it: the rows
``LogArtifact`` and ``SetSetting`` become (:func:`artifact_row`, :func:`setting_row`), how
a batch writes them (:func:`write_rows`), and the reads the artifact package needs: a
run's artifacts, lookups by name or digest, every referenced digest (``tracker gc``), and
a setting (the artifact root every client shares).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tracker.records import ArtifactRef, from_timestamp
from tracker.store._sql import models as m
from tracker.store.ops import LogArtifact, SetSetting

__all__ = [
    "artifact_row",
    "find_artifacts",
    "get_setting",
    "load_for_runs",
    "referenced_blobs",
    "setting_row",
    "write_rows",
]

_IN_CHUNK = 500


def _chunks(seq: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(seq), _IN_CHUNK):
        yield seq[i : i + _IN_CHUNK]


def artifact_row(op: LogArtifact) -> dict[str, Any]:
    """The ``tracker_artifacts`` row of an op."""
    return {
        "id": op.id,
        "run_id": op.run_id,
        "name": op.name,
        "digest": op.digest,
        "sha256": op.sha256,
        "size": op.size,
        "media_type": op.media_type,
        "kind": op.kind,
        "meta": json.dumps(dict(op.meta), separators=(",", ":"), sort_keys=True),
        "timestamp": op.timestamp,
    }


def setting_row(op: SetSetting) -> dict[str, Any] | None:
    """The ``tracker_settings`` row of an op (``None``: delete the key)."""
    if op.value is None:
        return None
    return {"key": op.key, "value": op.value, "updated": op.timestamp}


def write_rows(
    conn: Connection,
    artifacts: list[dict[str, Any]],
    settings: dict[str, dict[str, Any] | None],
    insert_ignore: Callable[[Connection, sa.Table, list[dict[str, Any]]], None],
    upsert: Callable[[Connection, sa.Table, list[dict[str, Any]], Sequence[str]], None],
) -> None:
    """Write a batch's artifact records (insert once) and settings (last value wins)."""
    insert_ignore(conn, m.artifacts, artifacts)
    gone = [k for k, v in settings.items() if v is None]
    if gone:
        conn.execute(m.settings.delete().where(m.settings.c.key.in_(gone)))
    upsert(conn, m.settings, [v for v in settings.values() if v is not None], ("key",))


def _ref(r: Row[Any]) -> ArtifactRef:
    return ArtifactRef(
        run_id=r.run_id,
        name=r.name,
        digest=r.digest,
        sha256=r.sha256,
        size=int(r.size),
        media_type=r.media_type,
        kind=r.kind,
        created=from_timestamp(r.timestamp),
        meta=json.loads(r.meta) if r.meta else {},
    )


def load_for_runs(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, ArtifactRef]]:
    """Run id -> name -> the latest artifact logged under that name."""
    t = m.artifacts
    out: dict[str, dict[str, ArtifactRef]] = defaultdict(dict)
    for chunk in _chunks(list(ids)):
        rows = conn.execute(
            sa.select(t).where(t.c.run_id.in_(chunk)).order_by(t.c.timestamp, t.c.id)
        )
        for r in rows:
            out[r.run_id][r.name] = _ref(r)  # later rows replace earlier ones
    return out


def find_artifacts(
    conn: Connection,
    *,
    run_id: str | None = None,
    name: str | None = None,
    digests: Sequence[str] | None = None,
) -> list[ArtifactRef]:
    """Every artifact record matching all the given filters, oldest first."""
    t = m.artifacts
    stmt = sa.select(t)
    if run_id is not None:
        stmt = stmt.where(t.c.run_id == run_id)
    if name is not None:
        stmt = stmt.where(t.c.name == name)
    if digests is None:
        return [_ref(r) for r in conn.execute(stmt.order_by(t.c.timestamp, t.c.id))]
    out: list[ArtifactRef] = []
    for chunk in _chunks(list(dict.fromkeys(digests))):
        out += [_ref(r) for r in conn.execute(stmt.where(t.c.digest.in_(chunk)))]
    out.sort(key=lambda a: (a.created, a.run_id, a.name))
    return out


def referenced_blobs(conn: Connection) -> dict[str, str]:
    """Every digest an artifact record or a registered version names, with its kind."""
    t = m.artifacts
    kept = sa.select(t.c.digest, t.c.kind).where(t.c.released.is_(None)).distinct()
    out = {d: k for d, k in conn.execute(kept)}
    # A registered version pins its model's bytes even if the artifact record goes.
    for (d,) in conn.execute(sa.select(m.model_versions.c.digest).distinct()):
        out.setdefault(d, "model")
    return out


def get_setting(conn: Connection, key: str) -> str | None:
    """A store setting's value, or ``None`` when it was never set."""
    t = m.settings
    value = conn.execute(sa.select(t.c.value).where(t.c.key == key)).scalar_one_or_none()
    return None if value is None else str(value)
