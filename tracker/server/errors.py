"""API errors: what the REST API answers when a request cannot be served.

Only this package knows HTTP status codes. The service layer raises :class:`ApiError`
(or lets a :class:`~tracker.exceptions.TrackerError` through); the handlers turn both
into ``{"error": {"code", "message", "status"}}`` with the matching status code, so the
panel always gets JSON it can show, never an HTML error page or a traceback.
"""

from __future__ import annotations

from http import HTTPStatus

from tracker.exceptions import (
    ConfigError,
    ModelNotFoundError,
    RunNotFoundError,
    SchemaError,
    StoreUnavailableError,
    TrackerError,
    ValidationError,
)

__all__ = ["ApiError", "code_for_status", "from_tracker_error"]

# Stable machine-readable codes for the statuses the API uses. The panel switches on
# these, never on the message text.
_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_value",
    500: "internal_error",
    501: "not_implemented",
    503: "store_unavailable",
}


def code_for_status(status: int) -> str:
    """The error code the API uses for an HTTP status without a more specific one."""
    if status in _CODES:
        return _CODES[status]
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


class ApiError(Exception):
    """A request the API refuses, with the status, a stable code and a human message.

    Args:
        status: HTTP status code.
        code: Machine-readable code (``bad_request``, ``not_found``...).
        message: What is wrong and what to do instead.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, object]:
        """The JSON body of the error response."""
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}

    @classmethod
    def bad_request(cls, message: str, code: str = "bad_request") -> ApiError:
        """400: a parameter or body the API cannot accept."""
        return cls(400, code, message)

    @classmethod
    def not_found(cls, message: str) -> ApiError:
        """404: no such run, search or route."""
        return cls(404, "not_found", message)


def from_tracker_error(exc: TrackerError) -> ApiError:
    """Map a tracker error to the API error a client should see."""
    if isinstance(exc, RunNotFoundError | ModelNotFoundError):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, ValidationError):
        return ApiError(400, "invalid_value", str(exc))
    if isinstance(exc, StoreUnavailableError):
        return ApiError(503, "store_unavailable", str(exc))
    if isinstance(exc, SchemaError):
        return ApiError(500, "schema_mismatch", str(exc))
    if isinstance(exc, ConfigError):
        return ApiError(500, "config_error", str(exc))
    return ApiError(500, "store_error", str(exc))
