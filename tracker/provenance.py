"""Lineage of results: which cells and data produced a record.

:func:`lineage` walks back from a run or a cell record through the records notebook
capture left: the cell that produced the result, the data (and other values) it
read, the earlier cells that wrote them, and so on back to files on disk. The result
is a small graph (:class:`Lineage`) that prints as a tree, renders in a notebook, and
serialises to JSON for the server and the side panel.

How a read is matched to the cell that wrote it, for a cell ``C`` of session ``S``:

1. a file read by ``C``: by content alone (a file has no variable name to go by): the
   latest earlier cell of ``S`` that output the same digest; else the latest record
   anywhere (another notebook, another session) that output it before ``C`` started;
   else the file is a leaf (where the chain starts);
2. other data read by ``C`` (an array, a frame, an item ``d['k']``): by name *and*
   content: the latest earlier cell of ``S`` that output that name with that digest.
   Equal content under another name is not a match: with ``y`` and ``y_pred`` equal,
   ``y`` leads to the cell that wrote ``y``. Failing that, the latest earlier cell of
   ``S`` whose ``writes`` contain the name (it changed unobserved since: tracking was
   off), then the latest record of another session that output that name with that
   digest before ``C`` started; else the data is a leaf (made before tracking started);
3. any other name ``C`` reads (a model, a function, a scalar): the latest earlier
   cell of ``S`` whose ``writes`` contain the name, in execution order.

Data nodes are identified by digest, so equal content read under two names is one
node with two named ``read`` edges, and each name's producer has a ``wrote`` edge of
that name; the printed tree follows the names.

Only the store is read (``get_run``, ``get_cells``, ``data_uses``): this module never
imports the run API, so the server can use it.
"""

from __future__ import annotations

import html
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tracker.exceptions import ValidationError
from tracker.records import CellExecution, DataRef, Run, RunKind
from tracker.store import BaseStore, get_store

__all__ = [
    "Lineage",
    "LineageEdge",
    "LineageNode",
    "latest_writer",
    "lineage",
    "root_name",
    "session_producer",
]

#: Lineages stop growing at this many nodes (``Lineage.truncated`` says so).
MAX_NODES = 500
#: Data kinds matched by content alone (they have no variable name to go by).
_FILE_KINDS = frozenset({"file", "directory"})


@dataclass(frozen=True, slots=True)
class LineageNode:
    """A cell record, a run, or a piece of data in a lineage.

    Attributes:
        id: ``cell:<record id>``, ``run:<run id>``, ``data:<digest>`` or ``file:<digest>``.
        kind: ``"cell"``, ``"run"``, ``"data"`` or ``"file"``.
        label: Short human description.
        cell: The cell record (cell nodes).
        run: The run (run nodes).
        ref: The data reference (data and file nodes).
        session_id: The session run a cell belongs to.
    """

    id: str
    kind: str
    label: str
    cell: CellExecution | None = None
    run: Run | None = None
    ref: DataRef | None = None
    session_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "cell": self.cell.to_dict() if self.cell else None,
            "run": self.run.to_dict(include_cells=False) if self.run else None,
            "ref": self.ref.to_dict() if self.ref else None,
            "session_id": self.session_id,
        }


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """``source`` led to ``target``.

    Attributes:
        source: Node id of the producer side.
        target: Node id of the consumer side.
        relation: ``"read"`` (data -> the cell that read it), ``"wrote"`` (cell -> the
            data it wrote), ``"uses"`` (cell -> a later cell reading a non-data value it
            wrote), ``"produced"`` (cell -> a run started in it), ``"logged"`` (data ->
            the run that logged it).
        name: The variable, file or logged name involved.
    """

    source: str
    target: str
    relation: str
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "source": self.source,
            "target": self.target,
            "relation": self.relation,
            "name": self.name,
        }


