"""Jupyter server extension: the tracker's REST API and the prebuilt JupyterLab panel.

The only package that imports tornado and jupyter_server. It reads and writes the
store directly (``open_store(url, queued=False)``) and never imports the kernel-side
modules (``tracker.run``, ``tracker.capture``, ``tracker.tuning``, ``tracker.widgets``):
kernel and server share only the database and the JSON wire schema
(``labext/src/types.ts``).

Installing the package enables the extension (``jupyter-config/`` ships a
``jupyter_server_config.d`` entry for ``tracker.server``) and the panel (the prebuilt
labextension in ``share/jupyter/labextensions/jupyterlab-tracker``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["LABEXTENSION_NAME", "_jupyter_labextension_paths", "_jupyter_server_extension_points"]

#: The npm name of the panel, and its folder under ``share/jupyter/labextensions``.
LABEXTENSION_NAME = "jupyterlab-tracker"


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Tell jupyter_server which application this extension is."""
    from tracker.server.app import TrackerExtension

    return [{"module": "tracker.server", "app": TrackerExtension}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt panel is (used by ``jupyter labextension develop``)."""
    here = Path(__file__).resolve().parent.parent
    return [{"src": str(here / "labextension"), "dest": LABEXTENSION_NAME}]
