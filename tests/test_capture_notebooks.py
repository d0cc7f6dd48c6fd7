"""Notebook capture end to end: real kernels executing the notebooks in tests/notebooks/.

Each test runs a notebook with nbclient (as ``jupyter execute`` does) against the
test's own SQLite store, then reads the records back in this process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest

import tracker
from tracker.hashing import hash_data, hash_file, hash_source
from tracker.records import CellExecution, Run, RunKind, RunStatus

from .capture_harness import errors, kernel_env, outputs_text, run_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.slow]


def _session(name: str | None = None) -> Run:
    sessions = tracker.search_runs(kind="session", name=name)
    assert len(sessions) == 1, [s.name for s in sessions]
    return tracker.get_run(sessions[0].id)


def _by_source(cells: tuple[CellExecution, ...], start: str) -> list[CellExecution]:
    return [c for c in cells if c.source.startswith(start)]


def _one(cells: tuple[CellExecution, ...], start: str) -> CellExecution:
    found = _by_source(cells, start)
    assert len(found) == 1, (start, [c.source[:30] for c in cells])
    return found[0]


@dataclass
class Executed:
    """A notebook executed in a real kernel, and where its records went."""

    workdir: Path
    store: str
    nb: nbformat.NotebookNode

    def cell(self, cell_id: str) -> Any:
        return next(c for c in self.nb.cells if c.id == cell_id)

    def use(self) -> None:
        """Read from this notebook's store in the test process."""
        tracker.set_store(self.store)


def _execute(name: str, factory: pytest.TempPathFactory) -> Executed:
    work = factory.mktemp(name.removesuffix(".ipynb"))
    store = f"sqlite:///{work / 'tracker.db'}"
    env = kernel_env(TRACKER_STORE=store, TRACKER_SPOOL_DIR=str(work / "spool"))
    return Executed(work, store, run_notebook(name, work, env=env))


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Executed:
    """capture_records.ipynb, executed once for the tests that read its records."""
    return _execute("capture_records.ipynb", tmp_path_factory)


@pytest.fixture(scope="module")
def failures(tmp_path_factory: pytest.TempPathFactory) -> Executed:
    """capture_failures.ipynb, executed once."""
    return _execute("capture_failures.ipynb", tmp_path_factory)


def test_every_cell_execution_leaves_a_record(records: Executed) -> None:
    # Given a notebook that loads the extension and turns tracking on,
    # when it runs in a real kernel,
    records.use()
    nb = records.nb
    session = _session("records-test")
    cells = session.cells

    # then every cell run with tracking on has a record, in execution order, except the
    # tracker's own control cells (%track on/off/status).
    unrecorded = {"load", "off", "mutate-off", "rebind-off", "on-again", "status"}
    expected = [c.source for c in nb.cells if c.id not in unrecorded]
    assert [c.source for c in cells] == expected
    assert [c.seq for c in cells] == list(range(len(cells)))
    counts = [c.execution_count for c in cells]
    assert counts == sorted(counts)
    assert len(set(counts)) == len(counts)
    assert session.kind is RunKind.SESSION
    for c in cells:
        assert c.run_id == session.id
        assert c.source_hash == hash_source(c.source)
        assert c.started >= session.start_time
        assert c.duration_ms >= 0
        assert c.status in ("ok", "error")
        assert c.cell_id is None  # nbclient sends no cell ids (JupyterLab does: see below)

    # The session run knows where it ran.
    assert session.attrs["kernel"]["frontend"] == "jupyter"
    assert session.tags["frontend"] == "jupyter"


