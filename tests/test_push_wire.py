"""Pure push and signing code: the Date+digest scheme (``request-signing.md`` D1-D4) and the
outbound push of ``webhooks.md`` (schedule, Retry-After, federation and HTTPS headers)."""

from __future__ import annotations

import doctest
import hashlib
import re
import shutil
import subprocess
from datetime import UTC, datetime
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaybox.auth.signing import send_key
from relaybox.wire import digest, push

KEY = "test-private-key"
USER = "rbk_00112233445566778899aabb"
B7 = (
    b'{"address":"","city":"","company":"","country":"india","dob":"","email_address":"test21.fullname@example.com",'
    b'"first_name":"full name","last_name":"seth1","name":"test21_name","phone":"","state":"","zip_code":"4008"}'
)
INVOICE = b'<invoice id="12345"/>\n'
INVOICE_MD5 = "846f571f913b223bc48d90398201ca94"
NOW = datetime(2026, 11, 25, 17, 2, 3, tzinfo=UTC).timestamp()

D1 = "GET\nd41d8cd98f00b204e9800998ecf8427e\napplication/json\n2026-11-25T18:02:03+01:00\n\n/v1/lists.json/"
D2 = (
    "GET\nd41d8cd98f00b204e9800998ecf8427e\napplication/json\n2026-11-25T17:02:03Z\n\n"
    "/v1/contacts.json/1/contacts/?pagesize=5&offset=2"
)
D3 = "POST\n225b40fee86199218a633fcd852bb1ae\napplication/json\n2026-11-25T17:02:03Z\n\n/v1/contacts.json/1/contacts/"
D4 = (
    "POST\n846f571f913b223bc48d90398201ca94\napplication/octet-stream\n2026-11-25T17:02:03Z\n"
    "message-expires:2026-11-26T17:02:03Z\nmessage-file-name:invoice-12345.xml\nmessage-from:abcd@abcdef01\n"
    "message-id:12345\nmessage-md5:846f571f913b223bc48d90398201ca94\nmessage-pay-for-reply:1\n"
    "message-to:ef01@1234abcd\n/inbound/relaybox?source=gw1"
)
D4_HEADERS = [
    ("Content-Type", "application/octet-stream"),
    ("Date", "2026-11-25T17:02:03Z"),
    ("Message-From", "abcd@abcdef01"),
    ("Message-To", "ef01@1234abcd"),
    ("Message-Id", "12345"),
    ("Message-File-Name", "invoice-12345.xml"),
    ("Message-MD5", INVOICE_MD5),
    ("Message-Expires", "2026-11-26T17:02:03Z"),
    ("Message-Pay-For-Reply", "1"),
]
D4_SIG = "rjevpnnDa0OAEjjwYeVOfqmvgBQhwmhmoM0Sc68zOb0="
FED_KEY = (
    "dec611456e080c8b99b92166df7f41c135766ac04d65435f0ce4d12429ad66d64ee3d8cd"
    "417ff82c9585a32ee74934bff834d10b2f35a634c18ab6fb24c77d34"
)

# --- Date+digest (auth/digest.py) ------------------------------------------------------------


def test_b7_is_the_seed_body() -> None:
    assert len(B7) == 216
    assert hashlib.md5(B7).hexdigest() == "225b40fee86199218a633fcd852bb1ae"


@pytest.mark.parametrize(
    ("method", "md5", "uri", "date", "expected"),
    [
        ("GET", digest.EMPTY_MD5, "/v1/lists.json/", "2026-11-25T18:02:03+01:00", D1),
        ("GET", digest.EMPTY_MD5, "/v1/contacts.json/1/contacts/?pagesize=5&offset=2", "2026-11-25T17:02:03Z", D2),
        ("POST", hashlib.md5(B7).hexdigest(), "/v1/contacts.json/1/contacts/", "2026-11-25T17:02:03Z", D3),
    ],
)
def test_digest_string_vectors_without_custom_headers(
    method: str, md5: str, uri: str, date: str, expected: str
) -> None:
    assert digest.digest_string(method, md5, "application/json", date, "", uri) == expected


def test_digest_string_vector_d4_from_request_headers_in_any_order_and_case() -> None:
    shuffled = [(name.upper() if i % 2 else name, value) for i, (name, value) in enumerate(reversed(D4_HEADERS))]
    custom = digest.custom_lines(shuffled)
    d = digest.digest_string(
        "post", INVOICE_MD5, "application/octet-stream", "2026-11-25T17:02:03Z", custom, "/inbound/relaybox?source=gw1"
    )
    assert d == D4


