"""The Jupyter server extension application: configuration, state and routes.

Configuration (``jupyter_server_config.py`` or the command line)::

    c.TrackerExtension.store_url = "postgresql://tracker@db.example:5432/tracker"
    c.TrackerExtension.workers = 4

Without ``store_url`` the server uses ``TRACKER_STORE``, else the project default
(``.tracker/tracker.db``) found from the server's root directory, so a server started in
a project shows the runs its notebooks record.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Int, Unicode

from tracker._version import __version__
from tracker.server.analysis import analysis_routes
from tracker.server.handlers import SETTINGS_KEY, routes
from tracker.server.service import StoreHolder, TrackerService

__all__ = ["TrackerExtension"]


class TrackerExtension(ExtensionApp):
    """Serves the tracker's REST API under ``/tracker/api/v1/`` for the side panel."""

    name = "tracker"
    description = "REST API of jupyterlab-tracker: runs, lineage, searches and model cards"
    version = __version__
    load_other_extensions = True

    store_url = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Store URL (sqlite:///path.db or postgresql://user@host/db). "
        "Default: TRACKER_STORE, else .tracker/tracker.db under the project root "
        "that contains the server's root directory.",
    )
    workers = Int(
        4,
        config=True,
        help="Threads that run store queries off the event loop.",
    )

    def initialize_settings(self) -> None:
        """Resolve the store and start the worker pool; both live in ``web_app.settings``."""
        assert self.serverapp is not None
        holder = StoreHolder(self.store_url, self.serverapp.root_dir)
        self._holder = holder
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, self.workers), thread_name_prefix="tracker-api"
        )
        state: dict[str, Any] = {
            "holder": holder,
            "service": TrackerService(holder),
            "executor": self._executor,
        }
        self.settings[SETTINGS_KEY] = state
        self.log.info(
            "tracker API at /tracker/api/v1/ on store %s (from %s)",
            holder.url.redacted(),
            holder.configured_by,
        )

    def initialize_handlers(self) -> None:
        """Register the API routes (the analysis routes before the catch-all 404)."""
        self.handlers.extend(analysis_routes())
        self.handlers.extend(routes())

    async def stop_extension(self) -> None:
        """Finish running queries, then release the store."""
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        holder = getattr(self, "_holder", None)
        if holder is not None:
            holder.close()
