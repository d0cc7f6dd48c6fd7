"""Reading run environments, stored once per distinct environment (migration 0006).

A run row holds the digest of its environment's canonical JSON; the document is in
``tracker_environments``. Documents are addressed by content and never change, so the
decoded ones are kept in a bounded process-wide cache: a page of runs from one notebook
costs one lookup, and later pages none. Each run still gets its own
:class:`~tracker.records.Environment` (``from_dict`` copies the package map), so a
caller changing one run's record cannot change another's.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.records import Environment
from tracker.store._sql import models as m
from tracker.store._sql._codec import chunks, loads

__all__ = ["environment", "environments_by_digest"]

#: Decoded documents kept; an environment is ~2 KB decoded, a store rarely has many.
_CACHE_SIZE = 256
_cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
_lock = threading.Lock()


def environments_by_digest(
    conn: Connection, digests: Iterable[str | None]
) -> dict[str, dict[str, Any]]:
    """Digest -> the decoded document it names (shared: read it through :func:`environment`).

    A digest with no row (which a store written by this code never has) is left out, so
    the run reads back without an environment rather than failing.
    """
    wanted = {d for d in digests if d}
    docs: dict[str, dict[str, Any]] = {}
    with _lock:
        for d in wanted:
            doc = _cache.get(d)
            if doc is not None:
                _cache.move_to_end(d)
                docs[d] = doc
    missing = sorted(wanted - docs.keys())
    t = m.environments
    for chunk in chunks(missing):
        for digest, text in conn.execute(
            sa.select(t.c.digest, t.c.document).where(t.c.digest.in_(chunk))
        ):
            docs[digest] = loads(text) or {}
    with _lock:
        for d in missing:
            if d in docs:
                _cache[d] = docs[d]
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return docs


def environment(docs: dict[str, dict[str, Any]], digest: str | None) -> Environment | None:
    """A run's own environment record from :func:`environments_by_digest`'s documents."""
    doc = docs.get(digest) if digest else None
    return Environment.from_dict(doc) if doc else None
