"""Server-made identifiers: message links and request ids."""

from __future__ import annotations

import functools
import re
import secrets
import time
from datetime import UTC, datetime

# Clients paste links into URLs unquoted, so links use only RFC 3986 unreserved characters.
_LINK_RE = re.compile(r"[A-Za-z0-9._~-]{1,128}")
# Cursor meaning "from the start" in get-next-message / wait-next-message.
START_LINK = "0"


def new_link() -> str:
    """128 random bits, URL-safe base64 (``[A-Za-z0-9_-]``): unguessable, no quoting needed.
    Never starting with ``-``, which command lines would take for an option (``relaybox get``)."""
    while True:
        link = secrets.token_urlsafe(16)
        if link[0] != "-":
            return link


def is_link(value: str) -> bool:
    return bool(_LINK_RE.fullmatch(value))


def new_request_id(now: float | None = None) -> str:
    """``YYYYMMDDHHMMSS-<16 hex>`` in UTC, as the vendor's servers answer."""
    second = int(time.time() if now is None else now)
    return f"{_stamp(second)}-{secrets.token_hex(8)}"


@functools.lru_cache(maxsize=4)
def _stamp(second: int) -> str:
    # Formatted once per second, not once per request.
    return f"{datetime.fromtimestamp(second, UTC):%Y%m%d%H%M%S}"


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid(now: float | None = None) -> str:
    """A ULID (26 characters of Crockford base32: 48-bit millisecond time, 80 random bits):
    unique across nodes without coordination, and sorting by creation time."""
    ms = int((time.time() if now is None else now) * 1000)
    value = (ms << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def new_event_id(now: float | None = None) -> str:
    return "evt_" + new_ulid(now)


def new_webhook_id(now: float | None = None) -> str:
    return "wh_" + new_ulid(now)


def new_delivery_id(now: float | None = None) -> str:
    return "dlv_" + new_ulid(now)
