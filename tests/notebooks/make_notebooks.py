"""Write the capture test notebooks (the .ipynb files are committed; rerun after edits).

Usage: python tests/notebooks/make_notebooks.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat

HERE = Path(__file__).parent


def write(name: str, cells: list[tuple[str, str]]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    for cell_id, source in cells:
        cell = nbformat.v4.new_code_cell(source.strip("\n"))
        cell.id = cell_id
        nb.cells.append(cell)
    nbformat.validate(nb)
    nbformat.write(nb, HERE / name)


RECORDS = [
    ("load", "%load_ext tracker\n%track on --name records-test"),
    (
        "imports",
        """
import numpy as np
import pandas as pd
import tracker
from tracker.capture import current_capture
""",
    ),
    (
        "data",
        """
a = np.arange(10.0)
b = a
df = pd.DataFrame({"x": [1.0, None, 3.0], "y": [4.0, 5.0, None]})
splits = {"train": np.ones(4), "test": np.zeros(2)}
""",
    ),
    ("mutate-a", "a[3] = 7"),
    ("mutate-alias", "b[4] = 9"),
    ("fillna", 'df.fillna(0, inplace=True)\nsplits["test"][0] = 1.0'),
    ("pure-read", "total = float(a.sum())\nprint(total, df.shape, len(splits))"),
    ("big", "big = np.random.default_rng(0).random(2_000_000)"),
    ("count-before", "hashed_before = current_capture().cache.hashed"),
    ("untouched", "unrelated = 1 + 1"),
    ("count-after", 'print("rehashed:", current_capture().cache.hashed - hashed_before)'),
    ("off", "%track off"),
    ("mutate-off", "a[0] = -5.0"),
    ("rebind-off", "df = df * 2"),
    ("on-again", "%track on"),
    ("count-before-2", "hashed_before = current_capture().cache.hashed"),
    ("read-after-off", "after_off = float(a.sum()) + float(df.sum().sum())\nprint(len(big))"),
    ("count-after-2", 'print("hashed:", current_capture().cache.hashed - hashed_before)'),
    ("define-shift", "def shift(by):\n    a[1] = by"),
    ("call-shift", "shift(100.0)"),
    ("param", "C = 0.5"),
    ("log", "score = round(1 - C / 10, 6)\n%track params C\n%track metrics score"),
    ("fails", "1 / 0"),
    ("after-error", "after_error = float(a.max())"),
    ("grow", "grow = np.arange(4.0)"),
    ("resize", "grow.resize(8)\ngrow[4:] = 1.0"),
    (
        "explicit",
        """
with tracker.start_run(name="explicit") as r:
    r.log_metric("m", 1.0)
explicit_id = r.id
""",
    ),
    (
        "tracked",
        """
%%track --name tracked-cell
tracker.log_metric("inside", 2.0)
z = a * 2
z.sum()
""",
    ),
    ("write-file", 'pd.DataFrame({"v": a}).to_csv("a.csv", index=False)'),
    ("read-file", 'a2 = pd.read_csv("a.csv")["v"].to_numpy()'),
    (
        "session",
        """
session = tracker.session_run()
print(session.id, session.kind.value, len(session.cells))
""",
    ),
    ("status", "%track status"),
]

NOISE = 'tracker.log_metric("noise", float(np.random.default_rng().random()))'
RERUN = [
    ("load", "%load_ext tracker\n%track on"),
    ("setup", "import numpy as np\nimport tracker\nX = np.arange(20.0)"),
    ("c1", "C = 1.0"),
    ("train", "acc = float((X * C).mean())\n%track params C\n%track metrics acc"),
    ("c2", "C = 2.0"),
    ("train-again", "acc = float((X * C).mean())\n%track params C\n%track metrics acc"),
    ("det-1", "det = float(X.sum())\n%track metrics det"),
    ("det-2", "det = float(X.sum())\n%track metrics det"),
    ("noise-1", "noise = float(np.random.default_rng().random())\n%track metrics noise"),
    ("noise-2", "noise = float(np.random.default_rng().random())\n%track metrics noise"),
    ("run-1", f"%%track --name noisy\n{NOISE}"),
    ("run-2", f"%%track --name noisy\n{NOISE}"),
    (
        "search",
        """
def objective(trial):
    x = trial.suggest_float("x", -1.0, 1.0)
    return {"loss": (x - C / 10) ** 2}
