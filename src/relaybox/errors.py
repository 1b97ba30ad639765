"""One error table for the route API, and the exception tree that carries it.

::

    RelayboxError            a failure with a stable wire code (see ``ErrorCode``)
    ├── StoreUnavailable     the database or the payload directory cannot be used (503)
    └── ApiError             raised by the SDK: the server answered with ``error: code=...``
    V1Error          a /v1 refusal: HTTP status + ``{"message": TEXT}`` (the seed's form)

Domain code raises ``RelayboxError(ErrorCode.X, detail)``; the HTTP edge renders it in one
place (``relaybox.api.errors``) as ``error: code=NNN; message=TEXT`` with an empty body on the
route API, and as ``{"message": TEXT}`` on the management API (/v1).
This module imports nothing from relaybox so that the SDK can use it.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.Enum):
    """Stable wire codes: (code, HTTP status, default message)."""

    MISSING_HEADER = (100, 400, "A required header is missing or malformed")
    INVALID_KEY = (101, 401, "Request key is invalid")
    TIMESTAMP_SKEW = (102, 401, "Request timestamp is outside the allowed window")
    KEY_REPLAYED = (103, 401, "Request key has already been used")
    RATE_LIMITED = (104, 429, "Rate limit exceeded")
    RECIPIENT_NOT_FOUND = (201, 404, "Message recipient cannot be found")
    MD5_MISMATCH = (202, 400, "Message MD5 does not match the data")
    TOO_LARGE = (203, 413, "Message is too large")
    MESSAGE_ID_CONFLICT = (204, 409, "Message id already used for different content")
    BAD_EXPIRY = (205, 400, "Message expiry is out of range")
    BAD_PRIORITY = (206, 400, "Unsupported message priority")
    NO_DATA_PART = (207, 400, "No data file part in the multipart body")
    MAILBOX_FULL = (208, 507, "Recipient mailbox is full")
    MESSAGE_NOT_FOUND = (301, 404, "Message not found")
    MESSAGE_EXPIRED = (302, 410, "Message expired")
    NO_NEWER_MESSAGE = (303, 404, "No newer message")
    # Additions (additive to the vendor table): failures of the HTTP edge itself.
    UNKNOWN_ENDPOINT = (404, 404, "Unknown endpoint")
    METHOD_NOT_ALLOWED = (405, 405, "Method not allowed")
    INTERNAL = (500, 500, "Internal error")
    STORE_UNAVAILABLE = (503, 503, "Storage unavailable")

    @property
    def code(self) -> int:
        return self.value[0]

    @property
    def http_status(self) -> int:
        return self.value[1]

    @property
    def message(self) -> str:
        return self.value[2]

    @classmethod
    def from_code(cls, code: int) -> ErrorCode | None:
        for member in cls:
            if member.code == code:
                return member
        return None


class RelayboxError(Exception):
    """A failure with a wire code. ``detail`` replaces the default message when given."""

    def __init__(self, error: ErrorCode, detail: str | None = None, *, retry_after: int | None = None) -> None:
        self.error = error
        self.detail = detail or error.message
        self.retry_after = retry_after
        super().__init__(f"{error.code}: {self.detail}")

    @property
    def code(self) -> int:
        return self.error.code

    @property
    def http_status(self) -> int:
        return self.error.http_status


class StoreUnavailable(RelayboxError):
    """The store (database or payload directory) cannot serve the request."""

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(ErrorCode.STORE_UNAVAILABLE, detail, retry_after=retry_after)


def missing_header(name: str, why: str = "is missing") -> RelayboxError:
    """400 code 100 naming the header, e.g. ``Header 'message-id' is missing``."""
    return RelayboxError(ErrorCode.MISSING_HEADER, f"Header '{name}' {why}")


class V1Error(Exception):
    """A refusal of the management API (/v1): an HTTP status and the seed's Generic Response
    ``{"message": TEXT}``. Rendered in the same place as ``RelayboxError``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        retry_after: int | None = None,
        problem: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.retry_after = retry_after
        # RFC 9457 answers (HMAC-signed requests): the problem's slug when it has its own type
        # (authentication failures), and members beyond the standard ones (expected_string).
        self.problem = problem
        self.extra = extra or {}
        super().__init__(f"{status}: {message}")


def bad_request(message: str) -> V1Error:
    return V1Error(400, message)


def not_found(message: str) -> V1Error:
    return V1Error(404, message)


UNAUTHORIZED = "Missing or invalid token"
FORBIDDEN = "Station not found in your account"


class ApiError(RelayboxError):
    """The server refused a request: carries its wire code, message and request id (SDK side)."""

    def __init__(self, code: int, message: str, request_id: str | None, http_status: int) -> None:
        known = ErrorCode.from_code(code)
        super().__init__(known or ErrorCode.INTERNAL, message)
        self.wire_code = code
        self.message = message
        self.request_id = request_id
        self.status = http_status

    @property
    def code(self) -> int:
        return self.wire_code

    @property
    def http_status(self) -> int:
        return self.status

    def __str__(self) -> str:
        return f"error {self.wire_code} (HTTP {self.status}): {self.message} [request-id {self.request_id}]"
