"""``relaybox db copy``: a SQLite installation moved to PostgreSQL keeps routes, links and bytes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import PgDatabase, ServerProcess, Signer


def copy(source: str, target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relaybox", "db", "copy", "--from", source, "--to", target],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sqlite_to_postgresql(tmp_path: Path) -> None:
    old = ServerProcess(tmp_path / "old")
    old.start()
    alice = Signer("alice@move", old.add_route("alice@move"))
    bob = Signer("bob@move", old.add_route("bob@move"))
    payloads = [os.urandom(n) for n in (0, 1, 300_000, 1_200_000)]
    with httpx.Client(base_url=old.url, timeout=30) as http:
        links = []
        for i, data in enumerate(payloads):
            r = http.post(
                "/1/send-message",
                headers=alice.send(bob.route, data, message_id=f"m{i}"),
                files={"data": (f"f{i}", data)},
            )
            links.append(r.headers["message-link"])
        short = alice.send(bob.route, b"gone", message_expires_after="1")
        assert http.post("/1/send-message", headers=short, files={"data": ("x", b"gone")}).status_code == 200
        walked = http.get(f"/1/get-next-message/{links[1]}", headers=bob.receive()).headers["message-link"]
    old.stop()
    time.sleep(1.1)  # the short-lived message is now expired: it is not copied
    source = f"sqlite:///{old.data_dir / 'relaybox.db'}"

    with PgDatabase() as db:
        first = copy(source, db.url)
        assert first.returncode == 0, first.stderr
        assert "routes: 2 copied" in first.stdout and "messages: 4 copied and MD5-verified" in first.stdout
        again = copy(source, db.url)  # re-runnable: nothing twice
        assert again.returncode == 0 and "messages: 0 copied" in again.stdout and "4 already there" in again.stdout

        new = ServerProcess(tmp_path / "new", {}, db.url)
        new.start()
        try:
            with httpx.Client(base_url=new.url, timeout=30) as http:
                listed = http.get("/1/list-messages", headers=bob.receive()).json()
                assert [e["link"] for e in listed] == links  # same links, same order, expired one left behind
                for link, data in zip(links, payloads, strict=True):
                    got = http.get(f"/1/get-message/{link}", headers=bob.receive())
                    assert got.status_code == 200 and got.content == data
                # A cursor taken on the old installation still walks on the new one.
                nxt = http.get(f"/1/get-next-message/{links[1]}", headers=bob.receive())
                assert nxt.headers["message-link"] == walked == links[2]
                # The routes' secrets came along: alice can still send.
                r = http.post("/1/send-message", headers=alice.send(bob.route, b"hi"), files={"data": ("f", b"hi")})
                assert r.status_code == 200
        finally:
            new.stop()


def test_copy_refuses_bad_urls(tmp_path: Path) -> None:
    same = copy("sqlite:///x.db", "sqlite:///x.db")
    assert same.returncode == 2 and "same store" in same.stderr
    bad = copy(f"sqlite:///{tmp_path / 'a.db'}", "mysql://nope")
    assert bad.returncode == 2 and "unsupported database URL" in bad.stderr


def test_copy_keeps_the_management_api(tmp_path: Path) -> None:
    """Accounts, stations, partners, keys, multi-file messages, receipts, read marks and queued
    messages all move: a token and a receipt made on the old store still verify on the new one."""
    old = ServerProcess(tmp_path / "old")
    old.start()
    email, password = old.add_account()
    alpha, _ = old.add_station(email)
    bravo, _ = old.add_station(email)
    old.add_partner(alpha, bravo)  # receipts requested
    old.add_partner(bravo, alpha, pauseOutgoing=True)
    token = old.token(email, password)
    auth = {"Authorization": token}
    files = [("file", ("a.txt", b"first")), ("file", ("b.txt", b"second"))]
    with httpx.Client(base_url=old.url, timeout=30) as http:
        assert http.post(f"/v1/message/{alpha}/{bravo}?subject=Two", headers=auth, files=files).status_code == 202
        link = http.get("/v1/message/received", headers=auth).json()["records"][0]["as2MessageId"]
        assert http.get(f"/v1/message/received/{link}/attachments/1?markAsRead=true", headers=auth).content == b"second"
        receipt = http.get(f"/v1/message/sent/{link}/mdn", headers=auth).content
        key = http.get("/v1/receipt-key").json()
        queued = http.post(f"/v1/message/{bravo}/{alpha}", headers={**auth, "Name": "q.txt"}, content=b"waits")
        assert queued.status_code == 202
        api_key = http.post("/v1/apikeys", headers=auth, json={"name": "erp"}).json()
        made = http.post("/v1/lists/Buyers", headers=auth).json()
        list_id = int(made["message"].rsplit(" ", 1)[1])
        contact = http.post(
            f"/v1/contacts.json/{list_id}/contacts/",
            headers=auth,
            json={"email_address": "b@example.com", "route": bravo},
        ).json()
        hook = http.post(
            "/v1/webhooks",
            headers=auth,
            json={"stationAS2Id": alpha, "url": "https://hooks.example/in", "eventTypes": ["message.status"]},
        ).json()
    old.stop()
    source = f"sqlite:///{old.data_dir / 'relaybox.db'}"

    with PgDatabase() as db:
        done = copy(source, db.url)
        assert done.returncode == 0, done.stderr
        assert "messages: 2 copied" in done.stdout
        new = ServerProcess(tmp_path / "new", {}, db.url)
        new.start()
        try:
            with httpx.Client(base_url=new.url, timeout=30) as http:
                received = http.get("/v1/message/received", headers=auth).json()  # the old token works
                assert received["totalRecords"] == 1
                entry = received["records"][0]
                assert entry["read"] is True and entry["subject"] == "Two" and entry["mdnStatus"] == "Received"
                assert [a["name"] for a in entry["attachments"]] == ["a.txt", "b.txt"]
                assert http.get(f"/v1/message/received/{link}/attachments/1", headers=auth).content == b"second"
                assert http.get(f"/v1/message/sent/{link}/mdn", headers=auth).content == receipt
                assert http.get("/v1/receipt-key").json() == key
                waiting = http.get("/v1/message/queued", headers=auth).json()["records"]
                assert [(r["state"], r["attachments"]) for r in waiting] == [("queued", [{"name": "q.txt", "size": 5}])]
                partners = http.get("/v1/partner", headers=auth).json()
                assert {(p["stationAS2Id"], p["pauseOutgoing"]) for p in partners} == {(alpha, False), (bravo, True)}
                # Webhook endpoints move with their ids and secrets (receivers keep verifying).
                moved = http.get(f"/v1/webhooks/{hook['id']}", headers=auth).json()
                assert moved == {k: v for k, v in hook.items() if k != "secret"}
                # API keys, and lists and contacts under their ids (clients address list:<id>).
                keys = http.get("/v1/apikeys", headers=auth).json()["records"]
                assert [k["publicKey"] for k in keys] == [api_key["publicKey"]]
                assert http.get(f"/v1/lists.json?id={list_id}", headers=auth).json() == {str(list_id): "Buyers"}
                got = http.get(f"/v1/contacts.json/{list_id}/contact/{contact['id']}", headers=auth).json()
                assert got == {str(contact["id"]): "b@example.com"}
                # New lists get new ids after the copied ones (PostgreSQL's sequence moved on).
                newer = http.post("/v1/lists/Later", headers=auth).json()
                assert int(newer["message"].rsplit(" ", 1)[1]) > list_id
        finally:
            new.stop()
