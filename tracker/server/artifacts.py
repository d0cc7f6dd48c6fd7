"""Artifact routes of the REST API: list a run's artifacts, download one, streamed.

``GET /runs/{id}/artifacts``            every artifact record of the run, oldest first
``GET /runs/{id}/artifacts/{name}``     the latest artifact of that name (``?download=1``)
``GET /artifacts/{digest}``             a blob that some artifact record names, by digest

The blob's location is made from its digest alone (32 hex digits, checked), never from
the name or any other part of the request, so no request can read outside the artifact
root. Bytes are streamed in 1 MiB chunks read on the worker pool and checked on the way:
the last chunk is held back until both digests match the record. A blob that does not
match is answered with a 500 ``integrity_error`` when nothing was sent yet (blobs of one
chunk), else the response ends early (the client sees a truncated body, never bad bytes
as whole), with the mismatch in the server log. Everything a browser could run (HTML, SVG,
anything but a few passive types) is sent as an attachment under a sandboxing
Content-Security-Policy, since it is served from the Jupyter origin.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import IO, Any

import tornado.web
from jupyter_server.auth.decorator import authorized

from tracker.exceptions import ArtifactNotFoundError, IntegrityError
from tracker.hashing import StreamHasher, content_hasher
from tracker.records import ArtifactRef
from tracker.server.errors import ApiError
from tracker.server.handlers import API_PREFIX, TrackerHandler
from tracker.store import BaseStore
from tracker.store.artifacts import for_store

__all__ = ["artifact_routes"]

log = logging.getLogger("tracker.server")

_CHUNK = 1 << 20
_DIGEST = re.compile(r"[0-9a-f]{32}")
#: Types a browser shows without running anything; everything else is downloaded.
_INLINE = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "text/plain", "application/json"}
)


def _store(handler: TrackerHandler) -> BaseStore:
    store = handler.service.holder.get()
    if store is None:
        raise ApiError.not_found("the store has no runs yet; track a run in a notebook first")
    return store


def _check_run_id(run_id: str) -> str:
    if not run_id or len(run_id) > 200 or any(c in run_id for c in "/\\\x00"):
        raise ApiError.bad_request(f"{run_id[:40]!r} is not a run id")
    return run_id


def list_artifacts(store: BaseStore, run_id: str) -> dict[str, Any]:
    """Every artifact record of a run, oldest first (404 for an unknown run)."""
    run = store.get_run(_check_run_id(run_id), with_cells=False)
    return {"run_id": run.id, "artifacts": [a.to_dict() for a in store.artifacts(run_id=run.id)]}


def find_by_name(store: BaseStore, run_id: str, name: str) -> ArtifactRef:
    """The latest artifact of ``name`` on ``run_id``."""
    run = store.get_run(_check_run_id(run_id), with_cells=False)
    found = store.artifacts(run_id=run.id, name=name)
    if not found:
        raise ApiError.not_found(
            f"run {run.id} has no artifact named {name[:200]!r}; "
            f"list them with /runs/{run.id}/artifacts"
        )
    return found[-1]


def find_by_digest(store: BaseStore, digest: str) -> ArtifactRef:
    """A record that names the blob ``digest`` (its media type and SHA-256 come from it)."""
    if not _DIGEST.fullmatch(digest):
        raise ApiError.bad_request(f"{digest[:40]!r} is not an artifact digest (32 hex digits)")
    found = store.artifacts(digests=[digest])
    if not found:
        raise ApiError.not_found(f"no artifact record names the blob {digest}")
    return found[-1]


class _Checked:
    """Reads a blob in chunks while hashing it (runs on the worker pool)."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.xxh3: StreamHasher = content_hasher()
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self) -> bytes:
        data = self.fh.read(_CHUNK)
        if data:
            self.xxh3.update(data)
            self.sha256.update(data)
            self.size += len(data)
        return data

    def matches(self, ref: ArtifactRef) -> bool:
        return self.xxh3.hexdigest() == ref.digest and self.sha256.hexdigest() == ref.sha256


