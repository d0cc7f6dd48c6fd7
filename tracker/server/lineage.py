"""Lineage of a run as a graph: which cells and data produced it.

The notebook capture branch owns the canonical lineage (``tracker.provenance``); until
it provides ``lineage()``, the server computes the same chain itself from what every
store holds: cell records (``get_cells``) and data uses (``data_uses``). The walk is:

* a run is linked to the data it logged, to the cell that created it (``child_run_id``
  or its source cell id) and to its parent run;
* a piece of data is linked to the latest cell that wrote it (an ``output`` record)
  before it was used;
* a cell is linked to the data it read, and so on backwards, up to a node budget.

Nodes and edges are JSON-ready (``labext/src/types.ts``: ``Lineage``).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from tracker.exceptions import RunNotFoundError
from tracker.records import CellExecution, DataRef, Run, to_timestamp
from tracker.store import BaseStore, DataUse

__all__ = ["MAX_NODES", "compute_lineage"]

#: Lineage graphs stop growing here (and say ``truncated``): a panel cannot show more.
MAX_NODES = 300


def _first_line(text: str, width: int = 60) -> str:
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= width else line[: width - 1] + "…"
    return "(empty cell)"


class _Graph:
    def __init__(self, store: BaseStore) -> None:
        self.store = store
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.truncated = False
        self._cells: dict[str, list[CellExecution]] = {}
        self._runs: dict[str, Run | None] = {}

    def full(self) -> bool:
        if len(self.nodes) >= MAX_NODES:
            self.truncated = True
            return True
        return False

    def run(self, run_id: str) -> Run | None:
        if run_id not in self._runs:
            try:
                self._runs[run_id] = self.store.get_run(run_id, with_cells=False)
            except RunNotFoundError:
                self._runs[run_id] = None
        return self._runs[run_id]

    def cells(self, session_id: str) -> list[CellExecution]:
        if session_id not in self._cells:
            self._cells[session_id] = self.store.get_cells(session_id)
        return self._cells[session_id]

    def add_run(self, run: Run) -> str:
        nid = f"run:{run.id}"
        self.nodes.setdefault(
            nid,
            {
                "id": nid,
                "type": "run",
                "label": run.name,
                "run_id": run.id,
                "cell_id": run.source.cell_id,
                "notebook": run.source.notebook,
                "digest": None,
                "detail": f"{run.kind.value}, {run.status.value}",
                "source": None,
                "time": run.start_time.isoformat(),
            },
        )
        return nid

    def add_cell(self, cell: CellExecution, notebook: str | None) -> str:
        nid = f"cell:{cell.id}"
        count = cell.execution_count if cell.execution_count is not None else " "
        self.nodes.setdefault(
            nid,
            {
                "id": nid,
                "type": "cell",
                "label": f"[{count}] {_first_line(cell.source)}",
                "run_id": cell.run_id,
                "cell_id": cell.cell_id,
                "notebook": notebook,
                "digest": None,
                "detail": f"{cell.status}, {cell.duration_ms:.0f} ms",
                "source": cell.source,
                "time": cell.started.isoformat(),
            },
        )
        return nid

    def add_data(self, name: str, ref: DataRef) -> str:
        nid = f"data:{ref.digest}"
        node = self.nodes.get(nid)
        if node is None:
            shape = "x".join(str(s) for s in ref.shape) if ref.shape else ""
            self.nodes[nid] = {
                "id": nid,
                "type": "data",
                "label": name,
                "run_id": None,
                "cell_id": None,
                "notebook": None,
                "digest": ref.digest,
                "detail": f"{ref.kind} {shape} {ref.short}".replace("  ", " ").strip(),
                "source": None,
                "time": None,
            }
        elif name not in str(node["label"]).split(", "):
            node["label"] = f"{node['label']}, {name}"
        return nid

    def link(self, source: str, target: str, relation: str) -> None:
        key = (source, target, relation)
        self.edges.setdefault(key, {"source": source, "target": target, "relation": relation})

    def producer(
        self, ref: DataRef, before: float, session_id: str | None, seq: int | None
    ) -> tuple[CellExecution, str | None] | None:
        """The latest cell that wrote this digest before ``before``."""
        if session_id is not None and seq is not None:
            for cell in reversed(self.cells(session_id)):
                if cell.seq < seq and any(o.digest == ref.digest for o in cell.outputs.values()):
                    session = self.run(session_id)
                    return cell, session.source.notebook if session else None
        uses: list[DataUse] = self.store.data_uses([ref.digest], roles=["output"])
        for use in reversed(uses):
            if use.cell_record_id is None or use.timestamp > before:
                continue
            for cell in self.cells(use.run_id):
                if cell.id == use.cell_record_id:
                    session = self.run(use.run_id)
                    return cell, session.source.notebook if session else None
        return None


def compute_lineage(store: BaseStore, run_id: str) -> dict[str, Any]:
    """The lineage graph of a run (a session run: of all its cells).

    Raises:
        RunNotFoundError: no such run.
    """
    g = _Graph(store)
    root = store.get_run(run_id, with_cells=True)
    g._runs[root.id] = root
    root_id = g.add_run(root)
    queue: deque[tuple[CellExecution, str | None]] = deque()

    if root.cells:
        g._cells[root.id] = list(root.cells)
        for cell in root.cells:
            cid = g.add_cell(cell, root.source.notebook)
            g.link(root_id, cid, "contains")
            queue.append((cell, root.source.notebook))
    if root.parent_id:
        parent = g.run(root.parent_id)
        if parent is not None:
            g.link(g.add_run(parent), root_id, "parent")
            creator = _creating_cell(g, root, parent)
            if creator is not None:
                g.link(g.add_cell(creator, parent.source.notebook), root_id, "created")
                queue.append((creator, parent.source.notebook))
    # Data a run logged was produced before the run ended (or before now, while it runs).
    end = to_timestamp(root.end_time) if root.end_time else float("inf")
    for name, ref in root.data.items():
        did = g.add_data(name, ref)
        g.link(did, root_id, "logged")
        found = g.producer(ref, before=end, session_id=None, seq=None)
        if found is not None:
            cell, notebook = found
            g.link(g.add_cell(cell, notebook), did, "wrote")
            queue.append(found)

    seen: set[str] = set()
    while queue and not g.full():
        cell, notebook = queue.popleft()
        if cell.id in seen:
            continue
        seen.add(cell.id)
        cid = g.add_cell(cell, notebook)
        for name, ref in cell.outputs.items():
            g.link(cid, g.add_data(name, ref), "wrote")
        for name, ref in cell.inputs.items():
            did = g.add_data(name, ref)
            g.link(did, cid, "read")
            found = g.producer(ref, to_timestamp(cell.started), cell.run_id, cell.seq)
            if found is not None:
                pcell, pnb = found
                g.link(g.add_cell(pcell, pnb), did, "wrote")
                if pcell.id not in seen:
                    queue.append(found)
        if cell.child_run_id:
            child = g.run(cell.child_run_id)
            if child is not None:
                g.link(cid, g.add_run(child), "created")
    if queue:
        g.truncated = True
    return {
        "run_id": root.id,
        "computed_by": "server",
        "nodes": list(g.nodes.values()),
        "edges": list(g.edges.values()),
        "truncated": g.truncated,
    }


def _creating_cell(g: _Graph, run: Run, parent: Run) -> CellExecution | None:
    """The cell record of ``parent`` (a session) that started ``run``, if any."""
    cells: list[CellExecution] = g.cells(parent.id)
    start = to_timestamp(run.start_time)
    best: CellExecution | None = None
    for cell in cells:
        if cell.child_run_id == run.id:
            return cell
        if (
            run.source.cell_id
            and cell.cell_id == run.source.cell_id
            and to_timestamp(cell.started) <= start
            and (best is None or cell.started > best.started)
        ):
            best = cell
    return best
