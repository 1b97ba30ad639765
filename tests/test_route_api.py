"""The route API through a live server: every method, every error code of route-api.md."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import time

import httpx
import pytest

from conftest import ServerProcess, Signer, error_code
from relaybox.wire.timestamps import format_timestamp

REQUEST_ID = re.compile(r"^\d{14}-[0-9a-f]{16}$")


@pytest.fixture
def pair(shared_server: ServerProcess) -> tuple[Signer, Signer]:
    a = Signer(*shared_server.new_route("a"))
    b = Signer(*shared_server.new_route("b"))
    return a, b


@pytest.fixture
def http(shared_server: ServerProcess) -> httpx.Client:
    with httpx.Client(base_url=shared_server.url, timeout=30) as c:
        yield c


def send(http: httpx.Client, frm: Signer, to: str, data: bytes, name: str = "file.bin", **kw: str) -> httpx.Response:
    return http.post("/1/send-message", headers=frm.send(to, data, **kw), files={"data": (name, data)})


def assert_error(r: httpx.Response, status: int, code: int) -> None:
    assert r.status_code == status, (r.status_code, r.headers.get("error"))
    assert error_code(r) == code, r.headers.get("error")
    assert r.content == b""
    assert REQUEST_ID.match(r.headers["request-id"])


# -- the happy path -----------------------------------------------------------------------
def test_send_list_get_next_round_trip(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    a, b = pair
    r = send(http, a, b.route, b"<invoice/>", name="your_file.xml", message_id="12345", pay_for_reply="1")
    assert r.status_code == 200, r.headers
    assert r.content == b""
    assert REQUEST_ID.match(r.headers["request-id"])
    link = r.headers["message-link"]
    assert re.fullmatch(r"[A-Za-z0-9._~-]{16,}", link)

    listing = http.get("/1/list-messages", headers=b.receive())
    assert listing.status_code == 200
    assert listing.headers["content-type"] == "application/json"
    [entry] = listing.json()
    assert entry["link"] == link
    assert entry["from"] == a.route and entry["message_id"] == "12345"
    assert entry["file_name"] == "your_file.xml" and entry["size"] == 10
    assert entry["md5"] == hashlib.md5(b"<invoice/>").hexdigest()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", entry["received_date"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", entry["expiration_date"])

    got = http.get(f"/1/get-message/{link}", headers=b.receive())
    assert got.status_code == 200
    assert got.content == b"<invoice/>"
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-length"] == "10"
    assert got.headers["content-disposition"] == "attachment; filename=your_file.xml"
    assert got.headers["message-link"] == link
    assert got.headers["message-file-name"] == "your_file.xml"
    assert got.headers["message-from"] == a.route
    assert got.headers["message-id"] == "12345"
    assert got.headers["message-md5"] == entry["md5"]
    assert got.headers["message-expires"] == entry["expiration_date"]
    assert got.headers["pay-for-reply"] == "1"
    assert got.headers["message-attachment-count"] == "1"

    # Reading never deletes; get-next from the start finds it, and nothing after it.
    first = http.get("/1/get-next-message/0", headers=b.receive())
    assert first.status_code == 200 and first.headers["message-link"] == link
    assert_error(http.get(f"/1/get-next-message/{link}", headers=b.receive()), 404, 303)
    assert len(http.get("/1/list-messages", headers=b.receive()).json()) == 1


def test_get_next_walks_in_arrival_order(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    a, b = pair
    links = [send(http, a, b.route, f"m{i}".encode()).headers["message-link"] for i in range(5)]
    cursor, seen = "0", []
    while True:
        r = http.get(f"/1/get-next-message/{cursor}", headers=b.receive())
        if r.status_code == 404:
            assert error_code(r) == 303
            break
        seen.append(r.content)
        cursor = r.headers["message-link"]
    assert seen == [f"m{i}".encode() for i in range(5)]
    assert [e["link"] for e in http.get("/1/list-messages", headers=b.receive()).json()] == links


def test_binary_round_trip(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    a, b = pair
    for data in (bytes(range(256)) * 4, os.urandom(3 * 1024 * 1024 + 17), b""):
        link = send(http, a, b.route, data).headers["message-link"]
        got = http.get(f"/1/get-message/{link}", headers=b.receive())
        assert got.status_code == 200
        assert got.content == data
        assert got.headers["message-md5"] == hashlib.md5(data).hexdigest()


def test_non_ascii_file_name_and_path_in_name(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    a, b = pair
    link = send(http, a, b.route, b"x", name="../../etc/Rechnung für März.xml").headers["message-link"]
    got = http.get(f"/1/get-message/{link}", headers=b.receive())
    assert got.headers["message-file-name"] == "Rechnung%20f%C3%BCr%20M%C3%A4rz.xml"
    assert "filename*=UTF-8''Rechnung%20f%C3%BCr%20M%C3%A4rz.xml" in got.headers["content-disposition"]


def test_wait_next_is_woken_by_a_send(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    import threading

    a, b = pair
    result: dict[str, httpx.Response] = {}

    def waiter() -> None:
        with httpx.Client(base_url=http.base_url, timeout=60) as c:
            result["r"] = c.get("/1/wait-next-message/0?timeout=30", headers=b.receive())

    t = threading.Thread(target=waiter)
    started = time.monotonic()
    t.start()
    time.sleep(0.5)
    link = send(http, a, b.route, b"wake up").headers["message-link"]
    t.join(40)
    elapsed = time.monotonic() - started
    assert result["r"].status_code == 200
    assert result["r"].content == b"wake up"
    assert result["r"].headers["message-link"] == link
    assert elapsed < 15  # woken by the send, not by the 30 s timeout


def test_wait_next_returns_backlog_at_once_and_204_on_timeout(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    a, b = pair
    link = send(http, a, b.route, b"ready").headers["message-link"]
    r = http.get("/1/wait-next-message/0", headers=b.receive())
    assert r.status_code == 200 and r.content == b"ready"
    r = http.get(f"/1/wait-next-message/{link}?timeout=1", headers=b.receive())
    assert r.status_code == 204
    assert r.content == b""
    assert REQUEST_ID.match(r.headers["request-id"])
    assert_error(http.get(f"/1/wait-next-message/{link}?timeout=soon", headers=b.receive()), 400, 100)


def test_ping(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    r = http.get("/1/ping")
    assert r.status_code == 200 and r.text == "ok"
    assert r.headers["content-type"].startswith("text/plain")
    assert http.get("/1/ping", headers=pair[0].receive()).status_code == 200
    bad = pair[0].receive()
    bad["request-key"] = "0" * 128
    assert_error(http.get("/1/ping", headers=bad), 401, 101)


def test_idempotent_resend(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    a, b = pair
    first = send(http, a, b.route, b"order 1", message_id="ord-1")
    again = send(http, a, b.route, b"order 1", message_id="ord-1")
    assert first.status_code == again.status_code == 200
    assert first.headers["message-link"] == again.headers["message-link"]
    assert len(http.get("/1/list-messages", headers=b.receive()).json()) == 1
    # 204: the same id for other content, or for another recipient
    assert_error(send(http, a, b.route, b"order 2", message_id="ord-1"), 409, 204)
    assert_error(send(http, a, a.route, b"order 1", message_id="ord-1"), 409, 204)
    assert len(http.get("/1/list-messages", headers=b.receive()).json()) == 1


def test_route_isolation(http: httpx.Client, shared_server: ServerProcess, pair: tuple[Signer, Signer]) -> None:
    a, b = pair
    c = Signer(*shared_server.new_route("c"))
    link = send(http, a, b.route, b"for b only").headers["message-link"]
    assert http.get("/1/list-messages", headers=c.receive()).json() == []
    assert_error(http.get(f"/1/get-message/{link}", headers=c.receive()), 404, 301)
    assert_error(http.get(f"/1/get-message/{link}", headers=a.receive()), 404, 301)  # the sender neither
    assert_error(http.get(f"/1/get-next-message/{link}", headers=c.receive()), 404, 301)
    assert_error(http.get(f"/1/wait-next-message/{link}?timeout=1", headers=c.receive()), 404, 301)
    assert_error(http.get("/1/get-next-message/0", headers=c.receive()), 404, 303)


# -- 100: headers -------------------------------------------------------------------------
@pytest.mark.parametrize("missing", ["request-timestamp", "request-from", "request-key"])
def test_missing_auth_header_is_100_naming_it(http: httpx.Client, pair: tuple[Signer, Signer], missing: str) -> None:
    headers = pair[1].receive()
    del headers[missing]
    r = http.get("/1/list-messages", headers=headers)
    assert_error(r, 400, 100)
    assert missing in r.headers["error"]


@pytest.mark.parametrize(
    "stamp", ["2024-10-24 22:51:00", "24-10-24T22:51:00", "2024-13-01T00:00:00", "2024-10-24T22:51:00+2", "now"]
)
def test_malformed_timestamp_is_100(http: httpx.Client, pair: tuple[Signer, Signer], stamp: str) -> None:
    r = http.get("/1/list-messages", headers=pair[1].receive(timestamp=stamp))
    assert_error(r, 400, 100)
    assert "request-timestamp" in r.headers["error"]


@pytest.mark.parametrize("missing", ["message-to", "message-id", "message-md5"])
def test_send_missing_message_header_is_100(http: httpx.Client, pair: tuple[Signer, Signer], missing: str) -> None:
    a, b = pair
    # The key is valid for the empty value, so the request passes auth and fails on the header.
    values = {"message-to": b.route, "message-id": "m1", "message-md5": hashlib.md5(b"x").hexdigest()}
    values[missing] = ""
    headers = a.send(values["message-to"], b"x", message_id=values["message-id"], md5=values["message-md5"] or None)
    if missing == "message-md5":
        headers = a.send(b.route, b"x", message_id="m1")
        from relaybox.auth.signing import send_key

        headers["request-key"] = send_key(headers["request-timestamp"], a.route, b.route, "m1", "", a.secret)
    del headers[missing]
    r = http.post("/1/send-message", headers=headers, files={"data": ("f", b"x")})
    assert_error(r, 400, 100)
    assert missing in r.headers["error"]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("message-id", "x" * 129),
        ("message-md5", "z" * 32),
        ("message-md5", "abc"),
        ("message-expires-after", "soon"),
        ("message-expires-after", "1.5"),
        ("pay-for-reply", "yes"),
        ("message-to", "not-a-route"),
        ("message-priority", "x" * 2000),
    ],
)
def test_send_malformed_header_is_100(http: httpx.Client, pair: tuple[Signer, Signer], header: str, value: str) -> None:
    a, b = pair
    if header in ("message-id", "message-md5", "message-to"):
        from relaybox.auth.signing import send_key

        fields = {"message-to": b.route, "message-id": "m2", "message-md5": hashlib.md5(b"x").hexdigest()}
        fields[header] = value
        headers = a.send(b.route, b"x")
        headers.update(fields)
        headers["request-key"] = send_key(
            headers["request-timestamp"],
            a.route,
            fields["message-to"],
            fields["message-id"],
            fields["message-md5"],
            a.secret,
        )
    else:
        headers = a.send(b.route, b"x", **{header: value})
    r = http.post("/1/send-message", headers=headers, files={"data": ("f", b"x")})
    assert_error(r, 400, 100)
    assert header in r.headers["error"]


def _raw_request(url: str, head: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


@pytest.mark.parametrize("bad", [b"\x01", b"\x7f", b"\x00"])
def test_control_characters_are_refused(shared_server: ServerProcess, pair: tuple[Signer, Signer], bad: bytes) -> None:
    a, b = pair
    headers = a.send(b.route, b"x", message_id="ctl")
    head = b"POST /1/send-message HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
    for k, v in headers.items():
        value = v.encode()
        if k == "message-id":
            value = b"ctl" + bad + b"x"
        head += k.encode() + b": " + value + b"\r\n"
    answer = _raw_request(shared_server.url, head + b"Connection: close\r\n\r\n")
    status = int(answer.split(b" ", 2)[1])
    # Either the HTTP parser refuses the header (400) or relaybox does (400 code 100 / 401).
    assert status in (400, 401), answer[:200]
    assert b" 500 " not in answer[:20]


def test_crlf_injection_cannot_add_headers(shared_server: ServerProcess, pair: tuple[Signer, Signer]) -> None:
    a, b = pair
    head = (
        b"GET /1/list-messages HTTP/1.1\r\nHost: x\r\nrequest-timestamp: 2024-10-24T22:51:00\r\n"
        b"request-from: " + b.route.encode() + b"\r\n injected: yes\r\nrequest-key: " + b"0" * 128 + b"\r\n"
        b"Connection: close\r\n\r\n"
    )
    answer = _raw_request(shared_server.url, head)
    assert int(answer.split(b" ", 2)[1]) in (400, 401)


# -- 101, 102, 103 ------------------------------------------------------------------------
def test_wrong_key_and_unknown_route_are_indistinguishable(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    a, _ = pair
    wrong = Signer(a.route, "not-the-secret")
    unknown = Signer("nobody@nowhere", "whatever")
    r1 = http.get("/1/list-messages", headers=wrong.receive())
    r2 = http.get("/1/list-messages", headers=unknown.receive())
    assert_error(r1, 401, 101)
    assert_error(r2, 401, 101)
    assert r1.headers["error"] == r2.headers["error"]
    for bad_key in ("abc", "g" * 128, "0" * 127):
        headers = a.receive()
        headers["request-key"] = bad_key
        assert_error(http.get("/1/list-messages", headers=headers), 401, 101)
    headers = a.receive()
    headers["request-from"] = "not a route"
    assert_error(http.get("/1/list-messages", headers=headers), 401, 101)


def test_upper_case_key_is_accepted_once(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    b = pair[1]
    headers = b.receive()
    upper = dict(headers, **{"request-key": headers["request-key"].upper()})
    assert http.get("/1/list-messages", headers=upper).status_code == 200
    assert_error(http.get("/1/list-messages", headers=headers), 401, 103)  # same key, other case


def test_timestamp_window_edges(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    b = pair[1]
    now = time.time()
    for offset in (-290, 290):
        assert http.get("/1/list-messages", headers=b.receive(format_timestamp(now + offset))).status_code == 200
    for offset in (-310, 310, -86400):
        assert_error(http.get("/1/list-messages", headers=b.receive(format_timestamp(now + offset))), 401, 102)


def test_timestamp_offsets_are_honoured(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    from datetime import datetime, timedelta, timezone

    b = pair[1]
    for hours in (2, -5):
        tz = timezone(timedelta(hours=hours))
        stamp = datetime.now(tz).replace(microsecond=0).isoformat()  # what `date -Iseconds` prints
        assert http.get("/1/list-messages", headers=b.receive(stamp)).status_code == 200
        time.sleep(0.001)
    # The same wall-clock digits with the wrong offset are hours off: refused.
    wrong = datetime.now(timezone(timedelta(hours=2))).replace(microsecond=0).isoformat()[:-6] + "-03:00"
    assert_error(http.get("/1/list-messages", headers=b.receive(wrong)), 401, 102)


def test_replay_is_refused_on_any_endpoint(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    a, b = pair
    link = send(http, a, b.route, b"once").headers["message-link"]
    headers = b.receive()
    assert http.get("/1/list-messages", headers=headers).status_code == 200
    assert_error(http.get("/1/list-messages", headers=headers), 401, 103)
    assert_error(http.get(f"/1/get-message/{link}", headers=headers), 401, 103)
    assert_error(http.get("/1/ping", headers=headers), 401, 103)
    sent = a.send(b.route, b"twice", message_id="replayed-send")
    assert http.post("/1/send-message", headers=sent, files={"data": ("f", b"twice")}).status_code == 200
    assert_error(http.post("/1/send-message", headers=sent, files={"data": ("f", b"twice")}), 401, 103)


def test_replay_cache_survives_a_restart(server: ServerProcess) -> None:
    b = Signer("b@replay", server.add_route("b@replay"))
    headers = b.receive()
    assert httpx.get(f"{server.url}/1/list-messages", headers=headers).status_code == 200
    server.restart()
    assert_error(httpx.get(f"{server.url}/1/list-messages", headers=headers), 401, 103)


def test_replay_cache_survives_sigkill(server: ServerProcess) -> None:
    # Request keys are committed without an fsync on SQLite: still durable against a crash of
    # the server process, which is what a SIGKILL right after the answer checks.
    b = Signer("b@replaykill", server.add_route("b@replaykill"))
    used = [b.receive() for _ in range(3)]
    for headers in used:
        assert httpx.get(f"{server.url}/1/list-messages", headers=headers).status_code == 200
    server.kill()
    server.start()
    for headers in used:
        assert_error(httpx.get(f"{server.url}/1/list-messages", headers=headers), 401, 103)


# -- 104 ----------------------------------------------------------------------------------
def test_rate_limit_is_429_with_retry_after(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory(RATE_LIMIT="0.5", RATE_BURST="3")
    b = Signer(*srv.new_route())
    other = Signer(*srv.new_route())
    answers = [httpx.get(f"{srv.url}/1/list-messages", headers=b.receive()) for _ in range(4)]
    assert [r.status_code for r in answers[:3]] == [200, 200, 200]
    assert_error(answers[3], 429, 104)
    assert int(answers[3].headers["retry-after"]) >= 1
    # Per route: another route is not affected.
    assert httpx.get(f"{srv.url}/1/list-messages", headers=other.receive()).status_code == 200


# -- 2xx codes of send-message ------------------------------------------------------------
def test_unknown_recipient_is_201(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    assert_error(send(http, pair[0], "ghost@nowhere", b"x"), 404, 201)


def test_md5_mismatch_is_202_and_nothing_is_stored(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    a, b = pair
    r = send(http, a, b.route, b"real data", md5=hashlib.md5(b"other data").hexdigest())
    assert_error(r, 400, 202)
    assert http.get("/1/list-messages", headers=b.receive()).json() == []


def test_too_large_is_413_and_nothing_is_stored(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory(MAX_MESSAGE_BYTES="100000")
    a, b = Signer(*srv.new_route()), Signer(*srv.new_route())
    with httpx.Client(base_url=srv.url, timeout=30) as http:
        assert send(http, a, b.route, b"x" * 100000).status_code == 200  # exactly the limit
        r = send(http, a, b.route, os.urandom(100001))
        assert_error(r, 413, 203)
        r = send(http, a, b.route, os.urandom(3_000_000))  # refused from Content-Length
        assert_error(r, 413, 203)
        assert len(http.get("/1/list-messages", headers=b.receive()).json()) == 1
    assert srv.leftovers() == 0  # no half-written upload left behind
    assert srv.payload_count() == 1


@pytest.mark.parametrize("seconds", ["0", "-5", "2592001"])
def test_expiry_out_of_range_is_205(http: httpx.Client, pair: tuple[Signer, Signer], seconds: str) -> None:
    a, b = pair
    assert_error(send(http, a, b.route, b"x", message_expires_after=seconds), 400, 205)


def test_expiry_bounds_are_accepted(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    a, b = pair
    for seconds in ("1", "2592000"):
        assert send(http, a, b.route, b"x", message_expires_after=seconds).status_code == 200


def test_unsupported_priority_is_206(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    a, b = pair
    assert_error(send(http, a, b.route, b"x", message_priority="urgent"), 400, 206)
    assert send(http, a, b.route, b"x", message_priority="normal").status_code == 200


def test_missing_data_part_is_207(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    a, b = pair
    r = http.post("/1/send-message", headers=a.send(b.route, b"x"), files={"other": ("f", b"x")})
    assert_error(r, 400, 207)
    r = http.post("/1/send-message", headers=a.send(b.route, b"x"), content=b"x")
    assert_error(r, 400, 207)
    headers = a.send(b.route, b"x")
    headers["content-type"] = "multipart/form-data; boundary=zzz"
    assert_error(http.post("/1/send-message", headers=headers, content=b"garbage without parts"), 400, 207)


def test_data_as_plain_form_field_is_accepted(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    a, b = pair  # curl -F "data=<file" sends a field without a filename
    r = http.post(
        "/1/send-message", headers=a.send(b.route, b"field data"), data={"data": "field data"}, files={"x": ("x", b"")}
    )
    assert r.status_code == 200, r.headers.get("error")
    got = http.get(f"/1/get-message/{r.headers['message-link']}", headers=b.receive())
    assert got.content == b"field data" and got.headers["message-file-name"] == "data"


# -- 3xx codes ----------------------------------------------------------------------------
@pytest.mark.parametrize("link", ["doesnotexist123", "a%2F..%2F..%2Fetc%2Fpasswd", "...", "x" * 200, "%00", "a b"])
def test_unknown_or_bad_link_is_301(http: httpx.Client, pair: tuple[Signer, Signer], link: str) -> None:
    b = pair[1]
    for method in ("get-message", "get-next-message", "wait-next-message"):
        assert_error(http.get(f"/1/{method}/{link}?timeout=0", headers=b.receive()), 404, 301)


def test_expired_message_is_410_and_purged(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory(SWEEP_INTERVAL="0.2")
    a, b = Signer(*srv.new_route()), Signer(*srv.new_route())
    with httpx.Client(base_url=srv.url, timeout=30) as http:
        link = send(http, a, b.route, b"short-lived", message_expires_after="1").headers["message-link"]
        keep = send(http, a, b.route, b"long-lived").headers["message-link"]
        time.sleep(1.6)
        assert_error(http.get(f"/1/get-message/{link}", headers=b.receive()), 410, 302)
        assert [e["link"] for e in http.get("/1/list-messages", headers=b.receive()).json()] == [keep]
        # The expired message still works as a cursor, and get-next skips it.
        nxt = http.get(f"/1/get-next-message/{link}", headers=b.receive())
        assert nxt.headers["message-link"] == keep
        assert http.get("/1/get-next-message/0", headers=b.receive()).headers["message-link"] == keep
        # The sweeper removed its payload.
        deadline = time.monotonic() + 10
        while srv.payload_count() != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert srv.payload_count() == 1


def test_no_newer_message_is_303(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    assert_error(http.get("/1/get-next-message/0", headers=pair[1].receive()), 404, 303)


def test_index_parameter(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    a, b = pair
    link = send(http, a, b.route, b"one").headers["message-link"]
    assert http.get(f"/1/get-message/{link}?index=0", headers=b.receive()).content == b"one"
    assert_error(http.get(f"/1/get-message/{link}?index=1", headers=b.receive()), 404, 301)
    assert_error(http.get(f"/1/get-message/{link}?index=x", headers=b.receive()), 400, 100)


# -- the edge -----------------------------------------------------------------------------
def test_unknown_paths_and_methods(http: httpx.Client) -> None:
    assert_error(http.get("/1/delete-message/x"), 404, 404)
    assert_error(http.get("/"), 404, 404)
    assert_error(http.get("/1/send-message"), 405, 405)
    assert_error(http.post("/1/list-messages"), 405, 405)


def test_storage_unavailable_is_503_and_recovers(server: ServerProcess) -> None:
    if server.backend != "sqlite":
        pytest.skip("a disk fault of the payload directory; PostgreSQL outages: tests/test_scale_out.py")
    a = Signer("a@disk", server.add_route("a@disk"))
    b = Signer("b@disk", server.add_route("b@disk"))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        kept = send(http, a, b.route, b"before").headers["message-link"]
        payloads = server.data_dir / "payloads"
        moved = server.data_dir / "payloads.away"
        payloads.rename(moved)
        payloads.write_text("not a directory")
        try:
            # A payload too large for the database needs the payload directory: refused.
            assert_error(send(http, a, b.route, os.urandom(400_000)), 503, 503)
            assert_error(http.get("/1/ping"), 503, 503)
            # Reads keep working, and small messages (kept in the database) still go through.
            assert [e["link"] for e in http.get("/1/list-messages", headers=b.receive()).json()] == [kept]
            assert send(http, a, b.route, b"small").status_code == 200
        finally:
            payloads.unlink()
            moved.rename(payloads)
        assert http.get("/1/ping").status_code == 200
        assert send(http, a, b.route, os.urandom(400_000)).status_code == 200
        assert len(http.get("/1/list-messages", headers=b.receive()).json()) == 3
    assert list((server.data_dir / "tmp").iterdir()) == []


def test_request_ids_are_unique(http: httpx.Client) -> None:
    ids = {http.get("/1/ping").headers["request-id"] for _ in range(20)}
    assert len(ids) == 20


def test_unknown_route_link_guessing_cost(http: httpx.Client, pair: tuple[Signer, Signer]) -> None:
    # Links carry >= 96 random bits: 200 links share no prefix structure an attacker could use.
    a, b = pair
    links = {send(http, a, b.route, secrets.token_bytes(8)).headers["message-link"] for _ in range(20)}
    assert len(links) == 20
    assert all(len(link) >= 16 for link in links)
