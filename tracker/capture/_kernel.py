"""Where the kernel runs: the notebook's path, the kernel id, the front end.

JupyterLab and Notebook 7 (through jupyter_server's session manager) start kernels
with ``JPY_SESSION_NAME`` set to the notebook's path, and ipykernel copies it into
the user namespace as ``__session__``; the kernel's connection file keeps it as
``jupyter_session``. VS Code sets ``__vsc_ipynb_file__``. ``jupyter execute`` and
nbclient set none of these (the session is named after the kernel then), and a
terminal IPython has no notebook at all.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["KernelInfo", "kernel_info"]

_KERNEL_FILE = re.compile(r"kernel-(?P<id>[0-9a-fA-F-]+)\.json$")


class KernelInfo:
    """What the session run says about its kernel.

    Attributes:
        notebook: The notebook path, when the front end tells it.
        kernel_id: Jupyter's kernel id (``None`` in a terminal).
        frontend: ``"jupyter"`` (a Jupyter kernel) or ``"terminal"``.
        pid: The kernel's process id.
    """

    def __init__(
        self, notebook: str | None, kernel_id: str | None, frontend: str, pid: int
    ) -> None:
        self.notebook = notebook
        self.kernel_id = kernel_id
        self.frontend = frontend
        self.pid = pid

    @property
    def session_name(self) -> str:
        """The notebook's file name without ``.ipynb``, else a name for the kernel."""
        if self.notebook:
            name = Path(self.notebook).name
            return name[: -len(".ipynb")] if name.endswith(".ipynb") else name
        if self.kernel_id:
            return f"kernel-{self.kernel_id[:8]}"
        return "ipython"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (stored in the session run's ``attrs["kernel"]``)."""
        return {
            "notebook": self.notebook,
            "kernel_id": self.kernel_id,
            "frontend": self.frontend,
            "pid": self.pid,
        }


def _connection_file() -> str | None:
    if "ipykernel" not in sys.modules:
        return None
    try:
        from ipykernel.connect import get_connection_file

        return str(get_connection_file())
    except Exception:  # not inside a running kernel (a terminal that imported ipykernel)
        return None


def kernel_info(user_ns: Mapping[str, Any]) -> KernelInfo:
    """Describe the current kernel (see the module docstring for the sources)."""
    notebook = os.environ.get("JPY_SESSION_NAME") or None
    for key in ("__session__", "__vsc_ipynb_file__"):
        if not notebook:
            value = user_ns.get(key)
            notebook = value if isinstance(value, str) and value else None
    connection = _connection_file()
    kernel_id = None
    if connection:
        m = _KERNEL_FILE.search(os.path.basename(connection))
        kernel_id = m.group("id") if m else None
        if not notebook:
            try:
                with open(connection, encoding="utf-8") as fh:
                    session = json.load(fh).get("jupyter_session")
                notebook = session if isinstance(session, str) and session else None
            except (OSError, ValueError):
                pass
    frontend = "jupyter" if connection else "terminal"
    return KernelInfo(notebook, kernel_id, frontend, os.getpid())
