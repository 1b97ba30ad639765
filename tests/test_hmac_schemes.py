"""The pure verification logic of /v1's HMAC request signing (request-signing.md): RCWS (seed 001)
and Date+digest (seed 004). Every vector of the spec, the seeds' own recipes run through bash,
openssl and Node, the refusals, and the parsers the server builds its checks on."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaybox.auth import hmac_request, rcws
from relaybox.auth.hmac_request import Scheme
from relaybox.wire import digest

KEY = "test-private-key"
USER = "rbk_00112233445566778899aabb"
JSON_TYPE = "application/json; charset=UTF-8"  # what the seed's clients send
PROVIDERS = hmac_request.parse_providers(hmac_request.DEFAULT_PROVIDERS)

B7 = (
    b'{"address":"","city":"","company":"","country":"india","dob":"","email_address":"test21.fullname@example.com",'
    b'"first_name":"full name","last_name":"seth1","name":"test21_name","phone":"","state":"","zip_code":"4008"}'
)
B8 = '{"last_name":"Doe/Smith","first_name":"Zoë","zip_code":4008,"rating":1.50}'.encode()
S7 = "post::/v1/contacts.json/1/contacts/::" + B7.decode()
S8 = 'post::/v1/contacts.json/1/contacts/42::{"first_name":"zo\\u00eb","last_name":"doe/smith","rating":1.50,"zip_code":4008}'

# id, method, raw path, raw query, body, word, timestamp, S, signature
R_VECTORS: list[tuple[str, str, str, str, bytes, str, str | None, str, str]] = [
    ("R1", "GET", "/v1/lists.json/", "", b"", "RCWS", None, 'get::/v1/lists.json/::{"posted_data":"[]"}', "febea5e2dba85f067e9f4f0ae0b33a20c440a70ae72866212c0bed6f2aeded47"),
    ("R1-20", "GET", "/v1/lists.json/", "", b'{"posted_data":"[]"}', "RCWS", None, 'get::/v1/lists.json/::{"posted_data":"[]"}', "febea5e2dba85f067e9f4f0ae0b33a20c440a70ae72866212c0bed6f2aeded47"),
    ("R2", "GET", "/v1/lists.json", "id=2", b'{"posted_data":"[]"}', "RCWS", None, 'get::/v1/lists.json?id=2::{"posted_data":"[]"}', "4eac2d030bfd175c6b308550dedb0dda6a20a49d1675a6b284c843756b38bfa7"),
    ("R3", "POST", "/v1/lists/List+3", "", b'{"posted_data":"[]"}', "RCWS", None, 'post::/v1/lists/list+3::{"posted_data":"[]"}', "14ccb9828ce87f6563ec2415760a9b1a2ab99a968b552ce7ecfcb074d2d2dcc4"),
    ("R4", "POST", "/v1/lists.json", "id=3&name=Renamed+1", b'{"posted_data":"[]"}', "RCWS", None, 'post::/v1/lists.json?id=3&name=renamed+1::{"posted_data":"[]"}', "edb715b3d2ac8ebdd4c567f03b4d8b13973600aed9ededa3c0e0880395f04f93"),
    ("R5", "DELETE", "/v1/lists.json/3", "", b'{"posted_data":"null"}', "RCWS", None, 'delete::/v1/lists.json/3::{"posted_data":"[]"}', "cea3cd9efee1c17537e5b20627e347a6426206ed9ec58f65b5fbdbe29e972e09"),
    ("R6", "GET", "/v1/contacts.json/1/contacts/", "pagesize=5&offset=2", b'{"posted_data":"[]"}', "RCWS", None, 'get::/v1/contacts.json/1/contacts/?offset=2&pagesize=5::{"posted_data":"[]"}', "4f1dcca89b1182b38e540e6f060d46cfe3947642c588c727a069d931a474508a"),
    ("R7", "POST", "/v1/contacts.json/1/contacts/", "", B7, "RCWS", None, S7, "014f681d06d16d10093f8c389814d3cfc36a344931c1b4aad3e2ce8cab8d9cf0"),
    ("R8", "POST", "/v1/contacts.json/1/contacts/42", "", B8, "MMWS", None, S8, "d75376e1734c41725d431a16c06ca23b99106281c58e412b964b5d18bd48af75"),
    ("R9", "DELETE", "/v1/contacts.json/1/contacts/342", "", b"", "RCWS", None, 'delete::/v1/contacts.json/1/contacts/342::{"posted_data":"[]"}', "4073949401d8dfcfc76a0fef397d371e2ced62a93db9b398b9b8a8ffdf0746c8"),
    ("R10", "GET", "/v1/lists.json", "id=2", b"", "RCWS", "2026-11-25T17:02:03Z", 'get::/v1/lists.json?id=2::{"posted_data":"[]"}::2026-11-25t17:02:03z', "a375c52db44f5f20cbf47e6e7faf0de2940a09fc5178062eaed3a15cfc6c7100"),
]  # fmt: skip
R9_ALIAS_SIG = "f9ee960197803071691669ea0f87ecea04ce72313ebc1485c1108b44e7227da1"

D4_BODY = b'<invoice id="12345"/>\n'
D4_HEADERS = [
    ("Host", "gw.example"),
    ("Content-Type", "application/octet-stream"),
    ("Date", "2026-11-25T17:02:03Z"),
    ("Message-To", "ef01@1234abcd"),
    ("Message-From", "abcd@abcdef01"),
    ("Message-Id", "12345"),
    ("message-file-name", "invoice-12345.xml"),
    ("Message-MD5", "846f571f913b223bc48d90398201ca94"),
    ("MESSAGE-EXPIRES", " 2026-11-26T17:02:03Z\t"),
    ("Message-Pay-For-Reply", "1"),
]
# id, provider word, method, target, body, content type, date, headers, D, base64 signature
D_VECTORS: list[tuple[str, str, str, str, bytes, str, str, list[tuple[str, str]], str, str]] = [
    ("D1", "gotom_app_api", "GET", "/v1/lists.json/", b"", "application/json", "2026-11-25T18:02:03+01:00", [],
     "GET\nd41d8cd98f00b204e9800998ecf8427e\napplication/json\n2026-11-25T18:02:03+01:00\n\n/v1/lists.json/",
     "WBOV7GV1lxOFwTux35CqtpfEL3k="),
    ("D2", "relaybox_api", "GET", "/v1/contacts.json/1/contacts/?pagesize=5&offset=2", b"", "application/json", "2026-11-25T17:02:03Z", [],
     "GET\nd41d8cd98f00b204e9800998ecf8427e\napplication/json\n2026-11-25T17:02:03Z\n\n/v1/contacts.json/1/contacts/?pagesize=5&offset=2",
     "cHem08vf2+opoX+CLlmWcoWoTqlPFW87GkIrZJfoXTU="),
    ("D3", "relaybox_api", "POST", "/v1/contacts.json/1/contacts/", B7, "application/json", "2026-11-25T17:02:03Z", [],
     "POST\n225b40fee86199218a633fcd852bb1ae\napplication/json\n2026-11-25T17:02:03Z\n\n/v1/contacts.json/1/contacts/",
     "CkOdz+VQ+KcpyM6p3P3HBQPSOrrM1gYlNJDGcwdty0I="),
    ("D4", "relaybox_api", "POST", "/inbound/relaybox?source=gw1", D4_BODY, "application/octet-stream", "2026-11-25T17:02:03Z", D4_HEADERS,
     "POST\n846f571f913b223bc48d90398201ca94\napplication/octet-stream\n2026-11-25T17:02:03Z\n"
     "message-expires:2026-11-26T17:02:03Z\nmessage-file-name:invoice-12345.xml\nmessage-from:abcd@abcdef01\n"
     "message-id:12345\nmessage-md5:846f571f913b223bc48d90398201ca94\nmessage-pay-for-reply:1\nmessage-to:ef01@1234abcd\n"
     "/inbound/relaybox?source=gw1",
     "rjevpnnDa0OAEjjwYeVOfqmvgBQhwmhmoM0Sc68zOb0="),
]  # fmt: skip


def _rcws_check(
    method: str, path: str, query: str, body: bytes, authorization: str, stamp: str | None = None
) -> str | None:
    """What the server does for RCWS, minus storage: classify, parse, build, verify."""
    assert hmac_request.classify(authorization, PROVIDERS).scheme is Scheme.RCWS
    parsed = rcws.parse_authorization(authorization)
    assert parsed is not None
    return rcws.verify(KEY, rcws.candidates(method, path, query, body, JSON_TYPE, stamp), parsed[2])


def _digest_check(
    authorization: str, method: str, target: str, body: bytes, ctype: str, date: str, headers: list[tuple[str, str]]
) -> str | None:
    """What the server does for Date+digest, minus storage."""
    found = hmac_request.classify(authorization, PROVIDERS)
    assert found.scheme is Scheme.DATEDIGEST and found.hash is not None
    parsed = hmac_request.parse_digest_authorization(authorization, found.hash)
    assert parsed is not None
    d = hmac_request.digest_string_for(method, body, ctype, date, headers, target)
    return hmac_request.verify_digest(KEY, found.hash, d, parsed[2])


# --- RCWS vectors --------------------------------------------------------------------------------


def test_vector_bodies_are_the_specs() -> None:
    assert len(B7) == 216  # the seed's Content-Length
    assert len(B8) == 75
    assert hashlib.md5(B7).hexdigest() == "225b40fee86199218a633fcd852bb1ae"


@pytest.mark.parametrize("vec", R_VECTORS, ids=[v[0] for v in R_VECTORS])
def test_rcws_vectors(vec: tuple[str, str, str, str, bytes, str, str | None, str, str]) -> None:
    _id, method, path, query, body, word, stamp, s, sig = vec
    candidates = rcws.candidates(method, path.encode(), query.encode(), body, JSON_TYPE, stamp)
    assert candidates[0] == s
    assert len(candidates) <= 2
    assert rcws.sign(KEY, s) == sig
    for hexsig in (sig, sig.upper()):
        authorization = f"{word} {USER}:{hexsig}"
        assert rcws.parse_authorization(authorization) == (word, USER, bytes.fromhex(sig))
        assert _rcws_check(method, path, query, body, authorization, stamp) == s


def test_r7_in_any_key_order_or_spacing_gives_the_same_s() -> None:
    items = list(json.loads(B7).items())
    random.Random(7).shuffle(items)
    for sent in (json.dumps(dict(items), indent=2), json.dumps(dict(reversed(items)), separators=(" , ", " : "))):
        assert sent.encode() != B7
        candidates = rcws.candidates("POST", "/v1/contacts.json/1/contacts/", "", sent.encode(), JSON_TYPE, None)
        assert candidates[0] == S7
        assert candidates[1] == "post::/v1/contacts.json/1/contacts/::" + sent.lower()
        auth = f"RCWS {USER}:014f681d06d16d10093f8c389814d3cfc36a344931c1b4aad3e2ce8cab8d9cf0"
        assert _rcws_check("POST", "/v1/contacts.json/1/contacts/", "", sent.encode(), auth) == S7


def test_r8_rewrite_keeps_number_tokens_escapes_non_ascii_and_not_slash() -> None:
    assert rcws.canonical_json(B8) == '{"first_name":"Zo\\u00eb","last_name":"Doe/Smith","rating":1.50,"zip_code":4008}'
    assert rcws.parse_authorization(f"mmws {USER}:{'0' * 64}") is not None  # the seed's typo, any case


def test_r9_alias_signature_verifies_as_the_second_candidate() -> None:
    candidates = rcws.candidates("DELETE", "/v1/contacts.json/1/contacts/342", "", b"", JSON_TYPE, None)
    alias = 'delete::/v1/contacts.json/1/contacts/342::{"posted_data":"null"}'
    assert candidates == ['delete::/v1/contacts.json/1/contacts/342::{"posted_data":"[]"}', alias]
    assert rcws.sign(KEY, alias) == R9_ALIAS_SIG
    assert rcws.verify(KEY, candidates, bytes.fromhex(R9_ALIAS_SIG)) == alias


def test_r10_timestamp_is_signed() -> None:
    sig = bytes.fromhex("a375c52db44f5f20cbf47e6e7faf0de2940a09fc5178062eaed3a15cfc6c7100")
    for stamp in (None, "2026-11-25T17:02:04Z"):
        assert rcws.verify(KEY, rcws.candidates("GET", "/v1/lists.json", "id=2", b"", JSON_TYPE, stamp), sig) is None
    # R2's signature (no timestamp) does not verify once a timestamp is sent
    r2 = bytes.fromhex(R_VECTORS[2][8])
    assert (
        rcws.verify(KEY, rcws.candidates("GET", "/v1/lists.json", "id=2", b"", JSON_TYPE, "2026-11-25T17:02:03Z"), r2)
        is None
    )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b" \r\n\t",
        b"{}",
        b"[]",
        b"null",
        b" { } ",
        b'{"posted_data":"[]"}',
        b'{"posted_data":"null"}',
        b'{ "posted_data" : "null" }\n',
    ],
)
def test_every_empty_body_signs_as_r1(body: bytes) -> None:
    assert rcws.is_empty(body)
    auth = f"RCWS {USER}:{R_VECTORS[0][8]}"
    assert _rcws_check("GET", "/v1/lists.json/", "", body, auth) == R_VECTORS[0][7]


@pytest.mark.parametrize(
    "body",
    [
        b'{"posted_data":"x"}',
        b'{"posted_data":[]}',
        b"0",
        b'""',
        b'"[]"',
        b"\x0b",
        b"{}{}",
        b'{"posted_data":"[]","posted_data":"[]"}',
        b"\xff",
        b"[[]]",
    ],
)
def test_non_empty_bodies(body: bytes) -> None:
    assert not rcws.is_empty(body)


# --- RCWS refusals -------------------------------------------------------------------------------


def test_tampered_requests_do_not_verify() -> None:
    r1 = f"RCWS {USER}:{R_VECTORS[0][8]}"
    r2 = f"RCWS {USER}:{R_VECTORS[2][8]}"
    r7 = f"RCWS {USER}:{R_VECTORS[7][8]}"
    assert _rcws_check("POST", "/v1/lists.json/", "", b"", r1) is None  # method
    assert _rcws_check("GET", "/v1/lists.json", "", b"", r1) is None  # path (trailing slash)
    assert _rcws_check("GET", "/v1/lists.json", "id=3", b"", r2) is None  # query
    assert _rcws_check("GET", "/v1/lists.json", "id=2&x=1", b"", r2) is None  # query item added
    assert _rcws_check("GET", "/v1/lists.json/", "", b'{"posted_data":"x"}', r1) is None  # body
    assert _rcws_check("POST", "/v1/contacts.json/1/contacts/", "", B7.replace(b"india", b"nepal"), r7) is None
    assert _rcws_check("POST", "/v1/contacts.json/1/contacts/", "", B7, r1) is None
    # the seed's slips are not accepted: its "get" on a POST, the "./" typo
    seed_get = rcws.sign(KEY, "get" + S7[4:])
    assert _rcws_check("POST", "/v1/contacts.json/1/contacts/", "", B7, f"RCWS {USER}:{seed_get}") is None
    typo = rcws.sign(KEY, 'post::/v1/lists./list+3::{"posted_data":"[]"}')
    assert _rcws_check("POST", "/v1/lists/List+3", "", b"", f"RCWS {USER}:{typo}") is None


def test_case_changes_stay_unsigned_as_in_the_seed() -> None:
    """Lower-casing the whole S is the seed's property (documented): TLS covers these."""
    r1 = f"RCWS {USER}:{R_VECTORS[0][8]}"
    assert _rcws_check("get", "/V1/LISTS.JSON/", "", b"", r1) == R_VECTORS[0][7]


