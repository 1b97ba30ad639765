"""The Date+digest request-signing scheme (``request-signing.md``, "Scheme Date+digest").

::

    Authorization: <provider> <user>:<base64 HMAC(key, D)>
    D = METHOD \\n MD5 \\n CONTENT_TYPE \\n DATE \\n CUSTOM \\n URI

One implementation for every side that needs it: relaybox signing its HTTPS pushes, the example
clients signing ``/v1`` calls, and the server rebuilding ``D`` to verify (and to show it as
``expected_string`` when a signature does not match). It is exactly what the seed's bash recipe
computes::

    >>> d = digest_string("get", EMPTY_MD5, "application/json", "2026-11-25T18:02:03+01:00", "", "/v1/lists.json/")
    >>> sign("test-private-key", d, "sha1")
    'WBOV7GV1lxOFwTux35CqtpfEL3k='

Pure: standard library only, no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import Literal

Algorithm = Literal["sha1", "sha256"]

CUSTOM_PREFIX = "message-"
# MD5 of zero bytes: the MD5 line of a request without a body.
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
ALGORITHMS: frozenset[str] = frozenset({"sha1", "sha256"})
# HTTP optional whitespace (RFC 9110 OWS). str.strip() would also eat Unicode spaces that a
# server keeps in the value, and the two sides would then sign different strings.
_OWS = " \t"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_LOWER = str.maketrans(_UPPER, _UPPER.lower())
_ASCII_UPPER = str.maketrans(_UPPER.lower(), _UPPER)


def ascii_lower(text: str) -> str:
    """Lowercase A-Z only, as the spec says: ``str.lower`` also folds non-ASCII letters
    (``"İ".lower()`` is two characters), which a client in another language would not do."""
    return text.translate(_ASCII_LOWER)


def _ascii_upper(text: str) -> str:
    return text.translate(_ASCII_UPPER)


def custom_lines(headers: Iterable[tuple[str, str]]) -> str:
    """The CUSTOM part: every ``Message-*`` header as ``name:value``, sorted, one per line.

    Other headers are ignored, so the caller may pass all of a request's headers. A repeated
    ``Message-*`` name (in any case) raises ``ValueError``: which copy is signed would be a guess,
    so the spec refuses such a request (400).
    """
    lines: dict[str, str] = {}
    for name, value in headers:
        key = ascii_lower(name)
        if not key.startswith(CUSTOM_PREFIX):
            continue
        if key in lines:
            raise ValueError(f"header {name!r} is repeated; a Message-* header may appear only once")
        lines[key] = value.strip(_OWS)
    return "\n".join(f"{key}:{lines[key]}" for key in sorted(lines))


def digest_string(method: str, body_md5_hex: str, content_type: str | None, date: str, custom: str, uri: str) -> str:
    """The string ``D`` that is signed.

    ``method`` is upper-cased and ``body_md5_hex`` lower-cased, as the table says; the content
    type is trimmed and ASCII-lowercased with its parameters kept (absent: empty); ``date``,
    ``custom`` (from ``custom_lines``) and ``uri`` (path and query exactly as on the request
    line) are taken as given, since the server must sign the bytes it received.
    """
    ctype = "" if content_type is None else ascii_lower(content_type.strip(_OWS))
    return "\n".join((_ascii_upper(method), ascii_lower(body_md5_hex), ctype, date, custom, uri))


def sign(key: str | bytes, digest: str, algorithm: Algorithm) -> str:
    """Standard base64 (with padding) of HMAC(key, digest): 28 characters for SHA-1, 44 for
    SHA-256. A ``str`` key is used as its UTF-8 text, prefix included, as the seeds' clients
    hand the secret string to hmac/openssl."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported algorithm {algorithm!r}; expected one of {sorted(ALGORITHMS)}")
    raw_key = key.encode("utf-8") if isinstance(key, str) else key
    mac = hmac.new(raw_key, digest.encode("utf-8"), getattr(hashlib, algorithm)).digest()
    return base64.b64encode(mac).decode("ascii")


def authorization(provider: str, user: str, signature: str) -> str:
    """The ``Authorization`` value ``<provider> <user>:<signature>``.

    A verifier splits at the first space and then at the first ``:``, so a provider with
    whitespace or a user with ``:`` or whitespace would be read back wrongly: ``ValueError``.
    """
    if not provider or any(c.isspace() for c in provider):
        raise ValueError("provider must be one word")
    if not user or ":" in user or any(c.isspace() for c in user):
        raise ValueError("user must be non-empty, without ':' or whitespace")
    return f"{provider} {user}:{signature}"
