"""Secrets at rest: route secrets, API private keys, webhook and push secrets are sealed with
``RELAYBOX_MASTER_KEY`` (Fernet: AES-128-CBC + HMAC-SHA256, from ``cryptography``) when it is
set. The schemes that use these secrets are symmetric, so they must be recoverable: sealing
keeps a copied database file from handing them out.

The setting holds one or more Fernet keys, comma-separated: the first seals, any opens
(``MultiFernet``), so a new key can be put in front and ``relaybox keys rotate`` re-seals
everything with it before the old one is dropped. A sealed value is ``fernet:<token>``; a
value without the prefix is plaintext (stored before a key was set)."""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "fernet:"


class SealError(ValueError):
    """A sealed value this key cannot open, or a sealed value and no key."""


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


class Sealer:
    """Seals and opens secrets; without keys it is the identity on plaintext."""

    def __init__(self, keys: str | None) -> None:
        parts = [k.strip() for k in (keys or "").split(",") if k.strip()]
        try:
            self._fernet = MultiFernet([Fernet(k.encode("ascii")) for k in parts]) if parts else None
        except (ValueError, UnicodeEncodeError):
            raise SealError(
                "RELAYBOX_MASTER_KEY must be Fernet keys (relaybox keys generate), comma-separated"
            ) from None
        # Opening is on the hot path of every request (a route's secret): remembered.
        self.open = functools.lru_cache(maxsize=4096)(self._open)

    @property
    def active(self) -> bool:
        return self._fernet is not None

    def seal(self, secret: str) -> str:
        if self._fernet is None:
            return secret
        return PREFIX + self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def _open(self, stored: str) -> str:
        if not is_sealed(stored):
            return stored
        if self._fernet is None:
            raise SealError("the stored secrets are sealed: set RELAYBOX_MASTER_KEY")
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SealError("RELAYBOX_MASTER_KEY does not open the stored secrets (a wrong key?)") from None

    def reseal(self, stored: str) -> str:
        """``stored`` sealed with the first key (plaintext sealed, sealed re-sealed)."""
        return self.seal(self.open(stored))