def test_wrong_key_does_not_verify() -> None:
    s = R_VECTORS[0][7]
    assert rcws.verify("test-private-keY", [s], bytes.fromhex(R_VECTORS[0][8])) is None
    assert rcws.verify(KEY, [], bytes.fromhex(R_VECTORS[0][8])) is None
    assert rcws.verify(KEY, [s], b"") is None


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "RCWS",
        f"RCWS {USER}",
        f"RCWS {USER}:",
        f"RCWS :{'a' * 64}",
        f"RCWS {USER}:{'a' * 63}",
        f"RCWS {USER}:{'a' * 65}",
        f"RCWS {USER}:{'g' * 64}",
        f"RCWS {USER}:{'a' * 62} a",
        f"RCWS {USER}:{'aa ' * 32}",
        f"RCWS {USER}:0x{'a' * 62}",
        f"RCWS rbk a:{'a' * 64}",
        f"RCWS a:b:{'a' * 64}",
        f"RCWSX {USER}:{'a' * 64}",
        f"Bearer {USER}:{'a' * 64}",
        f"relaybox_api {USER}:{'a' * 64}",
        f"RCWS {USER}:{'٣' * 64}",  # non-ASCII digits
    ],
)
def test_malformed_rcws_authorization(value: str | None) -> None:
    assert rcws.parse_authorization(value) is None


