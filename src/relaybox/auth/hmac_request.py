"""What ``/v1``'s two HMAC request-signing schemes share, and the Date+digest side of them
(``request-signing.md``: "Which scheme", "Scheme Date+digest", "Both schemes", "Errors").

The server reads ``Authorization`` once with ``classify``, then runs the checks in the spec's
order (parse, key, timestamp, signature, replay) with the helpers here and in
``relaybox.auth.rcws``; failures are rendered with ``problem``. The string ``D`` itself is built
by ``relaybox.wire.digest`` (shared with relaybox's own signed pushes and the example clients),
so the verifier and every signer cannot drift apart.

Pure: standard library, ``relaybox.wire`` and ``relaybox.auth`` only, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import cast

from relaybox.auth import rcws
from relaybox.wire import digest
from relaybox.wire.digest import Algorithm, ascii_lower
from relaybox.wire.timestamps import TimestampError, parse_timestamp

DEFAULT_PROVIDERS = "relaybox_api=sha256,gotom_app_api=sha1"
"""``RELAYBOX_HMAC_PROVIDERS`` when unset: SHA-256 recommended, SHA-1 for the seed's scripts."""
WINDOW_SECONDS = 300
"""Default clock window (``RELAYBOX_SIGNATURE_WINDOW``), either side of the server's time."""
REPLAY_SECONDS = 600
"""How long a (public key, signature) pair stays in the replay store."""

DIGEST_SIZES: dict[str, int] = {"sha1": 20, "sha256": 32}
# Words a provider may not take: they already name another scheme.
RESERVED_WORDS: frozenset[str] = frozenset({"rcws", "mmws", "bearer"})
# RFC 9110 token: an auth-scheme word. Anything else could not be read back from the header.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_OWS = " \t"


class Scheme(enum.Enum):
    """How a request authenticates, decided by the first word of ``Authorization``."""

    MISSING = "missing"
    JWT = "jwt"
    RCWS = "rcws"
    DATEDIGEST = "digest"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class Classified:
    """``classify``'s answer. ``word`` is the first word as sent (empty for MISSING and for a
    value without a space); ``provider`` (spelled as configured) and ``hash`` (``"sha1"`` or
    ``"sha256"``) are set for DATEDIGEST only."""

    scheme: Scheme
    word: str = ""
    provider: str | None = None
    hash: Algorithm | None = None

    @property
    def kind(self) -> str:
        """``"missing"``, ``"jwt"``, ``"rcws"``, ``"digest"`` or ``"unsupported"``."""
        return self.scheme.value


def _lookup(word: str, providers: Mapping[str, str]) -> tuple[str, str] | None:
    """Case-insensitive provider lookup: HTTP auth-scheme words are case-insensitive."""
    wanted = ascii_lower(word)
    for name, algorithm in providers.items():
        if ascii_lower(name) == wanted:
            return name, algorithm
    return None


def _algorithm(name: str) -> Algorithm:
    if name not in DIGEST_SIZES:
        raise ValueError(f"unsupported hash {name!r}; expected sha1 or sha256")
    return cast(Algorithm, name)


def classify(authorization: str | None, providers: Mapping[str, str]) -> Classified:
    """Which scheme the ``Authorization`` value names (spec, "Which scheme").

    Split at the first space: no space, or ``Bearer`` (any case, as ``tokens.token_from_header``
    reads it), is a JWT; ``RCWS``/``MMWS`` any case is RCWS; a configured provider word (any
    case) is Date+digest with that provider's hash, never another; anything else is unsupported.
    An absent or blank value is MISSING (401 ``auth-required``), not an empty JWT.
    """
    if authorization is None:
        return Classified(Scheme.MISSING)
    value = authorization.strip(_OWS)
    if not value:
        return Classified(Scheme.MISSING)
    word, space, _ = value.partition(" ")
    if not space:
        return Classified(Scheme.JWT)
    lowered = ascii_lower(word)
    if lowered == "bearer":
        return Classified(Scheme.JWT, word)
    if lowered in rcws.WORDS:
        return Classified(Scheme.RCWS, word)
    found = _lookup(word, providers)
    if found is not None and found[1] in DIGEST_SIZES:
        return Classified(Scheme.DATEDIGEST, word, found[0], _algorithm(found[1]))
    return Classified(Scheme.UNSUPPORTED, word)


