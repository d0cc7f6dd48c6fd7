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
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tracker.records import Environment

__all__ = ["capture_environment", "git_state", "hardware_fingerprint", "imported_packages"]

_lock = threading.Lock()
_pkg_cache: tuple[int, dict[str, str]] = (-1, {})


@dataclass(frozen=True, slots=True)
class _Dist:
    name: str  # as its metadata's Name header says (what pip shows)
    version: str
    tops: tuple[str, ...]  # import names it provides


def _name_and_version(path: str) -> tuple[str, str] | None:
    # Core metadata is an RFC 822 header block that starts with Metadata-Version, Name and
    # Version; only the headers are read (a long description can be most of the file).
    name = version = None
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    break  # the end of the headers
                if line.startswith("Name:"):
                    name = line[5:].strip()
                elif line.startswith("Version:"):
                    version = line[8:].strip()
                if name and version:
                    return name, version
    except OSError:
        return None
    return None


def _tops_from_record(record: str) -> set[str]:
    # The first path part of every installed file, as importlib.metadata infers it when a
    # distribution has no top_level.txt, with plain string operations: its pathlib version
    # made this 2-3 s of the first start_run in a large environment (41,000 RECORD lines
    # here; this takes about 25 ms).
    heads = {line.partition("/")[0] for line in record.splitlines()}
    tops = {h for h in heads if h.isidentifier()}  # not "x.dist-info", "numpy.libs", ".."
    tops.update(  # a module at the top: "six.py,sha256=...,123"
        h[: h.index(".py,")] for h in heads if ".py," in h and "/" not in h.split(",", 1)[0]
    )
    tops.discard("__pycache__")
    return {t for t in tops if t.isidentifier()}


def _read_dist(info: str) -> _Dist | None:
    def read(name: str) -> str | None:
        try:
            with open(os.path.join(info, name), encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            return None

    found = _name_and_version(os.path.join(info, "METADATA")) or _name_and_version(
        os.path.join(info, "PKG-INFO")
    )
    if found is None:
        return None
    name, version = found
    declared = read("top_level.txt")
    if declared is not None:
        tops = {t.strip() for t in declared.splitlines() if t.strip().isidentifier()}
    else:
        tops = _tops_from_record(read("RECORD") or read("installed-files.txt") or "")
    return _Dist(name, version, tuple(sorted(tops)))


_dists_lock = threading.Lock()
_dists: dict[str, tuple[tuple[str, str], ...]] | None = None
_prefetching: threading.Thread | None = None


def prefetch() -> None:
    """Start learning what is installed, in a background thread (called at import).

    The scan takes 50-150 ms in a large environment; begun when the run API is imported,
    it is done by the time a script or notebook calls ``start_run``, which then costs
    only the packages imported so far. Nothing waits for it unless it is needed.
    """
    global _prefetching
    with _dists_lock:
        if _dists is not None or _prefetching is not None:
            return
        _prefetching = threading.Thread(
            target=_distributions_by_module, name="tracker-environment", daemon=True
        )
        _prefetching.start()


def _forget_in_child() -> None:
    # A fork copies neither the scanning thread nor a lock it might hold.
    global _dists_lock, _prefetching
    _dists_lock = threading.Lock()
    _prefetching = None


if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_forget_in_child)


def _distributions_by_module() -> dict[str, tuple[tuple[str, str], ...]]:
    """Import name -> ((distribution, version), ...) for everything installed on sys.path.

    The same answer as ``importlib.metadata.packages_distributions()`` plus versions, from
    a directory scan and two small files per distribution; once per process.
    """
    global _dists
    with _dists_lock:  # a call while the prefetch runs waits for its answer
        if _dists is None:
            _dists = _scan_distributions()
        return _dists


def _scan_distributions() -> dict[str, tuple[tuple[str, str], ...]]:
    found: dict[str, list[tuple[str, str]]] = {}
    seen: set[str] = set()
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for fname in names:
            if not fname.endswith((".dist-info", ".egg-info")):
                continue
            dist = _read_dist(os.path.join(entry or ".", fname))
            if dist is None or dist.name.lower() in seen:
                continue  # the first on sys.path wins, as for imports
            seen.add(dist.name.lower())
            for top in dist.tops:
                found.setdefault(top, []).append((dist.name, dist.version))
    return {k: tuple(v) for k, v in found.items()}


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
        for dist, version in by_module.get(mod, ()):
            out[dist] = version
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