def test_rcws_authorization_tolerates_extra_spaces_and_reads_back() -> None:
    sig = "ab" * 32
    assert rcws.parse_authorization(f"  rcws   {USER}:{sig} ") == ("rcws", USER, bytes.fromhex(sig))
    assert rcws.authorization(USER, sig) == f"RCWS {USER}:{sig}"
    with pytest.raises(ValueError):
        rcws.authorization("a:b", sig)


def test_duplicate_key_has_only_the_raw_candidate() -> None:
    body = b'{"B":1,"B":2}'
    assert rcws.canonical_json(body) is None
    assert rcws.candidates("POST", "/v1/x", "", body, "application/json", None) == ['post::/v1/x::{"b":1,"b":2}']


@pytest.mark.parametrize(
    "body", [b'{"a":1', b"{'a':1}", b'{"a":NaN}', b"[Infinity]", b'{"a":1} x', b"\xef\xbb\xbf{}", b"[01]"]
)
def test_invalid_json_has_only_the_raw_candidate(body: bytes) -> None:
    assert rcws.canonical_json(body) is None
    assert rcws.candidates("PUT", "/v1/x", "", body, "application/json", None) == [
        "put::/v1/x::" + body.decode().lower()
    ]


def test_non_utf8_json_body_signs_as_other_body() -> None:
    body = b'{"a":"\xff"}'
    assert rcws.canonical_json(body) is None
    md5 = hashlib.md5(body).hexdigest()
    for ctype in ("application/json", "application/octet-stream", None):
        assert rcws.candidates("POST", "/v1/x", "", body, ctype, None) == [
            f'post::/v1/x::{{"posted_data_md5":"{md5}"}}'
        ]


