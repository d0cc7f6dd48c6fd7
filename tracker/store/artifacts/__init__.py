"""Artifacts: content-addressed blobs beside the record store (docs/models.md).

The database holds artifact records (:class:`~tracker.records.ArtifactRef`: names,
digests, sizes, media types); a blob store holds the bytes, named by their xxh3-128
digest, under the store's artifact root. Nothing else touches either. This package is the
only importer of fsspec (and only for non-local roots).

* ``_engine``: xxh3-128 and SHA-256 in one pass while bytes move.
* ``_blob``: the blob store contract; ``_local`` (the fast local root), ``_fsspec``
  (any fsspec URL, e.g. ``s3://bucket/prefix``).
* ``_root``: which root a store uses and how every client finds it.
* ``_staging``: artifacts waiting for a remote (or unreachable) root.
* ``_store``: :class:`ArtifactStore`, logging and verified loading for one store.
* ``_dirs``, ``_media``: directories as manifests; media types and figures.
* ``_gc``: ``tracker gc``.
"""

from __future__ import annotations

import threading
import weakref
from pathlib import Path
from typing import Literal, overload

from tracker.records import ArtifactRef
from tracker.store._base import BaseStore
from tracker.store.artifacts._blob import BlobInfo, BlobStat, BlobStore, blob_key
from tracker.store.artifacts._dirs import directory_digest
from tracker.store.artifacts._engine import Digests, hash_bytes, hash_stream
from tracker.store.artifacts._gc import DEFAULT_GRACE_S, GcReport, add_referrer, collect_garbage
from tracker.store.artifacts._local import LocalBlobStore
from tracker.store.artifacts._media import figure_bytes, guess_media_type
from tracker.store.artifacts._root import ENV_ARTIFACTS, SETTING_KEY, RootSpec, parse_root
from tracker.store.artifacts._store import ArtifactStore, Source, open_blob_store

__all__ = [
    "DEFAULT_GRACE_S",
    "ENV_ARTIFACTS",
    "SETTING_KEY",
    "ArtifactStore",
    "BlobInfo",
    "BlobStat",
    "BlobStore",
    "Digests",
    "GcReport",
    "LocalBlobStore",
    "RootSpec",
    "Source",
    "add_referrer",
    "blob_key",
    "collect_garbage",
    "directory_digest",
    "figure_bytes",
    "for_store",
    "guess_media_type",
    "hash_bytes",
    "hash_stream",
    "load_artifact",
    "open_blob_store",
    "parse_root",
]

_lock = threading.Lock()
_by_store: weakref.WeakKeyDictionary[BaseStore, ArtifactStore] = weakref.WeakKeyDictionary()


def for_store(store: BaseStore) -> ArtifactStore:
    """The :class:`ArtifactStore` of ``store`` (one per store object, made on first use).

    Its root is this process's ``set_store(..., artifacts=)`` if given, else the usual
    resolution (``TRACKER_ARTIFACTS``, the database, the default beside a SQLite file).
    """
    from tracker.store import artifacts_root

    with _lock:
        found = _by_store.get(store)
        if found is None:
            found = ArtifactStore(store, root=artifacts_root())
            _by_store[store] = found
        return found


@overload
def load_artifact(
    ref: ArtifactRef | str, *, as_path: Literal[False] = False, store: BaseStore | None = None
) -> bytes: ...
@overload
def load_artifact(
    ref: ArtifactRef | str, *, as_path: Literal[True], store: BaseStore | None = None
) -> Path: ...
def load_artifact(
    ref: ArtifactRef | str, *, as_path: bool = False, store: BaseStore | None = None
) -> bytes | Path:
    """An artifact's bytes (or a local path to it), after checking them against its record.

    The bytes are read once and both digests (xxh3-128 and SHA-256) compared with what
    was recorded when the artifact was logged; nothing is returned from a blob that fails.

    Args:
        ref: An :class:`~tracker.records.ArtifactRef` (``run.artifacts["name"]``, or what
            ``log_artifact`` returned), or ``"runs:/<run_id>/<name>"`` (the latest
            artifact of that name on that run).
        as_path: Return a local path instead of the bytes: the store's own read-only file
            for a local root, a verified download for a remote one, and a directory for a
            directory artifact (which can only be loaded this way).
        store: The store to look in (default: the process's current store).

    Returns:
        The bytes, or a :class:`~pathlib.Path`.

    Raises:
        IntegrityError: the stored bytes differ from what was logged (names the artifact
            and both pairs of digests).
        ArtifactNotFoundError: no such artifact, or its blob is missing from the root
            (the message says what to do).
        ValidationError: ``ref`` is malformed, or a directory is asked for as bytes.
    """
    if store is None:
        from tracker.store import get_store

        store = get_store()
    artifacts = for_store(store)
    return artifacts.load_path(ref) if as_path else artifacts.load_bytes(ref)