@dataclass(frozen=True)
class Lineage:
    """The chain of records that produced a result (a DAG, the result at its root).

    Attributes:
        root: Id of the node the lineage is about.
        nodes: Every node, by id.
        edges: Producer -> consumer edges.
        truncated: The walk stopped at :data:`MAX_NODES`.
    """

    root: str
    nodes: dict[str, LineageNode]
    edges: tuple[LineageEdge, ...]
    truncated: bool = False
    _parents: dict[str, list[LineageEdge]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for e in self.edges:
            self._parents.setdefault(e.target, []).append(e)

    def parents(self, node_id: str) -> list[LineageEdge]:
        """Edges into ``node_id`` (what it was made from)."""
        return list(self._parents.get(node_id, ()))

    @property
    def cells(self) -> list[CellExecution]:
        """The cell records involved, in execution order (oldest first)."""
        found = [n.cell for n in self.nodes.values() if n.cell is not None]
        return sorted(found, key=lambda c: (c.started, c.seq))

    @property
    def files(self) -> list[DataRef]:
        """Files at the start of the chain (read, and written by no tracked cell)."""
        return [
            n.ref
            for n in self.nodes.values()
            if n.kind == "file" and n.ref is not None and not self._parents.get(n.id)
        ]

    @property
    def data(self) -> list[tuple[str, DataRef]]:
        """``(name, DataRef)`` of every piece of data in the chain."""
        return [
            (n.label, n.ref)
            for n in self.nodes.values()
            if n.ref is not None and n.kind in ("data", "file")
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: ``{"root", "nodes": [...], "edges": [...], "truncated"}``."""
        return {
            "root": self.root,
            "nodes": [n.to_dict() for n in self.nodes.values()],
            "edges": [e.to_dict() for e in self.edges],
            "truncated": self.truncated,
        }

    def _lines(self) -> Iterator[tuple[int, str, str, str | None]]:
        """(depth, relation text, node id, name) in a depth-first walk from the root.

        A data node is reached through a named edge (``read y``): under it come only the
        producers of that name, so equal content read as ``y`` and as ``y_pred`` (one
        node) shows each name's own producer.
        """
        shown: set[tuple[str, str | None]] = set()
        stack: list[tuple[int, str, str, str | None]] = [(0, "", self.root, None)]
        while stack:
            depth, via, node_id, name = stack.pop()
            yield depth, via, node_id, name
            key = (node_id, name if self.nodes[node_id].ref is not None else None)
            if key in shown:
                continue
            shown.add(key)
            entries = self._entries(node_id, name)
            for via_text, source, edge_name in reversed(entries):
                stack.append((depth + 1, via_text, source, edge_name))

    def _entries(self, node_id: str, name: str | None) -> list[tuple[str, str, str | None]]:
        """(relation text, source, name) of what a node shows under it, in order."""
        parents = self.parents(node_id)
        wrote = [e for e in parents if e.relation == "wrote"]
        if any(e.name == name for e in wrote):
            parents = [e for e in parents if e.relation != "wrote" or e.name == name]
        # Names used from one cell share a line: "uses np, pd, X from cell [3] ...".
        uses: dict[str, list[str]] = {}
        entries: list[tuple[str, str, str | None]] = []
        for e in parents:
            if e.relation == "uses":
                if e.source not in uses:
                    uses[e.source] = []
                    entries.append(("uses", e.source, None))
                if e.name:
                    uses[e.source].append(e.name)
                continue
            via_text = _RELATION_TEXT.get(e.relation, e.relation)
            entries.append((via_text, e.source, e.name))
        out = []
        for via_text, source, edge_name in entries:
            if via_text == "uses":
                names = ", ".join(uses[source])
                via_text = f"uses {names} from" if names else "uses"
            out.append((via_text, source, edge_name))
        return out

    def __str__(self) -> str:
        out = []
        seen: set[tuple[str, str | None]] = set()
        for depth, via, node_id, name in self._lines():
            node = self.nodes[node_id]
            key = (node_id, name if node.ref is not None else None)
            again = key in seen
            seen.add(key)
            label = _data_label(name, node.ref) if node.ref is not None and name else node.label
            prefix = "   " * (depth - 1) + "└─ " if depth else ""
            text = f"{via} {label}" if via else label
            out.append(prefix + text + ("  (see above)" if again else ""))
        if self.truncated:
            out.append("... (stopped here: the chain goes further back)")
        return "\n".join(out)

    def _repr_markdown_(self) -> str:
        body = html.escape(str(self))
        return f"<pre>{body}</pre>"


_RELATION_TEXT = {
    "read": "read",
    "wrote": "written by",
    "produced": "produced by",
    "logged": "logged",
}


def root_name(name: str) -> str:
    """The variable a record name starts with (``d`` for ``d['k']``); files stay whole."""
    if name.startswith(("./", "/")):
        return name
    return name.split("[", 1)[0].split(".", 1)[0]


def session_producer(
    earlier: Iterable[CellExecution], name: str, ref: DataRef
) -> CellExecution | None:
    """The cell of a session that produced what a later cell read as ``name`` (``ref``).

    Rules 1 and 2 of the module docstring, within one session: ``earlier`` are the
    session's cells before the reading cell, latest first. A file matches by content
    alone; other data by name and content, else by the latest write of its root name.

    Args:
        earlier: The candidate cells, latest first.
        name: The name the data was read under.
        ref: The content read.

    Returns:
        The producing cell, or ``None`` when none of ``earlier`` made it.
    """
    candidates = list(earlier)
    if ref.kind in _FILE_KINDS:
        return next(
            (c for c in candidates if any(r.digest == ref.digest for r in c.outputs.values())),
            None,
        )
    for other in candidates:
        out = other.outputs.get(name)
        if out is not None and out.digest == ref.digest:
            return other
    return latest_writer(candidates, root_name(name))


def latest_writer(earlier: Iterable[CellExecution], name: str) -> CellExecution | None:
    """The first of ``earlier`` (latest first) whose ``writes`` contain ``name`` (rule 3)."""
    return next((c for c in earlier if name in c.writes), None)


def _cell_label(cell: CellExecution) -> str:
    first = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")
    if len(first) > 60:
        first = first[:59] + "…"
    count = f"[{cell.execution_count}]" if cell.execution_count is not None else "[ ]"
    status = "" if cell.status == "ok" else f" ({cell.status})"
    return f"cell {count} {first}{status}"


def _data_label(name: str, ref: DataRef) -> str:
    shape = "x".join(str(x) for x in ref.shape) if ref.shape else None
    detail = f"{ref.kind} {shape}" if shape else ref.kind
    return f"{name} ({detail}, {ref.short})"


class _Walker:
    def __init__(self, store: BaseStore, max_nodes: int) -> None:
        self.store = store
        self.max_nodes = max_nodes
        self.nodes: dict[str, LineageNode] = {}
        self.edges: dict[tuple[str, str, str, str | None], LineageEdge] = {}
        self.truncated = False
        self._cells: dict[str, list[CellExecution]] = {}
        self._runs: dict[str, Run] = {}
        self._by_record: dict[str, CellExecution] = {}
        self._queue: deque[CellExecution] = deque()
        self._visited: set[str] = set()
        self._data_names: dict[str, set[str]] = {}  # data node -> names it was seen as

    # --- store access (memoised) ---------------------------------------------------------

    def run(self, run_id: str) -> Run:
        """A run passed through (a parent): its own fields are all the walk reads."""
        r = self._runs.get(run_id)
        if r is None:
            r = self.store.get_run_head(run_id)
            self._runs[run_id] = r
        return r

    def cells(self, session_id: str) -> list[CellExecution]:
        c = self._cells.get(session_id)
        if c is None:
            c = sorted(self.store.get_cells(session_id), key=lambda x: (x.seq, x.started))
            self._cells[session_id] = c
            for cell in c:
                self._by_record[cell.id] = cell
        return c

    def prime(self, session_id: str, cells: Sequence[CellExecution]) -> None:
        """Take a session's cell records the caller already read."""
        self._cells[session_id] = sorted(cells, key=lambda x: (x.seq, x.started))
        for cell in cells:
            self._by_record[cell.id] = cell

    # --- graph building -------------------------------------------------------------------

    def add(self, node: LineageNode) -> bool:
        if node.id in self.nodes:
            return True
        if len(self.nodes) >= self.max_nodes:
            self.truncated = True
            return False
        self.nodes[node.id] = node
        return True

    def edge(self, source: str, target: str, relation: str, name: str | None = None) -> None:
        if source in self.nodes and target in self.nodes:
            self.edges.setdefault(
                (source, target, relation, name), LineageEdge(source, target, relation, name)
            )

    def cell_node(self, cell: CellExecution) -> str | None:
        node_id = f"cell:{cell.id}"
        if not self.add(
            LineageNode(node_id, "cell", _cell_label(cell), cell=cell, session_id=cell.run_id)
        ):
            return None
        if node_id not in self._visited:
            self._visited.add(node_id)
            self._queue.append(cell)
        return node_id

    def data_node(self, name: str, ref: DataRef) -> str | None:
        kind = "file" if ref.kind == "file" else "data"
        node_id = f"{kind}:{ref.digest}"
        names = self._data_names.setdefault(node_id, set())
        names.add(name)
        label = _data_label(", ".join(sorted(names)), ref)  # the same whatever the store's order
        if node_id in self.nodes:
            # Equal content under another name: one node, named after all its names.
            self.nodes[node_id] = replace(self.nodes[node_id], label=label)
            return node_id
        return node_id if self.add(LineageNode(node_id, kind, label, ref=ref)) else None

    def run_node(self, run: Run) -> str | None:
        node_id = f"run:{run.id}"
        label = f"{run.kind.value} {run.name!r} ({run.status.value})"
        return node_id if self.add(LineageNode(node_id, "run", label, run=run)) else None

    def producer_of_input(
        self, cell: CellExecution, name: str, ref: DataRef
    ) -> CellExecution | None:
        """The cell that wrote what ``cell`` read as ``name`` (module docstring, 1 and 2)."""
        found = session_producer(self.earlier(cell), name, ref)
        if found is not None:
            return found
        by_name = None if ref.kind in _FILE_KINDS else name
        return self.elsewhere(cell, ref.digest, by_name)

    def elsewhere(
        self, cell: CellExecution, digest: str, name: str | None = None
    ) -> CellExecution | None:
        """The latest cell of another session that output ``digest`` (as ``name``) before."""
        best: CellExecution | None = None
        for use in self.store.data_uses([digest], roles=("output",)):
            if use.cell_record_id is None or use.run_id == cell.run_id:
                continue
            if use.timestamp > cell.started.timestamp() or (name is not None and use.name != name):
                continue
            self.cells(use.run_id)
            found = self._by_record.get(use.cell_record_id)
            if found is not None and (best is None or found.started > best.started):
                best = found
        return best

    def producer_of_name(self, cell: CellExecution, name: str) -> CellExecution | None:
        """The latest cell before ``cell`` (same session) whose writes contain ``name``."""
        return latest_writer(self.earlier(cell), name)

    def earlier(self, cell: CellExecution) -> Iterator[CellExecution]:
        """The cells of ``cell``'s session before it, latest first."""
        for other in reversed(self.cells(cell.run_id)):
            if other.seq < cell.seq:
                yield other

    def expand(self, cell: CellExecution) -> None:
        me = f"cell:{cell.id}"
        handled: set[str] = set()
        for name, ref in cell.inputs.items():
            data_id = self.data_node(name, ref)
            if data_id is None:
                return
            self.edge(data_id, me, "read", name)
            handled.add(root_name(name))
            producer = self.producer_of_input(cell, name, ref)
            if producer is not None and producer.id != cell.id:
                pid = self.cell_node(producer)
                if pid is None:
                    return
                self.edge(pid, data_id, "wrote", name)
        for name in cell.reads:
            if name in handled:
                continue
            producer = self.producer_of_name(cell, name)
            if producer is None:
                continue
            pid = self.cell_node(producer)
            if pid is None:
                return
            self.edge(pid, me, "uses", name)

    def walk(self) -> None:
        while self._queue:
            self.expand(self._queue.popleft())

    # --- roots ------------------------------------------------------------------------------

    def cell_of_run(self, run: Run) -> CellExecution | None:
        """The cell record a run was made in (``%%track`` run, or a run started in a cell)."""
        if run.kind is RunKind.CELL and run.parent_id:
            for c in self.cells(run.parent_id):
                if c.child_run_id == run.id:
                    return c
        # Runs started inside a tracked cell are children (or grandchildren, for trials)
        # of the session: find the cell whose execution window holds the start.
        top = run
        hops = 0
        while top.parent_id and hops < 16:
            parent = self.run(top.parent_id)
            if parent.kind is RunKind.SESSION:
                t = top.start_time.timestamp()
                for c in self.cells(parent.id):
                    start = c.started.timestamp()
                    if start <= t <= start + c.duration_ms / 1000 + 1e-3:
                        return c
                return None
            top = parent
            hops += 1
        return None


def lineage(
    run_or_record: Run | CellExecution | str | Any,
    *,
    store: BaseStore | None = None,
    max_nodes: int = MAX_NODES,
    session_cells: Sequence[CellExecution] | None = None,
) -> Lineage:
    """The chain of cells, runs and data that produced a run or a cell record.

    Args:
        run_or_record: A :class:`Run`, a run id, a :class:`CellExecution` (from
            ``tracker.get_run(session_id).cells``), or anything with a run ``id``
            (an active run).
        store: Where to read (default: the process's current store).
        max_nodes: Stop after this many nodes (``truncated`` is then set).
        session_cells: Every cell record of the cell record's session, when the caller
            has read them already (``tracker trace`` has): they are not read again.

    Returns:
        A :class:`Lineage`; ``str()`` of it is a readable tree, ``.cells`` the cells in
        execution order, ``.files`` the files at the start of the chain.

    Raises:
        RunNotFoundError: no run with that id.
        ValidationError: the argument is not a run, a run id or a cell record.
    """
    st = store if store is not None else get_store()
    w = _Walker(st, max_nodes)
    if isinstance(run_or_record, CellExecution):
        if session_cells is not None:
            w.prime(run_or_record.run_id, session_cells)
        w.cells(run_or_record.run_id)
        root = w.cell_node(run_or_record)
        assert root is not None
        w.walk()
        return Lineage(root, w.nodes, tuple(w.edges.values()), w.truncated)
    if isinstance(run_or_record, Run):
        run = run_or_record
    elif isinstance(run_or_record, str) and run_or_record:
        run = st.get_run(run_or_record, with_cells=False)  # the root node shows all of it
    elif isinstance(getattr(run_or_record, "id", None), str):
        run = st.get_run(run_or_record.id, with_cells=False)
    else:
        raise ValidationError(
            f"lineage() takes a run, a run id or a cell record, not {type(run_or_record).__name__}"
        )
    w._runs[run.id] = run
    root = w.run_node(run)
    assert root is not None
    if run.kind is RunKind.SESSION:
        for cell in w.cells(run.id):
            cid = w.cell_node(cell)
            if cid is not None:
                w.edge(cid, root, "produced")
    else:
        made_in = w.cell_of_run(run)
        if made_in is not None:
            cid = w.cell_node(made_in)
            if cid is not None:
                w.edge(cid, root, "produced")
        for name, ref in run.data.items():
            data_id = w.data_node(name, ref)
            if data_id is None:
                break
            w.edge(data_id, root, "logged", name)
            if made_in is not None and any(r.digest == ref.digest for r in made_in.inputs.values()):
                continue  # the cell's own inputs are walked from the cell
            producer = _latest_producer(w, ref.digest, run)
            if producer is not None:
                pid = w.cell_node(producer)
                if pid is not None:
                    w.edge(pid, data_id, "wrote", name)
    w.walk()
    return Lineage(root, w.nodes, tuple(w.edges.values()), w.truncated)


def _latest_producer(w: _Walker, digest: str, run: Run) -> CellExecution | None:
    best: CellExecution | None = None
    limit = run.end_time or run.start_time
    for use in w.store.data_uses([digest], roles=("output",)):
        if use.cell_record_id is None:
            continue
        w.cells(use.run_id)
        found = w._by_record.get(use.cell_record_id)
        if found is None or found.started > limit:
            continue
        if best is None or found.started > best.started:
            best = found
    return best
