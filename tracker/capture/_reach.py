"""Which globals a call into notebook-defined code can reach.

A cell that calls ``train()`` reads and may change whatever ``train`` uses from the
notebook namespace, although the cell's own syntax shows only ``train``. For every
function, class, instance or method the cell reaches that was defined in the
notebook (``__module__ == "__main__"``), the global names its code loads and stores
are read from its bytecode (``LOAD_GLOBAL``/``LOAD_NAME``, ``STORE_GLOBAL``/
``DELETE_GLOBAL``, nested code objects included), once per code object.
"""

from __future__ import annotations

import dis
import functools
import types
from collections.abc import Iterator
from typing import Any

__all__ = ["code_globals", "notebook_code"]

_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
_STORES = frozenset({"STORE_GLOBAL", "DELETE_GLOBAL"})


@functools.lru_cache(maxsize=4096)
def code_globals(code: types.CodeType) -> tuple[frozenset[str], frozenset[str]]:
    """(global names loaded, global names stored or deleted) by ``code`` and nested code."""
    loads: set[str] = set()
    stores: set[str] = set()
    stack = [code]
    while stack:
        c = stack.pop()
        for ins in dis.get_instructions(c):
            if ins.opname in _LOADS and isinstance(ins.argval, str):
                loads.add(ins.argval)
            elif ins.opname in _STORES and isinstance(ins.argval, str):
                stores.add(ins.argval)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return frozenset(loads), frozenset(stores)


def _is_notebook(obj: object) -> bool:
    return getattr(obj, "__module__", None) == "__main__"


def notebook_code(obj: Any, limit: int = 256) -> Iterator[types.CodeType]:
    """Code objects of notebook-defined code reachable from ``obj`` (not transitively)."""
    seen = 0
    if isinstance(obj, functools.partial):
        yield from notebook_code(obj.func, limit)
        return
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if isinstance(obj, types.FunctionType):
        if _is_notebook(obj):
            yield obj.__code__
        return
    cls = obj if isinstance(obj, type) else type(obj)
    if not isinstance(obj, type) and not _is_notebook(cls):
        return
    for klass in cls.__mro__:
        if not _is_notebook(klass):
            continue
        for member in list(vars(klass).values()):
            if isinstance(member, staticmethod | classmethod):
                member = member.__func__
            elif isinstance(member, property):
                for f in (member.fget, member.fset, member.fdel):
                    if isinstance(f, types.FunctionType):
                        yield f.__code__
                continue
            if isinstance(member, types.FunctionType):
                seen += 1
                if seen > limit:
                    return
                yield member.__code__
