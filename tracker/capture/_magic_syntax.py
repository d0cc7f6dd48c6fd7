"""IPython magics as the cell analysis sees them, after IPython's input transformations.

By the time a cell reaches the hooks, ``%name args`` is the call
``get_ipython().run_line_magic('name', 'args')`` and a ``%%name`` cell is
``get_ipython().run_cell_magic('name', 'args', 'body')``. This module reads those
calls: which magics only control the tracker (a cell made only of them leaves no
record), which never touch user variables, and the code the timing magics run.

**Timing magics.** ``%time``, ``%%time``, ``%timeit`` and ``%%timeit`` run code given
as a string. That code is cell code like any other, so it is handed back to the
analysis as a syntax tree (:func:`timed_code`):

* ``%time CODE`` and ``%%time`` run the code once in the notebook's namespace: what it
  binds is bound in the notebook, and the value of a last expression is what the magic
  returns (``x = %time f(a)`` binds ``x`` to ``f(a)``);
* ``%timeit [options] STMT`` and ``%%timeit [options] SETUP`` + body run the code inside a
  function that IPython defines in the notebook's namespace, many times: names it reads
  are the notebook's globals, names it binds are local to that function and vanish, and
  objects it changes in place are changed (as often as it ran). ``-v NAME`` binds the
  timing result to ``NAME``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "CONTROL_SUBCOMMANDS",
    "INERT_MAGICS",
    "TIMING_MAGICS",
    "MagicCall",
    "TimedCode",
    "control_cell",
    "is_get_ipython_call",
    "magic_call",
    "timed_code",
]

#: ``%track`` subcommands that only control the tracker (a cell made only of them,
#: or of ``%load_ext tracker``, leaves no record).
CONTROL_SUBCOMMANDS = frozenset({"on", "off", "status", "sync", "sklearn", "rehash", "help", ""})
#: Magics whose code argument is analysed as cell code (:func:`timed_code`).
TIMING_MAGICS = frozenset({"time", "timeit", "%%time", "%%timeit"})
#: Line magics that never bind or change user variables.
INERT_MAGICS = frozenset(
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
#: ``%timeit`` options (getopt spec ``n:r:tcp:qov:``): those that take a value.
_TIMEIT_VALUED = frozenset("nrpv")
_TIMEIT_FLAGS = frozenset("tcqo")


@dataclass(frozen=True, slots=True)
class MagicCall:
    """A magic as IPython's transformers spell it.

    Attributes:
        name: The magic's name, ``%%name`` for a cell magic, ``"?"`` when its arguments
            are not plain strings.
        line: The argument line.
        body: A cell magic's body (``None`` for line magics).
    """

    name: str
    line: str
    body: str | None = None


@dataclass(frozen=True, slots=True)
class TimedCode:
    """The code a timing magic runs, parsed (see the module docstring).

    Attributes:
        body: The statements, in the order they run (``%%timeit``'s setup first).
        in_function: The code runs in a function of its own (``%timeit``): the names it
            binds are local to it.
        returned: The statement whose value the magic returns, if any.
        result_name: The name ``%timeit -v NAME`` binds the timing result to.
    """

    body: tuple[ast.stmt, ...]
    in_function: bool
    returned: ast.Expr | None = None
    result_name: str | None = None


def is_get_ipython_call(node: ast.AST, method: str | None = None) -> bool:
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


def magic_call(node: ast.AST) -> MagicCall | None:
    """The magic ``node`` runs: ``get_ipython().run_line_magic('x', 'args')`` and cells."""
    if not is_get_ipython_call(node):
        return None
    assert isinstance(node, ast.Call)
    assert isinstance(node.func, ast.Attribute)
    kind = node.func.attr
    if kind not in ("run_line_magic", "run_cell_magic"):
        return None
    values = [a.value if isinstance(a, ast.Constant) else None for a in node.args[:3]]
    name = values[0] if values else None
    line = values[1] if len(values) > 1 else None
    if not isinstance(name, str) or not isinstance(line, str):
        return MagicCall("?", "")
    if kind == "run_cell_magic":
        body = values[2] if len(values) > 2 and isinstance(values[2], str) else None
        return MagicCall(f"%%{name}", line, body)
    return MagicCall(name, line)


def control_cell(body: Sequence[ast.stmt]) -> tuple[bool, bool]:
    """(made only of tracker control magics, starts with the ``%%track`` marker)."""
    control = bool(body)
    track_cell = False
    for i, stmt in enumerate(body):
        magic = magic_call(stmt.value) if isinstance(stmt, ast.Expr) else None
        if magic is None:
            control = False
            continue
        sub = magic.line.strip().split(maxsplit=1)
        head = sub[0] if sub else ""
        if magic.name == "track" and head == "__cell__" and i == 0:
            track_cell = True
        elif not (
            (magic.name == "track" and head in CONTROL_SUBCOMMANDS)
            or (magic.name in ("load_ext", "reload_ext", "unload_ext") and "tracker" in magic.line)
        ):
            control = False
    return control and not track_cell, track_cell


def timed_code(magic: MagicCall) -> TimedCode | None:
    """The code a timing magic runs; ``None`` if it cannot be read (or is not one)."""
    if magic.name.startswith("%%") and magic.body is None:
        return None  # a cell magic whose body is not a plain string: nothing to read
    if magic.name in ("time", "%%time"):
        code = magic.body if magic.body is not None else _strip_time_options(magic.line)
        body = _parse(code)
        if body is None:
            return None
        last = body[-1] if body and isinstance(body[-1], ast.Expr) else None
        return TimedCode(tuple(body), in_function=False, returned=last)
    if magic.name in ("timeit", "%%timeit"):
        split = _timeit_options(magic.line)
        if split is None:
            return None  # IPython refuses the options: nothing runs
        result_name, stmt = split
        setup, timed = (stmt, magic.body) if magic.body is not None else ("", stmt)
        setup_body, timed_body = _parse(setup), _parse(timed)
        if setup_body is None or timed_body is None:
            return None
        return TimedCode((*setup_body, *timed_body), in_function=True, result_name=result_name)
    return None


def _strip_time_options(line: str) -> str:
    """``%time``'s code: its line without the ``--no-raise-error`` option."""
    return re.sub(r"^(\s*--no-raise-error\b)+", "", line)


def _timeit_options(line: str) -> tuple[str | None, str] | None:
    """(``-v`` name, statement) of a ``%timeit`` line, as IPython's getopt reads it."""
    result_name: str | None = None
    tokens = list(re.finditer(r"\S+", line))
    i = 0
    while i < len(tokens) and tokens[i].group().startswith("-") and tokens[i].group() != "-":
        opts = tokens[i].group()[1:]
        i += 1
        if opts == "-":
            break  # "--": the end of the options
        for j, c in enumerate(opts):
            if c in _TIMEIT_FLAGS:
                continue
            if c not in _TIMEIT_VALUED:
                return None
            value = opts[j + 1 :]
            if not value:
                if i >= len(tokens):
                    return None
                value = tokens[i].group()
                i += 1
            if c == "v":
                result_name = value
            break
    pos = tokens[i].start() if i < len(tokens) else len(line)
    return result_name, line[pos:]


def _parse(code: str) -> list[ast.stmt] | None:
    """Statements of ``code``, after IPython's transformations if it needs them."""
    try:
        return ast.parse(code).body
    except (SyntaxError, ValueError):
        pass
    except (MemoryError, RecursionError):
        return None
    try:
        # Only code with magics or shell escapes gets here: IPython's default
        # transformations turn them into calls, as the magic itself will.
        from IPython.core.inputtransformer2 import TransformerManager

        transformed = TransformerManager().transform_cell(code)  # type: ignore[no-untyped-call]
        return ast.parse(transformed).body
    except Exception:  # whatever IPython cannot read, it will report itself
        return None
