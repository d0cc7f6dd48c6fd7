"""``tracker gc``: delete the blobs no record references.

A blob is referenced when an artifact record names it, when a directory manifest named by
a record lists it, when a staged record on this machine still waits for it, or when a
referrer added with :func:`add_referrer` says so (the model registry adds its versions
this way). Everything else in the root is garbage, except what is younger than the grace
period (default 24 hours): a record that names a blob may still sit in some client's local
spool while the database is down, and a blob stored again with the same content has its
time reset (local roots), so a concurrent logger never loses a blob it just stored. Each
blob is checked for a record once more right before it is deleted.

Only this store's records are consulted: two stores must not share one artifact root
(the default roots never do), or each one's gc would delete the other's blobs.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tracker.exceptions import ArtifactNotFoundError, IntegrityError, ValidationError
from tracker.store._base import BaseStore
from tracker.store.artifacts._blob import BlobStat
from tracker.store.artifacts._dirs import parse_manifest
from tracker.store.artifacts._local import LocalBlobStore
from tracker.store.artifacts._store import ArtifactStore

__all__ = ["DEFAULT_GRACE_S", "GcReport", "add_referrer", "collect_garbage"]

#: Blobs younger than this are never collected.
DEFAULT_GRACE_S = 24 * 3600.0

Referrer = Callable[[BaseStore], Iterable[str]]
_referrers: list[Referrer] = []


def add_referrer(referrer: Referrer) -> None:
    """Count the digests ``referrer(store)`` returns as referenced in every later ``gc``.

    For subsystems that keep blobs alive through records of their own (the model
    registry). Adding the same function twice adds it once.
    """
    if referrer not in _referrers:
        _referrers.append(referrer)


@dataclass
class GcReport:
    """What ``gc`` found (and deleted, unless it was a dry run)."""

    root: str
    dry_run: bool
    blobs: int = 0
    referenced: int = 0
    young: int = 0
    garbage: list[BlobStat] = field(default_factory=list)
    temporaries: list[str] = field(default_factory=list)
    deleted: int = 0

    @property
    def garbage_bytes(self) -> int:
        """Bytes the garbage blobs take (freed, or freed by ``--yes``)."""
        return sum(b.size for b in self.garbage)


def _referenced(artifacts: ArtifactStore) -> set[str]:
    store = artifacts.store
    recorded = store.referenced_blobs()
    out = set(recorded)
    for digest, kind in recorded.items():
        if kind != "directory":
            continue
        with contextlib.suppress(ArtifactNotFoundError, IntegrityError, ValidationError):
            data = artifacts._verified_bytes(digest, _sha_of(store, digest), f"manifest {digest}")
            out.update(str(f["digest"]) for f in parse_manifest(data))
    out |= artifacts.staging.staged_digests()
    for referrer in _referrers:
        out.update(referrer(store))
    return out


def _sha_of(store: BaseStore, digest: str) -> str:
    return store.artifacts(digests=[digest])[0].sha256


def collect_garbage(
    artifacts: ArtifactStore, *, grace_s: float = DEFAULT_GRACE_S, delete: bool = False
) -> GcReport:
    """Find (and with ``delete=True`` remove) unreferenced blobs older than ``grace_s``.

    Raises:
        StoreUnavailableError: the database or the root cannot be reached (nothing deleted).
        ConfigError: the store has no artifact root.
    """
    blobs = artifacts.blob_store()
    report = GcReport(root=blobs.url, dry_run=not delete)
    referenced = _referenced(artifacts)
    cutoff = time.time() - grace_s
    for stat in blobs.list():
        report.blobs += 1
        if stat.digest in referenced:
            report.referenced += 1
        elif stat.modified >= cutoff:
            report.young += 1
        else:
            report.garbage.append(stat)
    if isinstance(blobs, LocalBlobStore):
        report.temporaries = [str(p) for p in blobs.stale_temporaries(grace_s)]
    if not delete:
        return report
    kept: list[BlobStat] = []
    # Read the references again, after the listing: a record (or a registered version)
    # that arrived meanwhile keeps its blob. A released record (keep_models="pareto")
    # does not count, which is why this reads references rather than any record.
    fresh = _referenced(artifacts)
    for stat in report.garbage:
        if stat.digest in fresh:
            kept.append(stat)
            continue
        blobs.delete(stat.digest)
        report.deleted += 1
    report.garbage = [b for b in report.garbage if b not in kept]
    for tmp in report.temporaries:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return report
