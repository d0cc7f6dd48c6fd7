"""The model registry routes on a real Jupyter server with token authentication on.

Given a store with a registered model (two versions, an alias, a refused promotion),
written through the public API as a kernel does, when the API is asked for the models,
a model's versions and a version's card, then it answers from the store alone, refuses
every request without authentication, and says 404 for an unknown model, version or alias.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import tracker
from tracker.exceptions import PromotionRefused

from .server_helpers import API, JupyterServer
from .test_server import _pg_database

pytestmark = pytest.mark.slow


@dataclass
class Env:
    server: JupyterServer
    digest: str
    run_id: str


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp(f"models-server-{request.param}")
    patch = pytest.MonkeyPatch()  # module-scoped: isolate by hand
    patch.setenv("TRACKER_SPOOL_DIR", str(root / "spool"))
    patch.setenv("TRACKER_USER", "alice")
    gen: Iterator[str] | None = None
    if request.param == "sqlite":
        url, artifacts = f"sqlite:///{root / 'tracker.db'}", None
    else:
        gen = _pg_database()
        url, artifacts = next(gen), root / "team-root"
    tracker.set_store(url, artifacts=artifacts)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), rng.integers(0, 2, 60)
    refs = []
    for c, latency in ((1.0, 5.0), (0.1, 500.0)):
        with tracker.start_run(name=f"C={c}") as run:
            run.log_metrics({"latency_p95_ms": latency})
            refs.append(run.log_model(LogisticRegression(C=c).fit(X, y), input_example=X[:2]))
    v1 = tracker.register_model(refs[0], "churn <b>", reason="<script>x</script>")
    tracker.register_model(refs[1], "churn <b>")
    tracker.promote("churn <b>", v1.version, require=["latency_p95_ms <= 100"])
    with pytest.raises(PromotionRefused):
        tracker.promote("churn <b>", 2, require=["latency_p95_ms <= 100"])
    tracker.set_store(None)
    patch.undo()
    server = JupyterServer(
        root, store_url=None, extra_args=[f"--TrackerExtension.store_url={url}"]
    ).start()
    try:
        yield Env(server, refs[0].digest, refs[0].run_id)
    finally:
        server.stop()
        if gen is not None:
            gen.close()


NAME = "churn%20%3Cb%3E"
ROUTES = ["models", f"models/{NAME}", f"models/{NAME}/versions/1/card"]


@pytest.mark.parametrize("route", ROUTES)
def test_every_model_route_needs_authentication(env: Env, route: str) -> None:
    r = env.server.get(f"{API}/{route}", auth=False)
    assert r.status == 403


def test_models_are_listed_with_their_aliases(env: Env) -> None:
    body = env.server.api("/models").json()
    [model] = body["models"]
    assert model["name"] == "churn <b>"
    assert (model["latest_version"], model["versions"]) == (2, 2)
    assert model["aliases"] == {"champion": 1}


def test_a_model_lists_versions_and_its_history(env: Env) -> None:
    body = env.server.api(f"/models/{NAME}").json()
    assert [v["version"] for v in body["versions"]] == [2, 1]
    assert body["versions"][1]["aliases"] == ["champion"]
    assert body["versions"][1]["digest"] == env.digest
    assert body["versions"][1]["meta"]["input_schema"]["shape"] == [None, 4]
    actions = [(e["action"], e["who"]) for e in body["history"]]
    assert actions == [
        ("register", "alice"),
        ("register", "alice"),
        ("promote", "alice"),
        ("promotion_refused", "alice"),
    ]
    refused = body["history"][-1]["detail"]["requirements"][0]
    assert refused["held"] is False
    assert "500" in refused["detail"]


@pytest.mark.parametrize("version", ["1", "@champion", "latest"])
def test_a_versions_card_in_every_format(env: Env, version: str) -> None:
    base = f"models/{NAME}/versions/{version}/card"
    doc = env.server.api("/" + base).json()
    assert doc["registered_model"]["name"] == "churn <b>"
    expected = 2 if version == "latest" else 1
    assert doc["registered_model"]["version"] == expected
    html = env.server.api(f"/{base}?format=html")
    assert html.status == 200
    assert "sandbox" in html.headers["Content-Security-Policy"]
    text = html.body.decode()
    assert "<script>x</script>" not in text
    assert "churn <b>" not in text
    md = env.server.api(f"/{base}?format=md").body.decode()
    assert "Registry history" in md


@pytest.mark.parametrize(
    ("route", "status"),
    [
        ("models/nope", 404),
        (f"models/{NAME}/versions/9/card", 404),
        (f"models/{NAME}/versions/@staging/card", 404),
        (f"models/{NAME}/versions/x1/card", 400),
        (f"models/{NAME}/versions/1/card?format=pdf", 400),
    ],
    ids=["model", "version", "alias", "malformed", "format"],
)
def test_unknown_or_malformed_requests_say_what_is_wrong(env: Env, route: str, status: int) -> None:
    r = env.server.api("/" + route)
    assert r.status == status
    assert r.json()["error"]["message"]