def test_other_bodies_sign_their_md5_and_json_without_json_type_too() -> None:
    body = b'{"a":1}'
    md5 = hashlib.md5(body).hexdigest()
    for ctype in ("application/octet-stream", "multipart/form-data; boundary=X", "text/json", "", None):
        assert rcws.candidates("POST", "/v1/x", "a=1", body, ctype, "T") == [
            f'post::/v1/x?a=1::{{"posted_data_md5":"{md5}"}}::t'
        ]


def test_php_style_slash_escape_verifies_through_the_raw_candidate() -> None:
    body = b'{"last_name":"Doe\\/Smith"}'
    candidates = rcws.candidates("POST", "/v1/x", "", body, JSON_TYPE, None)
    assert candidates == ['post::/v1/x::{"last_name":"doe/smith"}', 'post::/v1/x::{"last_name":"doe\\/smith"}']
    php = rcws.sign(KEY, candidates[1])
    assert rcws.verify(KEY, candidates, bytes.fromhex(php)) == candidates[1]


def test_raw_candidate_is_only_added_when_it_differs() -> None:
    canonical = b'{"a":[1,2.0,"x"],"b":{"c":null,"d":true}}'
    assert rcws.candidates("POST", "/v1/x", "", canonical, "application/merge-patch+json", None) == [
        "post::/v1/x::" + canonical.decode()
    ]


def test_lowering_is_ascii_only() -> None:
    body = '{"K":"İÄ","K":1}'.encode()
    assert rcws.candidates("POST", "/V1/X", "Q=1", body, JSON_TYPE, "2026-11-25T17:02:03Z") == [
        'post::/v1/x?q=1::{"k":"İÄ","k":1}::2026-11-25t17:02:03z'
    ]


def test_non_ascii_request_line_signs_its_exact_bytes() -> None:
    path = b"/v1/caf\xc3\xa9/\xff"
    [s, _alias] = rcws.candidates("GET", path, b"b=\xfe&a", b"", None, None)
    expected = hmac.new(KEY.encode(), b"get::" + path + b"?a&b=\xfe::" + rcws.EMPTY.encode(), hashlib.sha256)
    assert rcws.sign(KEY, s) == expected.hexdigest()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("pagesize=5&offset=2", "offset=2&pagesize=5"),
        ("id=3&name=Renamed+1", "id=3&name=Renamed+1"),
        ("&&b=2&&a=1&", "a=1&b=2"),
        ("b=2&a=1&A=0&_=1", "A=0&_=1&a=1&b=2"),  # byte order: "A" < "_" < "a"
        ("x=%2F&x=%2f&x=/", "x=%2F&x=%2f&x=/"),  # nothing decoded
        ("a=1&a", "a&a=1"),
        ("", ""),
        ("&", ""),
    ],
)
def test_sorted_query(raw: str, expected: str) -> None:
    assert rcws.sorted_query(raw) == expected
    assert rcws.sorted_query(raw.encode()) == expected


