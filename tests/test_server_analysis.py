"""The analysis routes (``/keys``, ``/curves``) on a real Jupyter server with auth on.

Given the seeded store (three SVC runs with a loss curve each, a hostile run, a session,
a search with trials), when the panel asks which keys the runs have and for the curves
of several runs, then it gets them for the filter it shows, thinned when long, and every
bad parameter is a 400 that says what to do; without a token, nothing.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import pytest

from tracker.server.analysis import thin

from .server_helpers import API, JupyterServer, Seeded, seed
from .test_server import _pg_database

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[JupyterServer, Seeded]]:
    root = tmp_path_factory.mktemp(f"analysis-{request.param}")
    gen: Iterator[str] | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'store.db'}"
    else:
        gen = _pg_database()
        url = next(gen)
    seeded = seed(url)
    server = JupyterServer(root, store_url=url).start()
    try:
        yield server, seeded
    finally:
        server.stop()
        if gen is not None:
            gen.close()


def test_the_routes_refuse_requests_without_authentication(
    env: tuple[JupyterServer, Seeded],
) -> None:
    server, seeded = env
    ids = ",".join(seeded.runs)
    for path in ("/keys", f"/curves?ids={ids}"):
        for auth in (False, "wrong-token"):
            r = server.request("GET", API + path, None, auth=auth)
            assert r.status in (401, 403), (path, auth, r.status)
            assert r.json()["error"]["code"] in ("unauthorized", "forbidden")


def test_keys_lists_what_the_matching_runs_have_most_common_first(
    env: tuple[JupyterServer, Seeded],
) -> None:
    server, _ = env
    every = server.api("/keys").json()
    assert set(every) == {"metrics", "params", "tags", "sampled", "total"}
    assert every["total"] == every["sampled"] == server.api("/runs").json()["total"]
    metrics = {k["key"]: k["count"] for k in every["metrics"]}
    assert metrics["loss"] == 3
    assert metrics["accuracy"] >= 4  # the three SVC runs and the hostile one
    counts = [k["count"] for k in every["metrics"]]
    assert counts == sorted(counts, reverse=True)
    assert {"model", "note"} <= {k["key"] for k in every["tags"]}
    # the filter of the runs table narrows it, in the search_runs language
    flt = urllib.parse.quote("tags.model = 'svc' and params.C >= 1")
    svc = server.api(f"/keys?filter={flt}").json()
    assert svc["total"] == 2
    assert {k["key"]: k["count"] for k in svc["params"]} == {"C": 2, "kernel": 2, "gamma": 2}
    assert [k["key"] for k in svc["tags"]] == ["model"]
    assert "html" in {k["key"] for k in every["params"]}  # the hostile run's param
    bad = server.api("/keys?filter=metrics.accuracy%20%3E")
    assert bad.status == 400
    assert bad.json()["error"]["code"] == "invalid_query"


def test_curves_of_several_runs_by_step(env: tuple[JupyterServer, Seeded]) -> None:
    server, seeded = env
    ids = ",".join(seeded.runs)
    got = server.api(f"/curves?ids={ids}&key=loss").json()
    assert got["keys"] == ["loss"]
    series = got["curves"]["loss"]
    assert [c["run_id"] for c in series] == seeded.runs
    assert [c["name"] for c in series] == ["svc-C0.1", "svc-C1.0", "svc-C10.0"]
    for i, c in enumerate(series):
        assert [p[0] for p in c["points"]] == [0, 1, 2, 3]
        assert c["points"][0][1] == pytest.approx(1.0 / (1 + i))
        assert c["dropped"] == 0
    # without keys: the metrics the runs have, the shared ones first
    auto = server.api(f"/curves?ids={ids}").json()
    assert auto["keys"][:2] in (["accuracy", "loss"], ["loss", "accuracy"])
    # a single value without a step is one point at index 0; NaN travels as a string
    hostile = server.api(f"/curves?ids={seeded.hostile}&key=accuracy").json()
    assert hostile["curves"]["accuracy"][0]["points"] == [[0, "NaN"]]
    thinned = server.api(f"/curves?ids={seeded.runs[0]}&key=loss&max_points=10").json()
    assert thinned["curves"]["loss"][0]["dropped"] == 0


@pytest.mark.parametrize(
    ("query", "status", "needle"),
    [
        ("", 400, "?ids="),
        ("ids=a,b&max_points=1", 400, "max_points must be between"),
        ("ids=" + ",".join(f"r{i}" for i in range(21)), 400, "at most 20 runs"),
        ("ids=no-such-run", 404, "no-such-run"),
    ],
    ids=["no-ids", "points", "too-many", "missing"],
)
def test_bad_curve_requests_say_what_to_do(
    env: tuple[JupyterServer, Seeded], query: str, status: int, needle: str
) -> None:
    server, _ = env
    r = server.api(f"/curves?{query}")
    assert r.status == status
    assert needle in r.json()["error"]["message"]


def test_thin_keeps_the_ends_and_spaces_the_rest_evenly() -> None:
    pts = list(range(1001))
    kept = thin(pts, 11)
    assert kept == [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
    assert thin(pts[:5], 10) == pts[:5]
