"""What a cell reads and writes, from its syntax tree.

:func:`analyze` takes a cell's source *after* IPython's input transformations (magics
are then plain calls such as ``get_ipython().run_line_magic('track', 'params C')``)
and returns a :class:`CellAnalysis`: the free names the cell reads (in first-use
order), the names it binds, and for every name it reads *how* it uses the object
bound to it. The capture hooks use the uses to decide, before and after the cell,
which values must be hashed again:

* ``mutate``: a syntactic in-place change of the object (``a[3] = 7``,
  ``df.loc[0, "x"] = 1``, ``del d["k"]``, ``obj.attr = v``, ``a += 1``).
* ``escape``: the object (or a view of it) leaves the expression: passed to a call,
  bound to another name, put in a container, iterated, returned... The callee or
  the alias may change it, so its content has to be checked after the cell.
* ``methods``: method calls on the object, kept by name, because whether
  ``x.sort()`` changes ``x`` depends on the type of ``x`` (known only at run time).
* ``pure``: uses that cannot change the object (``len(x)``, ``x.shape``, ``x + 1``,
  ``print(x)``, displaying ``x``).

The analysis is syntactic and therefore cached by source text (a cell run again
costs a dictionary lookup). It never raises: a cell that does not parse gets an
analysis with ``syntax_error`` set (IPython reports the error itself).
"""

from __future__ import annotations

import ast
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

__all__ = [
    "CONTROL_SUBCOMMANDS",
    "CellAnalysis",
    "MethodUse",
    "NameUse",
    "analyze",
    "clear_cache",
]

