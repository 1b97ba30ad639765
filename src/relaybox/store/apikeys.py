"""API keys: the credentials of the HMAC request-signing schemes (RCWS, Date+digest)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from relaybox.auth.sealed import Sealer
from relaybox.store.db import Db, Runner
from relaybox.store.schema import accounts, api_keys

_BY_PUBLIC = select(api_keys).where(api_keys.c.public_key == bindparam("public"))
# last_used_at is a hint for `apikey list`: written at most once a minute per key.
_TOUCH = (
    update(api_keys)
    .where(api_keys.c.public_key == bindparam("public"), api_keys.c.last_used_at < bindparam("stale"))
    .values(last_used_at=bindparam("at"))
)
TOUCH_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    public_key: str
    account_id: int
    name: str
    private_key: str
    require_timestamp: bool
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None

    def state(self, now: float) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def _key(row: Sequence[Any]) -> ApiKeyRecord:
    public, account, name, private, require, created, expires, revoked, used = row
    return ApiKeyRecord(public, account, name, private, bool(require), created, expires, revoked, used)


class ApiKeyStore:
    def __init__(self, q: Runner, sealer: Callable[[], Sealer]) -> None:
        self._q = q
        # Private keys are HMAC keys (symmetric schemes): sealed at rest like route secrets.
        self._sealer = sealer

    def _open(self, key: ApiKeyRecord) -> ApiKeyRecord:
        return replace(key, private_key=self._sealer().open(key.private_key))

    async def add(self, key: ApiKeyRecord) -> None:
        values = {
            "public_key": key.public_key,
            "account_id": key.account_id,
            "name": key.name,
            "private_key": self._sealer().seal(key.private_key),
            "require_timestamp": key.require_timestamp,
            "created_at": key.created_at,
            "expires_at": key.expires_at,
            "revoked_at": None,
            "last_used_at": key.created_at,
        }
        await self._q(lambda db: db.run(insert(api_keys), values), write=True)

    async def get(self, public_key: str) -> ApiKeyRecord | None:
        row = await self._q(lambda db: db.first(_BY_PUBLIC, {"public": public_key}), write=False)
        return self._open(_key(row)) if row else None

    async def list(self, account_id: int | None = None) -> list[tuple[ApiKeyRecord, str]]:
        """Keys (of one account, or all) with their account's email, oldest first."""
        stmt = (
            select(api_keys, accounts.c.email)
            .join(accounts, accounts.c.id == api_keys.c.account_id)
            .order_by(api_keys.c.created_at, api_keys.c.public_key)
        )
        if account_id is not None:
            stmt = stmt.where(api_keys.c.account_id == account_id)
        rows = await self._q(lambda db: db.all(stmt), write=False)
        return [(self._open(_key(r[:-1])), r[-1]) for r in rows]

    async def revoke(self, public_key: str, now: float, account_id: int | None = None) -> bool:
        """True when the key existed (of that account) and was not revoked before."""
        stmt = update(api_keys).where(api_keys.c.public_key == public_key, api_keys.c.revoked_at.is_(None))
        if account_id is not None:
            stmt = stmt.where(api_keys.c.account_id == account_id)
        return await self._q(lambda db: db.run(stmt.values(revoked_at=now)), write=True) > 0

    async def touch(self, public_key: str, now: float) -> None:
        params = {"public": public_key, "stale": now - TOUCH_EVERY, "at": now}

        def touch(db: Db) -> int:
            return db.run(_TOUCH, params)

        await self._q(touch, write=True, fsync=False)
