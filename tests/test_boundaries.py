"""Import boundaries, module sizes and function lengths, derived from the code.

Every module under ``tracker/`` is parsed with :mod:`ast` and every import is
collected: module-level ones, those inside functions (they run when the function
does), those under ``if TYPE_CHECKING:`` (they never run, but tie the code to another
module's names), and ``importlib.import_module("literal")`` calls. From that graph:

* each outside package is imported by the one subpackage that owns it (``OWNERS``),
  and every outside package the code imports is either owned or declared shared
  (``SHARED``), so a new dependency cannot arrive without a decision;
* the layers in ``pyproject.toml`` (the import-linter ``layers`` contract, the one
  place they are written) are respected, every module of ``tracker`` is in a layer,
  and nothing imports the ``tracker`` facade from inside the package;
* the ``forbidden`` contracts in ``pyproject.toml`` (the server never reaches the
  kernel side) hold for everything that runs, including imports inside functions
  and imports by name string, which import-linter does not see;
* modules stay under ``MAX_MODULE_LINES`` lines and functions under
  ``MAX_FUNCTION_LINES`` unless a ``# long:`` comment says why.

``lint-imports`` (run by ``make test``) checks the same pyproject contracts through
its own graph; this test adds what that graph cannot see and the ownership rule that
used to be seven hand-listed contracts. That ``import tracker`` loads none of optuna,
plotly, ipywidgets, tornado or IPython is checked at run time in ``test_package.py``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

import tracker

PACKAGE = Path(tracker.__file__).resolve().parent
ROOT = PACKAGE.parent

# Who may import each outside package: one subpackage of tracker, so a change in that
# package's API, or a swap of it, touches one place, and the parts of the tracker that
# do not need it never load it.
OWNERS: dict[str, str] = {
    "IPython": "tracker.capture",  # the kernel side: magics, cell hooks
    "ipykernel": "tracker.capture",  # which kernel and notebook this is
    "optuna": "tracker.tuning",  # the search engine
    "distributed": "tracker.tuning",  # executor=: Dask clients (tuning/_executor.py only)
    "cloudpickle": "tracker.tuning",  # executor=: objectives sent to workers (the same)
    "sqlalchemy": "tracker.store",  # the SQL store, SQLite and PostgreSQL
    "alembic": "tracker.store",  # its migrations
    "tinydb": "tracker.store",  # the spool and the archive format
    "filelock": "tracker.store",  # the spool's liveness locks (flock / LockFileEx)
    "psycopg": "tracker.store",  # the PostgreSQL driver (see INDIRECT)
    "plotly": "tracker.viz",  # figures
    "ipywidgets": "tracker.widgets",  # live progress in notebooks
    "tornado": "tracker.server",  # the REST API
    "jupyter_server": "tracker.server",  # the server extension
    "xxhash": "tracker.hashing",  # one digest recipe (hash_parts for small keys)
    "mlflow": "tracker.interop",  # import-mlflow reads MLflow through its own client
    "fsspec": "tracker.store",  # artifact roots behind URLs (tracker/store/artifacts/_fsspec.py)
    "psutil": "tracker.run",  # system metrics: the sampler thread (tracker/run/_system.py)
    "pynvml": "tracker.run",  # the same, for NVIDIA GPUs (the optional ``gpu`` extra)
    "skops": "tracker.models",  # models saved without pickle (tracker/models/_formats.py)
}

# Owned packages the owner loads without an import statement: SQLAlchemy imports the
# driver that the store URL names.
INDIRECT = {"psycopg"}

# Imports of an owned package outside its owner: (importing subpackage, imported
# module) -> why. Each entry is an exception to the rule above, so each says why.
OWNER_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("tracker.widgets", "IPython.display"): (
        "a widget is shown in the running cell's output only through IPython.display, "
        "and ipywidgets imports IPython itself, so widgets cannot be loaded without it; "
        "routing this one call through capture would put widgets above capture in the "
        "layers for nothing"
    ),
}

# Outside packages any layer may import, and why no single subpackage owns them.
SHARED: dict[str, str] = {
    "numpy": "the data users hand to logging, hashing, latency, slices and the front",
    "pandas": "the same, and runs_frame returns a DataFrame",
    "sklearn": "the models users train: autologging reads them, cards and examples too",
    "pyarrow": "pandas' Arrow-backed columns, read where they are hashed or opened",
    "traitlets": "Jupyter's configuration system (the server extension's settings)",
    "jupyter_core": "Jupyter's own directories, for any part that must tell them apart",
}

# Modules that are in no layer: the facade (it names every public function, lazily)
# and the version string it exports.
UNLAYERED = {"tracker", "tracker._version"}

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80  # from `def` (decorators included) to the end, without the docstring
LONG_MARK = "# long:"
# Alembic revisions are generated once and never edited after they ship: one
# create_table per table in one upgrade() is their shape, so their length is not checked.
NOT_LENGTH_CHECKED = "tracker/store/_sql/migrations/versions/"

# Offenders owned by branches that split them in parallel (issue 16), so that this
# test passes on every branch meanwhile. This is the only allowance: it is emptied
# when those branches merge, and an entry that no longer offends fails the test.
KNOWN_LONG_MODULES: dict[str, str] = {}
KNOWN_LONG_FUNCTIONS: dict[str, str] = {}


# --- the import graph --------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One import statement (or ``import_module`` call) found in a tracker module."""

    importer: str  # dotted module name, e.g. "tracker.store.ops"
    target: str  # what it imports, resolved: "tracker.run", "optuna.trial", ...
    line: int
    kind: str  # "module", "function" (inside a def), "type" (TYPE_CHECKING) or "name"

    @property
    def runs(self) -> bool:
        """Whether the import can execute (TYPE_CHECKING blocks never do)."""
        return self.kind != "type"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    """Every module of the tracker package (the built labextension has none)."""
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(module: str) -> bool:
    return _modules()[module].name == "__init__.py"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, kind: str) -> Iterator[tuple[ast.AST, str]]:
    """Every node under ``node`` with the kind of import it would be."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            inner = "type" if kind == "type" else "function"
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            yield child.test, kind
            for stmt in child.body:
                yield stmt, "type"
                yield from _walk(stmt, "type")
            for stmt in child.orelse:
                yield stmt, kind
                yield from _walk(stmt, kind)
            continue
        else:
            inner = kind
        yield child, inner
        yield from _walk(child, inner)


def _resolve_from(module: str, node: ast.ImportFrom) -> list[str]:
    """The modules a ``from X import a, b`` statement imports (submodules when they are)."""
    if node.level:
        base = module.split(".") if _is_package(module) else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    out = []
    for alias in node.names:
        sub = f"{source}.{alias.name}"
        if sub in _modules():
            out.append(sub)
        elif source == "tracker":
            out.append(_facade_source(alias.name))
        else:
            out.append(source)
    return out


@cache
def _facade_names() -> dict[str, str]:
    """Name -> defining module for what ``tracker/__init__.py`` imports or loads lazily."""
    tree = ast.parse(_modules()["tracker"].read_text())
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = node.module
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "_LAZY":
            lazy = ast.literal_eval(node.value) if node.value is not None else {}
            names.update({name: mod for name, (mod, _attr) in lazy.items()})
    return names


def _facade_source(name: str) -> str:
    # `from tracker import start_run` inside the package is an import of tracker.run;
    # a name the facade defines itself resolves to the facade (and fails the layer test).
    return _facade_names().get(name, "tracker")


@cache
def _imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for module, path in _modules().items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node, kind in _walk(tree, "module"):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                targets = _resolve_from(module, node)
            elif (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                targets = [node.args[0].value]
                kind = "type" if kind == "type" else "name"
            line = getattr(node, "lineno", 0)
            found += [Import(module, target, line, kind) for target in targets]
    return tuple(found)


def _top(name: str) -> str:
    return name.split(".")[0]


def _subpackage(module: str) -> str:
    """``tracker.store._sql.store`` -> ``tracker.store``; ``tracker.run`` -> itself."""
    return ".".join(module.split(".")[:2])


def _outside(target: str) -> bool:
    top = _top(target)
    return top != "tracker" and top not in sys.stdlib_module_names and top != "__future__"


def _where(imp: Import) -> str:
    path = _modules()[imp.importer].relative_to(ROOT)
    return f"{path}:{imp.line} ({imp.kind}) imports {imp.target}"


def test_the_graph_sees_every_kind_of_import() -> None:
    # Given the real modules, when the graph is built, then it holds imports of each
    # kind, resolved through relative imports, the facade and import_module strings.
    kinds: dict[tuple[str, str], set[str]] = {}
    for i in _imports():
        kinds.setdefault((i.importer, i.target), set()).add(i.kind)
    assert kinds[("tracker.hashing._frames", "tracker.hashing._arrays")] == {"module"}
    assert kinds[("tracker.hashing._objects", "tracker.hashing._arrays")] == {"function"}
    assert "type" in kinds[("tracker.capture", "tracker.capture._recorder")]
    assert kinds[("tracker.cards.slices", "tracker.hashing")] == {"name"}
    assert kinds[("tracker.capture._recorder", "tracker.run")] == {
        "module"
    }  # `from tracker import run`
    assert kinds[("tracker.store._sql.store", "sqlalchemy")] == {"module"}
    assert _facade_source("start_run") == "tracker.run"
    assert _facade_source("optimize").startswith("tracker.")
    assert len(_modules()) > 50


# --- ownership of outside packages ---------------------------------------------------------


def test_each_outside_package_is_imported_by_its_owner_only() -> None:
    by_package: dict[str, set[str]] = {}
    wrong: list[str] = []
    for imp in _imports():
        if not _outside(imp.target):
            continue
        top, sub = _top(imp.target), _subpackage(imp.importer)
        by_package.setdefault(top, set()).add(sub)
        if top in OWNERS and sub != OWNERS[top] and (sub, imp.target) not in OWNER_EXCEPTIONS:
            wrong.append(f"{_where(imp)}, which only {OWNERS[top]} may import")
    assert not wrong, "\n".join(wrong)
    # The map stays true: each owner does import what it owns.
    unused = sorted(
        p
        for p, owner in OWNERS.items()
        if p not in INDIRECT and owner not in by_package.get(p, set())
    )
    assert not unused, f"owners that no longer import their package: {unused}; update OWNERS"
    stale = [key for key in OWNER_EXCEPTIONS if key[0] not in by_package.get(_top(key[1]), ())]
    assert not stale, f"exceptions that no longer apply: {stale}; remove them"


def test_every_outside_package_is_owned_or_declared_shared() -> None:
    undeclared = sorted(
        {
            f"{_top(i.target)} (first seen in {_where(i)})"
            for i in _imports()
            if _outside(i.target) and _top(i.target) not in OWNERS | SHARED
        }
    )
    assert not undeclared, (
        "outside packages with no owner: add each to OWNERS (one subpackage may import "
        "it) or SHARED (with the reason any layer may):\n" + "\n".join(undeclared)
    )
    assert not set(OWNERS) & set(SHARED)


# --- layers --------------------------------------------------------------------------------


@cache
def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


@dataclass(frozen=True)
class Layer:
    index: int  # 0 is the top
    group: int  # siblings separated by "|" are independent: they may not import each other
    name: str
    optional: bool


@cache
def _layers() -> tuple[Layer, ...]:
    (contract,) = [c for c in _contracts() if c["type"] == "layers"]
    layers: list[Layer] = []
    raw = contract["layers"]
    assert isinstance(raw, list)
    for index, line in enumerate(raw):
        # import-linter: "a | b" are independent siblings, "a : b" may import each other.
        for group, part in enumerate(str(line).split("|")):
            for name in part.split(":"):
                name = name.strip()
                optional = name.startswith("(") and name.endswith(")")
                layers.append(Layer(index, group, name.strip("()"), optional))
    return tuple(layers)


def _layer_of(module: str) -> Layer | None:
    for layer in _layers():
        if module == layer.name or module.startswith(layer.name + "."):
            return layer
    return None


def test_every_module_is_in_a_layer() -> None:
    # A module in no layer escapes the layer check, so each must be placed.
    unplaced = sorted(m for m in _modules() if m not in UNLAYERED and _layer_of(m) is None)
    assert not unplaced, f"modules in no layer of pyproject.toml: {unplaced}"
    missing = [
        layer.name
        for layer in _layers()
        if not layer.optional and not any(_layer_of(m) == layer for m in _modules())
    ]
    assert not missing, f"layers naming no module (mark optional ones with parentheses): {missing}"


def test_layers_only_import_downward() -> None:
    # Type-only imports count too: a type from a higher layer ties the code to it.
    wrong: list[str] = []
    for imp in _imports():
        if _top(imp.target) != "tracker":
            continue
        here = _layer_of(imp.importer)
        if here is None:  # the facade itself, or the version
            continue
        if imp.target == "tracker":
            wrong.append(f"{_where(imp)}: the facade sits above every layer")
            continue
        there = _layer_of(imp.target)
        if there is None or there.name == here.name:
            continue
        if there.index < here.index:
            wrong.append(f"{_where(imp)}: {there.name} is a higher layer than {here.name}")
        elif there.index == here.index and there.group != here.group:
            wrong.append(f"{_where(imp)}: {there.name} and {here.name} are independent")
    assert not wrong, "\n".join(wrong)


# --- what runs: forbidden contracts, transitively ------------------------------------------


@cache
def _runtime_edges() -> dict[str, list[Import]]:
    """Importer -> the imports of tracker modules that execute, parents included.

    Importing ``tracker.store.ops`` runs ``tracker/store/__init__.py`` first, so each
    import also reaches its parent packages. The root ``tracker/__init__.py`` is left
    out: it runs before any tracker module in every process (it is the user's facade
    and imports the run API), so it would make every module reach everything.
    """
    edges: dict[str, list[Import]] = {}
    for imp in _imports():
        if not imp.runs or imp.target == "tracker":
            continue
        if _top(imp.target) != "tracker":  # an outside package: the chain ends there
            edges.setdefault(imp.importer, []).append(imp)
            continue
        parts = imp.target.split(".")
        for n in range(2, len(parts) + 1):
            target = ".".join(parts[:n])
            if target in _modules():
                edges.setdefault(imp.importer, []).append(
                    Import(imp.importer, target, imp.line, imp.kind)
                )
    return edges


def _chain(source: str, forbidden: str, indirect: bool = True) -> list[Import] | None:
    """The shortest chain of running imports from ``source`` to ``forbidden``, if any."""
    if not indirect:
        direct = _runtime_edges().get(source, [])
        hits = [i for i in direct if i.target == forbidden or i.target.startswith(forbidden + ".")]
        return hits[:1] or None
    seen = {source}
    queue: deque[tuple[str, list[Import]]] = deque([(source, [])])
    while queue:
        module, path = queue.popleft()
        for imp in _runtime_edges().get(module, []):
            if imp.target == forbidden or imp.target.startswith(forbidden + "."):
                return [*path, imp]
            if imp.target not in seen:
                seen.add(imp.target)
                queue.append((imp.target, [*path, imp]))
    return None


def _forbidden_contracts() -> list[dict[str, object]]:
    return [c for c in _contracts() if c["type"] == "forbidden"]


@pytest.mark.parametrize(
    "contract", _forbidden_contracts(), ids=[str(c["name"]) for c in _forbidden_contracts()]
)
def test_forbidden_modules_are_not_reached_even_through_functions(
    contract: dict[str, object],
) -> None:
    sources = [str(s) for s in contract["source_modules"]]  # type: ignore[attr-defined]
    forbidden = [str(f) for f in contract["forbidden_modules"]]  # type: ignore[attr-defined]
    starts = [m for m in _modules() if any(m == s or m.startswith(s + ".") for s in sources)]
    assert starts, f"{contract['name']}: no module matches {sources}"
    found = []
    for start in starts:
        for target in forbidden:
            chain = _chain(start, target, not contract.get("allow_indirect_imports", False))
            if chain is not None:
                found.append(" -> ".join([start] + [f"{i.target} (line {i.line})" for i in chain]))
    assert not found, "\n".join(found)


def test_the_server_loads_no_kernel_side_package() -> None:
    # The runtime view of the contract above: a process that imports every server
    # module has loaded none of the kernel side (the facade's run API aside: see
    # _runtime_edges) and none of the notebook libraries.
    server = sorted(m for m in _modules() if m.startswith("tracker.server"))
    kernel_side = [
        "tracker.capture",
        "tracker.tuning",
        "tracker.widgets",
        "tracker.facade",
        "IPython",
        "ipywidgets",
        "optuna",
        "plotly",
    ]
    code = (
        "import importlib, json, sys\n"
        f"for m in {server!r}: importlib.import_module(m)\n"
        f"print(json.dumps([m for m in {kernel_side!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- sizes ---------------------------------------------------------------------------------


def _relative(module: str) -> str:
    return str(_modules()[module].relative_to(ROOT))


def test_modules_stay_under_the_size_limit() -> None:
    sizes = {_relative(m): len(p.read_text().splitlines()) for m, p in _modules().items()}
    too_long = {p: n for p, n in sizes.items() if n > MAX_MODULE_LINES}
    unexpected = {p: n for p, n in too_long.items() if p not in KNOWN_LONG_MODULES}
    assert not unexpected, (
        f"modules over {MAX_MODULE_LINES} lines (split by responsibility): {unexpected}"
    )
    fixed = sorted(set(KNOWN_LONG_MODULES) - set(too_long))
    assert not fixed, f"no longer over the limit, remove from KNOWN_LONG_MODULES: {fixed}"


def _function_lengths(path: Path) -> Iterator[tuple[str, int, bool]]:
    """(qualified name, lines without the docstring, whether a ``# long:`` note says why)."""
    lines = path.read_text().splitlines()
    tree = ast.parse("\n".join(lines))

    def visit(node: ast.AST, prefix: str) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([child.lineno] + [d.lineno for d in child.decorator_list])
                length = (child.end_lineno or child.lineno) - start + 1
                body = child.body
                doc = ast.get_docstring(child, clean=False) is not None
                if doc:
                    length -= (body[0].end_lineno or body[0].lineno) - body[0].lineno + 1
                first = body[1] if doc and len(body) > 1 else body[0]
                # The note goes on the line above the def (or its decorators), or on the
                # first line of the body (after the docstring, if any).
                around = [lines[start - 2]] if start >= 2 else []
                around += lines[first.lineno - 2 : first.lineno]
                marked = any(line.strip().startswith(LONG_MARK) for line in around)
                yield f"{prefix}{child.name}", length, marked
                yield from visit(child, f"{prefix}{child.name}.")

    yield from visit(tree, "")


def test_functions_stay_short_or_say_why() -> None:
    too_long: dict[str, int] = {}
    for module, path in _modules().items():
        if _relative(module).startswith(NOT_LENGTH_CHECKED):
            continue
        for name, length, marked in _function_lengths(path):
            if length > MAX_FUNCTION_LINES and not marked:
                too_long[f"{_relative(module)}:{name}"] = length
    unexpected = {k: n for k, n in too_long.items() if k not in KNOWN_LONG_FUNCTIONS}
    assert not unexpected, (
        f"functions over {MAX_FUNCTION_LINES} lines: split them, or say why on the line "
        f"above the def in a '{LONG_MARK} ...' comment: {unexpected}"
    )
    fixed = sorted(set(KNOWN_LONG_FUNCTIONS) - set(too_long))
    assert not fixed, f"no longer over the limit, remove from KNOWN_LONG_FUNCTIONS: {fixed}"


def test_the_size_checks_measure_what_they_say(tmp_path: Path) -> None:
    # Given functions of known length, with and without a note, the checker counts
    # code lines only (not the docstring) and finds the note above or below the def.
    body = "\n".join(f"    x{i} = {i}" for i in range(81))
    source = (
        f'def long_one():\n    """Doc.\n\n    More.\n    """\n{body}\n\n\n'
        f"# long: a table of cases reads best in one place\ndef noted_above():\n{body}\n\n\n"
        f'def noted_below():\n    """Doc."""\n    {LONG_MARK} the same reason\n{body}\n\n\n'
        "def short():\n    return 1\n"
    )
    path = tmp_path / "m.py"
    path.write_text(source)
    found = {name: (n, marked) for name, n, marked in _function_lengths(path)}
    assert found == {
        "long_one": (82, False),
        "noted_above": (82, True),
        "noted_below": (83, True),
        "short": (2, False),
    }
