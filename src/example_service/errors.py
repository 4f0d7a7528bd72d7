"""The service's errors, and how each transport reports them.

Every error the service raises on purpose is a :class:`ServiceError` with a canonical code (the
gRPC status name); the gRPC API aborts with that status and the HTTP API answers with the matching
HTTP status and a JSON body ``{"error": {"code": ..., "message": ...}}``.
"""

from __future__ import annotations

# Canonical code -> HTTP status. The codes are gRPC status names, so both APIs report the same code.
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "UNAVAILABLE": 503,
    "INTERNAL": 500,
}


class ServiceError(Exception):
    """An error reported to the caller: ``code`` is a gRPC status name, ``message`` says what to do."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def http_status(self) -> int:
        """The HTTP status that reports this error."""
        return HTTP_STATUS.get(self.code, 500)

    def to_json(self) -> dict[str, dict[str, str]]:
        """The JSON error body of the HTTP API."""
        return {"error": {"code": self.code, "message": self.message}}


class InvalidArgument(ServiceError):
    """A request field is malformed or out of range (gRPC INVALID_ARGUMENT, HTTP 400)."""

    code = "INVALID_ARGUMENT"


class NotFound(ServiceError):
    """The suppression does not exist (gRPC NOT_FOUND, HTTP 404)."""

    code = "NOT_FOUND"


class Unavailable(ServiceError):
    """The backend is throttling or unreachable; retrying later may succeed (gRPC UNAVAILABLE, HTTP 503)."""

    code = "UNAVAILABLE"


class Internal(ServiceError):
    """An unexpected failure; the details are in the service log, not in the response."""

    code = "INTERNAL"


class TableNotReadyError(RuntimeError):
    """The DynamoDB table could not be created or did not become ACTIVE in time."""
