"""Unit tests of the management SDK (``/v1``): request shapes and answer parsing, through
``httpx.MockTransport`` (the server's behaviour is tested live in ``test_management_sdk_live.py``)."""

from __future__ import annotations

import base64
import hashlib
import inspect
import io
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from relaybox.cli.main import cli
from relaybox.client import (
    ApiError,
    AsyncManagementClient,
    InvalidReceipt,
    ManagementClient,
    ManagementError,
    verify_receipt,
)
from relaybox.client._management_models import parse_link, parse_truncation_index

BASE = "http://relay.test"
STATION, PARTNER = "alpha@bars01", "bravo@bars02"
RID = "20261125160000-0123456789abcdef"

Handler = Callable[[httpx.Request], httpx.Response]


def generic(message: str, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"message": message}, headers={"request-id": RID, **headers})


def message_doc(as2_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "as2MessageId": as2_id,
        "messageId": as2_id,
        "persistedTimestamp": 1764086400123,
        "expiryTimestamp": 1764172800123,
        "compressed": False,
        "encrypted": False,
        "signed": False,
        "senderId": STATION,
        "receiverId": PARTNER,
        "mdnStatus": "Pending",
        "partnerType": "Production",
        "attachments": [{"name": "a.txt", "size": 3}, {"name": "b.txt", "size": 4}],
        **extra,
    }


