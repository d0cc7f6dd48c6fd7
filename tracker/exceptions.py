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
    │   ├── SchemaError            the database schema is newer/older than this code
    │   └── IntegrityError         an artifact's stored bytes do not match its digests
    ├── ArtifactNotFoundError  (also KeyError) no such artifact, or its blob is missing
    ├── ModelNotFoundError     (also KeyError) no such registered model, version or alias
    ├── UntrustedModelError    a model file holds types that were not trusted for loading
    ├── PromotionRefused       a promotion's requirements did not all hold (alias unmoved)
    └── HashingError           an object or path that cannot be hashed

Messages say what is wrong and what to do next.
"""

from __future__ import annotations

__all__ = [
    "ArtifactNotFoundError",
    "ConfigError",
    "HashingError",
    "IntegrityError",
    "ModelNotFoundError",
    "NoActiveRunError",
    "PromotionRefused",
    "RunNotFoundError",
    "SchemaError",
    "StoreError",
    "StoreUnavailableError",
    "TrackerError",
    "UntrustedModelError",
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


class IntegrityError(StoreError):
    """An artifact's stored bytes do not match the digests recorded when it was logged.

    The message names the artifact, the recorded digests and the ones found. Nothing is
    returned from a blob that fails the check.

    Attributes:
        artifact: What the artifact is (``run <id> artifact 'name'``).
        expected: The recorded ``{"xxh3-128": ..., "sha256": ...}``.
        actual: The digests of the bytes found.
    """

    def __init__(
        self, artifact: str, expected: dict[str, str], actual: dict[str, str], where: str = ""
    ) -> None:
        def show(d: dict[str, str]) -> str:
            return ", ".join(f"{k} {v}" for k, v in d.items())

        at = f" at {where}" if where else ""
        super().__init__(
            f"{artifact}: the stored bytes{at} do not match what was logged "
            f"(recorded {show(expected)}; found {show(actual)}); the blob was changed or "
            "damaged after it was written. Log the artifact again from its source, or restore "
            "the blob from a backup of the artifact root"
        )
        self.artifact = artifact
        self.expected = dict(expected)
        self.actual = dict(actual)


class ArtifactNotFoundError(TrackerError, KeyError):
    """No artifact matches the reference, or its blob is not in the artifact root."""

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message and add quotes.
        return str(self.args[0])


class ModelNotFoundError(TrackerError, KeyError):
    """No registered model, version or alias matches the reference (lists what exists)."""

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message and add quotes.
        return str(self.args[0])


class UntrustedModelError(TrackerError):
    """A model file holds types the caller did not trust, or is a pickle loaded without trust.

    Attributes:
        types: The untrusted type names (empty for a pickle).
    """

    def __init__(self, message: str, types: list[str] | None = None) -> None:
        super().__init__(message)
        self.types = list(types or [])


class PromotionRefused(TrackerError):
    """A promotion's requirements did not all hold; the alias was left where it was.

    Attributes:
        name: The registered model.
        version: The version that was to be promoted.
        alias: The alias that was to move.
        failed: ``{requirement: why it failed}`` for each requirement that failed.
    """

    def __init__(self, name: str, version: int, alias: str, failed: dict[str, str]) -> None:
        lines = "; ".join(f"{req!r}: {why}" for req, why in failed.items())
        super().__init__(
            f"{name} version {version} was not promoted to {alias!r}: "
            f"{len(failed)} requirement(s) failed: {lines}. The alias is unchanged; the refusal "
            f"is in the registry history (tracker.model_history({name!r}))"
        )
        self.name = name
        self.version = version
        self.alias = alias
        self.failed = dict(failed)