def test_reads_writes_and_in_place_mutation(records: Executed) -> None:
    records.use()
    cells = _session("records-test").cells

    a = np.arange(10.0)
    data = _one(cells, "a = np.arange(10.0)")
    assert data.reads == ("np", "pd")
    assert set(data.writes) == {"a", "b", "df", "splits"}
    assert data.outputs["a"].digest == hash_data(a).digest
    assert data.outputs["b"].digest == data.outputs["a"].digest  # one object, two names
    assert data.outputs["splits['train']"].digest == hash_data(np.ones(4)).digest

    # a[3] = 7: the input is `a` as it was before, the output `a` (and its alias b) after.
    a[3] = 7
    mutate = _one(cells, "a[3] = 7")
    assert mutate.reads == ("a",)
    assert set(mutate.writes) == {"a", "b"}
    assert mutate.inputs["a"].digest == data.outputs["a"].digest
    assert mutate.outputs["a"].digest == hash_data(a).digest
    assert mutate.outputs["b"].digest == hash_data(a).digest

    # b[4] = 9 changes `a` too, through the other name bound to the same array.
    a[4] = 9
    alias = _one(cells, "b[4] = 9")
    assert alias.inputs["b"].digest == mutate.outputs["a"].digest
    assert alias.outputs["a"].digest == hash_data(a).digest
    assert alias.outputs["b"].digest == hash_data(a).digest
    assert set(alias.writes) == {"a", "b"}

    # df.fillna(0, inplace=True) and an item of a dict changed in place.
    df = pd.DataFrame({"x": [1.0, None, 3.0], "y": [4.0, 5.0, None]})
    before = hash_data(df).digest
    df = df.fillna(0)
    test = np.zeros(2)
    test[0] = 1.0
    fill = _one(cells, "df.fillna(0, inplace=True)")
    assert fill.inputs["df"].digest == before
    assert fill.outputs["df"].digest == hash_data(df).digest
    assert fill.outputs["splits['test']"].digest == hash_data(test).digest
    assert "splits['train']" not in fill.outputs  # unchanged: not an output
    assert set(fill.writes) == {"df", "splits"}

    # Reading without changing: inputs recorded, nothing rehashed into outputs.
    pure = _one(cells, "total = float(a.sum())")
    assert set(pure.reads) == {"a", "df", "splits"}
    assert pure.inputs["a"].digest == hash_data(a).digest
    assert pure.inputs["df"].digest == hash_data(df).digest
    assert pure.outputs == {}
    assert pure.writes == ("total",)


def test_untouched_data_is_not_rehashed(records: Executed) -> None:
    records.use()
    assert outputs_text(records.cell("count-after")).strip() == "rehashed: 0"
    cells = _session("records-test").cells
    untouched = _one(cells, "unrelated = 1 + 1")
    assert untouched.inputs == {}
    assert untouched.outputs == {}
    assert untouched.reads == ()
    assert untouched.writes == ("unrelated",)


def test_changes_made_with_tracking_off_are_not_missed(records: Executed) -> None:
    # Cells run with tracking off are watched cheaply: what they change or rebind is not
    # taken from the cache when tracking resumes, and nothing else is hashed again.
    records.use()
    cells = _session("records-test").cells
    sources = [c.source for c in cells]
    assert "a[0] = -5.0" not in sources  # tracking was off: no record
    read = _one(cells, "after_off = ")
    a = np.arange(10.0)
    a[3], a[4], a[0] = 7, 9, -5.0
    df = pd.DataFrame({"x": [1.0, None, 3.0], "y": [4.0, 5.0, None]}).fillna(0) * 2
    assert read.inputs["a"].digest == hash_data(a).digest
    assert read.inputs["df"].digest == hash_data(df).digest
    assert "big" in read.inputs
    assert outputs_text(records.cell("count-after-2")).strip() == "hashed: 2"  # a, df; not big


def test_changes_made_by_notebook_functions_are_seen(records: Executed) -> None:
    # `shift(100.0)` shows only `shift` in its syntax; the function's code changes `a`.
    records.use()
    cells = _session("records-test").cells
    call = _one(cells, "shift(100.0)")
    a = np.arange(10.0)
    a[3], a[4], a[0], a[1] = 7, 9, -5.0, 100.0
    assert call.reads == ("shift", "a")
    assert call.outputs["a"].digest == hash_data(a).digest
    assert "a" in call.writes
    define = _one(cells, "def shift(by):")
    assert define.writes == ("shift",)
    assert define.outputs == {}


