"""Consistency at the edges: aborted uploads, crashed writes, expiry housekeeping."""

from __future__ import annotations

import os
import socket
import time

import httpx

from conftest import ServerProcess, Signer


def test_client_vanishing_mid_upload_leaves_nothing(server: ServerProcess) -> None:
    a = Signer("a@up", server.add_route("a@up"))
    b = Signer("b@up", server.add_route("b@up"))
    data = os.urandom(2_000_000)
    headers = a.send(b.route, data)
    boundary = "relayboxboundary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="data"; filename="f"\r\n\r\n'.encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    request = (
        "POST /1/send-message HTTP/1.1\r\nHost: x\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(request + body[: len(body) // 2])
        time.sleep(0.5)  # the server is now writing the temp file
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and server.leftovers():
        time.sleep(0.1)
    assert server.leftovers() == 0
    assert server.payload_count() == 0
    assert httpx.get(f"{server.url}/1/list-messages", headers=b.receive()).json() == []


def test_waiters_that_disconnect_are_released(server: ServerProcess) -> None:
    b = Signer("b@wait", server.add_route("b@wait"))
    a = Signer("a@wait", server.add_route("a@wait"))
    host, port = server.url.removeprefix("http://").split(":")
    socks = []
    for _ in range(50):
        s = socket.create_connection((host, int(port)))
        head = "GET /1/wait-next-message/0?timeout=300 HTTP/1.1\r\nHost: x\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in b.receive().items()) + "\r\n"
        s.sendall(head.encode())
        socks.append(s)
    time.sleep(0.5)
    for s in socks:
        s.close()
    # The server stays responsive and a new waiter still gets the next message at once.
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/1/ping").status_code == 200
        r = http.post("/1/send-message", headers=a.send(b.route, b"hi"), files={"data": ("f", b"hi")})
        assert r.status_code == 200
        got = http.get("/1/wait-next-message/0?timeout=5", headers=b.receive())
        assert got.status_code == 200 and got.content == b"hi"


def test_sweep_removes_orphans_tombstones_and_old_keys(server: ServerProcess) -> None:
    a = Signer("a@sweep", server.add_route("a@sweep"))
    b = Signer("b@sweep", server.add_route("b@sweep"))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        link = http.post(
            "/1/send-message",
            headers=a.send(b.route, b"brief", message_expires_after="1"),
            files={"data": ("f", b"brief")},
        ).headers["message-link"]
        kept = http.post("/1/send-message", headers=a.send(b.route, b"stays"), files={"data": ("f", b"stays")})
        assert kept.status_code == 200
    # A crash between storing the bytes and the commit, or in the middle of an upload, leaves these:
    old = time.time() - 7200
    if server.backend == "sqlite":
        orphan = server.data_dir / "payloads" / "ff" / ("ff" + "0" * 30)
        orphan.parent.mkdir(exist_ok=True)
        orphan.write_bytes(b"orphan")
        os.utime(orphan, (old, old))
        leftover = server.data_dir / "tmp" / "dead.part"
        leftover.write_bytes(b"half")
        os.utime(leftover, (old, old))
        expected_orphans = 2
    else:
        from sqlalchemy import insert

        from relaybox.store.schema import payload_chunks

        for pid in ("a" * 32, "b" * 32):
            row = insert(payload_chunks).values(payload_id=pid, seq=0, data=b"half", created_at=old)
            server._store_call(lambda store, row=row: store._exec(row))
        expected_orphans = 2
    time.sleep(1.2)
    report = server.sweep()  # tombstone_ttl 0: the expired message is dropped entirely
    assert report.purged >= 1 and report.payloads_deleted >= 1 and report.orphan_files == expected_orphans
    assert server.leftovers() == 0
    assert server.payload_count() == 1
    with httpx.Client(base_url=server.url, timeout=30) as http:
        # Past the tombstone time the link is unknown.
        r = http.get(f"/1/get-message/{link}", headers=b.receive())
        assert r.status_code == 404 and r.headers["error"].startswith("code=301")
        assert http.get("/1/get-next-message/0", headers=b.receive()).content == b"stays"
