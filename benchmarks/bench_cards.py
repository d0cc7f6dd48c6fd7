"""Model card of a 1,000-trial search: build from the store and render to HTML (target <= 1 s).

The search is written directly as records (tests/cards_fixture.py) into a SQLite file.
Ours: ``build_card(search) + to_html()`` (reads the search, its 1,000 trials, the
hypervolume history, the session's cells; renders every plot inline). Peer: what an
Optuna + MLflow user does for the same picture, a self-contained HTML of Optuna's Pareto
front plot (``plot_pareto_front(study).write_html(include_plotlyjs=True)``) for a study
with the same 1,000 trials, which is only one of the card's plots.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import cards_fixture as fx  # noqa: E402

from tracker.cards import build_card  # noqa: E402
from tracker.store import open_store  # noqa: E402


def _ours(url: str, repeats: int) -> tuple[list[float], int]:
    store = open_store(url, queued=False)
    times, size = [], 0
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            html = build_card(fx.SEARCH_ID, store=store).to_html()
            times.append(time.perf_counter() - t0)
            size = len(html.encode())
    finally:
        store.close()
    return times, size


def _peer(n: int, repeats: int) -> tuple[list[float], int]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"])
    dists = {"C": optuna.distributions.FloatDistribution(0.1, 5.0)}
    for i in range(n):
        acc, lat = fx._trial_values(i)
        study.add_trial(
            optuna.trial.create_trial(
                params={"C": 0.1 + (i % 49) * 0.1}, distributions=dists, values=[acc, lat]
            )
        )
    times, size = [], 0
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeats):
            t0 = time.perf_counter()
            fig = optuna.visualization.plot_pareto_front(study)
            out = Path(tmp) / "pareto.html"
            fig.write_html(str(out), include_plotlyjs=True)
            times.append(time.perf_counter() - t0)
            size = out.stat().st_size
    return times, size


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = 100 if quick else 1000
    repeats = 3 if quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/cards.db"
        store = open_store(url, queued=False)
        fx.write_search(store, n, slices=fx.SLICES)
        store.close()
        ours, our_size = _ours(url, repeats)
    peer, peer_size = _peer(n, max(2, repeats // 2))
    med, peer_med = statistics.median(ours), statistics.median(peer)
    return [
        {
            "bench": f"card of a {n}-trial search: build + HTML",
            "ours_median_s": round(med, 4),
            "ours_max_s": round(max(ours), 4),
            "ours_html_kb": round(our_size / 1024, 1),
            "peer": "optuna plot_pareto_front + write_html (one plot)",
            "peer_median_s": round(peer_med, 4),
            "peer_html_kb": round(peer_size / 1024, 1),
            "ratio_time_peer_over_ours": round(peer_med / med, 2),
            "ratio_size_peer_over_ours": round(peer_size / our_size, 1),
            "target": "<= 1 s",
            "ok": bool(med <= 1.0),
        }
    ]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
