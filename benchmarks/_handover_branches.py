"""The GP and "auto" arms of the search-quality suite from one GP run per seed (rule 9).

"auto" on these problems replays ``GPSampler(seed)`` for the first
``GP_PHASE_TRIALS`` trials and then hands over to multivariate TPE on its own seed
(``tracker.tuning._policy``, rule 9). So one plain-Optuna GP study per problem and seed
serves both arms: after the first ``GP_PHASE_TRIALS`` trials a copy of the study goes on
with that TPE (the "auto" arm, trial for trial what ``tracker.optimize`` suggests: a test
in ``tests/test_sampler_auto.py`` holds it, and the SRN seed-0 run through the suite
matched all 100 trials), and the study itself goes on with the GP (the GP arm). The
GP's first trials, the dearest part of a CPU-starved run, are paid once.

Writes raw runs in the format of ``bench_search_quality.py`` (arms ``auto``, ``gp`` and
optionally ``tpe``), which re-analyses them::

    OMP_NUM_THREADS=1 HANDOVER_PROBLEMS=srn,mw3 HANDOVER_SEEDS=0,1,2 \\
        python benchmarks/_handover_branches.py /tmp/raw.jsonl
    python benchmarks/bench_search_quality.py /tmp/raw.jsonl

``HANDOVER_ARMS`` (default ``auto,gp,tpe``): leave out ``gp`` to skip the GP's
continuation (most of the cost) where another file has it.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from typing import Any

BUDGET = 100


def _run(args: tuple[str, int, tuple[str, ...]]) -> list[dict[str, Any]]:
    problem_name, seed, arms = args
    warnings.simplefilter("ignore")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    from _search_problems import PROBLEMS

    from tracker.tuning import evaluate_constraints, parse_constraints
    from tracker.tuning._policy import GP_PHASE_TRIALS

    problem = next(p for p in PROBLEMS if p.name == problem_name)
    cons = parse_constraints(problem.constraints)
    names = list(problem.objectives)
    directions = list(problem.objectives.values())

    def obj(trial: Any) -> tuple[float, ...]:
        m = problem.objective(trial)
        for r in evaluate_constraints(cons, m):
            trial.set_constraint(r.constraint.expr, r.violation)
        trial.set_user_attr("m", m)
        return tuple(m[n] for n in names)

    def record(arm: str, study: Any, seconds: float, choice: str | None) -> dict[str, Any]:
        rows = [
            (
                t.user_attrs.get("m", {}),
                t.state.name == "COMPLETE" and all(v <= 0 for v in t.constraints.values()),
            )
            for t in study.trials
        ]
        return {
            "problem": problem_name,
            "sampler": arm,
            "seed": seed,
            "budget": BUDGET,
            "rows": rows,
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
    study.optimize(obj, n_trials=GP_PHASE_TRIALS)
    prefix_s = time.perf_counter() - t0
    if "auto" in arms:
        t1 = time.perf_counter()
        # "auto"'s second delegate's seed (AutoSampler._use) and rule 9's options.
        tpe = optuna.samplers.TPESampler(
            seed=(seed * 1_000_003 + 7_919 * 2) % 2**32, multivariate=True, constant_liar=True
        )
        branch = optuna.create_study(directions=directions, sampler=tpe)
        branch.add_trials(study.get_trials(deepcopy=True))
        branch.optimize(obj, n_trials=BUDGET - GP_PHASE_TRIALS)
        seconds = prefix_s + time.perf_counter() - t1
        out.append(record("auto", branch, seconds, "GPSampler>TPESampler"))
    if "gp" in arms:
        t1 = time.perf_counter()
        study.optimize(obj, n_trials=BUDGET - GP_PHASE_TRIALS)
        out.append(record("gp", study, prefix_s + time.perf_counter() - t1, None))
    return out


def main(argv: list[str]) -> int:
    """Run the arms for ``HANDOVER_PROBLEMS`` x ``HANDOVER_SEEDS``, appending to ``argv[0]``."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    problems = os.environ["HANDOVER_PROBLEMS"].split(",")
    seeds = [int(s) for s in os.environ.get("HANDOVER_SEEDS", "0").split(",")]
    arms = tuple(os.environ.get("HANDOVER_ARMS", "auto,gp,tpe").split(","))
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
