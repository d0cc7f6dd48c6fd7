"""The artifact routes on a real Jupyter server with token authentication on.

Given runs with artifacts (logged through the run API, as a kernel does), when the API is
asked for a run's artifacts and for their bytes, then it lists them, streams each one
with its media type, size and digest, refuses every request without authentication, makes
no path from anything but a digest, and cuts a download short rather than serve bytes
that do not match their record.
"""

from __future__ import annotations

import http.client
import os
import stat
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker.store import get_store
from tracker.store.artifacts import blob_key, for_store

from .server_helpers import API, JupyterServer
from .test_server import _pg_database
from .test_server_wire_schema import _require_tsc, _typecheck

pytestmark = pytest.mark.slow


@dataclass
class Env:
    server: JupyterServer
    run_id: str
    root: Path
    refs: dict[str, Any]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp(f"artifacts-server-{request.param}")
    # Module-scoped: set up before the per-test isolation fixture, so isolate it here.
    patch = pytest.MonkeyPatch()
    patch.setenv("TRACKER_SPOOL_DIR", str(root / "spool"))
    gen: Iterator[str] | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'tracker.db'}"
        artifacts = None
    else:
        gen = _pg_database()
        url = next(gen)
        artifacts = root / "team-root"  # recorded in the database: the server finds it there
    tracker.set_store(url, artifacts=artifacts)
    with tracker.start_run(name="with artifacts") as run:
        refs = {
            "png": run.log_artifact(b"\x89PNG\r\n\x1a\n" + os.urandom(3000), "plots/roc.png"),
            "html": run.log_text("<script>alert(1)</script>", "report.html"),
            "big": run.log_artifact(os.urandom(3 * (1 << 20) + 5), "weights.bin"),
            "tampered": run.log_text("the original text " * 50, "tampered.txt"),
            "tampered-big": run.log_artifact(b"\x00" * (3 << 20), "tampered.bin"),
        }
    spec = for_store(get_store()).root()
    assert spec is not None
    tracker.set_store(None)
    patch.undo()
    server = JupyterServer(
        root, store_url=None, extra_args=[f"--TrackerExtension.store_url={url}"]
    ).start()
    try:
        yield Env(server, run.id, Path(spec.url), refs)
    finally:
        server.stop()
        if gen is not None:
            gen.close()


def test_every_artifact_route_needs_authentication(env: Env) -> None:
    ref = env.refs["png"]
    for path in (
        f"/runs/{env.run_id}/artifacts",
        f"/runs/{env.run_id}/artifacts/plots/roc.png",
        f"/artifacts/{ref.digest}",
    ):
        for auth in (False, "wrong-token"):
            r = env.server.request("GET", API + path, auth=auth)
            assert r.status in (401, 403), (path, auth)
            assert ref.sha256 not in r.body.decode("utf-8", "replace")


def test_a_run_lists_its_artifacts(env: Env) -> None:
    listing = env.server.api(f"/runs/{env.run_id}/artifacts").json()
    assert listing["run_id"] == env.run_id
    by_name = {a["name"]: a for a in listing["artifacts"]}
    assert set(by_name) == {
        "plots/roc.png",
        "report.html",
        "weights.bin",
        "tampered.txt",
        "tampered.bin",
    }
    png = env.refs["png"]
    assert by_name["plots/roc.png"] == png.to_dict()
    run = env.server.api(f"/runs/{env.run_id}").json()
    assert run["artifacts"]["weights.bin"]["size"] == 3 * (1 << 20) + 5
    assert env.server.api("/runs/nope/artifacts").status == 404


