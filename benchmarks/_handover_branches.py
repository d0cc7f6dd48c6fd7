"""A candidate "auto" rule, measured and not adopted: GP for 50 trials, then TPE.

The candidate (issue 18, 100-trial goal): a multi-objective search on the GP hands over
to ``TPESampler(multivariate=True, constant_liar=True)`` once the study holds
:data:`HANDOVER_AT` trials, TPE modelling the GP's trials. Its first :data:`HANDOVER_AT`
trials are ``GPSampler(seed)``'s, so one plain-Optuna GP study per problem and seed
serves two arms: after :data:`HANDOVER_AT` trials a copy of the study goes on with that
TPE (arm ``handover``) and the study itself goes on with the GP (arm ``gp``); the GP's
first trials, the dearest part of a CPU-starved run, are paid once. The TPE gets the seed
``AutoSampler`` gives its second delegate, so the arm is, trial for trial, what "auto"
did with the rule in place (commit c442352 has the rule and a test of exactly that; the
SRN seed-0 run through ``bench_search_quality.py`` matched all 100 trials). Why it was
not adopted, with the figures: docs/optimize.md, "What it costs, measured", search
quality.

Writes raw runs in the format of ``bench_search_quality.py`` (arms ``handover``, ``gp``
and optionally ``tpe``), which re-analyses them with the candidate in the "auto" column::

    OMP_NUM_THREADS=1 HANDOVER_PROBLEMS=srn,mw3 HANDOVER_SEEDS=0,1,2 \\
        python benchmarks/_handover_branches.py /tmp/raw.jsonl
    SEARCH_BENCH_AS_AUTO=handover python benchmarks/bench_search_quality.py /tmp/raw.jsonl

``HANDOVER_ARMS`` (default ``handover,gp,tpe``): leave out ``gp`` to skip the GP's
continuation (most of the cost) where another file has it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from bench_search_quality import optuna_objective, quiet_worker, study_rows

BUDGET = int(os.environ.get("HANDOVER_BUDGET", "100"))
#: Trials the GP models before TPE takes over (``HANDOVER_AT``).
HANDOVER_AT = int(os.environ.get("HANDOVER_AT", "50"))


def _run(args: tuple[str, int, tuple[str, ...]]) -> list[dict[str, Any]]:
    problem_name, seed, arms = args
    quiet_worker()
    import optuna
    from _search_problems import PROBLEMS

    problem = next(p for p in PROBLEMS if p.name == problem_name)
    directions = list(problem.objectives.values())
    obj = optuna_objective(problem)

    def record(arm: str, study: Any, seconds: float, choice: str | None) -> dict[str, Any]:
        return {
            "problem": problem_name,
            "sampler": arm,
            "seed": seed,
            "budget": BUDGET,
            "rows": study_rows(study),
            "seconds": seconds,
            "choice": choice,
        }

    out = []
    if "tpe" in arms:  # the suite's TPE arm: Optuna's default TPE
        t0 = time.perf_counter()
        study = optuna.create_study(
            directions=directions, sampler=optuna.samplers.TPESampler(seed=seed)
        )
        study.optimize(obj, n_trials=BUDGET)
        out.append(record("tpe", study, time.perf_counter() - t0, None))
    t0 = time.perf_counter()
    study = optuna.create_study(directions=directions, sampler=optuna.samplers.GPSampler(seed=seed))
    study.optimize(obj, n_trials=HANDOVER_AT)
    prefix_s = time.perf_counter() - t0
    if "handover" in arms:
        t1 = time.perf_counter()
        # The seed AutoSampler._use gives its second delegate, and the policy's TPE options.
        tpe = optuna.samplers.TPESampler(
            seed=(seed * 1_000_003 + 7_919 * 2) % 2**32, multivariate=True, constant_liar=True
        )
        branch = optuna.create_study(directions=directions, sampler=tpe)
        branch.add_trials(study.get_trials(deepcopy=True))
        branch.optimize(obj, n_trials=BUDGET - HANDOVER_AT)
        seconds = prefix_s + time.perf_counter() - t1
        out.append(record("handover", branch, seconds, f"GPSampler>TPESampler@{HANDOVER_AT}"))
    if "gp" in arms:
        t1 = time.perf_counter()
        study.optimize(obj, n_trials=BUDGET - HANDOVER_AT)
        out.append(record("gp", study, prefix_s + time.perf_counter() - t1, None))
    return out


def main(argv: list[str]) -> int:
    """Run the arms for ``HANDOVER_PROBLEMS`` x ``HANDOVER_SEEDS``, appending to ``argv[0]``."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    problems = os.environ["HANDOVER_PROBLEMS"].split(",")
    seeds = [int(s) for s in os.environ.get("HANDOVER_SEEDS", "0").split(",")]
    arms = tuple(os.environ.get("HANDOVER_ARMS", "handover,gp,tpe").split(","))
    jobs = [(p, s, arms) for s in seeds for p in problems]  # seed-major: a cut run covers all
    workers = int(os.environ.get("HANDOVER_WORKERS", "1"))
    with ProcessPoolExecutor(max_workers=workers) as ex, open(argv[0], "a") as f:
        for rows in ex.map(_run, jobs):
            for r in rows:
                f.write(json.dumps(r, default=float) + "\n")
            f.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
