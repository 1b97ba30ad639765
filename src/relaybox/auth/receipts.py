"""Ed25519-signed delivery receipts, the seed's MDN (``management-api.md``, "Receipts", "Receipt key").

Anyone holding the public key can check a receipt with ``json`` and ``cryptography`` alone, so the
signed bytes are plain sorted, compact JSON (equal to RFC 8785 for strings, integers and arrays).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALGORITHM = "Ed25519"
VERSION = 1
DISPOSITION = "processed"


@dataclass(frozen=True, slots=True)
class ReceiptAttachment:
    index: int
    name: str
    size: int
    sha256: str


def new_private_key() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes_raw()


def public_key(private_raw: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(private_raw).public_key().public_bytes_raw()


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def public_key_document(private_raw: bytes) -> dict[str, str]:
    """The ``GET /v1/receipt-key`` body."""
    public = Ed25519PrivateKey.from_private_bytes(private_raw).public_key()
    raw = public.public_bytes_raw()
    return {
        "algorithm": ALGORITHM,
        "keyId": key_id(raw),
        "publicKey": base64.b64encode(raw).decode("ascii"),
        "pem": public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii"),
    }


def canonical(receipt: dict[str, object]) -> bytes:
    return json.dumps(receipt, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _timestamp(at: float) -> str:
    when = datetime.fromtimestamp(at, UTC)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}Z"


def build_receipt(
    private_raw: bytes,
    *,
    message_id: str,
    sender_message_id: str,
    sender_id: str,
    receiver_id: str,
    attachments: Sequence[ReceiptAttachment],
    at: float,
) -> str:
    """The signed receipt document, as text to store and serve byte for byte."""
    private = Ed25519PrivateKey.from_private_bytes(private_raw)
    receipt: dict[str, object] = {
        "version": VERSION,
        "keyId": key_id(private.public_key().public_bytes_raw()),
        "messageId": message_id,
        "senderMessageId": sender_message_id,
        "senderId": sender_id,
        "receiverId": receiver_id,
        "attachments": [{"index": a.index, "name": a.name, "size": a.size, "sha256": a.sha256} for a in attachments],
        "disposition": DISPOSITION,
        "timestamp": _timestamp(at),
    }
    signature = base64.b64encode(private.sign(canonical(receipt))).decode("ascii")
    return json.dumps({"receipt": receipt, "signature": signature}, ensure_ascii=False)


def verify_receipt(public_raw: bytes, document: str | bytes | Mapping[str, object]) -> dict[str, object]:
    """The ``receipt`` object of a genuine document.

    Raises ``cryptography.exceptions.InvalidSignature`` for a forged or altered receipt and
    ``ValueError`` for one that is not a receipt document at all.
    """
    doc = json.loads(document) if isinstance(document, str | bytes) else document
    if not isinstance(doc, Mapping):
        raise ValueError("receipt document must be a JSON object")
    receipt, signature = doc.get("receipt"), doc.get("signature")
    if not isinstance(receipt, Mapping) or not isinstance(signature, str):
        raise ValueError("receipt document needs a 'receipt' object and a 'signature' string")
    # binascii.Error (a ValueError) for text that is not standard base64.
    signature_raw = base64.b64decode(signature, validate=True)
    body = dict(receipt)
    Ed25519PublicKey.from_public_bytes(public_raw).verify(signature_raw, canonical(body))
    return body
