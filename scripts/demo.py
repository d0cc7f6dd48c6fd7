"""`make demo`: the main job on the embedded SQLite default.

Creates a few runs through the public API and prints them as a table. Later steps
(quickstart notebook, constrained search, model card) are added as they land.
"""

from __future__ import annotations

import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

import tracker
from tracker.cli import runs_table


def runs_demo() -> None:
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    print(f"store: {tracker.get_store().url}")
    for C in (0.1, 1.0, 10.0):
        with tracker.start_run(name=f"svc-C{C}", tags={"model": "svc", "demo": "runs"}) as run:
            run.log_params({"C": C, "kernel": "rbf", "gamma": "scale"})
            run.log_data("X_train", X_train)
            run.log_data("y_train", y_train)
            model = SVC(C=C).fit(X_train, y_train)
            run.log_metrics({"accuracy": float(np.mean(model.predict(X_test) == y_test))})
    runs = tracker.search_runs(tags={"demo": "runs"}, order_by="metrics.accuracy desc", limit=10)
    print(runs_table(runs))


def main() -> int:
    runs_demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