def test_sorted_query_sorts_bytes_not_code_units() -> None:
    assert rcws.sorted_query("b=\U0001f600&b=\uffff") == "b=\uffff&b=\U0001f600"


@pytest.mark.parametrize(
    ("ctype", "is_json"),
    [
        ("application/json", True),
        ("application/json; charset=UTF-8", True),
        (" APPLICATION/JSON ;x=y", True),
        ("application/problem+json", True),
        ("application/vnd.api+json; charset=utf-8", True),
        ("text/json", False),
        ("application/jsonx", False),
        ("+json", False),
        ("application/+json", False),
        ("application/json-seq", False),
        ("", False),
        (None, False),
    ],
)
def test_json_content_types(ctype: str | None, is_json: bool) -> None:
    assert rcws.is_json_type(ctype) is is_json


def test_deep_nesting_has_no_rewrite_and_does_not_crash() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert rcws.canonical_json(deep) is None
    assert rcws.canonical_json(b"[" * 150 + b"]" * 150) == "[" * 150 + "]" * 150
    assert len(rcws.candidates("POST", "/v1/x", "", deep, "application/json", None)) == 1


def test_big_numbers_keep_their_tokens() -> None:
    body = b'{"n":123456789012345678901234567890123,"f":1e400,"g":-0.0,"h":1E-7}'
    assert rcws.canonical_json(body) == '{"f":1e400,"g":-0.0,"h":1E-7,"n":123456789012345678901234567890123}'


def test_verify_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real: Callable[[bytes, bytes], bool] = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    candidates = rcws.candidates("DELETE", "/v1/contacts.json/1/contacts/342", "", b"", JSON_TYPE, None)
    assert rcws.verify(KEY, candidates, bytes.fromhex(R_VECTORS[9][8])) == candidates[0]
    assert len(calls) == 2  # every candidate is compared, the match does not end the loop early
    assert all(isinstance(a, bytes) and len(a) == 32 for a, _ in calls)
    calls.clear()
    found = hmac_request.verify_digest(KEY, "sha1", D_VECTORS[0][8], base64.b64decode(D_VECTORS[0][9]))
    assert found == D_VECTORS[0][8]
    assert len(calls) == 1 and len(calls[0][0]) == 20


# --- hypothesis: canonical JSON --------------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def _reorder(value: Any, rnd: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: _reorder(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [_reorder(v, rnd) for v in value]
    return value


@settings(max_examples=150, deadline=None)
@given(
    obj=st.dictionaries(st.text(max_size=6), _json, max_size=5),
    seed=st.integers(0, 2**32),
    indent=st.sampled_from([None, 0, 2, "\t"]),
)
def test_canonical_json_is_idempotent_and_ignores_order_and_spacing(
    obj: dict[str, Any], seed: int, indent: int | str | None
) -> None:
    canonical = rcws.canonical_json(json.dumps(obj).encode())
    # the oracle: Python's own sorted, compact, ASCII form (same number tokens for ints and floats)
    assert canonical == json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert rcws.canonical_json(canonical.encode()) == canonical
    shuffled = json.dumps(_reorder(obj, random.Random(seed)), indent=indent, ensure_ascii=bool(seed % 2))
    assert rcws.canonical_json(shuffled.encode()) == canonical
    assert canonical.isascii()


