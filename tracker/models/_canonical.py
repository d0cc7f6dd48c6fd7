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

__all__ = ["canonical_skops"]

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
    if isinstance(node, list):
        return [_renumber(v, ids, files) for v in node]
    return node


def canonical_skops(data: bytes) -> bytes:
    """``data`` (a skops file) with deterministic ids, file names and entry times."""
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        schema = json.loads(src.read("schema.json"))
        files: dict[str, str] = {}
        schema = _renumber(schema, {}, files)
        names = [i.filename for i in src.infolist() if i.filename != "schema.json"]
        if set(names) - set(files):
            return data  # a layout this rewrite does not know: keep the file as saved
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as dst:
            for old, new in sorted(files.items(), key=lambda kv: int(kv[1].split(".")[0])):
                if old in names:
                    dst.writestr(_entry(new), src.read(old))
            text = json.dumps(schema, indent=2)
            dst.writestr(_entry("schema.json"), text)
    return out.getvalue()


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_STORED
    return info
