"""Tornado handlers of the REST API under ``/tracker/api/v1/``.

Every handler method is wrapped in ``@tornado.web.authenticated`` (no identity: 403)
and jupyter_server's ``@authorized`` (the authorizer may refuse a user: 403). Store
work runs on the extension's thread pool, never on the event loop. Every answer,
errors included, is JSON: ``{"error": {"code", "message", "status"}}`` for errors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado.ioloop import IOLoop

from tracker.exceptions import TrackerError
from tracker.server.errors import ApiError, code_for_status, from_tracker_error
from tracker.server.service import Args, TrackerService

__all__ = ["API_PREFIX", "AUTH_RESOURCE", "SETTINGS_KEY", "TrackerHandler", "routes"]

log = logging.getLogger("tracker.server")

API_PREFIX = "/tracker/api/v1"
#: The jupyter_server authorization resource every route is checked against.
AUTH_RESOURCE = "tracker"
#: Where the extension keeps its state in ``web_app.settings``.
SETTINGS_KEY = "tracker"
#: Request bodies above this size are refused (card sections are the largest writes).
MAX_BODY = 1_000_000
#: Request bodies nested deeper than this are refused: every body the API takes is an
#: object of at most three levels, and a deep one must not cost a stack.
MAX_DEPTH = 32

T = TypeVar("T")


class TrackerHandler(APIHandler):
    """Base of the API handlers: JSON errors, the service, and off-loop execution."""

    auth_resource = AUTH_RESOURCE

    @property
    def service(self) -> TrackerService:
        """The service the extension put in the web app's settings."""
        service: TrackerService = self.settings[SETTINGS_KEY]["service"]
        return service

    @property
    def executor(self) -> Executor:
        """The extension's thread pool for blocking store calls."""
        executor: Executor = self.settings[SETTINGS_KEY]["executor"]
        return executor

    def set_default_headers(self) -> None:
        """API answers are live data: never cache them."""
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the thread pool; tracker errors become API errors."""
        try:
            return await IOLoop.current().run_in_executor(self.executor, fn, *args)
        except TrackerError as exc:
            raise from_tracker_error(exc) from exc

    def args(self) -> Args:
        """The query arguments."""
        return Args(
            {
                k: [v.decode("utf-8", "replace") for v in vs]
                for k, vs in self.request.query_arguments.items()
            }
        )

    def body(self) -> Any:
        """The decoded JSON body.

        Raises:
            ApiError: 413 above :data:`MAX_BODY` bytes, 415 when it is not sent as JSON,
                400 when it is not strict JSON (``NaN`` and ``Infinity`` are not) or is
                nested deeper than :data:`MAX_DEPTH`. The route checks the shape.
        """
        if len(self.request.body) > MAX_BODY:
            raise ApiError(413, "payload_too_large", f"the body is larger than {MAX_BODY} bytes")
        ctype = self.request.headers.get("Content-Type", "application/json")
        if "json" not in ctype:
            raise ApiError(415, "unsupported_media_type", "send the body as application/json")
        too_deep = ApiError.bad_request(
            f"the body is nested deeper than {MAX_DEPTH} levels; send a flat JSON object"
        )
        try:
            value = json.loads(self.request.body or b"null", parse_constant=_no_constant)
        except RecursionError:
            # The decoder gave up on the nesting before we could count it.
            raise too_deep from None
        except ValueError as exc:
            raise ApiError.bad_request(f"the body is not valid JSON: {exc}") from None
        if _depth(value) > MAX_DEPTH:
            raise too_deep
        return value

    def send(self, payload: Any, status: int = 200) -> None:
        """Write ``payload`` as strict JSON."""
        self.set_status(status)
        self.finish(
            json.dumps(payload, allow_nan=False, separators=(",", ":")),
            set_content_type="application/json; charset=UTF-8",
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error as ``{"error": {"code", "message", "status"}}``; no traceback leaves."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiError):
            err = exc
        elif isinstance(exc, tornado.web.HTTPError):
            message = (
                exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
            )
            err = ApiError(status_code, code_for_status(status_code), message or self._reason)
        else:
            err = ApiError(
                status_code,
                code_for_status(status_code),
                "the tracker API failed on this request; the server log has the details",
            )
        self.set_status(err.status)
        self.clear_header("Content-Disposition")
        self.finish(json.dumps(err.to_dict()), set_content_type="application/json; charset=UTF-8")

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, ApiError):
            # An expected refusal: answer it without a traceback in the log.
            if self._finished:
                return
            log.info(
                "tracker API %s %s: %s %s",
                self.request.method,
                self.request.path,
                e.status,
                e.message,
            )
            self.send_error(e.status, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON; send numbers as finite values or null")


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects (without recursion)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((c, level + 1) for c in children)
    return deepest


class StoreHandler(TrackerHandler):
    """``GET /store``: kind, redacted URL, counts, features."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        """Describe the store."""
        self.send(await self.call(self.service.describe))


class RunsHandler(TrackerHandler):
    """``GET /runs?filter=&order_by=&kind=&status=&q=&parent=&limit=&offset=``."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        """A page of runs."""
        self.send(await self.call(self.service.list_runs, self.args()))


class RunHandler(TrackerHandler):
    """``GET /runs/{id}`` (in full); ``PATCH /runs/{id}`` (name, notes, tags)."""

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        """One run in full."""
        self.send(await self.call(self.service.get_run, run_id))

    @tornado.web.authenticated
    @authorized
    async def patch(self, run_id: str) -> None:
        """Rename, retag or annotate a run."""
        self.send(await self.call(self.service.update_run, run_id, self.body()))


class MetricsHandler(TrackerHandler):
    """``GET /runs/{id}/metrics?key=a&key=b``: metric histories."""

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        """Histories of the named metrics."""
        self.send(await self.call(self.service.metric_history, run_id, self.args()))


class LineageHandler(TrackerHandler):
    """``GET /runs/{id}/lineage``: cells and data that produced the run."""

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        """The lineage graph."""
        self.send(await self.call(self.service.lineage, run_id))


class CardHandler(TrackerHandler):
    """``GET /runs/{id}/card?format=md|html|json[&download=1]``; ``PUT``/``PATCH`` sections."""

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        """The card in the requested format."""
        args = self.args()
        fmt = args.get_str("format", "json") or "json"
        download = args.get_bool("download")
        ctype, text = await self.call(self.service.card, run_id, fmt)
        # A card shown straight from this origin must not run anything it contains.
        self.set_header(
            "Content-Security-Policy", "sandbox; default-src 'none'; style-src 'unsafe-inline'"
        )
        self.set_header("X-Content-Type-Options", "nosniff")
        if download:
            safe = "".join(c for c in run_id if c.isalnum())[:32] or "run"
            self.set_header(
                "Content-Disposition", f'attachment; filename="model-card-{safe}.{fmt}"'
            )
        self.finish(text, set_content_type=ctype)

    @tornado.web.authenticated
    @authorized
    async def put(self, run_id: str) -> None:
        """Replace every human section (absent keys are cleared)."""
        self.send(await self.call(self.service.update_card, run_id, self.body(), True))

    @tornado.web.authenticated
    @authorized
    async def patch(self, run_id: str) -> None:
        """Change the given human sections only."""
        self.send(await self.call(self.service.update_card, run_id, self.body(), False))


class CardSectionsHandler(TrackerHandler):
    """``GET /runs/{id}/card/sections``: the editable human sections."""

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        """Section keys, titles and current texts."""
        self.send(await self.call(self.service.card_sections, run_id))


class CompareHandler(TrackerHandler):
    """``GET /compare?ids=a,b,c``: params, metrics, data and environment side by side."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        """The comparison."""
        self.send(await self.call(self.service.compare, self.args()))


class SearchesHandler(TrackerHandler):
    """``GET /searches?limit=&offset=&filter=``: searches, newest first."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        """A page of searches."""
        self.send(await self.call(self.service.list_searches, self.args()))


class SearchHandler(TrackerHandler):
    """``GET /searches/{id}``: trials, Pareto front, constraints, hypervolume history."""

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        """One search in full."""
        self.send(await self.call(self.service.get_search, run_id))


class NotFoundHandler(TrackerHandler):
    """Any other path under the API prefix: a JSON 404 (after authentication)."""

    def _missing(self) -> None:
        raise ApiError.not_found(
            f"no API route {self.request.path!r}; see docs/panel.md for the routes"
        )

    @tornado.web.authenticated
    @authorized
    def get(self, *_: str) -> None:
        """404."""
        self._missing()

    @tornado.web.authenticated
    @authorized
    def post(self, *_: str) -> None:
        """404."""
        self._missing()

    @tornado.web.authenticated
    @authorized
    def put(self, *_: str) -> None:
        """404."""
        self._missing()

    @tornado.web.authenticated
    @authorized
    def patch(self, *_: str) -> None:
        """404."""
        self._missing()

    @tornado.web.authenticated
    @authorized
    def delete(self, *_: str) -> None:
        """404."""
        self._missing()


_ID = r"(?P<run_id>[^/]+)"


def routes() -> list[tuple[str, type[TrackerHandler]]]:
    """The API's URL patterns (jupyter_server puts its ``base_url`` in front)."""
    from tracker.server.artifacts import artifact_routes  # it builds on this module
    from tracker.server.models import model_routes  # the same

    def u(path: str) -> str:
        return f"{API_PREFIX}/{path}"

    return [
        (u("store"), StoreHandler),
        (u("runs"), RunsHandler),
        (u(f"runs/{_ID}"), RunHandler),
        (u(f"runs/{_ID}/metrics"), MetricsHandler),
        (u(f"runs/{_ID}/lineage"), LineageHandler),
        (u(f"runs/{_ID}/card"), CardHandler),
        (u(f"runs/{_ID}/card/sections"), CardSectionsHandler),
        (u("compare"), CompareHandler),
        (u("searches"), SearchesHandler),
        (u(f"searches/{_ID}"), SearchHandler),
        *artifact_routes(),
        *model_routes(),
        (u("(.*)"), NotFoundHandler),
    ]
