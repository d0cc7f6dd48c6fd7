"""Lineage of a run for the API: :func:`tracker.provenance.lineage`, as wire JSON.

``tracker.provenance`` walks back from a run through the records notebook capture left
(the cell that produced it, the data it read, the earlier cells that wrote that data...).
This module flattens its graph into the panel's wire format (``labext/src/types.ts``:
``Lineage``): every node carries what the panel shows and needs for "go to cell" (the
notebook path and the cell id), never a whole record.
"""

from __future__ import annotations

from typing import Any

from tracker.exceptions import RunNotFoundError
from tracker.provenance import LineageNode, lineage
from tracker.records import Run
from tracker.store import BaseStore

__all__ = ["MAX_NODES", "compute_lineage"]

#: Lineage graphs stop growing here (and say ``truncated``): a panel cannot show more.
MAX_NODES = 300


def _node(
    node: LineageNode, notebook_of: dict[str, str | None], store: BaseStore
) -> dict[str, Any]:
    cell, run, ref = node.cell, node.run, node.ref
    out: dict[str, Any] = {
        "id": node.id,
        "type": node.kind,
        "label": node.label,
        "run_id": None,
        "cell_id": None,
        "notebook": None,
        "digest": ref.digest if ref is not None else None,
        "detail": None,
        "source": None,
        "time": None,
    }
    if cell is not None:
        session = node.session_id or cell.run_id
        if session not in notebook_of:
            try:
                notebook_of[session] = store.get_run(session, with_cells=False).source.notebook
            except RunNotFoundError:
                notebook_of[session] = None
        out.update(
            run_id=session,
            cell_id=cell.cell_id,
            notebook=notebook_of[session],
            detail=f"{cell.status}, {cell.duration_ms:.0f} ms",
            source=cell.source,
            time=cell.started.isoformat(),
        )
    elif run is not None:
        out.update(
            run_id=run.id,
            cell_id=run.source.cell_id,
            notebook=run.source.notebook,
            detail=f"{run.kind.value}, {run.status.value}",
            time=run.start_time.isoformat(),
        )
    elif ref is not None:
        shape = "x".join(str(s) for s in ref.shape) if ref.shape else ""
        out["detail"] = " ".join(p for p in (ref.kind, shape, ref.short) if p)
        if ref.path:
            out["detail"] += f" {ref.path}"
    return out


def compute_lineage(store: BaseStore, run_id: str) -> dict[str, Any]:
    """The lineage graph of a run (of a session run: of all its cells).

    Raises:
        RunNotFoundError: no such run.
    """
    run: Run = store.get_run(run_id, with_cells=False)
    graph = lineage(run, store=store, max_nodes=MAX_NODES)
    notebook_of: dict[str, str | None] = {}
    if run.source.notebook:
        notebook_of[run.id] = run.source.notebook
    return {
        "run_id": run.id,
        "computed_by": "provenance",
        "nodes": [_node(n, notebook_of, store) for n in graph.nodes.values()],
        "edges": [e.to_dict() for e in graph.edges],
        "truncated": graph.truncated,
    }
