"""Header names and value checks of the route API (``route-api.md``, "Validation details")."""

from __future__ import annotations

import re

from relaybox.errors import ErrorCode, RelayboxError, missing_header

REQUEST_TIMESTAMP = "request-timestamp"
REQUEST_FROM = "request-from"
REQUEST_KEY = "request-key"
# Optional (a relaybox extension): ``v2=<64 hex>``, HMAC-SHA256 over method, target, timestamp, body.
REQUEST_SIGNATURE = "request-signature"
REQUEST_ID = "request-id"
ERROR = "error"

MESSAGE_TO = "message-to"
MESSAGE_ID = "message-id"
MESSAGE_MD5 = "message-md5"
MESSAGE_EXPIRES_AFTER = "message-expires-after"
MESSAGE_PRIORITY = "message-priority"
PAY_FOR_REPLY = "pay-for-reply"
MESSAGE_LINK = "message-link"

# Response headers of get-message / get-next-message / wait-next-message.
R_MESSAGE_LINK = "Message-Link"
R_MESSAGE_FILE_NAME = "Message-File-Name"
R_MESSAGE_FROM = "Message-From"
R_MESSAGE_ID = "Message-Id"
R_MESSAGE_MD5 = "Message-MD5"
R_MESSAGE_EXPIRES = "Message-Expires"
R_PAY_FOR_REPLY = "Pay-For-Reply"
R_ATTACHMENT_COUNT = "Message-Attachment-Count"

# Longest value accepted in any relaybox request header. Real values are far shorter
# (a key is 128 hex digits); the bound stops a client from parking megabytes in headers.
MAX_HEADER_VALUE = 1024

ROUTE_PART = r"[A-Za-z0-9._-]{1,64}"
_ROUTE_RE = re.compile(rf"{ROUTE_PART}@{ROUTE_PART}")
_MD5_RE = re.compile(r"[0-9a-fA-F]{32}")
_KEY_RE = re.compile(r"[0-9a-fA-F]{128}")
_SIGNATURE_RE = re.compile(r"v2=([0-9a-fA-F]{64})")
_MESSAGE_ID_RE = re.compile(r"[\x20-\x7e]{1,128}")
# C0 controls and DEL: CR/LF would allow header injection, NUL truncates in C code.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

DEFAULT_EXPIRES_AFTER = 86400
PRIORITY_NORMAL = "normal"


def is_route(value: str) -> bool:
    return bool(_ROUTE_RE.fullmatch(value))


def is_request_key(value: str) -> bool:
    return bool(_KEY_RE.fullmatch(value))


def parse_request_signature(value: str) -> str | None:
    """The lowercase hex of a ``request-signature: v2=<64 hex digits>`` value; None for any
    other value (the caller answers 401 code 101, as for a malformed request key)."""
    found = _SIGNATURE_RE.fullmatch(value)
    return found.group(1).lower() if found else None


def is_md5(value: str) -> bool:
    return bool(_MD5_RE.fullmatch(value))


def has_control_chars(value: str) -> bool:
    return bool(_CONTROL_RE.search(value))


def clean_value(name: str, value: str | None, *, required: bool = True) -> str | None:
    """Return a header value after the checks that apply to every relaybox header."""
    if value is None:
        if required:
            raise missing_header(name)
        return None
    if has_control_chars(value):
        raise missing_header(name, "contains control characters")
    if len(value) > MAX_HEADER_VALUE:
        raise missing_header(name, f"is longer than {MAX_HEADER_VALUE} characters")
    if required and value == "":
        raise missing_header(name, "is empty")
    return value


def parse_message_to(value: str | None) -> str:
    """A route, or ``list:<id>`` (a fan-out to a contact list; a route has no ``:``)."""
    v = clean_value(MESSAGE_TO, value)
    assert v is not None
    if not is_route(v) and list_id(v) is None:
        raise missing_header(MESSAGE_TO, "is not a route (local@domain) or a list (list:<id>)")
    return v


_LIST_RE = re.compile(r"list:([1-9][0-9]{0,17})")


def list_id(value: str) -> int | None:
    """The id of a ``list:<id>`` address, else None."""
    found = _LIST_RE.fullmatch(value)
    if found is None:
        return None
    number = int(found.group(1))
    return number if number < 2**31 else 0  # beyond any stored id: a list that does not exist


def parse_message_id(value: str | None) -> str:
    v = clean_value(MESSAGE_ID, value)
    assert v is not None
    if not _MESSAGE_ID_RE.fullmatch(v):
        raise missing_header(MESSAGE_ID, "must be 1-128 printable ASCII characters")
    return v


def parse_message_md5(value: str | None) -> str:
    v = clean_value(MESSAGE_MD5, value)
    assert v is not None
    if not is_md5(v):
        raise missing_header(MESSAGE_MD5, "must be 32 hex digits")
    return v.lower()


def parse_expires_after(value: str | None, *, maximum: int) -> int:
    v = clean_value(MESSAGE_EXPIRES_AFTER, value, required=False)
    if v is None:
        return min(DEFAULT_EXPIRES_AFTER, maximum)
    if not re.fullmatch(r"[+-]?[0-9]{1,12}", v.strip()):
        raise missing_header(MESSAGE_EXPIRES_AFTER, "must be an integer number of seconds")
    seconds = int(v.strip())
    if not 1 <= seconds <= maximum:
        raise RelayboxError(ErrorCode.BAD_EXPIRY, f"message-expires-after must be between 1 and {maximum} seconds")
    return seconds


def parse_priority(value: str | None) -> str:
    v = clean_value(MESSAGE_PRIORITY, value, required=False)
    if v is None:
        return PRIORITY_NORMAL
    if v.strip().lower() != PRIORITY_NORMAL:
        raise RelayboxError(ErrorCode.BAD_PRIORITY, "Only 'normal' message-priority is supported")
    return PRIORITY_NORMAL


def parse_pay_for_reply(value: str | None) -> bool:
    v = clean_value(PAY_FOR_REPLY, value, required=False)
    if v is None:
        return False
    if v.strip() not in ("0", "1"):
        raise missing_header(PAY_FOR_REPLY, "must be 0 or 1")
    return v.strip() == "1"


def parse_timeout(value: str | None, *, default: int, maximum: int) -> int:
    """The ``?timeout=N`` of wait-next-message: seconds, clamped to ``maximum``."""
    if value is None or value == "":
        return default
    if not re.fullmatch(r"[0-9]{1,9}", value):
        raise missing_header("timeout", "must be a whole number of seconds")
    return min(int(value), maximum)


def parse_index(value: str | None) -> int:
    """The ``?index=N`` attachment selector (multi-file messages; 0 for /1 sends)."""
    if value is None:
        return 0
    if not re.fullmatch(r"[0-9]{1,9}", value):
        raise missing_header("index", "must be a decimal integer")
    return int(value)
