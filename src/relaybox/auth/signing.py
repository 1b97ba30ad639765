"""The route API request key (``route-api.md``, "Request key").

Receive calls::

    request-key = hex(sha512(TIMESTAMP + ROUTE + KEY_SECRET))

send-message::

    request-key = hex(sha512(TIMESTAMP + ROUTE + MESSAGE_TO + MESSAGE_ID + MESSAGE_MD5 + KEY_SECRET))

This is exactly what the vendor's shell recipe computes with
``echo -n "$DATE$ROUTE$KEY_SECRET" | shasum -a 512``. Public so other clients can reuse it::

    >>> from relaybox.auth.signing import receive_key
    >>> len(receive_key("2024-10-24T22:51:00", "abcd@abcdef01", "s3cret"))
    128
"""

from __future__ import annotations

import hashlib
import hmac


def _key(*parts: str) -> str:
    return hashlib.sha512("".join(parts).encode("utf-8")).hexdigest()


def receive_key(timestamp: str, route: str, secret: str) -> str:
    """The key of list-messages, get-message, get-next-message, wait-next-message, ping."""
    return _key(timestamp, route, secret)


def send_key(timestamp: str, route: str, message_to: str, message_id: str, message_md5: str, secret: str) -> str:
    """The key of send-message; ``message_md5`` exactly as sent in the ``message-md5`` header."""
    return _key(timestamp, route, message_to, message_id, message_md5, secret)


def keys_equal(expected: str, given: str) -> bool:
    """Case-insensitive, constant-time comparison of two hex keys."""
    return hmac.compare_digest(expected.lower().encode("ascii", "replace"), given.lower().encode("ascii", "replace"))
