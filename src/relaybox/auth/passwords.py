"""Account passwords (argon2id PHC strings) and account emails (``management-api.md``, "Model")."""

from __future__ import annotations

import secrets
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

# Module-level so tests can swap in a cheap hasher; production keeps argon2-cffi's defaults.
hasher = PasswordHasher()

# (hasher, hash) so that a swapped hasher gets a dummy with its own cost parameters.
_dummy: tuple[PasswordHasher, str] | None = None

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_EMAIL = 254


def hash_password(password: str) -> str:
    return hasher.hash(password)


def _dummy_hash() -> str:
    global _dummy
    if _dummy is None or _dummy[0] is not hasher:
        _dummy = (hasher, hasher.hash(secrets.token_urlsafe(18)))
    return _dummy[1]


def verify_password(stored: str | None, password: str) -> bool:
    """False for a wrong password, a malformed hash or an unknown account (``stored`` None)."""
    if stored is None:
        # Unknown emails pay the same argon2 cost as known ones, so timing does not reveal accounts.
        _verify(_dummy_hash(), password)
        return False
    return _verify(stored, password)


def _verify(stored: str, password: str) -> bool:
    try:
        return hasher.verify(stored, password)
    # ValueError covers argon2's InvalidHashError and unencodable (surrogate) text.
    except (VerificationError, ValueError):
        return False


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValueError(f"password must be {MIN_PASSWORD}-{MAX_PASSWORD} characters")


def generate_password() -> str:
    """24 URL-safe characters (18 random bytes)."""
    return secrets.token_urlsafe(18)


def normalize_email(email: str) -> str:
    """The stored form of an account email: lowercase, or ValueError saying what is wrong."""
    lowered = email.lower()
    # Measured after lowercasing: a few characters (e.g. "İ") grow, and the stored form is what counts.
    if not 1 <= len(lowered) <= MAX_EMAIL:
        raise ValueError(f"email must be 1-{MAX_EMAIL} characters")
    # Invisible and format characters (category C*) would allow look-alike accounts.
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in lowered):
        raise ValueError("email must not contain whitespace or control characters")
    if lowered.count("@") != 1:
        raise ValueError("email must contain exactly one '@'")
    local, _, domain = lowered.partition("@")
    if not local or not domain:
        raise ValueError("email needs a non-empty part before and after '@'")
    return lowered
