"""Cost-aware "auto" on cheap trials: its wall time against TPE's (target: within 1.5x).

A search whose trials cost microseconds is where a sample-efficient but expensive sampler
(the GP) loses: its suggestions, seconds each, would be the whole wall time. ``"auto"``
starts with the GP on a small numeric space, times its suggestions against the trials,
and hands over to TPE (rule 7 of ``tracker.tuning._policy``). Both arms run the same
constrained two-objective problem for 100 trials through ``tracker.optimize`` on a fresh
SQLite file, interleaved (auto, TPE, auto, TPE, ...) so machine load hits both alike; the
figure is the median over rounds of auto's wall time divided by TPE's in the same round.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any


def _objective(trial: Any) -> dict[str, float]:
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_float("y", -5, 5)
    return {"f": (x - 1) ** 2 + (y + 2) ** 2, "g": abs(x) + abs(y)}


def run(quick: bool = False) -> list[dict[str, Any]]:
    warnings.simplefilter("ignore")
    import tracker
    from tracker.tuning import optimize

    rounds, n_trials = (2, 40) if quick else (5, 100)
    ratios: list[float] = []
    walls: dict[str, list[float]] = {"auto": [], "tpe": []}
    switched_at: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            per: dict[str, float] = {}
            for arm in ("auto", "tpe"):
                tracker.set_store(f"sqlite:///{Path(tmp) / f'{arm}{r}.db'}")
                t0 = time.perf_counter()
                res = optimize(
                    _objective,
                    n_trials,
                    objectives={"f": "minimize", "g": "minimize"},
                    constraints=["g <= 6"],
                    sampler=arm,
                    seed=r,
                    show_progress=False,
                )
                per[arm] = time.perf_counter() - t0
                walls[arm].append(per[arm])
                if arm == "auto":
                    history = res.sampler.get("history") or [{}]
                    switched_at.append(int(history[-1].get("until_trial", -1)))
            ratios.append(per["auto"] / per["tpe"])
        tracker.set_store(None)
    ratio = statistics.median(ratios)
    return [
        {
            "bench": f"auto vs TPE wall time, {n_trials} cheap trials",
            "auto_s": statistics.median(walls["auto"]),
            "tpe_s": statistics.median(walls["tpe"]),
            "ratio": ratio,
            "switched_to_tpe_at_trial": statistics.median(switched_at),
            "target": "<= 1.5x",
            "ok": ratio <= 1.5,
        }
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
