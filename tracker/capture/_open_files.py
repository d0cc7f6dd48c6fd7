"""Files opened for writing in one cell and closed in a later one.

A file a cell writes is hashed after the cell. If the cell leaves the file open
(``fh = open("log.txt", "w")``, written and closed in later cells), its content at the
end of that cell is whatever the buffers happened to flush: a digest nothing will ever
read back. Such a file is instead recorded as an output of the recorded cell that
*closes* it, with the digest of the closed file, so that a cell reading the file later
leads, in its lineage, to that cell (and through the handle's name to the cell that
opened it).

Whether the process still holds a file open for writing is asked of the operating
system: the process's open descriptors (``/proc/self/fd`` on Linux, ``/dev/fd`` and
``F_GETPATH`` on macOS) and their access mode. Elsewhere (Windows) nothing is known
to be open, and a file is hashed at the end of the cell that opened it, as before.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection
from typing import Any

__all__ = ["OpenWrites", "open_for_writing"]

_FD_DIR = "/proc/self/fd" if sys.platform.startswith("linux") else "/dev/fd"
_fcntl: Any
try:
    import fcntl as _fcntl
except ImportError:  # Windows: no way to ask; nothing is known to be open
    _fcntl = None


def open_for_writing(paths: Collection[str]) -> set[str]:
    """Which of ``paths`` (absolute) this process holds open for writing now.

    Only asked after a cell that wrote files (or while files are pending): one look at
    each open descriptor, a fraction of a millisecond for a kernel's hundred or so.
    """
    if not paths or _fcntl is None:
        return set()
    by_real = {os.path.realpath(p): p for p in paths}
    try:
        fds = os.listdir(_FD_DIR)
    except OSError:
        return set()
    found: set[str] = set()
    for entry in fds:
        try:
            fd = int(entry)
            if _fcntl.fcntl(fd, _fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
                continue
            target = _fd_path(fd)
        except (OSError, ValueError):
            continue  # closed meanwhile (listdir's own descriptor), or not a number
        if target in by_real:
            found.add(by_real[target])
    return found


def _fd_path(fd: int) -> str:
    """The path a descriptor is open on."""
    if _FD_DIR == "/proc/self/fd":
        return os.readlink(f"/proc/self/fd/{fd}")
    get_path = getattr(_fcntl, "F_GETPATH", None)
    if get_path is None:
        raise OSError("no way to ask for the path of a descriptor here")
    raw: bytes = _fcntl.fcntl(fd, get_path, bytes(1024))
    return os.fsdecode(raw.split(b"\0", 1)[0])


class OpenWrites:
    """Files left open for writing by recorded cells, until a recorded cell closes them."""

    def __init__(self) -> None:
        self.pending: dict[str, None] = {}

    def settle(self, written: Collection[str]) -> tuple[set[str], list[str]]:
        """After a recorded cell that wrote ``written`` (absolute paths).

        Returns:
            (paths of ``written`` still open: not outputs yet, remembered; paths left
            open by earlier cells and closed now: outputs of this cell).
        """
        if not written and not self.pending:
            return set(), []  # the common case: a cell that wrote no file
        written = list(written)
        still_open = open_for_writing({*written, *self.pending})
        closed = [p for p in self.pending if p not in still_open and p not in written]
        for path in closed:
            del self.pending[path]
        for path in written:
            if path in still_open:
                self.pending[path] = None
            else:
                self.pending.pop(path, None)
        return {p for p in written if p in still_open}, closed

    def forget_closed(self) -> None:
        """After a cell that is not recorded: files it closed are nobody's output."""
        if self.pending:
            still_open = open_for_writing(self.pending)
            self.pending = {p: None for p in self.pending if p in still_open}
