"""Webhook signatures (``relaybox.webhooks``): the spec's worked example, two independent
verifiers (the ``standardwebhooks`` package and ``openssl``), every refusal reason, and the
``relaybox webhook listen`` receiver run as a real process."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from conftest import free_port
from relaybox.webhooks import WebhookVerificationError, new_secret, sign, valid_secret, verify
from relaybox.webhooks.signature import signature_v1, standard_signature
from relaybox.wire.events import format_rfc3339, parse_rfc3339
from webhook_vectors import BODY, EVENT_ID, SECRET, SIGNATURE, SPEC, STANDARD_T1, STANDARD_T2, T1, T2

CREATED = 1795626123.123


def envelope(created_at: float = CREATED, event_id: str = EVENT_ID, event: object = None) -> bytes:
    doc = {
        "event_id": event_id,
        "event_type": "ping",
        "created_at": format_rfc3339(created_at),
        "event": {"message": "relaybox webhook test"} if event is None else event,
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def reason_of(
    body: bytes,
    headers: dict[str, str],
    secret: str = SECRET,
    *,
    tolerance: int = 300,
    max_age: int | None = None,
    now: float,
) -> str:
    with pytest.raises(WebhookVerificationError) as caught:
        verify(body, headers, secret, tolerance, max_age, now=now)
    return caught.value.reason


# --- the worked example -------------------------------------------------------------------


def test_worked_example_body_is_the_specs() -> None:
    assert len(BODY) == 447
    if SPEC.exists():  # the copy above must stay byte-identical to the spec's
        assert BODY.decode() in SPEC.read_text().splitlines()


def test_worked_example_vectors() -> None:
    assert base64.b64decode(SECRET.removeprefix("whsec_")) == b"relaybox-example-webhook-secret!"
    assert signature_v1(BODY, SECRET) == SIGNATURE
    assert standard_signature(BODY, SECRET, EVENT_ID, T1) == STANDARD_T1
    assert standard_signature(BODY, SECRET, EVENT_ID, T2) == STANDARD_T2
    assert sign(BODY, SECRET, event_id=EVENT_ID, timestamp=T1) == {
        "Signature": SIGNATURE,
        "webhook-id": EVENT_ID,
        "webhook-timestamp": str(T1),
        "webhook-signature": STANDARD_T1,
    }
    # Attempt 2: the same Signature, a new webhook-signature.
    assert sign(BODY, SECRET, event_id=EVENT_ID, timestamp=T2)["Signature"] == SIGNATURE
    assert sign(BODY, SECRET, event_id=EVENT_ID, standard=False) == {"Signature": SIGNATURE}


def test_worked_example_verifies() -> None:
    event = verify(BODY, {"Signature": SIGNATURE}, SECRET, now=T1)
    assert event["event_id"] == EVENT_ID and event["event"]["size"] == 22
    standard = {"webhook-id": EVENT_ID, "webhook-timestamp": str(T2), "webhook-signature": STANDARD_T2}
    assert verify(BODY, standard, SECRET, now=T2 + 300) == event


def test_sign_defaults_to_now() -> None:
    before = int(time.time())
    stamp = int(sign(BODY, SECRET, event_id=EVENT_ID)["webhook-timestamp"])
    assert before <= stamp <= time.time()


# --- independent implementations ----------------------------------------------------------


def test_standardwebhooks_package_accepts_our_headers() -> None:
    now = int(time.time())  # the package checks against its own clock
    headers = sign(BODY, SECRET, event_id=EVENT_ID, timestamp=now)
    assert Webhook(SECRET).verify(BODY, headers) == json.loads(BODY)
    secret = new_secret()
    body = envelope(now, event={"text": "h\u00e9llo \u2603"})
    assert Webhook(secret).verify(body, sign(body, secret, event_id="evt_x", timestamp=now))["event"]["text"]


def test_we_accept_the_standardwebhooks_packages_signature() -> None:
    now = int(time.time())
    for secret, body in ((SECRET, BODY), (new_secret(), envelope(now, event={"text": "\u2603"}))):
        theirs = Webhook(secret).sign(EVENT_ID, datetime.fromtimestamp(now, UTC), body.decode())
        headers = {"webhook-id": EVENT_ID, "webhook-timestamp": str(now), "webhook-signature": theirs}
        assert verify(body, headers, secret)["event_id"] == EVENT_ID


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_openssl_agrees_on_signature() -> None:
    for secret, body in ((SECRET, BODY), (new_secret(), envelope())):
        done = subprocess.run(
            ["openssl", "dgst", "-sha256", "-hmac", secret], input=body, capture_output=True, check=True
        )
        assert "v1=" + done.stdout.decode().split()[-1] == signature_v1(body, secret)


# --- refusals -----------------------------------------------------------------------------


def standard_headers(body: bytes = BODY, timestamp: int = T1) -> dict[str, str]:
    return sign(body, SECRET, event_id=EVENT_ID, timestamp=timestamp)


def plain_headers(body: bytes = BODY) -> dict[str, str]:
    return sign(body, SECRET, event_id=EVENT_ID, standard=False)


def test_tampered_body_or_wrong_secret_is_invalid() -> None:
    tampered = BODY.replace(b'"size":22', b'"size":23')
    assert reason_of(tampered, standard_headers(), now=T1) == "invalid-signature"
    assert reason_of(tampered, {"Signature": SIGNATURE}, now=T1) == "invalid-signature"
    other = new_secret()
    assert reason_of(BODY, standard_headers(), other, now=T1) == "invalid-signature"
    assert reason_of(BODY, plain_headers(), other, now=T1) == "invalid-signature"


def test_webhook_timestamp_window_both_directions() -> None:
    headers = standard_headers()
    for now in (T1 - 300, T1, T1 + 300):
        verify(BODY, headers, SECRET, now=now)
    for now in (T1 - 301, T1 + 301):
        assert reason_of(BODY, headers, now=now) == "stale-timestamp"
    assert reason_of(BODY, headers, tolerance=5, now=T1 + 6) == "stale-timestamp"
    # Signed first: a forged request is invalid whatever its timestamp says.
    assert reason_of(BODY, standard_headers(timestamp=T1 - 10_000) | {"webhook-timestamp": str(T1)}, now=T1) == (
        "invalid-signature"
    )


def test_created_at_future_and_max_age() -> None:
    headers = plain_headers()
    verify(BODY, headers, SECRET, now=CREATED - 300)
    assert reason_of(BODY, headers, now=CREATED - 301) == "stale-timestamp"
    # Without max_age any age is fine: retries run for 28 h and hand retries later still.
    verify(BODY, headers, SECRET, now=CREATED + 30 * 86400)
    verify(BODY, headers, SECRET, max_age=3600, now=CREATED + 3600)
    assert reason_of(BODY, headers, max_age=3600, now=CREATED + 3601) == "too-old"
    # With the standard headers webhook-timestamp is the freshness check, not created_at.
    verify(BODY, standard_headers(timestamp=T1 + 86400), SECRET, max_age=3600, now=T1 + 86400)


def test_missing_headers() -> None:
    assert reason_of(BODY, {}, now=T1) == "missing-signature"
    assert reason_of(BODY, {"Relaybox-Event-Id": EVENT_ID, "Webhook-Id": EVENT_ID}, now=T1) == "missing-signature"
    for missing in ("webhook-id", "webhook-timestamp"):
        headers = standard_headers()
        del headers[missing]
        assert reason_of(BODY, headers, now=T1) == "malformed"


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"\xff\xfe", b"[]", b'"text"', b'{"event_id":"evt_1"}', envelope().replace(b"Z", b"+00:00")],
)
def test_authentic_but_malformed_bodies(body: bytes) -> None:
    assert reason_of(body, standard_headers(body), now=T1) == "malformed"
    assert reason_of(body, plain_headers(body), now=CREATED) == "malformed"


def test_envelope_field_types() -> None:
    doc = json.loads(BODY)
    for key, wrong in (("event_id", 1), ("event_type", None), ("created_at", 0), ("event", [])):
        body = json.dumps(doc | {key: wrong}).encode()
        assert reason_of(body, plain_headers(body), now=CREATED) == "malformed"
    extended = json.dumps(doc | {"added_later": True}).encode()  # receivers ignore unknown fields
    assert verify(extended, plain_headers(extended), SECRET, now=CREATED)["added_later"] is True


@pytest.mark.parametrize(
    "value", ["v1=" + "g" * 64, "v1=" + "a" * 63, "v1=" + "a" * 65, "v2=" + SIGNATURE[3:], SIGNATURE[3:], ""]
)
def test_signature_header_format(value: str) -> None:
    assert reason_of(BODY, {"Signature": value}, now=CREATED) == "malformed"


def test_signature_header_hex_case_and_spaces() -> None:
    verify(BODY, {"Signature": "v1=" + SIGNATURE[3:].upper()}, SECRET, now=CREATED)
    verify(BODY, {"Signature": f" {SIGNATURE} "}, SECRET, now=CREATED)


@pytest.mark.parametrize("value", ["1795626123.5", "-1795626123", "", "1e9", "abc", "1" * 16])
def test_webhook_timestamp_must_be_integer_seconds(value: str) -> None:
    headers = standard_headers() | {"webhook-timestamp": value}
    assert reason_of(BODY, headers, now=T1) == "malformed"


def test_several_signature_entries() -> None:
    wrong = standard_signature(BODY, new_secret(), EVENT_ID, T1)
    for value in (
        f"{wrong} {STANDARD_T1}",
        f"v1a,c29tZXRoaW5n {STANDARD_T1}",
        f"v1,***not-base64*** {STANDARD_T1} {wrong}",
        f"nonsense  {STANDARD_T1}",
    ):
        verify(BODY, standard_headers() | {"webhook-signature": value}, SECRET, now=T1)
    for value in (wrong, f"{wrong} {wrong}", "v1a,c29tZXRoaW5n", "", "v1", STANDARD_T2):
        assert reason_of(BODY, standard_headers() | {"webhook-signature": value}, now=T1) == "invalid-signature"


def test_standard_headers_win_over_signature() -> None:
    # A wrong Signature does not matter when webhook-signature is there, and vice versa.
    verify(BODY, standard_headers() | {"Signature": "v1=" + "0" * 64}, SECRET, now=T1)
    headers = standard_headers() | {"webhook-signature": STANDARD_T2}
    assert reason_of(BODY, headers, now=T1) == "invalid-signature"


def test_headers_match_case_insensitively() -> None:
    shouting = {name.upper(): value for name, value in standard_headers().items()}
    verify(BODY, shouting, SECRET, now=T1)
    verify(BODY, {"sIgNaTuRe": SIGNATURE}, SECRET, now=CREATED)
    verify(BODY, httpx.Headers(standard_headers()), SECRET, now=T1)


def test_unusable_secret_is_a_caller_error() -> None:
    for secret in ("plain-secret", "whsec_***", "whsec_", ""):
        with pytest.raises(ValueError):
            sign(BODY, secret, event_id=EVENT_ID, timestamp=T1)
        with pytest.raises(ValueError):
            verify(BODY, standard_headers(), secret, now=T1)
    # The Signature scheme takes any secret text, as a plain hmac(secret, body) receiver does.
    headers = sign(BODY, "plain-secret", event_id=EVENT_ID, standard=False)
    assert verify(BODY, headers, "plain-secret", now=CREATED)["event_id"] == EVENT_ID
    # Missing padding is tolerated when verifying, as the Standard Webhooks libraries do.
    verify(BODY, standard_headers(), SECRET.rstrip("="), now=T1)


def test_error_message_is_readable() -> None:
    with pytest.raises(WebhookVerificationError, match=r"^stale-timestamp: .*300 s") as caught:
        verify(BODY, standard_headers(), SECRET, now=T1 + 1000)
    assert caught.value.reason == "stale-timestamp"


# --- secrets ------------------------------------------------------------------------------


def secret_of(size: int) -> str:
    return "whsec_" + base64.b64encode(bytes(range(size))).decode()


def test_new_secret() -> None:
    secrets_ = {new_secret() for _ in range(20)}
    assert len(secrets_) == 20
    for secret in secrets_:
        assert len(secret) == 50 and valid_secret(secret)
        assert len(base64.b64decode(secret[6:])) == 32


def test_valid_secret_bounds_and_form() -> None:
    assert [valid_secret(secret_of(n)) for n in (23, 24, 32, 64, 65)] == [False, True, True, True, False]
    assert valid_secret(SECRET)
    assert not valid_secret(SECRET.rstrip("="))  # padding required
    assert not valid_secret(SECRET[6:])  # prefix required
    assert not valid_secret("WHSEC_" + SECRET[6:])
    assert not valid_secret("whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode())  # '-' and '_'
    assert not valid_secret(SECRET[:-1] + "*")
    assert not valid_secret(SECRET + " ")
    assert not valid_secret("whsec_" + "\u00e9" * 44)
    assert not valid_secret("")


# --- timestamps ---------------------------------------------------------------------------


def test_format_rfc3339_exact() -> None:
    assert format_rfc3339(CREATED) == "2026-11-25T17:02:03.123Z"
    assert format_rfc3339(T1) == "2026-11-25T17:02:03.000Z"
    assert format_rfc3339(1795626123.9999) == "2026-11-25T17:02:03.999Z"  # truncated, not rounded up
    assert format_rfc3339(1795626123.1229) == "2026-11-25T17:02:03.122Z"
    assert format_rfc3339(0) == "1970-01-01T00:00:00.000Z"
    assert format_rfc3339(-0.001) == "1969-12-31T23:59:59.999Z"
    assert format_rfc3339(-0.0005) == "1969-12-31T23:59:59.999Z"
    # 139751028864.291 * 1000 is ...290.98 in floating point: a fixed epsilon would print .290.
    assert format_rfc3339(139751028864.291) == "6398-07-14T18:14:24.291Z"
    assert format_rfc3339(-62135596800) == "0001-01-01T00:00:00.000Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", format_rfc3339(time.time()))


def test_parse_rfc3339() -> None:
    assert parse_rfc3339("2026-11-25T17:02:03.123Z") == CREATED
    assert parse_rfc3339("2026-11-25T17:02:03Z") == T1
    assert parse_rfc3339("2026-11-25T17:02:03.123456789Z") == pytest.approx(CREATED + 0.000456789)
    for bad in (
        "2026-11-25T17:02:03",
        "2026-11-25T17:02:03+00:00",
        "2026-11-25 17:02:03Z",
        "2026-02-30T00:00:00Z",
        "2026-11-25T17:02:60Z",
        "2026-11-25T17:02:03.Z",
        "2026-11-25T17:02:03.1234567890Z",
        " 2026-11-25T17:02:03Z",
    ):
        with pytest.raises(ValueError):
            parse_rfc3339(bad)


@given(st.integers(min_value=-62135596800000, max_value=253402300799999))
def test_rfc3339_round_trip(millis: int) -> None:
    text = format_rfc3339(millis / 1000)
    assert text.endswith(f".{millis % 1000:03d}Z")
    assert parse_rfc3339(text) == millis / 1000
    assert format_rfc3339(parse_rfc3339(text)) == text


# --- property: sign then verify -------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    key=st.binary(min_size=24, max_size=64),
    event_id=st.text(min_size=1, max_size=40),  # no lone surrogates: headers are UTF-8 text
    timestamp=st.integers(min_value=0, max_value=2**40),
    created_ms=st.integers(min_value=0, max_value=253402300799999),
    event=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    data=st.data(),
)
def test_sign_then_verify(
    key: bytes, event_id: str, timestamp: int, created_ms: int, event: dict[str, object], data: st.DataObject
) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    body = envelope(created_ms / 1000, event_id=event_id, event=event)
    standard = sign(body, secret, event_id=event_id, timestamp=timestamp)
    plain = {"Signature": standard["Signature"]}
    created = created_ms / 1000
    assert verify(body, standard, secret, now=timestamp)["event"] == event
    assert verify(body, plain, secret, now=created)["event"] == event

    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    tampered = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]
    assert reason_of(tampered, standard, secret, now=timestamp) == "invalid-signature"
    assert reason_of(tampered, plain, secret, now=created) == "invalid-signature"


# --- packaging ----------------------------------------------------------------------------


def test_sdk_imports_no_server_packages() -> None:
    code = (
        "import relaybox.webhooks, sys; assert not any(m.split('.')[0] in "
        "{'sqlalchemy','starlette','uvicorn','pydantic','alembic'} for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- relaybox webhook listen --------------------------------------------------------------


@dataclass
class Listener:
    process: subprocess.Popen[str]
    url: str
    stdout: str = ""
    stderr: str = ""


def _wait_until_up(listener: Listener, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if listener.process.poll() is not None:
            raise AssertionError(f"listen exited early: {listener.process.communicate()}")
        try:
            httpx.get(listener.url, timeout=1.0)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def listening(*options: str) -> Iterator[Listener]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from relaybox.cli._listen import listen; listen()"]
        + ["--port", str(port), "--secret", SECRET, *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    listener = Listener(process, f"http://127.0.0.1:{port}")
    try:
        _wait_until_up(listener)
        yield listener
    finally:
        process.terminate()
        try:
            listener.stdout, listener.stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            listener.stdout, listener.stderr = process.communicate()


def test_listen_verifies_and_prints_events() -> None:
    now = time.time()
    first, second = envelope(now, "evt_first"), envelope(now, "evt_second")
    with listening() as listener:
        standard = sign(first, SECRET, event_id="evt_first")
        assert httpx.post(listener.url + "/hooks/relaybox?x=1", content=first, headers=standard).status_code == 204
        plain = sign(second, SECRET, event_id="evt_second", standard=False)
        assert httpx.post(listener.url, content=second, headers=plain).status_code == 204
        refused = httpx.post(listener.url + "/hooks", content=first + b" ", headers=standard)
        assert refused.status_code == 401 and refused.text.startswith("invalid-signature")
        assert httpx.post(listener.url, content=first).status_code == 401
        assert httpx.get(listener.url + "/hooks").status_code == 405
        assert httpx.put(listener.url, content=first, headers=standard).status_code == 405
    assert listener.process.returncode == 0  # SIGTERM is a clean stop
    assert f"listening on {listener.url}/ (Ctrl-C to stop)" in listener.stderr
    assert "refused: invalid-signature" in listener.stderr and "refused: missing-signature" in listener.stderr
    assert "Traceback" not in listener.stderr
    lines = listener.stdout.splitlines()
    assert "ping evt_first" in lines and "ping evt_second" in lines
    assert '  "event_id": "evt_first",' in lines  # the pretty JSON
    assert listener.stdout.count("evt_first") == 2  # nothing printed for the refused requests


def test_listen_status_option_rehearses_failures() -> None:
    body = envelope(time.time())
    with listening("--status", "500") as listener:
        assert httpx.post(listener.url, content=body, headers=sign(body, SECRET, event_id=EVENT_ID)).status_code == 500
        tampered = body.replace(b"ping", b"pong")
        assert httpx.post(
            listener.url, content=tampered, headers=sign(body, SECRET, event_id=EVENT_ID)
        ).status_code == (401)
    assert "ping " + EVENT_ID in listener.stdout


def test_listen_refuses_a_malformed_secret() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from relaybox.cli._listen import listen; listen()", "--port", "1", "--secret", "x"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "whsec_" in done.stderr


def test_listen_refuses_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "from relaybox.cli._listen import listen; listen()",
                "--port",
                port,
                "--secret",
                SECRET,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 1 and "cannot serve on 127.0.0.1" in done.stderr
    assert "listening on" not in done.stderr