def test_params_metrics_errors_and_child_runs(records: Executed) -> None:
    records.use()
    session = _session("records-test")
    cells = session.cells

    logged = _one(cells, "score = round")
    assert logged.params == {"C": 0.5}
    assert logged.metrics == {"score": 0.95}
    assert logged.reads == ("C",)
    assert logged.outcome_hash is not None
    assert logged.fingerprint is not None

    # An erroring cell is recorded with its exception; later cells are still tracked.
    failed = _one(cells, "1 / 0")
    assert failed.status == "error"
    assert failed.error is not None
    assert failed.error.type == "ZeroDivisionError"
    assert failed.error.message == "division by zero"
    assert failed.error.traceback is not None
    assert "1 / 0" in failed.error.traceback
    assert "interactiveshell.py" not in failed.error.traceback  # the user's frames only
    after = _one(cells, "after_error = ")
    assert after.status == "ok"
    assert after.seq == failed.seq + 1

    # An explicit run started in a tracked notebook is a child of the session run,
    # and what it logged is attributed to the cell that logged it.
    explicit = _one(cells, "with tracker.start_run")
    children = tracker.search_runs(parent=session.id)
    by_name = {r.name: r for r in children}
    assert by_name["explicit"].kind is RunKind.RUN
    assert by_name["explicit"].metrics == {"m": 1.0}
    assert explicit.metrics == {"m": 1.0}

    # %%track: the cell is a run of its own, a child of the session run.
    tracked = _one(cells, "%%track --name tracked-cell")
    run = by_name["tracked-cell"]
    assert run.kind is RunKind.CELL
    assert run.parent_id == session.id
    assert run.status is RunStatus.FINISHED
    assert run.metrics == {"inside": 2.0}
    assert run.fingerprint == tracked.fingerprint
    assert tracked.child_run_id == run.id
    assert tracked.metrics == {"inside": 2.0}
    assert tracked.outputs["z"].digest == run.data["z"].digest
    assert run.source.cell_id is None


def test_tracking_leaves_arrays_resizable(records: Executed) -> None:
    # numpy refuses ndarray.resize() on an array referenced from elsewhere: the tracker
    # must hold no reference to the user's data, between cells or during one.
    records.use()
    assert errors(records.cell("resize")) == []
    grow = np.arange(4.0)
    grow.resize(8)
    grow[4:] = 1.0
    cell = _one(_session("records-test").cells, "grow.resize(8)")
    assert cell.status == "ok"
    assert cell.outputs["grow"].digest == hash_data(grow).digest


def test_files_read_and_written_are_hashed(records: Executed) -> None:
    records.use()
    cells = _session("records-test").cells
    expected = hash_file(records.workdir / "a.csv")
    write = _one(cells, 'pd.DataFrame({"v": a}).to_csv')
    assert write.outputs["./a.csv"].digest == expected.digest
    assert write.outputs["./a.csv"].kind == "file"
    assert write.outputs["./a.csv"].path == str(records.workdir / "a.csv")
    read = _one(cells, "a2 = pd.read_csv")
    assert read.inputs["./a.csv"].digest == expected.digest
    # The data read back is the data written: same digest as `a`.
    assert read.outputs["a2"].digest == write.inputs["a"].digest


def test_session_run_and_status_from_the_kernel(records: Executed) -> None:
    records.use()
    session = _session("records-test")
    printed = outputs_text(records.cell("session")).split()
    assert printed[:2] == [session.id, "session"]
    assert int(printed[2]) == len(_by_source(session.cells, "")) - 1  # itself not yet
    status = outputs_text(records.cell("status"))
    assert "tracker: tracking on" in status
    assert session.id in status
    assert re.search(r"cells recorded:\s+\d+", status)
    assert "last tracker error: none" in status
    # The kernel ended normally: the session run is finished, not interrupted.
    assert session.status is RunStatus.FINISHED


