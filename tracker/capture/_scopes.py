"""Python's scoping rules, as far as a cell's analysis needs them.

Which names a statement binds in its own scope, which names are local to a function,
and whether a load in some nested scope reads the notebook's (module) namespace.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator

__all__ = [
    "COMPREHENSIONS",
    "Scope",
    "bound_names",
    "code_locals",
    "declared_globals",
    "function_locals",
    "own_nodes",
    "pattern_names",
]

COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


class Scope:
    """A namespace in the cell: the module, or a function/lambda/comprehension/class body."""

    __slots__ = ("declared_global", "kind", "locals", "parent")

    def __init__(self, kind: str, parent: Scope | None) -> None:
        self.kind = kind
        self.parent = parent
        self.locals: set[str] = set()
        self.declared_global: set[str] = set()

    def resolves_global(self, name: str) -> bool:
        """Whether a load of ``name`` in this scope reads the module namespace."""
        if self.kind == "module":
            return True
        if name in self.declared_global:
            return True
        if name in self.locals:
            return False
        scope = self.parent
        while scope is not None and scope.kind != "module":
            # Class bodies are not visible from the functions nested in them.
            if scope.kind != "class" and name in scope.locals:
                return False
            scope = scope.parent
        return True

    def binds_global(self, name: str) -> bool:
        """Whether binding ``name`` in this scope binds it in the module namespace."""
        return self.kind == "module" or name in self.declared_global


def function_locals(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    """Names local to a function: parameters and names bound in its own body."""
    a = node.args
    params = [*a.posonlyargs, *a.args, *a.kwonlyargs]
    if a.vararg:
        params.append(a.vararg)
    if a.kwarg:
        params.append(a.kwarg)
    body: list[ast.AST] = [node.body] if isinstance(node, ast.Lambda) else list(node.body)
    return code_locals(body, {p.arg for p in params})


def code_locals(body: Iterable[ast.AST], params: Iterable[str] = ()) -> set[str]:
    """Parameters and names a function body binds, less its ``global``/``nonlocal`` names."""
    body = list(body)
    declared = declared_globals(body, nonlocal_too=True)
    names = set(params)
    for stmt in body:
        names.update(bound_names(stmt))
    return names - declared


def declared_globals(body: Iterable[ast.AST], *, nonlocal_too: bool = False) -> set[str]:
    """Names a function body declares ``global`` (and ``nonlocal``, if asked)."""
    kinds = (ast.Global, ast.Nonlocal) if nonlocal_too else (ast.Global,)
    out: set[str] = set()
    for stmt in body:
        for sub in own_nodes(stmt):
            if isinstance(sub, kinds):
                out.update(sub.names)
    return out


def own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """``node`` and its descendants, without entering nested scopes' bodies.

    ``node`` itself may open a scope (a ``def`` statement): its name, decorators and
    defaults belong to the enclosing scope, its body does not.
    """
    stack: list[ast.AST] = []
    yield from _scope_edge(node, stack)
    while stack:
        n = stack.pop()
        yield n
        for child in ast.iter_child_nodes(n):
            yield from _scope_edge(child, stack)


def _scope_edge(node: ast.AST, stack: list[ast.AST]) -> Iterator[ast.AST]:
    """What of ``node`` belongs to the current scope: yielded, or pushed to visit."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        # Their decorators and defaults belong to this scope; their body does not.
        stack.extend(node.decorator_list)
        if not isinstance(node, ast.ClassDef):
            stack.extend(node.args.defaults)
            stack.extend(d for d in node.args.kw_defaults if d is not None)
        else:
            stack.extend(node.bases)
            stack.extend(k.value for k in node.keywords)
        yield node
    elif isinstance(node, ast.Lambda):
        stack.extend(node.args.defaults)
        stack.extend(d for d in node.args.kw_defaults if d is not None)
    elif isinstance(node, COMPREHENSIONS):
        # Only walrus targets inside a comprehension bind in this scope.
        for sub in ast.walk(node):
            if isinstance(sub, ast.NamedExpr):
                yield sub
        # The first iterable is evaluated in this scope.
        stack.append(node.generators[0].iter)
    else:
        stack.append(node)


def bound_names(node: ast.AST) -> set[str]:
    """Names a statement binds in its own scope."""
    out: set[str] = set()
    for n in own_nodes(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store | ast.Del):
            out.add(n.id)
        elif isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name):
            out.add(n.target.id)
        elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(n.name)
        elif isinstance(n, ast.Import | ast.ImportFrom):
            for alias in n.names:
                if alias.name != "*":
                    out.add(alias.asname or alias.name.partition(".")[0])
        elif isinstance(n, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and n.name:
            out.add(n.name)
        elif isinstance(n, ast.MatchMapping) and n.rest:
            out.add(n.rest)
    return out


def pattern_names(pattern: ast.pattern) -> list[str]:
    """Names a ``case`` pattern captures, in source order."""
    found: list[tuple[int, int, str]] = []
    for n in ast.walk(pattern):
        name = n.rest if isinstance(n, ast.MatchMapping) else getattr(n, "name", None)
        if isinstance(name, str) and isinstance(n, ast.MatchAs | ast.MatchStar | ast.MatchMapping):
            found.append((n.lineno, n.col_offset, name))
    return [name for _, _, name in sorted(found)]