@pytest.mark.parametrize(
    ("d", "algorithm", "signature"),
    [
        (D1, "sha1", "WBOV7GV1lxOFwTux35CqtpfEL3k="),
        (D2, "sha256", "cHem08vf2+opoX+CLlmWcoWoTqlPFW87GkIrZJfoXTU="),
        (D3, "sha256", "CkOdz+VQ+KcpyM6p3P3HBQPSOrrM1gYlNJDGcwdty0I="),
        (D4, "sha256", D4_SIG),
    ],
)
def test_signature_vectors(d: str, algorithm: digest.Algorithm, signature: str) -> None:
    assert digest.sign(KEY, d, algorithm) == signature
    assert digest.sign(KEY.encode(), d, algorithm) == signature


def test_authorization_vector_d1() -> None:
    value = digest.authorization("gotom_app_api", USER, digest.sign(KEY, D1, "sha1"))
    assert value == "gotom_app_api rbk_00112233445566778899aabb:WBOV7GV1lxOFwTux35CqtpfEL3k="


def test_signature_lengths_are_padded_base64() -> None:
    assert len(digest.sign(KEY, "x", "sha1")) == 28
    assert len(digest.sign(KEY, "x", "sha256")) == 44


def test_content_type_is_trimmed_ascii_lowercased_and_keeps_parameters() -> None:
    d = digest.digest_string("GET", digest.EMPTY_MD5, " Text/Plain; Charset=UTF-8\t", "D", "", "/")
    assert d.split("\n")[2] == "text/plain; charset=utf-8"
    assert digest.digest_string("GET", digest.EMPTY_MD5, None, "D", "", "/").split("\n")[2] == ""
    # Only A-Z is folded: a client in another language would not fold non-ASCII letters.
    assert digest.digest_string("GET", digest.EMPTY_MD5, "X/İ", "D", "", "/").split("\n")[2] == "x/İ"


def test_method_upper_md5_lower_date_and_uri_byte_for_byte() -> None:
    d = digest.digest_string("delete", "D41D8CD98F00B204E9800998ECF8427E", None, " 2026 ", "", "/A?b=C%2F")
    assert d == "DELETE\nd41d8cd98f00b204e9800998ecf8427e\n\n 2026 \n\n/A?b=C%2F"


def test_custom_lines_select_sort_lowercase_and_trim() -> None:
    headers = [("Message-To", " b@c "), ("X-Other", "ignored"), ("MESSAGE-ID", "7\t"), ("Messages", "no dash")]
    assert digest.custom_lines(headers) == "message-id:7\nmessage-to:b@c"
    assert digest.custom_lines([]) == ""
    assert digest.custom_lines([("Content-Type", "a/b")]) == ""


def test_custom_lines_refuse_a_repeated_message_header_in_any_case() -> None:
    with pytest.raises(ValueError, match="repeated"):
        digest.custom_lines([("Message-Id", "1"), ("message-ID", "1")])


def test_sign_refuses_unknown_algorithm() -> None:
    with pytest.raises(ValueError, match="algorithm"):
        digest.sign(KEY, "x", "md5")  # type: ignore[arg-type]


@pytest.mark.parametrize(("provider", "user"), [("", USER), ("two words", USER), ("p", ""), ("p", "a:b"), ("p", "a b")])
def test_authorization_refuses_values_a_verifier_would_split_wrongly(provider: str, user: str) -> None:
    with pytest.raises(ValueError):
        digest.authorization(provider, user, "sig")


def test_module_doctest() -> None:
    assert doctest.testmod(digest).failed == 0


def _bash_recipe(algorithm: str, method: str, uri: str, date: str, body: bytes) -> str:
    """The seed's bash lines (request-signing.md) with date and secret fixed, body on stdin."""
    script = f"""
secret='{KEY}'; date='{date}'; method={method}; uri='{uri}'
contentHash=$(md5sum | cut -f1 -d' ')
contentType='application/json'; customHeaders=''
digestParts="${{method^^}}\\n${{contentHash}}\\n${{contentType,,}}\\n${{date}}\\n${{customHeaders}}\\n${{uri}}"
echo -en "$digestParts" | openssl dgst -{algorithm} -hmac "$secret" -binary | base64
"""
    done = subprocess.run(["bash", "-c", script], input=body, capture_output=True, check=True, timeout=10)
    return done.stdout.decode().strip()


@pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("md5sum")), reason="needs openssl and md5sum")
def test_seed_bash_recipe_agrees_on_d1_and_d3() -> None:
    d1 = _bash_recipe("sha1", "get", "/v1/lists.json/", "2026-11-25T18:02:03+01:00", b"")
    assert d1 == "WBOV7GV1lxOFwTux35CqtpfEL3k=" == digest.sign(KEY, D1, "sha1")
    d3 = _bash_recipe("sha256", "POST", "/v1/contacts.json/1/contacts/", "2026-11-25T17:02:03Z", B7)
    assert d3 == "CkOdz+VQ+KcpyM6p3P3HBQPSOrrM1gYlNJDGcwdty0I=" == digest.sign(KEY, D3, "sha256")


# --- schedule --------------------------------------------------------------------------------


def test_default_schedule_gives_the_spec_table() -> None:
    delays = push.parse_schedule(push.DEFAULT_SCHEDULE)
    assert delays == (10, 60, 300, 1800, 3600, 7200, 14400, 28800, 28800)
    # "nominal time since event" of attempts 2..10 in webhooks.md.
    since = [sum(delays[:i]) for i in range(1, len(delays) + 1)]
    table = ["0:00:10", "0:01:10", "0:06:10", "0:36:10", "1:36:10", "3:36:10", "7:36:10", "15:36:10", "23:36:10"]
    assert [f"{int(s) // 3600}:{int(s) % 3600 // 60:02}:{int(s) % 60:02}" for s in since] == table


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5d", 432000), ("30", 30), ("0", 0), ("1.5h", 5400), (" 2m ", 120), ("0s", 0), ("10s", 10)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert push.parse_duration(text) == seconds


def test_parse_schedule_allows_spaces_around_commas() -> None:
    assert push.parse_schedule("10s , 1m,5 ,  1d") == (10, 60, 5, 86400)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty retry schedule"),
        ("   ", "empty retry schedule"),
        ("10s,,1m", "delay 2"),
        ("10s,", "delay 2"),
        ("10s,-1m", "negative"),
        ("10s,5w", "bad unit 'w'"),
        ("10S", "bad unit 'S'"),
        ("1 m", "bad duration"),
        ("1e3", "bad duration"),
        ("inf", "bad duration"),
        ("9" * 400 + "d", "too large"),
    ],
)
def test_parse_schedule_errors_are_clear(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        push.parse_schedule(text)


def test_parse_duration_errors() -> None:
    for bad in ("", "-5d", "5y", "d", "5.d"):
        with pytest.raises(ValueError):
            push.parse_duration(bad)


durations = st.tuples(st.integers(min_value=0, max_value=10**6), st.sampled_from(["", "s", "m", "h", "d"]))
spaces = st.sampled_from(["", " ", "  "])


@given(st.lists(st.tuples(durations, spaces, spaces), min_size=1, max_size=12))
def test_parse_schedule_round_trips_generated_schedules(items: list[tuple[tuple[int, str], str, str]]) -> None:
    factor = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
    text = ",".join(f"{left}{number}{unit}{right}" for (number, unit), left, right in items)
    assert push.parse_schedule(text) == tuple(number * factor[unit] for (number, unit), _, _ in items)


def test_next_delay_walks_the_schedule_and_ends() -> None:
    schedule = push.parse_schedule(push.DEFAULT_SCHEDULE)
    assert push.next_delay(schedule, 1, 0.2, lambda: 0.5) == 10
    assert push.next_delay(schedule, 1, 0.2, lambda: 0.0) == pytest.approx(8)
    assert push.next_delay(schedule, 1, 0.2, lambda: 1.0) == pytest.approx(12)
    assert push.next_delay(schedule, 9, 0.2, lambda: 0.5) == 28800
    # Attempt 10 is the last one: after it fails the delivery is stopped (exhausted).
    assert push.next_delay(schedule, 10, 0.2, lambda: 0.5) is None
    assert push.next_delay(schedule, 11, 0.2, lambda: 0.5) is None


def test_next_delay_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="attempts_done"):
        push.next_delay((1.0,), 0, 0.2, lambda: 0.5)
    with pytest.raises(ValueError, match="jitter"):
        push.next_delay((1.0,), 1, 1.5, lambda: 0.5)
    with pytest.raises(ValueError, match="rand"):
        push.next_delay((1.0,), 1, 0.2, lambda: 2.0)


