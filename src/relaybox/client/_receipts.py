"""Offline verification of relaybox receipts (the ``/mdn`` document), as the spec's Receipts section says.

Needs the optional ``cryptography`` package, imported only when a receipt is verified.

Example::

    from relaybox.client import ManagementClient, verify_receipt

    with ManagementClient("http://127.0.0.1:8080", username="me@example.com", password="...") as mc:
        receipt = verify_receipt(mc.receipt("sent", msg_id), mc.receipt_key(), attachments=[b"one", b"two"])
        print(receipt["timestamp"], receipt["disposition"])
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

#: What ``verify_receipt(attachments=...)`` accepts per attachment: bytes, a path or a binary file.
ReceiptFile = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]

_CHUNK = 64 * 1024


class InvalidReceipt(ValueError):
    """The receipt does not verify: wrong key, bad signature, or it describes other files."""


def canonical_receipt(receipt: Mapping[str, Any]) -> bytes:
    """The signed bytes: RFC 8785 (JCS) form of ``receipt`` (strings, integers, arrays only)."""
    return json.dumps(receipt, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def key_id(public_key: bytes) -> str:
    """The first 16 hex digits of the SHA-256 of the raw 32-byte Ed25519 public key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidReceipt(f"{what} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidReceipt(f"{what} is not standard base64") from exc


def _digest(source: ReceiptFile) -> tuple[int, str]:
    digest = hashlib.sha256()
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        return len(data), hashlib.sha256(data).hexdigest()
    if isinstance(source, str | os.PathLike):
        with Path(os.fspath(source)).open("rb") as handle:
            return _digest(handle)
    size = 0
    while chunk := source.read(_CHUNK):
        size += len(chunk)
        digest.update(chunk)
    return size, digest.hexdigest()


def verify_receipt(
    receipt_doc: Mapping[str, Any],
    key_doc: Mapping[str, Any],
    *,
    attachments: Sequence[ReceiptFile] | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """Check a receipt document against the server's receipt key; return its ``receipt`` part.

    ``receipt_doc`` is the ``/mdn`` document (``{"receipt": {...}, "signature": B64}``) and
    ``key_doc`` the ``/v1/receipt-key`` document. Checks, in order: the key document is an
    Ed25519 key whose ``keyId`` matches its bytes; the receipt names that ``keyId``; the Ed25519
    signature covers the canonical (JCS) bytes of ``receipt``. Optionally, ``message_id`` must be
    the receipt's ``messageId``, and ``attachments`` (bytes, paths or binary files, in index
    order) must match its sizes and SHA-256 digests one for one.

    Raises :class:`InvalidReceipt` (a ``ValueError``) when anything does not match, and
    ``ImportError`` when the ``cryptography`` package is not installed.
    """
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError as exc:
        raise ImportError(
            "verify_receipt needs the 'cryptography' package: pip install cryptography "
            "(or pip install 'relaybox[server]')"
        ) from exc

    if str(key_doc.get("algorithm", "")).lower() != "ed25519":
        raise InvalidReceipt(f"unsupported receipt key algorithm {key_doc.get('algorithm')!r}")
    public = _b64(key_doc.get("publicKey"), "the key's publicKey")
    if len(public) != 32:
        raise InvalidReceipt("the key's publicKey is not a 32-byte Ed25519 key")
    kid = key_id(public)
    if key_doc.get("keyId") is not None and key_doc.get("keyId") != kid:
        raise InvalidReceipt(f"the key document's keyId {key_doc.get('keyId')!r} does not match its key ({kid})")

    receipt = receipt_doc.get("receipt")
    if not isinstance(receipt, Mapping):
        raise InvalidReceipt("the document has no receipt object")
    if receipt.get("keyId") != kid:
        raise InvalidReceipt(f"the receipt was signed with key {receipt.get('keyId')!r}, not {kid}")
    signature = _b64(receipt_doc.get("signature"), "the signature")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, canonical_receipt(receipt))
    except InvalidSignature as exc:
        raise InvalidReceipt("the receipt's signature does not verify") from exc

    if message_id is not None and receipt.get("messageId") != message_id:
        raise InvalidReceipt(f"the receipt is for message {receipt.get('messageId')!r}, not {message_id!r}")
    if attachments is not None:
        listed = receipt.get("attachments")
        if not isinstance(listed, list) or len(listed) != len(attachments):
            count = len(listed) if isinstance(listed, list) else 0
            raise InvalidReceipt(f"the receipt lists {count} attachment(s), {len(attachments)} given")
        for index, (entry, source) in enumerate(zip(listed, attachments, strict=True)):
            size, sha = _digest(source)
            if not isinstance(entry, Mapping) or entry.get("sha256") != sha or entry.get("size") != size:
                raise InvalidReceipt(f"attachment {index} does not match the receipt (size or SHA-256)")
    return dict(receipt)
