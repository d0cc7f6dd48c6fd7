"""Artifacts through the run API, on SQLite and PostgreSQL: log, list, load, tamper, bad input.

Given a run, when files, bytes, text, directories and figures are logged, then each is
stored once by content in the artifact root, listed on the run with name, size, digest
and media type, and loaded back only after both digests match; a changed byte raises
``IntegrityError`` naming the artifact and the digests, a missing blob says what to copy,
and bad input is refused before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

import tracker
from tracker.exceptions import (
    ArtifactNotFoundError,
    ConfigError,
    IntegrityError,
    TrackerError,
    ValidationError,
)
from tracker.hashing import hash_data
from tracker.store import get_store
from tracker.store.artifacts import LocalBlobStore, blob_key, for_store


def use_store(url: str, tmp_path: Path) -> Path:
    """Use ``url``; return its artifact root (PostgreSQL has no default: give one)."""
    if url.startswith("postgresql"):
        tracker.set_store(url, artifacts=tmp_path / "team-root")
    else:
        tracker.set_store(url)
    spec = for_store(get_store()).root()
    assert spec is not None
    return Path(spec.url)


def blob_path(root: Path, digest: str) -> Path:
    return root / blob_key(digest)


def all_blobs(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "blobs").glob("*/*")) if root.exists() else []


def test_files_bytes_and_text_are_listed_on_the_run_and_load_back(
    store_url: str, tmp_path: Path
) -> None:
    root = use_store(store_url, tmp_path)
    model = tmp_path / "model.bin"
    model.write_bytes(os.urandom(300_000))
    with tracker.start_run(name="with artifacts") as run:
        a = run.log_artifact(model)
        b = run.log_artifact(b"\x00\x01raw", "raw.bin")
        c = run.log_text("# Notes\nfine", "notes.md")
        d = tracker.log_text('{"k": 1}', "config.json")  # the module-level call
    stored = tracker.get_run(run.id).artifacts
    assert set(stored) == {"model.bin", "raw.bin", "notes.md", "config.json"}
    assert stored["model.bin"] == a
    assert (a.size, a.media_type, a.kind) == (300_000, "application/octet-stream", "file")
    assert a.digest == hash_data(model).digest
    assert a.sha256 == hashlib.sha256(model.read_bytes()).hexdigest()
    assert (b.kind, c.media_type, d.media_type) == ("bytes", "text/markdown", "application/json")
    assert a.uri == f"runs:/{run.id}/model.bin"
    assert tracker.load_artifact(a) == model.read_bytes()
    assert tracker.load_artifact(f"runs:/{run.id}/notes.md") == b"# Notes\nfine"
    path = tracker.load_artifact(b.uri, as_path=True)
    assert path == blob_path(root, b.digest)
    assert path.read_bytes() == b"\x00\x01raw"
    assert all_blobs(root) == sorted({a.digest, b.digest, c.digest, d.digest})
    # The run's JSON (what `tracker show` and the API send) lists them too.
    listed = run.info().to_dict()["artifacts"]
    assert listed["raw.bin"]["digest"] == b.digest
    assert listed["raw.bin"]["size"] == 5


def test_the_same_content_is_stored_once_however_many_runs_log_it(
    store_url: str, tmp_path: Path
) -> None:
    root = use_store(store_url, tmp_path)
    src = tmp_path / "weights.npy"
    src.write_bytes(os.urandom(50_000))
    copy = tmp_path / "copy-of-weights.npy"
    copy.write_bytes(src.read_bytes())
    refs = []
    for i in range(3):
        with tracker.start_run(name=f"r{i}") as run:
            refs.append(run.log_artifact(src if i < 2 else copy, "weights.npy"))
    assert len({r.digest for r in refs}) == 1
    assert all_blobs(root) == [refs[0].digest]
    assert len(get_store().artifacts(digests=[refs[0].digest])) == 3  # three records


def test_logging_a_name_again_keeps_the_history(tmp_path: Path) -> None:
    use_store(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path)
    with tracker.start_run() as run:
        first = run.log_text("v1", "notes.txt")
        run.log_text("v2", "notes.txt")
        run.log_text("v1", "notes.txt")  # back to the first content: a third record
    assert tracker.load_artifact(f"runs:/{run.id}/notes.txt") == b"v1"
    history = get_store().artifacts(run_id=run.id, name="notes.txt")
    assert [tracker.load_artifact(h) for h in history] == [b"v1", b"v2", b"v1"]
    assert history[0] == first


def test_a_changed_byte_raises_integrity_error_naming_the_artifact_and_digests(
    store_url: str, tmp_path: Path
) -> None:
    root = use_store(store_url, tmp_path)
    with tracker.start_run() as run:
        ref = run.log_artifact(b"precious model bytes" * 1000, "model.bin")
    blob = blob_path(root, ref.digest)
    os.chmod(blob, stat.S_IWUSR | stat.S_IRUSR)
    data = bytearray(blob.read_bytes())
    data[5] ^= 0x01
    blob.write_bytes(bytes(data))
    for as_path in (False, True):
        with pytest.raises(IntegrityError) as err:
            tracker.load_artifact(ref.uri, as_path=as_path)  # type: ignore[call-overload]
        msg = str(err.value)
        assert f"artifact 'model.bin' of run {run.id}" in msg
        assert ref.digest in msg
        assert ref.sha256 in msg
        assert hash_data(bytes(data)).digest in msg
        assert hashlib.sha256(bytes(data)).hexdigest() in msg
        assert "Log the artifact again" in msg


def test_a_missing_blob_says_what_to_copy(tmp_path: Path) -> None:
    root = use_store(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path)
    with tracker.start_run() as run:
        ref = run.log_text("hello", "hello.txt")
    blob_path(root, ref.digest).unlink()
    with pytest.raises(ArtifactNotFoundError, match="copy the artifact root along with"):
        tracker.load_artifact(ref)
    with pytest.raises(ArtifactNotFoundError, match=r"no artifact named 'nope'.*hello\.txt"):
        tracker.load_artifact(f"runs:/{run.id}/nope")
    with pytest.raises(ValidationError, match="runs:/<run_id>/<name>"):
        tracker.load_artifact("models:/x")


def test_a_directory_is_stored_file_by_file_and_loads_as_a_directory(
    store_url: str, tmp_path: Path
) -> None:
    root = use_store(store_url, tmp_path)
    src = tmp_path / "ckpt"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.bin").write_bytes(b"\x00" * 1000)
    (src / "same.txt").write_text("alpha")  # same content as a.txt: one blob
    (src / "link.txt").symlink_to(src / "a.txt")
    with tracker.start_run() as run:
        ref = run.log_artifact(src)
    assert (ref.name, ref.kind, ref.size, ref.meta) == ("ckpt", "directory", 1015, {"files": 4})
    assert len(all_blobs(root)) == 3  # alpha, the zeros, the manifest
    out = tracker.load_artifact(ref, as_path=True)
    got = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert got == {
        "a.txt": b"alpha",
        "same.txt": b"alpha",
        "link.txt": b"alpha",
        "sub/b.bin": b"\x00" * 1000,
    }
    with pytest.raises(ValidationError, match="as_path=True"):
        tracker.load_artifact(ref)
    # A file changed in the returned directory is caught the next time it is loaded.
    os.chmod(out / "a.txt", 0o644)
    (out / "a.txt").write_text("tampered")
    with pytest.raises(IntegrityError, match=r"file 'a\.txt'"):
        tracker.load_artifact(ref, as_path=True)


def test_matplotlib_and_plotly_figures(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go
    import plotly.io as pio

    use_store(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path)
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [3, 1, 2])
    pfig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    with tracker.start_run() as run:
        png = run.log_figure(fig, "loss")
        svg = run.log_figure(ax, "loss.svg")
        again = run.log_figure(fig, "loss-again.svg")
        pjson = tracker.log_figure(pfig, "front")
        phtml = run.log_figure(pfig, "front.html")
        with pytest.raises(ValidationError, match="matplotlib Figure or Axes or a plotly Figure"):
            run.log_figure({"not": "a figure"}, "x.png")
        with pytest.raises(ValidationError, match="cannot save a matplotlib figure as 'gif'"):
            run.log_figure(fig, "x.gif")
    plt.close(fig)
    assert (png.name, png.media_type, png.kind) == ("loss.png", "image/png", "figure")
    assert tracker.load_artifact(png).startswith(b"\x89PNG")
    assert svg.media_type == "image/svg+xml"
    assert again.digest == svg.digest  # no date in the file: the same figure, the same bytes
    assert (pjson.name, pjson.media_type) == ("front.json", "application/vnd.plotly.v1+json")
    assert pio.from_json(tracker.load_artifact(pjson).decode()).data[0].y == (3, 4)
    assert phtml.media_type == "text/html"
    assert b"<html>" in tracker.load_artifact(phtml)


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda r, p: r.log_artifact(p / "missing.bin"), "no file or directory at"),
        (lambda r, p: r.log_artifact("notes as text"), "to log text, use log_text"),
        (lambda r, p: r.log_artifact(b"abc"), "logging bytes needs a name"),
        (lambda r, p: r.log_artifact(b"abc", "  "), "must not be empty or blank"),
        (lambda r, p: r.log_artifact(b"abc", "x" * 501), "the limit is 500"),
        (lambda r, p: r.log_artifact(b"abc", "a\x00b"), "NUL"),
        (lambda r, p: r.log_artifact(object(), "o"), "save the object to a file first"),
        (lambda r, p: r.log_artifact(b"abc", "a", media_type="png"), "type/subtype"),
        (lambda r, p: r.log_text(b"bytes", "t.txt"), "takes a str"),
    ],
    ids=["missing", "str-text", "no-name", "blank", "long", "nul", "object", "media", "text"],
)
def test_bad_input_is_refused_before_anything_is_written(
    tmp_path: Path, call: object, needle: str
) -> None:
    root = use_store(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path)
    with tracker.start_run() as run, pytest.raises(ValidationError, match=needle):
        call(run, tmp_path)  # type: ignore[operator]
    assert all_blobs(root) == []
    assert tracker.get_run(run.id).artifacts == {}


def test_an_ended_run_refuses_artifacts(tmp_path: Path) -> None:
    root = use_store(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path)
    run = tracker.start_run()
    run.end()
    with pytest.raises(TrackerError, match="has ended"):
        run.log_text("late", "late.txt")
    with pytest.raises(tracker.NoActiveRunError):
        tracker.log_artifact(b"x", "x")
    assert all_blobs(root) == []


def test_the_root_is_recorded_in_the_database_for_every_client(
    store_url: str, tmp_path: Path
) -> None:
    team_root = tmp_path / "shared-root"
    tracker.set_store(store_url, artifacts=team_root)
    with tracker.start_run() as run:
        ref = run.log_text("shared", "s.txt")
    tracker.set_store(store_url)  # a second client: no root given
    spec = for_store(get_store()).root()
    assert spec is not None
    assert (spec.url, spec.source) == (str(team_root), "store")
    assert tracker.load_artifact(ref) == b"shared"
    assert blob_path(team_root, ref.digest).is_file()


def test_postgres_without_a_root_says_how_to_set_one(pg_url: str) -> None:
    tracker.set_store(pg_url)
    with (
        tracker.start_run() as run,
        pytest.raises(ConfigError, match="TRACKER_ARTIFACTS=s3://bucket/prefix"),
    ):
        run.log_text("x", "x.txt")


@pytest.mark.parametrize(
    "root",
    [
        "s3://AKIAXYZ:s3cret-K3y@bucket/prefix",
        "s3://bucket/prefix?secret=s3cret-K3y",
        "gs://bucket/p?token=s3cret-K3y",
    ],
    ids=["userinfo", "secret", "token"],
)
def test_a_root_with_a_credential_is_refused_without_showing_it(root: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="carries a credential") as err:
        tracker.set_store(f"sqlite:///{tmp_path / 'x.db'}", artifacts=root)
    assert "s3cret-K3y" not in str(err.value)


def test_default_roots_are_beside_the_sqlite_file_and_never_shared(tmp_path: Path) -> None:
    tracker.set_store(tmp_path / "tracker.db")
    spec = for_store(get_store()).root()
    assert spec is not None
    assert spec.url == str(tmp_path / "artifacts")
    tracker.set_store(tmp_path / "other.db")
    spec = for_store(get_store()).root()
    assert spec is not None
    assert spec.url == str(tmp_path / "other-artifacts")


def test_the_environment_variable_wins_over_the_recorded_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_ARTIFACTS", str(tmp_path / "from-env"))
    use_store(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path)
    with tracker.start_run() as run:
        ref = run.log_text("e", "e.txt")
    assert blob_path(tmp_path / "from-env", ref.digest).is_file()
    assert get_store().get_setting("artifacts.root") == str(tmp_path / "from-env")


def test_an_archive_carries_artifact_records_not_blobs(tmp_path: Path) -> None:
    root = use_store(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path)
    with tracker.start_run() as run:
        run.log_text("one", "n.txt")
        ref = run.log_text("two", "n.txt")
    archive = tmp_path / "runs.json"
    from tracker.store import export_runs, import_runs

    export_runs(get_store(), archive)
    doc = json.loads(archive.read_text())
    (saved,) = doc["runs"].values()
    assert [a["name"] for a in saved["artifacts"]] == ["n.txt", "n.txt"]
    assert b"two" not in archive.read_bytes()  # records only: no bytes
    # Into a store that shares the root: loads. Twice: nothing changes.
    tracker.set_store(tmp_path / "other.db", artifacts=root)
    import_runs(get_store(), archive)
    import_runs(get_store(), archive)
    assert len(get_store().artifacts(run_id=run.id)) == 2
    assert tracker.load_artifact(f"runs:/{run.id}/n.txt") == b"two"
    assert tracker.get_run(run.id).artifacts["n.txt"] == ref
    # Into a store with its own, empty root: the record is there, the bytes are not.
    tracker.set_store(tmp_path / "third.db")
    import_runs(get_store(), archive)
    with pytest.raises(ArtifactNotFoundError, match="an archive carries records, not blobs"):
        tracker.load_artifact(ref)


def test_a_stale_blob_store_write_leaves_no_half_blob(tmp_path: Path) -> None:
    # Given a source that fails halfway through the copy, when it is logged, then neither
    # a blob nor a record exists afterwards, and the root's tmp/ holds nothing.
    root = use_store(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path)
    blobs = LocalBlobStore(root)
    calls = 0

    def flaky(buf: memoryview) -> int:
        nonlocal calls
        calls += 1
        if calls > 2:
            raise OSError(5, "Input/output error")
        buf[:1000] = b"x" * 1000
        return 1000

    with pytest.raises(TrackerError, match="could not be written"):
        blobs.put_stream(flaky)
    assert all_blobs(root) == []
    assert list((root / "tmp").iterdir()) == []


def test_an_unreachable_local_root_stages_and_catches_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a shared-path root that cannot be written (here a file stands where the
    # directory should be), when an artifact is logged, then logging goes on: the blob is
    # staged, the run gets no record yet, and once the root is writable the background
    # upload stores it and writes the record.
    blocked = tmp_path / "mnt" / "shared"
    blocked.parent.mkdir()
    blocked.write_text("not a directory")
    tracker.set_store(tmp_path / "tracker.db", artifacts=blocked)
    with tracker.start_run() as run:
        ref = run.log_text("waits for the share", "w.txt")
        run.log_metrics({"still": 1.0})
    artifacts = for_store(get_store())
    assert not artifacts.flush(0.5)
    assert tracker.get_run(run.id).artifacts == {}
    assert tracker.get_run(run.id).metrics == {"still": 1.0}
    assert tracker.load_artifact(ref) == b"waits for the share"  # the staged copy
    assert "tracker sync" in caplog.text
    blocked.unlink()  # the share is back
    assert artifacts.flush(120)
    assert tracker.get_run(run.id).artifacts == {"w.txt": ref}
    assert blob_path(blocked, ref.digest).read_bytes() == b"waits for the share"


def test_threads_logging_at_once_each_get_their_artifacts(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    root = use_store(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path)
    big = [os.urandom(6 << 20) for _ in range(2)]  # large enough for the threaded hashing

    def log(i: int) -> tracker.ArtifactRef:
        with tracker.start_run(name=f"t{i}", parent=None) as run:
            return run.log_artifact(big[i % 2], f"blob-{i}.bin")

    with ThreadPoolExecutor(4) as pool:
        refs = list(pool.map(log, range(8)))
    assert len({r.digest for r in refs}) == 2
    assert all_blobs(root) == sorted({r.digest for r in refs})
    for i, ref in enumerate(refs):
        assert tracker.load_artifact(ref) == big[i % 2]
        assert tracker.get_run(ref.run_id).artifacts[f"blob-{i}.bin"] == ref


def test_import_tracker_loads_no_blob_store() -> None:
    # fsspec (and the artifact package) load with the first artifact, not with tracker.
    import subprocess
    import sys

    names = ("fsspec", "s3fs", "tracker.store.artifacts")
    code = f"import sys, tracker; print(sorted(m for m in {names!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
