"""Artifacts of one store: log them, find them, load them verified, finish staged uploads.

:class:`ArtifactStore` ties the record store (which holds :class:`ArtifactRef` records)
to the blob store of its artifact root (``_root.py`` says which). Logging to a local root
copies and hashes in one pass straight into the root, then queues the record like any
other. Logging to a remote root (or one that cannot be reached, or is not known yet) goes
through the staging area (``_staging.py``): the call returns once the blob is durable on
this machine, and a background thread uploads it and then writes its record.

Loading verifies before it returns: the blob is read once, both digests are compared with
the record, and :class:`~tracker.exceptions.IntegrityError` is raised on any difference.
A local blob returned as a path is the store's own read-only file, re-verified whenever
its size, mtime or ctime changed since this process last checked it; a remote blob is
downloaded into ``<spool dir>/artifacts/cache`` and checked on the way.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tracker.config import spool_dir
from tracker.exceptions import (
    ArtifactNotFoundError,
    ConfigError,
    IntegrityError,
    StoreUnavailableError,
    ValidationError,
)
from tracker.records import ArtifactRef, from_timestamp, now
from tracker.store._base import BaseStore
from tracker.store.artifacts._blob import (
    BlobInfo,
    BlobStore,
    blob_key,
    check_digests,
    reader,
    verify_file,
)
from tracker.store.artifacts._dirs import (
    MANIFEST_MEDIA_TYPE,
    list_files,
    manifest_bytes,
    parse_manifest,
)
from tracker.store.artifacts._engine import Digests
from tracker.store.artifacts._local import LocalBlobStore
from tracker.store.artifacts._root import (
    ENV_ARTIFACTS,
    SETTING_KEY,
    RootSpec,
    default_root,
    no_root_error,
    parse_root,
)
from tracker.store.artifacts._staging import Staging
from tracker.store.ops import LogArtifact, Op, SetSetting, artifact_row_id
from tracker.store.validation import MAX_NAME, check_json, check_key, check_media_type

__all__ = ["ArtifactStore", "Source", "open_blob_store"]

log = logging.getLogger("tracker")

Source = bytes | bytearray | memoryview | str | os.PathLike[str]
Write = Callable[[Sequence[Op]], None]
_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
_instances: weakref.WeakSet[ArtifactStore] = weakref.WeakSet()


def open_blob_store(url: str) -> BlobStore:
    """The blob store of a root: local paths get the fast local store, URLs fsspec's."""
    if "://" not in url:
        return LocalBlobStore(url)
    from tracker.store.artifacts._fsspec import FsspecBlobStore  # imports fsspec

    return FsspecBlobStore(url)


