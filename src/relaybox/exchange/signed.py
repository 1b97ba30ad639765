"""HMAC-signed /v1 requests (request-signing.md): RCWS (seed 001) and Date+digest (seed 004),
keyed by API keys. Checks run in the documented order — the Authorization header, the key,
the time, the signature, then replay — and every refusal is a 401 problem with its own type.

The signature is checked against what arrived (method, the raw request target, the body's
bytes); a signature enters the replay store only after it verified, so garbage cannot fill it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from relaybox.auth import hmac_request, rcws
from relaybox.config import Settings
from relaybox.errors import V1Error
from relaybox.store.apikeys import ApiKeyRecord
from relaybox.store.base import Store
from relaybox.wire.timestamps import TimestampError, parse_timestamp

REPLAY_TTL = 600.0  # seconds a used signature is remembered (every node: in the database)
_SAFE = ("GET", "HEAD")


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a signature covers, as it arrived."""

    method: str
    path: str  # the path as on the request line (percent-encoding untouched)
    query: str  # the raw query string, without "?"
    headers: Sequence[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    @property
    def target(self) -> str:
        return self.path + ("?" + self.query if self.query else "")


def refuse(slug: str, detail: str, **extra: str) -> V1Error:
    status, title = hmac_request.PROBLEMS[slug]
    return V1Error(status, detail, problem=slug, extra={"title": title, **extra})


class HmacAuth:
    def __init__(self, store: Store, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.providers = hmac_request.parse_providers(settings.hmac_providers)

    def kind(self, authorization: str | None) -> str:
        """jwt, rcws, digest, unsupported or missing (request-signing.md, "Which scheme")."""
        return str(hmac_request.classify(authorization, self.providers).kind)

    def names(self, authorization: str | None) -> bool:
        """Whether ``authorization`` names one of the HMAC schemes (not a token)."""
        return hmac_request.classify(authorization, self.providers).kind in ("rcws", "digest")

    @property
    def challenge(self) -> str:
        """``WWW-Authenticate`` of a 401: the schemes this server takes."""
        return ", ".join(["RCWS", *self.providers])

    async def authenticate(self, authorization: str, request: SignedRequest) -> ApiKeyRecord:
        scheme = hmac_request.classify(authorization, self.providers)
        if scheme.kind == "rcws":
            return await self._rcws(authorization, request)
        if scheme.kind == "digest":
            assert scheme.provider is not None and scheme.hash is not None
            return await self._digest(authorization, request, scheme.hash)
        raise refuse("unsupported-scheme", "The Authorization scheme is not one this server accepts.")

    async def _key(self, public_key: str) -> ApiKeyRecord:
        key = await self.store.apikeys.get(public_key)
        now = self.clock()
        if key is None:
            raise refuse("unknown-key", "No such API key.")
        if key.revoked_at is not None:
            raise refuse("key-revoked", "This API key was revoked.")
        if key.expires_at is not None and key.expires_at <= now:
            raise refuse("key-expired", "This API key has expired.")
        return key

    def _fresh(self, at: float) -> None:
        now = self.clock()
        if abs(now - at) > self.settings.signature_window:
            server = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
            raise refuse(
                "clock-skew",
                f"The request time is more than {self.settings.signature_window} s from the server's ({server}).",
            )

    async def _once(self, scheme: str, key: ApiKeyRecord, signature: bytes) -> None:
        used = f"{scheme}:{key.public_key}:{signature.hex()}"
        # Remembered while the request's time can still pass the window (both sides of it).
        ttl = max(REPLAY_TTL, 2 * self.settings.signature_window)
        if not await self.store.use_request_key(used, self.clock() + ttl):
            raise refuse("replay", "This signature was already used.")

    async def _rcws(self, authorization: str, request: SignedRequest) -> ApiKeyRecord:
        parsed = rcws.parse_authorization(authorization)
        if parsed is None:
            raise refuse("malformed-authorization", "Expected RCWS <public key>:<64 hex digits>.")
        _word, public_key, signature = parsed
        key = await self._key(public_key)
        stamp = request.header("request-timestamp")
        if stamp is None:
            if key.require_timestamp or self.settings.rcws_require_timestamp:
                raise refuse("missing-timestamp", "This API key requires a request-timestamp header.")
        else:
            try:
                self._fresh(parse_timestamp(stamp))
            except TimestampError:
                raise refuse("malformed-timestamp", "request-timestamp is not YYYY-MM-DDTHH:MM:SS[Z|+HH:MM].") from None
        candidates = rcws.candidates(
            request.method,
            self.settings.path_prefix + request.path,
            request.query,
            request.body,
            request.header("content-type"),
            stamp,
        )
        if rcws.verify(key.private_key, candidates, signature) is None:
            raise refuse(
                "invalid-signature", "The RCWS signature does not match the request.", expected_string=candidates[0]
            )
        if stamp is not None or request.method.upper() not in _SAFE:
            await self._once("rcws", key, signature)
        return key

    async def _digest(self, authorization: str, request: SignedRequest, hash_name: str) -> ApiKeyRecord:
        parsed = hmac_request.parse_digest_authorization(authorization, hash_name)
        if parsed is None:
            raise refuse("malformed-authorization", "Expected <provider> <public key>:<base64 signature>.")
        _provider, public_key, signature = parsed
        key = await self._key(public_key)
        date = request.header("date")
        if date is None:
            raise refuse("missing-timestamp", "A Date header is required.")
        at = hmac_request.parse_date(date)
        if at is None:
            raise refuse("malformed-timestamp", "Date is not an ISO 8601 or HTTP date.")
        self._fresh(at)
        try:
            expected = hmac_request.digest_string_for(
                method=request.method,
                body=request.body,
                content_type=request.header("content-type"),
                date=date,
                headers=request.headers,
                target=self.settings.path_prefix + request.target,
            )
        except ValueError as exc:  # a repeated Message-* header
            raise V1Error(400, str(exc)) from None
        if not hmac_request.verify_digest(key.private_key, hash_name, expected, signature):
            raise refuse("invalid-signature", "The signature does not match the request.", expected_string=expected)
        await self._once("digest", key, signature)
        return key