@given(
    st.lists(st.floats(min_value=0, max_value=10**6), min_size=1, max_size=10),
    st.integers(min_value=1, max_value=12),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=1),
)
def test_jitter_stays_within_bounds(schedule: list[float], attempts: int, jitter: float, r: float) -> None:
    delay = push.next_delay(schedule, attempts, jitter, lambda: r)
    if attempts > len(schedule):
        assert delay is None
        return
    assert delay is not None
    nominal = schedule[attempts - 1]
    slack = 1e-9 * max(nominal, 1.0)
    assert nominal * (1 - jitter) - slack <= delay <= nominal * (1 + jitter) + slack


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("120", 120.0),
        (" 0 ", 0.0),
        ("86401", 86400.0),
        ("9" * 5000, 86400.0),
        ("Wed, 25 Nov 2026 17:03:03 GMT", 60.0),
        ("Wed, 25 Nov 2026 17:03:03 -0000", 60.0),
        ("Wed, 25 Nov 2026 17:00:00 GMT", 0.0),
        ("Sat, 28 Nov 2026 17:02:03 GMT", 86400.0),
        ("Wed, 32 Nov 2026 17:03:03 GMT", None),
    ],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    assert push.retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "sent"),
        (202, "sent"),
        (299, "sent"),
        (None, "retry"),
        (100, "retry"),
        (301, "retry"),
        (401, "retry"),
        (403, "retry"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
        *((s, "refused") for s in (400, 404, 409, 410, 413, 415, 422)),
    ],
)
def test_classify(status: int | None, outcome: str) -> None:
    assert push.classify(status) == outcome


def test_refused_statuses_are_the_spec_list() -> None:
    assert frozenset({400, 404, 409, 410, 413, 415, 422}) == push.REFUSED_STATUSES


# --- federation ------------------------------------------------------------------------------


def test_federation_key_vector() -> None:
    key = push.federation_key(
        "2026-11-25T17:02:04+00:00", "abcd@abcdef01", "ef01@1234abcd", "12345", INVOICE_MD5, "remote-route-secret"
    )
    assert key == FED_KEY


@given(st.lists(st.text(max_size=20), min_size=6, max_size=6))
def test_federation_key_is_the_route_api_send_key(parts: list[str]) -> None:
    assert push.federation_key(*parts) == send_key(*parts)


@pytest.mark.parametrize(
    ("uri", "url"),
    [
        ("https://gw.example", "https://gw.example/1/send-message"),
        ("https://gw.example/", "https://gw.example/1/send-message"),
        ("https://gw.example/relay/", "https://gw.example/relay/1/send-message"),
        ("https://gw.example/relay//", "https://gw.example/relay/1/send-message"),
        ("https://gw.example/1/send-message", "https://gw.example/1/send-message"),
        ("https://gw.example/r/1/send-message/", "https://gw.example/r/1/send-message"),
        ("http://127.0.0.1:8080/base?tenant=a", "http://127.0.0.1:8080/base/1/send-message?tenant=a"),
        ("https://gw.example/1/send-message?t=1", "https://gw.example/1/send-message?t=1"),
        ("https://gw.example/x#frag", "https://gw.example/x/1/send-message"),
        ("https://gw.example/a%20b", "https://gw.example/a%20b/1/send-message"),
    ],
)
def test_federation_url(uri: str, url: str) -> None:
    assert push.federation_url(uri) == url


@pytest.mark.parametrize("uri", ["", "gw.example/x", "ftp://gw.example", "https:///path", "/1/send-message"])
def test_federation_url_needs_an_http_url(uri: str) -> None:
    with pytest.raises(ValueError):
        push.federation_url(uri)


def _federation(**overrides: object) -> dict[str, str]:
    args: dict[str, object] = {
        "now": NOW + 1.9,  # the fraction is dropped: 17:02:04
        "sender_route": "abcd@abcdef01",
        "to": "ef01@1234abcd",
        "message_id": "12345",
        "md5": INVOICE_MD5.upper(),
        "expires_in": 86399,
        "pay_for_reply": False,
        "secret": "remote-route-secret",
    }
    args.update(overrides)
    return push.federation_headers(**args)  # type: ignore[arg-type]