result = tracker.optimize(
    objective, 4, objectives={"loss": "minimize"}, seed=0, show_progress=False
)
""",
    ),
]

SKLEARN = [
    ("load", "%load_ext tracker\n%track on\n%track sklearn on"),
    (
        "data",
        """
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.metrics import accuracy_score, f1_score
X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
""",
    ),
    ("fit", "model = LogisticRegression(C=0.5, max_iter=500)\nmodel.fit(X_train, y_train)"),
    (
        "evaluate",
        """
pred = model.predict(X_test)
acc = accuracy_score(y_test, pred)
f1 = f1_score(y_test, pred, average="macro")
model.score(X_test, y_test)
""",
    ),
    ("cv", "cv_scores = cross_val_score(LogisticRegression(max_iter=500), X_train, y_train, cv=3)"),
    (
        "pipeline",
        """
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X_train, y_train)
ppred = pipe.predict(X_test)
pacc = accuracy_score(y_test, ppred)
print(hasattr(pipe, "predict_proba"), hasattr(make_pipeline(StandardScaler()), "predict"))
""",
    ),
    ("off", "%track sklearn off"),
    (
        "fit-untracked",
        """
other = LogisticRegression(C=2.0, max_iter=500).fit(X_train, y_train)
print(hasattr(LogisticRegression.fit, "__tracker_original__"))
""",
    ),
]

FAILURES = [
    ("load", "%load_ext tracker"),
    ("bad-sub", "%track bogus"),
    ("bad-opt", "%track on --nope"),
    ("no-names", "%track params"),
    ("bad-store", "%track on --store ftp://example.org/db"),
    ("bad-cell", "%%track --bad\nnever_bound = 1"),
    ("check-cell", "print('never_bound' in globals())"),
    ("on", "%track on"),
    ("bad-metric", 'not_a_number = "abc"\n%track metrics not_a_number'),
    ("undefined", "%track params nowhere_defined"),
    (
        "inject",
        """
import tracker.hashing
_real_hash = tracker.hashing.hash_data
def _boom(*args, **kwargs):
    raise RuntimeError("injected failure")
tracker.hashing.hash_data = _boom
""",
    ),
    ("broken-1", "import numpy as np\nbroken = np.arange(5)"),
    ("broken-2", "more = broken + 1"),
    ("restore", "tracker.hashing.hash_data = _real_hash"),
    ("status", "%track status"),
    ("fine", "fine = np.arange(3)"),
    ("failing-run", '%%track --name failing\nraise ValueError("boom")'),
]

TIMING = [
    ("load", "%load_ext tracker\n%track on --name timing-test"),
    (
        "setup",
        """
import numpy as np
a = np.arange(5.0)[::-1].copy()
y = np.ones(3)
vals = [3, 1, 2]
""",
    ),
    ("time-line", "%time b = a * 2"),
    ("time-sort", "%time a.sort()"),
    ("read-sorted", "first = float(a[0])"),
    ("time-cell", "%%time\nc = y + 1\nd = c * 2"),
    ("timeit-add", "%timeit -n2 -r1 -q np.add(y, 1, out=y)"),
    ("timeit-local", "%timeit -n1 -r1 -q -v timing tmp = vals[0]"),
    ("timeit-cell", "%%timeit -n1 -r1 -q scratch = a.copy()\nscratch.sort()"),
    ("read-y", 'after = float(y.sum())\nprint("tmp" in globals(), "scratch" in globals())'),
]

LINEAGE = [
    ("load", "%load_ext tracker\n%track on --name lineage-test"),
    ("imports", "import numpy as np\nimport tracker"),
    ("y", "y = np.array([0, 1, 1, 0, 1])"),
    ("y-pred", "y_pred = np.array([0, 1, 1, 0, 1])"),
    ("acc", "acc = (y == y_pred).mean()"),
    ("open", 'fh = open("log.txt", "w")\nfh.write("first line\\n")'),
    ("write", 'fh.write(f"acc={acc}\\n")'),
    ("close", "fh.close()"),
    ("read", 'text = open("log.txt").read()'),
]

if __name__ == "__main__":
    write("capture_records.ipynb", RECORDS)
    write("capture_rerun.ipynb", RERUN)
    write("capture_sklearn.ipynb", SKLEARN)
    write("capture_failures.ipynb", FAILURES)
    write("capture_timing.ipynb", TIMING)
    write("capture_lineage.ipynb", LINEAGE)
