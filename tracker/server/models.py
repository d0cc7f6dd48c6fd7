"""Model registry routes of the REST API: registered models, versions, a version's card.

``GET /models``                                      every registered model (name, latest
                                                     version, count, aliases), by name
``GET /models/{name}``                               its versions (with aliases and the
                                                     logged model's metadata) and its history
``GET /models/{name}/versions/{version}/card``       the version's model card
                                                     (``?format=json|md|html``, ``download=1``)

The registry is read through the store (:mod:`tracker.models` reads only the store, never
the run API) and cards through :mod:`tracker.cards`, as for run cards. ``{version}`` may be
a number, ``latest`` or ``@alias``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import tornado.web
from jupyter_server.auth.decorator import authorized

from tracker.cards import build_card
from tracker.models import (
    VersionRef,
    check_alias,
    check_model_name,
    find_version,
    list_models,
)
from tracker.server.errors import ApiError
from tracker.server.handlers import API_PREFIX, TrackerHandler
from tracker.store import BaseStore

__all__ = ["model_routes"]

_FORMATS = {
    "json": "application/json; charset=UTF-8",
    "md": "text/markdown; charset=UTF-8",
    "html": "text/html; charset=UTF-8",
}


def _store(handler: TrackerHandler) -> BaseStore | None:
    return handler.service.holder.get()


def _version_ref(name: str, version: str) -> VersionRef:
    model = check_model_name(unquote(name))
    if version == "latest":
        return VersionRef(model, latest=True)
    if version.startswith("@"):
        return VersionRef(model, alias=check_alias(unquote(version[1:])))
    if version.isdigit() and int(version) > 0:
        return VersionRef(model, version=int(version))
    raise ApiError.bad_request(
        f"{version[:40]!r} is not a version: use a number, 'latest' or '@<alias>'"
    )


def list_registered(store: BaseStore | None) -> dict[str, Any]:
    """``{"models": [...]}``: every registered model."""
    if store is None:
        return {"models": []}
    return {"models": [m.to_dict() for m in list_models(store=store)]}


def get_registered(store: BaseStore | None, name: str) -> dict[str, Any]:
    """A registered model: its versions (newest first) and its history (oldest first)."""
    if store is None:
        raise ApiError.not_found("the store has no runs yet; track a run in a notebook first")
    model = check_model_name(unquote(name))
    latest = find_version(store, VersionRef(model, latest=True))  # 404 for an unknown name
    versions = store.model_versions(model)
    return {
        "name": model,
        "latest_version": latest.version,
        "aliases": {a: v.version for v in versions for a in v.aliases},
        "versions": [v.to_dict() for v in reversed(versions)],
        "history": [e.to_dict() for e in store.registry_events(model)],
    }


def version_card(store: BaseStore | None, name: str, version: str, fmt: str) -> tuple[str, str]:
    """The card of a version as ``(content type, text)``."""
    if fmt not in _FORMATS:
        raise ApiError.bad_request(f"format must be md, html or json, not {fmt[:20]!r}")
    if store is None:
        raise ApiError.not_found("the store has no runs yet; track a run in a notebook first")
    mv = find_version(store, _version_ref(name, version))
    card = build_card(mv, store=store, persist=False)  # reading never writes
    text = {"md": card.to_markdown, "html": card.to_html, "json": card.to_json}[fmt]()
    return _FORMATS[fmt], text


class ModelsHandler(TrackerHandler):
    """``GET /models``: every registered model."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        """The registered models."""
        self.send(await self.call(list_registered, _store(self)))


class ModelHandler(TrackerHandler):
    """``GET /models/{name}``: versions with aliases, and the registry history."""

    @tornado.web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        """One registered model."""
        self.send(await self.call(get_registered, _store(self), name))


class VersionCardHandler(TrackerHandler):
    """``GET /models/{name}/versions/{version}/card?format=json|md|html[&download=1]``."""

    @tornado.web.authenticated
    @authorized
    async def get(self, name: str, version: str) -> None:
        """The version's card in the requested format."""
        args = self.args()
        fmt = args.get_str("format", "json") or "json"
        ctype, text = await self.call(version_card, _store(self), name, version, fmt)
        # A card shown straight from this origin must not run anything it contains.
        self.set_header(
            "Content-Security-Policy", "sandbox; default-src 'none'; style-src 'unsafe-inline'"
        )
        self.set_header("X-Content-Type-Options", "nosniff")
        if args.get_bool("download"):
            safe = "".join(c for c in unquote(name) if c.isalnum())[:32] or "model"
            label = "".join(c for c in version if c.isalnum())[:16]
            self.set_header(
                "Content-Disposition", f'attachment; filename="model-card-{safe}-{label}.{fmt}"'
            )
        self.finish(text, set_content_type=ctype)


def model_routes() -> list[tuple[str, type[TrackerHandler]]]:
    """The registry routes (jupyter_server puts its ``base_url`` in front)."""
    name = r"(?P<name>[^/]+)"
    return [
        (f"{API_PREFIX}/models", ModelsHandler),
        (f"{API_PREFIX}/models/{name}", ModelHandler),
        (f"{API_PREFIX}/models/{name}/versions/(?P<version>[^/]+)/card", VersionCardHandler),
    ]
