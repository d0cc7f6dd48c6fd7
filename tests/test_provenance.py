"""tracker.lineage: the chain of cells, runs and data behind a result.

Records are written as ops straight into a real store (SQLite, and PostgreSQL through
``store_url``), exactly as notebook capture writes them; lineage only reads.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest

import tracker
from tracker.exceptions import RunNotFoundError, ValidationError
from tracker.provenance import Lineage, lineage
from tracker.records import DataRef, RunKind
from tracker.store import BaseStore, open_store
from tracker.store.ops import CreateRun, LogCell, LogData, Op, data_row_id

T0 = 1_700_000_000.0


def ref(tag: str, kind: str = "ndarray", path: str | None = None) -> DataRef:
    digest = (tag * 32)[:32]
    return DataRef("xxh3-128", digest, kind, 16, shape=(2,) if kind != "file" else None, path=path)


@dataclass
class Session:
    """Writes a session run and its cell records like the capture hooks do."""

    store: BaseStore
    name: str
    start: float
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    cells: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store.write(
            [CreateRun(run_id=self.id, name=self.name, kind="session", start_time=self.start)]
        )

    def cell(
        self,
        source: str,
        *,
        reads: Sequence[str] = (),
        writes: Sequence[str] = (),
        inputs: dict[str, DataRef] | None = None,
        outputs: dict[str, DataRef] | None = None,
        child_run_id: str | None = None,
        status: str = "ok",
    ) -> str:
        seq = len(self.cells)
        rid = uuid.uuid4().hex
        started = self.start + 10 * (seq + 1)
        ops: list[Op] = [
            LogCell(
                id=rid,
                run_id=self.id,
                seq=seq,
                cell_id=f"c{seq}",
                execution_count=seq + 1,
                source=source,
                source_hash=uuid.uuid4().hex,
                status=status,
                error=None,
                reads=tuple(reads),
                writes=tuple(writes),
                params={},
                metrics={},
                started=started,
                duration_ms=5000.0,
                child_run_id=child_run_id,
            )
        ]
        for role, refs in (("input", inputs or {}), ("output", outputs or {})):
            for name, r in refs.items():
                ops.append(
                    LogData(
                        id=data_row_id(self.id, name, r.digest, role, rid),
                        run_id=self.id,
                        name=name,
                        ref=r.to_dict(),
                        timestamp=started + 1,
                        role=role,
                        cell_record_id=rid,
                    )
                )
        self.store.write(ops)
        self.cells.append(rid)
        return rid

    def time_of(self, cell_index: int) -> float:
        return self.start + 10 * (cell_index + 1) + 1


@pytest.fixture
def store(store_url: str) -> Iterator[BaseStore]:
    s = open_store(store_url, queued=False)
    yield s
    s.close()


def _cells(store: BaseStore, session: Session) -> dict[str, object]:
    return {c.source: c for c in store.get_cells(session.id)}


def test_a_cell_back_through_the_cells_that_wrote_what_it_read(store: BaseStore) -> None:
    s = Session(store, "analysis", T0)
    s.cell("import pandas as pd", writes=["pd"])
    s.cell(
        "df = pd.read_csv('data.csv')",
        reads=["pd"],
        writes=["df"],
        inputs={"./data.csv": ref("f", "file", "/w/data.csv")},
        outputs={"df": ref("1", "dataframe")},
    )
    s.cell(
        "X = df.to_numpy()",
        reads=["df"],
        writes=["X"],
        inputs={"df": ref("1", "dataframe")},
        outputs={"X": ref("2")},
    )
    s.cell("unrelated = 3", writes=["unrelated"])
    s.cell("model = fit(X)", reads=["fit", "X"], writes=["model"], inputs={"X": ref("2")})
    s.cell("acc = model.score(X)", reads=["model", "X"], writes=["acc"], inputs={"X": ref("2")})
    cells = _cells(store, s)

    lin = lineage(cells["acc = model.score(X)"], store=store)  # type: ignore[arg-type]

    assert [c.source for c in lin.cells] == [
        "import pandas as pd",
        "df = pd.read_csv('data.csv')",
        "X = df.to_numpy()",
        "model = fit(X)",
        "acc = model.score(X)",
    ]
    assert [f.path for f in lin.files] == ["/w/data.csv"]
    relations = {
        (lin.nodes[e.source].kind, e.relation, e.name, lin.nodes[e.target].kind) for e in lin.edges
    }
    assert ("cell", "uses", "model", "cell") in relations  # a non-data value, by name
    assert ("data", "read", "X", "cell") in relations
    assert ("cell", "wrote", "X", "data") in relations
    assert ("file", "read", "./data.csv", "cell") in relations
    text = str(lin)
    assert text.splitlines()[0].startswith("cell [6] acc = model.score(X)")
    assert "(see above)" in text  # X is read twice: shown once, then referred to
    assert "unrelated" not in text


def test_data_made_in_another_notebook_is_followed_by_its_digest(store: BaseStore) -> None:
    producer = Session(store, "prepare", T0)
    producer.cell("raw = load()", writes=["raw"], outputs={"raw": ref("a")})
    producer.cell(
        "raw.to_csv('clean.csv')",
        reads=["raw"],
        inputs={"raw": ref("a")},
        outputs={"./clean.csv": ref("c", "file", "/w/clean.csv")},
    )
    consumer = Session(store, "train", T0 + 1000)
    consumer.cell(
        "df = pd.read_csv('clean.csv')",
        writes=["df"],
        inputs={"./clean.csv": ref("c", "file", "/w/clean.csv")},
    )
    lin = lineage(_cells(store, consumer)["df = pd.read_csv('clean.csv')"], store=store)  # type: ignore[arg-type]
    assert [c.source for c in lin.cells] == [
        "raw = load()",
        "raw.to_csv('clean.csv')",
        "df = pd.read_csv('clean.csv')",
    ]
    # A file written by a tracked cell is not where the chain starts.
    assert lin.files == []
    sessions = {c.run_id for c in lin.cells}
    assert sessions == {producer.id, consumer.id}


def test_runs_lead_back_to_the_cell_that_made_them(store: BaseStore) -> None:
    s = Session(store, "nb", T0)
    s.cell("X = load()", writes=["X"], outputs={"X": ref("5")})
    tracked_run = uuid.uuid4().hex
    store.write(
        [
            CreateRun(
                run_id=tracked_run, name="cell-run", kind="cell", start_time=T0 + 21, parent_id=s.id
            )
        ]
    )
    s.cell("%%track\nfit(X)", reads=["X"], inputs={"X": ref("5")}, child_run_id=tracked_run)
    # A search started in the third cell, with a trial, and a run started in it too.
    s.cell("tracker.optimize(...)", reads=["X"], inputs={"X": ref("5")})
    search, trial, explicit = (uuid.uuid4().hex for _ in range(3))
    store.write(
        [
            CreateRun(
                run_id=search, name="search", kind="search", start_time=s.time_of(2), parent_id=s.id
            ),
            CreateRun(
                run_id=trial,
                name="trial-0",
                kind="trial",
                start_time=s.time_of(2) + 1,
                parent_id=search,
            ),
            CreateRun(
                run_id=explicit,
                name="explicit",
                kind="run",
                start_time=s.time_of(2) + 2,
                parent_id=s.id,
            ),
            LogData(
                id=uuid.uuid4().hex,
                run_id=explicit,
                name="train",
                ref=ref("5").to_dict(),
                timestamp=s.time_of(2) + 3,
            ),
        ]
    )

    by_cell = lineage(store.get_run(tracked_run), store=store)
    assert by_cell.root == f"run:{tracked_run}"
    assert [c.source for c in by_cell.cells] == ["X = load()", "%%track\nfit(X)"]
    (produced,) = [e for e in by_cell.edges if e.relation == "produced"]
    assert produced.target == by_cell.root

    by_trial = lineage(trial, store=store)  # a run id works as well as a Run
    assert [c.source for c in by_trial.cells] == ["X = load()", "tracker.optimize(...)"]

    by_run = lineage(explicit, store=store)
    logged = [e for e in by_run.edges if e.relation == "logged"]
    assert [(e.name, e.target) for e in logged] == [("train", f"run:{explicit}")]
    assert [c.source for c in by_run.cells] == ["X = load()", "tracker.optimize(...)"]

    whole = lineage(s.id, store=store)
    assert len(whole.cells) == 3
    assert whole.nodes[whole.root].run is not None
    assert whole.nodes[whole.root].run.kind is RunKind.SESSION  # type: ignore[union-attr]


def test_lineage_serialises_and_renders_safely(store: BaseStore) -> None:
    s = Session(store, "nb", T0)
    s.cell("x = '<script>alert(1)</script>'", writes=["x"])
    s.cell("y = x", reads=["x"], writes=["y"])
    lin = lineage(_cells(store, s)["y = x"], store=store)  # type: ignore[arg-type]
    doc = json.loads(json.dumps(lin.to_dict(), allow_nan=False))
    assert doc["root"] == lin.root
    assert {n["kind"] for n in doc["nodes"]} == {"cell"}
    assert [e["relation"] for e in doc["edges"]] == ["uses"]
    html = lin._repr_markdown_()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_lineage_stops_at_max_nodes(store: BaseStore) -> None:
    s = Session(store, "long", T0)
    s.cell("v0 = 0", writes=["v0"])
    for i in range(1, 30):
        s.cell(f"v{i} = v{i - 1} + 1", reads=[f"v{i - 1}"], writes=[f"v{i}"])
    last = _cells(store, s)["v29 = v28 + 1"]
    full = lineage(last, store=store)  # type: ignore[arg-type]
    assert len(full.cells) == 30
    assert not full.truncated
    cut = lineage(last, store=store, max_nodes=10)  # type: ignore[arg-type]
    assert len(cut.nodes) == 10
    assert cut.truncated
    assert str(cut).endswith("(stopped here: the chain goes further back)")


def test_bad_arguments(store: BaseStore) -> None:
    with pytest.raises(ValidationError, match="takes a run, a run id or a cell record"):
        lineage(42, store=store)
    with pytest.raises(RunNotFoundError):
        lineage(uuid.uuid4().hex, store=store)


def test_facade_uses_the_current_store(sqlite_url: str) -> None:
    tracker.set_store(sqlite_url)
    with tracker.start_run(name="plain") as run:
        pass
    lin = tracker.lineage(run)
    assert lin.root == f"run:{run.id}"
    assert lin.cells == []


def _producers(lin: Lineage, cell_record: str, name: str) -> list[str]:
    """Sources of the cells the lineage names as having written what the cell read as ``name``."""
    me = f"cell:{cell_record}"
    data = [
        e.source for e in lin.edges if e.target == me and e.relation == "read" and e.name == name
    ]
    assert len(data) == 1, (name, data)
    return [
        lin.nodes[e.source].label
        for e in lin.edges
        if e.target == data[0] and e.relation == "wrote" and e.name == name
    ]


def test_equal_content_under_two_names_leads_to_each_names_own_cell(store: BaseStore) -> None:
    # Given y and y_pred with equal content, written by two cells,
    same = ref("d")
    s = Session(store, "nb", T0)
    s.cell("y = np.array([0,1,1,0,1])", writes=["y"], outputs={"y": same})
    s.cell("y_pred = np.array([0,1,1,0,1])", writes=["y_pred"], outputs={"y_pred": same})
    acc = s.cell(
        "acc = (y == y_pred).mean()",
        reads=["y", "y_pred"],
        writes=["acc"],
        inputs={"y": same, "y_pred": same},
    )

    # when the lineage of the cell reading both is taken,
    lin = lineage(_cells(store, s)["acc = (y == y_pred).mean()"], store=store)  # type: ignore[arg-type]

    # then y leads to the cell that wrote y, and y_pred to the one that wrote y_pred.
    assert _producers(lin, acc, "y") == ["cell [1] y = np.array([0,1,1,0,1])"]
    assert _producers(lin, acc, "y_pred") == ["cell [2] y_pred = np.array([0,1,1,0,1])"]
    # The printed tree follows the names (in whichever order the store lists inputs).
    text = str(lin)
    assert text.splitlines()[0] == "cell [3] acc = (y == y_pred).mean()"
    assert len(text.splitlines()) == 5
    assert (
        f"└─ read y (ndarray 2, {same.short})\n   └─ written by cell [1] y = np.array([0,1,1,0,1])"
    ) in text
    assert (
        f"└─ read y_pred (ndarray 2, {same.short})\n"
        "   └─ written by cell [2] y_pred = np.array([0,1,1,0,1])"
    ) in text
    # One data node for the one content, named after both names.
    (data,) = [n for n in lin.nodes.values() if n.kind == "data"]
    assert data.label == f"y, y_pred (ndarray 2, {same.short})"


def test_a_rebound_name_leads_to_its_latest_writer_not_an_older_one(store: BaseStore) -> None:
    # Given y written with content d, then rebound to other content, then rebound to d
    # again (a copy of y_pred, which also holds d),
    d, e = ref("d"), ref("e")
    s = Session(store, "nb", T0)
    s.cell("y = labels()", writes=["y"], outputs={"y": d})
    s.cell("y_pred = predict()", writes=["y_pred"], outputs={"y_pred": d})
    s.cell("y = ones()", writes=["y"], outputs={"y": e})
    s.cell(
        "y = y_pred.copy()", reads=["y_pred"], writes=["y"], inputs={"y_pred": d}, outputs={"y": d}
    )
    last = s.cell("acc = score(y, y_pred)", reads=["y", "y_pred"], inputs={"y": d, "y_pred": d})

    lin = lineage(_cells(store, s)["acc = score(y, y_pred)"], store=store)  # type: ignore[arg-type]

    # then y is the copy's (the older cell that wrote y with that content is not named),
    assert _producers(lin, last, "y") == ["cell [4] y = y_pred.copy()"]
    assert _producers(lin, last, "y_pred") == ["cell [2] y_pred = predict()"]
    sources = [c.source for c in lin.cells]
    assert "y = labels()" not in sources
    assert "y = ones()" not in sources


def test_files_are_still_matched_by_content_alone(store: BaseStore) -> None:
    # A file has no variable name to go by: written as one path, read back as another.
    content = ref("f", "file", "/w/out/data.csv")
    s = Session(store, "nb", T0)
    s.cell("df.to_csv('out/data.csv')", outputs={"./out/data.csv": content})
    reader = s.cell("raw = read('/w/out/data.csv')", inputs={"/w/out/data.csv": content})
    lin = lineage(_cells(store, s)["raw = read('/w/out/data.csv')"], store=store)  # type: ignore[arg-type]
    file_node = f"file:{content.digest}"
    assert (file_node, f"cell:{reader}") in {(e.source, e.target) for e in lin.edges}
    wrote = [e for e in lin.edges if e.target == file_node and e.relation == "wrote"]
    assert [lin.nodes[e.source].label for e in wrote] == ["cell [1] df.to_csv('out/data.csv')"]
