"""Liveness locks: a lock held by a live process and released by the OS when it dies.

The spool and the file of refused records prove a writer alive by a lock it holds on a
*sidecar* file (``<token>.lock`` beside ``<token>.spool``): if another process can take the
lock, its holder is dead, so whatever it left may be replayed. The lock itself comes from
:func:`filelock.lock_descriptor` (the ``filelock`` package that tox, virtualenv, PyTorch
and Hugging Face rely on), taken on a descriptor this module opens and keeps:

* **Linux, macOS and other POSIX systems**: ``flock(2)`` on the whole file. It belongs to
  the open file description, so the kernel releases it when the process dies, even by
  ``SIGKILL``. A forked child shares the parent's description: closing the child's copy
  leaves the parent's lock held, unlocking it would not (children only close).
* **Windows**: ``LockFileEx`` on byte 0. It belongs to the handle and Windows releases it
  when the process ends. It is mandatory (other handles cannot read a locked byte) and an
  open file cannot be renamed or deleted there, which is why the lock lives in a sidecar
  and never on a file someone must read, rename or delete while it is held.
* **No OS lock** (``fcntl`` missing, or a file system without ``flock``, such as some
  network mounts): :func:`try_lock` answers ``None`` and callers judge liveness by the
  process id written in their file's header (:func:`pid_alive`). A reused process id
  only keeps a dead writer's records waiting longer; it never makes a live writer look
  dead.

Why not ``filelock.FileLock``: where ``flock`` is missing it falls back to
``SoftFileLock``, whose lock is a file that exists while held. A killed process leaves
that file behind, so "the lock can be taken" would stop meaning "the writer died":
the dead-writer detection would break, silently. Taking the native lock on our own
descriptor keeps that meaning, or says plainly (``None``) that this system cannot tell.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path

__all__ = ["OPEN_FLAGS", "close_lock", "open_lock", "pid_alive", "try_lock", "wait_lock"]

log = logging.getLogger("tracker")

#: Flags for every descriptor the spool opens: binary on Windows (no newline translation),
#: closed on exec where the OS has the flag (Python already makes them non-inheritable).
OPEN_FLAGS = getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)

_warned = False


def _no_os_lock(exc: OSError) -> None:
    global _warned
    if not _warned:
        _warned = True
        log.info(
            "tracker: no file lock on this system (%s); dead writers are found by process id",
            exc,
        )


@cache
def _lock_descriptor() -> Callable[..., bool]:
    # Imported on first use (~5 ms): the first spool pays for it, not ``import tracker``.
    # Without fcntl filelock warns that "only soft file lock is available": we never use
    # its soft locks (see the module docstring), so that warning would only mislead.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "only soft file lock", UserWarning)
        from filelock import lock_descriptor
    return lock_descriptor


def open_lock(path: Path, *, create: bool) -> int:
    """A descriptor on the lock file ``path`` (created if ``create``; never truncated).

    Raises:
        FileNotFoundError: ``path`` does not exist and ``create`` is false.
        OSError: it could not be opened.
    """
    flags = os.O_RDWR | OPEN_FLAGS | (os.O_CREAT if create else 0)
    return os.open(path, flags, 0o600)


def try_lock(fd: int) -> bool | None:
    """Take the exclusive lock of ``fd`` without waiting.

    Returns:
        ``True`` if this descriptor holds it now, ``False`` if another holder has it,
        ``None`` if this system offers no lock for that file (see the module docstring).
    """
    try:
        return _lock_descriptor()(fd, blocking=False)
    except OSError as exc:  # ENOSYS without fcntl, ENOLCK/EOPNOTSUPP on some mounts
        _no_os_lock(exc)
        return None


def wait_lock(fd: int) -> bool:
    """Wait for the exclusive lock of ``fd``; ``False`` if this system offers none."""
    try:
        return _lock_descriptor()(fd, blocking=True, poll_interval=0.01)
    except OSError as exc:
        _no_os_lock(exc)
        return False


def close_lock(fd: int, path: Path | None = None) -> None:
    """Release the lock by closing ``fd``; remove the lock file ``path`` if given.

    The file goes while still held where the OS allows it (POSIX), so nobody takes a lock
    on a file about to vanish; Windows refuses to delete an open file, so there it goes
    right after the close, if nobody else has opened it meanwhile.
    """
    removed = path is None
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
            removed = True
    os.close(fd)
    if not removed and path is not None:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` runs on this machine (``True`` when unsure).

    Only consulted where no OS lock exists; answering "alive" when unsure keeps a dead
    writer's records waiting, never replays a live writer's.
    """
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True


if sys.platform == "win32":

    def _windows_pid_alive(pid: int) -> bool:
        # os.kill(pid, 0) would *terminate* the process on Windows: ask the kernel instead.
        import ctypes
        from ctypes import wintypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.OpenProcess.restype = wintypes.HANDLE
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() == 5  # ERROR_ACCESS_DENIED: it exists
        try:
            code = wintypes.DWORD()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return True
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
