"""A card's producing cells follow the same matching rules as ``tracker.lineage``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tracker.cards._lineage import producing_cells
from tracker.records import CellExecution, DataRef, Run, RunKind, RunStatus, Source

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _ref(digest: str, kind: str = "ndarray") -> DataRef:
    return DataRef(algorithm="xxh3-128", digest=digest, kind=kind, nbytes=40)


def _cell(seq: int, reads=(), writes=(), inputs=None, outputs=None) -> CellExecution:  # type: ignore[no-untyped-def]
    return CellExecution(
        id=f"c{seq}",
        run_id="session",
        seq=seq,
        cell_id=None,
        execution_count=seq + 1,
        source=f"# cell {seq}",
        source_hash=str(seq),
        status="ok",
        error=None,
        reads=tuple(reads),
        writes=tuple(writes),
        inputs=inputs or {},
        outputs=outputs or {},
        params={},
        metrics={},
        started=T0 + timedelta(seconds=10 * seq),
        duration_ms=1000.0,
    )


def _run_started_in(cell: CellExecution) -> Run:
    return Run(
        id="model-run",
        name="fit",
        kind=RunKind.RUN,
        status=RunStatus.FINISHED,
        parent_id="session",
        start_time=cell.started + timedelta(milliseconds=10),
        end_time=None,
        source=Source(),
    )


def test_equal_content_under_another_name_is_not_the_producer() -> None:
    # Given y written in cell 0 and z, a copy with the same content, in cell 1
    a = _cell(0, writes=["y"], outputs={"y": _ref("d1")})
    b = _cell(1, reads=["y"], writes=["z"], inputs={"y": _ref("d1")}, outputs={"z": _ref("d1")})
    fit = _cell(2, reads=["y"], writes=["model"], inputs={"y": _ref("d1")})
    # When the card traces the cell that started the model's run
    cells = producing_cells([a, b, fit], [_run_started_in(fit)])
    # Then y leads to the cell that wrote y, not to the later cell that wrote z
    assert [c.seq for c in cells] == [0, 2]


def test_files_match_by_content_and_other_names_by_their_latest_write() -> None:
    f = _cell(0, writes=["path"], outputs={"/d/train.csv": _ref("f1", "file")})
    cfg = _cell(1, writes=["cfg"])
    cfg2 = _cell(2, writes=["cfg"])
    fit = _cell(3, reads=["cfg"], inputs={"/d/copy.csv": _ref("f1", "file")})
    cells = producing_cells([f, cfg, cfg2, fit], [_run_started_in(fit)])
    assert [c.seq for c in cells] == [0, 2, 3]
