"""The tracker's exceptions.

Every error the tracker raises on purpose derives from :class:`TrackerError`, so
``except tracker.TrackerError`` catches all of them and nothing else::

    TrackerError
    ├── ConfigError            bad store URL, unknown option, missing driver
    ├── ValidationError        (also ValueError) a bad param, metric, tag or argument
    ├── NoActiveRunError       a module-level logging call with no active run
    ├── RunNotFoundError       (also KeyError) no run with that id in the store
    ├── StoreError             the store failed
    │   ├── StoreUnavailableError  the store cannot be reached (writes are spooled)
    │   └── SchemaError            the database schema is newer/older than this code
    └── HashingError           an object or path that cannot be hashed

Messages say what is wrong and what to do next.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "HashingError",
    "NoActiveRunError",
    "RunNotFoundError",
    "SchemaError",
    "StoreError",
    "StoreUnavailableError",
    "TrackerError",
    "ValidationError",
]


class TrackerError(Exception):
    """Base class of every error the tracker raises on purpose."""


class ConfigError(TrackerError):
    """The configuration is wrong: a malformed store URL, a missing driver, a bad option."""


class ValidationError(TrackerError, ValueError):
    """A value given to the tracker is not acceptable (names the key and the problem)."""


class NoActiveRunError(TrackerError):
    """A module-level logging call was made while no run is active."""

    def __init__(self, what: str = "log") -> None:
        super().__init__(
            f"tracker.{what}() needs an active run, and there is none. "
            "Start one with `with tracker.start_run(): ...` (or `run = tracker.start_run()`), "
            "or call the method on a run object."
        )


class RunNotFoundError(TrackerError, KeyError):
    """No run with the given id exists in the store."""

    def __init__(self, run_id: str, store: str = "") -> None:
        where = f" in {store}" if store else ""
        super().__init__(
            f"no run with id {run_id!r}{where}; "
            "list runs with `tracker runs` or tracker.search_runs()"
        )
        self.run_id = run_id

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message and add quotes.
        return str(self.args[0])


class StoreError(TrackerError):
    """The store failed to read or write."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached right now.

    Writes are never lost because of this error: logging calls spool their records
    locally and replay them when the store answers again (or on ``tracker sync``).
    Only reads raise it.
    """


class SchemaError(StoreError):
    """The database holds a schema this version of the tracker cannot use."""


class HashingError(TrackerError):
    """An object or path cannot be hashed (names the object's type or the path)."""
