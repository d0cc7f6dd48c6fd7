"""What the hooks know about the cell being executed, from ``pre_run_cell`` to ``post_run_cell``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tracker import run as run_api
from tracker.records import DataRef, ParamValue

from . import _files
from ._analysis import CellAnalysis

__all__ = ["CellState"]


@dataclass(slots=True)
class CellState:
    """What the hooks know about the cell being executed."""

    info: Any
    record_id: str
    seq: int
    cell_id: str | None
    execution_count: int | None
    raw: str
    source_hash: str
    analysis: CellAnalysis
    started: float
    tracked: bool  # a full record (tracking on, or a %%track cell)
    marked: bool = False  # attrs["running_cell"] was written for it
    t0: float = 0.0
    pre_ms: float = 0.0
    reads: list[str] = field(default_factory=list)
    inputs: dict[str, DataRef] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    # Data the cell read, by id: the name it was read through and its digest before the
    # cell. No reference is kept: numpy refuses ``resize`` on an array referenced from
    # elsewhere, and the user's ``del`` must free memory at once.
    read_data: dict[int, tuple[str, DataRef]] = field(default_factory=dict)
    # Read data the cell may change in place: hashed again after the cell.
    recheck: dict[int, tuple[str, DataRef]] = field(default_factory=dict)
    rebound: set[str] = field(default_factory=set)  # names the cell rebinds or deletes
    changed_opaque: dict[str, None] = field(default_factory=dict)
    bumped: dict[str, None] = field(default_factory=dict)
    reconsider: dict[str, Any] = field(default_factory=dict)
    snapshot: dict[str, int] | None = None
    extra_writes: set[str] = field(default_factory=set)
    files: _files.FileLog | None = None
    params: dict[str, ParamValue] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    cell_run: run_api.ActiveRun | None = None
    extra_inputs: dict[str, DataRef] = field(default_factory=dict)
    memory: run_api.PeakMemory | None = None  # measuring the cell's peak memory (_memory)
    peak_memory_mb: float | None = None