#: ``%track`` subcommands that only control the tracker (a cell made only of them,
#: or of ``%load_ext tracker``, leaves no record).
CONTROL_SUBCOMMANDS = frozenset({"on", "off", "status", "sklearn", "rehash", "help", ""})
#: Line magics that never bind or change user variables.
_INERT_MAGICS = frozenset(
    {
        "matplotlib",
        "pip",
        "conda",
        "who",
        "whos",
        "who_ls",
        "pwd",
        "history",
        "hist",
        "config",
        "load_ext",
        "reload_ext",
        "unload_ext",
        "lsmagic",
        "magic",
        "precision",
        "pdb",
        "xmode",
        "autosave",
        "ls",
        "cd",
        "env",
        "pinfo",
        "pinfo2",
        "psearch",
        "pdoc",
        "pdef",
        "psource",
        "pfile",
        "page",
        "colors",
        "automagic",
        "autocall",
        "doctest_mode",
        "quickref",
        "alias_magic",
        "notebook",
        "qtconsole",
        "connect_info",
        "clear",
        "cls",
        "system",
        "sx",
        "sc",
        "bookmark",
        "dhist",
        "dirs",
        "popd",
        "pushd",
        "ldir",
        "lf",
        "lk",
        "ll",
        "lx",
        "mkdir",
        "rmdir",
        "cat",
        "cp",
        "mv",
        "rm",
        "rep",
        "recall",
        "tb",
        "less",
        "more",
        "man",
        "killbgscripts",
    }
)
#: Builtins whose result is a new object and that never change their arguments.
_PURE_BUILTINS = frozenset(
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
_SAFE_ATTRS = frozenset(
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

_CACHE_SIZE = 2048
_cache: OrderedDict[str, CellAnalysis] = OrderedDict()
_cache_lock = threading.Lock()


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


@dataclass(frozen=True, slots=True)
class CellAnalysis:
    """What a cell does with names.

    Attributes:
        reads: Free names the cell reads, in first-use order (names the cell binds
            before reading them are not free). Includes names read inside functions
            and lambdas the cell defines, and the names given to ``%track params``
            and ``%track metrics``.
        writes: Names the cell binds or deletes at module level, in order.
        maybe_writes: Names functions defined in the cell declare ``global`` and
            assign; they change only if the function is called.
        uses: For each name read (or changed in place), how the cell uses it.
        dynamic: The cell can bind names the syntax does not show (``exec``,
            ``globals()``, a star import, a magic that runs code such as ``%run``).
        control_only: Only ``%track`` control magics or ``%load_ext``: no record.
        track_cell: The cell starts with ``%%track`` (the transformed marker).
        syntax_error: The source does not parse.
    """

    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    maybe_writes: tuple[str, ...] = ()
    uses: dict[str, NameUse] = field(default_factory=dict)
    dynamic: bool = False
    control_only: bool = False
    track_cell: bool = False
    syntax_error: bool = False

    @property
    def mutated(self) -> frozenset[str]:
        """Names whose object the cell changes in place, syntactically."""
        return frozenset(k for k, u in self.uses.items() if u.mutate)


def analyze(source: str) -> CellAnalysis:
    """Analyse a (transformed) cell source; cached by source text, thread-safe.

    Args:
        source: The cell after IPython's input transformations.

    Returns:
        The :class:`CellAnalysis` (shared: do not mutate its ``uses`` mapping).
    """
    with _cache_lock:
        hit = _cache.get(source)
        if hit is not None:
            _cache.move_to_end(source)
            return hit
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        result = CellAnalysis(syntax_error=True)
    else:
        try:
            result = _Analyzer(tree).run()
        except RecursionError:  # absurdly deep expressions: say nothing rather than fail
            result = CellAnalysis(dynamic=True)
    with _cache_lock:
        _cache[source] = result
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def clear_cache() -> None:
    """Forget cached analyses."""
    with _cache_lock:
        _cache.clear()


# --- implementation ----------------------------------------------------------------------


class _Scope:
    """A namespace in the cell: the module, or a function/lambda/comprehension/class body."""

    __slots__ = ("declared_global", "kind", "locals", "parent")

    def __init__(self, kind: str, parent: _Scope | None) -> None:
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


def _is_get_ipython_call(node: ast.AST, method: str | None = None) -> bool:
    """``get_ipython().<method>(...)``: how IPython spells magics after transformation."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    inner = node.func.value
    if not (
        isinstance(inner, ast.Call)
        and isinstance(inner.func, ast.Name)
        and inner.func.id == "get_ipython"
    ):
        return False
    return method is None or node.func.attr == method


def _magic_call(node: ast.AST) -> tuple[str, str] | None:
    """(magic name, argument line) for ``get_ipython().run_line_magic('x', 'args')``."""
    if not _is_get_ipython_call(node):
        return None
    assert isinstance(node, ast.Call)
    assert isinstance(node.func, ast.Attribute)
    if node.func.attr not in ("run_line_magic", "run_cell_magic"):
        return None
    args = node.args
    if len(args) >= 2 and all(isinstance(a, ast.Constant) for a in args[:2]):
        name, line = args[0].value, args[1].value  # type: ignore[attr-defined]
        if isinstance(name, str) and isinstance(line, str):
            if node.func.attr == "run_cell_magic":
                return f"%%{name}", line
            return name, line
    return "?", ""


def _function_locals(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    """Names local to a function: parameters and names bound in its own body."""
    a = node.args
    params = [*a.posonlyargs, *a.args, *a.kwonlyargs]
    if a.vararg:
        params.append(a.vararg)
    if a.kwarg:
        params.append(a.kwarg)
    names = {p.arg for p in params}
    if isinstance(node, ast.Lambda):
        body: list[ast.AST] = [node.body]
    else:
        body = list(node.body)
    declared: set[str] = set()
    for stmt in body:
        for sub in _own_nodes(stmt):
            if isinstance(sub, ast.Global | ast.Nonlocal):
                declared.update(sub.names)
    for stmt in body:
        names.update(_bound_names(stmt))
    return names - declared


def _own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """``node`` and its descendants, without entering nested scopes' bodies."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        for child in ast.iter_child_nodes(n):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                # Their decorators and defaults belong to this scope; their body does not.
                stack.extend(child.decorator_list)
                if not isinstance(child, ast.ClassDef):
                    stack.extend(child.args.defaults)
                    stack.extend(d for d in child.args.kw_defaults if d is not None)
                else:
                    stack.extend(child.bases)
                    stack.extend(k.value for k in child.keywords)
                yield child
            elif isinstance(child, ast.Lambda):
                stack.extend(child.args.defaults)
                stack.extend(d for d in child.args.kw_defaults if d is not None)
            elif isinstance(child, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
                # Only walrus targets inside a comprehension bind in this scope.
                for sub in ast.walk(child):
                    if isinstance(sub, ast.NamedExpr):
                        yield sub
                # The first iterable is evaluated in this scope.
                stack.append(child.generators[0].iter)
            else:
                stack.append(child)


def _bound_names(node: ast.AST) -> set[str]:
    """Names a statement binds in its own scope."""
    out: set[str] = set()
    for n in _own_nodes(node):
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


def _pattern_names(pattern: ast.pattern) -> list[str]:
    """Names a ``case`` pattern captures, in source order."""
    found: list[tuple[int, int, str]] = []
    for n in ast.walk(pattern):
        name = n.rest if isinstance(n, ast.MatchMapping) else getattr(n, "name", None)
        if isinstance(name, str) and isinstance(n, ast.MatchAs | ast.MatchStar | ast.MatchMapping):
            found.append((n.lineno, n.col_offset, name))
    return [name for _, _, name in sorted(found)]


_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


class _Analyzer:
    """One pass over a module tree (see :func:`analyze`)."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
        self.reads: dict[str, None] = {}
        self.deferred_reads: dict[str, None] = {}  # loads in function bodies (run later)
        self.writes: dict[str, None] = {}
        self.maybe_writes: dict[str, None] = {}
        self.uses: dict[str, NameUse] = {}
        self.dynamic = False
        self.track_cell = False
        self.module = _Scope("module", None)

    # --- driver ------------------------------------------------------------------------

    def run(self) -> CellAnalysis:
        body = self.tree.body
        control = bool(body)
        for i, stmt in enumerate(body):
            magic = _magic_call(stmt.value) if isinstance(stmt, ast.Expr) else None
            if magic is None:
                control = False
                continue
            name, line = magic
            sub = line.strip().split(maxsplit=1)
            head = sub[0] if sub else ""
            if name == "track" and head == "__cell__" and i == 0:
                self.track_cell = True
            elif not (
                (name == "track" and head in CONTROL_SUBCOMMANDS)
                or (name in ("load_ext", "reload_ext", "unload_ext") and "tracker" in line)
            ):
                control = False
        definite: set[str] = set()
        self._block(body, definite)
        # Loads inside function bodies run when the function is called: by then the cell
        # may have bound the name itself, so only names it never binds are free.
        for name in self.deferred_reads:
            if name not in definite and name not in self.reads:
                self.reads[name] = None
        uses = {k: v for k, v in self.uses.items() if k in self.reads or v.mutate}
        return CellAnalysis(
            reads=tuple(self.reads),
            writes=tuple(self.writes),
            maybe_writes=tuple(k for k in self.maybe_writes if k not in self.writes),
            uses=uses,
            dynamic=self.dynamic,
            control_only=control and not self.track_cell,
            track_cell=self.track_cell,
        )

    # --- statements (module level, in execution order) --------------------------------

    def _block(self, stmts: Iterable[ast.stmt], definite: set[str]) -> None:
        for stmt in stmts:
            self._stmt(stmt, definite)

    def _stmt(self, stmt: ast.stmt, definite: set[str]) -> None:
        scope = self.module
        if isinstance(stmt, ast.Assign):
            self._expr(stmt.value, scope, definite)
            for target in stmt.targets:
                self._target(target, scope, definite)
        elif isinstance(stmt, ast.AugAssign):
            if isinstance(stmt.target, ast.Name):
                # `a += x` reads `a`, and changes it in place when it is mutable.
                self._load(stmt.target.id, stmt.target, scope, definite, forced="mutate")
            self._expr(stmt.value, scope, definite)
            self._target(stmt.target, scope, definite)
        elif isinstance(stmt, ast.AnnAssign):
            self._expr(stmt.annotation, scope, definite)
            if stmt.value is not None:
                self._expr(stmt.value, scope, definite)
                self._target(stmt.target, scope, definite)
        elif isinstance(stmt, ast.For | ast.AsyncFor):
            self._expr(stmt.iter, scope, definite)
            inner = set(definite)
            self._target(stmt.target, scope, inner)
            self._block(stmt.body, inner)
            self._block(stmt.orelse, set(inner))
        elif isinstance(stmt, ast.While | ast.If):
            self._expr(stmt.test, scope, definite)
            self._block(stmt.body, set(definite))
            self._block(stmt.orelse, set(definite))
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            for item in stmt.items:
                self._expr(item.context_expr, scope, definite)
                if item.optional_vars is not None:
                    self._target(item.optional_vars, scope, definite)
            self._block(stmt.body, definite)  # the body always starts
        elif isinstance(stmt, ast.Try | ast.TryStar):
            self._block(stmt.body, set(definite))
            for handler in stmt.handlers:
                inner = set(definite)
                if handler.type is not None:
                    self._expr(handler.type, scope, inner)
                if handler.name:
                    self._write(handler.name, inner)
                self._block(handler.body, inner)
            self._block(stmt.orelse, set(definite))
            self._block(stmt.finalbody, set(definite))
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            for dec in stmt.decorator_list:
                self._expr(dec, scope, definite)
            self._arguments(stmt.args, scope, definite)
            if stmt.returns is not None:
                self._expr(stmt.returns, scope, definite)
            self._write(stmt.name, definite)
            self._function(stmt, scope)
        elif isinstance(stmt, ast.ClassDef):
            for dec in stmt.decorator_list:
                self._expr(dec, scope, definite)
            for base in stmt.bases:
                self._expr(base, scope, definite)
            for kw in stmt.keywords:
                self._expr(kw.value, scope, definite)
            self._class(stmt, scope, definite)
            self._write(stmt.name, definite)
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            for alias in stmt.names:
                if alias.name == "*":
                    self.dynamic = True
                else:
                    self._write(alias.asname or alias.name.partition(".")[0], definite)
        elif isinstance(stmt, ast.Delete):
            for target in stmt.targets:
                self._target(target, scope, definite)
        elif isinstance(stmt, ast.Match):
            self._expr(stmt.subject, scope, definite)
            for case in stmt.cases:
                inner = set(definite)
                for n in ast.walk(case.pattern):
                    if isinstance(n, ast.MatchValue):
                        self._expr(n.value, scope, inner)
                    elif isinstance(n, ast.MatchClass):
                        self._expr(n.cls, scope, inner)
                for name in _pattern_names(case.pattern):
                    self._write(name, inner)
                if case.guard is not None:
                    self._expr(case.guard, scope, inner)
                self._block(case.body, inner)
        elif isinstance(stmt, ast.Global | ast.Nonlocal):
            pass
        else:
            # Expr, Return, Raise, Assert, Pass, Break, Continue...
            for child in ast.iter_child_nodes(stmt):
                if isinstance(child, ast.expr):
                    self._expr(child, scope, definite)

    def _arguments(self, args: ast.arguments, scope: _Scope, definite: set[str]) -> None:
        for d in [*args.defaults, *(k for k in args.kw_defaults if k is not None)]:
            self._expr(d, scope, definite)
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if a is not None and a.annotation is not None:
                self._expr(a.annotation, scope, definite)

    def _write(self, name: str, definite: set[str]) -> None:
        self.writes.setdefault(name, None)
        definite.add(name)

    def _target(self, target: ast.expr, scope: _Scope, definite: set[str]) -> None:
        """An assignment or deletion target, evaluated after the value."""
        if isinstance(target, ast.Name):
            if scope.kind == "module" or target.id in scope.declared_global:
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
        self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, parent: _Scope
    ) -> None:
        scope = _Scope("lambda" if isinstance(node, ast.Lambda) else "function", parent)
        scope.locals = _function_locals(node)
        body: list[ast.AST] = [node.body] if isinstance(node, ast.Lambda) else list(node.body)
        for stmt in body:
            for sub in _own_nodes(stmt):
                if isinstance(sub, ast.Global):
                    scope.declared_global.update(sub.names)
        for stmt in body:
            self._deferred(stmt, scope)

    def _deferred(self, node: ast.AST, scope: _Scope) -> None:
        """Walk a function body: its global loads and stores happen when it is called."""
        for child in ast.iter_child_nodes(node):
            self._deferred_expr(child, scope)

    def _deferred_expr(self, node: ast.AST, scope: _Scope) -> None:
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
            cls = _Scope("class", scope)
            for stmt in node.body:
                cls.locals.update(_bound_names(stmt))
            for stmt in node.body:
                self._deferred_expr(stmt, cls)
        elif isinstance(node, _COMPREHENSIONS):
            self._comprehension(node, scope, None)
        else:
            if isinstance(node, ast.Call):
                self._call(node, None)
            self._deferred(node, scope)

    def _class(self, node: ast.ClassDef, parent: _Scope, definite: set[str]) -> None:
        """A class body runs at once, in its own namespace that falls back to globals."""
        scope = _Scope("class", parent)
        local_definite = set(definite)
        for stmt in node.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                for dec in stmt.decorator_list:
                    self._expr(dec, scope, local_definite)
                self._arguments(stmt.args, scope, local_definite)
                scope.locals.add(stmt.name)
                self._function(stmt, scope)
            else:
                for sub in _own_nodes(stmt):
                    if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                        scope.locals.add(sub.id)
                self._deferred_class_stmt(stmt, scope, local_definite)

    def _deferred_class_stmt(self, stmt: ast.stmt, scope: _Scope, definite: set[str]) -> None:
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.expr):
                self._expr(child, scope, definite)
            elif isinstance(child, ast.stmt):
                self._deferred_class_stmt(child, scope, definite)

    def _comprehension(
        self,
        node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp,
        parent: _Scope,
        definite: set[str] | None,
    ) -> None:
        """Comprehensions run at once (``definite`` given) or inside a function (``None``)."""
        scope = _Scope("comprehension", parent)
        for gen in node.generators:
            for sub in ast.walk(gen.target):
                if isinstance(sub, ast.Name):
                    scope.locals.add(sub.id)
        first = node.generators[0].iter
        self._any(first, parent, definite)
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

    def _any(self, node: ast.AST, scope: _Scope, definite: set[str] | None) -> None:
        if definite is None:
            self._deferred_expr(node, scope)
        else:
            self._expr(node, scope, definite)

    # --- expressions ---------------------------------------------------------------------

    def _expr(self, node: ast.AST, scope: _Scope, definite: set[str]) -> None:
        """Visit an expression evaluated now, in ``scope``."""
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, ast.Name):
                self._name(n, scope, definite)
            elif isinstance(n, ast.Lambda):
                self._arguments(n.args, scope, definite)
                self._function(n, scope)
            elif isinstance(n, _COMPREHENSIONS):
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
                    self._call(n, definite)
                stack.extend(reversed(list(ast.iter_child_nodes(n))))

    def _call(self, node: ast.Call, definite: set[str] | None) -> None:
        """Calls that change the namespace behind the syntax's back, and ``%track`` names."""
        func = node.func
        dynamic_builtins = ("exec", "eval", "globals", "vars", "locals")
        if (
            isinstance(func, ast.Name)
            and func.id in dynamic_builtins
            and (func.id != "vars" or not node.args)  # vars(obj) only reads obj
        ):
            self.dynamic = True
        magic = _magic_call(node)
        if magic is not None:
            name, line = magic
            if name == "track":
                head, _, rest = line.strip().partition(" ")
                if head in ("params", "metrics"):
                    # The names given to the magic are read by it.
                    for word in rest.split():
                        if word.isidentifier() and (definite is None or word not in definite):
                            self.reads.setdefault(word, None)
                            self.uses.setdefault(word, NameUse())
            elif name not in _INERT_MAGICS:
                self.dynamic = True
        elif (
            _is_get_ipython_call(node)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr not in ("system", "getoutput")  # !cmd and x = !cmd
        ):
            self.dynamic = True

    def _name(self, node: ast.Name, scope: _Scope, definite: set[str] | None) -> None:
        if isinstance(node.ctx, ast.Store | ast.Del):
            if scope.kind != "module" and node.id in scope.declared_global:
                self.maybe_writes.setdefault(node.id, None)
            return
        if node.id == "get_ipython" or not scope.resolves_global(node.id):
            return
        self._load(node.id, node, scope, definite)

    def _load(
        self,
        name: str,
        node: ast.AST,
        scope: _Scope,
        definite: set[str] | None,
        forced: str | None = None,
    ) -> None:
        use = _mutation_use() if forced == "mutate" else self._classify(node)
        if definite is None:
            self.deferred_reads.setdefault(name, None)
        elif name not in definite:
            self.reads.setdefault(name, None)
        elif not use.mutate:
            return  # the cell's own value, used without change: nothing to record
        prev = self.uses.get(name)
        self.uses[name] = use if prev is None else prev.merge(use)

    def _classify(self, node: ast.AST) -> NameUse:
        """How the expression rooted at a loaded name uses its object."""
        parents = self.parents
        current = node
        methods: list[MethodUse] = []
        while True:
            p = parents.get(current)
            if p is None:
                return NameUse(escape=True)
            if isinstance(p, ast.Attribute) and p.value is current:
                if isinstance(p.ctx, ast.Store | ast.Del):
                    return _mutation_use(methods)
                gp = parents.get(p)
                if isinstance(gp, ast.Call) and gp.func is p:
                    inplace = any(
                        k.arg == "inplace"
                        and isinstance(k.value, ast.Constant)
                        and k.value.value is True
                        for k in gp.keywords
                    ) or any(
                        # inplace passed as a variable: assume it may be True
                        k.arg == "inplace" and not isinstance(k.value, ast.Constant)
                        for k in gp.keywords
                    )
                    escapes = self._result_escapes(gp)
                    methods.append(MethodUse(p.attr, inplace, escapes))
                    return NameUse(methods=tuple(methods))
                if p.attr in _SAFE_ATTRS:
                    return NameUse(methods=tuple(methods))
                current = p  # possibly a view (x.T, x.values, x.loc): keep following
                continue
            if isinstance(p, ast.Subscript):
                if p.value is current:
                    if isinstance(p.ctx, ast.Store | ast.Del):
                        return _mutation_use(methods)
                    current = p  # x[i] may be a view
                    continue
                return NameUse(methods=tuple(methods))  # used as an index: read only
            if isinstance(p, ast.Call):
                if p.func is current:
                    # x(...) calls the object itself (a function or callable object)
                    return NameUse(called=True, methods=tuple(methods))
                if isinstance(p.func, ast.Name) and p.func.id in _PURE_BUILTINS:
                    return NameUse(methods=tuple(methods))
                if _is_get_ipython_call(p):
                    return NameUse(methods=tuple(methods))
                return NameUse(escape=True, methods=tuple(methods))
            if isinstance(p, ast.keyword | ast.Starred):
                current = p
                continue
            if isinstance(p, ast.BinOp | ast.UnaryOp | ast.Compare):
                return NameUse(methods=tuple(methods))  # the result is a new object
            if isinstance(p, ast.BoolOp | ast.IfExp | ast.Tuple | ast.List | ast.Set | ast.Dict):
                if isinstance(p, ast.IfExp) and p.test is current:
                    return NameUse(methods=tuple(methods))
                current = p  # the value itself travels on
                continue
            if isinstance(p, ast.Expr | ast.FormattedValue | ast.JoinedStr):
                return NameUse(methods=tuple(methods))  # displayed or formatted
            if (
                isinstance(p, ast.If | ast.While | ast.Assert)
                and getattr(p, "test", None) is current
            ):
                return NameUse(methods=tuple(methods))
            if isinstance(p, ast.Slice):
                return NameUse(methods=tuple(methods))
            return NameUse(escape=True, methods=tuple(methods))

    def _result_escapes(self, call: ast.Call) -> bool:
        """Whether a method call's result is kept (bound, passed on) rather than consumed."""
        p = self.parents.get(call)
        return not (
            isinstance(p, ast.Expr | ast.FormattedValue | ast.BinOp | ast.Compare | ast.UnaryOp)
            or (
                isinstance(p, ast.Call)
                and isinstance(p.func, ast.Name)
                and p.func.id in _PURE_BUILTINS
            )
            or (isinstance(p, ast.Attribute) and p.attr in _SAFE_ATTRS)
        )


def _mutation_use(methods: Iterable[MethodUse] = ()) -> NameUse:
    return NameUse(mutate=True, methods=tuple(methods))
