"""The pure auth helpers of the management API: passwords, emails, tokens, signed receipts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import string
from typing import Any, Literal

import pytest
from argon2 import PasswordHasher
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from hypothesis import given, settings
from hypothesis import strategies as st

from relaybox.auth import passwords, receipts, tokens
from relaybox.auth.receipts import ReceiptAttachment
from relaybox.auth.tokens import InvalidToken

SECRET = b"s" * 32
NOW = 1_795_622_400.0
TTL = 86_400


@pytest.fixture
def fast_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


# --- passwords ---------------------------------------------------------------------------------


def test_real_hasher_round_trip_is_argon2id() -> None:
    stored = passwords.hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "correct horse")
    assert not passwords.verify_password(stored, "correct horsE")


@pytest.mark.usefixtures("fast_hasher")
def test_wrong_password_unknown_account_and_malformed_hash_are_false() -> None:
    stored = passwords.hash_password("pässwörd-1")
    assert passwords.verify_password(stored, "pässwörd-1")
    assert not passwords.verify_password(stored, "password-1")
    assert not passwords.verify_password(None, "pässwörd-1")
    assert not passwords.verify_password("not a hash", "pässwörd-1")
    assert not passwords.verify_password("$argon2id$v=19$m=8,t=1,p=1$bad$bad", "pässwörd-1")
    assert not passwords.verify_password("", "")
    assert not passwords.verify_password(stored, "\udc80 surrogate")


class _SpyHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified.append(str(hash))
        return super().verify(hash, password)


def test_unknown_account_verifies_one_dummy_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _SpyHasher()
    monkeypatch.setattr(passwords, "hasher", spy)
    assert not passwords.verify_password(None, "whatever1")
    assert not passwords.verify_password(None, "whatever1")
    assert len(spy.verified) == 2 and spy.verified[0] == spy.verified[1]
    # Made by the hasher in use, so an unknown email costs what a known one does.
    assert spy.verified[0].startswith("$argon2id$v=19$m=8,t=1,p=1$")


@pytest.mark.parametrize(("length", "ok"), [(0, False), (7, False), (8, True), (1024, True), (1025, False)])
def test_password_length_rules(length: int, ok: bool) -> None:
    if ok:
        passwords.check_password("x" * length)
    else:
        with pytest.raises(ValueError, match="^password must be 8-1024 characters$"):
            passwords.check_password("x" * length)


def test_generated_passwords() -> None:
    alphabet = set(string.ascii_letters + string.digits + "-_")
    made = {passwords.generate_password() for _ in range(200)}
    assert len(made) == 200
    for password in made:
        assert len(password) == 24 and set(password) <= alphabet
        passwords.check_password(password)


def test_email_is_lowercased() -> None:
    assert passwords.normalize_email("Alice.Smith@Example.COM") == "alice.smith@example.com"
    assert passwords.normalize_email("a@b") == "a@b"


def test_email_length_limit() -> None:
    at_limit = "a" * 64 + "@" + "b" * 189
    assert len(at_limit) == 254
    assert passwords.normalize_email(at_limit) == at_limit
    with pytest.raises(ValueError, match="1-254"):
        passwords.normalize_email(at_limit + "c")


@pytest.mark.parametrize(
    "email",
    ["", "ab", "a@@b", "a@b@c", "@b", "a@", "@", "a b@c", " a@b", "a@b ", "a@b\n", "a\t@b", "a\x00@b", "a\u200b@b"],
)
def test_bad_emails_are_refused(email: str) -> None:
    with pytest.raises(ValueError):
        passwords.normalize_email(email)


# --- tokens ------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _hand_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes = SECRET) -> str:
    """A JWT built without PyJWT: HS256/HS512 signed, anything else unsigned."""
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}.get(header["alg"])
    signature = _b64url(hmac.new(secret, signing_input.encode(), digest).digest()) if digest else ""
    return f"{signing_input}.{signature}"


def _claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "a@b.c",
        "aid": 7,
        "pwv": 2,
        "iat": int(NOW),
        "exp": int(NOW) + TTL,
        "jti": "j" * 22,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _issue(now: float = NOW) -> tuple[str, int]:
    return tokens.issue_token(SECRET, email="a@b.c", account_id=7, password_version=2, now=now, ttl=TTL)


def test_token_round_trip() -> None:
    token, expiry_ms = _issue(NOW + 0.9)
    # exp rounds up, so a token lives at least TTL seconds.
    assert expiry_ms == (int(NOW) + 1 + TTL) * 1000
    claims = tokens.read_token(SECRET, token, now=NOW + 1)
    assert claims == tokens.TokenClaims("a@b.c", 7, 2, int(NOW), int(NOW) + 1 + TTL, claims.jti)
    assert len(claims.jti) >= 16
    assert tokens.read_token(SECRET, token, now=NOW).jti != tokens.read_token(SECRET, _issue()[0], now=NOW).jti
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "HS256"


def test_token_expires_exactly_at_exp() -> None:
    token, _ = _issue()
    exp = int(NOW) + TTL
    assert tokens.read_token(SECRET, token, now=exp - 1).expires_at == exp
    assert tokens.read_token(SECRET, token, now=exp - 0.001).expires_at == exp
    for now in (exp, exp + 0.5, exp + 3600):
        with pytest.raises(InvalidToken):
            tokens.read_token(SECRET, token, now=now)


def test_hand_built_token_is_accepted() -> None:
    """Guards the negative tests below: the hand-built token only fails for the reason tested."""
    claims = tokens.read_token(SECRET, _hand_token({"alg": "HS256", "typ": "JWT"}, _claims()), now=NOW)
    assert claims.account_id == 7


def test_tampered_payload_is_refused() -> None:
    header, _, signature = _issue()[0].split(".")
    forged = f"{header}.{_b64url(json.dumps(_claims(aid=8)).encode())}.{signature}"
    with pytest.raises(InvalidToken):
        tokens.read_token(SECRET, forged, now=NOW)


def test_tampered_signature_is_refused() -> None:
    token = _issue()[0]
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(InvalidToken):
        tokens.read_token(SECRET, flipped, now=NOW)


def test_other_secret_is_refused() -> None:
    with pytest.raises(InvalidToken):
        tokens.read_token(b"o" * 32, _issue()[0], now=NOW)


@pytest.mark.parametrize("alg", ["none", "None", "HS512"])
def test_other_algorithms_are_refused(alg: str) -> None:
    with pytest.raises(InvalidToken):
        tokens.read_token(SECRET, _hand_token({"alg": alg, "typ": "JWT"}, _claims()), now=NOW)


@pytest.mark.parametrize("missing", ["sub", "aid", "pwv", "iat", "exp", "jti"])
def test_missing_claim_is_refused(missing: str) -> None:
    with pytest.raises(InvalidToken):
        tokens.read_token(SECRET, _hand_token({"alg": "HS256"}, _claims(**{missing: None})), now=NOW)


@pytest.mark.parametrize(
    "override",
    [
        {"sub": 5},
        {"jti": 5},
        {"aid": "7"},
        {"aid": True},
        {"aid": 7.0},
        {"pwv": "2"},
        {"pwv": False},
        {"iat": "now"},
        {"iat": float(NOW)},
        {"exp": str(int(NOW) + TTL)},
        {"exp": float(NOW + TTL)},
        {"exp": [int(NOW) + TTL]},
    ],
)
def test_wrong_claim_types_are_refused(override: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        tokens.read_token(SECRET, _hand_token({"alg": "HS256"}, _claims(**override)), now=NOW)


@pytest.mark.parametrize(
    "garbage", ["", ".", "..", "a.b", "a.b.c", "a.b.c.d", "Bearer x", "é.é.é", "\udc80.a.b", "null", "{}.{}.{}"]
)
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        tokens.read_token(SECRET, garbage, now=NOW)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_text_raises_only_invalid_token(text: str) -> None:
    with pytest.raises(InvalidToken):
        tokens.read_token(SECRET, text, now=NOW)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("abc.def.ghi", "abc.def.ghi"),
        ("  abc.def.ghi \t", "abc.def.ghi"),
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc.def.ghi", "abc.def.ghi"),
        ("BEARER   abc.def.ghi  ", "abc.def.ghi"),
        ("Bearer\tabc.def.ghi", "abc.def.ghi"),
        # Another scheme is passed on whole and fails JWT verification later.
        ("Basic dXNlcjpwYXNz", "Basic dXNlcjpwYXNz"),
        ("Bearer", "Bearer"),
    ],
)
def test_token_from_header(value: str | None, expected: str | None) -> None:
    assert tokens.token_from_header(value) == expected


def test_header_token_reads_back() -> None:
    token = _issue()[0]
    for value in (token, f"Bearer {token}"):
        header_token = tokens.token_from_header(value)
        assert header_token is not None
        assert tokens.read_token(SECRET, header_token, now=NOW).email == "a@b.c"
    basic = tokens.token_from_header("Basic dXNlcjpwYXNz")
    assert basic is not None
    with pytest.raises(InvalidToken):
        tokens.read_token(SECRET, basic, now=NOW)


# --- receipts ----------------------------------------------------------------------------------

ATTACHMENTS = [
    ReceiptAttachment(0, "a.txt", 3, hashlib.sha256(b"abc").hexdigest()),
    ReceiptAttachment(1, "Übersicht 発注.pdf", 0, hashlib.sha256(b"").hexdigest()),
]


def _receipt(private_raw: bytes, at: float = NOW + 0.123) -> str:
    return receipts.build_receipt(
        private_raw,
        message_id="<m1@relaybox>",
        sender_message_id="order-1",
        sender_id="alpha@bars01",
        receiver_id="bravo@bars02",
        attachments=ATTACHMENTS,
        at=at,
    )


def _spec_verify(key_document: dict[str, str], receipt_text: str) -> None:
    """The third-party check of ``management-api.md`` ("Receipts"), verbatim but for the I/O."""
    doc = json.loads(receipt_text)
    signed = json.dumps(doc["receipt"], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    Ed25519PublicKey.from_public_bytes(base64.b64decode(key_document["publicKey"])).verify(
        base64.b64decode(doc["signature"]), signed
    )


def test_keys_and_key_document() -> None:
    private = receipts.new_private_key()
    assert len(private) == 32 and private != receipts.new_private_key()
    public = receipts.public_key(private)
    assert len(public) == 32
    kid = receipts.key_id(public)
    assert re.fullmatch(r"[0-9a-f]{16}", kid) and kid == hashlib.sha256(public).hexdigest()[:16]
    document = receipts.public_key_document(private)
    assert set(document) == {"algorithm", "keyId", "publicKey", "pem"}
    assert document["algorithm"] == "Ed25519" and document["keyId"] == kid
    assert base64.b64decode(document["publicKey"], validate=True) == public
    loaded = load_pem_public_key(document["pem"].encode("ascii"))
    assert isinstance(loaded, Ed25519PublicKey)
    assert loaded.public_bytes(Encoding.Raw, PublicFormat.Raw) == public
    assert document["pem"].startswith("-----BEGIN PUBLIC KEY-----")


def test_receipt_shape_and_independent_verification() -> None:
    private = receipts.new_private_key()
    text = _receipt(private)
    _spec_verify(receipts.public_key_document(private), text)
    doc = json.loads(text)
    assert list(doc) == ["receipt", "signature"]
    receipt = doc["receipt"]
    assert receipt == {
        "version": 1,
        "keyId": receipts.key_id(receipts.public_key(private)),
        "messageId": "<m1@relaybox>",
        "senderMessageId": "order-1",
        "senderId": "alpha@bars01",
        "receiverId": "bravo@bars02",
        "attachments": [
            {"index": 0, "name": "a.txt", "size": 3, "sha256": hashlib.sha256(b"abc").hexdigest()},
            {"index": 1, "name": "Übersicht 発注.pdf", "size": 0, "sha256": hashlib.sha256(b"").hexdigest()},
        ],
        "disposition": "processed",
        "timestamp": "2026-11-25T16:00:00.123Z",
    }
    assert len(base64.b64decode(doc["signature"], validate=True)) == 64
    assert receipts.canonical(receipt) == json.dumps(
        receipt, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def test_receipt_is_deterministic_and_keeps_non_ascii() -> None:
    private = receipts.new_private_key()
    text = _receipt(private)
    assert text == _receipt(private)
    assert "Übersicht 発注.pdf" in text and "\\u" not in text
    assert "Übersicht 発注.pdf".encode() in receipts.canonical(json.loads(text)["receipt"])


@pytest.mark.parametrize(
    ("at", "stamp"), [(0.0, "1970-01-01T00:00:00.000Z"), (NOW + 59.9996, "2026-11-25T16:00:59.999Z")]
)
def test_receipt_timestamp_format(at: float, stamp: str) -> None:
    receipt = json.loads(_receipt(receipts.new_private_key(), at=at))["receipt"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", receipt["timestamp"])
    assert receipt["timestamp"] == stamp


def test_verify_receipt_accepts_text_bytes_and_mapping() -> None:
    private = receipts.new_private_key()
    public = receipts.public_key(private)
    text = _receipt(private)
    expected = json.loads(text)["receipt"]
    assert receipts.verify_receipt(public, text) == expected
    assert receipts.verify_receipt(public, text.encode("utf-8")) == expected
    assert receipts.verify_receipt(public, json.loads(text)) == expected


def test_tampered_receipt_is_refused() -> None:
    private = receipts.new_private_key()
    public = receipts.public_key(private)
    doc = json.loads(_receipt(private))
    doc["receipt"]["attachments"][0]["sha256"] = hashlib.sha256(b"abd").hexdigest()
    with pytest.raises(InvalidSignature):
        receipts.verify_receipt(public, doc)
    with pytest.raises(InvalidSignature):
        _spec_verify(receipts.public_key_document(private), json.dumps(doc, ensure_ascii=False))


def test_receipt_from_another_key_is_refused() -> None:
    text = _receipt(receipts.new_private_key())
    other = receipts.new_private_key()
    with pytest.raises(InvalidSignature):
        receipts.verify_receipt(receipts.public_key(other), text)
    with pytest.raises(InvalidSignature):
        _spec_verify(receipts.public_key_document(other), text)


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        b"\xff\xfe",
        "[]",
        "{}",
        '{"receipt": {}}',
        '{"receipt": [], "signature": "AAAA"}',
        '{"receipt": {}, "signature": 5}',
        '{"receipt": {}, "signature": "not base64!"}',
    ],
)
def test_malformed_receipt_is_value_error(document: str | bytes) -> None:
    with pytest.raises(ValueError):
        receipts.verify_receipt(receipts.public_key(receipts.new_private_key()), document)
