"""After a recorded cell: what it wrote, with the digests of the data as it is now.

:func:`collect_outputs` works in four named steps:

1. :meth:`_Collector.bound_names`: the names the cell bound, rebound or deleted (from
   its syntax, and from the namespace snapshot for cells that can bind names behind
   the syntax's back);
2. :meth:`_Collector.rehash_read_data`: data the cell read and may have changed in
   place is hashed again; if it changed, it is an output under every name holding it,
   and arrays sharing its memory (views, bases) are hashed again too;
3. :meth:`_Collector.hash_bound`: data bound to the names of step 1 (and data inside
   containers bound to them) is hashed, unless it is the very object the cell read
   and did not change (``b = a``), whose digest is known;
4. :meth:`_Collector.changed_values`: other values the cell changed (a list it
   appended to, a model it fitted) join the writes.

Failures to hash one value are reported and leave that value out; the rest goes on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tracker.records import DataRef

from ._cell_state import CellState
from ._namespace import MISSING, Namespace, root_name
from ._values import content_version, data_items, is_container, is_data, short_type

__all__ = ["collect_outputs"]


def collect_outputs(
    names: Namespace, cell: CellState, writes: dict[str, None], outputs: dict[str, DataRef]
) -> None:
    """Fill ``writes`` (names, in order) and ``outputs`` (data digests) of a cell.

    Both are filled in place, so that what was found before an unexpected failure is
    kept in the record.
    """
    c = _Collector(names, cell, writes, outputs)
    bound = c.bound_names()
    c.rehash_read_data()
    cell.rebound = {root_name(n) for n in bound}
    c.hash_bound(bound)
    c.changed_values()


class _Collector:
    """The state shared by the steps of :func:`collect_outputs`."""

    def __init__(
        self,
        names: Namespace,
        cell: CellState,
        writes: dict[str, None],
        outputs: dict[str, DataRef],
    ) -> None:
        self.names = names
        self.cache = names.cache
        self.cell = cell
        self.writes = writes
        self.outputs = outputs
        self.rehashed: dict[int, DataRef] = {}  # id -> digest after the cell

    def bound_names(self) -> dict[str, None]:
        """Names the cell bound, rebound or deleted, in order."""
        cell = self.cell
        bound: dict[str, None] = dict.fromkeys(cell.analysis.writes)
        if cell.snapshot is not None:
            for k in self.names.rebound_since(cell.snapshot):
                bound.setdefault(k, None)
            if cell.analysis.dynamic:
                for k in self.names.ns:
                    if k not in cell.snapshot and not self.names.hidden(k):
                        bound.setdefault(k, None)
        return bound

    def _output(self, aliases: Iterable[str], ref: DataRef) -> None:
        for alias in aliases:
            self.outputs[alias] = ref
            self.writes.setdefault(root_name(alias), None)

    def rehash_read_data(self) -> None:
        """Data the cell could have changed in place: hash again, keep what changed."""
        for oid, (name, before) in list(self.cell.recheck.items()):
            obj = self.names.resolve(name)
            if id(obj) != oid:
                # The name was rebound: reach the object through another name, if any.
                obj = self.cache.resolve_id(oid)
            if obj is None or id(obj) != oid or not is_data(obj):
                continue  # no longer bound to any name: nothing left to record
            try:
                ref = self.cache.get(obj, name, force=True)
            except Exception as exc:  # keep going with the other values
                self.names.report(f"hashing {name!r} ({short_type(obj)})", exc)
                continue
            self.rehashed[oid] = ref
            if ref.digest == before.digest:
                continue
            self._output(self.names.aliases(obj, name), ref)
            self._rehash_overlapping(obj)

    def _rehash_overlapping(self, obj: Any) -> None:
        """Arrays sharing memory with a changed one (views, bases) may have changed too."""
        for other in self.cache.overlapping(obj):
            if id(other) in self.rehashed:
                continue
            self.cache.mark_stale(other)
            aliases = self.names.aliases(other, None)
            try:
                ref = self.cache.get(other, aliases[0] if aliases else None, force=True)
            except Exception as exc:
                self.names.report("hashing an array sharing memory with a changed one", exc)
                continue
            self.rehashed[id(other)] = ref
            self._output(aliases, ref)

    def hash_bound(self, bound: Iterable[str]) -> None:
        """The data now bound to the names the cell bound (and inside containers)."""
        ns = self.names.ns
        for name in bound:
            if self.names.hidden(name):
                continue
            self.writes[name] = None
            obj = ns.get(name, MISSING)
            # The name was rebound or deleted: its old object may be gone, and a new
            # object may even sit at the same address, so the old anchors must go.
            self.cache.release_prefix(name)
            if obj is MISSING:
                self.names.versions.pop(name, None)
                continue
            if is_data(obj):
                items: Iterable[tuple[str, Any]] = [(name, obj)]
            elif is_container(obj):
                items = data_items(obj, name)
            else:
                continue
            for item_name, item in items:
                try:
                    self.outputs[item_name] = self._output_ref(item, item_name)
                except Exception as exc:
                    self.names.report(f"hashing {item_name!r} ({short_type(item)})", exc)

    def _output_ref(self, obj: Any, name: str) -> DataRef:
        """The digest of data a cell leaves bound to ``name`` (anchored to it)."""
        cell = self.cell
        key = id(obj)
        known = self.rehashed.get(key)
        if known is None and key in cell.read_data:
            read_name, before = cell.read_data[key]
            # The same object as read, if the name it was read through still holds it and
            # was never rebound by the cell (else the id may belong to a new object).
            if root_name(read_name) not in cell.rebound and self.names.resolve(read_name) is obj:
                known = before
        if known is not None:
            self.cache.adopt(obj, name, known)
            return known
        return self.cache.get(obj, name, force=True)  # made by the cell (or unseen)

    def changed_values(self) -> None:
        """Values that are not data, changed by the cell: writes too."""
        ns = self.names.ns
        cell = self.cell
        for name, obj in cell.reconsider.items():
            if ns.get(name, MISSING) is obj and content_version(obj) != cell.versions.get(name):
                self.writes.setdefault(name, None)
        for name in cell.changed_opaque:
            self.writes.setdefault(name, None)
