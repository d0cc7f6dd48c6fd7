"""Content hashes of data: arrays, data frames, series, bytes, files and directories.

:func:`hash_data` turns a piece of data into a :class:`~tracker.records.DataRef`: an
xxh3-128 digest of the *full* content (never a sample), plus the shape, dtypes, row
and null counts, and a small profile used to explain differences between versions.

What goes into a digest (``docs/hashing.md`` has the full recipe):

* Arrays: dtype (byte order normalised), shape, and the values in C order as
  little-endian bytes. Views, non-contiguous and Fortran-ordered arrays hash like
  their C-contiguous copy. Every NaN hashes as the canonical quiet NaN, so NaNs
  produced by different CPUs agree; ``-0.0`` and ``0.0`` stay different.
* Data frames and series: row count, column labels in order, the index (a
  ``RangeIndex`` by its first value, step and length), each column's dtype and
  values. Nullable extension arrays hash their NA mask; object columns hash each
  value with a type tag. A value that cannot be hashed deterministically (an
  arbitrary Python object) contributes only its type name and sets ``partial``.
* Bytes and files: the plain xxh3-128 of the bytes, so a file and its content as
  ``bytes`` have the same digest (and it matches ``xxhsum -H2``). A directory hashes
  a sorted manifest of relative paths, sizes and file digests.

Large arrays and frames are hashed in 16 MiB segments on a small thread pool (xxhash
and numpy release the GIL); the digest does not depend on the number of threads.
File digests are cached in-process, keyed by path, device, inode, size, mtime and
ctime, so an unchanged file is never read twice.

The package is split by what is hashed: ``_digest`` (the digest
core: framing, the segment tree, the thread pool), ``_arrays`` (numpy), ``_frames``
(pandas), ``_objects`` (values in object columns), ``_files`` (bytes, files and
directories). This module holds the entry points.

Every function here is thread-safe.
"""

from __future__ import annotations

import os
import sys
from typing import Literal, Protocol

import numpy as np
import xxhash

from tracker.exceptions import HashingError
from tracker.records import DataRef

from ._arrays import _hash_ndarray
from ._digest import _U64, ALGORITHM, SCHEME, _profile_level, _type_name
from ._files import (
    _hash_bytes,
    _hash_path,
    clear_file_cache,
    file_cache_info,
    hash_directory,
    hash_file,
)
from ._frames import _hash_frame, _hash_series

__all__ = [
    "ALGORITHM",
    "SCHEME",
    "StreamHasher",
    "clear_file_cache",
    "content_hasher",
    "file_cache_info",
    "hash_data",
    "hash_directory",
    "hash_file",
    "hash_parts",
    "hash_source",
    "is_hashable_data",
]


