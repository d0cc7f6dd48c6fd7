"""The same model, the same bytes: skops files rewritten without process-specific names.

skops names the arrays in its zip file and marks shared objects by ``id()`` of the Python
objects (``"__id__": 140151157355904``, ``"140151195875440.npy"``), and stamps each entry
with the current time. Saving one model twice therefore gives two different files, and
content addressing would store every save again. This rewrites a skops file canonically:
each id becomes its rank of first appearance in the schema (so equal ids stay equal, and
shared objects stay shared), each array file is renamed after its id's rank, and every
entry gets a fixed time and mode, in the order skops wrote them. The result loads exactly
as the original (tests check predictions), and equal models give equal bytes.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

__all__ = ["canonical_skops", "dumps_skops"]

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold


def _renumber(node: Any, ids: dict[Any, int], files: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int):
                out[key] = ids.setdefault(value, len(ids))
            elif key == "file" and isinstance(value, str) and "." in value:
                ext = value.rpartition(".")[2]
                files.setdefault(value, f"{len(files)}.{ext}")
                out[key] = files[value]
            else:
                out[key] = _renumber(value, ids, files)
        return out
    # skops' state holds tuples as well as lists (a pipeline's steps); JSON writes both as
    # lists. A tuple missed here would hide its arrays' names, and the file would be
    # rewritten the slow way (a second zip pass and skops' indented JSON).
    if isinstance(node, list | tuple):
        return [_renumber(v, ids, files) for v in node]
    return node


def canonical_skops(data: bytes) -> bytes:
    """``data`` (a skops file) with deterministic ids, file names and entry times."""
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        schema = json.loads(src.read("schema.json"))
        blobs = {i.filename: src.read(i.filename) for i in src.infolist()}
    blobs.pop("schema.json", None)
    return _write(schema, blobs) or data


def _write(schema: dict[str, Any], blobs: dict[str, bytes]) -> bytes | None:
    """The canonical file of a schema and its array files (``None``: unknown layout)."""
    files: dict[str, str] = {}
    schema = _renumber(schema, {}, files)
    if set(blobs) - set(files):
        return None  # a layout this rewrite does not know
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as dst:
        for old, new in sorted(files.items(), key=lambda kv: int(kv[1].split(".")[0])):
            if old in blobs:
                dst.writestr(_entry(new), blobs[old])
        # Compact JSON: the C encoder (skops' indented JSON takes the slow Python one,
        # most of the time of a save).
        dst.writestr(_entry("schema.json"), json.dumps(schema, separators=(",", ":")))
    return out.getvalue()


class _Entries:
    """What skops' savers write into their zip file, kept in memory instead."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def writestr(self, name: str, data: Any) -> None:
        self.files[name] = bytes(data)

    def namelist(self) -> list[str]:
        return list(self.files)


def dumps_skops(model: object) -> bytes:
    """``model`` saved by skops, canonically, in one pass.

    skops' own ``dumps`` (``_persist._save``) is ten lines around two helpers: the state
    walk and a zip file. This does the same walk into memory and writes the canonical file
    at once, which saves a second zip pass and skops' indented JSON (about 80 % of a save).
    The helpers are skops-internal, so any change in them falls back to the public
    ``skops.io.dumps`` and a rewrite.
    """
    import skops
    import skops.io as sio  # registers skops' savers

    try:
        from skops.io._utils import SaveContext, get_state
    except ImportError:
        return canonical_skops(bytes(sio.dumps(model)))
    entries = _Entries()
    ctx = SaveContext(zip_file=entries)
    state = get_state(model, ctx)
    ctx.clear_memo()
    state["protocol"] = ctx.protocol
    state["_skops_version"] = skops.__version__
    return _write(state, entries.files) or canonical_skops(bytes(sio.dumps(model)))


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_STORED
    return info
