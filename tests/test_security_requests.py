"""Malformed request bodies get a JSON 4xx, never a 500, and change nothing.

Given a real Jupyter server with token authentication on, when every route that parses a
JSON body receives a body nested 100,000 levels deep, a body that is not JSON (broken,
not UTF-8, ``NaN``), a JSON value of the wrong type, an empty body, a body over the size
limit or one sent with another content type, then it answers with the API's error shape
``{"error": {"code", "message", "status"}}`` and a 400 (413 for the size, 415 for the
content type), the run and its card are unchanged, and the server logs no traceback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server_helpers import API, JupyterServer, Response, Seeded, seed

pytestmark = pytest.mark.slow

DEEP = 100_000


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[JupyterServer, Seeded]]:
    root = tmp_path_factory.mktemp("security-requests")
    url = f"sqlite:///{root / 'store.db'}"
    seeded = seed(url)
    server = JupyterServer(root, store_url=url).start()
    try:
        yield server, seeded
    finally:
        server.stop()


# (route template, method): every route whose handler reads a JSON body.
BODY_ROUTES = [
    ("PATCH", "/runs/{rid}"),
    ("PUT", "/runs/{rid}/card"),
    ("PATCH", "/runs/{rid}/card"),
]

# (id, raw body, status, code, words the message must contain)
MALFORMED: list[tuple[str, bytes, int, str, str]] = [
    ("deep-array", b"[" * DEEP + b"]" * DEEP, 400, "bad_request", "nested deeper"),
    ("deep-object", b'{"a":' * DEEP + b"1" + b"}" * DEEP, 400, "bad_request", "nested deeper"),
    ("deep-unclosed", b"[" * DEEP, 400, "bad_request", ""),
    (
        "deep-inside-a-good-shape",
        b'{"sections": {"intended_use": ' + b"[" * 40 + b"]" * 40 + b'}, "name": "x"}',
        400,
        "bad_request",
        "nested deeper",
    ),
    ("broken", b"{not json", 400, "bad_request", "not valid JSON"),
    ("not-utf8", b'{"name": "\xff\xfe"}', 400, "bad_request", "not valid JSON"),
    ("nan", b'{"name": NaN}', 400, "bad_request", "NaN is not JSON"),
    ("infinity", b'{"sections": {"factors": -Infinity}}', 400, "bad_request", "Infinity"),
    ("array", b"[]", 400, "bad_request", "must be a JSON object"),
    ("string", b'"name"', 400, "bad_request", "must be a JSON object"),
    ("number", b"1", 400, "bad_request", "must be a JSON object"),
    ("null", b"null", 400, "bad_request", "must be a JSON object"),
    ("empty", b"", 400, "bad_request", "must be a JSON object"),
    ("huge", b'{"name": "' + b"x" * 2_000_000 + b'"}', 413, "payload_too_large", "larger than"),
]


def _assert_error_shape(r: Response, status: int, code: str, words: str) -> None:
    assert r.status == status, r.body[:300]
    assert r.headers["Content-Type"].startswith("application/json")
    err = r.json()["error"]
    assert set(err) == {"code", "message", "status"}
    assert err["status"] == status
    assert err["code"] == code
    assert words in err["message"]
    assert "Traceback" not in err["message"]
    assert len(err["message"]) < 500  # the body is not echoed back


def _state(server: JupyterServer, rid: str) -> tuple[object, object]:
    run = server.api(f"/runs/{rid}").json()
    sections = server.api(f"/runs/{rid}/card/sections").json()
    return (run["name"], run["tags"], run["notes"]), sections


@pytest.mark.parametrize(("method", "route"), BODY_ROUTES, ids=[f"{m} {r}" for m, r in BODY_ROUTES])
@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_bodies_get_a_json_error_and_change_nothing(
    env: tuple[JupyterServer, Seeded],
    method: str,
    route: str,
    body: bytes,
    status: int,
    code: str,
    words: str,
) -> None:
    server, seeded = env
    rid = seeded.runs[0]
    before = _state(server, rid)
    r = server.request(method, API + route.format(rid=rid), raw=body)
    _assert_error_shape(r, status, code, words)
    assert _state(server, rid) == before
    assert server.get("/api/status").status == 200


@pytest.mark.parametrize(("method", "route"), BODY_ROUTES, ids=[f"{m} {r}" for m, r in BODY_ROUTES])
def test_other_content_types_are_refused_before_parsing(
    env: tuple[JupyterServer, Seeded], method: str, route: str
) -> None:
    server, seeded = env
    rid = seeded.runs[0]
    before = _state(server, rid)
    deep = b"[" * DEEP + b"]" * DEEP
    r = server.request(method, API + route.format(rid=rid), raw=deep, content_type="text/plain")
    _assert_error_shape(r, 415, "unsupported_media_type", "application/json")
    assert _state(server, rid) == before


def test_deep_bodies_without_authentication_or_on_other_routes_get_json_errors(
    env: tuple[JupyterServer, Seeded],
) -> None:
    server, seeded = env
    rid = seeded.runs[0]
    deep = b"[" * DEEP + b"]" * DEEP
    for method, route in BODY_ROUTES:
        r = server.request(method, API + route.format(rid=rid), raw=deep, auth=False)
        assert r.status in (401, 403)
        assert r.json()["error"]["code"] in ("unauthorized", "forbidden")
    r = server.request("POST", f"{API}/no/such/route", raw=deep)
    _assert_error_shape(r, 404, "not_found", "no API route")
    r = server.request("DELETE", f"{API}/runs/{rid}", raw=deep)
    _assert_error_shape(r, 405, "method_not_allowed", "")


def test_a_body_at_the_depth_limit_is_still_served(env: tuple[JupyterServer, Seeded]) -> None:
    # A legitimate body is three levels deep; the limit leaves room and refuses only abuse.
    server, seeded = env
    rid = seeded.runs[1]
    r = server.request("PATCH", f"{API}/runs/{rid}/card", {"sections": {"factors": "by age"}})
    assert r.status == 200
    assert server.api(f"/runs/{rid}/card/sections").json()["sections"]["factors"] == "by age"


def test_no_request_left_a_traceback_in_the_server_log(env: tuple[JupyterServer, Seeded]) -> None:
    # Runs last in this module: every malformed body above was answered without a 500.
    server, _ = env
    log = server.read_log()
    assert "Traceback" not in log
    assert " 500 " not in log
    assert "RecursionError" not in log