def parse_providers(text: str) -> dict[str, str]:
    """``RELAYBOX_HMAC_PROVIDERS`` (``word=hash,word=hash``) as ``{word: "sha1"|"sha256"}``.

    Refused with ``ValueError`` (a bad setting should stop the server at start, not surface as
    401s): an empty list or item, a word that is not an HTTP token, ``RCWS``/``MMWS``/``Bearer``,
    the same word twice (any case), a hash other than ``sha1``/``sha256``. Hash names are read in
    any case; words are kept as written (they appear in ``WWW-Authenticate``).
    """
    providers: dict[str, str] = {}
    seen: set[str] = set()
    if not text.strip():
        raise ValueError(f"RELAYBOX_HMAC_PROVIDERS is empty; expected word=hash pairs such as {DEFAULT_PROVIDERS!r}")
    for item in text.split(","):
        word, eq, algorithm = (part.strip() for part in item.partition("="))
        if not eq or not word or not algorithm:
            raise ValueError(
                f"RELAYBOX_HMAC_PROVIDERS item {item.strip()!r} is not word=hash (e.g. relaybox_api=sha256)"
            )
        if not _TOKEN.fullmatch(word):
            raise ValueError(
                f"RELAYBOX_HMAC_PROVIDERS word {word!r} must be one HTTP token (letters, digits, _ - . etc.)"
            )
        if ascii_lower(word) in RESERVED_WORDS:
            raise ValueError(
                f"RELAYBOX_HMAC_PROVIDERS word {word!r} is reserved (RCWS, MMWS and Bearer name other schemes)"
            )
        if ascii_lower(word) in seen:
            raise ValueError(f"RELAYBOX_HMAC_PROVIDERS names {word!r} twice")
        algorithm = algorithm.lower()
        if algorithm not in DIGEST_SIZES:
            raise ValueError(f"RELAYBOX_HMAC_PROVIDERS hash {algorithm!r} for {word!r} must be sha1 or sha256")
        seen.add(ascii_lower(word))
        providers[word] = algorithm
    return providers


def www_authenticate(providers: Mapping[str, str]) -> str:
    """The ``WWW-Authenticate`` value of a 401: ``RCWS`` and the configured words."""
    return ", ".join(["RCWS", *providers])


