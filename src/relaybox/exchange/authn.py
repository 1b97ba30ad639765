"""Request authentication: headers -> the caller's route, or 100/101/102/103/104."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from relaybox.auth.signing import keys_equal, receive_key, send_key
from relaybox.errors import ErrorCode, RelayboxError, missing_header
from relaybox.exchange.ratelimit import RateLimiter
from relaybox.store.base import Store
from relaybox.wire import headers as h
from relaybox.wire.timestamps import TimestampError, parse_timestamp

# Verifying against this when the route is unknown or disabled keeps the work (and the answer)
# the same as for a wrong key, so routes cannot be enumerated.
_DUMMY_SECRET = "relaybox-no-such-route-" + "0" * 48


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

    async def authenticate(self, headers: Mapping[str, str], *, send: bool = False) -> str:
        """Return the caller's route. Raises in the spec's order: 100, 101, 102, 103, 104."""
        timestamp = h.clean_value(h.REQUEST_TIMESTAMP, headers.get(h.REQUEST_TIMESTAMP))
        caller = h.clean_value(h.REQUEST_FROM, headers.get(h.REQUEST_FROM))
        key = h.clean_value(h.REQUEST_KEY, headers.get(h.REQUEST_KEY))
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

        now = self.clock()
        if abs(now - when) > self.window:
            raise RelayboxError(ErrorCode.TIMESTAMP_SKEW)
        # The key stays refusable for as long as its timestamp could pass the window check.
        if not await self.store.use_request_key(key.lower(), when + self.window + 1):
            raise RelayboxError(ErrorCode.KEY_REPLAYED)
        self.limiter.check(caller)
        return caller
