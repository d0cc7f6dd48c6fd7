"""Files a cell opens by path: hashed as inputs when read, as outputs when written.

Python raises the ``open`` audit event (PEP 578) for ``open()``, ``io.open``,
``os.open`` and everything built on them: ``pandas.read_csv`` and the other text
readers, ``numpy.load``, ``numpy.loadtxt``, ``pickle``/``joblib`` files, writers such
as ``DataFrame.to_csv`` and ``numpy.save``. One audit hook, installed once per
process, notes those paths while a tracked cell runs and does nothing otherwise (one
string comparison and one global lookup per event).

Readers that open files in native code and so raise no event (``pandas.read_parquet``,
``read_feather``, ``read_orc`` and the matching ``DataFrame.to_*`` writers, which go
through pyarrow) are wrapped while tracking is on: before a tracked cell if pandas is
imported, else as soon as a cell imports it.

A file read is hashed when it is opened, so the record has it as it was before the
cell could change it; a file written is hashed after the cell (a file the cell leaves
open for writing: after the cell that closes it, see ``_open_files``). Files that are not
the user's data are ignored: Python's own files and installed packages, compiled
modules, Jupyter's and IPython's runtime files, the tracker's store and spool, and
``/proc``, ``/sys``, ``/dev``, ``/etc``, ``/usr``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.abc
import importlib.util
import os
import site
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from tracker.records import DataRef

__all__ = ["FileLog", "install_audit_hook", "patch_native_readers", "unpatch_native_readers"]

#: At most this many distinct files are hashed per cell (a loop over a folder of images
#: must not hash a million files); the rest are counted in ``FileLog.skipped``.
MAX_FILES_PER_CELL = 256
_SKIP_SUFFIXES = (".py", ".pyc", ".pyo", ".pyd", ".so", ".pth", ".dylib", ".dll", ".whl")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


class FileLog:
    """The files one cell opened.

    Attributes:
        inputs: Display name (``./data/x.csv`` or an absolute path) to the file's
            :class:`DataRef` at its first opening for reading.
        written: Absolute paths opened for writing (hashed by :meth:`outputs`).
        skipped: Files not hashed because the per-cell limit was reached.
        errors: Messages of hashing failures (unreadable files...).
    """

    def __init__(self, excluded: tuple[str, ...]) -> None:
        self._cwd: str | None = None
        self.excluded = excluded
        self.inputs: dict[str, DataRef] = {}
        self.written: dict[str, None] = {}
        self.seen: set[str] = set()
        self.skipped = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()

    @property
    def cwd(self) -> str:
        """The working directory, looked up at the first open (most cells open nothing)."""
        if self._cwd is None:
            self._cwd = os.getcwd()
        return self._cwd

    def display_name(self, path: str) -> str:
        """``./relative/path`` inside the working directory, else the absolute path.

        The leading ``./`` keeps file names apart from variable names in a record.
        """
        try:
            rel = os.path.relpath(path, self.cwd)
        except ValueError:
            return path
        if rel.startswith(".."):
            return path
        return "./" + rel.replace(os.sep, "/")

    def _interesting(self, path: str) -> bool:
        if path.endswith(_SKIP_SUFFIXES):
            return False
        return not any(path == p or path.startswith(p + os.sep) for p in self.excluded)

    def opened(self, target: Any, mode: Any, flags: Any) -> None:
        """An ``open`` audit event (or a wrapped native reader/writer)."""
        if isinstance(target, int):
            return  # a file descriptor: no path to speak of
        try:
            raw = os.fsdecode(target)
        except TypeError:
            return
        path = os.path.abspath(raw)  # relative to the working directory at this moment
        if not self._interesting(path):
            return
        if isinstance(flags, int):
            write = bool(flags & _WRITE_FLAGS)
            read = (flags & os.O_ACCMODE) in (os.O_RDONLY, os.O_RDWR)
        else:
            m = mode if isinstance(mode, str) else "r"
            write = any(c in m for c in "wax+")
            read = "r" in m or "+" in m
        with self._lock:
            if write:
                self.written.setdefault(path, None)
            if not read or path in self.seen or path in self.written:
                return
            if len(self.seen) >= MAX_FILES_PER_CELL:
                self.skipped += 1
                return
            self.seen.add(path)
        ref = self._hash(path)
        if ref is not None:
            with self._lock:
                self.inputs.setdefault(self.display_name(path), ref)

    def _hash(self, path: str) -> DataRef | None:
        try:
            st = os.stat(path)
        except OSError:
            return None  # the open is about to fail: the user will hear about it
        if not stat.S_ISREG(st.st_mode):
            return None
        from tracker.hashing import hash_file

        _guard.active = True
        try:
            return hash_file(path, profile=False)
        except Exception as exc:  # unreadable, vanished: the cell must go on
            self.errors.append(f"could not hash {path}: {exc}")
            return None
        finally:
            _guard.active = False

    def outputs(
        self, still_open: Collection[str] = (), closed: Iterable[str] = ()
    ) -> dict[str, DataRef]:
        """Hash the files written during the cell (call after the cell).

        Args:
            still_open: Written files still open for writing: not hashed (see
                ``_open_files``: the cell that closes them will be).
            closed: Files earlier cells left open and this cell closed: hashed too.
        """
        out: dict[str, DataRef] = {}
        if not self.written and not closed:
            return out  # the common case: a cell that wrote no file
        paths = [p for p in self.written if p not in still_open]
        paths += [p for p in closed if p not in self.written]
        for path in paths[:MAX_FILES_PER_CELL]:
            ref = self._hash(path)
            if ref is not None:
                out[self.display_name(path)] = ref
        return out


# --- the audit hook -------------------------------------------------------------------------

_current: FileLog | None = None
_guard = threading.local()
_installed = False
_install_lock = threading.Lock()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audit event in the process: keep the common path to two checks.
    if event != "open" or _current is None:
        return
    log = _current
    if getattr(_guard, "active", False) or len(args) < 3:
        return
    _guard.active = True
    try:
        log.opened(args[0], args[1], args[2])
    except Exception:  # an audit hook that raises would fail the user's open()
        pass
    finally:
        _guard.active = False


def install_audit_hook() -> None:
    """Install the process-wide hook (once; audit hooks cannot be removed)."""
    global _installed
    with _install_lock:
        if not _installed:
            sys.addaudithook(_audit)
            _installed = True


def begin(log: FileLog) -> None:
    """Record opens into ``log`` until :func:`end`."""
    global _current
    _current = log


def end() -> None:
    """Stop recording opens."""
    global _current
    _current = None


def excluded_prefixes(extra: Iterable[str | os.PathLike[str] | None] = ()) -> tuple[str, ...]:
    """Directories whose files are never the user's data."""
    dirs: list[str] = [sys.prefix, sys.base_prefix, sys.exec_prefix]
    with contextlib.suppress(AttributeError):  # some virtualenvs lack it
        dirs.extend(site.getsitepackages())
    user_site = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    if isinstance(user_site, str):
        dirs.append(user_site)
    dirs.extend(p for p in sys.path if p and ("site-packages" in p or "dist-packages" in p))
    home = Path.home()
    dirs.extend(str(home / d) for d in (".cache", ".config", ".local/share/jupyter", ".ipython"))
    dirs.extend(["/proc", "/sys", "/dev", "/etc", "/usr", "/run"])
    tmp = tempfile.gettempdir()
    with contextlib.suppress(OSError):
        dirs.extend(str(p) for p in Path(tmp).glob("ipykernel_*"))
    try:
        from jupyter_core.paths import jupyter_config_dir, jupyter_data_dir, jupyter_runtime_dir

        dirs.extend([jupyter_runtime_dir(), jupyter_data_dir(), jupyter_config_dir()])
    except Exception:  # jupyter_core is optional in a plain IPython terminal
        pass
    dirs.extend(os.fspath(p) for p in extra if p)
    out = []
    for d in dirs:
        try:
            out.append(os.path.normpath(os.path.abspath(d)))
        except (TypeError, ValueError):
            continue
    return tuple(sorted(set(out), key=len))