def test_downloads_stream_the_bytes_with_their_type_and_digest(env: Env) -> None:
    for key, path in (
        ("png", "plots/roc.png"),
        ("big", "weights.bin"),
        ("html", "report.html"),
    ):
        ref = env.refs[key]
        r = env.server.api(f"/runs/{env.run_id}/artifacts/{path}")
        assert r.status == 200, path
        assert r.body == tracker.load_artifact(ref, store=_reader(env))
        headers = {k.lower(): v for k, v in r.headers.items()}
        assert headers["content-type"].startswith(ref.media_type)
        assert int(headers["content-length"]) == ref.size
        assert headers["etag"] == f'"{ref.sha256}"'
        assert headers["x-tracker-digest"] == ref.digest
        assert "sandbox" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
    # Passive types show inline; anything a browser could run is an attachment.
    png = env.server.api(f"/runs/{env.run_id}/artifacts/plots/roc.png")
    assert png.headers["Content-Disposition"].startswith("inline")
    html = env.server.api(f"/runs/{env.run_id}/artifacts/report.html")
    assert html.headers["Content-Disposition"] == 'attachment; filename="report.html"'
    asked = env.server.api(f"/runs/{env.run_id}/artifacts/plots/roc.png?download=1")
    assert asked.headers["Content-Disposition"] == 'attachment; filename="plots_roc.png"'
    by_digest = env.server.api(f"/artifacts/{env.refs['big'].digest}")
    assert by_digest.status == 200
    assert len(by_digest.body) == env.refs["big"].size


def _reader(env: Env) -> Any:
    from tracker.store import open_store

    url = next(a for a in env.server.extra_args if "store_url=" in a).split("=", 1)[1]
    return open_store(url, queued=False)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/artifacts/..%2F..%2F..%2Fetc%2Fpasswd", 400),
        ("/artifacts/" + "AB" * 16, 400),
        ("/artifacts/" + "ab" * 16, 404),
        ("/artifacts/../../etc/passwd", 404),
        ("/runs/{run}/artifacts/..%2F..%2Ftracker.db", 404),
        ("/runs/{run}/artifacts/../../../tracker.db", 404),
        ("/runs/{run}/artifacts/no-such.bin", 404),
    ],
    ids=[
        "digest-traversal",
        "upper-hex",
        "unknown-digest",
        "raw-traversal",
        "name-traversal",
        "raw-name-traversal",
        "unknown-name",
    ],
)
def test_no_request_reaches_outside_the_root(env: Env, path: str, status: int) -> None:
    r = env.server.api(path.format(run=env.run_id))
    assert r.status == status, r.body[:200]
    assert r.json()["error"]["message"]
    assert b"root:" not in r.body
    assert b"SQLite format" not in r.body


def _tamper(env: Env, digest: str, data: bytes) -> None:
    blob = env.root / blob_key(digest)
    os.chmod(blob, stat.S_IRUSR | stat.S_IWUSR)
    blob.write_bytes(data)


def test_a_small_blob_that_does_not_match_is_an_error_not_bytes(env: Env) -> None:
    ref = env.refs["tampered"]
    _tamper(env, ref.digest, b"The original text " + b"the original text " * 49)  # same size
    r = env.server.api(f"/runs/{env.run_id}/artifacts/tampered.txt")
    assert r.status == 500
    err = r.json()["error"]
    assert err["code"] == "integrity_error"
    assert f"artifact 'tampered.txt' of run {env.run_id}" in err["message"]
    assert ref.digest in err["message"]
    assert ref.sha256 in err["message"]
    assert b"original text" not in r.body


def test_a_large_blob_that_does_not_match_is_cut_short(env: Env) -> None:
    ref = env.refs["tampered-big"]
    _tamper(env, ref.digest, b"\x00" * ((3 << 20) - 1) + b"\x01")  # the last byte changed
    url = f"{env.server.base}{API}/runs/{env.run_id}/artifacts/tampered.bin"
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.request("GET", parts.path, headers={"Authorization": f"token {env.server.token}"})
    response = conn.getresponse()
    assert response.status == 200  # the headers left before the bytes were checked
    with pytest.raises(http.client.IncompleteRead) as err:
        response.read()
    assert len(err.value.partial) < ref.size
    conn.close()
    assert "does not match its record" in env.server.read_log()


def test_the_answers_match_the_typescript_mirror(env: Env, tmp_path: Path) -> None:
    _require_tsc()
    answers = [
        ("/runs/{id}", "RunDetail", env.server.api(f"/runs/{env.run_id}").json()),
        (
            "/runs/{id}/artifacts",
            "ArtifactList",
            env.server.api(f"/runs/{env.run_id}/artifacts").json(),
        ),
    ]
    result = _typecheck(tmp_path, answers)
    assert result.returncode == 0, result.stdout + result.stderr