@settings(max_examples=100, deadline=None)
@given(
    body=st.binary(max_size=40) | _json.map(lambda v: json.dumps(v).encode()),
    ctype=st.sampled_from([None, "application/json", "text/plain"]),
)
def test_at_most_two_lowercase_candidates(body: bytes, ctype: str | None) -> None:
    candidates = rcws.candidates("PATCH", "/v1/A", "Z=1", body, ctype, None)
    assert 1 <= len(candidates) <= 2
    assert len(set(candidates)) == len(candidates)
    assert not any(c in s for s in candidates for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@settings(max_examples=100, deadline=None)
@given(key=st.text(min_size=1), s=st.text(), other=st.text())
def test_sign_verify_round_trip(key: str, s: str, other: str) -> None:
    sig = rcws.sign(key, s)
    assert len(sig) == 64 and sig == sig.lower()
    parsed = rcws.parse_authorization(f"RCWS {USER}:{sig}")
    assert parsed is not None
    assert rcws.verify(key, [other, s], parsed[2]) == (other if other == s else s)
    d_sig = digest.sign(key, s, "sha256")
    d_parsed = hmac_request.parse_digest_authorization(f"relaybox_api {USER}:{d_sig}", "sha256")
    assert d_parsed is not None
    assert hmac_request.verify_digest(key, "sha256", s, d_parsed[2]) == s
    assert hmac_request.verify_digest(key, "sha256", s + "x", d_parsed[2]) is None


# --- Date+digest -----------------------------------------------------------------------------------


@pytest.mark.parametrize("vec", D_VECTORS, ids=[v[0] for v in D_VECTORS])
def test_digest_vectors(vec: tuple[str, str, str, str, bytes, str, str, list[tuple[str, str]], str, str]) -> None:
    _id, provider, method, target, body, ctype, date, headers, d, sig = vec
    assert hmac_request.digest_string_for(method, body, ctype, date, headers, target) == d
    for word in (provider, provider.upper()):
        authorization = f"{word} {USER}:{sig}"
        found = hmac_request.classify(authorization, PROVIDERS)
        assert (found.provider, found.word) == (provider, word)
        assert hmac_request.parse_digest_authorization(authorization, PROVIDERS[provider]) == (
            word,
            USER,
            base64.b64decode(sig),
        )
        assert _digest_check(authorization, method, target, body, ctype, date, headers) == d


def test_d4_needs_its_message_headers_in_any_order() -> None:
    _id, provider, method, target, body, ctype, date, headers, d, sig = D_VECTORS[3]
    auth = f"{provider} {USER}:{sig}"
    assert _digest_check(auth, method, target, body, ctype, date, list(reversed(headers))) == d
    assert _digest_check(auth, method, target, body, ctype, date, headers[:3]) is None
    assert _digest_check(auth, method, target, body, ctype, date, [*headers, ("Message-Extra", "x")]) is None
    with pytest.raises(ValueError, match="repeated"):
        hmac_request.digest_string_for(method, body, ctype, date, [*headers, ("message-id", "12345")], target)


def test_tampered_digest_requests_do_not_verify() -> None:
    _id, provider, method, target, body, ctype, date, headers, _d, sig = D_VECTORS[2]
    auth = f"{provider} {USER}:{sig}"
    assert _digest_check(auth, method, target, body, ctype, date, headers) is not None
    assert _digest_check(auth, "PUT", target, body, ctype, date, headers) is None
    assert _digest_check(auth, method, target + "?a=1", body, ctype, date, headers) is None
    assert _digest_check(auth, method, target, body + b" ", ctype, date, headers) is None
    assert _digest_check(auth, method, target, body, "text/plain", date, headers) is None
    assert _digest_check(auth, method, target, body, ctype, "2026-11-25T17:02:04Z", headers) is None
    assert (
        _digest_check(auth, method, target, body, ctype, "2026-11-25T17:02:03+00:00", headers) is None
    )  # byte for byte
    # the query is not sorted in D
    d2 = D_VECTORS[1]
    assert (
        _digest_check(
            f"{d2[1]} {USER}:{d2[9]}", "GET", "/v1/contacts.json/1/contacts/?offset=2&pagesize=5", b"", d2[5], d2[6], []
        )
        is None
    )
    # the word picks the hash: D1's SHA-1 MAC under relaybox_api is the wrong length
    assert hmac_request.parse_digest_authorization(f"relaybox_api {USER}:{D_VECTORS[0][9]}", "sha256") is None
    d = D_VECTORS[0][8]
    assert hmac_request.verify_digest("wrong", "sha1", d, base64.b64decode(D_VECTORS[0][9])) is None


@pytest.mark.parametrize(
    ("value", "hash_name"),
    [
        (None, "sha1"),
        ("gotom_app_api", "sha1"),
        (f"gotom_app_api {USER}", "sha1"),
        ("gotom_app_api :WBOV7GV1lxOFwTux35CqtpfEL3k=", "sha1"),
        (f"gotom_app_api {USER}:WBOV7GV1lxOFwTux35CqtpfEL3k", "sha1"),  # padding missing
        (f"gotom_app_api {USER}:WBOV7GV1lxOFwTux35CqtpfEL3l=", "sha1"),  # non-canonical last bits
        (f"gotom_app_api {USER}:WBOV7GV1lxOFwTux35CqtpfEL3k==", "sha1"),
        (f"gotom_app_api {USER}:WBOV7GV1lxOFwTux35CqtpfEL3k=x", "sha1"),
        (f"gotom_app_api {USER}:WBOV7GV1lxOF Tux35CqtpfEL3k=", "sha1"),
        (f"relaybox_api {USER}:cHem08vf2-opoX-CLlmWcoWoTqlPFW87GkIrZJfoXTU=", "sha256"),  # url-safe alphabet
        (f"relaybox_api {USER}:cHem08vf2+opoX+CLlmWcoWoTqlPFW87GkIrZJfoXTU=", "sha1"),  # 32 bytes for SHA-1
        (f"relaybox_api {USER}:{base64.b64encode(b'x' * 31).decode()}", "sha256"),
        (f"relaybox_api {USER}:é{'A' * 43}", "sha256"),
        (f"relaybox_api a b:{base64.b64encode(b'x' * 32).decode()}", "sha256"),
    ],
)
def test_malformed_digest_authorization(value: str | None, hash_name: str) -> None:
    assert hmac_request.parse_digest_authorization(value, hash_name) is None


def test_unknown_hash_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="sha1 or sha256"):
        hmac_request.parse_digest_authorization(f"x {USER}:AAAA", "md5")
    with pytest.raises(ValueError):
        hmac_request.verify_digest(KEY, "sha512", "D", b"")


def test_request_target_and_body_md5() -> None:
    assert hmac_request.request_target(b"/inbound/relaybox", b"source=gw1") == "/inbound/relaybox?source=gw1"
    assert hmac_request.request_target("/v1/lists.json/", "") == "/v1/lists.json/"
    assert hmac_request.request_target("/a", "b=2&a=1") == "/a?b=2&a=1"
    assert hmac_request.body_md5(b"") == digest.EMPTY_MD5
    assert hmac_request.body_md5(D4_BODY) == "846f571f913b223bc48d90398201ca94"


