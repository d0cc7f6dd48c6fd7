"""Capture the environment a run ran in.

What is slow to learn (the map from import names to distributions, the git state,
the CPU model) is computed once per process and cached; what changes during a
session (which packages have been imported) is recomputed cheaply, and only when
``sys.modules`` has grown since the last call.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import sys
import threading
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from tracker.records import Environment

__all__ = ["capture_environment", "git_state", "hardware_fingerprint", "imported_packages"]

_lock = threading.Lock()
_pkg_cache: tuple[int, dict[str, str]] = (-1, {})


@cache
def _distributions_by_module() -> dict[str, tuple[str, ...]]:
    # packages_distributions() walks every installed distribution (~50 ms); once is enough.
    return {k: tuple(v) for k, v in metadata.packages_distributions().items()}


@cache
def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def imported_packages() -> dict[str, str]:
    """Distribution name to version for every installed distribution imported so far."""
    global _pkg_cache
    n = len(sys.modules)
    with _lock:
        if _pkg_cache[0] == n:
            return dict(_pkg_cache[1])
    by_module = _distributions_by_module()
    top = {name.partition(".")[0] for name in list(sys.modules)}
    out: dict[str, str] = {}
    for mod in top:
        for dist in by_module.get(mod, ()):
            v = _version(dist)
            if v is not None:
                out[dist] = v
    result = dict(sorted(out.items(), key=lambda kv: kv[0].lower()))
    with _lock:
        _pkg_cache = (n, result)
    return dict(result)


def git_state(path: Path | None = None) -> tuple[str | None, bool | None, str | None]:
    """Commit, dirty flag and root of the git repository enclosing ``path``.

    Returns ``(None, None, None)`` outside a repository or without git.
    """
    # os.getcwd() is one cheap syscall; resolving happens once per directory, in the cache.
    return _git_state(os.fspath(path) if path is not None else os.getcwd())


@cache
def _git_state(path: str) -> tuple[str | None, bool | None, str | None]:
    path = str(Path(path).resolve())

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args],
                cwd=path,
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    root = git("rev-parse", "--show-toplevel")
    if root is None:
        return None, None, None
    commit = git("rev-parse", "HEAD")  # None in a repository without commits
    status = git("status", "--porcelain", "--untracked-files=no")
    dirty = None if status is None else bool(status)
    return commit, dirty, root


@cache
def hardware_fingerprint() -> dict[str, Any]:
    """CPU model, logical cores and total memory: what latency figures depend on."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb: float | None = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "machine": platform.machine(),
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "memory_gb": mem_gb,
    }


@cache
def _static() -> tuple[str, str, str, str]:
    return (
        platform.python_version(),
        platform.python_implementation(),
        platform.platform(),
        socket.gethostname(),
    )


def capture_environment(cwd: Path | None = None) -> Environment:
    """Describe the current process: Python, platform, host, imported packages, git, hardware."""
    python, impl, plat, host = _static()
    commit, dirty, root = git_state(cwd)
    return Environment(
        python=python,
        implementation=impl,
        platform=plat,
        hostname=host,
        packages=imported_packages(),
        git_commit=commit,
        git_dirty=dirty,
        git_root=root,
        hardware=hardware_fingerprint(),
    )