def test_federation_headers_vector() -> None:
    assert _federation() == {
        "request-timestamp": "2026-11-25T17:02:04+00:00",
        "request-from": "abcd@abcdef01",
        "request-key": FED_KEY,
        "message-to": "ef01@1234abcd",
        "message-id": "12345",
        "message-md5": INVOICE_MD5,
        "message-expires-after": "86399",
        "message-priority": "normal",
        "pay-for-reply": "0",
    }
    assert _federation(pay_for_reply=True, expires_in=1)["pay-for-reply"] == "1"


@pytest.mark.parametrize(
    "overrides",
    [
        {"expires_in": 0},
        {"expires_in": -5},
        {"sender_route": "abcd"},
        {"to": "ef01@1234abcd\r\nX-Evil: 1"},
        {"message_id": ""},
        {"message_id": "a\nb"},
        {"message_id": "x" * 129},
        {"md5": "abc"},
    ],
)
def test_federation_headers_refuse_bad_values(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        _federation(**overrides)


# --- plain HTTPS -----------------------------------------------------------------------------


def _https(**overrides: object) -> dict[str, str]:
    args: dict[str, object] = {
        "now": NOW,
        "sender_route": "abcd@abcdef01",
        "to": "ef01@1234abcd",
        "message_id": "12345",
        "file_name": "invoice-12345.xml",
        "md5": INVOICE_MD5,
        "expires_at": NOW + 86400,
        "pay_for_reply": True,
        "content_type": None,
        "body_md5": hashlib.md5(INVOICE).hexdigest(),
        "uri_path_and_query": "/inbound/relaybox?source=gw1",
        "push_secret": KEY,
    }
    args.update(overrides)
    return push.https_headers(**args)  # type: ignore[arg-type]


def test_https_headers_vector_d4() -> None:
    assert len(INVOICE) == 22
    assert _https() == {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": 'attachment; filename="invoice-12345.xml"',
        **dict(D4_HEADERS),
        "Authorization": f"relaybox_api abcd@abcdef01:{D4_SIG}",
    }


def _verify(headers: dict[str, str], body_md5: str, target: str, secret: str) -> bool:
    """What a receiver does, with auth/digest.py (the independent copy of the scheme)."""
    provider, _, credentials = headers["Authorization"].partition(" ")
    user, _, signature = credentials.partition(":")
    custom = digest.custom_lines(headers.items())
    d = digest.digest_string("POST", body_md5, headers["Content-Type"], headers["Date"], custom, target)
    return (
        provider == "relaybox_api" and user == headers["Message-From"] and signature == digest.sign(secret, d, "sha256")
    )


def test_https_headers_keep_the_stored_content_type_and_sign_it() -> None:
    headers = _https(content_type="Application/XML; charset=UTF-8")
    assert headers["Content-Type"] == "Application/XML; charset=UTF-8"
    assert _verify(headers, INVOICE_MD5, "/inbound/relaybox?source=gw1", KEY)
    assert _https(content_type="  ")["Content-Type"] == "application/octet-stream"


def test_https_signature_covers_every_message_header() -> None:
    headers = _https()
    for name in [n for n in headers if n.startswith("Message-")]:
        tampered = {**headers, name: headers[name] + "0"}
        assert not _verify(tampered, INVOICE_MD5, "/inbound/relaybox?source=gw1", KEY), name
    assert not _verify(headers, INVOICE_MD5, "/inbound/relaybox?source=gw2", KEY)


def test_https_headers_non_ascii_file_name() -> None:
    headers = _https(file_name='Rechnung "März" 2026.xml')
    assert headers["Message-File-Name"] == "Rechnung%20%22M%C3%A4rz%22%202026.xml"
    assert headers["Content-Disposition"] == (
        'attachment; filename="Rechnung \\"M_rz\\" 2026.xml"; filename*=UTF-8\'\'Rechnung%20%22M%C3%A4rz%22%202026.xml'
    )
    assert _verify(headers, INVOICE_MD5, "/inbound/relaybox?source=gw1", KEY)


def test_https_custom_headers_added_reserved_skipped_message_refused() -> None:
    headers = _https(custom=[("X-Tenant", "acme"), ("date", "yesterday"), ("AUTHORIZATION", "Basic x"), ("Host", "h")])
    assert headers["X-Tenant"] == "acme"
    assert headers["Date"] == "2026-11-25T17:02:03Z"
    assert headers["Authorization"].endswith(D4_SIG)
    assert "date" not in headers and "AUTHORIZATION" not in headers and "Host" not in headers
    with pytest.raises(ValueError, match="Message-"):
        _https(custom=[("message-id", "999")])
    with pytest.raises(ValueError):
        _https(custom=[("X-A", "1\r\nX-Evil: 1")])
    with pytest.raises(ValueError, match="repeated"):
        _https(custom=[("X-A", "1"), ("x-a", "2")])


@pytest.mark.parametrize(
    "overrides",
    [
        {"file_name": ""},
        {"push_secret": ""},
        {"body_md5": "nope"},
        {"uri_path_and_query": "inbound"},
        {"uri_path_and_query": "/a b"},
        {"uri_path_and_query": "/a\r\nX: 1"},
        {"content_type": "text/plain\r\nX: 1"},
        {"sender_route": "a:b@c"},
        {"message_id": "id\n"},
    ],
)
def test_https_headers_refuse_bad_values(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        _https(**overrides)


def test_check_custom_headers_accepts_plain_tokens() -> None:
    push.check_custom_headers([("X-Tenant", "acme"), ("X-Api-Key", "k" * 1024), ("Accept", "")])
    push.check_custom_headers([(f"X-{i}", "v") for i in range(20)])


@pytest.mark.parametrize(
    "pairs",
    [
        [("Message-Id", "1")],
        [("MESSAGE-to", "a@b")],
        [("Content-Type", "text/plain")],
        [("authorization", "Basic x")],
        [("Date", "now")],
        [("Content-Length", "5")],
        [("Host", "evil")],
        [("Transfer-Encoding", "chunked")],
        [("request-key", "x")],
        [("X-A", "1"), ("x-a", "2")],
        [("X A", "1")],
        [("", "1")],
        [("X:A", "1")],
        [("X-" + "a" * 63, "1")],
        [("X-A", "a\rb")],
        [("X-A", "a\nb")],
        [("X-A", "a\x00b")],
        [("X-A", "a\tb")],
        [("X-A", "Zoë")],
        [("X-A", "v" * 1025)],
        [(f"X-{i}", "v") for i in range(21)],
    ],
)
def test_check_custom_headers_refuses(pairs: list[tuple[str, str]]) -> None:
    with pytest.raises(ValueError):
        push.check_custom_headers(pairs)


_QUOTED_RE = re.compile(r'attachment; filename="((?:[^"\\]|\\.)*)"(?:; filename\*=UTF-8\'\'([A-Za-z0-9%._~-]+))?')


def _disposition_name(value: str) -> str:
    match = _QUOTED_RE.fullmatch(value)
    assert match is not None, value
    if match[2] is not None:
        return unquote(match[2], errors="strict")
    return re.sub(r"\\(.)", r"\1", match[1])


@given(st.text(min_size=1, max_size=80))
def test_file_name_headers_never_break_a_line_and_decode_back(name: str) -> None:
    headers = _https(file_name=name)
    for field in ("Content-Disposition", "Message-File-Name"):
        assert not re.search(r"[\r\n\x00]", headers[field])
        assert headers[field].isascii()
    assert unquote(headers["Message-File-Name"], errors="strict") == name
    assert _disposition_name(headers["Content-Disposition"]) == name
    assert _verify(headers, INVOICE_MD5, "/inbound/relaybox?source=gw1", KEY)


header_names = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,10}", fullmatch=True)
header_values = st.from_regex(r"[ -~]{0,20}", fullmatch=True)


@given(
    st.dictionaries(header_names, header_values, max_size=5),
    st.text(min_size=1, max_size=30),
    st.sampled_from([None, "application/json", " Text/CSV; Charset=UTF-8 "]),
    st.booleans(),
    st.floats(min_value=0, max_value=4_000_000_000),
    st.from_regex(r"/[!-~]{0,30}", fullmatch=True),
)
def test_https_signature_matches_auth_digest(
    custom: dict[str, str], name: str, ctype: str | None, pay: bool, now: float, target: str
) -> None:
    """push.py's private copy of the scheme (wire may not import auth) agrees with auth/digest.py."""
    custom = {k: v for k, v in custom.items() if not k.lower().startswith("message-")}
    if len({k.lower() for k in custom}) != len(custom):
        return
    headers = _https(
        custom=list(custom.items()),
        file_name=name,
        content_type=ctype,
        pay_for_reply=pay,
        now=now,
        expires_at=now + 60,
        uri_path_and_query=target,
    )
    assert _verify(headers, INVOICE_MD5, target, KEY)
    assert headers["Date"] == datetime.fromtimestamp(int(now), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
