"""``tracker.search_runs`` a page at a time: page tokens, totals, and tokens it refuses.

On a real SQLite file and a real PostgreSQL database. A walk by ``next_page_token``
under a filter and a sort must give every run that matched when it began exactly once,
in the search's order, while other runs are being added between its pages.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from pathlib import Path

import pytest

import tracker
from tracker.exceptions import ValidationError
from tracker.run import RunList
from tracker.store import open_store
from tracker.store.ops import CreateRun, EndRun, LogMetrics, MetricRow, Op, SetParams

T0 = time.time() - 10_000


def _runs(n: int, rng: random.Random, start: int) -> list[Op]:
    ops: list[Op] = []
    for i in range(start, start + n):
        rid = uuid.uuid4().hex
        # Ties in start time and in accuracy, missing and NaN accuracies: the run id
        # must break every tie the same way on every page.
        ops.append(CreateRun(rid, f"r{i}", "run", T0 + i // 4))
        roll = rng.random()
        if roll < 0.85:
            acc = math.nan if roll < 0.05 else rng.choice([0.5, 0.75, 0.9, rng.random()])
            ops.append(LogMetrics(rid, [MetricRow(uuid.uuid4().hex, "acc", acc, None, T0)]))
        ops.append(SetParams(rid, {"kernel": rng.choice(["rbf", "linear"]), "C": i % 7}))
        ops.append(EndRun(rid, "finished", T0 + i // 4 + 1))
    return ops


@pytest.mark.parametrize(
    ("order_by", "filter"),
    [
        ("metrics.acc desc", "params.kernel = 'rbf'"),
        (None, "params.kernel = 'rbf' and metrics.acc >= 0.5"),
        ("params.C", "metrics.acc != 0.75"),
        (["params.C desc", "name"], None),
    ],
)
def test_paging_gives_each_run_once_in_order_while_runs_are_added(
    store_url: str, order_by: str | list[str] | None, filter: str | None
) -> None:
    writer = open_store(store_url, queued=False)
    rng = random.Random(5)
    writer.write(_runs(230, rng, 0))
    tracker.set_store(store_url)
    before = [r.id for r in tracker.search_runs(filter, order_by=order_by)]
    assert len(before) > 60  # several pages

    seen: list[str] = []
    token = None
    added = 230
    pages = 0
    while True:
        page = tracker.search_runs(filter, order_by=order_by, limit=23, page_token=token)
        assert isinstance(page, RunList)
        assert len(page) <= 23
        seen += [r.id for r in page]
        pages += 1
        assert pages < 40, "the pages do not advance"
        writer.write(_runs(7, rng, added))  # new runs land between the pages
        added += 7
        token = page.next_page_token
        if token is None:
            assert len(page) < 23
            break
    assert pages >= 3
    assert len(seen) == len(set(seen)), "a run came twice"
    assert set(before) <= set(seen), "a run that matched all along was skipped"
    # Nothing changed but new runs: the walk is the final order, restricted to what it saw.
    after = [r.id for r in tracker.search_runs(filter, order_by=order_by)]
    assert [i for i in after if i in set(seen)] == seen
    writer.close()


def test_page_totals_and_the_unpaged_list(store_url: str) -> None:
    writer = open_store(store_url, queued=False)
    writer.write(_runs(120, random.Random(3), 0))
    tracker.set_store(store_url)
    rbf = [r.id for r in tracker.search_runs("params.kernel = 'rbf'")]
    page = tracker.search_runs("params.kernel = 'rbf'", limit=10)
    assert len(page) == 10
    assert page.next_page_token is not None
    assert (page.total, page.total_exact) == (len(rbf), True)  # under the bound: exact
    second = tracker.search_runs("params.kernel = 'rbf'", limit=10, page_token=page.next_page_token)
    assert second.total == len(rbf)
    assert [r.id for r in page] + [r.id for r in second] == rbf[:20]

    everything = tracker.search_runs()  # the call as it always was: a list of every run
    assert isinstance(everything, list)
    assert len(everything) == 120
    assert everything.next_page_token is None
    assert (everything.total, everything.total_exact) == (120, True)

    # Beyond the bound, the total is an estimate and says so.
    writer.write(_runs(200, random.Random(4), 120))
    big = tracker.search_runs(limit=5)
    assert big.total_exact is False
    assert big.total > 200  # the estimate's accuracy is test_store_pages' business
    exact_end = tracker.search_runs(limit=320)
    assert exact_end.next_page_token is not None  # a full page: there may be more
    assert tracker.search_runs(limit=5, page_token=exact_end.next_page_token) == []
    writer.close()


def test_refused_page_tokens_are_named(store_url: str, tmp_path: Path) -> None:
    writer = open_store(store_url, queued=False)
    writer.write(_runs(40, random.Random(8), 0))
    tracker.set_store(store_url)
    flt, order = "metrics.acc >= 0", "metrics.acc desc"
    token = tracker.search_runs(flt, order_by=order, limit=5).next_page_token
    assert token is not None
    head, check = token.rsplit(".", 1)
    swapped = "A" if head[3] != "A" else "B"
    bad = {
        "altered": head[:3] + swapped + head[4:] + "." + check,
        "cut short": token[:-3],
        "no check": head,
        "garbage": "not-a-token",
        "empty": "",
    }
    for why, tampered in bad.items():
        with pytest.raises(ValidationError, match=r"page_token .* is not a next_page_token") as e:
            tracker.search_runs(flt, order_by=order, limit=5, page_token=tampered)
        assert repr(tampered) in str(e.value), why
    # A token is tied to its search: another filter or another order refuses it.
    with pytest.raises(ValidationError, match="another filter or order_by"):
        tracker.search_runs("metrics.acc >= 0.5", order_by=order, limit=5, page_token=token)
    with pytest.raises(ValidationError, match="another filter or order_by"):
        tracker.search_runs(flt, order_by="metrics.acc", limit=5, page_token=token)
    with pytest.raises(ValidationError, match="page_token must be the next_page_token string"):
        tracker.search_runs(flt, limit=5, page_token=12)  # type: ignore[arg-type]
    # A sound token from another store names the token and the missing run.
    tracker.set_store(f"sqlite:///{tmp_path / 'other.db'}")
    other = open_store(f"sqlite:///{tmp_path / 'other.db'}", queued=False)
    other.write(_runs(10, random.Random(9), 0))
    with pytest.raises(ValidationError, match=r"page_token '.*': the cursor's run '[0-9a-f]+'"):
        tracker.search_runs(flt, order_by=order, limit=5, page_token=token)
    other.close()
    writer.close()