class ArtifactStore:
    """Log, find and load the artifacts of ``store`` (thread-safe).

    Args:
        store: The record store.
        root: This process's artifact root (``set_store(..., artifacts=)``), if given.
        staging_dir: The staging area (default ``<spool dir>/artifacts``).
    """

    def __init__(
        self, store: BaseStore, *, root: str | None = None, staging_dir: Path | None = None
    ) -> None:
        self.store = store
        self._explicit = parse_root(root) if root else None
        base = staging_dir or spool_dir() / "artifacts"
        self.staging = Staging(base, store.url.identity)
        self.cache = LocalBlobStore(base / "cache")
        self._lock = threading.Lock()
        self._spec: RootSpec | None = None
        self._blobs: BlobStore | None = None
        self._warned: set[str] = set()
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._down_since: float | None = None
        self.last_error: str | None = None
        self._verified: dict[str, tuple[Any, ...]] = {}
        _instances.add(self)

    # --- the root --------------------------------------------------------------------------

    def root(self) -> RootSpec | None:
        """The artifact root, or ``None`` while it cannot be known (database down).

        Raises:
            ConfigError: a PostgreSQL store with no root configured anywhere, or a root
                with a credential in it.
        """
        with self._lock:
            if self._spec is not None:
                return self._spec
            spec = RootSpec(self._explicit, "argument") if self._explicit else None
            env = os.environ.get(ENV_ARTIFACTS, "").strip()
            if spec is None and env:
                spec = RootSpec(parse_root(env, f"{ENV_ARTIFACTS}"), "env")
            try:
                recorded = self.store.get_setting(SETTING_KEY)
            except StoreUnavailableError:
                if spec is None and default_root(self.store.url) is None:
                    return None  # only the database can tell, and it is down
                recorded = None  # decided without it; recorded later if need be
            else:
                if spec is not None and recorded != spec.url:
                    self._record(spec, recorded)
            if spec is None and recorded:
                spec = RootSpec(recorded, "store")
            if spec is None:
                default = default_root(self.store.url)
                if default is None:
                    raise no_root_error(self.store.url)
                spec = RootSpec(default, "default")
            self._spec = spec
            return spec

    def _record(self, spec: RootSpec, recorded: str | None) -> None:
        if recorded is None:
            self.store.write([SetSetting(SETTING_KEY, spec.url, now())])
        elif "mismatch" not in self._warned:
            self._warned.add("mismatch")
            log.warning(
                "tracker: the store records the artifact root %s, but this process uses %s "
                "(from %s); other clients will not find what this process logs unless they "
                "use it too",
                recorded,
                spec.url,
                "TRACKER_ARTIFACTS" if spec.source == "env" else "set_store(artifacts=)",
            )

    def blob_store(self) -> BlobStore:
        """The blob store of the root.

        Raises:
            StoreUnavailableError: the root is not known yet (the database is down).
            ConfigError: see :meth:`root`.
        """
        spec = self.root()
        if spec is None:
            raise StoreUnavailableError(
                f"the artifact root of {self.store.url.redacted()} is recorded in the "
                "database, which cannot be reached now; staged artifacts are uploaded when it "
                "answers (or run `tracker sync`)"
            )
        with self._lock:
            if self._blobs is None:
                self._blobs = open_blob_store(spec.url)
            return self._blobs

    # --- logging ---------------------------------------------------------------------------

    def log(
        self,
        run_id: str,
        source: Source,
        name: str | None,
        *,
        write: Write,
        kind: str | None = None,
        media_type: str | None = None,
        meta: Mapping[str, Any] | None = None,
        timestamp: float | None = None,
    ) -> ArtifactRef:
        """Store ``source`` (bytes, a file or a directory) and record it on ``run_id``.

        Returns once the bytes are durable: in a local root, or staged for a remote one
        (then the record is written after the upload). ``write`` queues the record.
        ``timestamp`` (default now) is part of the record's id: an import passes the
        original time so importing twice writes one record.

        Raises:
            ValidationError: a bad name or source (nothing is stored then).
        """
        path, name = _source_and_name(source, name)
        if path is not None and path.is_dir():
            kind, media_type = "directory", MANIFEST_MEDIA_TYPE
        kind = kind or ("file" if path is not None else "bytes")
        from tracker.store.artifacts._media import guess_media_type

        # Everything the record needs is checked before any byte is stored.
        media = check_media_type(media_type or guess_media_type(name))
        check_json(f"artifact {name!r} meta", dict(meta or {}))
        timestamp = now() if timestamp is None else timestamp
        spec = self.root()
        target: BlobStore | None = None
        if spec is not None and spec.is_local:
            target = self.blob_store()
        try:
            blobs, info, size, extra = _put(target or self.staging.blobs, source, path)
        except StoreUnavailableError as exc:
            if target is None:
                raise
            self._went_down(exc)
            target = None  # the local root is unreachable: stage it like a remote one
            blobs, info, size, extra = _put(self.staging.blobs, source, path)
        op = LogArtifact(
            id=artifact_row_id(run_id, name, info.digest, timestamp),
            run_id=run_id,
            name=name,
            digest=info.digest,
            sha256=info.sha256,
            size=size,
            media_type=media,
            kind=kind,
            timestamp=timestamp,
            meta={**extra, **(meta or {})},
        )
        if target is not None:
            write([op])
        else:
            self.staging.stage(blobs, op)
            self._kick()
        return _ref(op)

    # --- finding and loading -------------------------------------------------------------

    def find(self, ref: ArtifactRef | str) -> ArtifactRef:
        """The record ``ref`` names: an :class:`ArtifactRef`, or ``runs:/<run_id>/<name>``.

        Raises:
            ArtifactNotFoundError: no such artifact (lists the run's artifacts).
            ValidationError: ``ref`` has another form.
        """
        if isinstance(ref, ArtifactRef):
            return ref
        if not isinstance(ref, str) or not ref.startswith("runs:/"):
            raise ValidationError(
                "an artifact reference is an ArtifactRef or 'runs:/<run_id>/<name>', "
                f"not {ref!r:.80}"
            )
        run_id, _, name = ref[len("runs:/") :].partition("/")
        if not run_id or not name:
            raise ValidationError(
                f"{ref!r:.80} names no run and artifact: use 'runs:/<run_id>/<name>'"
            )
        found = self.store.artifacts(run_id=run_id, name=name)
        if found:
            return found[-1]
        names = sorted({a.name for a in self.store.artifacts(run_id=run_id)})
        listing = f"its artifacts: {', '.join(names[:20])}" if names else "it has no artifacts"
        raise ArtifactNotFoundError(f"run {run_id} has no artifact named {name!r}; {listing}")

    def _holder(self, digest: str) -> BlobStore:
        """Where the blob is: staged on this machine, else the root."""
        if self.staging.blobs.exists(digest):
            return self.staging.blobs
        return self.blob_store()

    def load_bytes(self, ref: ArtifactRef | str) -> bytes:
        """The artifact's bytes, verified (see the module docstring)."""
        a = self.find(ref)
        if a.kind == "directory":
            raise ValidationError(
                f"artifact {a.name!r} of run {a.run_id} is a directory; load it with "
                "as_path=True to get a local directory"
            )
        return self._verified_bytes(a.digest, a.sha256, _what(a))

    def _verified_bytes(self, digest: str, sha256: str, what: str) -> bytes:
        chunks: list[bytes] = []
        self._missing_to_hint(
            lambda: self._holder(digest).verify(
                digest, sha256, what, lambda c: chunks.append(bytes(c))
            ),
            what,
        )
        return b"".join(chunks)

    def load_path(self, ref: ArtifactRef | str) -> Path:
        """A local path to the artifact (a file, or a directory), verified."""
        a = self.find(ref)
        if a.kind != "directory":
            return self._verified_path(a.digest, a.sha256, _what(a))
        manifest = parse_manifest(self._verified_bytes(a.digest, a.sha256, _what(a)))
        target = self.cache.root / "dirs" / a.digest
        if not target.is_dir():
            tmp = self.cache.root / "dirs" / f".{uuid.uuid4().hex}.tmp"
            for f in manifest:
                src = self._verified_path(
                    f["digest"], f["sha256"], f"{_what(a)}, file {f['path']!r}"
                )
                dest = tmp / f["path"]
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
            tmp.mkdir(parents=True, exist_ok=True)  # an empty directory has no files
            try:
                os.rename(tmp, target)
            except OSError:  # another thread or process made it meanwhile
                shutil.rmtree(tmp, ignore_errors=True)
        for f in manifest:  # what is returned is checked now, even if made earlier
            verify_file(
                target / f["path"], f["digest"], f["sha256"], f"{_what(a)}, file {f['path']!r}"
            )
        return target

    def _verified_path(self, digest: str, sha256: str, what: str) -> Path:
        def find_local() -> Path:
            holder = self._holder(digest)
            # A staged blob goes away once uploaded: hand out a copy in the cache instead.
            path = None if holder is self.staging.blobs else holder.local_path(digest)
            path = path or self.cache.local_path(digest)
            if path is None:  # remote or staged: copy into the cache, checking on the way
                path = self._download(holder, digest, sha256, what)
            elif self._verified.get(str(path)) != _stat_key(path):
                verify_file(path, digest, sha256, what)
            self._verified[str(path)] = _stat_key(path)
            return path

        path: Path = self._missing_to_hint(find_local, what)
        return path

    def _download(self, holder: BlobStore, digest: str, sha256: str, what: str) -> Path:
        with holder.open(digest) as fh:
            info = self.cache.put_stream(reader(fh))
        found = Digests(info.digest, info.sha256, info.size)
        try:
            check_digests(found, digest, sha256, what, f"{holder.url}/{blob_key(digest)}")
        except IntegrityError:
            if info.created:
                self.cache.delete(info.digest)
            raise
        return self.cache.root / blob_key(digest)

    def _missing_to_hint(self, fn: Callable[[], Any], what: str) -> Any:
        try:
            return fn()
        except ArtifactNotFoundError as exc:
            raise ArtifactNotFoundError(
                f"{what}: {exc}. The record exists but its bytes do not: copy the artifact "
                "root along with the database (an archive carries records, not blobs), or "
                "log the artifact again"
            ) from None

    # --- staged uploads ------------------------------------------------------------------

    def _kick(self) -> None:
        with self._cv:
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(
                    target=self._loop, name="tracker-artifact-upload", daemon=True
                )
                self._thread.start()
            self._cv.notify_all()

    def _went_down(self, exc: Exception) -> None:
        self.last_error = str(exc)
        if self._down_since is None:
            self._down_since = time.time()
            log.warning(
                "tracker: %s; artifacts are staged in %s and uploaded when it answers "
                "(or run `tracker sync`)",
                exc,
                self.staging.directory,
            )

    def upload_pending(self) -> int:
        """Upload every pending record of this store that no other process holds.

        Returns:
            How many are still pending (held by another process).

        Raises:
            StoreUnavailableError: the root (or the database naming it) cannot be reached.
            ConfigError: the root cannot be known (a PostgreSQL store without one).
        """
        pending = self.staging.pending()
        if not pending:
            return 0
        blobs = self.blob_store()
        left = sum(not self.staging.process(p, blobs, self.store.write) for p in pending)
        if self._down_since is not None:
            self._down_since = None
            log.warning("tracker: the artifact root %s answers again", blobs.url)
        return left

    def _loop(self) -> None:
        # Runs while something is pending, then ends (``_kick`` starts it again), so an
        # idle store keeps no thread and no reference to itself alive.
        backoff = 0
        while True:
            try:
                left = self.upload_pending()
                backoff, delay = 0, 0.5
            except (StoreUnavailableError, ConfigError) as exc:
                self._went_down(exc)
                left, delay = 1, _BACKOFF[min(backoff, len(_BACKOFF) - 1)]
                backoff += 1
            except Exception:  # a bug must not kill uploads for good
                log.exception("tracker: unexpected error while uploading artifacts")
                left, delay = 1, 30.0
            with self._cv:
                self._cv.notify_all()  # flush() waiters
                if self._stopping or (not left and not self.staging.pending()):
                    self._thread = None
                    return
                self._cv.wait(delay)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until no record of this store waits for an upload; ``False`` on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.staging.pending():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._kick()
            with self._cv:
                self._cv.wait(0.2 if remaining is None else min(0.2, remaining))
        return True

    def sync(self) -> dict[str, Any]:
        """Upload what is staged now, on this thread (``tracker sync``)."""
        before = len(self.staging.pending())
        error = None
        try:
            self.upload_pending()
        except (StoreUnavailableError, ConfigError) as exc:
            error = str(exc)
        left = len(self.staging.pending())
        return {"uploaded": before - left, "pending": left, "error": error}

    def close(self, timeout: float = 10.0) -> None:
        """Finish uploads for up to ``timeout`` seconds (if the root answers), then stop."""
        if self._down_since is None and self.staging.pending():
            self.flush(timeout)
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=2.0)


