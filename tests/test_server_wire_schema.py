"""The JSON the server sends type-checks against ``labext/src/types.ts``.

Given a real server over a seeded store, when every route's answer is pasted into a
TypeScript file as a literal of the type the panel expects, then ``tsc`` accepts it.
Object literals get TypeScript's excess-property check, so a key the server adds that
``types.ts`` lacks fails, and so does a key ``types.ts`` requires that the server omits,
or a value of another type.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import tracker
from tracker.exceptions import PromotionRefused

from .conftest import IN_CI
from .server_helpers import API, JupyterServer, seed

ROOT = Path(__file__).resolve().parent.parent
LABEXT = ROOT / "labext"
TSC = LABEXT / "node_modules" / ".bin" / "tsc"

pytestmark = pytest.mark.slow


def _require_tsc() -> None:
    if TSC.exists():
        return
    reason = f"{TSC} is missing: run `make labext` (npm ci in labext/) first"
    if IN_CI:
        pytest.fail(f"CI must check the wire schema: {reason}")
    pytest.skip(reason)


def _typecheck(tmp: Path, answers: list[tuple[str, str, Any]]) -> subprocess.CompletedProcess[str]:
    names = sorted({t for _, t, _ in answers})
    lines = [
        f"import type {{ {', '.join(names)} }} from {json.dumps(str(LABEXT / 'src' / 'types'))};"
    ]
    for i, (route, type_name, value) in enumerate(answers):
        lines.append(f"// {route}")
        lines.append(f"export const answer{i}: {type_name} = {json.dumps(value, indent=1)};")
    src = tmp / "wire_check.ts"
    src.write_text("\n".join(lines) + "\n")
    options = {
        "noEmit": True,
        "strict": True,
        "skipLibCheck": True,
        "target": "ES2020",
        "moduleResolution": "node",
        "types": [],
    }
    config = tmp / "tsconfig.json"
    config.write_text(json.dumps({"compilerOptions": options, "files": [str(src)]}))
    return subprocess.run(
        [str(TSC), "-p", str(config)],
        capture_output=True,
        text=True,
        cwd=LABEXT,
        timeout=300,
        env={**os.environ},
    )


MODEL = "iris <b>"


def _register_model(root: Path, url: str) -> str:
    """A run with a logged model and a text artifact, registered with an alias and a
    refused promotion, written through the public API as a kernel does; its run id."""
    patch = pytest.MonkeyPatch()  # module-scoped fixture: isolate by hand
    patch.setenv("TRACKER_SPOOL_DIR", str(root / "spool"))
    tracker.set_store(url)
    try:
        X, y = load_iris(return_X_y=True)
        with tracker.start_run(name="iris model") as run:
            run.log_metrics({"latency_p95_ms": 5.0})
            run.log_text("hello", "notes.txt")
            ref = run.log_model(LogisticRegression(max_iter=500).fit(X, y), input_example=X[:2])
        tracker.register_model(ref, MODEL, reason="first")
        tracker.set_alias(MODEL, "champion", 1)
        with pytest.raises(PromotionRefused):
            tracker.promote(MODEL, 1, alias="prod", require=["latency_p95_ms <= 1"])
        return ref.run_id
    finally:
        tracker.set_store(None)
        patch.undo()


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, Any]]:
    _require_tsc()
    root = tmp_path_factory.mktemp("wire")
    url = f"sqlite:///{root / 'store.db'}"
    s = seed(url)
    model_run = _register_model(root, url)
    server = JupyterServer(root, store_url=url).start()
    try:
        run = s.runs[0]
        server.request("PATCH", f"{API}/runs/{run}/card", {"sections": {"owners": "team"}})
        routes = [
            ("/store", "StoreInfo"),
            ("/runs?limit=50&exclude_kind=", "RunsPage"),
            ("/runs?kind=trial", "RunsPage"),
            (f"/runs/{run}", "RunDetail"),
            (f"/runs/{s.session}", "RunDetail"),
            (f"/runs/{s.hostile}", "RunDetail"),
            (f"/runs/{run}/metrics?key=loss&key=accuracy", "MetricHistories"),
            (f"/runs/{s.cell_run}/lineage", "Lineage"),
            (f"/runs/{s.session}/lineage", "Lineage"),
            (f"/compare?ids={','.join(s.runs)}", "Comparison"),
            ("/keys?exclude_kind=trial", "RunKeys"),
            (f"/curves?ids={','.join(s.runs)}&key=loss", "Curves"),
            (f"/curves?ids={s.hostile}", "Curves"),
            ("/searches", "SearchesPage"),
            (f"/searches/{s.search}", "SearchDetail"),
            (f"/runs/{run}/card/sections", "CardSections"),
            ("/models", "ModelsList"),
            (f"/models/{quote(MODEL)}", "ModelDetail"),
            (f"/runs/{model_run}", "RunDetail"),
            (f"/runs/{model_run}/artifacts", "ArtifactList"),
            (f"/runs/{run}/artifacts", "ArtifactList"),
            ("/models/unknown", "ApiErrorBody"),
            ("/runs/missing", "ApiErrorBody"),
            ("/runs?limit=0", "ApiErrorBody"),
        ]
        out = []
        for path, type_name in routes:
            r = server.api(path)
            assert r.status == (200 if type_name != "ApiErrorBody" else r.status), path
            out.append((path, type_name, r.json()))
        updated = server.request("PATCH", f"{API}/runs/{run}", {"notes": "n"})
        out.append(("PATCH /runs/{id}", "RunDetail", updated.json()))
        card = server.request("PUT", f"{API}/runs/{run}/card", {"sections": {"license": "MIT"}})
        out.append(("PUT /runs/{id}/card", "CardSections", card.json()))
        return out
    finally:
        server.stop()


def test_every_answer_matches_the_typescript_mirror(
    answers: list[tuple[str, str, Any]], tmp_path: Path
) -> None:
    result = _typecheck(tmp_path, answers)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda a: a["runs"][0].update(colour="red"), id="extra-key"),
        pytest.param(lambda a: a["runs"][0].pop("status"), id="missing-key"),
        pytest.param(lambda a: a["runs"][0].update(kind="model"), id="wrong-literal"),
        pytest.param(lambda a: a.update(total="12"), id="wrong-type"),
    ],
)
def test_the_check_catches_a_drifted_answer(
    answers: list[tuple[str, str, Any]], tmp_path: Path, mutate: Any
) -> None:
    page = json.loads(json.dumps(next(v for p, t, v in answers if t == "RunsPage")))
    mutate(page)
    result = _typecheck(tmp_path, [("mutated", "RunsPage", page)])
    assert result.returncode != 0
    assert "error TS" in result.stdout


def test_the_model_answers_hold_every_kind_of_record(
    answers: list[tuple[str, str, Any]],
) -> None:
    """The registry answers checked above are not empty: versions, aliases, a refusal."""
    detail = next(v for _, t, v in answers if t == "ModelDetail")
    assert detail["aliases"] == {"champion": 1}
    assert {e["action"] for e in detail["history"]} >= {
        "register",
        "set_alias",
        "promotion_refused",
    }
    kinds = {a["kind"] for _, t, v in answers if t == "ArtifactList" for a in v["artifacts"]}
    assert {"model", "text"} <= kinds


def test_the_check_catches_a_drifted_registry_event(
    answers: list[tuple[str, str, Any]], tmp_path: Path
) -> None:
    detail = json.loads(json.dumps(next(v for _, t, v in answers if t == "ModelDetail")))
    detail["history"][0]["action"] = "deleted"
    result = _typecheck(tmp_path, [("mutated", "ModelDetail", detail)])
    assert result.returncode != 0
    assert "error TS" in result.stdout
