"""The REST API on a real Jupyter server with token authentication on.

Given a store holding runs, a notebook session with cells and a search (written as the
kernel writes them), when the API is called, then it answers with the documented JSON,
refuses every route without authentication, and explains every bad parameter.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import PG_ADMIN_URL, require_postgres
from .server_helpers import API, HOSTILE, JupyterServer, Seeded, seed

pytestmark = pytest.mark.slow


def _pg_database() -> Iterator[str]:
    import psycopg

    require_postgres()
    name = f"trk_srv_{uuid.uuid4().hex[:10]}"
    admin = PG_ADMIN_URL
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        # Trust auth ignores the password: it is here to prove it never leaves the server.
        parts = urllib.parse.urlsplit(admin)
        user = parts.username or "postgres"
        yield f"postgresql://{user}:s3cret-pw@{parts.hostname}:{parts.port or 5432}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[JupyterServer, Seeded, str]]:
    root = tmp_path_factory.mktemp(f"server-{request.param}")
    if request.param == "sqlite":
        gen: Iterator[str] | None = None
        url = f"sqlite:///{root / 'store.db'}"
    else:
        gen = _pg_database()
        url = next(gen)
    seeded = seed(url)
    # The URL comes from the extension's setting (it wins over TRACKER_STORE).
    server = JupyterServer(
        root,
        store_url="sqlite:////nonexistent/ignored.db",
        extra_args=[f"--TrackerExtension.store_url={url}"],
    ).start()
    try:
        yield server, seeded, url
    finally:
        server.stop()
        if gen is not None:
            gen.close()


# Every route and method the API serves, with a path that exists in the seeded store.
def _routes(s: Seeded) -> list[tuple[str, str]]:
    r = s.runs[0]
    return [
        ("GET", "/store"),
        ("GET", "/runs"),
        ("GET", f"/runs/{r}"),
        ("PATCH", f"/runs/{r}"),
        ("GET", f"/runs/{r}/metrics?key=loss"),
        ("GET", f"/runs/{r}/lineage"),
        ("GET", f"/runs/{r}/card?format=md"),
        ("PUT", f"/runs/{r}/card"),
        ("PATCH", f"/runs/{r}/card"),
        ("GET", f"/runs/{r}/card/sections"),
        ("GET", f"/compare?ids={s.runs[0]},{s.runs[1]}"),
        ("GET", "/searches"),
        ("GET", f"/searches/{s.search}"),
        ("GET", "/no/such/route"),
    ]


def test_every_route_refuses_requests_without_authentication(
    env: tuple[JupyterServer, Seeded, str],
) -> None:
    server, seeded, _ = env
    for method, path in _routes(seeded):
        for auth in (False, "wrong-token"):
            body = {"name": "hacked"} if method in ("PATCH", "PUT") else None
            r = server.request(method, API + path, body, auth=auth)
            assert r.status in (401, 403), (method, path, auth, r.status)
            err = r.json()["error"]
            assert err["code"] in ("unauthorized", "forbidden")
            assert err["message"]
    # and nothing was changed by the refused writes
    run = server.api(f"/runs/{seeded.runs[0]}").json()
    assert run["name"] == "svc-C0.1"


def test_store_description_has_counts_and_never_a_password(
    env: tuple[JupyterServer, Seeded, str],
) -> None:
    server, seeded, _ = env
    r = server.api("/store")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("application/json")
    d = r.json()
    assert d["kind"] in ("sqlite", "postgresql")
    assert d["exists"] is True
    assert d["configured_by"] == "setting"
    assert d["runs"] >= 12
    assert d["runs_by_kind"]["trial"] == 6
    assert d["runs_by_kind"]["search"] == 1
    assert d["api_version"] == 1
    for method, path in _routes(seeded):
        if method == "GET":
            assert b"s3cret-pw" not in server.api(path).body, path
    assert "s3cret-pw" not in server.read_log()
    if d["kind"] == "postgresql":
        assert ":***@" in d["url"]


def test_runs_list_filters_sorts_and_pages(env: tuple[JupyterServer, Seeded, str]) -> None:
    server, seeded, _ = env
    page = server.api("/runs?kind=run&order_by=metrics.accuracy%20desc&limit=2").json()
    assert set(page) == {
        "runs",
        "total",
        "total_exact",
        "next",
        "offset",
        "limit",
        "order_by",
    }
    assert page["total"] == 5
    assert page["total_exact"] is True
    assert page["limit"] == 2
    assert page["offset"] == 0
    assert page["order_by"] == ["metrics.accuracy desc"]
    names = [r["name"] for r in page["runs"]]
    assert names == ["svc-C10.0", "fit in notebook"]
    nxt = server.api("/runs?kind=run&order_by=metrics.accuracy%20desc&limit=2&offset=2").json()
    assert [r["name"] for r in nxt["runs"]] == ["svc-C1.0", "svc-C0.1"]
    # The same page by cursor (keyset paging: what deep pages should use), and the end
    by_cursor = server.api(
        f"/runs?kind=run&order_by=metrics.accuracy%20desc&limit=2&cursor={page['next']}"
    ).json()
    assert by_cursor["runs"] == nxt["runs"]
    last = server.api(
        f"/runs?kind=run&order_by=metrics.accuracy%20desc&limit=2&cursor={by_cursor['next']}"
    ).json()
    assert len(last["runs"]) == 1
    assert last["next"] is None
    assert server.api("/runs?cursor=bogus!").status == 400
    # A cursor passed with another order (or filter) would skip or repeat runs: refused.
    other = server.api(f"/runs?kind=run&order_by=metrics.accuracy&limit=2&cursor={page['next']}")
    assert other.status == 400
    message = other.json()["error"]["message"]
    assert message.startswith("cursor ")
    assert "another filter" in message
    row = page["runs"][0]
    assert row["params"] == {"C": 10.0, "gamma": "scale", "kernel": "rbf"}
    assert row["metrics"]["accuracy"] == pytest.approx(0.9)
    assert row["data_names"] == ["X_train"]
    assert row["kind"] == "run"
    assert row["status"] == "finished"
    assert "cells" not in row
    assert "environment" not in row

    flt = urllib.parse.quote("params.C >= 1 and tags.model = 'svc'")
    assert {r["name"] for r in server.api(f"/runs?filter={flt}").json()["runs"]} == {
        "svc-C1.0",
        "svc-C10.0",
    }
    assert server.api("/runs?exclude_kind=trial,search&status=failed").json()["total"] == 1
    assert server.api("/runs?q=svc-C1").json()["total"] == 2  # svc-C1.0 and svc-C10.0
    trials = server.api(f"/runs?parent={seeded.search}&order_by=name").json()
    assert [r["name"] for r in trials["runs"]] == [f"trial {i}" for i in range(6)]


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("limit=0", "limit must be between 1 and 1000"),
        ("limit=5000", "limit must be between 1 and 1000"),
        ("limit=ten", "limit must be an integer"),
        ("offset=-1", "offset must be between"),
        ("filter=metrics.accuracy%20%3E", "ends where a value was expected"),
        ("filter=bogus.field%20%3D%201", "unknown field"),
        ("order_by=colour", "unknown field 'colour'"),
        ("kind=model", "unknown kind 'model'"),
        ("status=done", "unknown status 'done'"),
    ],
    ids=[
        "limit-0",
        "limit-big",
        "limit-text",
        "offset-neg",
        "filter-cut",
        "filter-field",
        "order",
        "kind",
        "status",
    ],
)
def test_bad_list_parameters_get_a_400_that_says_what_to_do(
    env: tuple[JupyterServer, Seeded, str], query: str, needle: str
) -> None:
    server, _, _ = env
    r = server.api(f"/runs?{query}")
    assert r.status == 400
    err = r.json()["error"]
    assert err["status"] == 400
    assert err["code"] in ("bad_request", "invalid_query")
    assert needle in err["message"]


def test_a_run_in_full(env: tuple[JupyterServer, Seeded, str]) -> None:
    server, seeded, _ = env
    run = server.api(f"/runs/{seeded.runs[2]}").json()
    assert run["name"] == "svc-C10.0"
    assert run["children"] == 0
    assert run["environment"]["packages"]["numpy"] == "2.4.2"
    data = run["data"]["X_train"]
    assert data["shape"] == [120, 3]
    assert data["profile"]["columns"]["a"]["mean"] == 2.5
    session = server.api(f"/runs/{seeded.session}").json()
    assert [c["cell_id"] for c in session["cells"]] == ["cell-aaa", "cell-bbb", "cell-ccc"]
    assert session["cells"][1]["inputs"]["df"]["digest"] == f"{200:032x}"
    assert session["cells"][2]["child_run_id"] == seeded.cell_run
    assert session["children"] == 1
    assert session["source"]["notebook"] == "analysis.ipynb"
    hostile = server.api(f"/runs/{seeded.hostile}").json()
    assert hostile["metrics"]["accuracy"] == "NaN"  # strict JSON (Response.json refuses NaN)
    assert hostile["name"] == HOSTILE
    assert hostile["error"]["message"] == HOSTILE

    missing = server.api("/runs/0123456789abcdef")
    assert missing.status == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert "0123456789abcdef" in missing.json()["error"]["message"]


def test_metric_history_in_step_order(env: tuple[JupyterServer, Seeded, str]) -> None:
    server, seeded, _ = env
    h = server.api(f"/runs/{seeded.runs[0]}/metrics?key=loss&key=accuracy").json()
    assert [p["step"] for p in h["metrics"]["loss"]] == [0, 1, 2, 3]
    assert h["metrics"]["loss"][0]["value"] == pytest.approx(1.0)
    assert len(h["metrics"]["accuracy"]) == 1
    r = server.api(f"/runs/{seeded.runs[0]}/metrics")
    assert r.status == 400
    assert "?key=" in r.json()["error"]["message"]


def test_renaming_tagging_and_annotating_a_run(env: tuple[JupyterServer, Seeded, str]) -> None:
    server, seeded, _ = env
    rid = seeded.runs[1]
    r = server.request(
        "PATCH",
        f"{API}/runs/{rid}",
        {"name": "  best so far ", "tags": {"stage": "review", "model": None}, "notes": "keep"},
    )
    assert r.status == 200
    run = r.json()
    assert run["name"] == "best so far"
    assert run["tags"] == {"stage": "review"}
    assert run["notes"] == "keep"
    assert server.api(f"/runs/{rid}").json()["tags"] == {"stage": "review"}
    server.request(
        "PATCH", f"{API}/runs/{rid}", {"name": "svc-C1.0", "tags": {"model": "svc", "stage": None}}
    )


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"name": ""}, 400, "name must be a non-empty string"),
        ({"name": 3}, 400, "name must be a non-empty string"),
        ({"colour": "red"}, 400, "cannot change colour"),
        ({"tags": {"k": 1}}, 400, "tag 'k' must be a string"),
        ({"tags": ["k"]}, 400, "tags must be an object"),
        (["name"], 400, "must be a JSON object"),
        (b"{not json", 400, "not valid JSON"),
    ],
    ids=[
        "empty-name",
        "number-name",
        "unknown-field",
        "tag-number",
        "tags-list",
        "not-object",
        "not-json",
    ],
)
def test_bad_run_updates_are_refused_and_change_nothing(
    env: tuple[JupyterServer, Seeded, str], body: object, status: int, needle: str
) -> None:
    server, seeded, _ = env
    rid = seeded.runs[0]
    raw = body if isinstance(body, bytes) else None
    r = server.request("PATCH", f"{API}/runs/{rid}", None if raw else body, raw=raw)
    assert r.status == status
    assert needle in r.json()["error"]["message"]
    assert server.api(f"/runs/{rid}").json()["name"] == "svc-C0.1"


def test_updates_need_json_and_an_existing_run(env: tuple[JupyterServer, Seeded, str]) -> None:
    server, seeded, _ = env
    r = server.request(
        "PATCH",
        f"{API}/runs/{seeded.runs[0]}",
        raw=b"name=x",
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status == 415
    assert r.json()["error"]["code"] == "unsupported_media_type"
    r = server.request("PATCH", f"{API}/runs/ffffffffffff", {"name": "ghost"})
    assert r.status == 404
    assert r.json()["error"]["code"] == "not_found"


def test_lineage_walks_from_the_run_back_through_cells_and_data(
    env: tuple[JupyterServer, Seeded, str],
) -> None:
    server, seeded, _ = env
    lin = server.api(f"/runs/{seeded.cell_run}/lineage").json()
    assert lin["run_id"] == seeded.cell_run
    assert lin["computed_by"] == "provenance"
    assert not lin["truncated"]
    nodes = {n["id"]: n for n in lin["nodes"]}
    edges = {(e["source"], e["relation"], e["target"]) for e in lin["edges"]}
    run, c1, c2, c3 = (f"run:{seeded.cell_run}", *(f"cell:{c}" for c in seeded.cells))
    d_df, d_x = f"data:{200:032x}", f"data:{201:032x}"
    assert (c3, "produced", run) in edges
    assert (d_x, "logged", run) in edges
    assert (c2, "wrote", d_x) in edges
    assert (d_df, "read", c2) in edges
    assert (c1, "wrote", d_df) in edges
    # every cell node says where to go: the session's notebook and the cell id
    assert nodes[c1]["cell_id"] == "cell-aaa"
    assert nodes[c1]["notebook"] == "analysis.ipynb"
    assert nodes[c1]["run_id"] == seeded.session
    assert nodes[c2]["source"] == "X = prepare(df)"
    assert nodes[d_x]["digest"] == f"{201:032x}"
    assert nodes[d_x]["detail"] == f"dataframe 50x2 {201:032x}"[:27]
    session = server.api(f"/runs/{seeded.session}/lineage").json()
    produced = {e["source"] for e in session["edges"] if e["relation"] == "produced"}
    assert produced == {f"cell:{c}" for c in seeded.cells}
    assert server.api("/runs/nope/lineage").status == 404


def test_comparison_shows_param_diffs_and_explains_data_changes(
    env: tuple[JupyterServer, Seeded, str],
) -> None:
    server, seeded, _ = env
    ids = ",".join(seeded.runs)
    cmp = server.api(f"/compare?ids={ids}").json()
    assert [r["id"] for r in cmp["runs"]] == seeded.runs
    params = {p["key"]: p for p in cmp["params"]}
    assert params["C"]["differs"]
    assert params["C"]["values"] == [0.1, 1.0, 10.0]
    assert not params["kernel"]["differs"]
    assert params["gamma"]["values"] == ["auto", "scale", "scale"]
    data = cmp["data"][0]
    assert data["name"] == "X_train"
    assert data["changed"]
    assert data["changes"][0] == []
    texts = [c["text"] for c in data["changes"][2]]
    assert "shape: (100, 2) → (120, 3) (" not in texts  # shapes are lists, not numbers
    assert any(t.startswith("shape: (100, 2) → (120, 3)") for t in texts)
    assert "columns added: c" in texts
    assert any(t.startswith("columns.a.mean: 0.5 → 2.5") for t in texts)
    env_rows = {e["key"]: e for e in cmp["environment"]}
    assert env_rows["packages.numpy"]["differs"]
    assert "packages.scikit-learn" not in env_rows

    for query, needle in [(f"ids={seeded.runs[0]}", "at least two"), ("ids=", "at least two")]:
        r = server.api(f"/compare?{query}")
        assert r.status == 400
        assert needle in r.json()["error"]["message"]
    assert server.api(f"/compare?ids={seeded.runs[0]},missing").status == 404


def test_searches_list_and_detail(env: tuple[JupyterServer, Seeded, str]) -> None:
    server, seeded, _ = env
    page = server.api("/searches").json()
    assert page["total"] == 1
    s = page["searches"][0]
    assert s["id"] == seeded.search
    assert s["n_trials"] == 6
    assert s["n_feasible"] == 4
    assert s["objectives"] == {"accuracy": "maximize", "latency_p95_ms": "minimize"}
    assert s["pareto_size"] == len(seeded.pareto)
    assert s["chosen"] == seeded.chosen
    d = server.api(f"/searches/{seeded.search}").json()
    assert d["pareto"] == seeded.pareto
    assert d["chosen"] == seeded.chosen
    assert [t["number"] for t in d["trials"]] == list(range(6))
    by_id = {t["id"]: t for t in d["trials"]}
    assert {t for t in by_id if by_id[t]["feasible"] is False} == set(seeded.infeasible)
    assert all(by_id[t]["pareto"] for t in seeded.pareto)
    assert by_id[seeded.infeasible[0]]["constraints"]["latency_p95_ms <= 50"]["feasible"] is False
    assert [p["step"] for p in d["hypervolume"]] == [1, 2, 3, 4, 5, 6]
    assert d["recheck"][seeded.chosen]["test"]["accuracy"] == 0.94
    # the re-check's verdict per trial, and the importances tracker.tuning recorded
    assert by_id[seeded.chosen]["feasible_on_test"] is True
    assert by_id[seeded.infeasible[0]]["feasible_on_test"] is None
    assert d["importance"]["objectives"]["accuracy"] == {"C": 1.0}
    assert d["importance"]["method"] == "PedAnovaImportanceEvaluator"
    assert d["constraints"][0]["bound"] == 50
    assert d["sampler"]["name"] == "TPESampler"
    r = server.api(f"/searches/{seeded.runs[0]}")
    assert r.status == 404
    assert "not a search" in r.json()["error"]["message"]


def test_model_card_formats_and_downloads(env: tuple[JupyterServer, Seeded, str]) -> None:
    server, seeded, _ = env
    rid = seeded.hostile
    md = server.api(f"/runs/{rid}/card?format=md")
    assert md.status == 200
    assert md.headers["Content-Type"].startswith("text/markdown")
    assert "<script>" not in md.body.decode()  # user text is escaped in Markdown too
    html = server.api(f"/runs/{rid}/card?format=html")
    assert html.headers["Content-Type"].startswith("text/html")
    assert "sandbox" in html.headers["Content-Security-Policy"]
    assert "<script>window.__xss" not in html.body.decode()
    assert "&lt;script&gt;" in html.body.decode()
    js = server.api(f"/runs/{rid}/card?format=json&download=1")
    assert js.headers["Content-Type"].startswith("application/json")
    assert js.headers["Content-Disposition"] == f'attachment; filename="model-card-{rid}.json"'
    assert isinstance(json.loads(js.body), dict)
    r = server.api(f"/runs/{rid}/card?format=pdf")
    assert r.status == 400
    assert "md, html or json" in r.json()["error"]["message"]
    assert server.api("/runs/missing/card?format=md").status == 404


def test_card_sections_are_edited_merged_and_replaced(
    env: tuple[JupyterServer, Seeded, str],
) -> None:
    server, seeded, _ = env
    rid = seeded.runs[2]
    before = server.api(f"/runs/{rid}/card/sections").json()
    assert "intended_use" in before["keys"]
    assert before["missing"] == before["keys"]
    assert before["titles"]["intended_use"] == "Primary intended uses"
    assert before["prompts"]["intended_use"]
    r = server.request(
        "PATCH",
        f"{API}/runs/{rid}/card",
        {"sections": {"intended_use": "Digit recognition", "owners": "ml team"}},
    )
    assert r.status == 200
    assert r.json()["sections"]["intended_use"] == "Digit recognition"
    r = server.request("PATCH", f"{API}/runs/{rid}/card", {"sections": {"owners": "data team"}})
    assert r.json()["sections"] == {
        **r.json()["sections"],
        "intended_use": "Digit recognition",
        "owners": "data team",
    }
    assert "Digit recognition" in server.api(f"/runs/{rid}/card?format=md").body.decode()
    r = server.request("PUT", f"{API}/runs/{rid}/card", {"sections": {"license": "MIT"}})
    got = r.json()
    assert got["sections"]["license"] == "MIT"
    assert got["sections"]["intended_use"] == ""
    assert "intended_use" in got["missing"]
    assert got["updated"] is not None
    for body, needle in [
        ({"sections": {"colour": "x"}}, "unknown card sections colour"),
        ({"sections": {"license": 3}}, "must be text"),
        ({"license": "MIT"}, '{"sections"'),
    ]:
        bad = server.request("PATCH", f"{API}/runs/{rid}/card", body)
        assert bad.status == 400
        assert needle in bad.json()["error"]["message"]


def test_a_store_that_does_not_exist_yet_is_not_created_by_looking(tmp_path: Path) -> None:
    db = tmp_path / "later" / "tracker.db"
    (tmp_path / "later").mkdir()
    server = JupyterServer(tmp_path, store_url=f"sqlite:///{db}").start()
    try:
        d = server.api("/store").json()
        assert d["exists"] is False
        assert d["runs"] == 0
        assert d["configured_by"] == "env"
        assert server.api("/runs").json() == {
            "runs": [],
            "total": 0,
            "total_exact": True,
            "next": None,
            "offset": 0,
            "limit": 100,
            "order_by": ["start_time desc"],
        }
        assert server.api("/searches").json()["total"] == 0
        assert server.api("/runs/abc").status == 404
        assert not db.exists()
        seeded = seed(f"sqlite:///{db}")  # a kernel writes its first runs...
        assert server.api("/runs").json()["total"] == 13  # ...and the next poll sees them
        assert server.api(f"/runs/{seeded.runs[0]}").status == 200
    finally:
        server.stop()


def test_the_project_default_store_is_found_from_the_server_root(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "notebooks").mkdir()
    seed(f"sqlite:///{tmp_path / '.tracker' / 'tracker.db'}")
    server = JupyterServer(tmp_path / "notebooks", store_url=None).start()
    try:
        d = server.api("/store").json()
        assert d["configured_by"] == "default"
        assert d["path"] == str(tmp_path / ".tracker" / "tracker.db")
        assert d["runs"] == 13
    finally:
        server.stop()


def test_totals_follow_new_runs_while_the_panel_polls(
    env: tuple[JupyterServer, Seeded, str],
) -> None:
    server, _, url = env
    from tracker.store import open_store
    from tracker.store.ops import CreateRun

    path = "/runs?exclude_kind=trial,search&limit=1"
    before = server.api(path).json()["total"]
    assert server.api(path).json()["total"] == before  # a second poll, nothing new
    store = open_store(url, queued=False)
    try:
        store.write([CreateRun(uuid.uuid4().hex, "fresh", "run", 2e9)])
        store.write([CreateRun(uuid.uuid4().hex, "fresh trial", "trial", 2e9)])
    finally:
        store.close()
    page = server.api(path).json()
    assert page["total"] == before + 1
    assert page["runs"][0]["name"] == "fresh"


def test_an_unreachable_store_is_a_503_that_names_it_without_its_password(tmp_path: Path) -> None:
    # Nothing listens on port 1: the database is down, the server is not.
    url = "postgresql://tracker:hunter2-secret@127.0.0.1:1/tracker"
    server = JupyterServer(tmp_path, store_url=url).start()
    try:
        for path in ("/store", "/runs", "/searches"):
            r = server.api(path)
            assert r.status == 503, path
            err = r.json()["error"]
            assert err["code"] == "store_unavailable"
            assert "127.0.0.1:1/tracker" in err["message"]
            assert "hunter2-secret" not in r.body.decode()
        assert "hunter2-secret" not in server.read_log()
        assert server.get("/api/status").status == 200  # the rest of Jupyter is unaffected
    finally:
        server.stop()


def test_methods_a_route_does_not_serve_get_a_json_405(
    env: tuple[JupyterServer, Seeded, str],
) -> None:
    server, seeded, _ = env
    r = server.request("DELETE", f"{API}/runs/{seeded.runs[0]}")
    assert r.status == 405
    assert r.json()["error"]["code"] == "method_not_allowed"
    r = server.request("POST", f"{API}/no/such/route", {"x": 1})
    assert r.status == 404
    assert r.json()["error"]["code"] == "not_found"
    assert server.api(f"/runs/{seeded.runs[0]}").status == 200