def _what(a: ArtifactRef, file: str | None = None) -> str:
    return f"artifact {a.name!r} of run {a.run_id}" + (f", file {file!r}" if file else "")


def _stat_key(path: Path) -> tuple[Any, ...]:
    try:
        st = path.stat()
    except OSError:
        return ()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _ref(op: LogArtifact) -> ArtifactRef:
    return ArtifactRef(
        run_id=op.run_id,
        name=op.name,
        digest=op.digest,
        sha256=op.sha256,
        size=op.size,
        media_type=op.media_type,
        kind=op.kind,
        created=from_timestamp(op.timestamp),
        meta=dict(op.meta),
    )


def _source_and_name(source: Source, name: str | None) -> tuple[Path | None, str]:
    """The source's path (``None`` for bytes) and the artifact's name, both checked."""
    if isinstance(source, bytes | bytearray | memoryview):
        if name is None:
            raise ValidationError("logging bytes needs a name: log_artifact(data, name='x.bin')")
        return None, check_key("artifact", name, MAX_NAME)
    if not isinstance(source, str | os.PathLike):
        raise ValidationError(
            f"log_artifact() takes the path of a file or directory, or bytes, not "
            f"{type(source).__qualname__}; save the object to a file first (or use log_text / "
            "log_figure)"
        )
    path = Path(os.fspath(source)).expanduser().absolute()
    if not path.exists():
        raise ValidationError(
            f"no file or directory at {path} (relative to {os.getcwd()!r}); a str is always "
            "taken as a path: to log text, use log_text(text, name)"
        )
    return path, check_key("artifact", name if name is not None else path.name, MAX_NAME)


def _put(
    target: BlobStore, source: Source, path: Path | None
) -> tuple[list[str], BlobInfo, int, dict[str, Any]]:
    """Store a source: (every blob written, the record's blob, size, extra meta)."""
    if path is None:
        info = target.put_bytes(source)  # type: ignore[arg-type]
        return [info.digest], info, info.size, {}
    if not path.is_dir():
        info = target.put_file(path)
        return [info.digest], info, info.size, {}
    files = [(rel, target.put_file(p)) for rel, p in list_files(path)]
    manifest = target.put_bytes(manifest_bytes(files))
    blobs = [*dict.fromkeys(b.digest for _, b in files), manifest.digest]
    return blobs, manifest, sum(b.size for _, b in files), {"files": len(files)}


def _close_all() -> None:
    for store in list(_instances):
        try:
            store.close(timeout=10.0)
        except Exception:  # at exit there is nobody left to tell but the log
            log.warning("tracker: could not finish artifact uploads at exit")


def _reset_in_child() -> None:
    for store in list(_instances):
        store._cv = threading.Condition()
        store._thread = None


atexit.register(_close_all)
if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(after_in_child=_reset_in_child)
