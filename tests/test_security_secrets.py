"""No secret of a store URL reaches any output: every channel, every credential-bearing part.

Given store URLs that carry a userinfo password and libpq's credential parameters
(``password``, ``sslpassword``, ``passfile``, ``sslkey``...), when the URL is printed,
described, logged, spooled, put in an error message, a search record, ``tracker show``
or an exported archive, then no secret value appears, and the public parts (host, port,
user, database, certificate paths) still do. PostgreSQL is the real server: trust auth
ignores the password, so the secrets ride along on working connections.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker.config import (
    REDACTED,
    StoreURL,
    is_secret_param,
    redact_text,
    redact_url,
    resolve_store_url,
)
from tracker.exceptions import ConfigError, StoreUnavailableError
from tracker.store import open_store
from tracker.store.query import RunQuery

from .netproxy import free_port
from .server_helpers import JupyterServer

# Each secret is unique, so a leak names the part that leaked.
PASSWORD = "ui-pw-H8k2"
QUERY_SECRETS = {
    "password": "q-pw-Q7x9",
    "sslpassword": "ssl-pw-Z3v8",
    "passfile": "/nonexistent/pgpass-L2m4",
    "sslkey": "/nonexistent/client-key-R5t6.pem",
}
SECRETS = [PASSWORD, *QUERY_SECRETS.values()]
# Public material that must stay visible (a certificate is not a secret).
PUBLIC = {"sslcert": "/nonexistent/client-cert-P1c9.pem", "sslmode": "disable"}


def with_secrets(url: str, *, userinfo: bool = True) -> str:
    """``url`` (postgresql://user@host:port/db) with every kind of secret added."""
    parts = urllib.parse.urlsplit(url)
    user = parts.username or "postgres"
    auth = f"{user}:{PASSWORD}" if userinfo else user
    netloc = f"{auth}@{parts.hostname}:{parts.port or 5432}"
    query = urllib.parse.urlencode({**QUERY_SECRETS, **PUBLIC})
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def leaks(text: str | bytes) -> list[str]:
    """The secrets found in ``text``, in any usual encoding."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    found = []
    for s in SECRETS:
        forms = {s, urllib.parse.quote(s, safe=""), urllib.parse.quote_plus(s), json.dumps(s)[1:-1]}
        if any(f in text for f in forms):
            found.append(s)
    return found


def leaks_in_tree(root: Path) -> dict[str, list[str]]:
    """Every file under ``root`` that holds a secret (spools, archives, logs)."""
    out = {}
    for p in root.rglob("*"):
        if p.is_file() and (found := leaks(p.read_bytes())):
            out[str(p.relative_to(root))] = found
    return out


def cli(*args: str, cwd: Path, store: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TRACKER_SPOOL_DIR=str(cwd / "spool"))
    if store is not None:
        env["TRACKER_STORE"] = store
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def all_logs() -> Iterator[list[logging.LogRecord]]:
    """Every log record of every library, down to DEBUG, while the test runs."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    root = logging.getLogger()
    handler, level = Keep(logging.DEBUG), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def log_leaks(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if leaks(r.getMessage())]


# --- the one redaction function ----------------------------------------------------------

REDACTION_CASES = [
    ("postgresql://u:pw1234@h:5432/db", "postgresql://u:***@h:5432/db"),
    (
        "postgresql://u@h/db?password=pw1234&sslmode=require",
        "postgresql://u@h/db?password=***&sslmode=require",
    ),
    (
        "postgresql://u@h/db?sslpassword=kp1234&passfile=/p/pgpass&sslkey=/k/key.pem"
        "&sslcert=/c/cert.pem&sslrootcert=/c/ca.pem",
        "postgresql://u@h/db?sslpassword=***&passfile=***&sslkey=***"
        "&sslcert=/c/cert.pem&sslrootcert=/c/ca.pem",
    ),
    # Unencoded characters SQLAlchemy still reads as part of the password.
    ("postgresql://u:pa/ss1234@h/db", "postgresql://u:***@h/db"),
    ("postgresql://u:pa?ss1234@h/db", "postgresql://u:***@h/db"),
    ("postgresql://u:pa#ss1234@h/db", "postgresql://u:***@h/db"),
    (
        "postgresql://u:p@ss1234@h/db?application_name=a@b",
        "postgresql://u:***@h/db?application_name=a@b",
    ),
    # Spelling tricks: case, percent-encoding, other drivers' secret names.
    ("postgresql://u@h/db?PASSWORD=pw1234", "postgresql://u@h/db?PASSWORD=***"),
    ("postgresql://u@h/db?pass%77ord=pw1234", "postgresql://u@h/db?pass%77ord=***"),
    (
        "postgresql://u@h/db?oauth_client_secret=pw1234",
        "postgresql://u@h/db?oauth_client_secret=***",
    ),
    ("postgresql://u@h/db?sslkeylogfile=/k/keys.log", "postgresql://u@h/db?sslkeylogfile=***"),
    ("postgresql://u@h/db?api_token=pw1234", "postgresql://u@h/db?api_token=***"),
    # A connection string nested in dbname (libpq expands it).
    (
        "postgresql://u@h/db?dbname=host%3Dh%20password%3Dpw1234",
        "postgresql://u@h/db?dbname=host%3Dh%20password%3D***",
    ),
    ("mysql://a:pw1234@c/d?password=pw1234", "mysql://a:***@c/d?password=***"),
    ("host=h password=pw1234 dbname=x", "host=h password=*** dbname=x"),
    ("host=h password='pw 1234' dbname=x", "host=h password=*** dbname=x"),
    # Nothing secret: unchanged.
    ("postgresql://u@h:5432/db?sslmode=disable", "postgresql://u@h:5432/db?sslmode=disable"),
    ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
]


@pytest.mark.parametrize(
    ("url", "expected"), REDACTION_CASES, ids=[str(i) for i in range(len(REDACTION_CASES))]
)
def test_redact_url_replaces_every_credential_bearing_part(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    assert "1234" not in redact_url(url).replace("pw1234", "")  # no fragment of a secret
    assert "pw1234" not in redact_url(url)
    # In free text too, wherever the URL sits.
    assert "pw1234" not in redact_text(f"could not reach {url} (timeout)")


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "sslpassword",
        "passfile",
        "sslkey",
        "sslkeylogfile",
        "oauth_client_secret",
        "Pass%77ord",
    ],
)
def test_secret_parameter_names(name: str) -> None:
    assert is_secret_param(name)


