"""The SDK against a real ``relaybox serve`` (the ``shared_server`` fixture, fresh routes per test)."""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from relaybox.client import ApiError, AsyncClient, Client

REQUEST_ID = re.compile(r"\d{14}-[0-9a-f]{16}")


@pytest.fixture
def pair(shared_server: Any) -> tuple[Client, Client]:
    """A sender and a recipient route on the shared server."""
    a_route, a_secret = shared_server.new_route("a")
    b_route, b_secret = shared_server.new_route("b")
    return Client(shared_server.url, a_route, a_secret), Client(shared_server.url, b_route, b_secret)


def test_round_trip_of_every_byte_value(pair: tuple[Client, Client]) -> None:
    a, b = pair
    data = bytes(range(256))
    with a, b:
        link = a.send(data, to=b.route, file_name="bytes é.bin", pay_for_reply=True, expires_after=600)
        [info] = b.list()
        assert (info.link, info.from_route, info.size, info.file_name) == (link, a.route, 256, "bytes é.bin")
        assert info.md5 == hashlib.md5(data).hexdigest()
        assert 590 <= info.expiration_date - info.received_date <= 610
        msg = b.get(link)
        assert msg.data == data and msg.file_name == "bytes é.bin" and msg.from_route == a.route
        assert msg.pay_for_reply and msg.attachment_count == 1 and msg.expires == info.expiration_date
        assert REQUEST_ID.fullmatch(msg.request_id or "")
        nxt = b.get_next()
        assert nxt is not None and nxt.link == link and nxt.data == data
        assert b.get_next(link) is None
        waited = b.wait()
        assert waited is not None and waited.link == link


def test_three_mib_random_file_streams_both_ways(pair: tuple[Client, Client], tmp_path: Path) -> None:
    a, b = pair
    data = os.urandom(3 * 1024 * 1024)
    src = tmp_path / "random.bin"
    src.write_bytes(data)
    with a, b:
        link = a.send(src, to=b.route)
        msg = b.get_to_file(link, tmp_path / "copy.bin")
        assert (tmp_path / "copy.bin").read_bytes() == data
        assert msg.size == len(data) and msg.file_name == "random.bin"
        with open(tmp_path / "copy2.bin", "wb") as out:
            b.download(link, out)
        assert (tmp_path / "copy2.bin").read_bytes() == data


def test_resend_with_the_same_id_is_idempotent(pair: tuple[Client, Client]) -> None:
    a, b = pair
    with a, b:
        first = a.send(b"once", to=b.route, message_id="order-1")
        assert a.send(b"once", to=b.route, message_id="order-1") == first
        assert [m.link for m in b.list()] == [first]
        with pytest.raises(ApiError) as info:
            a.send(b"other", to=b.route, message_id="order-1")
        assert info.value.code == 204 and info.value.http_status == 409


def test_server_errors_carry_code_and_request_id(shared_server: Any, pair: tuple[Client, Client]) -> None:
    a, b = pair
    cases: list[tuple[Callable[[], object], int, int]] = [
        (lambda: Client(shared_server.url, a.route, "wrong").list(), 101, 401),
        (lambda: a.send(b"x", to="nobody@nowhere"), 201, 404),
        (lambda: a.send(b"x", to=b.route, md5="0" * 32), 202, 400),
        (lambda: a.send(b"x", to=b.route, expires_after=0), 205, 400),
        (lambda: b.get("NoSuchLink0123456789"), 301, 404),
    ]
    with a, b:
        for call, code, status in cases:
            with pytest.raises(ApiError) as info:
                call()
            assert (info.value.code, info.value.http_status) == (code, status)
            assert REQUEST_ID.fullmatch(info.value.request_id or ""), info.value


def test_wait_wakes_up_when_a_message_arrives(pair: tuple[Client, Client]) -> None:
    a, b = pair
    with a, b:
        assert b.wait(timeout=1) is None
        timer = threading.Timer(0.5, lambda: a.send(b"late", to=b.route))
        timer.start()
        started = time.monotonic()
        msg = b.wait(timeout=30)
        timer.join()
        assert msg is not None and msg.data == b"late"
        assert time.monotonic() - started < 10


def test_messages_iterator_yields_in_arrival_order(pair: tuple[Client, Client]) -> None:
    a, b = pair
    with a, b:
        sent = [a.send(f"m{i}".encode(), to=b.route) for i in range(3)]

        def later() -> None:
            time.sleep(0.3)
            sent.append(a.send(b"m3", to=b.route))

        thread = threading.Thread(target=later)
        thread.start()
        got = []
        for msg in b.messages(timeout=10):
            got.append((msg.link, msg.data))
            if len(got) == 4:
                break
        thread.join()  # the waiter can get m3 before the sender has its link back
        assert got == [(link, f"m{i}".encode()) for i, link in enumerate(sent)]


async def test_async_client_round_trip(shared_server: Any, tmp_path: Path) -> None:
    a_route, a_secret = shared_server.new_route("a")
    b_route, b_secret = shared_server.new_route("b")
    async with (
        AsyncClient(shared_server.url, a_route, a_secret) as a,
        AsyncClient(shared_server.url, b_route, b_secret) as b,
    ):
        assert await a.ping() == "ok"
        link = await a.send(bytes(range(256)) * 8, to=b_route, file_name="x.bin")
        assert [m.link for m in await b.list()] == [link]
        msg = await b.wait(timeout=5)
        assert msg is not None and msg.data == bytes(range(256)) * 8
        assert await b.get_next(link) is None
        saved = await b.get_to_file(link, tmp_path / "x.bin")
        assert saved.path is not None and saved.path.read_bytes() == msg.data
