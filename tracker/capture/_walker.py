"""One pass over a cell's syntax tree: free reads, bindings and uses of names.

:class:`CellWalker` visits the module-level statements in execution order, keeping the
set of names the cell has *definitely* bound so far (a load of one of those is not a
read of the notebook's value). Function and lambda bodies run later, when called: their
global loads are collected apart and become reads only if the cell never binds them.
How each loaded name is used comes from :func:`._uses.classify`; magics, including the
code the timing magics run, from :mod:`._magic_syntax`. :func:`._analysis.analyze`
packs the result into a ``CellAnalysis``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from ._magic_syntax import (
    INERT_MAGICS,
    TIMING_MAGICS,
    MagicCall,
    is_get_ipython_call,
    magic_call,
    timed_code,
)
from ._scopes import (
    COMPREHENSIONS,
    Scope,
    bound_names,
    code_locals,
    declared_globals,
    function_locals,
    own_nodes,
    pattern_names,
)
from ._uses import NameUse, classify, mutation_use

__all__ = ["CellWalker"]

_Comprehension = ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp
_DYNAMIC_BUILTINS = ("exec", "eval", "globals", "vars", "locals")


class CellWalker:
    """Reads, writes and uses of one cell (see the module docstring).

    Attributes:
        reads: Free names read, in first-use order.
        writes: Names bound or deleted at module level, in order.
        maybe_writes: Globals that functions of the cell assign (if called).
        uses: How the cell uses each name it reads or changes.
        dynamic: The cell can bind names its syntax does not show.
    """

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.parents: dict[ast.AST, ast.AST] = {}
        self._adopt(tree)
        # A magic's returned statement (in the timed code) -> the magic's call.
        self.returns: dict[ast.AST, ast.AST] = {}
        self.reads: dict[str, None] = {}
        self.deferred_reads: dict[str, None] = {}  # loads in function bodies (run later)
        self.writes: dict[str, None] = {}
        self.maybe_writes: dict[str, None] = {}
        self.uses: dict[str, NameUse] = {}
        self.dynamic = False
        self.module = Scope("module", None)

    def _adopt(self, root: ast.AST) -> None:
        """Note the parent of every node under ``root``."""
        for node in ast.walk(root):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node

    def walk(self) -> None:
        """Visit the whole cell."""
        definite: set[str] = set()
        self._block(self.tree.body, self.module, definite)
        # Loads inside function bodies run when the function is called: by then the cell
        # may have bound the name itself, so only names it never binds are free.
        for name in self.deferred_reads:
            if name not in definite and name not in self.reads:
                self.reads[name] = None

    # --- statements (in execution order) ---------------------------------------------

    def _block(self, stmts: Iterable[ast.stmt], scope: Scope, definite: set[str]) -> None:
        for stmt in stmts:
            handler = self._STATEMENTS.get(type(stmt), CellWalker._plain)
            handler(self, stmt, scope, definite)

    def _plain(self, stmt: ast.stmt, scope: Scope, definite: set[str]) -> None:
        """Expr, Return, Raise, Assert, Pass, Break, Continue..."""
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.expr):
                self._expr(child, scope, definite)

    def _assign(self, stmt: ast.Assign, scope: Scope, definite: set[str]) -> None:
        self._expr(stmt.value, scope, definite)
        for target in stmt.targets:
            self._target(target, scope, definite)

    def _aug_assign(self, stmt: ast.AugAssign, scope: Scope, definite: set[str]) -> None:
        target = stmt.target
        if isinstance(target, ast.Name) and scope.resolves_global(target.id):
            # `a += x` reads `a`, and changes it in place when it is mutable.
            self._load(target.id, target, definite, forced="mutate")
        self._expr(stmt.value, scope, definite)
        self._target(target, scope, definite)

    def _ann_assign(self, stmt: ast.AnnAssign, scope: Scope, definite: set[str]) -> None:
        self._expr(stmt.annotation, scope, definite)
        if stmt.value is not None:
            self._expr(stmt.value, scope, definite)
            self._target(stmt.target, scope, definite)

    def _for(self, stmt: ast.For | ast.AsyncFor, scope: Scope, definite: set[str]) -> None:
        self._expr(stmt.iter, scope, definite)
        inner = set(definite)
        self._target(stmt.target, scope, inner)
        self._block(stmt.body, scope, inner)
        self._block(stmt.orelse, scope, set(inner))

    def _branch(self, stmt: ast.While | ast.If, scope: Scope, definite: set[str]) -> None:
        self._expr(stmt.test, scope, definite)
        self._block(stmt.body, scope, set(definite))
        self._block(stmt.orelse, scope, set(definite))

    def _with(self, stmt: ast.With | ast.AsyncWith, scope: Scope, definite: set[str]) -> None:
        for item in stmt.items:
            self._expr(item.context_expr, scope, definite)
            if item.optional_vars is not None:
                self._target(item.optional_vars, scope, definite)
        self._block(stmt.body, scope, definite)  # the body always starts

    def _try(self, stmt: ast.Try | ast.TryStar, scope: Scope, definite: set[str]) -> None:
        self._block(stmt.body, scope, set(definite))
        for handler in stmt.handlers:
            inner = set(definite)
            if handler.type is not None:
                self._expr(handler.type, scope, inner)
            if handler.name:
                self._bind(handler.name, scope, inner)
            self._block(handler.body, scope, inner)
        self._block(stmt.orelse, scope, set(definite))
        self._block(stmt.finalbody, scope, set(definite))

    def _def(
        self, stmt: ast.FunctionDef | ast.AsyncFunctionDef, scope: Scope, definite: set[str]
    ) -> None:
        for dec in stmt.decorator_list:
            self._expr(dec, scope, definite)
        self._arguments(stmt.args, scope, definite)
        if stmt.returns is not None:
            self._expr(stmt.returns, scope, definite)
        self._bind(stmt.name, scope, definite)
        self._function(stmt, scope)

    def _class_def(self, stmt: ast.ClassDef, scope: Scope, definite: set[str]) -> None:
        for part in [*stmt.decorator_list, *stmt.bases, *(k.value for k in stmt.keywords)]:
            self._expr(part, scope, definite)
        self._class(stmt, scope, definite)
        self._bind(stmt.name, scope, definite)

    def _import(self, stmt: ast.Import | ast.ImportFrom, scope: Scope, definite: set[str]) -> None:
        for alias in stmt.names:
            if alias.name == "*":
                self.dynamic = True
            else:
                self._bind(alias.asname or alias.name.partition(".")[0], scope, definite)

    def _delete(self, stmt: ast.Delete, scope: Scope, definite: set[str]) -> None:
        for target in stmt.targets:
            self._target(target, scope, definite)

    def _match(self, stmt: ast.Match, scope: Scope, definite: set[str]) -> None:
        self._expr(stmt.subject, scope, definite)
        for case in stmt.cases:
            inner = set(definite)
            for n in ast.walk(case.pattern):
                if isinstance(n, ast.MatchValue):
                    self._expr(n.value, scope, inner)
                elif isinstance(n, ast.MatchClass):
                    self._expr(n.cls, scope, inner)
            for name in pattern_names(case.pattern):
                self._bind(name, scope, inner)
            if case.guard is not None:
                self._expr(case.guard, scope, inner)
            self._block(case.body, scope, inner)

    def _declaration(self, stmt: ast.stmt, scope: Scope, definite: set[str]) -> None:
        """``global``/``nonlocal``: already taken into account by the scope."""

    _STATEMENTS: ClassVar[dict[type[ast.stmt], Callable[[Any, Any, Scope, set[str]], None]]] = {
        ast.Assign: _assign,
        ast.AugAssign: _aug_assign,
        ast.AnnAssign: _ann_assign,
        ast.For: _for,
        ast.AsyncFor: _for,
        ast.While: _branch,
        ast.If: _branch,
        ast.With: _with,
        ast.AsyncWith: _with,
        ast.Try: _try,
        ast.TryStar: _try,
        ast.FunctionDef: _def,
        ast.AsyncFunctionDef: _def,
        ast.ClassDef: _class_def,
        ast.Import: _import,
        ast.ImportFrom: _import,
        ast.Delete: _delete,
        ast.Match: _match,
        ast.Global: _declaration,
        ast.Nonlocal: _declaration,
    }

    def _arguments(self, args: ast.arguments, scope: Scope, definite: set[str]) -> None:
        for d in [*args.defaults, *(k for k in args.kw_defaults if k is not None)]:
            self._expr(d, scope, definite)
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if a is not None and a.annotation is not None:
                self._expr(a.annotation, scope, definite)

    def _write(self, name: str, definite: set[str]) -> None:
        self.writes.setdefault(name, None)
        definite.add(name)

    def _bind(self, name: str, scope: Scope, definite: set[str]) -> None:
        """A statement binds ``name`` in ``scope``: a write if that is the notebook's."""
        if scope.binds_global(name):
            self._write(name, definite)

    def _target(self, target: ast.expr, scope: Scope, definite: set[str]) -> None:
        """An assignment or deletion target, evaluated after the value."""
        if isinstance(target, ast.Name):
            if scope.binds_global(target.id):
                self._write(target.id, definite)
                if isinstance(target.ctx, ast.Del):
                    definite.discard(target.id)
        elif isinstance(target, ast.Tuple | ast.List):
            for elt in target.elts:
                self._target(elt, scope, definite)
        elif isinstance(target, ast.Starred):
            self._target(target.value, scope, definite)
        else:
            # x[i] = v, x.a = v, del x[i]: reads x and changes it in place.
            self._expr(target, scope, definite)

    # --- nested scopes -------------------------------------------------------------------

    def _function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, parent: Scope
    ) -> None:
        scope = Scope("lambda" if isinstance(node, ast.Lambda) else "function", parent)
        scope.locals = function_locals(node)
        body: list[ast.AST] = [node.body] if isinstance(node, ast.Lambda) else list(node.body)
        scope.declared_global = declared_globals(body)
        for stmt in body:
            self._deferred_expr(stmt, scope)

    def _deferred(self, node: ast.AST, scope: Scope) -> None:
        """Walk a function body: its global loads and stores happen when it is called."""
        for child in ast.iter_child_nodes(node):
            self._deferred_expr(child, scope)

    def _deferred_expr(self, node: ast.AST, scope: Scope) -> None:
        if isinstance(node, ast.Name):
            self._name(node, scope, None)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            if not isinstance(node, ast.Lambda):
                for dec in node.decorator_list:
                    self._deferred_expr(dec, scope)
            for d in [*node.args.defaults, *(k for k in node.args.kw_defaults if k is not None)]:
                self._deferred_expr(d, scope)
            self._function(node, scope)
        elif isinstance(node, ast.ClassDef):
            for part in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
                self._deferred_expr(part, scope)
            cls = Scope("class", scope)
            for stmt in node.body:
                cls.locals.update(bound_names(stmt))
            for stmt in node.body:
                self._deferred_expr(stmt, cls)
        elif isinstance(node, COMPREHENSIONS):
            self._comprehension(node, scope, None)
        else:
            if isinstance(node, ast.Call):
                self._call(node, scope, None)
            self._deferred(node, scope)

    def _class(self, node: ast.ClassDef, parent: Scope, definite: set[str]) -> None:
        """A class body runs at once, in its own namespace that falls back to globals."""
        scope = Scope("class", parent)
        local_definite = set(definite)
        for stmt in node.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                for dec in stmt.decorator_list:
                    self._expr(dec, scope, local_definite)
                self._arguments(stmt.args, scope, local_definite)
                scope.locals.add(stmt.name)
                self._function(stmt, scope)
            else:
                for sub in own_nodes(stmt):
                    if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                        scope.locals.add(sub.id)
                self._class_stmt(stmt, scope, local_definite)

    def _class_stmt(self, stmt: ast.stmt, scope: Scope, definite: set[str]) -> None:
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.expr):
                self._expr(child, scope, definite)
            elif isinstance(child, ast.stmt):
                self._class_stmt(child, scope, definite)

    def _comprehension(
        self, node: _Comprehension, parent: Scope, definite: set[str] | None
    ) -> None:
        """Comprehensions run at once (``definite`` given) or inside a function (``None``)."""
        scope = Scope("comprehension", parent)
        for gen in node.generators:
            for sub in ast.walk(gen.target):
                if isinstance(sub, ast.Name):
                    scope.locals.add(sub.id)
        self._any(node.generators[0].iter, parent, definite)
        parts: list[ast.AST] = []
        for i, gen in enumerate(node.generators):
            if i:
                parts.append(gen.iter)
            parts.extend(gen.ifs)
        if isinstance(node, ast.DictComp):
            parts.extend([node.key, node.value])
        else:
            parts.append(node.elt)
        for part in parts:
            self._any(part, scope, definite)

    def _any(self, node: ast.AST, scope: Scope, definite: set[str] | None) -> None:
        if definite is None:
            self._deferred_expr(node, scope)
        else:
            self._expr(node, scope, definite)

    # --- expressions ---------------------------------------------------------------------

    def _expr(self, node: ast.AST, scope: Scope, definite: set[str]) -> None:
        """Visit an expression evaluated now, in ``scope``."""
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, ast.Name):
                self._name(n, scope, definite)
            elif isinstance(n, ast.Lambda):
                self._arguments(n.args, scope, definite)
                self._function(n, scope)
            elif isinstance(n, COMPREHENSIONS):
                self._comprehension(n, scope, definite)
            elif isinstance(n, ast.NamedExpr):
                stack.append(n.value)
                # A walrus binds in the nearest function or module scope.
                target_scope = scope
                while target_scope.kind == "comprehension" and target_scope.parent:
                    target_scope = target_scope.parent
                if target_scope.kind == "module":
                    self._write(n.target.id, definite)
            else:
                if isinstance(n, ast.Call):
                    self._call(n, scope, definite)
                stack.extend(reversed(list(ast.iter_child_nodes(n))))

    def _call(self, node: ast.Call, scope: Scope, definite: set[str] | None) -> None:
        """Calls that change the namespace behind the syntax's back, and magics."""
        func = node.func
        if (
            isinstance(func, ast.Name)
            and func.id in _DYNAMIC_BUILTINS
            and (func.id != "vars" or not node.args)  # vars(obj) only reads obj
        ):
            self.dynamic = True
        magic = magic_call(node)
        if magic is not None:
            self._magic(node, magic, scope, definite)
        elif (
            is_get_ipython_call(node)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr not in ("system", "getoutput")  # !cmd and x = !cmd
        ):
            self.dynamic = True

    def _magic(
        self, node: ast.Call, magic: MagicCall, scope: Scope, definite: set[str] | None
    ) -> None:
        if magic.name == "track":
            head, _, rest = magic.line.strip().partition(" ")
            if head in ("params", "metrics"):
                # The names given to the magic are read by it.
                for word in rest.split():
                    if word.isidentifier() and (definite is None or word not in definite):
                        self.reads.setdefault(word, None)
                        self.uses.setdefault(word, NameUse())
        elif magic.name in TIMING_MAGICS:
            self._timed(node, magic, scope, definite)
        elif magic.name not in INERT_MAGICS:
            self.dynamic = True

    def _timed(
        self, node: ast.Call, magic: MagicCall, scope: Scope, definite: set[str] | None
    ) -> None:
        """The code of ``%time``/``%timeit`` (line or cell), walked like the cell's own."""
        code = timed_code(magic)
        if code is None:
            self.dynamic = True  # code we cannot read: the namespace is checked instead
            return
        body = ast.Module(body=list(code.body), type_ignores=[])
        self._adopt(body)
        if code.returned is not None:
            self.returns[code.returned] = node
        if code.result_name is not None and code.result_name.isidentifier():
            if definite is None:
                self.maybe_writes.setdefault(code.result_name, None)
            else:
                self._write(code.result_name, definite)
        if code.in_function or scope.kind != "module":
            # %timeit runs the code in a function of its own (as does any magic reached
            # from a function or class body: it runs in that local namespace).
            inner = Scope("function", scope)
            inner.locals = code_locals(code.body)
            inner.declared_global = declared_globals(code.body)
            scope = inner
        if definite is None:
            for stmt in code.body:
                self._deferred_expr(stmt, scope)
        else:
            self._block(code.body, scope, definite)

    def _name(self, node: ast.Name, scope: Scope, definite: set[str] | None) -> None:
        if isinstance(node.ctx, ast.Store | ast.Del):
            if scope.kind != "module" and node.id in scope.declared_global:
                self.maybe_writes.setdefault(node.id, None)
            return
        if node.id == "get_ipython" or not scope.resolves_global(node.id):
            return
        self._load(node.id, node, definite)

    def _load(
        self, name: str, node: ast.AST, definite: set[str] | None, forced: str | None = None
    ) -> None:
        use = mutation_use() if forced == "mutate" else classify(node, self.parents, self.returns)
        if definite is None:
            self.deferred_reads.setdefault(name, None)
        elif name not in definite:
            self.reads.setdefault(name, None)
        elif not use.mutate:
            return  # the cell's own value, used without change: nothing to record
        prev = self.uses.get(name)
        self.uses[name] = use if prev is None else prev.merge(use)
