"""Request authentication: headers -> the caller's route, or 100/101/102/103/104.

Besides the request key, a call may carry ``request-signature: v2=<hex>`` (an additive relaybox
extension, ``docs/route-api.md``): HMAC-SHA256 keyed with the route's secret over
``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nMD5(body)``. It is verified when present and required by
routes set to ``require_signature``; a bad, mismatching or missing-but-required one is 401
code 101. Receive calls have no body (the empty MD5 is signed) and are checked at once; a send's
body is hashed as the handler streams it (``PendingSignature``) and checked before the message
is committed. Without the header, on a route that does not require it, nothing extra is done.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from relaybox.auth.signing import EMPTY_MD5, keys_equal, receive_key, request_signature, send_key, signatures_equal
from relaybox.errors import ErrorCode, RelayboxError, missing_header
from relaybox.exchange.ratelimit import RateLimiter
from relaybox.store.base import RouteRecord, Store
from relaybox.wire import headers as h
from relaybox.wire.timestamps import TimestampError, parse_timestamp

# Verifying against this when the route is unknown or disabled keeps the work (and the answer)
# the same as for a wrong key, so routes cannot be enumerated.
_DUMMY_SECRET = "relaybox-no-such-route-" + "0" * 48

#: An ASGI ``receive`` callable (typed here without the server's packages).
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

SIGNATURE_REQUIRED = f"{h.REQUEST_SIGNATURE} required"
SIGNATURE_MALFORMED = f"{h.REQUEST_SIGNATURE} is not v2=<64 hex digits>"
SIGNATURE_MISMATCH = f"{h.REQUEST_SIGNATURE} does not match the request"


def request_target(scope: Mapping[str, Any], path_prefix: str = "") -> bytes:
    """``PATH?QUERY`` as on the request line: the ASGI ``raw_path`` (percent-encoding untouched),
    ``?`` and the raw query only when there is one; ``path_prefix`` (``RELAYBOX_PATH_PREFIX``, a
    prefix a proxy strips) is put back in front."""
    raw: bytes = scope.get("raw_path") or str(scope.get("path", "")).encode("utf-8")
    target = path_prefix.encode("utf-8") + raw.split(b"?", 1)[0]
    query: bytes = scope.get("query_string") or b""
    return target + b"?" + query if query else target


class PendingSignature:
    """A send's v2 signature: ``wrap`` the ASGI ``receive`` so that the raw body is hashed as it
    is read (never buffered), then ``verify`` once the body is complete, before committing."""

    __slots__ = ("_complete", "_digest", "_given", "_method", "_secret", "_target", "_timestamp")

    def __init__(self, secret: str, method: str, target: bytes, timestamp: str, given: str) -> None:
        self._secret = secret
        self._method = method
        self._target = target
        self._timestamp = timestamp
        self._given = given
        self._digest = hashlib.md5(usedforsecurity=False)
        self._complete = False

    def wrap(self, receive: Receive) -> Receive:
        async def hashing_receive() -> MutableMapping[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                if body:
                    self._digest.update(body)
                if not message.get("more_body", False):
                    self._complete = True
            return message

        return hashing_receive

    def verify(self) -> None:
        """401 code 101 unless the whole body was read and the signature matches it."""
        if not self._complete:  # the handler stopped reading early: the body is not known
            raise RelayboxError(ErrorCode.INVALID_KEY, SIGNATURE_MISMATCH)
        self.check(self._digest.hexdigest())

    def check(self, body_md5: str) -> None:
        """401 code 101 unless the signature matches a body with this (lowercase hex) MD5."""
        expected = request_signature(self._secret, self._method, self._target, self._timestamp, body_md5)
        if not signatures_equal(expected, self._given):
            raise RelayboxError(ErrorCode.INVALID_KEY, SIGNATURE_MISMATCH)


class Authenticator:
    def __init__(
        self, store: Store, *, window: int, limiter: RateLimiter, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.window = window
        self.limiter = limiter
        self.clock = clock

    @staticmethod
    def has_credentials(headers: Mapping[str, str]) -> bool:
        return any(name in headers for name in (h.REQUEST_TIMESTAMP, h.REQUEST_FROM, h.REQUEST_KEY))

    async def authenticate(
        self, headers: Mapping[str, str], *, scope: Mapping[str, Any] | None = None, path_prefix: str = ""
    ) -> str:
        """A receive call (or ping): return the caller's route. Raises in the spec's order: 100,
        101 (request key, then request-signature over the empty body), 102, 103, 104.
        ``scope`` (the ASGI scope) gives method and target for ``request-signature``."""
        caller, _pending = await self._authenticate(headers, send=False, scope=scope, path_prefix=path_prefix)
        return caller

    async def authenticate_send(
        self, headers: Mapping[str, str], *, scope: Mapping[str, Any] | None = None, path_prefix: str = ""
    ) -> tuple[str, PendingSignature | None]:
        """send-message: the caller's route, and the request-signature still to check against the
        body (None when the request carries none and the route does not require one). A missing
        but required or malformed signature is refused here, before the body is read."""
        return await self._authenticate(headers, send=True, scope=scope, path_prefix=path_prefix)

    async def _authenticate(
        self, headers: Mapping[str, str], *, send: bool, scope: Mapping[str, Any] | None, path_prefix: str
    ) -> tuple[str, PendingSignature | None]:
        timestamp = h.clean_value(h.REQUEST_TIMESTAMP, headers.get(h.REQUEST_TIMESTAMP))
        caller = h.clean_value(h.REQUEST_FROM, headers.get(h.REQUEST_FROM))
        key = h.clean_value(h.REQUEST_KEY, headers.get(h.REQUEST_KEY))
        signature = h.clean_value(h.REQUEST_SIGNATURE, headers.get(h.REQUEST_SIGNATURE), required=False)
        assert timestamp is not None and caller is not None and key is not None
        try:
            when = parse_timestamp(timestamp)
        except TimestampError as exc:
            raise missing_header(h.REQUEST_TIMESTAMP, f"is not an ISO 8601 timestamp ({exc})") from None

        record = await self.store.get_route(caller) if h.is_route(caller) else None
        usable = record is not None and record.enabled
        secret = record.secret if record is not None and usable else _DUMMY_SECRET
        if send:
            # The key covers these headers exactly as sent; their own checks come after auth.
            expected = send_key(
                timestamp,
                caller,
                headers.get(h.MESSAGE_TO, ""),
                headers.get(h.MESSAGE_ID, ""),
                headers.get(h.MESSAGE_MD5, ""),
                secret,
            )
        else:
            expected = receive_key(timestamp, caller, secret)
        matches = keys_equal(expected, key)
        if not (matches and usable and h.is_request_key(key)):
            raise RelayboxError(ErrorCode.INVALID_KEY)
        assert record is not None

        pending = None
        if signature is not None or record.require_signature:
            pending = self._signature(record, signature, timestamp, scope, path_prefix)
            if not send:
                pending.check(EMPTY_MD5)  # receive calls have no body
                pending = None

        now = self.clock()
        if abs(now - when) > self.window:
            raise RelayboxError(ErrorCode.TIMESTAMP_SKEW)
        # The key stays refusable for as long as its timestamp could pass the window check.
        if not await self.store.use_request_key(key.lower(), when + self.window + 1):
            raise RelayboxError(ErrorCode.KEY_REPLAYED)
        self.limiter.check(caller)
        return caller, pending

    @staticmethod
    def _signature(
        record: RouteRecord,
        value: str | None,
        timestamp: str,
        scope: Mapping[str, Any] | None,
        path_prefix: str,
    ) -> PendingSignature:
        """The signature to check, or 401 code 101 when it is missing (but required) or malformed."""
        if value is None:
            raise RelayboxError(ErrorCode.INVALID_KEY, SIGNATURE_REQUIRED)
        given = h.parse_request_signature(value)
        if given is None:
            raise RelayboxError(ErrorCode.INVALID_KEY, SIGNATURE_MALFORMED)
        if scope is None:  # a caller that cannot say what was requested cannot have it checked
            raise RelayboxError(ErrorCode.INVALID_KEY, SIGNATURE_MISMATCH)
        method = str(scope.get("method", "GET"))
        return PendingSignature(record.secret, method, request_target(scope, path_prefix), timestamp, given)
