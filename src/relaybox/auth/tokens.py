"""Management API bearer tokens: JWT HS256 (``management-api.md``, "Authentication").

Time is passed in (``now``) rather than read, so expiry is testable and decided in one place.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

import jwt

_ALGORITHM = "HS256"
_INT_CLAIMS = ("aid", "pwv", "iat", "exp")
_STR_CLAIMS = ("sub", "jti")
_CLAIMS = (*_STR_CLAIMS, *_INT_CLAIMS)


class InvalidToken(ValueError):
    """The token is missing a part, forged, of another algorithm, malformed or expired."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    email: str
    account_id: int
    password_version: int
    issued_at: int
    expires_at: int
    jti: str


def issue_token(
    secret: bytes, *, email: str, account_id: int, password_version: int, now: float, ttl: int
) -> tuple[str, int]:
    """Return the token and its expiry in Unix milliseconds (the seed's timestamp unit)."""
    issued = int(now)
    # Rounded up: a token lives at least ``ttl`` seconds (``exp`` is whole seconds).
    expires = math.ceil(now) + ttl
    claims = {
        "sub": email,
        "aid": account_id,
        "pwv": password_version,
        "iat": issued,
        "exp": expires,
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM), expires * 1000


def read_token(secret: bytes, token: str, *, now: float) -> TokenClaims:
    """The claims of a valid, unexpired token; ``InvalidToken`` for anything else."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            # PyJWT's clock checks read the real clock; ``exp`` is checked below against ``now``.
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "require": [*_CLAIMS]},
        )
    # Hostile input also surfaces as non-PyJWT errors (a lone surrogate raises UnicodeEncodeError);
    # callers must see exactly one exception type to map it to 401.
    except Exception as exc:
        raise InvalidToken("invalid token") from exc
    # bool is an int subclass; a JSON true must not pass as an account id.
    if any(type(payload.get(name)) is not int for name in _INT_CLAIMS):
        raise InvalidToken("token claims have the wrong types")
    if any(not isinstance(payload.get(name), str) for name in _STR_CLAIMS):
        raise InvalidToken("token claims have the wrong types")
    if payload["exp"] <= now:
        raise InvalidToken("token expired")
    return TokenClaims(
        email=payload["sub"],
        account_id=payload["aid"],
        password_version=payload["pwv"],
        issued_at=payload["iat"],
        expires_at=payload["exp"],
        jti=payload["jti"],
    )


def token_from_header(value: str | None) -> str | None:
    """The token of an ``Authorization`` value: ``<token>`` (the seed) or ``Bearer <token>``.

    Any other value, including another scheme such as ``Basic x``, is returned whole: it is not a
    JWT, so ``read_token`` refuses it and the caller answers 401 as for any bad token.
    """
    if value is None:
        return None
    parts = value.split(maxsplit=1)
    if not parts:
        return None
    if len(parts) == 2 and parts[0].lower() == "bearer":
        return parts[1].strip()
    return value.strip()
