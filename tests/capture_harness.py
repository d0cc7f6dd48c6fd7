"""Real IPython kernels for the capture tests.

:func:`run_notebook` executes a notebook with nbclient (what ``jupyter execute`` does).
:class:`Kernel` talks to a kernel the way JupyterLab does: each execute request carries
the cell's id in its metadata (``cellId``), which nbclient does not send; it can also
kill the kernel process outright.
"""

from __future__ import annotations

import os
import queue
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parent / "notebooks"


def kernel_env(**extra: str) -> dict[str, str]:
    """The test's environment (its store and spool, from conftest) plus ``extra``."""
    env = dict(os.environ)
    env.pop("JPY_SESSION_NAME", None)
    env.update(extra)
    return env


def run_notebook(
    name: str, workdir: Path, *, env: Mapping[str, str] | None = None, timeout: int = 120
) -> nbformat.NotebookNode:
    """Execute ``tests/notebooks/<name>`` in ``workdir`` with nbclient; return it executed."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute(env=dict(env) if env is not None else kernel_env())
    return nb


def outputs_text(cell: Any) -> str:
    """Everything a cell printed or displayed, as text."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
            parts.extend(out.get("traceback", []))
        else:
            parts.append(str(out.get("data", {}).get("text/plain", "")))
    return "".join(parts)


def errors(cell: Any) -> list[Any]:
    """The error outputs of a cell."""
    return [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]


@dataclass
class Reply:
    """What one execute request produced."""

    status: str
    execution_count: int | None
    stdout: str = ""
    stderr: str = ""
    data: list[dict[str, Any]] = field(default_factory=list)
    ename: str | None = None
    evalue: str | None = None
    traceback: list[str] = field(default_factory=list)


class Kernel:
    """A kernel driven like JupyterLab drives it (see the module docstring)."""

    def __init__(self, cwd: Path, env: Mapping[str, str] | None = None) -> None:
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=dict(env) if env is not None else kernel_env(), cwd=str(cwd))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    @property
    def pid(self) -> int:
        provisioner = self.km.provisioner
        assert provisioner is not None
        return int(provisioner.process.pid)  # type: ignore[attr-defined]

    def send(self, code: str, cell_id: str | None = None) -> str:
        """Send an execute request without waiting; return its message id."""
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": False,
        }
        metadata = {"cellId": cell_id} if cell_id else {}
        msg = self.kc.session.msg("execute_request", content, metadata=metadata)
        self.kc.shell_channel.send(msg)
        return str(msg["header"]["msg_id"])

    def run(self, code: str, cell_id: str | None = None, timeout: float = 60) -> Reply:
        """Execute ``code`` and collect its outputs until the kernel is idle again."""
        msg_id = self.send(code, cell_id)
        return self.collect(msg_id, timeout)

    def collect(self, msg_id: str, timeout: float = 60) -> Reply:
        deadline = time.monotonic() + timeout
        reply: dict[str, Any] | None = None
        stdout: list[str] = []
        stderr: list[str] = []
        data: list[dict[str, Any]] = []
        error: dict[str, Any] = {}
        idle = False
        while not (idle and reply is not None):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no reply to {msg_id} within {timeout} s")
            if reply is None:
                try:
                    msg = self.kc.get_shell_msg(timeout=0.05)
                    if msg["parent_header"].get("msg_id") == msg_id:
                        reply = msg["content"]
                except queue.Empty:
                    pass
            try:
                msg = self.kc.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                (stdout if content["name"] == "stdout" else stderr).append(content["text"])
            elif kind in ("execute_result", "display_data"):
                data.append(content["data"])
            elif kind == "error":
                error = content
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        return Reply(
            status=str(reply.get("status")),
            execution_count=reply.get("execution_count"),
            stdout="".join(stdout),
            stderr="".join(stderr),
            data=data,
            ename=error.get("ename"),
            evalue=error.get("evalue"),
            traceback=list(error.get("traceback", [])),
        )

    def kill(self) -> None:
        """SIGKILL the kernel process (no atexit, no flush: like the OOM killer)."""
        os.kill(self.pid, signal.SIGKILL)
        self.km.provisioner.process.wait(timeout=30)  # type: ignore[union-attr]

    def shutdown(self) -> None:
        self.kc.stop_channels()
        if self.km.is_alive():
            self.km.shutdown_kernel(now=False)
        else:
            self.km.cleanup_resources()

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
