"""Per-route limits (issue 8 item 8): the mailbox quota (messages and bytes: 507 code 208,
nothing stored) and the cap on concurrent wait-next-message calls (429 code 104)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from conftest import Signer, error_code


def send(srv: Any, signer: Signer, to: str, data: bytes) -> httpx.Response:
    return httpx.post(f"{srv.url}/1/send-message", headers=signer.send(to, data), files={"data": ("f", data)})


def test_a_full_mailbox_refuses_with_507_and_stores_nothing(server_factory: Any) -> None:
    srv = server_factory(ROUTE_QUOTA_MESSAGES="2", ROUTE_QUOTA_BYTES="100")
    (a, a_secret), (b, b_secret) = srv.new_route("a"), srv.new_route("b")
    signer = Signer(a, a_secret)
    assert send(srv, signer, b, b"x" * 60).status_code == 200
    over = send(srv, signer, b, b"y" * 41)  # 60 + 41 > 100 bytes
    assert (over.status_code, error_code(over)) == (507, 208)
    assert send(srv, signer, b, b"z" * 40).status_code == 200  # exactly 100
    full = send(srv, signer, b, b"")  # a third message
    assert (full.status_code, error_code(full)) == (507, 208)
    listed = httpx.get(f"{srv.url}/1/list-messages", headers=Signer(b, b_secret).receive()).json()
    assert [m["size"] for m in listed] == [60, 40]
    assert send(srv, signer, a, b"other mailboxes are not affected").status_code == 200


def test_concurrent_waiters_per_route_are_capped(server_factory: Any) -> None:
    srv = server_factory(WAITERS_PER_ROUTE="2")
    route, secret = srv.new_route("w")
    signer = Signer(route, secret)
    held: list[int] = []

    def wait() -> None:
        r = httpx.get(f"{srv.url}/1/wait-next-message/0?timeout=3", headers=signer.receive(), timeout=10)
        held.append(r.status_code)

    threads = [threading.Thread(target=wait) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.8)  # both are holding now
    third = httpx.get(f"{srv.url}/1/wait-next-message/0?timeout=3", headers=signer.receive(), timeout=10)
    assert (third.status_code, error_code(third)) == (429, 104) and third.headers["retry-after"] == "1"
    other, other_secret = srv.new_route("o")
    fine = httpx.get(f"{srv.url}/1/wait-next-message/0?timeout=0", headers=Signer(other, other_secret).receive())
    assert fine.status_code == 204  # another route's budget is its own
    for t in threads:
        t.join()
    assert held == [204, 204]
    again = httpx.get(f"{srv.url}/1/wait-next-message/0?timeout=0", headers=signer.receive())
    assert again.status_code == 204  # the slots are free again
