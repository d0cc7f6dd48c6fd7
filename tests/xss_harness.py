"""The browser harness of the XSS corpus test: pages, controls, the audit, the verdict.

A page is an emitter's HTML with no CSP, a recorder script first (``__xss``, ``alert``
and writes to ``document.title`` are recorded, not run) and trusted control handlers
last. :func:`render` loads it in Chromium and runs ``xss_audit.js``; :func:`check` turns
the result into a list of problems (empty: inert, and every expected field shown). Used
by ``tests/test_security_xss.py``.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .chromium import Chromium

HARNESS = """<script data-harness>
(function () {
  var ran = [];
  window.__ran = ran;
  window.__control = {};
  window.__xss = function (id) { ran.push('__xss(' + id + ')'); };
  window.alert = window.confirm = window.prompt = function (x) { ran.push('alert(' + x + ')'); };
  var title = Object.getOwnPropertyDescriptor(Document.prototype, 'title');
  Object.defineProperty(document, 'title', {
    get: function () { return title.get.call(document); },
    set: function (x) { ran.push('document.title=' + x); }
  });
})();
</script>"""

# Handlers of each kind a payload uses, trusted, after the fragment: when they have all
# fired, the payloads' handlers had their chance too. If a fragment left an element open
# (a <textarea>, a <title>...), they never fire and the test says so.
CONTROLS = """<div data-control>
<img data-control src="/__control-missing.png" onerror="__control.img=1" alt="">
<svg data-control width="1" height="1" onload="__control.svg=1"></svg>
<details data-control open ontoggle="__control.toggle=1"><summary>c</summary></details>
<style data-control>@keyframes __k{from{opacity:.9}to{opacity:1}}</style>
<b data-control style="animation:__k 1ms" onanimationstart="__control.anim=1">c</b>
<input data-control autofocus onfocus="__control.focus=1">
</div>"""
CONTROL_KINDS = ["img", "svg", "toggle", "anim", "focus"]

AUDIT = (Path(__file__).parent / "xss_audit.js").read_text()


def audit_script(deadline_s: float) -> str:
    """The audit, waiting at most ``deadline_s`` for the controls (generous: shared machine)."""
    return AUDIT.replace("__CONTROL_KINDS__", json.dumps(CONTROL_KINDS)).replace(
        "__DEADLINE_MS__", str(int(deadline_s * 1000))
    )


_CSP_META = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>', re.IGNORECASE)


def page(html: str, document: bool) -> bytes:
    """The emitter's HTML with the harness, and without any CSP."""
    if not document:
        return (
            '<!DOCTYPE html><html><head><meta charset="utf-8"><title>harness</title>'
            f"{HARNESS}</head><body>{html}{CONTROLS}</body></html>"
        ).encode()
    assert len(_CSP_META.findall(html)) == 1, "a standalone card carries one CSP"
    html = _CSP_META.sub("", html)
    head = html.lower().index("<head>") + len("<head>")
    body_end = html.lower().rindex("</body>")
    return (html[:head] + HARNESS + html[head:body_end] + CONTROLS + html[body_end:]).encode()


class Pages:
    """Serves pages from memory on 127.0.0.1; anything else is a 404."""

    def __init__(self) -> None:
        pages: dict[str, bytes] = {}
        self.pages = pages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(urllib.parse.urlsplit(self.path).path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body or b"not found")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, path: str, body: bytes) -> str:
        self.pages[path] = body
        return self.base + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def render(
    browser: tuple[Chromium, Pages], name: str, body: bytes, deadline_s: float = 45.0
) -> dict[str, Any]:
    chromium, pages = browser
    url = pages.add(f"/{name}.html", body)
    chromium.open(url)
    result: dict[str, Any] = chromium.evaluate(audit_script(deadline_s))
    assert result["url"] == url, f"the page navigated away to {result['url']}"
    return result


def check(result: Mapping[str, Any], expected: list[str]) -> list[str]:
    """What is wrong with one rendered page (empty: inert and complete)."""
    bad = [f"ran: {x}" for x in result["ran"]]
    missing = sorted(set(CONTROL_KINDS) - set(result["controls"]))
    if missing:
        bad.append(f"controls that never fired (markup left open?): {missing}")
    bad += result["problems"]
    bad += [f"field {f!r} is not on the page" for f in expected if f"~{f}~" not in result["text"]]
    return bad
