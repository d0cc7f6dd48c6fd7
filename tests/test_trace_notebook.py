"""End to end in a real IPython kernel: files cells write are recorded, and a copied model
is traced back to the cell, the session run and the CSV it was fitted on.

The notebook is executed with nbclient (as ``jupyter execute`` does) against the test's
own SQLite store; the records are read back in this process, and ``tracker trace`` runs
as a separate process, as it would on the host the model was copied to.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from sklearn.datasets import load_breast_cancer

import tracker
from tracker.hashing import hash_file
from tracker.records import CellExecution

from .capture_harness import errors, kernel_env, outputs_text

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

CELLS = [
    ("load", "%load_ext tracker\n%track on --name trace-e2e"),
    (
        "train",
        """
import joblib
import pandas as pd
from sklearn.linear_model import LogisticRegression
df = pd.read_csv("train.csv")
model = LogisticRegression(max_iter=200).fit(df.drop(columns="target"), df["target"])
joblib.dump(model, "model.joblib")
try:  # in the cell that imports pandas: pyarrow writes in native code, seen by a wrapper
    df.head(20).to_parquet("head.parquet")
except ImportError:  # no parquet engine installed
    pass
""",
    ),
    (
        "writers",
        """
import pickle
import numpy as np
with open("model.pkl", "wb") as fh:
    pickle.dump(model, fh)
np.save("coef.npy", model.coef_)
np.savez("arrays.npz", coef=model.coef_, intercept=model.intercept_)
df.head(20).to_csv("head.csv", index=False)
with open("notes.txt", "w") as fh:
    fh.write("fitted on train.csv")
""",
    ),
    (
        "skops",
        """
try:
    import skops.io as sio
except ImportError:  # skops is optional
    sio = None
if sio is not None:
    sio.dump(model, "model.skops")
""",
    ),
]


@dataclass
class Executed:
    workdir: Path
    store: str
    cells: dict[str, CellExecution]


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Executed:
    work = tmp_path_factory.mktemp("trace-e2e")
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.iloc[:, :5].assign(target=data.target)
    frame.iloc[:300].to_csv(work / "train.csv", index=False)  # the rest is held out
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    for cell_id, source in CELLS:
        cell = nbformat.v4.new_code_cell(source.strip("\n"))
        cell.id = cell_id
        nb.cells.append(cell)
    store = f"sqlite:///{work / 'tracker.db'}"
    env = kernel_env(TRACKER_STORE=store, TRACKER_SPOOL_DIR=str(work / "spool"))
    client = NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(work)}},
    )
    client.execute(env=env)
    for cell in nb.cells:
        assert not errors(cell), outputs_text(cell)
    tracker.set_store(store)
    sessions = tracker.search_runs(kind="session", name="trace-e2e")
    assert len(sessions) == 1
    session = tracker.get_run(sessions[0].id)
    # nbclient sends no cell id (JupyterLab does): match the records by their source.
    by_source = {c.source.strip(): c for c in session.cells}
    by_id = {cell_id: by_source[src.strip()] for cell_id, src in CELLS if cell_id != "load"}
    return Executed(work, store, by_id)


def test_every_writer_is_recorded_with_the_full_file_digest(executed: Executed) -> None:
    tracker.set_store(executed.store)
    expected = {
        "train": ["model.joblib", "head.parquet"],
        "writers": ["model.pkl", "coef.npy", "arrays.npz", "head.csv", "notes.txt"],
        "skops": ["model.skops"],
    }
    for cell_id, names in expected.items():
        outputs = executed.cells[cell_id].outputs
        for name in names:
            path = executed.workdir / name
            if not path.exists():  # an optional writer (parquet engine, skops) is absent
                assert name in ("head.parquet", "model.skops"), name
                continue
            ref = outputs.get(f"./{name}")
            assert ref is not None, (cell_id, name, sorted(outputs))
            assert ref.kind == "file"
            assert ref.digest == hash_file(path).digest
    # The CSV the model was fitted on is an input of the training cell, not an output.
    train = executed.cells["train"]
    assert "./train.csv" in train.inputs
    assert "./train.csv" not in train.outputs


def test_a_copied_model_is_traced_back_to_its_cell_run_and_csv(
    executed: Executed, tmp_path: Path
) -> None:
    # Given the dumped model copied to "another host" under another name,
    copy = tmp_path / "prod" / "copy.joblib"
    copy.parent.mkdir()
    shutil.copy(executed.workdir / "model.joblib", copy)
    train = executed.cells["train"]
    csv = hash_file(executed.workdir / "train.csv")

    # `tracker trace` (a separate process) names the cell, the run and the CSV,
    cmd = [sys.executable, "-m", "tracker", "--store", executed.store, "trace"]
    env = kernel_env(TRACKER_SPOOL_DIR=str(tmp_path / "spool"))
    done = subprocess.run([*cmd, str(copy)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    # (the line of the cell that names the file),
    assert f'written by cell [{train.execution_count}] joblib.dump(model, "model.joblib")' in (
        done.stdout
    )
    assert train.run_id[:8] in done.stdout
    assert "train.csv" in done.stdout

    # its JSON says the same,
    done = subprocess.run(
        [*cmd, str(copy), "--json"], capture_output=True, text=True, env=env, timeout=120
    )
    doc = json.loads(done.stdout)
    assert doc["matches"][0]["cell"]["record_id"] == train.id
    assert doc["matches"][0]["run_id"] == train.run_id
    assert [f["digest"] for f in doc["files"]] == [csv.digest]

    # and the Python API agrees.
    tracker.set_store(executed.store)
    t = tracker.trace(copy)
    assert t.origin is not None
    assert t.origin.cell is not None
    assert t.origin.cell.id == train.id
    assert [f.digest for f in t.files] == [csv.digest]


def test_pandas_writers_are_wrapped_in_the_cell_that_imports_pandas(tmp_path: Path) -> None:
    # In a fresh process (pandas not imported yet), asking for the wrappers installs an
    # import hook; importing pandas then wraps its native writers at once.
    code = """
import sys
from tracker.capture import _files
assert "pandas" not in sys.modules
assert _files.patch_native_readers() is False
import pandas as pd
assert hasattr(pd.DataFrame.to_parquet, "__tracker_original__")
assert hasattr(pd.read_parquet, "__tracker_original__")
assert _files._import_hook is None
_files.unpatch_native_readers()
assert not hasattr(pd.DataFrame.to_parquet, "__tracker_original__")
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.stdout.strip() == "ok", done.stderr
