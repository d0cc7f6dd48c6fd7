"""The notebook's namespace as the cell hooks see it: names, digests and versions.

:class:`Namespace` wraps the shell's user namespace with what the hooks remember
about it between cells: the :class:`~._values.DataCache` of data digests (anchored to
names) and the *versions* of the other values (``name -> (id, version)``), and answers
the questions both hooks ask: which names are IPython's own, what a record name such
as ``d['k']`` designates now, which names hold an object, which names a cell rebound.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tracker.records import DataRef

from ._values import DataCache, content_version, digest_bytes, is_data

if TYPE_CHECKING:
    from ._cell_state import CellState

__all__ = ["MISSING", "Namespace", "lookup", "root_name"]

#: What :func:`lookup` returns for a name bound to nothing.
MISSING: Any = object()
#: IPython's own names in the user namespace (output history, input history...).
_IPYTHON_NAME = re.compile(r"^(_|__|___|_i|_ii|_iii|_i\d+|_\d+|_ih|_oh|_dh|In|Out)$")
_PATH_PART = re.compile(r"\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|-?\d+)\]|\.(\w+)")


def root_name(name: str) -> str:
    """``d`` for ``d['k']``, ``ds`` for ``ds.X``, ``x`` for ``x``."""
    return re.split(r"[\[.]", name, maxsplit=1)[0]


def lookup(ns: Mapping[str, Any], name: str) -> Any:
    """The object a record name (``x``, ``d['k']``, ``t[0]``, ``o.a``) designates now."""
    root = root_name(name)
    obj = ns.get(root, MISSING)
    rest = name[len(root) :]
    for m in _PATH_PART.finditer(rest):
        if obj is MISSING:
            return MISSING
        try:
            if m.group(2) is not None:
                obj = getattr(obj, m.group(2))
            else:
                key = m.group(1)
                obj = obj[int(key)] if key.lstrip("-").isdigit() else obj[key[1:-1]]
        except Exception:
            return MISSING
    return obj


class Namespace:
    """The shell's user namespace, with the digests and versions kept for its names.

    Args:
        shell: The IPython shell.
        report: Where failures go (``Capture.report``): ``(what was done, exception)``.

    Attributes:
        cache: Digests of data, anchored to names.
        versions: Name to ``(id of the object, version)`` for values that are not data.
    """

    def __init__(self, shell: Any, report: Callable[[str, BaseException], None]) -> None:
        self.shell = shell
        self.report = report
        self.cache = DataCache(self.resolve)
        self.versions: dict[str, tuple[int, str]] = {}
        self._token = uuid.uuid4().hex[:12]  # versions of values of unknown origin

    @property
    def ns(self) -> dict[str, Any]:
        """The user namespace itself."""
        ns: dict[str, Any] = self.shell.user_ns
        return ns

    def hidden(self, name: str) -> bool:
        """IPython's own names, and names hidden from ``%who``."""
        return bool(_IPYTHON_NAME.match(name)) or name in self.shell.user_ns_hidden

    def resolve(self, name: str) -> Any:
        """The object ``name`` designates now (:data:`MISSING` if none)."""
        return lookup(self.shell.user_ns, name)

    def name_of(self, obj: object) -> str | None:
        """A notebook variable bound to ``obj``, if the tracker has seen one."""
        names = self.cache.names_of(obj)
        plain = [n for n in names if n.isidentifier()]
        best = plain or names
        return best[0] if best else None

    def aliases(self, obj: object, hint: str | None) -> list[str]:
        """Names known to hold ``obj`` now (``hint`` first if it holds it too)."""
        names = self.cache.names_of(obj)
        if hint is not None and hint not in names and self.resolve(hint) is obj:
            names.insert(0, hint)
        return names

    @property
    def remembers(self) -> bool:
        """Whether anything is cached (then even untracked cells must be watched)."""
        return bool(len(self.cache) or self.versions)

    def forget(self, name: str) -> None:
        """``name`` was rebound or deleted: its digests (items too) and version go."""
        self.cache.release_prefix(name)
        self.versions.pop(name, None)

    def forget_all(self) -> None:
        """Cells ran unobserved: any name may have been rebound behind our back."""
        self.cache.clear()
        self.versions.clear()

    def snapshot(self, names: Iterable[str]) -> dict[str, int]:
        """``id`` of what each name holds now (``0`` when unbound)."""
        ns = self.shell.user_ns
        return {k: id(ns[k]) if k in ns else 0 for k in names}

    def snapshot_all(self) -> dict[str, int]:
        """``id`` of what every visible name holds now."""
        return {k: id(v) for k, v in self.shell.user_ns.items() if not self.hidden(k)}

    def rebound_since(self, snapshot: Mapping[str, int]) -> list[str]:
        """Names of ``snapshot`` that now hold another object, or nothing."""
        ns = self.shell.user_ns
        out = []
        for k, old_id in snapshot.items():
            value = ns.get(k, MISSING)
            if (value is MISSING and old_id != 0) or (value is not MISSING and id(value) != old_id):
                out.append(k)
        return out

    def opaque_version(self, name: str, obj: object) -> str:
        """The version of a value that is neither data nor versioned by content."""
        known = self.versions.get(name)
        if known is not None and known[0] == id(obj):
            return known[1]
        # Unknown origin (made before tracking, or behind our back): a version that
        # matches nothing in another session, so it can never fake a reproduction.
        return f"u:{self._token}:{id(obj):x}"

    def update_versions(
        self,
        cell: CellState,
        writes: Iterable[str],
        outputs: Mapping[str, DataRef],
        fingerprint: str,
    ) -> None:
        """After a recorded cell: the versions of the values it wrote or may have changed."""
        ns = self.shell.user_ns
        for name in (*writes, *cell.bumped):
            obj = ns.get(name, MISSING)
            if obj is MISSING:
                self.versions.pop(name, None)
                continue
            if name in outputs:
                version: str | None = outputs[name].digest
            elif is_data(obj):
                continue
            else:
                version = content_version(obj)
            if version is None:
                # Made or changed by this cell: its version follows the cell's fingerprint,
                # so re-running the same chain of cells gives the same versions.
                version = "w:" + digest_bytes(fingerprint, name)[:24]
            self.versions[name] = (id(obj), version)
