"""Notebook capture: ``%track`` magics and per-cell records (the only package importing IPython).

``%load_ext tracker`` calls :func:`load_ipython_extension`, which registers the
``%track``/``%%track`` magics, the ``pre_run_cell``/``post_run_cell`` hooks and the
input transformer that runs ``%%track`` cells as ordinary code. The hooks cost
nothing until ``%track on`` (or a ``%%track`` cell). See ``docs/notebook.md``.

Importing this package does not import IPython; loading the extension does.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.records import Run

    from ._recorder import Capture

__all__ = ["current_capture", "load_ipython_extension", "session_run", "unload_ipython_extension"]

_lock = threading.Lock()
_capture: Capture | None = None
_registered: dict[str, Any] = {}


def current_capture() -> Capture | None:
    """The :class:`~tracker.capture._recorder.Capture` of this process, once loaded."""
    return _capture


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics, the cell hooks and the ``%%track`` transformer (idempotent).

    Args:
        ipython: The IPython shell (``get_ipython()``).
    """
    global _capture
    from tracker import run as run_api

    from ._recorder import Capture
    from .magics import TrackMagics, track_cell_transformer

    with _lock:
        if _capture is not None and _capture.shell is ipython:
            return
        if _capture is not None:
            _unload(_capture.shell)
        capture = Capture(ipython)
        magics = TrackMagics(ipython, capture)
        ipython.register_magics(magics)
        ipython.events.register("pre_run_cell", capture.pre_run_cell)
        ipython.events.register("post_run_cell", capture.post_run_cell)
        ipython.input_transformers_cleanup.append(track_cell_transformer)
        run_api.add_log_listener(capture.on_log)
        _registered.update(transformer=track_cell_transformer, listener=capture.on_log)
        _register_card_magics(ipython)
        if hasattr(ipython, "observe"):
            ipython.observe(_on_shell_exit, names="exit_now")
        _capture = capture


#: How long a kernel asked to shut down waits for its records to reach the database. Its
#: kernel manager sends SIGTERM 2.5 s after the request (jupyter_client's default); what
#: is not written by then is in the spool, and the next process replays it.
SHUTDOWN_DRAIN_S = 1.5


def _on_shell_exit(change: Any) -> None:
    """The shell is about to exit: end the session run ``finished`` and write the records.

    ``exit_now`` turns true on a kernel shutdown (or restart) request and on ``exit()``.
    This cannot wait for ``atexit``: ipykernel first stops the kernel's child processes,
    and with joblib/loky workers (``n_jobs=-1``) that takes about 4.4 s, because their
    resource trackers ignore SIGTERM until ipykernel's backoff reaches SIGKILL. The kernel
    manager's SIGTERM arrives first and ends the kernel without ``atexit``, so the session
    would be found ``interrupted``.
    """
    from tracker import run as run_api

    if not change.get("new"):
        return
    try:
        capture = _capture
        if capture is not None:
            capture.close()
        run_api.prepare_exit(SHUTDOWN_DRAIN_S)
    except Exception:  # the shell is going away: nothing may raise into its shutdown
        logging.getLogger("tracker").warning(
            "tracker: could not end the session at kernel shutdown", exc_info=True
        )


def _register_card_magics(ipython: Any) -> None:
    """The model-card engineer's ``%card`` magic, when that module is installed."""
    try:
        module = importlib.import_module("tracker.capture.card_magic")
    except ImportError:
        return
    cls = getattr(module, "CardMagics", None)
    if cls is not None:
        ipython.register_magics(cls)


def unload_ipython_extension(ipython: Any) -> None:
    """Undo :func:`load_ipython_extension`: stop tracking, end the session run, unhook."""
    with _lock:
        _unload(ipython)


def _unload(ipython: Any) -> None:
    global _capture
    from tracker import run as run_api

    from . import _files

    capture = _capture
    if capture is None or capture.shell is not ipython:
        return
    for event, fn in (
        ("pre_run_cell", capture.pre_run_cell),
        ("post_run_cell", capture.post_run_cell),
    ):
        with contextlib.suppress(ValueError):  # already unregistered
            ipython.events.unregister(event, fn)
    if hasattr(ipython, "unobserve"):
        with contextlib.suppress(ValueError):
            ipython.unobserve(_on_shell_exit, names="exit_now")
    transformer = _registered.get("transformer")
    if transformer in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(transformer)
    run_api.remove_log_listener(capture.on_log)
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("track", None)
    if capture.sklearn is not None and capture.sklearn.active:
        capture.sklearn.disable()
    _files.end()
    _files.unpatch_native_readers()
    capture.close()
    _capture = None


def session_run() -> Run | None:
    """The current kernel session run (read back from the store), or ``None``.

    There is a session run once ``%track on`` (or a ``%%track`` cell) ran in this
    kernel; outside IPython, or before that, this returns ``None``.
    """
    capture = _capture
    session = capture.session if capture is not None else None
    if session is None:
        return None
    return session.info()
