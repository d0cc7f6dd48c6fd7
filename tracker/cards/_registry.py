"""The registered model in a card: the version's identity, its bytes, its history.

A card built for ``models:/name@alias`` (or ``name/3``) documents the version's run like
any card, plus a ``registered_model`` entry: the version, its aliases, the artifact it pins
(xxh3-128 and SHA-256 digests, size, format), what the model takes (input schema), the
framework and environment it was saved with, the training data refs recorded when it was
logged, and every registry event of the model (who, when, what, why). The lineage back to
cells and data is the card's own lineage section, built from the same run.

:func:`registry_content` reads the store; :func:`registry_section` lays the content out
with the card's ordinary blocks (the renderers only serialize them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracker.cards._model import Block, Cell, Code, Details, Paragraph, RunRef, Section, Table, Text
from tracker.records import ModelVersion
from tracker.store import BaseStore

__all__ = ["registry_content", "registry_section"]

#: History rows shown in a card (the newest ones; the registry keeps every event).
MAX_EVENTS = 200


def registry_content(store: BaseStore, mv: ModelVersion) -> dict[str, Any]:
    """The ``registered_model`` entry of a card (JSON-safe)."""
    meta = mv.meta
    size = None
    for a in store.artifacts(run_id=mv.run_id, name=mv.model_name):
        if a.digest == mv.digest:
            size = a.size
    events = store.registry_events(mv.name)
    return {
        "name": mv.name,
        "version": mv.version,
        "uri": mv.uri,
        "aliases": list(mv.aliases),
        "created": mv.created.isoformat(),
        "created_by": mv.created_by,
        "run_id": mv.run_id,
        "source": mv.source,
        "artifact": {
            "name": mv.model_name,
            "digest": mv.digest,
            "sha256": mv.sha256,
            "size": size,
            "format": meta.get("format"),
        },
        "model_class": meta.get("class"),
        "framework": meta.get("framework"),
        "framework_version": meta.get("framework_version"),
        "input_schema": meta.get("input_schema"),
        "environment": dict(meta.get("environment") or {}),
        "training_data": [dict(d) for d in meta.get("training_data") or []],
        "history": [e.to_dict() for e in events[-MAX_EVENTS:]],
    }


def _cell(text: object) -> Cell:
    return (Text("" if text is None else str(text)),)


def _schema_blocks(schema: Mapping[str, Any] | None) -> list[Block]:
    if not schema:
        return [Paragraph((Text("No input example was given when the model was logged."),))]
    if schema.get("type") == "dataframe":
        rows = tuple((_cell(c["name"]), (Code(str(c["dtype"])),)) for c in schema["columns"])
        table = Table((_cell("Column"), _cell("Dtype")), rows)
        return [Details(f"Input: a DataFrame of {len(rows)} columns", (table,))]
    shape = ", ".join("n" if d is None else str(d) for d in schema.get("shape") or [])
    return [
        Paragraph(
            (
                Text(f"Input: {schema.get('type', 'array')} of shape ({shape}), dtype "),
                Code(str(schema.get("dtype", schema.get("name", "")))),
            )
        )
    ]


def _history_table(history: list[Mapping[str, Any]]) -> Table:
    rows = tuple(
        (
            _cell(e["timestamp"][:19].replace("T", " ")),
            _cell(e["who"]),
            _cell(e["action"]),
            _cell(e["version"]),
            _cell(e["alias"] or ""),
            _cell(
                "; ".join(
                    f"{'held' if r['held'] else 'FAILED'}: {r['requirement']} ({r['detail']})"
                    for r in (e.get("detail") or {}).get("requirements", [])
                )
                or (e.get("reason") or "")
            ),
        )
        for e in history
    )
    heads = ("When (UTC)", "Who", "Action", "Version", "Alias", "Why")
    return Table(tuple(_cell(h) for h in heads), rows)


def registry_section(doc: Mapping[str, Any]) -> Section | None:
    """The card's "Registered model" section, or ``None`` for a card of a plain run."""
    reg = doc.get("registered_model")
    if not reg:
        return None
    art = reg["artifact"]
    env = reg.get("environment") or {}
    packages = ", ".join(f"{k} {v}" for k, v in (env.get("packages") or {}).items())
    rows: list[tuple[Cell, ...]] = [
        (_cell("Version"), (Code(reg["uri"]),)),
        (_cell("Aliases"), _cell(", ".join(reg["aliases"]) or "none")),
        (
            _cell("Registered"),
            _cell(f"{reg['created'][:19].replace('T', ' ')} by {reg['created_by']}"),
        ),
        (_cell("Logged on run"), (RunRef(reg["run_id"]), Text(f" as {art['name']!r}"))),
        (_cell("Artifact digest (xxh3-128)"), (Code(art["digest"]),)),
        (_cell("SHA-256"), (Code(art["sha256"]),)),
        (_cell("Size (bytes)"), _cell(art.get("size"))),
        (_cell("Format"), _cell(art.get("format"))),
        (_cell("Class"), (Code(str(reg.get("model_class") or "")),)),
        (
            _cell("Framework"),
            _cell(f"{reg.get('framework') or 'unknown'} {reg.get('framework_version') or ''}"),
        ),
        (
            _cell("Environment"),
            _cell(f"{env.get('id', '')} (Python {env.get('python', '?')}; {packages})"),
        ),
    ]
    blocks: list[Block] = [Table((_cell("Field"), _cell("Value")), tuple(rows))]
    blocks += _schema_blocks(reg.get("input_schema"))
    data = reg.get("training_data") or []
    if data:
        drows = tuple(
            (_cell(d.get("name")), (Code(str(d.get("digest"))),), (RunRef(d.get("run_id")),))
            for d in data
        )
        blocks.append(
            Details(
                f"Training data recorded when it was logged ({len(data)})",
                (Table((_cell("Name"), _cell("Digest"), _cell("Run")), drows),),
            )
        )
    history = reg.get("history") or []
    blocks.append(Section("Registry history", 3, (_history_table(history),)))
    return Section("Registered model", 2, tuple(blocks), anchor="registered-model", nav="Registry")
