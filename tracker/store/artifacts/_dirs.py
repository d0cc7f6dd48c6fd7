"""Directories as artifacts: each file a blob, plus a manifest blob that lists them.

A logged directory stores every regular file as its own blob (so two versions of a model
directory share their unchanged files) and a manifest: canonical JSON of the relative
paths, sizes and digests, sorted by path. The artifact record names the manifest blob;
``tracker gc`` follows the manifest to keep the files it lists. Symbolic links to files
are stored as the file's content; a link to a directory, a broken link or a special file
(FIFO, socket, device) is refused, naming it, since it has no content to store.

Loading checks every file against the manifest (both digests), and a manifest path that
would leave the directory (absolute, ``..``) is refused before anything is written.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any, Final

from tracker.exceptions import ValidationError
from tracker.store.artifacts._blob import BlobInfo
from tracker.store.artifacts._engine import hash_bytes, hash_stream

__all__ = [
    "MANIFEST_MEDIA_TYPE",
    "directory_digest",
    "list_files",
    "manifest_bytes",
    "parse_manifest",
]

MANIFEST_MEDIA_TYPE: Final = "application/vnd.tracker.manifest+json"
_FORMAT: Final = "tracker/manifest"


def list_files(root: Path) -> list[tuple[str, Path]]:
    """``(relative posix path, absolute path)`` of every file under ``root``, sorted.

    Raises:
        ValidationError: a link to a directory, a broken link, or a special file.
    """
    out: list[tuple[str, Path]] = []
    stack = [(root, "")]
    while stack:
        directory, prefix = stack.pop()
        with os.scandir(directory) as it:
            entries = list(it)
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                stack.append((Path(entry.path), f"{rel}/"))
                continue
            try:
                st = os.stat(entry.path)  # follows a link to its target
            except OSError:
                raise ValidationError(
                    f"{entry.path} is a broken link; remove it or log the files one by one"
                ) from None
            if not stat.S_ISREG(st.st_mode):
                what = "a link to a directory" if stat.S_ISDIR(st.st_mode) else "a special file"
                raise ValidationError(
                    f"{entry.path} is {what}, which has no content to store; remove it or "
                    "log the files one by one"
                )
            out.append((rel, Path(entry.path)))
    out.sort()
    return out


def manifest_bytes(files: list[tuple[str, BlobInfo]]) -> bytes:
    """Canonical JSON of a directory's files: the same content gives the same bytes."""
    doc = {
        "format": _FORMAT,
        "version": 1,
        "files": [
            {"path": rel, "size": b.size, "digest": b.digest, "sha256": b.sha256}
            for rel, b in sorted(files)
        ],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def directory_digest(root: Path) -> str:
    """The digest ``log_artifact(root)`` would record, computed without storing anything.

    Every file is read once (both digests, as logging computes them); ``tracker trace``
    uses it to find a logged directory (a model folder) copied elsewhere.

    Raises:
        ValidationError: the directory holds something logging refuses (see
            :func:`list_files`).
    """
    files: list[tuple[str, BlobInfo]] = []
    for rel, path in list_files(root):
        with open(path, "rb", buffering=0) as fh:
            size = os.fstat(fh.fileno()).st_size
            files.append((rel, BlobInfo.of(hash_stream(fh.readinto, size_hint=size), False)))
    return hash_bytes(manifest_bytes(files)).xxh3


def parse_manifest(data: bytes) -> list[dict[str, Any]]:
    """The file entries of a manifest, each with a path that stays inside the directory.

    Raises:
        ValidationError: not a manifest, or an entry with an unsafe path.
    """
    try:
        doc = json.loads(data)
        files = doc["files"] if doc.get("format") == _FORMAT else None
    except (ValueError, AttributeError, KeyError, TypeError):
        files = None
    if not isinstance(files, list):
        raise ValidationError("the blob is not a directory manifest of this tracker")
    for f in files:
        path = PurePosixPath(str(f.get("path", "")))
        if path.is_absolute() or not path.parts or ".." in path.parts:
            raise ValidationError(f"the directory manifest lists an unsafe path {str(path)!r}")
    return files
