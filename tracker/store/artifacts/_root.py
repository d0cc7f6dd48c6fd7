"""Where a store's artifacts live: the artifact root, and how every client finds it.

Resolution, first match wins:

1. ``tracker.set_store(url, artifacts=ROOT)`` in this process;
2. the ``TRACKER_ARTIFACTS`` environment variable;
3. the root recorded in the database (``tracker_settings``, key ``artifacts.root``),
   written there the first time a client logs with a root from 1 or 2, so every other
   client of the store (a teammate's kernel, the Jupyter server) finds the same one;
4. the default beside a SQLite file: ``artifacts/`` next to ``tracker.db`` (so the
   project default is ``.tracker/artifacts/``), ``<name>-artifacts/`` next to any other
   file name, so two stores in one directory never share (and garbage-collect) blobs.

A PostgreSQL store has no default: its clients run on several machines, and a directory
on one of them would be a root the others cannot read. Logging an artifact there without
a configured root raises :class:`~tracker.exceptions.ConfigError` saying how to set one.

A root is a local path (or ``file://`` URL), stored with the fast local blob store, or
any other fsspec URL. A URL with a credential in it (``s3://KEY:SECRET@bucket``, a
``?secret=`` parameter) is refused: the root is recorded in the database, where every
client would read the credential. Credentials belong where the filesystem looks for them
(for S3: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``~/.aws``, an instance role).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit

from tracker.config import StoreURL, is_secret_param, redact_url
from tracker.exceptions import ConfigError

__all__ = ["ENV_ARTIFACTS", "SETTING_KEY", "RootSpec", "default_root", "parse_root"]

ENV_ARTIFACTS: Final = "TRACKER_ARTIFACTS"
#: The ``tracker_settings`` key holding the store's artifact root.
SETTING_KEY: Final = "artifacts.root"

_memory_roots: dict[int, str] = {}


@dataclass(frozen=True, slots=True)
class RootSpec:
    """A resolved artifact root.

    Attributes:
        url: An absolute local path, or an fsspec URL without credentials.
        source: ``"argument"``, ``"env"``, ``"store"`` or ``"default"``.
    """

    url: str
    source: str

    @property
    def is_local(self) -> bool:
        """A directory of this machine (or a mounted share): the fast local blob store."""
        return "://" not in self.url


def parse_root(value: str | os.PathLike[str], what: str = "the artifact root") -> str:
    """Normalise a root: local paths become absolute, URLs lose a trailing slash.

    Raises:
        ConfigError: it is empty, or carries a credential (the message never shows it).
    """
    text = os.fspath(value).strip()
    if not text:
        raise ConfigError(f"{what} is empty; give a directory or a URL such as s3://bucket/prefix")
    if "://" not in text:
        return str(Path(text).expanduser().resolve())
    parts = urlsplit(text)
    if parts.scheme.lower() == "file":
        return str(Path(unquote(parts.path) or "/").resolve())
    secret_query = any(
        is_secret_param(piece.partition("=")[0]) for piece in parts.query.split("&") if piece
    )
    if parts.password is not None or secret_query or (parts.username and "@" in parts.netloc):
        raise ConfigError(
            f"{what} {redact_url(text)} carries a credential; it is recorded in the database "
            "for every client to read, so give it without one and put the credentials where "
            "the filesystem looks for them (for S3: AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, or an instance role)"
        )
    return text.rstrip("/")


def default_root(url: StoreURL) -> str | None:
    """The default root of a store: beside its SQLite file; none for PostgreSQL.

    An in-memory SQLite store gets a temporary directory that lives as long as the
    process (like the database itself).
    """
    if url.kind != "sqlite":
        return None
    if url.path is None:
        key = id(url)
        if key not in _memory_roots:
            _memory_roots[key] = tempfile.mkdtemp(prefix="tracker-artifacts-")
        return _memory_roots[key]
    name = "artifacts" if url.path.name == "tracker.db" else f"{url.path.stem}-artifacts"
    return str(url.path.parent / name)


def no_root_error(url: StoreURL) -> ConfigError:
    """What a PostgreSQL store without a configured root says."""
    return ConfigError(
        f"the store {url.redacted()} has no artifact root: a PostgreSQL store is shared by "
        "several machines, so there is no default directory for its artifacts. Set one that "
        "every client can reach, once: TRACKER_ARTIFACTS=s3://bucket/prefix (or a shared "
        "path), or tracker.set_store(url, artifacts='s3://bucket/prefix'); it is then "
        "recorded in the database for every client"
    )
