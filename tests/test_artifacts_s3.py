"""A remote artifact root on an S3-protocol server (moto, on loopback): stage, upload, find.

Given a store whose artifact root is ``s3://bucket/prefix``, when artifacts are logged,
then the call returns once the blob is staged on this machine, a background upload puts
it in the bucket, and only then is the record written; another client finds the root in
the database and loads the artifact verified. When the server is down, logging goes on
and ``tracker sync`` finishes the uploads once it is back. No credential reaches the
database, a record, a response, an error, a log or a file the tracker writes.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import tracker
from tracker.exceptions import IntegrityError, StoreUnavailableError
from tracker.store import get_store
from tracker.store.artifacts import blob_key, for_store
from tracker.store.artifacts._fsspec import FsspecBlobStore

from .s3_server import ACCESS_KEY, SECRET_KEY, MotoServer, start_or_skip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = start_or_skip(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    for k, v in moto.env().items():
        monkeypatch.setenv(k, v)
    return moto


@pytest.fixture
def all_logs() -> Iterator[list[logging.LogRecord]]:
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


def s3_object(server: MotoServer, key: str) -> bytes:
    import boto3

    client = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1")
    body: bytes = client.get_object(Bucket=server.bucket, Key=key)["Body"].read()
    return body


def put_s3_object(server: MotoServer, key: str, data: bytes) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1")
    client.put_object(Bucket=server.bucket, Key=key, Body=data)


def database_text(url: str) -> str:
    """Every row of every tracker table, as text (for the credential checks)."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            names = [n for n in sa.inspect(conn).get_table_names() if n.startswith("tracker_")]
            return "\n".join(
                repr(row) for n in names for row in conn.execute(sa.text(f"SELECT * FROM {n}"))
            )
    finally:
        engine.dispose()


