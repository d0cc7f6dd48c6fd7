"""Headless Debian Chromium driven over the DevTools protocol, for browser checks in pytest.

Chromium starts with the project's flags (docs: TOOLCHAIN) and a fresh profile, listens
for DevTools on a free port it reports on stderr, and is driven through one page target
with ``websocket-client`` (a jupyter_server dependency). Every host but 127.0.0.1 resolves
to nothing, so a page that names another host fails at once instead of waiting on a
network this machine does not have. Without Chromium the caller skips, except under CI
(``CI=true``), where it fails.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("TRACKER_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


def require_chromium() -> None:
    """Skip (or, in CI, fail) when Chromium is not installed."""
    if os.access(CHROMIUM, os.X_OK):
        return
    reason = f"{CHROMIUM} is missing: apt-get install chromium to run the browser tests"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI must run the browser tests: {reason}")
    pytest.skip(reason)


class BrowserError(RuntimeError):
    """Chromium did not start, or a DevTools command failed."""


class Chromium:
    """One headless Chromium process with one page, driven over DevTools.

    Args:
        profile: A fresh directory for ``--user-data-dir``.
        timeout: Seconds any single wait may take (generous: the machine is shared).
    """

    def __init__(self, profile: Path, timeout: float = 60.0) -> None:
        import websocket  # jupyter_server's dependency

        self.timeout = timeout
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []
        self._stderr: list[str] = []
        lines: queue.Queue[str] = queue.Queue()
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                *FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

        def drain() -> None:  # keep reading, or a full pipe would stall Chromium
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self._stderr.append(line)
                lines.put(line)

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()
        url = self._devtools_url(lines)
        self._ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send(
            "Target.attachToTarget",
            {"targetId": target["targetId"], "flatten": True},
            session=False,
        )
        self._session = attached["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")
        # A headless page is not focused by default; autofocus and focus events need it.
        self.send("Emulation.setFocusEmulationEnabled", {"enabled": True})

    def _devtools_url(self, lines: queue.Queue[str]) -> str:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if m := _LISTENING.search(line):
                return m.group(1)
        self.close()
        raise BrowserError(f"Chromium did not start: {''.join(self._stderr)[-2000:]}")

    def send(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = True
    ) -> Any:
        """Send one DevTools command and return its result (events are kept for later)."""
        msg_id = next(self._ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self._session
        self._ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self._ws.recv())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def wait_event(self, method: str) -> dict[str, Any]:
        """The next event named ``method`` (kept ones first)."""
        deadline = time.monotonic() + self.timeout
        while True:
            for i, ev in enumerate(self._events):
                if ev["method"] == method:
                    return self._events.pop(i)
            if time.monotonic() > deadline:
                raise BrowserError(f"no {method} event within {self.timeout} s")
            self._ws.settimeout(max(0.1, deadline - time.monotonic()))
            reply = json.loads(self._ws.recv())
            if "method" in reply:
                self._events.append(reply)

    def open(self, url: str) -> None:
        """Navigate to ``url`` and wait for its load event."""
        self._events = [e for e in self._events if e["method"] != "Page.loadEventFired"]
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"cannot open {url}: {result['errorText']}")
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` in the page (promises are awaited)."""
        result = self.send(
            "Runtime.evaluate",
            {
                "expression": expression,
                "returnByValue": True,
                "awaitPromise": True,
                "timeout": self.timeout * 1000,
            },
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        """Close the connection and end the process (only this one)."""
        with contextlib.suppress(Exception):
            self._ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._drain.join(timeout=self.timeout)  # ends at EOF, once the process is gone
        if self.proc.stderr is not None:
            self.proc.stderr.close()
