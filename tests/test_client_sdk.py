"""The SDK against a scripted transport: signing, headers, parsing, streaming, errors."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from relaybox.auth.signing import receive_key, send_key
from relaybox.client import (
    ApiError,
    AsyncClient,
    ChecksumMismatch,
    Client,
    MessageInfo,
    RouteAuth,
    decode_file_name,
    parse_message,
)
from relaybox.client._core import MAX_SERVER_WAIT, WAIT_MARGIN

ROUTE, SECRET, PEER = "abcd@abcdef01", "s3cret", "ef01@1234abcd"
URL = "http://relaybox.test"
RID = "20261125180000-0123456789abcdef"
# Made with: echo -n "$DATE$ROUTE$KEY_SECRET" | shasum -a 512 (and the send-message variant).
VECTOR_RECEIVE = (
    "c2b624f731124e448ef046bc38feda4502d2421fa988124448d166c5f84a3573"
    "0141c177d2d054ac639c114cb9f0b4a9891efc385b7ffbedab8768a498674800"
)
VECTOR_SEND = (
    "ded022f88d21f7df07d7a6363565b310e22ef1f2aaf57388decd07232f32a051"
    "eac284ea7eab74090fda548d1f3388b8d989a42e0edc1b055d1c06839d7d6bf7"
)
VECTOR_FRACTION = (
    "85ad785ae96c78c6fcd56a11ab87f3ab429ece4a6f32bd2a74f4655f6d21d204"
    "aebe642c0f62f7bc4d79601d84243ecdd25ae07b2118e6712153f2af8c5d6b1b"
)

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler) -> Client:
    return Client(URL, ROUTE, SECRET, transport=httpx.MockTransport(handler))


def message_response(body: bytes, link: str = "L1", **extra: str) -> httpx.Response:
    headers = {
        "request-id": RID,
        "Message-Link": link,
        "Message-File-Name": "a.txt",
        "Message-From": PEER,
        "Message-Id": "m1",
        "Message-MD5": hashlib.md5(body).hexdigest(),
        "Message-Expires": "2026-11-26 18:00:00",
        "Pay-For-Reply": "0",
        "Content-Disposition": "attachment; filename=a.txt",
    }
    headers.update(extra)
    return httpx.Response(200, headers=headers, content=body)


def failure(status: int, code: int, text: str, **extra: str) -> httpx.Response:
    return httpx.Response(status, headers={"request-id": RID, "error": f"code={code}; message={text}", **extra})


def fixed(stamp: str) -> RouteAuth:
    auth = RouteAuth(ROUTE, SECRET)
    auth.timestamp = lambda: stamp  # type: ignore[method-assign]
    return auth


def test_receive_key_matches_shasum_vector() -> None:
    request = httpx.Request("GET", f"{URL}/1/list-messages")
    fixed("2024-10-24T22:51:00").sign(request)
    assert request.headers["request-key"] == VECTOR_RECEIVE
    assert request.headers["request-from"] == ROUTE
    assert request.headers["request-timestamp"] == "2024-10-24T22:51:00"


def test_send_key_matches_shasum_vector() -> None:
    headers = {"message-to": PEER, "message-id": "12345", "message-md5": "d41d8cd98f00b204e9800998ecf8427e"}
    request = httpx.Request("POST", f"{URL}/1/send-message", headers=headers)
    fixed("2024-10-24T22:51:00").sign(request)
    assert request.headers["request-key"] == VECTOR_SEND


def test_fractional_timestamp_vector() -> None:
    assert receive_key("2026-11-25T18:00:00.123456Z", ROUTE, SECRET) == VECTOR_FRACTION


@pytest.mark.skipif(shutil.which("shasum") is None, reason="shasum not installed")
def test_keys_agree_with_shasum_for_odd_input() -> None:
    stamp, secret = "2026-11-25T18:00:00.000001+02:00", "sécret with spaces & $dollars"
    text = f"{stamp}{ROUTE}{PEER}id 1{'0' * 32}{secret}"
    out = subprocess.run(["shasum", "-a", "512"], input=text.encode(), capture_output=True, check=True)
    assert send_key(stamp, ROUTE, PEER, "id 1", "0" * 32, secret) == out.stdout.decode()[:128]


def test_timestamps_are_unique_and_microsecond_even_with_a_frozen_clock() -> None:
    auth = RouteAuth(ROUTE, SECRET, clock=lambda: 1_790_000_000.0)
    stamps = [auth.timestamp() for _ in range(50)]
    assert len(set(stamps)) == 50 and stamps == sorted(stamps)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", s) for s in stamps)


def test_a_clock_stepped_back_is_followed_not_spun_through() -> None:
    times = iter([1_790_000_500.0, 1_790_000_499.9999995, 1_790_000_400.0])
    auth = RouteAuth("step@back", "s", clock=lambda: next(times))
    first, second, third = auth.timestamp(), auth.timestamp(), auth.timestamp()
    assert first < second and second.endswith("40.000001Z")  # a sub-second step back: continue after
    assert third < first  # a long step back: follow the clock


def test_two_clients_of_one_route_never_share_a_timestamp() -> None:
    frozen = 1_790_000_100.0
    first, second = (
        RouteAuth("same@route", "s", clock=lambda: frozen),
        RouteAuth("same@route", "s", clock=lambda: frozen),
    )
    stamps = [auth.timestamp() for _ in range(20) for auth in (first, second)]
    assert len(set(stamps)) == 40


def test_every_call_gets_a_fresh_key_and_ping_is_unsigned() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/1/ping":
            return httpx.Response(200, text="ok")
        return httpx.Response(200, json=[])

    with client(handler) as rb:
        assert rb.ping() == "ok"
        assert rb.list() == [] and rb.list() == []
    assert "request-key" not in seen[0].headers
    keys = [r.headers["request-key"] for r in seen[1:]]
    assert len(set(keys)) == 2
    for r in seen[1:]:
        assert r.headers["request-key"] == receive_key(r.headers["request-timestamp"], ROUTE, SECRET)


def test_send_streams_a_file_and_signs_its_md5(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 1000
    path = tmp_path / "report.bin"
    path.write_bytes(payload)
    captured: dict[str, object] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        body = request.read()
        captured.update(headers=request.headers, body=body)
        return httpx.Response(200, headers={"message-link": "NEWLINK", "request-id": RID})

    with client(handler) as rb:
        assert rb.send(path, to=PEER, expires_after=120, pay_for_reply=True) == "NEWLINK"
    headers = captured["headers"]
    assert isinstance(headers, httpx.Headers)
    md5 = hashlib.md5(payload).hexdigest()
    assert headers["message-md5"] == md5 and headers["message-to"] == PEER
    assert re.fullmatch(r"[0-9a-f]{32}", headers["message-id"])
    assert headers["message-expires-after"] == "120" and headers["pay-for-reply"] == "1"
    assert headers["message-priority"] == "normal"
    assert headers["content-length"].isdigit()  # streamed, but with a known length
    stamp = headers["request-timestamp"]
    assert headers["request-key"] == send_key(stamp, ROUTE, PEER, headers["message-id"], md5, SECRET)
    body = captured["body"]
    assert isinstance(body, bytes) and payload in body
    assert b'name="data"; filename="report.bin"' in body


class ChunkOnlyReader(io.BufferedReader):
    """Fails the test if anyone reads the whole file at once."""

    def read(self, size: int | None = -1) -> bytes:
        assert size is not None and 0 < size <= 1024 * 1024, f"read({size}) would load the whole file"
        return super().read(size)


def test_send_never_reads_a_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * (3 * 1024 * 1024))

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        return httpx.Response(200, headers={"message-link": "L"})

    with client(handler) as rb, ChunkOnlyReader(io.FileIO(path, "rb")) as fileobj:
        assert rb.send(fileobj, to=PEER, message_id="big") == "L"


def test_send_accepts_a_non_seekable_stream_and_reports_progress() -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            chunk = self._data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    data = b"0123456789" * 500_000
    got: dict[str, str] = {}
    progress: list[tuple[int, int | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = request.read()
        got["md5"] = request.headers["message-md5"]
        assert data in body
        return httpx.Response(200, headers={"message-link": "L"})

    with client(handler) as rb:
        rb.send(Pipe(data), to=PEER, file_name="stream.bin", progress=lambda d, t: progress.append((d, t)))  # type: ignore[arg-type]
    assert got["md5"] == hashlib.md5(data).hexdigest()
    assert progress[-1] == (len(data), len(data))


def test_send_refuses_bad_arguments_before_any_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    with client(handler) as rb:
        with pytest.raises(ValueError):
            rb.send(b"x", to="not-a-route")
        with pytest.raises(ValueError):
            rb.send(b"x", to=PEER, message_id="x" * 129)
        with pytest.raises(ValueError):
            rb.send(b"x", to=PEER + "\n")
        with pytest.raises(ValueError):
            rb.get("../etc/passwd")


def test_failure_headers_become_api_error() -> None:
    with client(lambda r: failure(401, 101, "Request key is invalid")) as rb, pytest.raises(ApiError) as info:
        rb.list()
    assert (info.value.code, info.value.http_status, info.value.request_id) == (101, 401, RID)
    assert info.value.message == "Request key is invalid"


def test_rate_limit_and_non_relaybox_failures() -> None:
    with client(lambda r: failure(429, 104, "slow down", **{"Retry-After": "7"})) as rb, pytest.raises(ApiError) as e1:
        rb.get("L1")
    assert e1.value.code == 104 and e1.value.retry_after == 7
    with client(lambda r: httpx.Response(502)) as rb, pytest.raises(ApiError) as e2:
        rb.list()
    assert e2.value.code == 502 and e2.value.request_id is None


def test_get_next_returns_none_only_for_code_303() -> None:
    with client(lambda r: failure(404, 303, "No newer message")) as rb:
        assert rb.get_next("L1") is None
    with client(lambda r: failure(404, 301, "Message not found")) as rb, pytest.raises(ApiError):
        rb.get_next("gone")


def test_wait_returns_none_on_204_and_outlasts_the_server_hold() -> None:
    timeouts: list[dict[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"])
        return httpx.Response(204, headers={"request-id": RID})

    with client(handler) as rb:
        assert rb.wait("L1", timeout=5) is None
        assert rb.wait() is None
    assert timeouts[0]["read"] >= 5 + WAIT_MARGIN
    assert timeouts[1]["read"] >= MAX_SERVER_WAIT + WAIT_MARGIN


def test_get_parses_every_message_header() -> None:
    body = bytes(range(256))
    response = message_response(body, **{"Pay-For-Reply": "1", "Message-Attachment-Count": "3"})
    with client(lambda r: response) as rb:
        msg = rb.get("L1")
    assert msg.data == body and msg.size == 256
    assert (msg.link, msg.from_route, msg.message_id, msg.file_name) == ("L1", PEER, "m1", "a.txt")
    assert msg.md5 == hashlib.md5(body).hexdigest() and msg.pay_for_reply and msg.attachment_count == 3
    assert msg.expires == 1795716000.0 and msg.request_id == RID


def test_vendor_headers_only() -> None:
    headers = httpx.Headers({"Message-Link": "1f393c2d-23e3-7T7GjLMBbU", "Message-File-Name": "your_file.xml"})
    msg = parse_message(headers, size=3)
    assert msg.link == "1f393c2d-23e3-7T7GjLMBbU" and msg.file_name == "your_file.xml"
    assert (msg.from_route, msg.md5, msg.expires, msg.message_id) == (None, None, None, None)
    assert msg.attachment_count == 1 and not msg.pay_for_reply


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Message-File-Name": "plain.txt"}, "plain.txt"),
        ({"Message-File-Name": "%C3%A9t%C3%A9.txt"}, "été.txt"),  # vendor-style, no disposition
        ({"Message-File-Name": "a%20b.txt"}, "a%20b.txt"),  # decodes to ASCII: so it was literal
        (
            {"Message-File-Name": "%C3%A9.txt", "Content-Disposition": "attachment; filename=%C3%A9.txt"},
            "%C3%A9.txt",  # a plain filename= says the name is ASCII as it stands
        ),
        (
            {
                "Message-File-Name": "%E2%82%AC%20rates.txt",
                "Content-Disposition": "attachment; filename=\"_ rates.txt\"; filename*=UTF-8''%E2%82%AC%20rates.txt",
            },
            "€ rates.txt",
        ),
        ({"Message-File-Name": "%FF%FE.bin"}, "%FF%FE.bin"),  # not UTF-8: keep the raw text
        ({"Content-Disposition": 'attachment; filename="q\\"uote.txt"'}, 'q"uote.txt'),
        ({}, None),
    ],
)
def test_decode_file_name(headers: dict[str, str], expected: str | None) -> None:
    assert decode_file_name(httpx.Headers(headers)) == expected


def test_list_tolerates_vendor_entries() -> None:
    vendor = {
        "link": "1f393c2d-23e3-JZ0TstJk39",
        "received_date": "2024-10-28 20:11:57",
        "expiration_date": "2024-10-28 20:13:57",
    }
    full = {**vendor, "link": "X", "from": PEER, "message_id": "m", "file_name": "f", "size": 3, "md5": "0" * 32}
    with client(lambda r: httpx.Response(200, json=[vendor, full])) as rb:
        a, b = rb.list()
    assert a == MessageInfo("1f393c2d-23e3-JZ0TstJk39", 1730146317.0, 1730146437.0)
    assert (b.from_route, b.message_id, b.file_name, b.size, b.md5) == (PEER, "m", "f", 3, "0" * 32)
    assert b.raw["from"] == PEER


def test_get_to_file_streams_to_disk(tmp_path: Path) -> None:
    body = bytes(range(256)) * 20_000
    progress: list[int] = []
    with client(lambda r: message_response(body)) as rb:
        msg = rb.get_to_file("L1", tmp_path / "out.bin", progress=lambda d, t: progress.append(d))
    assert (tmp_path / "out.bin").read_bytes() == body
    assert msg.path == tmp_path / "out.bin" and msg.data == b"" and msg.size == len(body)
    assert progress[0] == 0 and progress[-1] == len(body)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_md5_mismatch_raises_and_keeps_nothing(tmp_path: Path) -> None:
    bad = message_response(b"tampered", **{"Message-MD5": "0" * 32})
    (tmp_path / "out.bin").write_bytes(b"previous")
    with client(lambda r: bad) as rb:
        with pytest.raises(ChecksumMismatch) as info:
            rb.download("L1", tmp_path / "out.bin")
        with pytest.raises(ChecksumMismatch):
            rb.get("L1")
    assert info.value.link == "L1" and info.value.expected == "0" * 32
    assert info.value.actual == hashlib.md5(b"tampered").hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    assert (tmp_path / "out.bin").read_bytes() == b"previous"


def test_messages_iterator_loops_on_204_and_advances_the_cursor() -> None:
    script = [httpx.Response(204), message_response(b"a", "A"), httpx.Response(204), message_response(b"b", "B")]
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return script.pop(0)

    with client(handler) as rb:
        it = rb.messages(timeout=1)
        assert [next(it).data, next(it).data] == [b"a", b"b"]
    assert paths == [
        "/1/wait-next-message/0",
        "/1/wait-next-message/0",
        "/1/wait-next-message/A",
        "/1/wait-next-message/A",
    ]


async def test_async_client_has_the_same_surface(tmp_path: Path) -> None:
    script = [
        httpx.Response(200, headers={"message-link": "S1"}),
        message_response(b"hello", "A"),
        failure(404, 303, "No newer message"),
        httpx.Response(204),
        message_response(b"b", "B"),
        failure(403, 999, "odd"),
    ]

    async def handler(request: httpx.Request) -> httpx.Response:
        await request.aread()
        assert request.url.path == "/1/ping" or "request-key" in request.headers
        return script.pop(0)

    async with AsyncClient(URL, ROUTE, SECRET, transport=httpx.MockTransport(handler)) as rb:
        assert await rb.send(b"hello", to=PEER) == "S1"
        msg = await rb.get_to_file("A", tmp_path / "a.txt")
        assert msg.path is not None and msg.path.read_bytes() == b"hello"
        assert await rb.get_next("A") is None
        async for m in rb.messages("A"):
            assert m.data == b"b"
            break
        with pytest.raises(ApiError) as info:
            await rb.list()
    assert info.value.code == 999
