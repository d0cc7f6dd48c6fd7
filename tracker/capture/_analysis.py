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

Where the parts live: the pass over the tree in ``_walker``, Python's scoping rules in
``_scopes``, how an expression uses a name in ``_uses``, magics in ``_magic_syntax``.
"""

from __future__ import annotations

import ast
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from ._magic_syntax import CONTROL_SUBCOMMANDS, control_cell
from ._uses import MethodUse, NameUse
from ._walker import CellWalker

__all__ = [
    "CONTROL_SUBCOMMANDS",
    "CellAnalysis",
    "MethodUse",
    "NameUse",
    "analyze",
    "clear_cache",
]

_CACHE_SIZE = 2048
_cache: OrderedDict[str, CellAnalysis] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class CellAnalysis:
    """What a cell does with names.

    Attributes:
        reads: Free names the cell reads, in first-use order (names the cell binds
            before reading them are not free). Includes names read inside functions
            and lambdas the cell defines, the names given to ``%track params`` and
            ``%track metrics``, and names read by the code of timing magics.
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
            result = _analyze_tree(tree)
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


def _analyze_tree(tree: ast.Module) -> CellAnalysis:
    walker = CellWalker(tree)
    walker.walk()
    control, track_cell = control_cell(tree.body)
    return CellAnalysis(
        reads=tuple(walker.reads),
        writes=tuple(walker.writes),
        maybe_writes=tuple(k for k in walker.maybe_writes if k not in walker.writes),
        uses={k: v for k, v in walker.uses.items() if k in walker.reads or v.mutate},
        dynamic=walker.dynamic,
        control_only=control,
        track_cell=track_cell,
    )
