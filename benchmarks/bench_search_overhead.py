"""Tracker bookkeeping per trial on top of Optuna itself, on SQLite (target <= 2 ms median).

Both arms run the same trivial objective with RandomSampler on the same kind of SQLite
file; the tracker arm runs it through ``tracker.tuning.optimize`` (a tracked run per
trial, constraint attributes, the front and hypervolume updates). Per-trial time is the
gap between consecutive trial starts, and an arm's figure for a round is the median gap
of its trials. A round runs both arms back to back on fresh files, in alternating order
(tracker first in even rounds, Optuna first in odd ones), so the load of the 2-core
machine hits both alike; the figure is the median over rounds of the per-round
difference (tracker minus Optuna), with its 95th percentile and the load average.
"""

from __future__ import annotations

import itertools
import os
import statistics
import tempfile
import warnings
from typing import Any


def _gaps(study: Any) -> list[float]:
    starts = sorted(t.datetime_start for t in study.trials)
    return [(b - a).total_seconds() * 1000 for a, b in itertools.pairwise(starts)]


def run(quick: bool = False) -> list[dict[str, Any]]:
    warnings.simplefilter("ignore")
    import optuna

    import tracker
    from tracker.tuning import open_storage, optimize

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    n = 40 if quick else 200

    def objective(trial: Any) -> dict[str, float]:
        x = trial.suggest_float("x", 0, 1)
        return {"f": x, "g": 1 - x, "c": x}

    def tracked(tmp: str, i: int) -> float:
        os.environ["TRACKER_SPOOL_DIR"] = f"{tmp}/spool{i}"
        tracker.set_store(f"sqlite:///{tmp}/t{i}.db")
        res = optimize(
            objective,
            n,
            objectives={"f": "minimize", "g": "minimize"},
            constraints=["c <= 0.8"],
            sampler="random",
            seed=i,
            show_progress=False,
        )
        tracker.set_store(None)
        return statistics.median(_gaps(res.study))

    def plain_optuna(tmp: str, i: int) -> float:
        # The same kind of file, opened as the tracker opens its own (WAL, busy timeout).
        tracker.set_store(f"sqlite:///{tmp}/p{i}.db")
        storage = open_storage(tracker.get_store().url)
        study = optuna.create_study(
            directions=["minimize", "minimize"],
            storage=storage,
            sampler=optuna.samplers.RandomSampler(seed=i),
        )

        def plain(trial: Any) -> tuple[float, float]:
            m = objective(trial)
            trial.set_constraint("c", m["c"] - 0.8)
            return m["f"], m["g"]

        study.optimize(plain, n)
        tracker.set_store(None)
        return statistics.median(_gaps(study))

    def one_round(tmp: str, i: int) -> tuple[float, float]:
        if i % 2:
            theirs = plain_optuna(tmp, i)
            return tracked(tmp, i), theirs
        ours = tracked(tmp, i)
        return ours, plain_optuna(tmp, i)

    # SEARCH_OVERHEAD_ROUNDS: fewer rounds when the machine is too loaded for nine.
    rounds = 1 if quick else int(os.environ.get("SEARCH_OVERHEAD_ROUNDS", "9"))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        pairs = [one_round(tmp, i) for i in range(rounds)]
    diffs = [a - b for a, b in pairs]
    extra = statistics.median(diffs)
    p95 = statistics.quantiles(diffs, n=20, method="inclusive")[18] if len(diffs) > 1 else extra
    return [
        {
            "bench": "search bookkeeping per trial (SQLite)",
            "trials": n,
            "rounds": rounds,
            "overhead_by_round_ms": [round(d, 2) for d in diffs],
            "tracker_ms": round(statistics.median(p[0] for p in pairs), 2),
            "optuna_ms": round(statistics.median(p[1] for p in pairs), 2),
            "overhead_ms": round(extra, 2),
            "overhead_p95_ms": round(p95, 2),
            "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "target": "<= 2 ms",
            "ok": extra <= 2.0,
        }
    ]