def test_rerun_with_another_param_and_nondeterminism(tmp_path: Path) -> None:
    run_notebook("capture_rerun.ipynb", tmp_path)
    session = _session()
    cells = session.cells

    first, second = _by_source(cells, "acc = float((X * C).mean())")
    # Same code, same data, another param: two records to compare like two runs.
    assert first.source_hash == second.source_hash
    assert first.inputs["X"].digest == second.inputs["X"].digest
    assert (first.params, second.params) == ({"C": 1.0}, {"C": 2.0})
    assert (first.metrics, second.metrics) == ({"acc": 9.5}, {"acc": 19.0})
    assert first.fingerprint != second.fingerprint
    assert not first.nondeterministic
    assert not second.nondeterministic

    # Same code, inputs and params, same metrics: deterministic.
    d1, d2 = _by_source(cells, "det = ")
    assert d1.fingerprint == d2.fingerprint
    assert d1.outcome_hash == d2.outcome_hash
    assert not d1.nondeterministic
    assert not d2.nondeterministic

    # Same code, inputs and params, different metrics: flagged on both records.
    n1, n2 = _by_source(cells, "noise = ")
    assert n1.fingerprint == n2.fingerprint
    assert n1.outcome_hash != n2.outcome_hash
    assert n1.nondeterministic
    assert n2.nondeterministic

    # The same for %%track runs, visible in search_runs.
    noisy = tracker.search_runs(name="noisy")
    assert len(noisy) == 2
    assert all(r.nondeterministic for r in noisy)
    assert noisy[0].fingerprint == noisy[1].fingerprint
    assert tracker.runs_frame(name="noisy")["nondeterministic"].all()


def test_searches_in_a_tracked_notebook_are_children_of_the_session(tmp_path: Path) -> None:
    run_notebook("capture_rerun.ipynb", tmp_path)
    session = _session()
    (search,) = tracker.search_runs(kind="search")
    assert search.parent_id == session.id
    trials = tracker.search_runs(parent=search.id)
    assert len(trials) == 4
    assert {t.kind for t in trials} == {RunKind.TRIAL}
    # The trials' metrics belong to the trials, not to the cell that ran the search.
    record = _one(session.cells, "def objective(trial):")
    assert "loss" not in record.metrics
    assert record.status == "ok"
    # And lineage leads from a trial back to that cell.
    assert [c.id for c in tracker.lineage(trials[0]).cells][-1] == record.id


def test_sklearn_autolog(tmp_path: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import train_test_split

    nb = run_notebook("capture_sklearn.ipynb", tmp_path)
    session = _session()
    cells = session.cells
    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    model = LogisticRegression(C=0.5, max_iter=500).fit(X_train, y_train)
    pred = model.predict(X_test)

    fit = _one(cells, "model = LogisticRegression")
    assert fit.params["C"] == 0.5
    assert fit.params["max_iter"] == 500
    assert fit.params == {k: v for k, v in fit.params.items() if k in model.get_params()}
    assert fit.inputs["X_train"].digest == hash_data(X_train).digest
    assert fit.inputs["y_train"].digest == hash_data(y_train).digest
    assert session.tags["estimator_name"] == "Pipeline"  # the last tracked fit
    assert session.data["training_data.X"].digest == hash_data(X_train).digest

    evaluate = _one(cells, "pred = model.predict")
    assert evaluate.metrics == pytest.approx(
        {
            "accuracy_score_X_test": accuracy_score(y_test, pred),
            "f1_score_X_test": f1_score(y_test, pred, average="macro"),
            "score_X_test": model.score(X_test, y_test),
        }
    )
    assert evaluate.params == {}

    # Clones fitted inside cross_val_score are not the user's fit.
    cv = _one(cells, "cv_scores = ")
    assert cv.params == {}
    assert cv.metrics == {}

    # A Pipeline (whose predict is an `available_if` descriptor) is followed too, and
    # hasattr() still answers as scikit-learn means it to.
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X_train, y_train)
    piped = _one(cells, "from sklearn.pipeline import make_pipeline")
    assert piped.params["logisticregression__max_iter"] == 500
    assert piped.metrics == pytest.approx(
        {"accuracy_score_X_test": accuracy_score(y_test, pipe.predict(X_test))}
    )
    by_id = {c.id: c for c in nb.cells}
    assert outputs_text(by_id["pipeline"]).strip() == "True False"

    # Off: nothing logged, and scikit-learn is as it was.
    untracked = _one(cells, "other = LogisticRegression")
    assert untracked.params == {}
    assert outputs_text(by_id["fit-untracked"]).strip() == "False"


