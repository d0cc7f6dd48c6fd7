"""Where the store lives, and how its URL is shown.

Resolution order for the store: an explicit argument, else the ``TRACKER_STORE``
environment variable, else ``.tracker/tracker.db`` (SQLite) under the project root.
The project root is the nearest enclosing directory that holds ``.tracker``, ``.git``
or ``pyproject.toml`` (else the current directory), so every notebook of a project
shares one store wherever in the tree it sits.

A :class:`StoreURL` never shows a secret: ``str()``, ``repr()``, :meth:`StoreURL.redacted`
and :attr:`StoreURL.identity` print ``***`` in place of the userinfo password and of every
query parameter that carries a secret or names a file holding one (:func:`is_secret_param`:
``password``, ``sslpassword``, ``passfile``, ``sslkey``, ``sslkeylogfile``,
``oauth_client_secret``, and any name containing ``pass``, ``secret``, ``token``, ``pwd``,
``key`` or ``cred``). Public material stays visible: ``sslcert``, ``sslrootcert``,
``sslcrl``, host, port, user and database, so a message still says which database it means.
Only :meth:`StoreURL.connect_url` returns the secrets, for the engine. :func:`redact_url`
is the one function that decides; every channel (CLI, logs, the server, spool headers,
error messages, search records) goes through it, and :meth:`StoreURL.scrub` also removes
the URL's secret values from a driver's message.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, unquote_plus

from tracker.exceptions import ConfigError

__all__ = [
    "ENV_SPOOL_DIR",
    "ENV_STORE",
    "REDACTED",
    "StoreURL",
    "default_store_path",
    "is_secret_param",
    "project_root",
    "redact_text",
    "redact_url",
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
#: What a secret is replaced with.
REDACTED = "***"
# libpq and driver parameters that carry a secret or say where one is kept (a private key is
# a secret; its path is where it is kept, like passfile). Certificates are public material.
_SECRET_PARAMS = frozenset(
    {"password", "sslpassword", "passfile", "sslkey", "sslkeylogfile", "oauth_client_secret"}
)
# Any other driver's parameter whose name says it is a secret.
_SECRET_WORDS = re.compile(r"pass|secret|token|pwd|key|cred", re.IGNORECASE)
# A URL inside free text, and libpq's keyword=value form (``host=h password='x y'``).
_URL_IN_TEXT = re.compile(r"[A-Za-z][\w+.-]*://[^\s'\"<>]+")
_KEYWORD_VALUE = re.compile(r"([A-Za-z_][\w.-]*)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&;,)]+)")
# A bare "path" that is really a libpq keyword/value connection string.
_CONNINFO = re.compile(r"^\s*(host|hostaddr|port|dbname|user|password|service|sslmode)\s*=", re.I)
# Below this length a secret value is not searched for in free text (it would garble it).
_MIN_SCRUB = 4


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
    """A parsed store URL that keeps its secrets to itself.

    Attributes:
        kind: ``"sqlite"`` or ``"postgresql"``.
        path: For SQLite, the absolute database path, or ``None`` for in-memory.
    """

    kind: str
    path: Path | None
    _url: str  # normalised, with its secrets; never printed

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
            if _CONNINFO.match(text):
                raise ConfigError(
                    f"{redact_text(text)!r} looks like a libpq keyword/value connection string; "
                    "write the store as a URL: postgresql://user@host:5432/dbname"
                )
            return cls._sqlite(Path(text))
        scheme = text.split("://", 1)[0].lower()
        kind = _SCHEMES.get(scheme)
        if kind is None:
            raise ConfigError(
                f"unsupported store scheme {scheme!r} in {redact_url(text)}; "
                "use sqlite:///path.db or postgresql://user@host:5432/dbname"
            )
        if kind == "sqlite":
            rest = text.split("://", 1)[1]
            if rest in ("", "/", "/:memory:"):
                return cls(kind="sqlite", path=None, _url="sqlite://")
            if not rest.startswith("/"):
                raise ConfigError(
                    f"malformed SQLite URL {redact_url(text)!r}: write "
                    "sqlite:///relative/path.db or sqlite:////absolute/path.db"
                )
            path = rest[1:].split("?", 1)[0]
            return cls._sqlite(Path(unquote(path)))
        _, _, _, remainder = _split(text)
        host_path = remainder.split("?", 1)[0].split("#", 1)[0]
        if not host_path.partition("/")[2].strip("/"):
            raise ConfigError(
                f"the PostgreSQL URL {redact_url(text)} names no database; "
                "add it at the end, e.g. postgresql://user@host:5432/tracker"
            )
        # The rest is kept as written: SQLAlchemy, which connects with it, parses it.
        return cls(
            kind="postgresql", path=None, _url="postgresql+psycopg://" + text.split("://", 1)[1]
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
        """The URL with every secret replaced by ``***`` (see :func:`redact_url`)."""
        return redact_url(self._url)

    @property
    def identity(self) -> str:
        """Identifies the database (no secret): used to match spool files to a store."""
        return self.redacted()

    def _secret_values(self) -> list[str]:
        """The secret values in this URL (password, secret parameters), decoded, for scrubbing."""
        _, _, password, remainder = _split(self._url)
        found = [unquote(password)] if password else []
        query = remainder.partition("?")[2]
        for piece in query.split("&"):
            key, eq, value = piece.partition("=")
            if eq and value and is_secret_param(key):
                found.append(unquote_plus(value))
        return found

    def scrub(self, text: str) -> str:
        """``text`` (a driver's message, say) without this URL's secrets or any other's.

        Every secret value of this URL of at least four characters is replaced wherever it
        appears (drivers quote a key file's path in their messages), then
        :func:`redact_text` redacts any URL or ``password=...`` left in it.
        """
        for secret in sorted(self._secret_values(), key=len, reverse=True):
            if len(secret) >= _MIN_SCRUB:
                for form in {secret, quote(secret, safe=""), quote(secret)}:
                    text = text.replace(form, REDACTED)
        return redact_text(text)

    def __str__(self) -> str:
        return self.redacted()

    def __repr__(self) -> str:
        return f"StoreURL({self.redacted()!r})"


def is_secret_param(name: str) -> bool:
    """Whether a connection parameter's value is a secret, or where one is kept.

    Args:
        name: The parameter name as written in a URL query or a keyword/value string.
    """
    key = unquote_plus(name).strip().lower()
    return key in _SECRET_PARAMS or bool(_SECRET_WORDS.search(key))


def _split(url: str) -> tuple[str, str | None, str | None, str]:
    """``scheme://user:password@rest`` into scheme, user, password and the rest.

    The userinfo ends at the last ``@`` before the query that follows the first ``@``: so a
    password holding an unencoded ``/``, ``?``, ``#`` or ``@`` stays whole. This takes in at
    least what SQLAlchemy (which connects with the URL) reads as the password.
    """
    scheme, _, rest = url.partition("://")
    first = rest.find("@")
    if first < 0:
        return scheme, None, None, rest
    query = rest.find("?", first)
    end = rest.rfind("@", 0, query if query >= 0 else len(rest))
    user, colon, password = rest[:end].partition(":")
    return scheme, user, password if colon else None, rest[end + 1 :]


def _redact_query(query: str) -> str:
    pieces = []
    for piece in query.split("&"):
        key, eq, value = piece.partition("=")
        if eq and is_secret_param(key):
            piece = f"{key}={REDACTED}"
        elif eq and ("://" in value or "=" in unquote_plus(value)):
            # dbname (and others) may hold a whole connection string.
            inner = unquote_plus(value)
            cleaned = redact_text(inner)
            if cleaned != inner:
                piece = f"{key}={quote(cleaned, safe='*')}"
        pieces.append(piece)
    return "&".join(pieces)


def redact_url(url: str) -> str:
    """A store URL (or connection string) with every secret replaced by ``***``.

    The userinfo password and the value of every parameter :func:`is_secret_param` names
    are replaced; the rest is kept as written. A text without ``://`` is treated as a libpq
    keyword/value string. This is the one place that decides what is a secret.

    Args:
        url: The URL as given, possibly malformed.
    """
    if "://" not in url:
        return _redact_keywords(url)
    scheme, user, password, remainder = _split(url)
    auth = "" if user is None else f"{user}:{REDACTED}@" if password is not None else f"{user}@"
    host_path, mark, query = remainder.partition("?")
    return f"{scheme}://{auth}{_redact_keywords(host_path)}{mark}{_redact_query(query)}"


def _redact_keywords(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        return f"{m.group(1)}{m.group(2)}{REDACTED}" if is_secret_param(m.group(1)) else m.group(0)

    return _KEYWORD_VALUE.sub(repl, text)


def redact_text(text: str) -> str:
    """Free text (a message, a log line) with the secrets of every URL in it redacted.

    Each ``scheme://...`` in the text goes through :func:`redact_url`; a libpq keyword/value
    pair whose keyword is secret (``password=x``) loses its value too.
    """
    return _redact_keywords(_URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text))


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