# --- native readers and writers ---------------------------------------------------------------

_WRAPPED_READERS = ("read_parquet", "read_feather", "read_orc")
_WRAPPED_WRITERS = ("to_parquet", "to_feather", "to_orc")
_originals: dict[tuple[object, str], Callable[..., Any]] = {}


def _path_arg(args: tuple[Any, ...], kwargs: dict[str, Any], *names: str) -> Any:
    if args:
        return args[0]
    for n in names:
        if n in kwargs:
            return kwargs[n]
    return None


def _reader(orig: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(orig)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        log = _current
        if log is not None:
            target = _path_arg(args, kwargs, "path")
            if isinstance(target, str | bytes | os.PathLike):
                with contextlib.suppress(Exception):  # recording must never fail the read
                    log.opened(target, "r", None)
        return orig(*args, **kwargs)

    wrapper.__tracker_original__ = orig  # type: ignore[attr-defined]
    return wrapper


def _writer(orig: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(orig)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        log = _current
        if log is not None:
            target = _path_arg(args, kwargs, "path")
            if isinstance(target, str | bytes | os.PathLike):
                with contextlib.suppress(Exception):  # recording must never fail the write
                    log.opened(target, "w", None)
        return orig(self, *args, **kwargs)

    wrapper.__tracker_original__ = orig  # type: ignore[attr-defined]
    return wrapper


class _PatchWhenImported(importlib.abc.MetaPathFinder):
    """Wraps pandas' native readers and writers as soon as ``import pandas`` completes.

    Without it, a cell that imports pandas and writes a parquet file (``import pandas as pd;
    df.to_parquet(...)``) would write it unseen: the wrappers are otherwise put in before
    the next tracked cell. Consulted only for modules not imported yet (one comparison),
    and removed once pandas is in.
    """

    def __init__(self) -> None:
        self._finding = False

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "pandas" or self._finding:
            return None
        self._finding = True
        try:  # the spec the other finders give; we only wrap its loader
            spec = importlib.util.find_spec(fullname)
        except Exception:
            return None
        finally:
            self._finding = False
        loader = getattr(spec, "loader", None)
        exec_module = getattr(loader, "exec_module", None)
        if spec is None or exec_module is None:
            return None

        def exec_then_patch(module: Any) -> None:
            exec_module(module)
            _remove_import_hook()
            with contextlib.suppress(Exception):  # wrapping must never fail the import
                patch_native_readers()

        loader.exec_module = exec_then_patch  # type: ignore[union-attr]
        return spec


_import_hook: _PatchWhenImported | None = None


def _remove_import_hook() -> None:
    global _import_hook
    hook, _import_hook = _import_hook, None
    if hook is not None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(hook)


def patch_native_readers() -> bool:
    """Wrap pandas' pyarrow-based readers and writers (if pandas is imported).

    When pandas is not imported yet, an import hook wraps them as soon as it is (so a
    cell that imports pandas and writes parquet in one go is seen).

    Returns:
        Whether pandas was there to patch.
    """
    global _import_hook
    pd = sys.modules.get("pandas")
    if pd is None:
        if _import_hook is None:
            _import_hook = _PatchWhenImported()
            sys.meta_path.insert(0, _import_hook)
        return False
    if not hasattr(pd, "DataFrame"):
        return False
    for name in _WRAPPED_READERS:
        fn = getattr(pd, name, None)
        if fn is not None and (pd, name) not in _originals:
            _originals[(pd, name)] = fn
            setattr(pd, name, _reader(fn))
    for name in _WRAPPED_WRITERS:
        fn = pd.DataFrame.__dict__.get(name)
        if fn is not None and (pd.DataFrame, name) not in _originals:
            _originals[(pd.DataFrame, name)] = fn
            setattr(pd.DataFrame, name, _writer(fn))
    return True


def unpatch_native_readers() -> None:
    """Put the original readers and writers back (and drop the import hook)."""
    _remove_import_hook()
    for (owner, name), fn in list(_originals.items()):
        setattr(owner, name, fn)
    _originals.clear()