def no_secret(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return SECRET_KEY not in text


def tree_has_no_secret(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and not no_secret(p.read_bytes())]


def test_an_s3_root_stages_uploads_then_records(
    store_url: str, s3: MotoServer, tmp_path: Path, all_logs: list[logging.LogRecord]
) -> None:
    root = s3.url(f"team-{os.urandom(3).hex()}")
    tracker.set_store(store_url, artifacts=root)
    data = os.urandom(200_000)
    src = tmp_path / "model.bin"
    src.write_bytes(data)
    with tracker.start_run() as run:
        ref = run.log_artifact(src)
        text = run.log_text("hello", "hello.txt")
    assert for_store(get_store()).flush(120)
    prefix = root.split("/", 3)[3]
    assert s3_object(s3, f"{prefix}/{blob_key(ref.digest)}") == data
    assert tracker.get_run(run.id).artifacts == {"model.bin": ref, "hello.txt": text}

    # A second client: its own spool (nothing staged there), no root given.
    os.environ["TRACKER_SPOOL_DIR"] = str(tmp_path / "client-2")
    tracker.set_store(store_url)
    spec = for_store(get_store()).root()
    assert spec is not None
    assert (spec.url, spec.source) == (root, "store")
    assert tracker.load_artifact(ref) == data
    local = tracker.load_artifact(text, as_path=True)
    assert local.read_bytes() == b"hello"
    assert str(local).startswith(str(tmp_path / "client-2"))

    # Credentials: nowhere in the database, the records, the logs or the files we wrote.
    assert no_secret(database_text(store_url))
    assert no_secret(json.dumps(tracker.get_run(run.id).to_dict()))
    assert all(no_secret(r.getMessage()) for r in all_logs)
    assert tree_has_no_secret(tmp_path) == []
    assert ACCESS_KEY not in database_text(store_url)


def test_a_tampered_s3_blob_is_refused(s3: MotoServer, tmp_path: Path) -> None:
    root = s3.url(f"tamper-{os.urandom(3).hex()}")
    tracker.set_store(tmp_path / "tracker.db", artifacts=root)
    with tracker.start_run() as run:
        ref = run.log_artifact(b"original bytes" * 100, "w.bin")
    assert for_store(get_store()).flush(120)
    prefix = root.split("/", 3)[3]
    put_s3_object(s3, f"{prefix}/{blob_key(ref.digest)}", b"Original bytes" + b"x" * 1386)
    os.environ["TRACKER_SPOOL_DIR"] = str(tmp_path / "fresh")  # no local copy to fall back on
    tracker.set_store(tmp_path / "tracker.db", artifacts=root)
    for as_path in (False, True):
        with pytest.raises(IntegrityError, match=f"artifact 'w.bin' of run {run.id}"):
            tracker.load_artifact(ref, as_path=as_path)  # type: ignore[call-overload]
    assert not list((tmp_path / "fresh" / "artifacts" / "cache").rglob("blobs/*/*"))


def _cli(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", *args],
        env={**os.environ, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


LOG_WHILE_DOWN = """
import sys, tracker
with tracker.start_run(name="offline") as run:
    ref = run.log_artifact(sys.argv[1])
print(run.id, ref.digest)
"""


def test_an_unreachable_root_does_not_stop_logging_and_sync_finishes_it(
    tmp_path: Path, all_logs: list[logging.LogRecord]
) -> None:
    # Given an S3 root that is down, when a process logs an artifact and exits, then the
    # run and its other records are written, the artifact waits in the staging area with
    # its record, and `tracker sync` uploads it and writes the record once S3 is back.
    server = start_or_skip(tmp_path)
    server.stop()
    env = {
        **server.env(),
        "TRACKER_STORE": f"sqlite:///{tmp_path / 'tracker.db'}",
        "TRACKER_SPOOL_DIR": str(tmp_path / "spool"),
        "TRACKER_ARTIFACTS": server.url("team"),
    }
    src = tmp_path / "model.bin"
    src.write_bytes(os.urandom(100_000))
    out = subprocess.run(
        [sys.executable, "-c", LOG_WHILE_DOWN, str(src)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    run_id, digest = out.stdout.split()
    assert "tracker sync" in out.stderr  # it said the root is down and what to do
    assert no_secret(out.stdout + out.stderr)
    pending = list((tmp_path / "spool" / "artifacts" / "pending").glob("*.json"))
    assert len(pending) == 1
    tracker.set_store(tmp_path / "tracker.db")
    assert tracker.get_run(run_id).status.value == "finished"
    assert tracker.get_run(run_id).artifacts == {}  # no record names a blob S3 lacks
    tracker.set_store(None)

    still_down = _cli(tmp_path, env, "sync", "--timeout", "5")
    assert still_down.returncode == 1
    assert "1 still staged" in still_down.stdout
    assert "is unavailable" in still_down.stdout
    assert no_secret(still_down.stdout + still_down.stderr)

    server.start()  # back (an empty server: the bucket is made again)
    try:
        synced = _cli(tmp_path, env, "sync")
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert "uploaded 1 staged artifact(s); 0 still staged" in synced.stdout
        assert s3_object(server, f"team/{blob_key(digest)}") == src.read_bytes()
    finally:
        server.stop()
    tracker.set_store(tmp_path / "tracker.db")
    assert tracker.get_run(run_id).artifacts["model.bin"].digest == digest
    assert list((tmp_path / "spool" / "artifacts" / "pending").glob("*.json")) == []
    assert tree_has_no_secret(tmp_path) == []
    assert all(no_secret(r.getMessage()) for r in all_logs)


def test_the_uploader_retries_until_the_root_answers(tmp_path: Path) -> None:
    server = start_or_skip(tmp_path)
    old = {k: os.environ.get(k) for k in server.env()}
    os.environ.update(server.env())
    try:
        tracker.set_store(tmp_path / "tracker.db", artifacts=server.url("retry"))
        server.stop()
        with tracker.start_run() as run:
            ref = run.log_text("waits for S3", "w.txt")
        artifacts = for_store(get_store())
        assert not artifacts.flush(1.0)  # down: still staged
        assert tracker.load_artifact(ref) == b"waits for S3"  # read from the staged copy
        server.start()
        assert artifacts.flush(180)  # the background thread got it there on its own
        assert tracker.get_run(run.id).artifacts["w.txt"] == ref
    finally:
        server.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_errors_from_a_root_given_credentials_in_code_never_show_them(tmp_path: Path) -> None:
    from .netproxy import free_port

    blobs = FsspecBlobStore(
        "s3://bucket/prefix",
        key=ACCESS_KEY,
        secret=SECRET_KEY,
        client_kwargs={"endpoint_url": f"http://127.0.0.1:{free_port()}", "region_name": "x"},
        config_kwargs={"retries": {"max_attempts": 1}},
    )
    with pytest.raises(StoreUnavailableError, match="artifact root s3://bucket/prefix") as err:
        blobs.exists("ab" * 16)
    assert no_secret(str(err.value))
    assert ACCESS_KEY not in str(err.value)