def test_bad_magic_arguments_give_usage_not_traceback(failures: Executed) -> None:
    by_id = {c.id: c for c in failures.nb.cells}
    expected = {
        "bad-sub": "invalid choice: 'bogus'",
        "bad-opt": "unrecognized arguments: --nope",
        "no-names": "the following arguments are required: NAME",
        "bad-store": "unsupported store scheme 'ftp'",
        "bad-cell": "%%track: unrecognized arguments: --bad",
        "bad-metric": "metric 'not_a_number' must be a real number",
        "undefined": "name 'nowhere_defined' is not defined",
    }
    for cell_id, message in expected.items():
        cell = by_id[cell_id]
        # IPython shows a UsageError as one line on stderr: no traceback at all.
        assert errors(cell) == [], cell_id
        assert len(cell.outputs) == 1, (cell_id, cell.outputs)
        (out,) = cell.outputs
        assert (out["output_type"], out["name"]) == ("stream", "stderr"), cell_id
        assert out["text"].startswith("UsageError: "), cell_id
        assert message in out["text"], (cell_id, out["text"])
        assert "Traceback" not in out["text"], cell_id
        assert "File " not in out["text"], cell_id
        assert "__cell__" not in out["text"]
    # A %%track cell with bad arguments does not run its body.
    assert outputs_text(by_id["check-cell"]).strip() == "False"


def test_a_tracker_failure_never_fails_the_cell(failures: Executed) -> None:
    # Given hashing that raises (a bug of ours, injected), the user's cells succeed,
    # the tracker warns once, keeps recording, and %track status shows the error.
    failures.use()
    by_id = {c.id: c for c in failures.nb.cells}
    for cell_id in ("broken-1", "broken-2", "restore", "fine"):
        assert errors(by_id[cell_id]) == [], cell_id
    warning = outputs_text(by_id["broken-1"])
    assert "injected failure" in warning
    assert "the cell is unaffected" in warning
    assert "injected failure" not in outputs_text(by_id["broken-2"])  # warned once
    assert "last tracker error: hashing 'more' (numpy.ndarray): RuntimeError: injected failure" in (
        outputs_text(by_id["status"])
    )

    cells = _session().cells
    for start in ("import numpy as np\nbroken", "more = broken + 1"):
        rec = _one(cells, start)
        assert rec.status == "ok"
        assert rec.outputs == {}  # what could not be hashed is left out, not invented
    assert _one(cells, "fine = np.arange(3)").outputs["fine"].digest == (
        hash_data(np.arange(3)).digest
    )


def test_a_failing_track_cell_is_a_failed_run(failures: Executed) -> None:
    failures.use()
    (err,) = errors(failures.cell("failing-run"))
    assert (err["ename"], err["evalue"]) == ("ValueError", "boom")
    (run,) = tracker.search_runs(name="failing")
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert (run.error.type, run.error.message) == ("ValueError", "boom")
    record = _one(_session().cells, "%%track --name failing")
    assert record.status == "error"
    assert record.child_run_id == run.id


