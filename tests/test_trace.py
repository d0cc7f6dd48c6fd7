"""tracker.trace / ``tracker trace``: a file back to the run or cell that produced it.

Records are written as ops straight into a real store (SQLite, and PostgreSQL through
``store_url``), exactly as notebook capture writes them, or through the run API
(artifacts); the files traced are real files hashed by the project's file recipe.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import tracker
from tracker.cli import main
from tracker.hashing import hash_file
from tracker.records import DataRef
from tracker.store import BaseStore, open_store
from tracker.store.ops import CreateRun, EndRun, LogArtifact, LogData
from tracker.tracing import MAX_MATCHES, trace

from .test_provenance import T0, Session

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def store(store_url: str) -> Iterator[BaseStore]:
    s = open_store(store_url, queued=False)
    yield s
    s.close()


def _file(path: Path, content: bytes) -> DataRef:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return hash_file(path)


def _notebook_session(store: BaseStore, work: Path) -> tuple[Session, DataRef, DataRef]:
    """A session that reads a CSV, fits a model, and dumps it to model.joblib."""
    csv = _file(work / "train.csv", b"x,y\n1,0\n2,1\n3,1\n")
    model = _file(work / "model.joblib", b"\x80\x04fake model bytes " + uuid.uuid4().bytes)
    s = Session(store, "training", T0)
    s.cell("import pandas as pd", writes=["pd"])
    s.cell(
        "df = pd.read_csv('train.csv')",
        reads=["pd"],
        writes=["df"],
        inputs={"./train.csv": csv},
        outputs={"df": DataRef("xxh3-128", "d" * 32, "dataframe", 48, shape=(3, 2))},
    )
    s.cell(
        "model = fit(df)",
        reads=["fit", "df"],
        writes=["model"],
        inputs={"df": DataRef("xxh3-128", "d" * 32, "dataframe", 48, shape=(3, 2))},
    )
    s.cell(
        "joblib.dump(model, 'model.joblib')",
        reads=["joblib", "model"],
        inputs={},
        outputs={"./model.joblib": model},
    )
    return s, csv, model


def test_a_copied_model_leads_to_the_cell_that_wrote_it(store: BaseStore, tmp_path: Path) -> None:
    # Given a session whose last cell dumped a model it fitted on a CSV it read,
    s, csv, _ = _notebook_session(store, tmp_path / "work")
    # and a copy of the model elsewhere, under another name,
    copy = tmp_path / "prod" / "served.bin"
    copy.parent.mkdir()
    shutil.copy(tmp_path / "work" / "model.joblib", copy)

    t = trace(copy, store=store)

    # the trace names the cell that wrote it, its session run, and the CSV read upstream.
    assert t.found
    origin = t.origin
    assert origin is not None
    assert origin.how == "wrote"
    assert origin.cell is not None
    assert origin.cell.source == "joblib.dump(model, 'model.joblib')"
    assert origin.run.id == s.id
    assert origin.name == "./model.joblib"
    assert [c.source for c in t.cells] == [
        "import pandas as pd",
        "df = pd.read_csv('train.csv')",
        "model = fit(df)",
        "joblib.dump(model, 'model.joblib')",
    ]
    assert [f.digest for f in t.files] == [csv.digest]
    text = str(t)
    assert "written by cell [4] joblib.dump(model, 'model.joblib')" in text
    assert s.id[:8] in text
    assert "train.csv" in text
    assert "\n" not in repr(t)
    assert "served.bin" in repr(t)
    doc = json.loads(json.dumps(t.to_dict()))
    assert doc["found"]
    assert doc["matches"][0]["cell"]["source"].startswith("joblib.dump")
    assert doc["files"][0]["digest"] == csv.digest


def test_an_artifact_is_found_by_the_digest_artifacts_store(tmp_path: Path) -> None:
    # Given a run that logged a file as an artifact (through the run API),
    tracker.set_store(f"sqlite:///{tmp_path / 'a.db'}")
    src = tmp_path / "model.skops"
    src.write_bytes(b"PK\x03\x04 a model " * 100)
    with tracker.start_run(name="fit") as run:
        art = run.log_artifact(src, name="model")
    tracker.get_store().flush()
    # its digest is the project's file digest,
    assert art.digest == hash_file(src).digest
    copy = tmp_path / "copy.skops"
    shutil.copy(src, copy)

    t = tracker.trace(copy)

    # and the trace names the run that logged it.
    assert t.origin is not None
    assert t.origin.how == "artifact"
    assert t.origin.run.id == run.id
    assert t.origin.artifact is not None
    assert t.origin.artifact.name == "model"
    assert "logged as artifact 'model' on run 'fit'" in str(t)


def test_content_logged_as_data_and_only_read(store: BaseStore, tmp_path: Path) -> None:
    # A run that logged a file with log_data is its producer,
    logged = _file(tmp_path / "features.npy", b"\x93NUMPY features")
    rid = uuid.uuid4().hex
    store.write(
        [
            CreateRun(rid, "features", "run", T0),
            LogData("d1", rid, "features", logged.to_dict(), T0 + 1),
            EndRun(rid, "finished", T0 + 2),
        ]
    )
    t = trace(tmp_path / "features.npy", store=store)
    assert t.origin is not None
    assert t.origin.how == "logged"
    assert t.origin.run.id == rid
    assert t.lineage is not None
    assert t.lineage.root == f"run:{rid}"

    # while a CSV only read by cells has readers, no producer, and no lineage.
    _, _csv, _ = _notebook_session(store, tmp_path / "work")
    t = trace(tmp_path / "work" / "train.csv", store=store)
    assert t.found
    assert t.origin is None
    assert t.lineage is None
    assert [m.how for m in t.matches] == ["read"]
    assert "made by no tracked cell or run" in str(t)
    assert "read by cell [2] df = pd.read_csv('train.csv')" in str(t)


def test_newest_producer_first_and_many_records_summarised(
    store: BaseStore, tmp_path: Path
) -> None:
    content = _file(tmp_path / "out.csv", b"a,b\n1,2\n")
    sessions = []
    for i in range(MAX_MATCHES + 3):
        s = Session(store, f"s{i}", T0 + 1000 * i)
        s.cell(f"df.to_csv('out.csv')  # {i}", outputs={"./out.csv": content})
        sessions.append(s)
    t = trace(tmp_path / "out.csv", store=store)
    assert len(t.matches) == MAX_MATCHES
    assert t.more == 3
    assert t.origin is not None
    assert t.origin.run.id == sessions[-1].id
    assert "... and 3 more record(s)" in str(t)


def test_unknown_content_is_no_match(store: BaseStore, tmp_path: Path) -> None:
    other = _file(tmp_path / "nobody.bin", b"nothing recorded this")
    t = trace(tmp_path / "nobody.bin", store=store)
    assert not t.found
    assert t.origin is None
    assert t.matches == ()
    assert other.digest in t.headline
    assert "no run or cell" in t.headline
    assert "no match" in repr(t)


def test_html_is_inert(store: BaseStore, tmp_path: Path) -> None:
    content = _file(tmp_path / f"{HOSTILE}.csv".replace("/", "_"), b"1,2\n")
    s = Session(store, HOSTILE, T0)
    s.cell(f"x = '{HOSTILE}'", outputs={f"./{HOSTILE}": content})
    t = trace(content.path or "", store=store)
    page = t._repr_html_()
    assert "<img" not in page
    assert "&lt;img" in page


def test_digest_lookups_are_indexed(store: BaseStore) -> None:
    # Both lookups trace makes go through an index on the digest, on both backends.
    store.describe()  # the schema exists once the store has answered
    engine: sa.Engine = store.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        insp = sa.inspect(conn)
        for table in ("tracker_data", "tracker_artifacts"):
            cols = [i["column_names"] for i in insp.get_indexes(table)]
            assert ["digest"] in cols, (table, cols)
        sqlite = engine.dialect.name == "sqlite"
        if not sqlite:  # a tiny table: make the planner show what it would do on a big one
            conn.exec_driver_sql("SET enable_seqscan = off")
        explain = "EXPLAIN QUERY PLAN" if sqlite else "EXPLAIN"
        for table in ("tracker_data", "tracker_artifacts"):
            plan = conn.exec_driver_sql(
                f"{explain} SELECT * FROM {table} WHERE digest IN ('a', 'b')"
            ).fetchall()
            assert any(f"ix_{table}_digest" in str(row) for row in plan), plan


# --- the command line ---------------------------------------------------------------------


def test_cli_prints_the_trace_and_json(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = open_store(store_url, queued=False)
    session, csv, _ = _notebook_session(s, tmp_path / "work")
    s.close()
    copy = tmp_path / "copy.joblib"
    shutil.copy(tmp_path / "work" / "model.joblib", copy)

    assert main(["--store", store_url, "trace", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "written by cell [4] joblib.dump" in out
    assert session.id[:8] in out
    assert "train.csv" in out

    assert main(["--store", store_url, "trace", str(copy), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["matches"][0]["run_id"] == session.id
    assert doc["files"][0]["digest"] == csv.digest


def test_cli_no_match_and_missing_file_exit_2_in_one_line(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = _file(tmp_path / "stranger.bin", b"never recorded")
    assert main(["--store", sqlite_url, "trace", str(tmp_path / "stranger.bin")]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    assert len(cap.err.strip().splitlines()) == 1
    assert ref.digest in cap.err
    assert "Traceback" not in cap.err

    assert main(["--store", sqlite_url, "trace", str(tmp_path / "absent.bin")]) == 2
    cap = capsys.readouterr()
    assert len(cap.err.strip().splitlines()) == 1
    assert "absent.bin" in cap.err
    assert "Traceback" not in cap.err


def test_a_logged_directory_is_found_by_its_manifest_digest(tmp_path: Path) -> None:
    # Given a model folder logged as a directory artifact, then copied elsewhere,
    tracker.set_store(f"sqlite:///{tmp_path / 'd.db'}")
    folder = tmp_path / "model_dir"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"\x00\x01" * 500)
    (folder / "sub" / "config.json").write_text('{"C": 1.0}')
    with tracker.start_run(name="folder") as run:
        run.log_artifact(folder, name="model")
    tracker.get_store().flush()
    copy = tmp_path / "elsewhere" / "deployed"
    shutil.copytree(folder, copy)

    t = tracker.trace(copy)

    assert t.origin is not None
    assert t.origin.how == "artifact"
    assert t.origin.run.id == run.id


def test_a_record_whose_run_is_gone_is_left_out(store: BaseStore, tmp_path: Path) -> None:
    # A data row naming a run the store does not have (a partial import) is not shown.
    content = _file(tmp_path / "orphan.csv", b"o,r\n1,2\n")
    store.write([LogData("orphan", uuid.uuid4().hex, "orphan", content.to_dict(), T0)])
    t = trace(tmp_path / "orphan.csv", store=store)
    assert not t.found
    assert t.more == 0


def test_artifact_rows_are_found_on_both_backends(store: BaseStore, tmp_path: Path) -> None:
    # The artifact lookup by digest, through the store contract (SQLite and PostgreSQL).
    content = _file(tmp_path / "m.skops", b"PK\x03\x04 model")
    rid = uuid.uuid4().hex
    store.write(
        [
            CreateRun(rid, "fit", "run", T0),
            LogArtifact(
                id=uuid.uuid4().hex,
                run_id=rid,
                name="model",
                digest=content.digest,
                sha256="0" * 64,
                size=content.nbytes,
                media_type="application/octet-stream",
                kind="file",
                timestamp=T0 + 1,
            ),
            EndRun(rid, "finished", T0 + 2),
        ]
    )
    t = trace(tmp_path / "m.skops", store=store)
    assert t.origin is not None
    assert t.origin.how == "artifact"
    assert t.origin.run.id == rid
    assert t.lineage is not None
    assert t.lineage.root == f"run:{rid}"
