"""Blobs behind any fsspec URL: ``s3://bucket/prefix``, ``gs://...``, ``memory://...``.

The only module of the tracker that imports fsspec (a team's artifact root can be any
filesystem fsspec knows; the local default does not need it). Credentials come from where
each filesystem looks for them (the environment, its config files, fsspec's
``FSSPEC_<PROTOCOL>_<OPTION>`` variables), never from the URL, which is recorded in the
database for every client to read (see ``_root.py``).

Writes go to ``tmp/<random>`` under the root, then are moved to ``blobs/<2 hex>/<digest>``
(on an object store, a server-side copy). A blob whose digest is known beforehand (a
staged blob) is put straight under its final key on object stores, whose single PUT is
atomic. Every failure to reach the root becomes
:class:`~tracker.exceptions.StoreUnavailableError`, scrubbed of credentials.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import fsspec

from tracker.config import redact_text
from tracker.exceptions import ArtifactNotFoundError, StoreUnavailableError, TrackerError
from tracker.store.artifacts._blob import BlobInfo, BlobStat, BlobStore, blob_key
from tracker.store.artifacts._engine import hash_stream

__all__ = ["FsspecBlobStore"]

T = TypeVar("T")
# Object stores: one PUT makes an object appear whole, so a blob with a known digest can
# be written under its final key directly.
_ATOMIC_PUT = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"})


class FsspecBlobStore(BlobStore):
    """Blobs under an fsspec URL.

    Args:
        url: The root, e.g. ``s3://bucket/prefix`` (no credentials in it).
        storage_options: Passed to the filesystem (kept in memory only, never recorded).
    """

    def __init__(self, url: str, **storage_options: Any) -> None:
        self.url = url
        self._secrets = [
            str(v) for k, v in storage_options.items() if isinstance(v, str) and len(v) >= 4
        ]
        try:
            # A filesystem of our own: fsspec's shared instances would keep the endpoint
            # and credentials of the first root opened in this process.
            self._fs, path = fsspec.core.url_to_fs(url, skip_instance_cache=True, **storage_options)
        except (ImportError, ValueError) as exc:
            raise StoreUnavailableError(
                f"cannot open the artifact root {url}: {self._scrub(str(exc))}; for s3:// "
                "install the s3 extra: pip install 'jupyterlab-tracker[s3]'"
            ) from exc
        self._root = str(path).rstrip("/")
        protocols = self._fs.protocol
        names = {protocols} if isinstance(protocols, str) else set(protocols)
        self._atomic_put = bool(names & _ATOMIC_PUT)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return redact_text(text)

    def _call(self, doing: str, fn: Callable[[], T]) -> T:
        """Run a filesystem call; failures to reach the root become StoreUnavailableError."""
        try:
            return fn()
        except TrackerError:
            raise
        except FileNotFoundError:
            raise
        except Exception as exc:
            reason = self._scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
            raise StoreUnavailableError(
                f"the artifact root {self.url} is unavailable ({type(exc).__name__}"
                f"{': ' + reason[:300] if reason else ''}) while trying to {doing}"
            ) from None

    def _key(self, digest: str) -> str:
        return f"{self._root}/{blob_key(digest)}"

    # --- writing -------------------------------------------------------------------------

    def put_stream(
        self, read_into: Callable[[memoryview], int | None], *, size_hint: int | None = None
    ) -> BlobInfo:
        """Upload to a temporary key while hashing, then move it under its digest."""
        tmp = f"{self._root}/tmp/{uuid.uuid4().hex}"

        def upload() -> BlobInfo:
            try:
                with self._fs.open(tmp, "wb") as out:
                    d = hash_stream(read_into, out.write, size_hint=size_hint)
                final = self._key(d.xxh3)
                if self._exists(final):
                    return BlobInfo.of(d, created=False)
                self._fs.mv(tmp, final)
                return BlobInfo.of(d, created=True)
            finally:
                with contextlib.suppress(Exception):
                    if self._fs.exists(tmp):
                        self._fs.rm_file(tmp)

        return self._call("store a blob", upload)

    def store_known(self, source: Path, digest: str) -> bool:
        """Upload a staged file under its digest (directly on object stores)."""
        final = self._key(digest)

        def upload() -> bool:
            if self._exists(final):
                return False
            if self._atomic_put:
                self._fs.put_file(str(source), final)
            else:
                tmp = f"{self._root}/tmp/{uuid.uuid4().hex}"
                self._fs.put_file(str(source), tmp)
                self._fs.mv(tmp, final)
            self._fs.invalidate_cache(final)
            return True

        return self._call("upload a staged blob", upload)

    # --- reading -------------------------------------------------------------------------

    def _exists(self, key: str) -> bool:
        self._fs.invalidate_cache(key)
        return bool(self._fs.exists(key))

    def open(self, digest: str) -> IO[bytes]:
        """The blob as a file object streaming from the root."""
        key = self._key(digest)
        try:
            fh: IO[bytes] = self._call("read a blob", lambda: self._fs.open(key, "rb"))
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                f"blob {digest} is not in the artifact root {self.url}"
            ) from None
        return fh

    def exists(self, digest: str) -> bool:
        """Whether the blob is stored."""
        key = self._key(digest)
        return self._call("look a blob up", lambda: self._exists(key))

    def list(self) -> Iterator[BlobStat]:
        """Every blob under ``blobs/``."""
        base = f"{self._root}/blobs"

        def find() -> dict[str, Any]:
            self._fs.invalidate_cache(base)
            try:
                found: dict[str, Any] = self._fs.find(base, detail=True)
            except FileNotFoundError:
                return {}
            return found

        for key, info in self._call("list blobs", find).items():
            name = str(key).rstrip("/").rsplit("/", 1)[-1]
            if len(name) == 32 and info.get("type", "file") != "directory":
                yield BlobStat(name, int(info.get("size") or 0), _modified(info))

    # --- housekeeping --------------------------------------------------------------------

    def delete(self, digest: str) -> None:
        """Remove the blob."""
        key = self._key(digest)

        def rm() -> None:
            with contextlib.suppress(FileNotFoundError):
                self._fs.rm_file(key)
            self._fs.invalidate_cache(key)

        self._call("delete a blob", rm)


def _modified(info: dict[str, Any]) -> float:
    """Last modification of a listed object, in seconds since the epoch."""
    for key in ("LastModified", "mtime", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return time.time()  # unknown: treat as new, so gc's grace period keeps it