def parse_digest_authorization(value: str | None, hash: str) -> tuple[str, str, bytes] | None:
    """``(provider word as sent, public_key, signature)`` of ``<provider> <public>:<base64>``,
    for the provider's ``hash`` (``classify`` has matched the word); ``None`` when malformed
    (401 ``malformed-authorization``).

    The base64 must be the standard alphabet with padding, canonical (it re-encodes to the same
    text, so one MAC has one spelling and one replay-store entry), and decode to the hash's
    digest size (20 bytes for SHA-1, 32 for SHA-256).
    """
    size = DIGEST_SIZES[_algorithm(hash)]
    if value is None:
        return None
    word, space, rest = value.strip(_OWS).partition(" ")
    if not space or not word:
        return None
    public, colon, b64 = rest.strip(_OWS).partition(":")
    if not colon or not public or any(c.isspace() for c in public):
        return None
    try:
        raw = base64.b64decode(b64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    if len(raw) != size or base64.b64encode(raw).decode("ascii") != b64:
        return None
    return word, public, raw


def parse_date(text: str | None) -> float | None:
    """POSIX time of a ``Date`` header (or ``None`` when absent or unparseable: 401
    ``malformed-timestamp``).

    ISO 8601 as the seed's clients write it (``2026-11-25T17:02:03Z``,
    ``2026-11-25T18:02:03+01:00``, fraction of 1-9 digits, no offset = UTC; the same parser as
    the route API's ``request-timestamp``), or the HTTP form ``Wed, 25 Nov 2026 17:02:03 GMT``.
    The text is signed byte for byte, so parsing only decides the clock check.
    """
    if text is None:
        return None
    value = text.strip(_OWS)
    if not value:
        return None
    if value[0].isdigit():
        try:
            return parse_timestamp(value)
        except TimestampError:
            return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC with unknown local offset (RFC 5322)
        when = when.replace(tzinfo=UTC)
    try:
        return when.timestamp()
    except (OverflowError, ValueError):  # pragma: no cover - years outside the platform's range
        return None


def within_window(when: float, now: float, window: float = WINDOW_SECONDS) -> bool:
    """True when a signed time is within +-``window`` seconds of the server's clock."""
    return abs(when - now) <= window


def body_md5(body: bytes) -> str:
    """The MD5 line of ``D``: lowercase hex MD5 of the body bytes as received."""
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def request_target(raw_path: bytes | str, raw_query: bytes | str) -> str:
    """URI of ``D``: path and query exactly as on the request line, nothing sorted or decoded
    (the seed's ``pathname + search``, so an empty query adds no ``?``)."""
    path = raw_path.decode("utf-8", "surrogateescape") if isinstance(raw_path, bytes) else raw_path
    query = raw_query.decode("utf-8", "surrogateescape") if isinstance(raw_query, bytes) else raw_query
    return f"{path}?{query}" if query else path


def digest_string_for(
    method: str,
    body: bytes,
    content_type: str | None,
    date: str,
    headers: Iterable[tuple[str, str]],
    target: str,
) -> str:
    """The string ``D`` the server signs, also shown as ``expected_string`` on a mismatch.

    ``body`` is the body as received (its MD5 is taken here); ``date`` the ``Date`` header as
    sent; ``target`` path and query as on the request line (``request_target``), with any
    ``RELAYBOX_PATH_PREFIX`` put back. ``headers`` may be all of the request's headers: only
    ``Message-*`` ones enter CUSTOM. A repeated ``Message-*`` header raises ``ValueError`` (the
    caller answers 400: which copy was signed would be a guess).
    """
    return digest.digest_string(method, body_md5(body), content_type, date, digest.custom_lines(headers), target)


def verify_digest(private_key: str, hash: str, d: str, signature: bytes) -> str | None:
    """``d`` when ``signature`` (decoded bytes from ``parse_digest_authorization``) is
    HMAC-``hash``(private key, ``d``), else ``None``; compared with ``hmac.compare_digest``."""
    expected = base64.b64decode(digest.sign(private_key, d, _algorithm(hash)))
    return d if hmac.compare_digest(expected, signature) else None


# --- errors (RFC 9457) ---------------------------------------------------------------------------

PROBLEM_PREFIX = "urn:relaybox:problem:"
PROBLEMS: dict[str, tuple[int, str]] = {
    "auth-required": (401, "Authentication required"),
    "unsupported-scheme": (401, "Unsupported authentication scheme"),
    "malformed-authorization": (401, "Malformed authorization"),
    "unknown-key": (401, "Unknown API key"),
    "key-revoked": (401, "API key revoked"),
    "key-expired": (401, "API key expired"),
    "missing-timestamp": (401, "Missing timestamp"),
    "malformed-timestamp": (401, "Malformed timestamp"),
    "clock-skew": (401, "Clock skew too large"),
    "invalid-signature": (401, "Invalid signature"),
    "replay": (401, "Signature already used"),
}
"""The authentication failures of the spec's Errors table: slug -> (status, title)."""


def problem(slug: str, detail: str, request_id: str, **extra: object) -> dict[str, object]:
    """The ``application/problem+json`` body of an authentication failure, keys in the spec's
    order: ``type``, ``title``, ``status``, ``detail``, ``request_id``, ``message`` (= detail,
    so readers of the ``{"message"}`` form still work), then ``extra`` (e.g.
    ``expected_string``). ``KeyError`` for a slug outside ``PROBLEMS``; extras may not replace
    the standard members."""
    status, title = PROBLEMS[slug]
    body: dict[str, object] = {
        "type": PROBLEM_PREFIX + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": request_id,
        "message": detail,
    }
    clash = body.keys() & extra.keys()
    if clash:
        raise ValueError(f"extra members may not replace {sorted(clash)}")
    body.update(extra)
    return body
