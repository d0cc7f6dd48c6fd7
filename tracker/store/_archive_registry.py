"""The model registry in archives: the versions of exported runs, their aliases, history.

An archive (:mod:`tracker.store.archive`) holds runs; their registered versions go with
them in a ``registry`` table, one document per version, alias and event:

* ``{"type": "version", "name", "version", "run_id", "model_name", "digest", "sha256",
  "meta", "created", "created_by"}`` for every version whose run is exported;
* ``{"type": "alias", "name", "alias", "version"}`` for aliases pointing at those;
* ``{"type": "event", "id", "name", "action", "version", "alias", "previous", "who",
  "timestamp", "reason", "detail"}`` for every event of those models' names.

Importing writes them as they are, version numbers included, after the runs
(:meth:`~tracker.store.BaseStore.import_registry`): importing twice changes nothing, and
a version number the target store already uses for other content refuses the import.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tracker.exceptions import ValidationError
from tracker.records import ModelVersion, RegistryEvent, from_timestamp, to_timestamp
from tracker.store._base import BaseStore

__all__ = ["Registry", "check_registry", "read_registry", "registry_docs"]

Registry = tuple[list[ModelVersion], list[tuple[str, str, int]], list[RegistryEvent]]


def registry_docs(store: BaseStore, run_ids: set[str]) -> list[dict[str, Any]]:
    """The registry documents of the exported runs, in a stable order."""
    versions = [v for v in store.model_versions() if v.run_id in run_ids]
    names = sorted({v.name for v in versions})
    out: list[dict[str, Any]] = []
    for v in versions:
        out.append(
            {
                "type": "version",
                "name": v.name,
                "version": v.version,
                "run_id": v.run_id,
                "model_name": v.model_name,
                "digest": v.digest,
                "sha256": v.sha256,
                "meta": dict(v.meta),
                "created": to_timestamp(v.created),
                "created_by": v.created_by,
            }
        )
        out += [
            {"type": "alias", "name": v.name, "alias": a, "version": v.version} for a in v.aliases
        ]
    for name in names:
        for e in store.registry_events(name):
            doc = e.to_dict()
            doc.update({"type": "event", "timestamp": to_timestamp(e.timestamp)})
            out.append(doc)
    return out


def _version(d: Mapping[str, Any]) -> ModelVersion:
    return ModelVersion(
        name=str(d["name"]),
        version=int(d["version"]),
        run_id=str(d["run_id"]),
        model_name=str(d["model_name"]),
        digest=str(d["digest"]),
        sha256=str(d["sha256"]),
        created=from_timestamp(float(d["created"])),
        created_by=str(d["created_by"]),
        meta=dict(d.get("meta") or {}),
    )


def _event(d: Mapping[str, Any]) -> RegistryEvent:
    def opt_int(v: Any) -> int | None:
        return None if v is None else int(v)

    return RegistryEvent(
        id=str(d["id"]),
        name=str(d["name"]),
        action=str(d["action"]),
        version=opt_int(d.get("version")),
        alias=d.get("alias"),
        previous=opt_int(d.get("previous")),
        who=str(d["who"]),
        timestamp=from_timestamp(float(d["timestamp"])),
        reason=d.get("reason"),
        detail=dict(d.get("detail") or {}),
    )


def read_registry(path: Path) -> Registry:
    """The registry of an archive, checked (empty for archives without one).

    Raises:
        ValidationError: a malformed document (names it).
    """
    with open(path, encoding="utf-8") as fh:
        raw = json.load(fh)
    table = raw.get("registry") if isinstance(raw, dict) else None
    docs: Sequence[Any] = [table[k] for k in sorted(table, key=int)] if table else []
    versions: list[ModelVersion] = []
    aliases: list[tuple[str, str, int]] = []
    events: list[RegistryEvent] = []
    for d in docs:
        try:
            kind = d["type"]
            if kind == "version":
                versions.append(_version(d))
            elif kind == "alias":
                aliases.append((str(d["name"]), str(d["alias"]), int(d["version"])))
            elif kind == "event":
                events.append(_event(d))
            else:
                raise ValueError(f"unknown type {kind!r}")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"a registry entry in {path} is malformed: {exc}") from None
    return versions, aliases, events


def check_registry(store: BaseStore, registry: Registry) -> None:
    """Refuse, before anything is written, versions the store holds with other content.

    Raises:
        ValidationError: names the first clashing version.
    """
    versions = registry[0]
    if not versions:
        return
    have = {(v.name, v.version): v.digest for v in store.model_versions()}
    for v in versions:
        if have.get((v.name, v.version), v.digest) != v.digest:
            raise ValidationError(
                f"this store's {v.uri} is another model (digest {have[(v.name, v.version)]}, "
                f"the archive's {v.digest}); import the archive into a store without that "
                "registered model, or rename it"
            )
