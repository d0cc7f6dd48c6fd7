"""The search-quality bench's reading aid: the bootstrap interval of "auto" / best single."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def bench() -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    try:
        import bench_search_quality
    finally:
        sys.path.pop(0)
    return bench_search_quality


def test_a_replay_of_the_same_runs_is_exactly_one(bench: Any) -> None:
    # "auto" on the GP replays GPSampler(seed): seed for seed the same hypervolumes.
    runs = {s: v for s, v in enumerate([0.0, 0.2, 0.9, 0.95, 0.3, 0.0, 0.7, 0.8, 0.1, 0.6])}
    assert bench.ratio_interval(runs, dict(runs)) == (1.0, 1.0)


def test_a_clear_gap_excludes_one_and_seed_noise_does_not(bench: Any) -> None:
    low = {s: 0.40 + 0.01 * s for s in range(10)}
    high = {s: 0.80 + 0.01 * s for s in range(10)}
    lo, hi = bench.ratio_interval(low, high)
    assert hi < 1.0
    assert lo > 0.4
    # Half the seeds find the feasible region (hypervolume near 1), half do not (0):
    # a median of 10 such runs says little, and the interval says so.
    coin = {s: (0.9 if s % 2 else 0.0) for s in range(10)}
    other = {s: (0.0 if s % 2 else 0.85) for s in range(10)}
    lo, hi = bench.ratio_interval(coin, other)
    assert lo <= 1.0 <= hi


def test_only_the_seeds_both_ran_count_and_zero_over_zero_is_a_tie(bench: Any) -> None:
    a = {0: 0.0, 1: 0.0, 2: 0.0, 7: 5.0}
    b = {0: 0.0, 1: 0.0, 2: 0.0}
    assert bench.ratio_interval(a, b) == (1.0, 1.0)


def test_reading_the_gp_as_auto_keeps_the_gp_among_the_singles(
    bench: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(sampler: str, seed: int, y: float) -> dict[str, Any]:
        rows = [({"f1": x, "f2": y + 1 - x}, True) for x in (0.1, 0.5, 0.9)]
        return {"problem": "bnh", "sampler": sampler, "seed": seed, "budget": 50, "rows": rows,
                "seconds": 1.0, "choice": None}  # fmt: skip

    raw = tmp_path / "raw.jsonl"
    runs = [run(s, k, y) for s, y in (("gp", 0.0), ("tpe", 50.0)) for k in range(3)]
    raw.write_text("".join(json.dumps(r) + "\n" for r in runs))
    monkeypatch.setenv("SEARCH_BENCH_AS_AUTO", "gp")
    assert bench.main([str(raw)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "search quality bnh @50" in x)
    for part in ("hv_gp=", "best_single=gp", "auto_vs_best_single=1 ", "_90ci=[1.0, 1.0]"):
        assert part in line