def test_code_run_by_timing_magics_is_recorded_like_cell_code(tmp_path: Path) -> None:
    # Given cells whose work runs under %time, %%time, %timeit and %%timeit,
    nb = run_notebook("capture_timing.ipynb", tmp_path)
    for cell in nb.cells:
        assert errors(cell) == [], (cell.id, errors(cell))
    cells = _session("timing-test").cells
    a = np.arange(5.0)[::-1].copy()
    y = np.ones(3)

    # %time: what the timed code reads is an input (as it was), what it binds an output.
    timed = _one(cells, "%time b = a * 2")
    assert timed.reads == ("a",)
    assert timed.writes == ("b",)
    assert timed.inputs["a"].digest == hash_data(a).digest
    assert timed.outputs["b"].digest == hash_data(a * 2).digest

    # A change made in place under %time is an output, and the next cell reads the new
    # content (not the digest of the value before the change).
    sort = _one(cells, "%time a.sort()")
    assert sort.inputs["a"].digest == hash_data(a).digest
    a.sort()
    assert sort.outputs["a"].digest == hash_data(a).digest
    assert "a" in sort.writes
    assert _one(cells, "first = float(a[0])").inputs["a"].digest == hash_data(a).digest

    # %%time: the cell body is cell code.
    body = _one(cells, "%%time\nc = y + 1")
    assert body.reads == ("y",)
    assert body.writes == ("c", "d")
    assert body.outputs["c"].digest == hash_data(y + 1).digest
    assert body.outputs["d"].digest == hash_data((y + 1) * 2).digest

    # %timeit runs its code many times (here exactly twice): the record holds the data
    # as it was before the first run and as the last run left it.
    added = _one(cells, "%timeit -n2 -r1 -q np.add")
    assert added.inputs["y"].digest == hash_data(y).digest
    assert added.outputs["y"].digest == hash_data(y + 2).digest
    assert added.writes == ("y",)
    later = _one(cells, "after = float(y.sum())")
    assert later.inputs["y"].digest == hash_data(y + 2).digest
    assert outputs_text(next(c for c in nb.cells if c.id == "read-y")).strip() == "False False"

    # Names %timeit's code binds are local to the timing function: not writes. Its -v
    # variable is one.
    local = _one(cells, "%timeit -n1 -r1 -q -v timing")
    assert local.reads == ("vals",)
    assert local.writes == ("timing",)
    scratch = _one(cells, "%%timeit -n1 -r1 -q scratch = a.copy()")
    assert scratch.reads == ("a",)
    assert scratch.writes == ()
    assert scratch.outputs == {}
    assert scratch.inputs["a"].digest == hash_data(a).digest


@pytest.fixture(scope="module")
def lineage_nb(tmp_path_factory: pytest.TempPathFactory) -> Executed:
    """capture_lineage.ipynb, executed once."""
    return _execute("capture_lineage.ipynb", tmp_path_factory)


def test_lineage_names_the_cell_that_wrote_each_name(lineage_nb: Executed) -> None:
    # Given y and y_pred with equal content, made by two cells of a real kernel,
    lineage_nb.use()
    for cell in lineage_nb.nb.cells:
        assert errors(cell) == [], (cell.id, errors(cell))
    cells = _session("lineage-test").cells
    y_cell = _one(cells, "y = np.array")
    pred_cell = _one(cells, "y_pred = np.array")
    acc = _one(cells, "acc = (y == y_pred)")
    assert acc.inputs["y"].digest == acc.inputs["y_pred"].digest

    # the lineage of the cell comparing them names the y cell for y, the y_pred cell
    # for y_pred.
    lin = tracker.lineage(acc)
    wrote = {
        (e.name, lin.nodes[e.source].cell.id)  # type: ignore[union-attr]
        for e in lin.edges
        if e.relation == "wrote"
    }
    assert wrote == {("y", y_cell.id), ("y_pred", pred_cell.id)}


def test_a_file_closed_in_a_later_cell_is_that_cells_output(lineage_nb: Executed) -> None:
    # Given a file opened for writing in one cell, written in the next, closed in a third,
    lineage_nb.use()
    cells = _session("lineage-test").cells
    final = hash_file(lineage_nb.workdir / "log.txt")
    opened = _one(cells, 'fh = open("log.txt", "w")')
    close = _one(cells, "fh.close()")
    read = _one(cells, 'text = open("log.txt").read()')

    # the closing cell has the file as an output, with the closed file's digest (the
    # opening cell left it half written: not an output of its own),
    assert "./log.txt" not in opened.outputs
    assert close.outputs["./log.txt"].digest == final.digest
    assert read.inputs["./log.txt"].digest == final.digest

    # and the lineage of the cell reading it reaches the cells that wrote it.
    lin = tracker.lineage(read)
    sources = [c.source for c in lin.cells]
    assert sources[-1] == read.source
    assert close.source in sources
    assert opened.source in sources  # through the handle `fh`
    assert lin.files == []  # the file was written by a tracked cell: not where it starts
