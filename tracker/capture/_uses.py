"""How a cell uses the object bound to a name, from the expression around the name.

:func:`classify` walks up from a loaded name through the syntax tree and decides what
the surrounding expression can do to the object (see :class:`NameUse`): change it in
place (``mutate``), let it escape (``escape``: passed to a call, bound to another name,
put in a container...), call it (``called``), call its methods (kept by name, since
whether ``x.sort()`` changes ``x`` depends on the type of ``x``, known only at run
time), or only read it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ._magic_syntax import is_get_ipython_call

__all__ = ["PURE_BUILTINS", "SAFE_ATTRS", "MethodUse", "NameUse", "classify", "mutation_use"]

#: Builtins whose result is a new object and that never change their arguments.
PURE_BUILTINS = frozenset(
    {
        "len",
        "print",
        "repr",
        "str",
        "type",
        "isinstance",
        "issubclass",
        "id",
        "hash",
        "bool",
        "int",
        "float",
        "complex",
        "abs",
        "round",
        "format",
        "ascii",
        "callable",
        "hasattr",
        "getattr",
        "dir",
        "display",
        "sum",
        "min",
        "max",
        "any",
        "all",
    }
)
#: Attributes whose value is a new or immutable object (never a writable view).
SAFE_ATTRS = frozenset(
    {
        "shape",
        "dtype",
        "dtypes",
        "ndim",
        "size",
        "nbytes",
        "itemsize",
        "columns",
        "index",
        "name",
        "names",
        "empty",
        "__class__",
        "__name__",
        "__doc__",
        "__len__",
        "__module__",
    }
)


@dataclass(frozen=True, slots=True)
class MethodUse:
    """A method called on a name's object.

    Attributes:
        method: The method name (``"fillna"``, ``"fit"``...).
        inplace: Called with ``inplace=True``.
        result_escapes: The call's result is bound or passed on (it may be a view).
    """

    method: str
    inplace: bool
    result_escapes: bool


@dataclass(frozen=True, slots=True)
class NameUse:
    """How a cell uses the object bound to one name (see the module docstring).

    ``called`` means the object itself is called (``f(x)`` calls ``f``).
    """

    mutate: bool = False
    escape: bool = False
    called: bool = False
    methods: tuple[MethodUse, ...] = ()

    @property
    def pure(self) -> bool:
        """No use can change the object (methods still need the type to decide)."""
        return not (self.mutate or self.escape or self.called or self.methods)

    def merge(self, other: NameUse) -> NameUse:
        """Both sets of uses."""
        return NameUse(
            mutate=self.mutate or other.mutate,
            escape=self.escape or other.escape,
            called=self.called or other.called,
            methods=self.methods + tuple(m for m in other.methods if m not in self.methods),
        )


def mutation_use(methods: Iterable[MethodUse] = ()) -> NameUse:
    """A use that changes the object in place (after ``methods``, if any)."""
    return NameUse(mutate=True, methods=tuple(methods))


def classify(
    node: ast.AST, parents: Mapping[ast.AST, ast.AST], returns: Mapping[ast.AST, ast.AST]
) -> NameUse:
    """How the expression rooted at a loaded name uses its object.

    Args:
        node: The loaded name.
        parents: Each node's parent in the cell's syntax tree.
        returns: Statements whose value a magic returns (``x = %time a``: the statement
            ``a`` of the timed code) to that magic's call in the cell.
    """
    current = node
    methods: list[MethodUse] = []
    while True:
        p = parents.get(current)
        if p is None:
            return NameUse(escape=True)
        if isinstance(p, ast.Attribute) and p.value is current:
            step = _attribute(p, parents, methods)
        elif isinstance(p, ast.Subscript):
            step = _subscript(p, current, methods)
        elif isinstance(p, ast.Call):
            return _call_argument(p, current, methods)
        elif isinstance(p, ast.Expr) and p in returns:
            step = returns[p]  # the timed code's value is what the magic returns
        else:
            step = _enclosing(p, current, methods)
        if isinstance(step, NameUse):
            return step
        current = step


def _attribute(
    p: ast.Attribute, parents: Mapping[ast.AST, ast.AST], methods: list[MethodUse]
) -> NameUse | ast.AST:
    """``x.attr``: a store, a method call, a safe attribute, or a possible view."""
    if isinstance(p.ctx, ast.Store | ast.Del):
        return mutation_use(methods)
    gp = parents.get(p)
    if isinstance(gp, ast.Call) and gp.func is p:
        inplace = any(
            k.arg == "inplace"
            # inplace passed as a variable: assume it may be True
            and (not isinstance(k.value, ast.Constant) or k.value.value is True)
            for k in gp.keywords
        )
        methods.append(MethodUse(p.attr, inplace, _result_escapes(gp, parents)))
        return NameUse(methods=tuple(methods))
    if p.attr in SAFE_ATTRS:
        return NameUse(methods=tuple(methods))
    return p  # possibly a view (x.T, x.values, x.loc): keep following


def _subscript(p: ast.Subscript, current: ast.AST, methods: list[MethodUse]) -> NameUse | ast.AST:
    if p.value is current:
        if isinstance(p.ctx, ast.Store | ast.Del):
            return mutation_use(methods)
        return p  # x[i] may be a view
    return NameUse(methods=tuple(methods))  # used as an index: read only


def _call_argument(p: ast.Call, current: ast.AST, methods: list[MethodUse]) -> NameUse:
    if p.func is current:
        # x(...) calls the object itself (a function or callable object)
        return NameUse(called=True, methods=tuple(methods))
    if isinstance(p.func, ast.Name) and p.func.id in PURE_BUILTINS:
        return NameUse(methods=tuple(methods))
    if is_get_ipython_call(p):
        return NameUse(methods=tuple(methods))
    return NameUse(escape=True, methods=tuple(methods))


def _enclosing(p: ast.AST, current: ast.AST, methods: list[MethodUse]) -> NameUse | ast.AST:
    """Any other parent: the value travels on, is consumed, or escapes."""
    if isinstance(p, ast.keyword | ast.Starred):
        return p
    if isinstance(p, ast.BinOp | ast.UnaryOp | ast.Compare):
        return NameUse(methods=tuple(methods))  # the result is a new object
    if isinstance(p, ast.BoolOp | ast.IfExp | ast.Tuple | ast.List | ast.Set | ast.Dict):
        if isinstance(p, ast.IfExp) and p.test is current:
            return NameUse(methods=tuple(methods))
        return p  # the value itself travels on
    if isinstance(p, ast.Expr | ast.FormattedValue | ast.JoinedStr):
        return NameUse(methods=tuple(methods))  # displayed or formatted
    if isinstance(p, ast.If | ast.While | ast.Assert) and getattr(p, "test", None) is current:
        return NameUse(methods=tuple(methods))
    if isinstance(p, ast.Slice):
        return NameUse(methods=tuple(methods))
    return NameUse(escape=True, methods=tuple(methods))


def _result_escapes(call: ast.Call, parents: Mapping[ast.AST, ast.AST]) -> bool:
    """Whether a method call's result is kept (bound, passed on) rather than consumed."""
    p = parents.get(call)
    return not (
        isinstance(p, ast.Expr | ast.FormattedValue | ast.BinOp | ast.Compare | ast.UnaryOp)
        or (isinstance(p, ast.Call) and isinstance(p.func, ast.Name) and p.func.id in PURE_BUILTINS)
        or (isinstance(p, ast.Attribute) and p.attr in SAFE_ATTRS)
    )