# --- Date -----------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 25, 17, 2, 3, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T17:02:03Z", T0),
        ("2026-11-25T18:02:03+01:00", T0),
        ("2026-11-25T12:02:03-05:00", T0),
        ("2026-11-25T17:02:03", T0),
        ("2026-11-25T17:02:03.5Z", T0 + 0.5),
        ("2026-11-25T17:02:03.123456789Z", T0 + 0.123456789),
        ("2026-11-25T17:02:03.25+00:00", T0 + 0.25),
        ("Wed, 25 Nov 2026 17:02:03 GMT", T0),
        ("Wed, 25 Nov 2026 18:02:03 +0100", T0),
        ("Wed, 25 Nov 2026 17:02:03 -0000", T0),
        (" 2026-11-25T17:02:03Z ", T0),
    ],
)
def test_parse_date_forms(text: str, expected: float) -> None:
    parsed = hmac_request.parse_date(text)
    assert parsed is not None and abs(parsed - expected) < 1e-6


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "  ",
        "yesterday",
        "2026-11-25 17:02:03Z",
        "2026-11-25t17:02:03z",
        "2026-11-25T17:02:03.1234567890Z",
        "2026-11-25T17:02:03.Z",
        "2026-13-01T00:00:00Z",
        "2026-11-25T17:02:03+24:00",
        "2026-11-25T17:02",
        "1795626123",
        "Wed, 32 Nov 2026 17:02:03 GMT",
        "Wed, 25 Foo 2026 17:02:03 GMT",
        "Wed, 25 Nov 2026 25:02:03 GMT",
    ],
)
def test_parse_date_failures(text: str | None) -> None:
    assert hmac_request.parse_date(text) is None


def test_window() -> None:
    assert hmac_request.within_window(T0 + 300, T0)
    assert hmac_request.within_window(T0 - 300, T0)
    assert not hmac_request.within_window(T0 + 300.001, T0)
    assert not hmac_request.within_window(T0, T0 + 301)
    assert hmac_request.within_window(T0 + 30, T0, window=30)


# --- which scheme ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "scheme", "word", "provider", "hash_name"),
    [
        (None, Scheme.MISSING, "", None, None),
        ("", Scheme.MISSING, "", None, None),
        ("  ", Scheme.MISSING, "", None, None),
        ("eyJhbGciOiJIUzI1NiJ9.e30.sig", Scheme.JWT, "", None, None),
        ("Bearer eyJ.e30.sig", Scheme.JWT, "Bearer", None, None),
        ("bearer eyJ.e30.sig", Scheme.JWT, "bearer", None, None),
        ("BEARER eyJ.e30.sig", Scheme.JWT, "BEARER", None, None),
        (f"RCWS {USER}:x", Scheme.RCWS, "RCWS", None, None),
        (f"rcws {USER}:x", Scheme.RCWS, "rcws", None, None),
        (f"Rcws {USER}:x", Scheme.RCWS, "Rcws", None, None),
        (f"MMWS {USER}:x", Scheme.RCWS, "MMWS", None, None),
        (f"mmws {USER}:x", Scheme.RCWS, "mmws", None, None),
        (f"relaybox_api {USER}:x", Scheme.DATEDIGEST, "relaybox_api", "relaybox_api", "sha256"),
        (f"RELAYBOX_API {USER}:x", Scheme.DATEDIGEST, "RELAYBOX_API", "relaybox_api", "sha256"),
        (f"gotom_app_api {USER}:x", Scheme.DATEDIGEST, "gotom_app_api", "gotom_app_api", "sha1"),
        (f"Gotom_App_Api {USER}:x", Scheme.DATEDIGEST, "Gotom_App_Api", "gotom_app_api", "sha1"),
        ("Basic dXNlcjpwYXNz", Scheme.UNSUPPORTED, "Basic", None, None),
        ("Digest username=x", Scheme.UNSUPPORTED, "Digest", None, None),
        (f"RCWSX {USER}:x", Scheme.UNSUPPORTED, "RCWSX", None, None),
        (f"relaybox_api_x {USER}:x", Scheme.UNSUPPORTED, "relaybox_api_x", None, None),
        ("Bearer\teyJ.e30.sig", Scheme.JWT, "", None, None),  # no space: the whole value is the token
    ],
)
def test_classify(value: str | None, scheme: Scheme, word: str, provider: str | None, hash_name: str | None) -> None:
    found = hmac_request.classify(value, PROVIDERS)
    assert (found.scheme, found.word, found.provider, found.hash) == (scheme, word, provider, hash_name)
    assert found.kind == scheme.value


def test_dropping_a_provider_turns_it_off() -> None:
    only_sha256 = hmac_request.parse_providers("relaybox_api=sha256")
    assert hmac_request.classify(f"gotom_app_api {USER}:x", only_sha256).scheme is Scheme.UNSUPPORTED
    assert hmac_request.www_authenticate(only_sha256) == "RCWS, relaybox_api"


