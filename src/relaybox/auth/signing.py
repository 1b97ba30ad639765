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

Below: the optional ``request-signature`` v2, a relaybox extension (``docs/route-api.md``).
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


# -- request-signature v2 (an additive relaybox extension; docs/route-api.md) -------------------
#
#     request-signature: v2=hex(HMAC-SHA256(KEY_SECRET, METHOD \n PATH?QUERY \n TIMESTAMP \n MD5(body)))
#
# Unlike the request key it covers the method, the request target (path and query exactly as on
# the request line) and the whole raw body (multipart framing included), on every call.

SIGNATURE_VERSION = "v2"
#: MD5 of the empty body: what a receive call (GET, no body) signs.
EMPTY_MD5 = hashlib.md5(b"", usedforsecurity=False).hexdigest()


def signature_string(method: str, target: str | bytes, timestamp: str, body_md5: str) -> bytes:
    """``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nMD5`` as bytes. ``target`` is the request target as
    on the request line (bytes as received, or text that is encoded as UTF-8); ``body_md5`` is
    lowercase hex."""
    raw = target if isinstance(target, bytes) else target.encode("utf-8")
    return b"\n".join(
        (method.upper().encode("ascii"), raw, timestamp.encode("utf-8"), body_md5.lower().encode("ascii"))
    )


def request_signature(secret: str, method: str, target: str | bytes, timestamp: str, body_md5: str) -> str:
    """64 lowercase hex digits: HMAC-SHA256 keyed with the route's secret (UTF-8)."""
    message = signature_string(method, target, timestamp, body_md5)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, method: str, target: str | bytes, timestamp: str, body_md5: str) -> str:
    """The ``request-signature`` header value: ``v2=<64 hex>``."""
    return f"{SIGNATURE_VERSION}={request_signature(secret, method, target, timestamp, body_md5)}"


def signatures_equal(expected: str, given: str) -> bool:
    """Constant-time comparison of two lowercase hex signatures."""
    return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii", "replace"))
