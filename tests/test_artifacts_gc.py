"""``tracker gc``: blobs no record references are listed (dry run) and deleted with --yes.

Given an artifact root holding referenced blobs, files of a logged directory, a blob only a
registry-like referrer keeps, young unreferenced blobs and old ones, when gc runs, then it
lists only the old unreferenced ones and what they would free, deletes them with --yes,
and never deletes a blob that a record or a concurrent logger names.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tracker
from tracker.cli import main
from tracker.records import now
from tracker.store import BaseStore, get_store
from tracker.store.artifacts import (
    LocalBlobStore,
    add_referrer,
    blob_key,
    collect_garbage,
    for_store,
)
from tracker.store.artifacts import _gc as gc_module
from tracker.store.ops import LogArtifact, artifact_row_id

DAY = 24 * 3600


def use_store(url: str, tmp_path: Path) -> Path:
    if url.startswith("postgresql"):
        tracker.set_store(url, artifacts=tmp_path / "team-root")
    else:
        tracker.set_store(url)
    spec = for_store(get_store()).root()
    assert spec is not None
    return Path(spec.url)


def orphan(root: Path, data: bytes, age_s: float) -> str:
    """A blob no record names, last modified ``age_s`` ago."""
    info = LocalBlobStore(root).put_bytes(data)
    path = root / blob_key(info.digest)
    old = time.time() - age_s
    os.utime(path, (old, old))
    return info.digest


def blobs_in(root: Path) -> set[str]:
    return {p.name for p in (root / "blobs").glob("*/*")}


@pytest.fixture
def referrers() -> Iterator[list[object]]:
    added: list[object] = []
    yield added
    for fn in added:
        gc_module._referrers.remove(fn)  # type: ignore[arg-type]


def test_gc_lists_then_deletes_only_old_unreferenced_blobs(
    store_url: str, tmp_path: Path, referrers: list[object]
) -> None:
    root = use_store(store_url, tmp_path)
    src = tmp_path / "ckpt"
    src.mkdir()
    (src / "w.bin").write_bytes(b"weights" * 100)
    with tracker.start_run() as run:
        kept_file = run.log_text("keep me", "keep.txt")
        kept_dir = run.log_artifact(src)
    old_orphan = orphan(root, b"nobody logged this", 2 * DAY)
    young_orphan = orphan(root, b"logged a minute ago, record still on its way", 60)
    registry_only = orphan(root, b"a registry keeps this", 2 * DAY)

    def registry(store: BaseStore) -> list[str]:
        return [registry_only]

    add_referrer(registry)
    referrers.append(registry)
    (root / "tmp").mkdir(exist_ok=True)
    stale_tmp = root / "tmp" / "dead-writer.part"
    stale_tmp.write_bytes(b"half")
    os.utime(stale_tmp, (time.time() - 2 * DAY,) * 2)

    artifacts = for_store(get_store())
    report = collect_garbage(artifacts)
    assert [b.digest for b in report.garbage] == [old_orphan]
    assert report.garbage_bytes == len(b"nobody logged this")
    assert (report.blobs, report.referenced, report.young) == (6, 4, 1)
    assert report.temporaries == [str(stale_tmp)]
    assert old_orphan in blobs_in(root)  # a dry run deletes nothing
    assert stale_tmp.exists()

    report = collect_garbage(artifacts, delete=True)
    assert report.deleted == 1
    assert old_orphan not in blobs_in(root)
    assert not stale_tmp.exists()
    assert {young_orphan, registry_only, kept_file.digest, kept_dir.digest} <= blobs_in(root)
    assert tracker.load_artifact(kept_dir, as_path=True).joinpath("w.bin").is_file()


def test_a_blob_logged_again_is_not_collected(tmp_path: Path) -> None:
    # A concurrent logger storing content gc is about to collect resets the blob's time
    # (local roots), so its grace period starts again.
    root = use_store(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path)
    digest = orphan(root, b"about to be collected", 2 * DAY)
    with tracker.start_run() as run:
        run.log_artifact(b"about to be collected", "again.bin")
    # Stored again, not copied again: the existing blob's time was reset instead.
    assert (root / blob_key(digest)).stat().st_mtime > time.time() - 3600
    report = collect_garbage(for_store(get_store()), delete=True)
    assert report.deleted == 0
    assert digest in blobs_in(root)


def test_a_record_that_lands_during_gc_saves_its_blob(
    tmp_path: Path, referrers: list[object]
) -> None:
    # Given an old blob no record names when gc reads the references, when another client's
    # record of it lands before the deletion, then gc sees it on its last check and keeps it.
    root = use_store(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path)
    with tracker.start_run() as run:
        pass
    digest = orphan(root, b"late record", 2 * DAY)
    sha = hashlib.sha256(b"late record").hexdigest()

    def late_writer(store: BaseStore) -> list[str]:
        ts = now()
        op = LogArtifact(
            artifact_row_id(run.id, "late.bin", digest, ts),
            run.id,
            "late.bin",
            digest,
            sha,
            11,
            "application/octet-stream",
            "bytes",
            ts,
        )
        store.write([op])
        return []

    add_referrer(late_writer)
    referrers.append(late_writer)
    report = collect_garbage(for_store(get_store()), delete=True)
    assert report.deleted == 0
    assert digest in blobs_in(root)
    assert tracker.load_artifact(f"runs:/{run.id}/late.bin") == b"late record"


def test_the_gc_command_is_a_dry_run_unless_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    root = use_store(url, tmp_path)
    with tracker.start_run() as run:
        run.log_text("kept", "kept.txt")
    digest = orphan(root, b"x" * 2500, 2 * DAY)
    tracker.set_store(None)
    assert main(["--store", url, "gc"]) == 0
    out = capsys.readouterr().out
    assert f"artifact root {root}: 2 blob(s), 1 referenced" in out
    assert digest in out
    assert "would free 2.5 KB in 1 blob(s); run `tracker gc --yes` to delete them" in out
    assert digest in blobs_in(root)
    assert main(["--store", url, "gc", "--yes"]) == 0
    assert "freed 2.5 KB in 1 blob(s)" in capsys.readouterr().out
    assert digest not in blobs_in(root)
    # --grace 0: even a blob stored a moment ago is garbage when nothing names it.
    fresh = orphan(root, b"fresh", 0)
    assert main(["--store", url, "gc", "--grace", "0", "--yes"]) == 0
    assert fresh not in blobs_in(root)


def test_gc_without_a_root_is_a_clear_error(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--store", pg_url, "gc"]) == 2
    assert "has no artifact root" in capsys.readouterr().err