def test_parse_providers() -> None:
    assert PROVIDERS == {"relaybox_api": "sha256", "gotom_app_api": "sha1"}
    assert list(PROVIDERS) == ["relaybox_api", "gotom_app_api"]
    assert hmac_request.www_authenticate(PROVIDERS) == "RCWS, relaybox_api, gotom_app_api"
    assert hmac_request.parse_providers(" My.App = SHA256 , other=sha1") == {"My.App": "sha256", "other": "sha1"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("  ", "empty"),
        ("rcws=sha256", "reserved"),
        ("MMWS=sha1", "reserved"),
        ("bearer=sha1", "reserved"),
        ("x=md5", "sha1 or sha256"),
        ("x=sha512", "sha1 or sha256"),
        ("x", "word=hash"),
        ("=sha1", "word=hash"),
        ("x=", "word=hash"),
        ("a=sha1,,b=sha1", "word=hash"),
        ("a=sha1,", "word=hash"),
        ("a=sha1,A=sha256", "twice"),
        ("a b=sha1", "token"),
        ("a:b=sha1", "token"),
    ],
)
def test_parse_providers_refusals(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        hmac_request.parse_providers(text)


# --- problems -------------------------------------------------------------------------------------

SPEC_EXAMPLE = (
    '{"type":"urn:relaybox:problem:invalid-signature","title":"Invalid signature","status":401,'
    '"detail":"The RCWS signature does not match the request.","request_id":"20261125170203-4c1d9a7e0b3f2a65",'
    '"message":"The RCWS signature does not match the request.",'
    '"expected_string":"get::/v1/lists.json/::{\\"posted_data\\":\\"[]\\"}"}'
)


def test_problem_matches_the_specs_example() -> None:
    body = hmac_request.problem(
        "invalid-signature",
        "The RCWS signature does not match the request.",
        "req-1",
        expected_string=R_VECTORS[0][7],
    )
    example = json.loads(SPEC_EXAMPLE)
    assert list(body) == list(example)
    assert {**body, "request_id": example["request_id"]} == example
    assert json.dumps({**body, "request_id": example["request_id"]}, separators=(",", ":")) == SPEC_EXAMPLE


def test_problem_table() -> None:
    assert set(hmac_request.PROBLEMS) == {
        "auth-required",
        "unsupported-scheme",
        "malformed-authorization",
        "unknown-key",
        "key-revoked",
        "key-expired",
        "missing-timestamp",
        "malformed-timestamp",
        "clock-skew",
        "invalid-signature",
        "replay",
    }
    assert all(status == 401 for status, _title in hmac_request.PROBLEMS.values())
    assert hmac_request.PROBLEMS["replay"] == (401, "Signature already used")
    assert hmac_request.PROBLEMS["clock-skew"] == (401, "Clock skew too large")
    body = hmac_request.problem("auth-required", "Send Authorization.", "r")
    assert body == {
        "type": "urn:relaybox:problem:auth-required",
        "title": "Authentication required",
        "status": 401,
        "detail": "Send Authorization.",
        "request_id": "r",
        "message": "Send Authorization.",
    }
    with pytest.raises(KeyError):
        hmac_request.problem("nope", "x", "r")
    with pytest.raises(ValueError):
        hmac_request.problem("replay", "x", "r", status=200)


# --- the seeds' own recipes, run independently -----------------------------------------------------

needs_openssl = pytest.mark.skipif(
    not (shutil.which("bash") and shutil.which("openssl") and shutil.which("md5sum")),
    reason="bash/openssl/md5sum missing",
)


def _bash(script: str, stdin: bytes = b"") -> str:
    done = subprocess.run(["bash", "-c", script], input=stdin, capture_output=True, check=True, timeout=10)
    return done.stdout.decode().strip()


@needs_openssl
def test_r6_with_the_specs_bash_recipe() -> None:
    out = _bash(
        """
q=$(printf %s 'pagesize=5&offset=2' | tr '&' '\\n' | LC_ALL=C sort | paste -sd '&' -)
S="GET::/v1/contacts.json/1/contacts/?$q::{\\"posted_data\\":\\"[]\\"}"
printf %s "$S" | tr 'A-Z' 'a-z' | openssl dgst -sha256 -hmac 'test-private-key'
"""
    )
    assert out.split()[-1] == R_VECTORS[6][8]


@needs_openssl
@pytest.mark.parametrize(("vec", "hash_name"), [(D_VECTORS[0], "sha1"), (D_VECTORS[2], "sha256")], ids=["D1", "D3"])
def test_digest_with_the_seeds_bash_lines(vec: tuple[Any, ...], hash_name: str) -> None:
    _id, _provider, method, uri, body, _ctype, date, _headers, _d, sig = vec
    script = f"""
secret='test-private-key'; date='{date}'; method={method}; uri='{uri}'
if ! [ -t 0 ]; then content="$(cat)"; else content=""; fi
contentHash=$(echo -n "$content" | md5sum | cut -f1 -d' ')
contentType='application/json'; customHeaders=''
digestParts="${{method^^}}\\n${{contentHash}}\\n${{contentType,,}}\\n${{date}}\\n${{customHeaders}}\\n${{uri}}"
echo -en "$digestParts" | openssl dgst -{hash_name} -hmac "$secret" -binary | base64
"""
    assert _bash(script, body) == sig


@pytest.mark.skipif(shutil.which("node") is None, reason="node missing")
def test_node_computes_r1_and_d2_independently() -> None:
    script = r"""
const crypto = require('crypto');
const s = ('GET' + '::' + '/v1/lists.json/' + '::' + JSON.stringify({posted_data: '[]'})).toLowerCase();
const query = 'pagesize=5&offset=2';
const uri = new URL('https://x' + '/v1/contacts.json/1/contacts/?' + query);
const d = `GET\n${crypto.createHash('md5').update('').digest('hex')}\napplication/json\n2026-11-25T17:02:03Z\n\n${uri.pathname + uri.search}`;
console.log(s);
console.log(crypto.createHmac('sha256', 'test-private-key').update(s).digest('hex'));
console.log(crypto.createHmac('sha256', 'test-private-key').update(d).digest('base64'));
"""
    done = subprocess.run(["node", "-e", script], capture_output=True, check=True, timeout=15)
    s, sig, d2 = done.stdout.decode().split("\n")[:3]
    assert s == R_VECTORS[0][7]
    assert sig == R_VECTORS[0][8]
    assert d2 == D_VECTORS[1][9]
