"""Where the store lives, and how its URL is shown.

Resolution order for the store: an explicit argument, else the ``TRACKER_STORE``
environment variable, else ``.tracker/tracker.db`` (SQLite) under the project root.
The project root is the nearest enclosing directory that holds ``.tracker``, ``.git``
or ``pyproject.toml`` (else the current directory), so every notebook of a project
shares one store wherever in the tree it sits.

A :class:`StoreURL` never shows a password: ``str()``, ``repr()`` and
:meth:`StoreURL.redacted` all print ``***`` in its place. Only
:meth:`StoreURL.connect_url` returns the secret, for the engine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from tracker.exceptions import ConfigError

__all__ = [
    "ENV_SPOOL_DIR",
    "ENV_STORE",
    "StoreURL",
    "default_store_path",
    "project_root",
    "resolve_store_url",
    "spool_dir",
]

ENV_STORE = "TRACKER_STORE"
ENV_SPOOL_DIR = "TRACKER_SPOOL_DIR"
_ROOT_MARKERS = (".tracker", ".git", "pyproject.toml")
_SCHEMES = {
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "postgresql+psycopg": "postgresql",
    "postgresql+psycopg2": "postgresql",
}


def project_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` that looks like a project root.

    Args:
        start: Where to begin (default: the current directory).

    Returns:
        The first ancestor holding ``.tracker``, ``.git`` or ``pyproject.toml``; else ``start``.
    """
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if any((d / m).exists() for m in _ROOT_MARKERS):
            return d
    return here


def default_store_path(start: Path | None = None) -> Path:
    """``<project root>/.tracker/tracker.db``."""
    return project_root(start) / ".tracker" / "tracker.db"


def spool_dir(start: Path | None = None) -> Path:
    """Directory of the local spool: ``TRACKER_SPOOL_DIR`` or ``<project root>/.tracker/spool``."""
    env = os.environ.get(ENV_SPOOL_DIR)
    if env:
        return Path(env).expanduser().resolve()
    return project_root(start) / ".tracker" / "spool"


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed store URL that keeps its password to itself.

    Attributes:
        kind: ``"sqlite"`` or ``"postgresql"``.
        path: For SQLite, the absolute database path, or ``None`` for in-memory.
    """

    kind: str
    path: Path | None
    _url: str  # normalised, with the password; never printed

    @classmethod
    def parse(cls, value: str | os.PathLike[str]) -> StoreURL:
        """Parse a store URL or a bare SQLite file path.

        Accepted forms: ``sqlite:///relative.db``, ``sqlite:////abs/path.db``,
        ``sqlite://`` (in-memory, one process only), a plain path such as
        ``runs.db``, and ``postgresql://user:password@host:5432/dbname``
        (``postgres://`` and ``postgresql+psycopg://`` too).

        Raises:
            ConfigError: the URL has an unsupported scheme or no database name.
        """
        text = os.fspath(value).strip()
        if not text:
            raise ConfigError("the store URL is empty; use e.g. sqlite:///tracker.db")
        if "://" not in text:
            return cls._sqlite(Path(text))
        scheme = text.split("://", 1)[0].lower()
        kind = _SCHEMES.get(scheme)
        if kind is None:
            raise ConfigError(
                f"unsupported store scheme {scheme!r} in {_redact_text(text)}; "
                "use sqlite:///path.db or postgresql://user@host:5432/dbname"
            )
        if kind == "sqlite":
            rest = text.split("://", 1)[1]
            if rest in ("", "/", "/:memory:"):
                return cls(kind="sqlite", path=None, _url="sqlite://")
            if not rest.startswith("/"):
                raise ConfigError(
                    f"malformed SQLite URL {text!r}: write sqlite:///relative/path.db or "
                    "sqlite:////absolute/path.db"
                )
            path = rest[1:].split("?", 1)[0]
            return cls._sqlite(Path(unquote(path)))
        parts = urlsplit(text)
        if not parts.path.strip("/"):
            raise ConfigError(
                f"the PostgreSQL URL {_redact_text(text)} names no database; "
                "add it at the end, e.g. postgresql://user@host:5432/tracker"
            )
        return cls(
            kind="postgresql",
            path=None,
            _url=urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, parts.query, "")),
        )

    @classmethod
    def _sqlite(cls, path: Path) -> StoreURL:
        p = path.expanduser()
        if not p.is_absolute():
            p = Path.cwd() / p
        p = p.resolve()
        return cls(kind="sqlite", path=p, _url=f"sqlite:///{p}")

    @property
    def is_memory(self) -> bool:
        """An in-memory SQLite store (gone when the process ends)."""
        return self.kind == "sqlite" and self.path is None

    def connect_url(self) -> str:
        """The URL with its password, for the database driver only. Never log it."""
        return self._url

    def redacted(self) -> str:
        """The URL with any password replaced by ``***``."""
        return _redact_text(self._url)

    @property
    def identity(self) -> str:
        """Identifies the database (no password): used to match spool files to a store."""
        return self.redacted()

    def __str__(self) -> str:
        return self.redacted()

    def __repr__(self) -> str:
        return f"StoreURL({self.redacted()!r})"


def _redact_text(url: str) -> str:
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<malformed URL>"
    if parts.password is None:
        return url
    user = quote(parts.username or "", safe="")
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}{port}", parts.path, parts.query, ""))


def resolve_store_url(value: str | os.PathLike[str] | StoreURL | None = None) -> StoreURL:
    """Decide which store to use.

    Args:
        value: An explicit URL or path; wins over everything else.

    Returns:
        The argument if given, else ``$TRACKER_STORE``, else the project's default SQLite file.
    """
    if isinstance(value, StoreURL):
        return value
    if value is not None:
        return StoreURL.parse(value)
    env = os.environ.get(ENV_STORE)
    if env:
        return StoreURL.parse(env)
    return StoreURL.parse(default_store_path())