class _ArtifactHandler(TrackerHandler):
    """Shared streaming of one artifact's blob."""

    async def stream(self, ref: ArtifactRef) -> None:
        store = _store(self)
        artifacts = for_store(store)

        def open_blob() -> IO[bytes]:
            holder = artifacts.blob_store()
            try:
                return holder.open(ref.digest)
            except ArtifactNotFoundError:
                raise ArtifactNotFoundError(
                    f"the bytes of artifact {ref.name!r} (blob {ref.digest}) are not in the "
                    f"artifact root {holder.url}; copy the root along with the database, or "
                    "log the artifact again"
                ) from None

        fh = await self.call(open_blob)
        try:
            await self._send(ref, _Checked(fh))
        finally:
            fh.close()

    async def _send(self, ref: ArtifactRef, blob: _Checked) -> None:
        media = ref.media_type
        inline = media.split(";")[0].strip().lower() in _INLINE and not self.args().get_bool(
            "download"
        )
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in ref.name)[-100:]
        self.set_header("Content-Type", media)
        self.set_header("Content-Length", str(ref.size))
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", "sandbox; default-src 'none'")
        self.set_header("ETag", f'"{ref.sha256}"')
        self.set_header("X-Tracker-Digest", ref.digest)
        kind = "inline" if inline else "attachment"
        self.set_header("Content-Disposition", f'{kind}; filename="{safe or "artifact"}"')
        held: bytes | None = None
        sent = False
        while chunk := await self.call(blob.read):
            if held is not None:
                self.write(held)
                await self.flush()
                sent = True
            held = chunk
        if not blob.matches(ref) or blob.size != ref.size:
            if not sent:  # nothing left yet: answer with the error itself
                raise ApiError(
                    500,
                    "integrity_error",
                    str(
                        IntegrityError(
                            f"artifact {ref.name!r} of run {ref.run_id}",
                            {"xxh3-128": ref.digest, "sha256": ref.sha256},
                            {"xxh3-128": blob.xxh3.hexdigest(), "sha256": blob.sha256.hexdigest()},
                        )
                    ),
                )
            log.error(
                "tracker API: artifact %r of run %s does not match its record (xxh3-128 %s, "
                "sha256 %s expected; found %s, %s); the download was cut short",
                ref.name,
                ref.run_id,
                ref.digest,
                ref.sha256,
                blob.xxh3.hexdigest(),
                blob.sha256.hexdigest(),
            )
            self.detach().close()  # ends the response early: the client sees a short body
            return
        if held is not None:
            self.write(held)
        self.finish(set_content_type=media)  # APIHandler would say application/json


class RunArtifactsHandler(TrackerHandler):
    """``GET /runs/{id}/artifacts``: every artifact record of the run."""

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        """The run's artifact records."""
        self.send(await self.call(list_artifacts, _store(self), run_id))


class RunArtifactHandler(_ArtifactHandler):
    """``GET /runs/{id}/artifacts/{name}[?download=1]``: the artifact's bytes."""

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str, name: str) -> None:
        """Stream the latest artifact of that name."""
        await self.stream(await self.call(find_by_name, _store(self), run_id, name))


class BlobHandler(_ArtifactHandler):
    """``GET /artifacts/{digest}[?download=1]``: a recorded blob by its digest."""

    @tornado.web.authenticated
    @authorized
    async def get(self, digest: str) -> None:
        """Stream the blob."""
        await self.stream(await self.call(find_by_digest, _store(self), digest))


def artifact_routes() -> list[tuple[str, type[TrackerHandler]]]:
    """The artifact routes (jupyter_server puts its ``base_url`` in front)."""
    run = r"(?P<run_id>[^/]+)"
    return [
        (f"{API_PREFIX}/runs/{run}/artifacts", RunArtifactsHandler),
        (f"{API_PREFIX}/runs/{run}/artifacts/(?P<name>.+)", RunArtifactHandler),
        (f"{API_PREFIX}/artifacts/(?P<digest>[^/]+)", BlobHandler),
    ]