class Fake:
    """A scripted /v1 server: ``on(method, path, handler)``; records every request (body read)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []
        self.routes: dict[tuple[str, str], Handler] = {}
        self.tokens = iter(f"tok{n}" for n in range(1, 100))
        self.on("POST", "/v1/authorize", self.authorize)

    def on(self, method: str, path: str, handler: Handler | httpx.Response) -> None:
        self.routes[(method, path)] = handler if callable(handler) else (lambda request: handler)

    def authorize(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body != {"username": "me@example.com", "password": "pw-123456"}:
            return generic("Invalid username or password", 401)
        return httpx.Response(200, json={"token": next(self.tokens), "expiry": int(time.time() * 1000) + 86_400_000})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(request.read())
        self.requests.append(request)
        handler = self.routes.get((request.method, request.url.path))
        if handler is None:
            return generic("Not found", 404)
        return handler(request)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]

    def last(self) -> httpx.Request:
        return self.requests[-1]

    def client(self, **kwargs: Any) -> ManagementClient:
        kwargs.setdefault("token", "T0")
        return ManagementClient(BASE, transport=httpx.MockTransport(self), **kwargs)

    def aclient(self, **kwargs: Any) -> AsyncManagementClient:
        kwargs.setdefault("token", "T0")
        return AsyncManagementClient(BASE, transport=httpx.MockTransport(self), **kwargs)


@pytest.fixture
def fake() -> Fake:
    return Fake()


CREDS = {"token": None, "username": "me@example.com", "password": "pw-123456"}


# -- authentication --------------------------------------------------------------------------


def test_authorize_posts_credentials_and_token_goes_without_scheme(fake: Fake) -> None:
    fake.on("GET", "/v1/station", httpx.Response(200, json=[]))
    with fake.client(token=None) as mc:
        token = mc.authorize("me@example.com", "pw-123456")
        assert token.token == "tok1" and token.expiry_ms > time.time() * 1000
        assert "tok1" not in repr(token)
        mc.stations()
    auth, stations = fake.requests
    assert auth.method == "POST" and "authorization" not in auth.headers
    assert json.loads(auth.content) == {"username": "me@example.com", "password": "pw-123456"}
    assert auth.headers["content-type"] == "application/json"
    assert stations.headers["authorization"] == "tok1"


def test_lazy_authorize_happens_once_on_first_use(fake: Fake) -> None:
    fake.on("GET", "/v1/station", httpx.Response(200, json=[]))
    with fake.client(**CREDS) as mc:
        assert mc.token is None
        mc.stations()
        mc.stations()
    assert fake.paths() == ["POST /v1/authorize", "GET /v1/station", "GET /v1/station"]
    assert [r.headers["authorization"] for r in fake.requests[1:]] == ["tok1", "tok1"]


def test_expired_token_is_renewed_once_after_a_401_and_the_call_repeated(fake: Fake) -> None:
    def stations(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "stale":
            return generic("Token expired", 401)
        return httpx.Response(200, json=[])

    fake.on("GET", "/v1/station", stations)
    with fake.client(token="stale", username="me@example.com", password="pw-123456") as mc:
        assert mc.stations() == []
        assert mc.token == "tok1"
    assert fake.paths() == ["GET /v1/station", "POST /v1/authorize", "GET /v1/station"]


def test_a_second_401_is_raised_not_retried_forever(fake: Fake) -> None:
    fake.on("GET", "/v1/station", generic("Missing or invalid token", 401))
    with fake.client(token="stale", username="me@example.com", password="pw-123456") as mc:
        with pytest.raises(ManagementError) as info:
            mc.stations()
    assert info.value.status == 401
    assert fake.paths() == ["GET /v1/station", "POST /v1/authorize", "GET /v1/station"]


def test_a_401_for_a_token_just_obtained_is_not_retried(fake: Fake) -> None:
    fake.on("GET", "/v1/station", generic("Missing or invalid token", 401))
    with fake.client(**CREDS) as mc, pytest.raises(ManagementError):
        mc.stations()
    assert fake.paths() == ["POST /v1/authorize", "GET /v1/station"]


def test_without_credentials_a_401_is_raised(fake: Fake) -> None:
    fake.on("GET", "/v1/station", generic("Missing or invalid token", 401, **{"request-id": "rid-1"}))
    with fake.client(token="T0") as mc, pytest.raises(ManagementError) as info:
        mc.stations()
    assert (info.value.status, info.value.message, info.value.request_id) == (401, "Missing or invalid token", "rid-1")
    assert fake.paths() == ["GET /v1/station"]


def test_bad_credentials_raise_401(fake: Fake) -> None:
    with fake.client(token=None) as mc, pytest.raises(ManagementError) as info:
        mc.authorize("me@example.com", "wrong")
    assert info.value.status == 401 and info.value.message == "Invalid username or password"


def test_a_token_about_to_expire_is_renewed_before_use(fake: Fake) -> None:
    fake.on("POST", "/v1/authorize", httpx.Response(200, json={"token": "short", "expiry": 1}))
    fake.on("GET", "/v1/station", httpx.Response(200, json=[]))
    with fake.client(**CREDS) as mc:
        mc.stations()
        mc.stations()
    assert fake.paths() == ["POST /v1/authorize", "GET /v1/station", "POST /v1/authorize", "GET /v1/station"]


def test_username_without_password_is_refused() -> None:
    with pytest.raises(ValueError, match="together"):
        ManagementClient(BASE, username="me@example.com")


def test_receipt_key_needs_no_token(fake: Fake) -> None:
    fake.on("GET", "/v1/receipt-key", httpx.Response(200, json={"algorithm": "Ed25519", "keyId": "k"}))
    with fake.client(**CREDS) as mc:
        assert mc.receipt_key()["algorithm"] == "Ed25519"
    assert fake.paths() == ["GET /v1/receipt-key"]
    assert "authorization" not in fake.last().headers


# -- errors ----------------------------------------------------------------------------------


def test_errors_carry_status_message_request_id_and_retry_after(fake: Fake) -> None:
    fake.on("GET", "/v1/partner", generic("Rate limit exceeded", 429, **{"Retry-After": "7"}))
    with fake.client() as mc, pytest.raises(ManagementError) as info:
        mc.partners()
    exc = info.value
    assert (exc.status, exc.message, exc.request_id, exc.retry_after) == (429, "Rate limit exceeded", RID, 7)
    assert isinstance(exc, ApiError) and exc.http_status == 429 and exc.code == 429
    assert str(exc) == f"HTTP 429: Rate limit exceeded [request-id {RID}]"


def test_error_without_json_body_uses_text_or_reason(fake: Fake) -> None:
    fake.on("GET", "/v1/partner", httpx.Response(502, text="<html>bad gateway</html>"))
    fake.on("GET", "/v1/station", httpx.Response(503, text="store down"))
    with fake.client() as mc:
        with pytest.raises(ManagementError) as info:
            mc.partners()
        assert info.value.status == 502 and info.value.message == "Bad Gateway" and info.value.retry_after is None
        with pytest.raises(ManagementError) as info:
            mc.stations()
        assert info.value.message == "store down"


def test_unreadable_2xx_body_raises_management_error(fake: Fake) -> None:
    fake.on("GET", "/v1/message/received", httpx.Response(200, text="<html>proxy login</html>"))
    with fake.client() as mc, pytest.raises(ManagementError, match="Unexpected response"):
        mc.received()


# -- send ------------------------------------------------------------------------------------


def sent_ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        202,
        json={"message": "Successfully added a new outbound entry"},
        headers={"Link": f"{BASE}/v1/message/sent/Ab-c_1.2~x", "request-id": RID},
    )


def test_send_one_file_goes_raw_with_a_utf8_name_header(fake: Fake) -> None:
    fake.on("POST", f"/v1/message/{STATION}/{PARTNER}", sent_ok)
    with fake.client() as mc:
        result = mc.send(STATION, PARTNER, ("résumé.bin", b"\x00\x01data"), subject="Invoices")
    assert (result.message_id, result.link) == ("Ab-c_1.2~x", f"{BASE}/v1/message/sent/Ab-c_1.2~x")
    assert result.message == "Successfully added a new outbound entry" and result.request_id == RID
    request = fake.last()
    assert request.url.raw_path.startswith(b"/v1/message/alpha@bars01/bravo@bars02?")
    assert dict(request.url.params) == {"partnerType": "production", "subject": "Invoices"}
    assert request.headers.raw[[k.lower() for k, _ in request.headers.raw].index(b"name")][1] == "résumé.bin".encode()
    assert request.headers["content-type"] == "application/octet-stream"
    assert request.headers["content-length"] == "6" and "transfer-encoding" not in request.headers
    assert fake.bodies[-1] == b"\x00\x01data"
    assert request.headers["authorization"] == "T0"


def test_send_a_path_uses_its_base_name(fake: Fake, tmp_path: Path) -> None:
    fake.on("POST", f"/v1/message/{STATION}/{PARTNER}", sent_ok)
    src = tmp_path / "order.txt"
    src.write_bytes(b"x" * 100_000)
    with fake.client() as mc:
        mc.send(STATION, PARTNER, src, partner_type="test")
        mc.send(STATION, PARTNER, str(src))
        with open(src, "rb") as handle:
            mc.send(STATION, PARTNER, handle)
    for request, body in zip(fake.requests, fake.bodies, strict=True):
        assert request.headers["name"] == "order.txt" and body == src.read_bytes()
        assert request.headers["content-length"] == "100000"
    assert fake.requests[0].url.params["partnerType"] == "test"
    assert "subject" not in fake.requests[1].url.params


def test_send_several_files_as_multipart_parts_named_file(fake: Fake, tmp_path: Path) -> None:
    fake.on("POST", f"/v1/message/{STATION}/{PARTNER}", sent_ok)
    (tmp_path / "c.csv").write_bytes(b"c,s,v")
    with fake.client() as mc:
        mc.send(STATION, PARTNER, [("a.txt", b"one"), ("b.bin", io.BytesIO(b"two"), "text/plain"), tmp_path / "c.csv"])
    request, body = fake.last(), fake.bodies[-1]
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert "name" not in request.headers
    assert body.count(b'Content-Disposition: form-data; name="file"; filename=') == 3
    for name, data in ((b"a.txt", b"one"), (b"b.bin", b"two"), (b"c.csv", b"c,s,v")):
        assert b'filename="' + name + b'"' in body and data in body
    assert b"Content-Type: text/plain\r\n\r\ntwo" in body


def test_send_non_seekable_stream_can_be_resent_after_a_401(fake: Fake) -> None:
    def send(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "stale":
            return generic("Token expired", 401)
        return sent_ok(request)

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.chunks = [b"abc", b"def"]

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            return self.chunks.pop(0) if self.chunks else b""

    fake.on("POST", f"/v1/message/{STATION}/{PARTNER}", send)
    with fake.client(token="stale", username="me@example.com", password="pw-123456") as mc:
        mc.send(STATION, PARTNER, ("p.bin", Pipe()))  # type: ignore[arg-type]
    assert fake.bodies[0] == fake.bodies[2] == b"abcdef"
    assert fake.paths()[1] == "POST /v1/authorize"


@pytest.mark.parametrize(
    ("files", "error"),
    [([], ValueError), (b"bare bytes", TypeError), ([("a", b"x"), 5], TypeError), (io.BytesIO(b"no name"), ValueError)],
)
def test_send_refuses_bad_files_before_any_request(fake: Fake, files: Any, error: type[Exception]) -> None:
    with fake.client() as mc, pytest.raises(error):
        mc.send(STATION, PARTNER, files)
    assert fake.requests == []


def test_link_header_forms() -> None:
    assert parse_link("https://h.example/v1/message/sent/abc") == ("abc", "https://h.example/v1/message/sent/abc")
    assert parse_link(' <https://h.example/base/v1/message/sent/a%40b>; rel="self"')[0] == "a@b"
    with pytest.raises(ValueError):
        parse_link("<https://h.example/v1/message/sent/x")


def test_send_without_link_header_is_unexpected(fake: Fake) -> None:
    fake.on("POST", f"/v1/message/{STATION}/{PARTNER}", generic("Successfully added a new outbound entry", 202))
    with fake.client() as mc, pytest.raises(ManagementError, match="no Link header"):
        mc.send(STATION, PARTNER, ("a", b"x"))


# -- lists and single messages ----------------------------------------------------------------


def page_doc(records: list[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
    return {"totalRecords": len(records) if total is None else total, "records": records, "extra": 1}


def test_list_query_parameters_are_named_as_the_spec(fake: Fake) -> None:
    fake.on("GET", "/v1/message/received", httpx.Response(200, json=page_doc([])))
    with fake.client() as mc:
        mc.received()
        mc.received(
            sort_col="subject",
            sort_dir="asc",
            partner_type="test",
            page_offset=2,
            page_length=25,
            partner=PARTNER,
            station=STATION,
            message_id="m-1",
            subject="inv",
            unread_only=True,
        )
    assert dict(fake.requests[0].url.params) == {}
    assert dict(fake.requests[1].url.params) == {
        "sortCol": "subject",
        "sortDir": "asc",
        "partnerType": "test",
        "pageOffset": "2",
        "pageLength": "25",
        "partnerAS2Id": PARTNER,
        "stationAS2Id": STATION,
        "as2MessageId": "m-1",
        "subject": "inv",
        "unreadOnly": "true",
    }
    assert b"%40" in fake.requests[1].url.raw_path or b"@" in fake.requests[1].url.raw_path


def test_each_list_hits_its_path(fake: Fake) -> None:
    for view in ("received", "sent", "failed", "queued"):
        fake.on("GET", f"/v1/message/{view}", httpx.Response(200, json=page_doc([])))
    with fake.client() as mc:
        mc.sent(partner=PARTNER, page_length=5)
        mc.failed(message_id="x")
        mc.queued(query="bravo", sort_dir="desc")
        mc.received(unread_only=False)
    assert fake.paths() == [f"GET /v1/message/{v}" for v in ("sent", "failed", "queued", "received")]
    assert dict(fake.requests[0].url.params) == {"partnerAS2Id": PARTNER, "pageLength": "5"}
    assert dict(fake.requests[1].url.params) == {"as2MessageId": "x"}
    assert dict(fake.requests[2].url.params) == {"query": "bravo", "sortDir": "desc"}
    assert dict(fake.requests[3].url.params) == {"unreadOnly": "false"}


def test_page_and_message_parsing_keeps_raw_and_ignores_unknown_fields(fake: Fake) -> None:
    received = message_doc("m1", read=True, subject="Hi", futureField={"x": 1})
    sent = message_doc(
        "m2",
        transportStatusReceived=200,
        deliveryStatus="Delivered",
        state="sent",
        mdnStatus="Received",
        mdnMessage={"persistedTimestamp": 1764086500000, "mdnError": False, "content": "Message m2 ...", "new": 2},
    )
    fake.on("GET", "/v1/message/received", httpx.Response(200, json=page_doc([received, sent], total=12)))
    with fake.client() as mc:
        page = mc.received()
    assert page.total_records == 12 and page.raw["extra"] == 1
    first, second = page.records
    assert (first.as2_message_id, first.id, first.message_id, first.subject, first.read) == (
        "m1",
        "m1",
        "m1",
        "Hi",
        True,
    )
    assert [(a.index, a.name, a.size) for a in first.attachments] == [(0, "a.txt", 3), (1, "b.txt", 4)]
    assert first.size == 7 and first.raw["futureField"] == {"x": 1}
    assert first.sender_id == STATION and first.receiver_id == PARTNER and first.partner_type == "Production"
    assert first.persisted_at is not None and first.persisted_at.year == 2025
    assert first.state is None and first.transport_status_received is None and first.mdn_message is None
    assert (second.state, second.delivery_status, second.transport_status_received) == ("sent", "Delivered", 200)
    assert second.read is None and second.subject is None
    assert second.mdn_message is not None and second.mdn_message.content == "Message m2 ..."
    assert second.mdn_message.mdn_error is False and second.mdn_message.raw["new"] == 2


def test_iter_messages_walks_every_page(fake: Fake) -> None:
    docs = [message_doc(f"m{i}") for i in range(5)]

    def listing(request: httpx.Request) -> httpx.Response:
        offset, length = int(request.url.params["pageOffset"]), int(request.url.params["pageLength"])
        return httpx.Response(200, json=page_doc(docs[offset * length : (offset + 1) * length], total=5))

    fake.on("GET", "/v1/message/received", listing)
    with fake.client() as mc:
        ids = [m.as2_message_id for m in mc.iter_messages("received", page_length=2, unread_only=True)]
    assert ids == [f"m{i}" for i in range(5)]
    assert [r.url.params["pageOffset"] for r in fake.requests] == ["0", "1", "2"]
    assert all(r.url.params["unreadOnly"] == "true" for r in fake.requests)


def test_iter_messages_stops_on_an_empty_page(fake: Fake) -> None:
    fake.on("GET", "/v1/message/sent", httpx.Response(200, json=page_doc([], total=50)))
    with fake.client() as mc:
        assert list(mc.iter_messages("sent")) == []
    assert len(fake.requests) == 1 and fake.last().url.params["pageLength"] == "100"


def test_get_one_and_mark_as_read(fake: Fake) -> None:
    for view in ("received", "sent", "failed", "queued"):
        fake.on("GET", f"/v1/message/{view}/m~1", httpx.Response(200, json=message_doc("m~1")))
    with fake.client() as mc:
        assert mc.get_received("m~1", mark_as_read=True).as2_message_id == "m~1"
        mc.get_received("m~1")
        mc.get_sent("m~1")
        mc.get_failed("m~1")
        mc.get_queued("m~1")
    assert fake.requests[0].url.params["markAsRead"] == "true"
    assert "markAsRead" not in fake.requests[1].url.params
    assert fake.paths()[2:] == ["GET /v1/message/sent/m~1", "GET /v1/message/failed/m~1", "GET /v1/message/queued/m~1"]


def test_not_found_is_a_management_error(fake: Fake) -> None:
    fake.on("GET", "/v1/message/sent/zz", generic("Message zz not found", 404))
    with fake.client() as mc, pytest.raises(ManagementError) as info:
        mc.get_sent("zz")
    assert info.value.status == 404 and info.value.message == "Message zz not found"


@pytest.mark.parametrize("bad", ["", ".", ".."])
def test_ids_that_would_change_the_path_are_refused(fake: Fake, bad: str) -> None:
    with fake.client() as mc, pytest.raises(ValueError):
        mc.get_sent(bad)
    assert fake.requests == []


def test_ids_are_percent_encoded_as_one_segment(fake: Fake) -> None:
    with fake.client() as mc, pytest.raises(ManagementError):
        mc.get_sent("a/b c")
    assert fake.last().url.raw_path == b"/v1/message/sent/a%2Fb%20c"


def test_bad_views_and_flags_are_refused_before_any_request(fake: Fake) -> None:
    with fake.client() as mc:
        with pytest.raises(ValueError):
            mc.iter_messages("inbox").__next__()  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            mc.attachment("queued", "m1")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="received"):
            mc.attachment("sent", "m1", mark_as_read=True)
        with pytest.raises(ValueError):
            mc.attachment("sent", "m1", index=-1)
        with pytest.raises(ValueError):
            mc.delete("inbox", "m1")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            mc.update_partner(3, partner_type="staging")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            mc.batch_download("m1")
    assert fake.requests == []


def test_mark_unread_stop_retry_and_delete(fake: Fake) -> None:
    fake.on("POST", "/v1/message/received/m1/markUnread", generic("Successfully marked message m1 as unread"))
    fake.on("POST", "/v1/message/queued/m1/stop", generic("Successfully stopped retrying AS2 message with ID m1"))
    fake.on("POST", "/v1/message/queued/m1/retry", generic("Successfully started retrying AS2 message with ID m1"))
    fake.on("DELETE", "/v1/message/stopped/m1", generic("Deleted message m1"))
    fake.on("DELETE", "/v1/message/failed", generic("Deleted 3 messages"))
    fake.on("DELETE", "/v1/message/sent", generic("Deleted 1 messages"))
    with fake.client() as mc:
        assert mc.mark_unread("m1") == "Successfully marked message m1 as unread"
        assert mc.stop("m1").startswith("Successfully stopped")
        assert mc.retry("m1").startswith("Successfully started")
        assert mc.delete("stopped", "m1") == "Deleted message m1"
        assert mc.delete_many("failed", ["m1", "m2", "m3"]) == 3
        assert mc.delete_many("sent", ("m9",)) == 1
    assert json.loads(fake.bodies[4]) == ["m1", "m2", "m3"] and json.loads(fake.bodies[5]) == ["m9"]
    assert fake.requests[4].headers["content-type"] == "application/json"


# -- attachments, batches, receipts -----------------------------------------------------------


def file_response(data: bytes, disposition: str) -> httpx.Response:
    headers = {"Content-Disposition": disposition, "request-id": RID, "Content-Type": "application/octet-stream"}
    return httpx.Response(200, content=data, headers=headers)


def test_attachment_paths_and_mark_as_read(fake: Fake) -> None:
    fake.on("GET", "/v1/message/received/m1/attachments/0", file_response(b"one", "attachment; filename=a.txt"))
    fake.on("GET", "/v1/message/sent/m1/attachments/1", file_response(b"four", "attachment; filename=b.txt"))
    fake.on("GET", "/v1/message/received/m1/attachments/all", file_response(b"PK..", "attachment; filename=m1.zip"))
    with fake.client() as mc:
        assert mc.attachment("received", "m1", mark_as_read=True) == b"one"
        assert mc.attachment("sent", "m1", 1) == b"four"
        assert mc.attachments_zip("received", "m1") == b"PK.."
    assert fake.requests[0].url.params["markAsRead"] == "true"
    assert "markAsRead" not in fake.requests[1].url.params and "markAsRead" not in fake.requests[2].url.params


def test_download_attachment_streams_to_a_path_or_file(fake: Fake, tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    fake.on(
        "GET",
        "/v1/message/received/m1/attachments/2",
        file_response(data, "attachment; filename=\"r_sum_.bin\"; filename*=UTF-8''r%C3%A9sum%C3%A9.bin"),
    )
    fake.on("GET", "/v1/message/sent/m1/attachments/all", file_response(b"PK", "attachment; filename=m1.zip"))
    with fake.client() as mc:
        got = mc.download_attachment("received", "m1", 2, tmp_path / "out.bin", mark_as_read=True)
        assert got.path == tmp_path / "out.bin" and (tmp_path / "out.bin").read_bytes() == data
        assert (got.file_name, got.size, got.request_id) == ("résumé.bin", len(data), RID)
        assert got.sha256 == hashlib.sha256(data).hexdigest()
        sink = io.BytesIO()
        zipped = mc.download_attachment("sent", "m1", "all", sink)
        assert sink.getvalue() == b"PK" and zipped.path is None and zipped.file_name == "m1.zip"
    assert fake.requests[0].url.params["markAsRead"] == "true"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_failed_download_leaves_no_file(fake: Fake, tmp_path: Path) -> None:
    fake.on("GET", "/v1/message/received/m1/attachments/5", generic("Attachment 5 of message m1 not found", 404))
    with fake.client() as mc, pytest.raises(ManagementError) as info:
        mc.download_attachment("received", "m1", 5, tmp_path / "out.bin")
    assert info.value.message == "Attachment 5 of message m1 not found"
    assert list(tmp_path.iterdir()) == []


def test_batch_download_full_and_truncated(fake: Fake) -> None:
    answers = iter(
        [
            httpx.Response(200, content=b"PK-full"),
            httpx.Response(206, content=b"PK-part", headers={"X-Batch-Truncation-Index": "(1,2)"}),
            httpx.Response(206, content=b"PK-none", headers={"X-Batch-Truncation-Index": "(-1,-1)"}),
        ]
    )
    fake.on("POST", "/v1/message/received/batch/attachments", lambda request: next(answers))
    with fake.client() as mc:
        full = mc.batch_download(["m1", "m2"])
        part = mc.batch_download(["m1", "m2"], mark_as_read=True)
        none = mc.batch_download(("m1",))
    assert (full.zip_bytes, full.partial, full.truncation_index) == (b"PK-full", False, None)
    assert (part.zip_bytes, part.partial, part.truncation_index) == (b"PK-part", True, (1, 2))
    assert none.truncation_index == (-1, -1)
    assert json.loads(fake.bodies[0]) == ["m1", "m2"] and json.loads(fake.bodies[2]) == ["m1"]
    assert "markAsRead" not in fake.requests[0].url.params and fake.requests[1].url.params["markAsRead"] == "true"


@pytest.mark.parametrize(
    ("value", "expected"), [("(0,0)", (0, 0)), (" ( 3 , 12 ) ", (3, 12)), ("1,2", None), (None, None), ("(a,b)", None)]
)
def test_truncation_index_parsing(value: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_truncation_index(value) == expected


def test_receipt_path(fake: Fake) -> None:
    doc = {"receipt": {"version": 1}, "signature": "c2ln"}
    fake.on("GET", "/v1/message/sent/m1/mdn", httpx.Response(200, json=doc))
    with fake.client() as mc:
        assert mc.receipt("sent", "m1") == doc


# -- partners and stations --------------------------------------------------------------------


def partner_doc(**fields: Any) -> dict[str, Any]:
    return {
        "partnerId": 7,
        "stationAS2Id": STATION,
        "as2Identifier": PARTNER,
        "name": PARTNER,
        "description": "",
        "uri": None,
        "messageSubject": None,
        "customHeaders": [{"headerKey": "X-Key", "headerValue": "v"}],
        "pauseIncoming": False,
        "pauseOutgoing": False,
        "sendTimeout": 60,
        "partnerType": "Production",
        "requestMdn": True,
        "signCert": {"id": 3},
        **fields,
    }


def test_partner_crud_bodies_and_paths(fake: Fake) -> None:
    fake.on("POST", "/v1/partner", httpx.Response(201, json=partner_doc()))
    fake.on("PUT", "/v1/partner/7", httpx.Response(200, json=partner_doc(uri="https://p.example/as2")))
    fake.on("GET", "/v1/partner/7", httpx.Response(200, json=partner_doc()))
    fake.on("GET", "/v1/partner", httpx.Response(200, json=[partner_doc(), partner_doc(partnerId=8)]))
    fake.on("DELETE", "/v1/partner/7", generic("Deleted partner 7"))
    with fake.client() as mc:
        created = mc.create_partner(
            STATION,
            PARTNER,
            name="Bravo",
            custom_headers={"X-Key": "v"},
            partner_type="test",
            request_mdn=False,
            uri=None,
            extra={"flows": ["EDIG"]},
        )
        updated = mc.update_partner(7, uri="https://p.example/as2", pause_outgoing=False, message_subject=None)
        mc.update_partner(7)
        assert mc.partner(7).partner_id == 7
        assert [p.partner_id for p in mc.partners(query="brav")] == [7, 8]
        mc.partners()
        assert mc.delete_partner(7) == "Deleted partner 7"
    assert json.loads(fake.bodies[0]) == {
        "stationAS2Id": STATION,
        "as2Identifier": PARTNER,
        "name": "Bravo",
        "customHeaders": [{"headerKey": "X-Key", "headerValue": "v"}],
        "partnerType": "Test",
        "requestMdn": False,
        "uri": None,
        "flows": ["EDIG"],
    }
    assert json.loads(fake.bodies[1]) == {
        "uri": "https://p.example/as2",
        "pauseOutgoing": False,
        "messageSubject": None,
    }
    assert json.loads(fake.bodies[2]) == {}
    assert dict(fake.requests[4].url.params) == {"query": "brav"} and dict(fake.requests[5].url.params) == {}
    assert (created.partner_id, created.station_as2_id, created.as2_identifier) == (7, STATION, PARTNER)
    assert created.custom_headers == [("X-Key", "v")] and created.send_timeout == 60 and created.uri is None
    assert created.raw["signCert"] == {"id": 3} and updated.uri == "https://p.example/as2"


def test_stations(fake: Fake) -> None:
    doc = {"id": 2, "as2Identifier": STATION, "name": "Alpha", "comments": "", "email": "me@example.com", "pinned": 0}
    fake.on("GET", "/v1/station", httpx.Response(200, json=[doc]))
    with fake.client() as mc:
        [station] = mc.stations(query="alp")
    assert (station.id, station.as2_identifier, station.name, station.email) == (2, STATION, "Alpha", "me@example.com")
    assert station.raw["pinned"] == 0 and fake.last().url.params["query"] == "alp"


def test_base_url_may_end_in_v1_or_carry_a_prefix(fake: Fake) -> None:
    fake.on("GET", "/v1/station", httpx.Response(200, json=[]))
    fake.on("GET", "/relay/v1/station", httpx.Response(200, json=[]))
    for url in (f"{BASE}/v1", f"{BASE}/v1/", f"{BASE}/relay/"):
        with ManagementClient(url, token="T", transport=httpx.MockTransport(fake)) as mc:
            mc.stations()
    assert fake.paths() == ["GET /v1/station", "GET /v1/station", "GET /relay/v1/station"]


# -- the async client -------------------------------------------------------------------------


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(cls).items()
        if not name.startswith("_") and callable(member) and name not in ("close", "aclose")
    }


def test_async_client_has_the_same_surface() -> None:
    sync, asyn = public_methods(ManagementClient), public_methods(AsyncManagementClient)
    assert sync.keys() == asyn.keys()
    for name, signature in sync.items():
        other = asyn[name]
        assert list(signature.parameters) == list(other.parameters), name
        assert [p.default for p in signature.parameters.values()] == [p.default for p in other.parameters.values()]
        assert inspect.getdoc(vars(ManagementClient)[name]) == inspect.getdoc(vars(AsyncManagementClient)[name])
        if name not in ("verify_receipt",):
            assert inspect.iscoroutinefunction(vars(AsyncManagementClient)[name]) or inspect.isasyncgenfunction(
                vars(AsyncManagementClient)[name]
            ), name


def test_generated_methods_read_as_written_out() -> None:
    """The public methods are made from the endpoint functions: help() and IDEs see each one's
    own name, docstring and signature (with ``self``), as if written out in the class."""
    for cls, pages in (
        (ManagementClient, "Iterator[As2Message]"),
        (AsyncManagementClient, "AsyncIterator[As2Message]"),
    ):
        received = vars(cls)["received"]
        assert received.__name__ == "received" and received.__qualname__ == f"{cls.__name__}.received"
        assert received.__module__ == cls.__module__
        assert (received.__doc__ or "").startswith("``GET /v1/message/received``: one page")
        signature = inspect.signature(received)
        assert list(signature.parameters)[:2] == ["self", "sort_col"] and signature.return_annotation == "Page"
        assert inspect.signature(vars(cls)["iter_messages"]).return_annotation == pages
        assert inspect.signature(vars(cls)["download_attachment"]).return_annotation == "Download"
        assert inspect.signature(vars(cls)["receipt_key"]).return_annotation == "dict[str, Any]"
    with ManagementClient(BASE, token="t") as mc:
        assert list(inspect.signature(mc.create_partner).parameters)[:3] == ["station", "partner_route", "name"]


async def test_async_client_round_trip(fake: Fake, tmp_path: Path) -> None:
    calls = {"n": 0}

    def send(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if request.headers["authorization"] == "stale":
            return generic("Token expired", 401)
        return sent_ok(request)

    docs = [message_doc(f"m{i}") for i in range(3)]

    def listing(request: httpx.Request) -> httpx.Response:
        offset, length = int(request.url.params["pageOffset"]), int(request.url.params["pageLength"])
        return httpx.Response(200, json=page_doc(docs[offset * length : (offset + 1) * length], total=3))

    fake.on("POST", f"/v1/message/{STATION}/{PARTNER}", send)
    fake.on("GET", "/v1/message/received", listing)
    fake.on("GET", "/v1/message/received/m1/attachments/0", file_response(b"one", "attachment; filename=a.txt"))
    fake.on(
        "POST",
        "/v1/message/received/batch/attachments",
        httpx.Response(206, headers={"X-Batch-Truncation-Index": "(0,0)"}),
    )
    async with fake.aclient(token="stale", username="me@example.com", password="pw-123456") as mc:
        result = await mc.send(STATION, PARTNER, ("a.txt", b"abc"))
        assert result.message_id == "Ab-c_1.2~x" and mc.token == "tok1"
        assert [m.id async for m in mc.iter_messages("received", page_length=2)] == ["m0", "m1", "m2"]
        got = await mc.download_attachment("received", "m1", 0, tmp_path / "a.txt")
        assert got.file_name == "a.txt" and (tmp_path / "a.txt").read_bytes() == b"one"
        assert await mc.attachment("received", "m1") == b"one"
        batch = await mc.batch_download(["m1"])
        assert batch.partial and batch.truncation_index == (0, 0)
    assert calls["n"] == 2 and fake.bodies[0] == fake.bodies[2] == b"abc"
    assert fake.requests[2].headers["name"] == "a.txt" and fake.requests[2].headers["content-length"] == "3"


async def test_async_errors_and_lazy_authorize(fake: Fake, tmp_path: Path) -> None:
    fake.on("GET", "/v1/message/sent/m1/attachments/0", generic("Message m1 not found", 404))
    async with fake.aclient(**CREDS) as mc:
        with pytest.raises(ManagementError) as info:
            await mc.download_attachment("sent", "m1", 0, tmp_path / "x")
    assert info.value.status == 404 and info.value.request_id == RID
    assert fake.paths() == ["POST /v1/authorize", "GET /v1/message/sent/m1/attachments/0"]
    assert list(tmp_path.iterdir()) == []


# -- receipts ---------------------------------------------------------------------------------


def signed_receipt(files: list[bytes]) -> tuple[dict[str, Any], dict[str, Any]]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kid = hashlib.sha256(raw).hexdigest()[:16]
    key_doc = {"algorithm": "Ed25519", "keyId": kid, "publicKey": base64.b64encode(raw).decode(), "pem": "..."}
    receipt = {
        "version": 1,
        "keyId": kid,
        "messageId": "m1",
        "senderMessageId": "m1",
        "senderId": STATION,
        "receiverId": "bravo@bärs02",
        "attachments": [
            {"index": i, "name": f"f{i}", "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
            for i, d in enumerate(files)
        ],
        "disposition": "processed",
        "timestamp": "2026-11-25T16:00:00.123Z",
    }
    signed = json.dumps(receipt, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return {"receipt": receipt, "signature": base64.b64encode(private.sign(signed)).decode()}, key_doc


def test_verify_receipt_accepts_a_genuine_receipt(tmp_path: Path) -> None:
    files = [b"one", b"two" * 1000]
    doc, key = signed_receipt(files)
    (tmp_path / "two").write_bytes(files[1])
    receipt = verify_receipt(doc, key, attachments=[files[0], tmp_path / "two"], message_id="m1")
    assert receipt["disposition"] == "processed"
    assert ManagementClient.verify_receipt(json.loads(json.dumps(doc)), key) == receipt


@pytest.mark.parametrize(
    ("tamper", "match"),
    [
        (lambda d, k: d["receipt"].update(senderId="mallory@x"), "signature"),
        (lambda d, k: d.update(signature=base64.b64encode(b"\0" * 64).decode()), "signature"),
        (lambda d, k: d.update(signature="not base64!"), "base64"),
        (lambda d, k: d["receipt"].update(keyId="0000000000000000"), "signed with key"),
        (lambda d, k: k.update(keyId="ffffffffffffffff"), "does not match its key"),
        (lambda d, k: k.update(algorithm="RSA"), "algorithm"),
        (lambda d, k: k.update(publicKey=base64.b64encode(b"short").decode()), "32-byte"),
        (lambda d, k: d.pop("receipt"), "no receipt"),
    ],
)
def test_verify_receipt_refuses_forgeries(tamper: Callable[[dict[str, Any], dict[str, Any]], Any], match: str) -> None:
    doc, key = signed_receipt([b"one"])
    tamper(doc, key)
    with pytest.raises(InvalidReceipt, match=match):
        verify_receipt(doc, key)


def test_verify_receipt_compares_files_and_message_id() -> None:
    doc, key = signed_receipt([b"one", b"two"])
    with pytest.raises(InvalidReceipt, match="attachment 1"):
        verify_receipt(doc, key, attachments=[b"one", b"TWO"])
    with pytest.raises(InvalidReceipt, match="lists 2"):
        verify_receipt(doc, key, attachments=[b"one"])
    with pytest.raises(InvalidReceipt, match="for message"):
        verify_receipt(doc, key, message_id="m2")
    assert isinstance(InvalidReceipt("x"), ValueError)


def test_verify_receipt_without_cryptography_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    doc, key = signed_receipt([b"one"])
    for name in list(sys.modules):
        if name == "cryptography" or name.startswith("cryptography."):
            monkeypatch.setitem(sys.modules, name, None)  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "cryptography", None)  # type: ignore[arg-type]
    with pytest.raises(ImportError, match="pip install cryptography"):
        verify_receipt(doc, key)


# -- the CLI's usage errors and the light install ---------------------------------------------


def closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["inbox"], {}, "give --user"),
        (["inbox", "--page", "0"], {"RELAYBOX_TOKEN": "t"}, "--page"),
        (["inbox", "--page-length", "101"], {"RELAYBOX_TOKEN": "t"}, "--page-length"),
        (["outbox", "--queued", "--failed"], {"RELAYBOX_TOKEN": "t"}, "exclude each other"),
        (["outbox", "--queued", "--station", STATION], {"RELAYBOX_TOKEN": "t"}, "--query"),
        (["outbox", "--query", "x"], {"RELAYBOX_TOKEN": "t"}, "--queued only"),
        (["download", "../etc/passwd"], {"RELAYBOX_TOKEN": "t"}, "not a message id"),
        (["download", "m1", "--all", "--index", "1"], {"RELAYBOX_TOKEN": "t"}, "exclude each other"),
        (["download", "m1", "--sent", "--mark-read"], {"RELAYBOX_TOKEN": "t"}, "received messages only"),
        (["login"], {"RELAYBOX_TOKEN": "t"}, "login needs --user"),
        (["inbox"], {"RELAYBOX_TOKEN": "t", "RELAYBOX_URL": "ftp://x"}, "not an http"),
    ],
)
def test_cli_usage_errors_exit_2(args: list[str], env: dict[str, str], needle: str) -> None:
    result = CliRunner().invoke(cli, args, env={"RELAYBOX_URL": closed_port_url(), **env})
    assert result.exit_code == 2, result.output
    assert needle in result.output


def test_cli_network_failure_exits_1_with_one_line() -> None:
    url = closed_port_url()
    result = CliRunner().invoke(cli, ["inbox", "--url", url, "--token", "t"])
    assert result.exit_code == 1
    assert f"cannot connect to {url}" in result.output


def test_cli_prompts_for_a_missing_password() -> None:
    url = closed_port_url()
    result = CliRunner().invoke(cli, ["login", "--url", url, "--user", "me@example.com"], input="pw-123456\n")
    assert "Password for me@example.com" in result.output and result.exit_code == 1


LIGHT = textwrap.dedent(
    """
    import sys

    BLOCKED = ("starlette", "sqlalchemy", "uvicorn", "alembic", "pydantic", "pydantic_settings", "multipart",
               "aiosqlite", "cryptography", "jwt", "argon2")

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED or name.startswith("python_multipart"):
                raise ImportError(f"server dependency imported: {name}")
            return None

    sys.meta_path.insert(0, Refuse())
    """
)


def test_management_sdk_and_commands_need_no_server_packages() -> None:
    code = LIGHT + textwrap.dedent(
        """
        import relaybox.cli.manage_cmds
        from relaybox.client import AsyncManagementClient, ManagementClient, ManagementError, verify_receipt
        with ManagementClient("http://127.0.0.1:9", token="t") as mc:
            assert mc.token == "t"
        AsyncManagementClient("http://127.0.0.1:9", username="a@b.c", password="x" * 8)
        try:
            verify_receipt({}, {})
        except ImportError as exc:
            assert "cryptography" in str(exc)
        sys.argv = ["relaybox", "inbox", "--help"]
        from relaybox.cli.main import main
        main()
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--unread" in result.stdout and "--token" in result.stdout
