"""Who calls the management API: accounts, their stations, tokens and the per-token rate
limit; and the provisioning the CLI does (``account``, ``station`` commands)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from relaybox.auth import passwords, tokens
from relaybox.config import Settings
from relaybox.errors import UNAUTHORIZED, V1Error, bad_request
from relaybox.exchange.ratelimit import SlidingWindow
from relaybox.exchange.signed import HmacAuth, SignedRequest, refuse
from relaybox.store.apikeys import ApiKeyRecord
from relaybox.store.base import AccountRecord, Conflict, StationRecord, Store

TOKEN_KEY = "token-hs256"
_INVALID_LOGIN = "Invalid username or password"


@dataclass(frozen=True, slots=True)
class Caller:
    account_id: int
    email: str
    token_id: str
    stations: dict[str, StationRecord]  # by route

    def owns(self, route: str) -> bool:
        return route in self.stations


class Identity:
    def __init__(self, store: Store, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.limiter = SlidingWindow(settings.v1_rate_limit, settings.v1_rate_window)
        self.hmac = HmacAuth(store, settings, clock)
        self._secret: bytes | None = None

    async def start(self) -> None:
        # In the database, not per process: tokens work on every node and survive restarts.
        self._secret = await self.store.accounts.server_key(TOKEN_KEY, lambda: secrets.token_bytes(32), self.clock())

    def _key(self) -> bytes:
        if self._secret is None:
            raise RuntimeError("identity not started")
        return self._secret

    def _limit(self, key: str) -> None:
        wait = self.limiter.hit(key)
        if wait is not None:
            raise V1Error(429, "Rate limit exceeded", retry_after=wait)

    async def authorize(self, body: bytes) -> tuple[str, int]:
        """``{"username", "password"}`` -> (token, expiry in ms)."""
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nesting too deep ([[[[...), not a 500
            doc = None
        if not (
            isinstance(doc, dict) and isinstance(doc.get("username"), str) and isinstance(doc.get("password"), str)
        ):
            raise bad_request('Body must be a JSON object {"username": EMAIL, "password": PASSWORD}')
        username, password = doc["username"], doc["password"]
        # Counted per username (there is no token yet): slows password guessing.
        self._limit("user:" + username.lower())
        try:
            email = passwords.normalize_email(username)
        except ValueError:
            email = None
        account = await self.store.accounts.get(email) if email else None
        # An unknown email verifies a dummy hash: same answer, same time. Hashing is slow by
        # design, so it runs off the event loop.
        stored = account.password_hash if account else None
        if not await asyncio.to_thread(passwords.verify_password, stored, password) or account is None:
            raise V1Error(401, _INVALID_LOGIN)
        return tokens.issue_token(
            self._key(),
            email=account.email,
            account_id=account.id,
            password_version=account.password_version,
            now=self.clock(),
            ttl=self.settings.token_ttl,
        )

    async def authenticate(self, authorization: str | None) -> Caller:
        """401 unless the token is valid for an existing account; then 429 over the limit."""
        raw = tokens.token_from_header(authorization)
        if raw is None:
            raise V1Error(401, UNAUTHORIZED)
        try:
            claims = tokens.read_token(self._key(), raw, now=self.clock())
        except tokens.InvalidToken:
            raise V1Error(401, UNAUTHORIZED) from None
        account = await self.store.accounts.get_by_id(claims.account_id)
        if account is None or account.email != claims.email or account.password_version != claims.password_version:
            raise V1Error(401, UNAUTHORIZED)
        self._limit("jti:" + claims.jti)
        stations = await self.store.accounts.stations_of(account.id)
        return Caller(account.id, account.email, claims.jti, {s.route: s for s in stations})

    async def authenticate_signed(self, authorization: str, request: SignedRequest) -> Caller:
        """An HMAC-signed request (RCWS or Date+digest): acts as the key's account, rate-limited
        per key as a token is."""
        key = await self.hmac.authenticate(authorization, request)
        account = await self.store.accounts.get_by_id(key.account_id)
        if account is None:
            raise refuse("unknown-key", "No such API key.")
        self._limit("key:" + key.public_key)
        await self.store.apikeys.touch(key.public_key, self.clock())
        stations = await self.store.accounts.stations_of(account.id)
        return Caller(account.id, account.email, key.public_key, {s.route: s for s in stations})


# -- provisioning (CLI) ----------------------------------------------------------------------
class Refused(Exception):
    """A provisioning command refused (exit 1 with this message)."""


def checked_email(email: str) -> str:
    try:
        return passwords.normalize_email(email)
    except ValueError as exc:
        raise Refused(str(exc)) from None


def checked_password(password: str) -> str:
    try:
        passwords.check_password(password)
    except ValueError as exc:
        raise Refused(str(exc)) from None
    return password


async def add_account(store: Store, email: str, password: str | None, now: float) -> tuple[AccountRecord, str | None]:
    """Create an account; (record, the generated password or None when one was given)."""
    email = checked_email(email)
    generated = None
    if password is None:
        password = generated = passwords.generate_password()
    checked_password(password)
    try:
        account = await store.accounts.add(email, await asyncio.to_thread(passwords.hash_password, password), now)
    except Conflict:
        raise Refused(f"account {email} already exists") from None
    return account, generated


async def set_password(store: Store, email: str, password: str | None) -> str | None:
    """Change the password (every older token stops working); the generated one, if any."""
    email = checked_email(email)
    generated = None
    if password is None:
        password = generated = passwords.generate_password()
    checked_password(password)
    if not await store.accounts.set_password(email, await asyncio.to_thread(passwords.hash_password, password)):
        raise Refused(f"no account {email}")
    return generated


# -- API keys (CLI and /v1/apikeys) ---------------------------------------------------------------
MAX_KEY_DAYS = 36500


async def create_api_key(
    store: Store, account_id: int, name: str, expires_days: int | None, require_timestamp: bool, now: float
) -> ApiKeyRecord:
    """A new key pair of the account: ``rbk_`` + 24 hex (public), ``rbs_`` + 43 base64url
    characters (private, the HMAC key; shown once by the caller)."""
    if len(name) > 128 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise Refused("name: at most 128 characters without control characters")
    if expires_days is not None and not 1 <= expires_days <= MAX_KEY_DAYS:
        raise Refused(f"expiry: 1..{MAX_KEY_DAYS} days")
    key = ApiKeyRecord(
        public_key="rbk_" + secrets.token_hex(12),
        account_id=account_id,
        name=name,
        private_key="rbs_" + secrets.token_urlsafe(32),
        require_timestamp=require_timestamp,
        created_at=now,
        expires_at=None if expires_days is None else now + expires_days * 86400,
        revoked_at=None,
        last_used_at=None,
    )
    await store.apikeys.add(key)
    return key


def render_key(key: ApiKeyRecord, email: str, now: float, *, private: bool = False) -> dict[str, object]:
    """The management API's form (camelCase, Unix ms); the private key only when just made."""
    doc: dict[str, object] = {"publicKey": key.public_key}
    if private:
        doc["privateKey"] = key.private_key
    doc.update(
        account=email,
        name=key.name,
        createdTimestamp=int(key.created_at * 1000),
        expiryTimestamp=None if key.expires_at is None else int(key.expires_at * 1000),
        requireTimestamp=key.require_timestamp,
    )
    if not private:
        doc["lastUsedTimestamp"] = None if key.last_used_at is None else int(key.last_used_at * 1000)
        doc["state"] = key.state(now)
    return doc