@pytest.mark.parametrize(
    "name",
    [
        "sslcert",
        "sslrootcert",
        "sslcrl",
        "sslmode",
        "host",
        "port",
        "dbname",
        "user",
        "application_name",
    ],
)
def test_public_parameter_names(name: str) -> None:
    assert not is_secret_param(name)


def test_store_url_str_repr_identity_and_scrub() -> None:
    url = with_secrets("postgresql://postgres@db.example:5433/tracker")
    parsed = StoreURL.parse(url)
    for shown in (
        str(parsed),
        repr(parsed),
        parsed.redacted(),
        parsed.identity,
        f"{parsed}",
        f"{parsed!r}",
    ):
        assert leaks(shown) == [], shown
        assert "db.example:5433/tracker" in shown
        assert PUBLIC["sslcert"] in urllib.parse.unquote(shown)
        assert REDACTED in shown
    # The engine still gets every secret.
    connect = parsed.connect_url()
    assert sorted(leaks(connect)) == sorted(SECRETS)
    # A driver message quoting a key file's path or the password loses them.
    msg = (
        f'could not open private key file "{QUERY_SECRETS["sslkey"]}"; password {PASSWORD} refused'
    )
    assert leaks(parsed.scrub(msg)) == []
    assert "could not open private key file" in parsed.scrub(msg)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (
            f"mysql://u:{PASSWORD}@h/db?password={QUERY_SECRETS['password']}",
            "unsupported store scheme",
        ),
        (
            f"postgresql://u:{PASSWORD}@h:5432?password={QUERY_SECRETS['password']}",
            "names no database",
        ),
        (f"host=h password={PASSWORD} dbname=x", "keyword/value connection string"),
    ],
    ids=["scheme", "no-database", "keyword-value"],
)
def test_config_errors_name_the_url_without_its_secrets(value: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as err:
        resolve_store_url(value)
    assert leaks(str(err.value)) == []
    assert REDACTED in str(err.value)


# --- real PostgreSQL: CLI, describe, logs, errors, spool, records, archives ---------------


def test_cli_store_command_and_describe_on_a_working_connection(
    pg_url: str, tmp_path: Path, all_logs: list[logging.LogRecord]
) -> None:
    url = with_secrets(pg_url)
    store = open_store(url, queued=False)
    try:
        info = store.describe()  # a real connection: the parameters were accepted
        assert info["kind"] == "postgresql"
        assert leaks(json.dumps(info)) == []
        assert leaks(repr(store)) == []
    finally:
        store.close()
    for fmt in ("text", "json"):
        out = cli("store", "--format", fmt, cwd=tmp_path, store=url)
        assert out.returncode == 0, out.stderr
        assert leaks(out.stdout + out.stderr) == []
        assert REDACTED in out.stdout
        assert pg_url.rsplit("/", 1)[1] in out.stdout  # the database is still named
    out = cli("--store", url, "store", cwd=tmp_path)  # given as an argument instead of the env
    assert out.returncode == 0, out.stderr
    assert leaks(out.stdout + out.stderr) == []
    assert log_leaks(all_logs) == []
    assert leaks_in_tree(tmp_path) == {}


def test_unreachable_store_errors_logs_and_spool_hold_no_secret(
    tmp_path: Path, all_logs: list[logging.LogRecord]
) -> None:
    # Nothing listens on this port: every connection is refused.
    url = with_secrets(f"postgresql://postgres@127.0.0.1:{free_port()}/tracker")
    store = open_store(url, queued=False)
    with pytest.raises(StoreUnavailableError) as err:
        store.search_runs(RunQuery())
    store.close()
    assert "is unavailable" in str(err.value)
    assert leaks(str(err.value)) == []
    # Through the notebook API: the run goes to the spool, whose header names the store.
    spool = Path(os.environ["TRACKER_SPOOL_DIR"])  # the conftest's, under tmp_path
    tracker.set_store(url)
    with tracker.start_run(name="offline") as run:
        run.log_params({"C": 1.0})
        run.log_metrics({"acc": 0.5})
    assert not tracker.get_store().flush(0.5)  # still in the spool: the store is down
    assert any(spool.rglob("*")), "the run should be spooled"
    assert leaks_in_tree(spool) == {}
    tracker.set_store(None)
    # `tracker store` and `tracker sync` against the dead store print errors, no secrets.
    for args in (("store",), ("sync", "--timeout", "1"), ("runs",)):
        out = cli(*args, cwd=tmp_path, store=url)
        assert out.returncode != 0, args
        assert leaks(out.stdout + out.stderr) == [], args
    assert log_leaks(all_logs) == []
    assert leaks_in_tree(tmp_path) == {}


def _objective(trial: Any) -> dict[str, float]:
    x = trial.suggest_float("x", 0.0, 1.0)
    return {"f": (x - 0.3) ** 2}


def test_search_records_show_export_and_worker_carry_no_secret(
    pg_url: str, tmp_path: Path, all_logs: list[logging.LogRecord]
) -> None:
    from tracker.tuning import optimize

    url = with_secrets(pg_url)
    tracker.set_store(url)
    res = optimize(
        _objective,
        3,
        objectives={"f": "minimize"},
        study_name="secret-free",
        sampler="random",
        seed=0,
        show_progress=False,
    )
    tracker.get_store().flush()
    search = tracker.get_run(res.search_run_id)
    storage = search.attrs["search"]["storage"]
    assert leaks(storage) == []
    assert REDACTED in storage
    tracker.set_store(None)
    show = cli("show", res.search_run_id, "--json", cwd=tmp_path, store=url)
    assert show.returncode == 0, show.stderr
    assert json.loads(show.stdout)["attrs"]["search"]["storage"] == storage
    readable = cli("show", res.search_run_id, cwd=tmp_path, store=url)
    assert readable.returncode == 0, readable.stderr
    archive = tmp_path / "archive.json"
    exp = cli("export", str(archive), cwd=tmp_path, store=url)
    assert exp.returncode == 0, exp.stderr
    assert archive.stat().st_size > 0
    imp = cli("import", str(archive), cwd=tmp_path, store=url)
    assert imp.returncode == 0, imp.stderr
    assert "into postgresql" in imp.stdout
    worker = cli(
        "worker", "--store", url, "--study", "nope", "--objective", "os:getcwd", cwd=tmp_path
    )
    assert worker.returncode == 2
    assert "no study" in worker.stderr
    for out in (show, readable, exp, imp, worker):
        assert leaks(out.stdout + out.stderr) == []
    assert log_leaks(all_logs) == []
    assert leaks_in_tree(tmp_path) == {}


@pytest.mark.slow
def test_server_store_description_errors_and_log_hold_no_secret(
    pg_url: str, tmp_path: Path
) -> None:
    url = with_secrets(pg_url)
    tracker.set_store(url)
    with tracker.start_run(name="shown") as run:
        run.log_metrics({"acc": 0.9})
    tracker.set_store(None)
    server = JupyterServer(
        tmp_path / "srv", store_url=None, extra_args=[f"--TrackerExtension.store_url={url}"]
    )
    server.root.mkdir()
    server.start()
    try:
        d = server.api("/store").json()
        assert d["kind"] == "postgresql"
        assert d["runs"] == 1
        assert leaks(json.dumps(d)) == []
        assert REDACTED in d["url"]
        rid = server.api("/runs").json()["runs"][0]["id"]
        for path in (
            "/runs",
            f"/runs/{rid}",
            f"/runs/{rid}/card?format=html",
            f"/runs/{rid}/card?format=md",
            "/searches",
        ):
            r = server.api(path)
            assert r.status == 200, path
            assert leaks(r.body) == [], path
    finally:
        server.stop()
    assert leaks(server.read_log()) == []

    # The same server settings against a database that is down: a 503 naming the store.
    dead = with_secrets(f"postgresql://postgres@127.0.0.1:{free_port()}/tracker")
    (tmp_path / "down").mkdir()
    down = JupyterServer(tmp_path / "down", store_url=dead).start()
    try:
        for path in ("/store", "/runs", "/searches"):
            r = down.api(path)
            assert r.status == 503, path
            assert r.json()["error"]["code"] == "store_unavailable"
            assert "/tracker" in r.json()["error"]["message"]
            assert leaks(r.body) == [], path
    finally:
        down.stop()
    assert leaks(down.read_log()) == []
    assert leaks_in_tree(tmp_path) == {}
