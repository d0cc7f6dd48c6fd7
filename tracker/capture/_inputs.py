"""Before a cell runs: what it reads, the digests and versions of those values.

:func:`observe_reads` turns the names a cell's syntax reads into the cell's inputs
(data, with its digest before the cell, from the digest cache when valid) and versions
(everything else, for the fingerprint), follows calls into notebook-defined code for
the globals it reaches, and notes what the cell may change, to be looked at again after
it: data to rehash (``recheck``), containers of scalars to compare (``reconsider``),
opaque objects changed through methods (``changed_opaque``) or passed on (``bumped``).

For a cell run with tracking off (only watched, no record), nothing is hashed: data it
may change is marked stale in the cache and versions of values it may change are
forgotten, so that turning tracking back on does not trust them.
"""

from __future__ import annotations

import builtins
from typing import Any

from ._cell_state import CellState
from ._change_rules import changes_object, is_plain_function, may_change
from ._namespace import MISSING, Namespace
from ._reach import code_globals, notebook_code
from ._uses import NameUse
from ._values import content_version, data_items, is_container, is_data, short_type

__all__ = ["observe_reads"]

#: Globals followed through notebook code, at most (a cell reaching thousands is rare).
_REACH_LIMIT = 1024

_Read = tuple[str, Any, NameUse | None]


def observe_reads(names: Namespace, cell: CellState) -> None:
    """Fill the cell's reads, inputs and versions (see the module docstring).

    A value that cannot be read (hashing fails) is reported and left out: it must not
    cost the record.
    """
    if not cell.analysis.reads:
        return  # the cell reads nothing (x = 1): nothing to look up
    queue = _free_reads(names, cell)
    _reach(names, cell, queue)
    for name, obj, use in queue:
        try:
            if cell.tracked:
                _observe(names, cell, name, obj, use)
            else:
                _observe_untracked(names, name, obj, use)
        except Exception as exc:  # one value we cannot read must not cost the record
            names.report(f"hashing {name!r} ({short_type(obj)})", exc)


def _free_reads(names: Namespace, cell: CellState) -> list[_Read]:
    """The names the cell's syntax reads, with what they hold now."""
    ns = names.ns
    analysis = cell.analysis
    queue: list[_Read] = []
    seen: set[str] = set()
    for name in analysis.reads:
        if name in seen or names.hidden(name):
            continue
        seen.add(name)
        obj = ns.get(name, MISSING)
        if obj is MISSING:
            if hasattr(builtins, name):
                continue
            cell.reads.append(name)
            cell.versions[name] = "undefined"
            continue
        cell.reads.append(name)
        queue.append((name, obj, analysis.uses.get(name, NameUse())))
    return queue


def _reach(names: Namespace, cell: CellState, queue: list[_Read]) -> None:
    """Add the globals that notebook functions, classes and instances the cell touches reach."""
    ns = names.ns
    seen = {name for name, _, _ in queue}
    seen.update(cell.reads)
    i = 0
    while i < len(queue) and len(queue) < _REACH_LIMIT:
        _, obj, use = queue[i]
        i += 1
        if use is not None and use.pure:
            continue  # read without calling anything: its code does not run
        # Called or passed on: all its code may run; used through methods: those.
        only = None if use is None or use.escape or use.called else [m.method for m in use.methods]
        for code in notebook_code(obj, only):
            loads, stores = code_globals(code)
            cell.extra_writes.update(s for s in stores if not names.hidden(s))
            for g in loads:
                if g in seen or names.hidden(g) or g not in ns:
                    continue
                seen.add(g)
                cell.reads.append(g)
                queue.append((g, ns[g], None))


def _observe(names: Namespace, cell: CellState, name: str, obj: Any, use: NameUse | None) -> None:
    """One value a recorded cell reads: input or version, and what to look at after."""
    if is_data(obj):
        ref = names.cache.get(obj, name)
        cell.inputs[name] = ref
        cell.versions[name] = ref.digest
        cell.read_data.setdefault(id(obj), (name, ref))
        if may_change(obj, use):
            cell.recheck.setdefault(id(obj), (name, ref))
        return
    version = content_version(obj)
    cell.versions[name] = version if version is not None else names.opaque_version(name, obj)
    if is_container(obj):
        for item_name, item in data_items(obj, name):
            ref = names.cache.get(item, item_name)
            cell.inputs.setdefault(item_name, ref)
            cell.read_data.setdefault(id(item), (item_name, ref))
            if use is None or not use.pure:
                cell.recheck.setdefault(id(item), (item_name, ref))
    if use is not None and use.pure:
        return
    if version is not None and not isinstance(obj, str | bytes | int | float | tuple):
        cell.reconsider[name] = obj  # a mutable container of scalars: compare after
    elif version is None and changes_object(obj, use):
        cell.changed_opaque[name] = None
    elif (
        version is None
        and use is not None
        and (use.escape or use.called)
        and not is_plain_function(obj)
    ):
        cell.bumped[name] = None


def _observe_untracked(names: Namespace, name: str, obj: Any, use: NameUse | None) -> None:
    """A read by a cell run with tracking off: forget what it may change."""
    if is_data(obj):
        if may_change(obj, use):
            names.cache.mark_stale(obj)
    elif use is None or not use.pure:
        if is_container(obj):
            for _, item in data_items(obj, name):
                names.cache.mark_stale(item)
        names.versions.pop(name, None)  # its origin is no longer known
