"""Hash while moving: the xxh3-128 and SHA-256 of a byte stream in one pass over it.

Every blob is read once: each buffer is hashed with xxh3-128 (about 19 GB/s here),
handed to a second thread for SHA-256 (about 1.5 GB/s, the slow one; ``hashlib`` releases
the GIL on large buffers), and written out, while the next buffer is read. So copying a
file into the store costs one read, one write and the SHA-256 on the other core, and
verifying a blob costs one read. Buffers are large (8 MiB) so the per-call overhead of
Python stays far below the work.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from tracker.hashing import content_hasher

__all__ = ["BUFFER", "Digests", "hash_bytes", "hash_stream"]

#: Bytes per read/hash/write step.
BUFFER: Final = 8 << 20
# Buffers in flight: one being read and written, the others waiting for SHA-256.
_RING: Final = 4
# Below this many bytes a second thread costs more than it saves.
_THREAD_MIN: Final = 4 << 20


@dataclass(frozen=True, slots=True)
class Digests:
    """What one pass over some bytes found.

    Attributes:
        xxh3: xxh3-128, 32 hex digits (the blob's name; equal to ``hash_data``'s digest).
        sha256: SHA-256, 64 hex digits (what a blob is checked against).
        size: Number of bytes.
    """

    xxh3: str
    sha256: str
    size: int

    def as_dict(self) -> dict[str, str]:
        """``{"xxh3-128": ..., "sha256": ...}`` (how errors show them)."""
        return {"xxh3-128": self.xxh3, "sha256": self.sha256}


# Rings of buffers kept between calls: allocating (and zeroing) 32 MiB costs ~25 ms,
# which is a tenth of logging a 100 MB file. At most two are kept (two concurrent loggers).
_rings_lock = threading.Lock()
_rings: list[list[bytearray]] = []


def _take_ring() -> list[bytearray]:
    with _rings_lock:
        if _rings:
            return _rings.pop()
    return [bytearray(BUFFER) for _ in range(_RING)]


def _give_ring(ring: list[bytearray]) -> None:
    with _rings_lock:
        if len(_rings) < 2:
            _rings.append(ring)


def hash_bytes(data: bytes | bytearray | memoryview) -> Digests:
    """Both digests of bytes in memory (SHA-256 on a second thread when they are large)."""
    view = memoryview(data).cast("B")
    x = content_hasher()
    sha = hashlib.sha256()
    if len(view) < _THREAD_MIN:
        x.update(view)
        sha.update(view)
    else:
        worker = threading.Thread(target=sha.update, args=(view,), name="tracker-sha256")
        worker.start()
        x.update(view)
        worker.join()
    return Digests(x.hexdigest(), sha.hexdigest(), len(view))


def hash_stream(
    read_into: Callable[[memoryview], int | None],
    write: Callable[[memoryview], object] | None = None,
    *,
    size_hint: int | None = None,
) -> Digests:
    """Read a stream to its end, hashing every byte and passing it on to ``write``.

    Args:
        read_into: Fills the buffer it gets and returns how many bytes it put there
            (0 or ``None`` at the end), like ``RawIOBase.readinto``.
        write: Receives each chunk, in order, before its buffer is reused; it must
            consume or copy the bytes. ``None`` only hashes (verification).
        size_hint: Expected size; small inputs are hashed on this thread alone.

    Returns:
        The digests and the byte count.
    """
    if size_hint is not None and size_hint < _THREAD_MIN:
        return _hash_inline(read_into, write, min(BUFFER, max(size_hint, 1) + 1))
    x = content_hasher()
    sha = hashlib.sha256()
    ring = _take_ring()
    free: queue.SimpleQueue[int] = queue.SimpleQueue()
    todo: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
    for i in range(_RING):
        free.put(i)
    failure: list[BaseException] = []

    def sha_worker() -> None:
        while (item := todo.get()) is not None:
            i, n = item
            try:
                if not failure:
                    sha.update(memoryview(ring[i])[:n])
            except BaseException as exc:  # reported on the calling thread
                failure.append(exc)
            free.put(i)

    worker = threading.Thread(target=sha_worker, name="tracker-sha256", daemon=True)
    worker.start()
    size = 0
    try:
        while True:
            i = free.get()
            view = memoryview(ring[i])
            n = read_into(view) or 0
            if n == 0:
                break
            chunk = view[:n]
            todo.put((i, n))
            x.update(chunk)
            if write is not None:
                write(chunk)
            size += n
    finally:
        todo.put(None)
        worker.join()
        _give_ring(ring)
    if failure:
        raise failure[0]
    return Digests(x.hexdigest(), sha.hexdigest(), size)


def _hash_inline(
    read_into: Callable[[memoryview], int | None],
    write: Callable[[memoryview], object] | None,
    buffer: int,
) -> Digests:
    x = content_hasher()
    sha = hashlib.sha256()
    view = memoryview(bytearray(buffer))
    size = 0
    while n := read_into(view) or 0:
        chunk = view[:n]
        x.update(chunk)
        sha.update(chunk)
        if write is not None:
            write(chunk)
        size += n
    return Digests(x.hexdigest(), sha.hexdigest(), size)
