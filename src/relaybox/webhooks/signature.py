"""Webhook signatures: what the gateway sends (``sign``) and what a receiver checks (``verify``).

Standard library only: receivers install the SDK without the server's dependencies.

One secret, two schemes (``docs``: webhooks.md, "Signatures"):

- ``Signature: v1=<hex>``, always sent: HMAC-SHA256 of the raw body, keyed with the UTF-8 bytes of
  the whole secret text (``whsec_`` included), as a plain ``hmac(secret, body)`` receiver does.
- ``webhook-id``/``webhook-timestamp``/``webhook-signature``, for endpoints with
  ``standardWebhooks``: HMAC-SHA256 of ``{id}.{timestamp}.{body}``, keyed with the base64-decoded
  bytes after ``whsec_``, as every Standard Webhooks library does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any, Literal

from relaybox.wire.events import parse_rfc3339

SECRET_PREFIX = "whsec_"
# The Standard Webhooks bounds on the decoded key; relaybox generates 32 bytes.
SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64
DEFAULT_TOLERANCE = 300  # seconds, the Standard Webhooks replay window
ENVELOPE_KEYS: Mapping[str, type] = {"event_id": str, "event_type": str, "created_at": str, "event": dict}

Reason = Literal["missing-signature", "invalid-signature", "stale-timestamp", "too-old", "malformed"]

_HEX_SIGNATURE = re.compile(r"v1=([0-9a-fA-F]{64})")
_INTEGER = re.compile(r"[0-9]{1,15}")


class WebhookVerificationError(Exception):
    """The request is not an authentic, fresh relaybox event; ``reason`` says why.

    ``reason`` is one of ``missing-signature``, ``invalid-signature``, ``stale-timestamp``,
    ``too-old``, ``malformed``; ``str(exc)`` is ``"<reason>: <detail>"``.
    """

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason


def signature_v1(body: bytes, secret: str) -> str:
    """The ``Signature`` header: ``v1=`` + hex HMAC-SHA256 of ``body`` keyed with the secret text."""
    return "v1=" + hmac.new(_text_key(secret), body, hashlib.sha256).hexdigest()


def standard_signature(body: bytes, secret: str, msg_id: str, timestamp: int) -> str:
    """The ``webhook-signature`` header (one ``v1,`` entry) for ``msg_id`` at ``timestamp``."""
    signed = f"{msg_id}.{timestamp:d}.".encode() + body
    return "v1," + base64.b64encode(_standard_digest(secret, signed=signed)).decode("ascii")


def sign(
    body: bytes, secret: str, *, event_id: str, timestamp: int | None = None, standard: bool = True
) -> dict[str, str]:
    """The signature headers the gateway sends with ``body``.

    ``Signature`` always; with ``standard`` (an endpoint's ``standardWebhooks``) also
    ``webhook-id`` (= ``event_id``), ``webhook-timestamp`` (``timestamp``, default now, integer
    Unix seconds) and ``webhook-signature``. A secret that is not ``whsec_`` + base64 is a
    ``ValueError`` when ``standard`` is on.
    """
    headers = {"Signature": signature_v1(body, secret)}
    if standard:
        when = int(time.time()) if timestamp is None else timestamp
        headers["webhook-id"] = event_id
        headers["webhook-timestamp"] = str(when)
        headers["webhook-signature"] = standard_signature(body, secret, event_id, when)
    return headers


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
    max_age: int | None = None,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a webhook request and return its parsed envelope.

    ``headers`` are matched case-insensitively. With ``webhook-signature``: some ``v1,`` entry
    must match and ``webhook-timestamp`` be within ``tolerance`` seconds of now, either way.
    Otherwise ``Signature`` must match, the envelope's ``created_at`` be at most ``tolerance``
    seconds in the future and, when ``max_age`` is given, at most ``max_age`` seconds old (allow
    for the retry horizon, about 28 h 20 min, and dedupe on ``event_id``).

    Raises ``WebhookVerificationError`` (see its ``reason``); a ``secret`` unusable for the
    headers present raises ``ValueError``, a mistake of the caller rather than of the request.

    Example::

        from relaybox.webhooks import WebhookVerificationError, verify

        try:
            event = verify(request_body, request_headers, "whsec_...")
        except WebhookVerificationError as exc:
            return 401, exc.reason
    """
    now = time.time() if now is None else now
    lowered = {name.lower(): value for name, value in headers.items()}
    standard = lowered.get("webhook-signature")
    plain = lowered.get("signature")
    # Authenticate first: nothing from an unauthenticated body or timestamp is acted on.
    if standard is not None:
        timestamp = _check_standard(body, lowered, standard, secret)
        if abs(now - timestamp) > tolerance:
            raise WebhookVerificationError(
                "stale-timestamp", f"webhook-timestamp {timestamp} is more than {tolerance} s from now"
            )
        return _envelope(body)
    if plain is not None:
        _check_plain(body, plain, secret)
        envelope = _envelope(body)
        created = parse_rfc3339(envelope["created_at"])
        if created - now > tolerance:
            raise WebhookVerificationError("stale-timestamp", f"created_at is more than {tolerance} s in the future")
        if max_age is not None and now - created > max_age:
            raise WebhookVerificationError("too-old", f"created_at is more than {max_age} s old")
        return envelope
    raise WebhookVerificationError("missing-signature", "neither webhook-signature nor Signature header")


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` + base64 of 32 random bytes (50 characters)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def valid_secret(text: str) -> bool:
    """Whether ``text`` is an acceptable endpoint secret: ``whsec_`` + padded standard base64 of
    24..64 bytes. Strict, because the server stores what it accepts and other verifiers must
    decode it too."""
    if not text.startswith(SECRET_PREFIX):
        return False
    try:
        key = base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        return False
    return SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES


def _text_key(secret: str) -> bytes:
    if not secret:
        raise ValueError("webhook secret is empty")
    return secret.encode("utf-8")


def _standard_digest(secret: str, *, signed: bytes) -> bytes:
    """HMAC of ``signed`` keyed with the bytes the ``whsec_`` secret encodes.

    Missing ``=`` padding is tolerated here, as the Standard Webhooks libraries do, so a receiver
    can paste a secret however it was copied; ``valid_secret`` is the strict check.
    """
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("webhook-signature needs a secret of the form whsec_<base64>")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the secret after whsec_ is not valid base64") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return hmac.new(key, signed, hashlib.sha256).digest()


def _check_standard(body: bytes, headers: Mapping[str, str], signatures: str, secret: str) -> int:
    """Authenticate the Standard Webhooks headers; return the (signed) ``webhook-timestamp``."""
    msg_id = headers.get("webhook-id")
    raw_timestamp = headers.get("webhook-timestamp")
    if msg_id is None or raw_timestamp is None:
        raise WebhookVerificationError("malformed", "webhook-signature without webhook-id and webhook-timestamp")
    if not _INTEGER.fullmatch(raw_timestamp.strip()):
        raise WebhookVerificationError("malformed", "webhook-timestamp is not integer seconds")
    timestamp = int(raw_timestamp)
    expected = _standard_digest(secret, signed=f"{msg_id}.{timestamp}.".encode() + body)
    # Several entries appear while a sender rotates secrets or adds schemes; one match is enough.
    # Entries of other versions or that do not decode are skipped, not errors.
    matched = False
    for entry in signatures.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        # No early exit: the time taken does not tell which entry matched.
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookVerificationError("invalid-signature", "no matching v1 entry in webhook-signature")
    return timestamp


def _check_plain(body: bytes, header: str, secret: str) -> None:
    found = _HEX_SIGNATURE.fullmatch(header.strip())
    if found is None:
        raise WebhookVerificationError("malformed", "Signature is not v1=<64 hex digits>")
    expected = signature_v1(body, secret)
    if not hmac.compare_digest(expected, "v1=" + found[1].lower()):
        raise WebhookVerificationError("invalid-signature", "Signature does not match")


def _envelope(body: bytes) -> dict[str, Any]:
    """The authenticated body as an envelope: a JSON object with the four keys of the right types
    (further keys are allowed: receivers ignore what they do not know)."""
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise WebhookVerificationError("malformed", "body is not JSON") from None
    if not isinstance(envelope, dict):
        raise WebhookVerificationError("malformed", "body is not a JSON object")
    for key, kind in ENVELOPE_KEYS.items():
        if not isinstance(envelope.get(key), kind):
            raise WebhookVerificationError("malformed", f"envelope has no {kind.__name__} {key!r}")
    try:
        parse_rfc3339(envelope["created_at"])
    except ValueError:
        raise WebhookVerificationError("malformed", "created_at is not an RFC 3339 UTC timestamp") from None
    return envelope
