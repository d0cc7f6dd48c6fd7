"""One blob store contract suite, run on the local root and on an S3-protocol server.

Given each implementation of :class:`tracker.store.artifacts.BlobStore` (the fast local
directory, and fsspec's S3 filesystem against moto's server on loopback), when bytes,
files and streams are stored, read, listed, verified and deleted, then both behave the
same: named by the xxh3-128 of the bytes (equal to ``hash_data``'s digest), SHA-256 equal
to ``hashlib``'s, stored once, never visible half-written, and checked on read.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tracker.exceptions import ArtifactNotFoundError, IntegrityError, ValidationError
from tracker.hashing import hash_data
from tracker.store.artifacts import BlobStore, LocalBlobStore, blob_key, open_blob_store

from .s3_server import MotoServer, start_or_skip


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = start_or_skip(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["local", "s3"])
def blobs(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "root")
    server: MotoServer = request.getfixturevalue("moto")
    for k, v in server.env().items():
        monkeypatch.setenv(k, v)
    return open_blob_store(server.url(f"contract-{os.urandom(4).hex()}"))


def payload(n: int, seed: int = 0) -> bytes:
    return bytes((i * 31 + seed) % 251 for i in range(n))


@pytest.mark.parametrize(
    "size", [0, 1, 5_000, 9 * (1 << 20) + 7], ids=["empty", "1B", "5KB", "9MB"]
)
def test_put_bytes_names_the_blob_by_its_content(blobs: BlobStore, size: int) -> None:
    data = payload(size)
    info = blobs.put_bytes(data)
    assert info.digest == hash_data(data).digest  # the digest trace looks files up by
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert (info.size, info.created) == (size, True)
    assert blobs.exists(info.digest)
    with blobs.open(info.digest) as fh:
        assert fh.read() == data
    assert blobs.verify(info.digest, info.sha256, "x").size == size


def test_the_same_content_is_stored_once(blobs: BlobStore, tmp_path: Path) -> None:
    data = payload(100_000, 1)
    first = blobs.put_bytes(data)
    again = blobs.put_bytes(data)
    src = tmp_path / "same.bin"
    src.write_bytes(data)
    from_file = blobs.put_file(src)
    stream = io.BytesIO(data)
    from_stream = blobs.put_stream(stream.readinto)
    assert first.created
    assert not again.created
    assert not from_file.created
    assert not from_stream.created
    assert {first.digest, again.digest, from_file.digest, from_stream.digest} == {first.digest}
    assert [b.digest for b in blobs.list()] == [first.digest]


def test_put_file_and_stream_hash_in_the_same_pass(blobs: BlobStore, tmp_path: Path) -> None:
    data = payload(12 * (1 << 20) + 3, 2)  # several 8 MiB buffers, an odd tail
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    info = blobs.put_file(src)
    assert info.digest == hash_data(src).digest
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    listed = {b.digest: b.size for b in blobs.list()}
    assert listed == {info.digest: len(data)}
    # A file changed in place (same path) is read again, not taken from the stat cache.
    src.write_bytes(data[:-1] + b"!")
    changed = blobs.put_file(src)
    assert changed.digest != info.digest
    assert changed.created


def test_verify_names_the_artifact_and_both_digests(blobs: BlobStore) -> None:
    info = blobs.put_bytes(b"the model weights")
    wrong_sha = "0" * 64
    with pytest.raises(IntegrityError) as err:
        blobs.verify(info.digest, wrong_sha, "artifact 'model.bin' of run r1")
    msg = str(err.value)
    assert "artifact 'model.bin' of run r1" in msg
    assert wrong_sha in msg
    assert info.sha256 in msg
    assert info.digest in msg
    assert err.value.expected == {"xxh3-128": info.digest, "sha256": wrong_sha}
    assert err.value.actual == {"xxh3-128": info.digest, "sha256": info.sha256}


def test_a_missing_blob_is_a_clear_error(blobs: BlobStore) -> None:
    digest = "ab" * 16
    assert not blobs.exists(digest)
    with pytest.raises(ArtifactNotFoundError, match=f"blob {digest} is not in the artifact root"):
        blobs.open(digest)
    blobs.delete(digest)  # deleting what is missing is not an error


def test_delete_removes_only_that_blob(blobs: BlobStore) -> None:
    a, b = blobs.put_bytes(b"a" * 10), blobs.put_bytes(b"b" * 10)
    blobs.delete(a.digest)
    assert not blobs.exists(a.digest)
    assert blobs.exists(b.digest)
    assert [s.digest for s in blobs.list()] == [b.digest]


def test_store_known_uploads_a_staged_file(blobs: BlobStore, tmp_path: Path) -> None:
    data = payload(3000, 3)
    src = tmp_path / "staged"
    src.write_bytes(data)
    digest = hash_data(data).digest
    assert blobs.store_known(src, digest) is True
    assert blobs.store_known(src, digest) is False
    blobs.verify(digest, hashlib.sha256(data).hexdigest(), "staged")


@pytest.mark.parametrize(
    "digest", ["../../etc/passwd", "AB" * 16, "ab" * 15, "ab" * 16 + "/x", ""], ids=str
)
def test_no_path_is_made_from_anything_but_a_hex_digest(blobs: BlobStore, digest: str) -> None:
    with pytest.raises(ValidationError, match="32 lowercase hex digits"):
        blob_key(digest)
    with pytest.raises(ValidationError):
        blobs.exists(digest)


def test_a_failed_write_leaves_nothing_behind(blobs: BlobStore) -> None:
    def failing_reader(buf: memoryview) -> int:
        raise OSError("the source disappeared")

    with pytest.raises(Exception, match=r"disappeared|unavailable"):
        blobs.put_stream(failing_reader)
    assert list(blobs.list()) == []
    if isinstance(blobs, LocalBlobStore):
        assert list((blobs.root / "tmp").iterdir()) == []


def test_local_blobs_are_read_only_files(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "root")
    info = blobs.put_bytes(b"x" * 100)
    path = blobs.local_path(info.digest)
    assert path == tmp_path / "root" / blob_key(info.digest)
    assert path is not None
    assert (path.stat().st_mode & 0o222) == 0  # no write bit for anyone


def test_content_stored_before_is_not_copied_again_from_another_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a large file stored once, when a copy of it at another path (another process
    # would do the same: the probe is on disk) is stored, then it is hashed, not written.
    blobs = LocalBlobStore(tmp_path / "root")
    data = payload(17 << 20, 4)
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    first.write_bytes(data)
    second.write_bytes(data)
    info = blobs.put_file(first)

    def no_copy(*args: object, **kwargs: object) -> None:
        raise AssertionError("the content was copied again")

    monkeypatch.setattr(blobs, "put_stream", no_copy)
    again = LocalBlobStore(tmp_path / "root")  # a fresh object: nothing cached in memory
    monkeypatch.setattr(again, "put_stream", no_copy)
    assert again.put_file(second) == type(info)(info.digest, info.sha256, info.size, False)
    # A different file with the same size and first MiB is copied (the probe was wrong).
    third = tmp_path / "c.bin"
    third.write_bytes(data[:-1] + b"\xff")
    other = LocalBlobStore(tmp_path / "root").put_file(third)
    assert other.created
    assert other.digest == hash_data(third).digest


def test_a_size_hint_larger_than_the_content_leaves_no_padding(tmp_path: Path) -> None:
    # The local store reserves size_hint bytes up front; a source that turns out shorter
    # (a file truncated while it was read) must not leave zeros in the blob.
    blobs = LocalBlobStore(tmp_path / "root")
    stream = io.BytesIO(b"short content")
    info = blobs.put_stream(stream.readinto, size_hint=1 << 20)
    path = blobs.local_path(info.digest)
    assert path is not None
    assert path.read_bytes() == b"short content"
    assert info.digest == hash_data(b"short content").digest


def test_a_file_changed_while_the_kernel_copies_it_is_copied_again(tmp_path: Path) -> None:
    # The local store hashes what it reads and lets the kernel copy the same region; a
    # file written meanwhile (ctime moves) must not leave a blob that differs from its
    # digest: it is copied again through Python, which writes exactly what it hashed.
    src = tmp_path / "moving.bin"
    src.write_bytes(payload(1 << 20, 5))
    meddled = []

    class Meddling(io.FileIO):
        def readinto(self, buf: Any) -> int:
            n = super().readinto(buf) or 0
            if not meddled:
                meddled.append(True)
                with open(self.name, "r+b") as w:  # after the region was read and hashed
                    w.write(b"Z")
            return n

    blobs = LocalBlobStore(tmp_path / "root")
    with Meddling(src, "rb") as fh:
        info = blobs._copy_file(fh, src.stat().st_size)
    assert meddled
    path = blobs.local_path(info.digest)
    assert path is not None
    assert hash_data(path).digest == info.digest
    assert path.read_bytes() == src.read_bytes()
    assert [b.digest for b in blobs.list()] == [info.digest]
