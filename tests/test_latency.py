"""measure_latency against a predict function with a controlled delay distribution.

No assertion depends on how fast this machine is: the checks are about ordering,
consistency and structure (the controlled delays only make the ordering certain).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import tracker
from tracker.exceptions import ValidationError
from tracker.latency import Latency, recording_latency


def _controlled(slow_every: int, fast_s: float, slow_s: float):  # type: ignore[no-untyped-def]
    calls = {"n": 0, "batches": []}

    def predict(batch):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        calls["batches"].append(len(batch))
        time.sleep(slow_s if calls["n"] % slow_every == 0 else fast_s)
        return batch

    return predict, calls


def test_percentiles_are_ordered_and_see_the_slow_tail() -> None:
    # 1 call in 10 sleeps 20 ms, the others ~0: p50 is fast, p95 and p99 are in the tail.
    predict, calls = _controlled(10, 0.0, 0.02)
    lat = tracker.measure_latency(predict, np.zeros((50, 3)), warmup=5, repeats=100)
    assert isinstance(lat, Latency)
    assert calls["n"] == 105  # warm-up calls are made but not timed
    assert lat.n == 100
    assert len(lat.samples_ms) == 100
    assert lat.p50_ms <= lat.p90_ms <= lat.p95_ms <= lat.p99_ms
    assert lat.p95_ms >= 20.0  # sleep() never returns early
    assert lat.p50_ms < lat.p95_ms
    assert lat.p95_upper_ci_ms >= lat.p95_ms
    assert min(lat.samples_ms) <= lat.mean_ms <= max(lat.samples_ms)
    np.testing.assert_allclose(lat.p95_ms, np.percentile(lat.samples_ms, 95))


def test_batches_have_the_requested_size_and_wrap_around() -> None:
    predict, calls = _controlled(1000, 0.0, 0.0)
    tracker.measure_latency(
        predict, np.arange(10).reshape(5, 2), batch_size=3, warmup=0, repeats=20
    )
    assert set(calls["batches"]) == {3}


def test_works_on_frames_and_lists() -> None:
    import pandas as pd

    seen = []
    tracker.measure_latency(
        lambda b: seen.append(type(b)), pd.DataFrame({"a": range(7)}), warmup=1, repeats=20
    )
    tracker.measure_latency(lambda b: seen.append(type(b)), [[1], [2]], warmup=0, repeats=20)
    assert seen[0] is pd.DataFrame
    assert seen[-1] is list


def test_record_form_has_the_documented_keys_and_hardware() -> None:
    lat = tracker.measure_latency(lambda b: b, np.zeros((4, 2)), warmup=0, repeats=20)
    d = lat.to_dict()
    assert set(d) == {
        "p50_ms",
        "p90_ms",
        "p95_ms",
        "p99_ms",
        "mean_ms",
        "std_ms",
        "n",
        "batch_size",
        "warmup",
        "p95_upper_ci_ms",
        "confidence",
        "hardware",
    }
    assert d["hardware"]["logical_cores"] >= 1
    assert set(lat.metrics()) >= {"latency_p50_ms", "latency_p95_ms", "latency_p99_ms"}


def test_upper_bound_is_reproducible_from_the_seed() -> None:
    predict, _ = _controlled(7, 0.0, 0.003)
    lat = tracker.measure_latency(predict, np.zeros((3, 1)), warmup=0, repeats=60)
    from tracker.latency import _bootstrap_upper

    again = _bootstrap_upper(np.asarray(lat.samples_ms), 95, 0.95, 1000, 0)
    assert max(again, lat.p95_ms) == lat.p95_upper_ci_ms


def test_recording_collects_measurements_and_sets_default_repeats() -> None:
    with recording_latency(repeats=40) as found:
        lat = tracker.measure_latency(lambda b: b, np.zeros((2, 1)), warmup=0)
        tracker.measure_latency(lambda b: b, np.zeros((2, 1)), warmup=0, repeats=25)
    assert [x.n for x in found] == [40, 25]
    assert found[0] is lat
    outside = tracker.measure_latency(lambda b: b, np.zeros((2, 1)), warmup=0)
    assert outside.n == 200
    assert len(found) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"repeats": 5}, "repeats must be an integer >= 20"),
        ({"batch_size": 0}, "batch_size"),
        ({"warmup": -1}, "warmup"),
        ({"confidence": 1.0}, "confidence"),
    ],
    ids=["few-repeats", "zero-batch", "negative-warmup", "confidence-1"],
)
def test_bad_arguments_raise_before_timing(kwargs, match) -> None:  # type: ignore[no-untyped-def]
    calls = []
    with pytest.raises(ValidationError, match=match):
        tracker.measure_latency(lambda b: calls.append(b), np.zeros((3, 1)), **kwargs)
    assert calls == []


def test_empty_or_scalar_input_is_refused() -> None:
    with pytest.raises(ValidationError, match="no rows"):
        tracker.measure_latency(lambda b: b, np.zeros((0, 2)))
    with pytest.raises(ValidationError, match="scalar"):
        tracker.measure_latency(lambda b: b, np.float64(1.0))
    with pytest.raises(ValidationError, match="callable"):
        tracker.measure_latency(3, np.zeros((2, 1)))  # type: ignore[arg-type]
