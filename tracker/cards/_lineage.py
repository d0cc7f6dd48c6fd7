"""Lineage for a card: the runs, notebook cells, data and environment behind a model.

Read from records only (docs/records.md): the model's run and its ancestors; when one of
them is a notebook session, the session's cell records (``get_run(...).cells``), whose
inputs and outputs are content hashes; and ``store.data_uses(digests)`` for where each
piece of data was produced.

Which cells produced the model: the cell that started a run of the chain (its
``child_run_id``, or the cell whose execution interval contains the run's start), then,
walking back through the session, the cell that produced each thing an already selected
cell read, by the rules of :mod:`tracker.provenance` (data by name and content, files by
content, any other name by its latest write).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from tracker.provenance import latest_writer, root_name, session_producer
from tracker.records import CellExecution, DataRef, Environment, Run, RunKind
from tracker.store import BaseStore

__all__ = ["build_lineage", "producing_cells"]


def _containing(cells: Sequence[CellExecution], run: Run) -> CellExecution | None:
    for c in cells:
        if c.child_run_id == run.id:
            return c
    for c in cells:
        end = c.started + timedelta(milliseconds=c.duration_ms)
        if c.started <= run.start_time <= end:
            return c
    return None


def producing_cells(cells: Sequence[CellExecution], starters: Sequence[Run]) -> list[CellExecution]:
    """Cells of a session that produced ``starters`` (runs started in the session), in order.

    Each selected cell's reads are traced to their producers by the rules of
    :mod:`tracker.provenance` (data by name and content, files by content, other names by
    their latest write), within the session.
    """
    chosen: dict[str, CellExecution] = {}
    queue: deque[CellExecution] = deque()
    for r in starters:
        c = _containing(cells, r)
        if c is not None and c.id not in chosen:
            chosen[c.id] = c
            queue.append(c)
    latest_first = sorted(cells, key=lambda c: (c.seq, c.started), reverse=True)
    while queue:
        cell = queue.popleft()
        earlier = [c for c in latest_first if c.seq < cell.seq]
        found = [session_producer(earlier, name, ref) for name, ref in cell.inputs.items()]
        traced = {root_name(name) for name in cell.inputs}
        found += [latest_writer(earlier, n) for n in cell.reads if n not in traced]
        for producer in found:
            if producer is not None and producer.id not in chosen:
                chosen[producer.id] = producer
                queue.append(producer)
    return sorted(chosen.values(), key=lambda c: (c.seq, c.started))


def _refs(refs: Mapping[str, DataRef]) -> dict[str, dict[str, Any]]:
    return {
        name: {"digest": ref.digest, "rows": ref.rows, "partial": ref.partial}
        for name, ref in sorted(refs.items())
    }


def _cell_entry(c: CellExecution, include_source: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "record_id": c.id,
        "run_id": c.run_id,
        "seq": c.seq,
        "cell_id": c.cell_id,
        "execution_count": c.execution_count,
        "source_hash": c.source_hash,
        "status": c.status,
        "started": c.started.isoformat(),
        "duration_ms": c.duration_ms,
        "reads": list(c.reads),
        "writes": list(c.writes),
        "inputs": _refs(c.inputs),
        "outputs": _refs(c.outputs),
        "child_run_id": c.child_run_id,
        "nondeterministic": c.nondeterministic,
        "_input_refs": dict(c.inputs),
    }
    if include_source:
        entry["source"] = c.source
    return entry


def _data_origin(
    store: BaseStore,
    chain: Sequence[Run],
    cells: Sequence[CellExecution],
    session_cells: Sequence[CellExecution],
) -> dict[str, dict[str, Any]]:
    """Each digest of the lineage: the cells and runs that produced it, how many runs used it."""
    seq_of = {c.id: c.seq for c in session_cells}
    digests: set[str] = set()
    for r in chain:
        digests.update(ref.digest for ref in r.data.values())
    for c in cells:
        digests.update(ref.digest for ref in c.inputs.values())
        digests.update(ref.digest for ref in c.outputs.values())
    uses = store.data_uses(sorted(digests)) if digests else []
    produced: dict[str, list[dict[str, Any]]] = {}
    used_by: dict[str, set[str]] = {}
    for u in uses:
        used_by.setdefault(u.ref.digest, set()).add(u.run_id)
        if u.role == "output":
            produced.setdefault(u.ref.digest, []).append(
                {
                    "run_id": u.run_id,
                    "name": u.name,
                    "cell_record_id": u.cell_record_id,
                    "seq": seq_of.get(u.cell_record_id or ""),
                }
            )
    return {
        d: {"produced_by": produced.get(d, []), "runs": len(used_by.get(d, set()))}
        for d in sorted(digests)
    }


def _environment(env: Environment | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The environment and git sections of the lineage."""
    if env is None:
        return None, None
    packages = dict(sorted(env.packages.items(), key=lambda kv: kv[0].lower()))
    environment = {
        "python": env.python,
        "implementation": env.implementation,
        "platform": env.platform,
        "hostname": env.hostname,
        "hardware": dict(env.hardware),
        "packages": packages,
    }
    git = (
        {"commit": env.git_commit, "dirty": env.git_dirty, "root": env.git_root}
        if env.git_commit
        else None
    )
    return environment, git


def build_lineage(
    store: BaseStore, model: Run, chain: Sequence[Run], *, include_source: bool = False
) -> dict[str, Any]:
    """The lineage section of a card (cells keep their input refs under ``_input_refs``)."""
    session = next((r for r in chain if r.kind is RunKind.SESSION), None)
    cells: list[CellExecution] = []
    session_cells: list[CellExecution] = []
    if session is not None:
        session_cells = list(store.get_cells(session.id))
        starters = [r for r in chain if r.kind is not RunKind.SESSION]
        cells = producing_cells(session_cells, starters)
    env = model.environment or next((r.environment for r in chain if r.environment), None)
    environment, git = _environment(env)
    return {
        "model_run_id": model.id,
        "chain": [
            {
                "run_id": r.id,
                "kind": r.kind.value,
                "name": r.name,
                "status": r.status.value,
                "nondeterministic": r.nondeterministic,
                "fingerprint": r.fingerprint,
            }
            for r in chain
        ],
        "session_run_id": session.id if session is not None else None,
        "notebook": next((r.source.notebook for r in chain if r.source.notebook), None),
        "script": next((r.source.script for r in chain if r.source.script), None),
        "cells": [_cell_entry(c, include_source) for c in cells],
        "session_cells": len(session_cells),
        "data_origin": _data_origin(store, chain, cells, session_cells),
        "environment": environment,
        "git": git,
    }