def hash_data(obj: object, *, profile: bool | Literal["full"] = True) -> DataRef:
    """Hash a piece of data by its full content.

    Args:
        obj: A numpy ``ndarray``, a pandas ``DataFrame`` or ``Series``, ``bytes``,
            ``bytearray`` or ``memoryview``, or the path of a file or directory as an
            ``os.PathLike`` or a ``str``. A ``str`` is taken as a path and must name an
            existing file or directory; it is never hashed as text (a mistyped path
            would otherwise silently hash the typo). Hash text as ``text.encode()``.
        profile: What summary to compute besides the digest. ``True`` (the default)
            gives what costs (almost) nothing on top of hashing: per-column digests,
            the mean of float and bool columns, min/max/mean of integer columns,
            min/max of datetime columns, file sizes. ``"full"`` adds the exact
            min/max of float columns (two more passes over the data, about 30%
            slower). ``False`` computes no profile: only the identity fields and
            null counts (the profile then holds only ``partial_reason`` when the
            hash is partial).

    Returns:
        A :class:`DataRef` with ``algorithm="xxh3-128"``.

    Raises:
        HashingError: The object's type is not supported (the message names it), a
            path does not exist or cannot be read, or the content cannot be read.
        ValidationError: ``profile`` is not ``True``, ``False`` or ``"full"``.
    """
    level = _profile_level(profile)
    try:
        if isinstance(obj, bytes | bytearray | memoryview):
            return _hash_bytes(obj, profile=level > 0)
        if isinstance(obj, np.ndarray):
            return _hash_ndarray(obj, profile=level, parallel=True)
        if "pandas" in sys.modules:
            import pandas as pd

            if isinstance(obj, pd.DataFrame):
                return _hash_frame(obj, profile=level, parallel=True)
            if isinstance(obj, pd.Series):
                return _hash_series(obj, profile=level, parallel=True)
    except (TypeError, ValueError, RecursionError) as exc:
        # numpy/pandas raise these for exotic inputs; callers only need to catch ours.
        raise HashingError(f"cannot hash {_type_name(obj)}: {exc}") from exc
    if isinstance(obj, str):
        if not os.path.lexists(obj):
            raise HashingError(
                f"hash_data() got the str {obj!r}, which names no existing file or directory "
                f"(relative to {os.getcwd()!r}). A str is always taken as a path; to hash "
                "text, pass text.encode()."
            )
        return _hash_path(obj, profile=level > 0)
    if isinstance(obj, os.PathLike):
        return _hash_path(obj, profile=level > 0)
    raise HashingError(
        f"cannot hash an object of type {_type_name(obj)}: hash_data() takes a numpy "
        "ndarray, a pandas DataFrame or Series, bytes/bytearray/memoryview, or the path "
        "of a file or directory"
    )


def is_hashable_data(obj: object) -> bool:
    """Whether ``obj`` is data-like: a numpy array, a pandas DataFrame or Series.

    Cheap (a few ``isinstance`` checks, no import of pandas); the notebook hook uses
    it to decide which variables to hash.

    Args:
        obj: Any object.

    Returns:
        ``True`` for ``numpy.ndarray`` (and subclasses), ``pandas.DataFrame`` and
        ``pandas.Series``.
    """
    if isinstance(obj, np.ndarray):
        return True
    if "pandas" not in sys.modules:
        return False  # pandas not imported, so obj cannot be a pandas object
    import pandas as pd  # already imported: a dictionary lookup

    return isinstance(obj, pd.DataFrame | pd.Series)


def hash_source(text: str) -> str:
    """Hex xxh3-128 digest of a cell's source text.

    The text is hashed exactly (UTF-8, lone surrogates kept); no whitespace or
    line-ending normalisation.

    Args:
        text: The source.

    Returns:
        32 hex digits.
    """
    return str(xxhash.xxh3_128(text.encode("utf-8", "surrogatepass")).hexdigest())


def hash_parts(*parts: bytes | str) -> str:
    """Hex xxh3-128 of length-prefixed parts, so ``("ab", "c")`` and ``("a", "bc")`` differ.

    Each part (``str`` as UTF-8, lone surrogates kept) is fed as its length (8 bytes,
    little-endian) then its bytes. For digests of small composite keys, such as the
    version of a non-data value; not for data (use :func:`hash_data`).

    Args:
        *parts: The parts, in order.

    Returns:
        32 hex digits.
    """
    h = xxhash.xxh3_128()
    for p in parts:
        b = p.encode("utf-8", "surrogatepass") if isinstance(p, str) else p
        h.update(_U64.pack(len(b)))
        h.update(b)
    return str(h.hexdigest())


class StreamHasher(Protocol):
    """An incremental hash: feed bytes with ``update``, read ``hexdigest`` at the end."""

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        """Feed more bytes."""

    def hexdigest(self) -> str:
        """The digest of everything fed so far, as hex."""


def content_hasher() -> StreamHasher:
    """A streaming xxh3-128 of raw bytes: the digest :func:`hash_data` gives bytes and files.

    For code that hashes content as it moves it (artifacts are hashed while they are
    copied), so its digests equal ``hash_data(path).digest`` and ``xxhsum -H2``.

    Returns:
        A fresh hasher; ``hexdigest()`` gives 32 hex digits.
    """
    hasher: StreamHasher = xxhash.xxh3_128()
    return hasher
