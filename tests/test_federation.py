"""Two relaybox servers federate: a partner with a ``uri`` on server A is a route on server B,
and the outbox pushes A's messages to B's ``/1/send-message`` signed with the route key B gave
(webhooks.md, "Outbound push"). The two servers use different databases (SQLite and
PostgreSQL), and the sender's webhooks say what happened."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import PgDatabase, ServerProcess, Signer
from receiver import Receiver


@pytest.fixture(params=[("sqlite", "postgresql"), ("postgresql", "sqlite")], ids=["A-sqlite_B-pg", "A-pg_B-sqlite"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    servers = []
    with PgDatabase() as pg:
        for name, backend in zip("ab", request.param, strict=True):
            srv = ServerProcess(
                tmp_path / name, {"RELAYBOX_OUTBOX_POLL": "0.2"}, pg.url if backend == "postgresql" else None
            )
            srv.start()
            servers.append(srv)
        try:
            yield servers[0], servers[1]
        finally:
            for srv in servers:
                srv.stop()


def _events(rcv: Receiver, count: int, status: str) -> list[dict[str, Any]]:
    found = rcv.wait_for(count, where=lambda r: json.loads(r.body)["event"].get("status") == status)
    return [json.loads(r.body)["event"] for r in found if json.loads(r.body)["event"].get("status") == status]


def _mailbox(srv: ServerProcess, route: str, secret: str, want: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        r = httpx.get(f"{srv.url}/1/list-messages", headers=Signer(route, secret).receive())
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()
        if len(found) >= want or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_two_servers_exchange_messages_through_the_outbox(pair: tuple[ServerProcess, ServerProcess]) -> None:
    a_srv, b_srv = pair
    email, _ = a_srv.add_account()
    station, station_secret = a_srv.add_station(email)
    assert station_secret is not None
    # On B, the remote operator makes a route for A's station (`relaybox route add`) and a
    # local recipient.
    remote_secret = b_srv.add_route(station)
    recipient, recipient_secret = b_srv.new_route("b")
    token = a_srv.token(email)
    auth = {"Authorization": token}
    r = httpx.post(
        f"{a_srv.url}/v1/partner",
        headers=auth,
        json={"stationAS2Id": station, "as2Identifier": recipient, "uri": b_srv.url, "remoteSecret": remote_secret},
    )
    assert r.status_code == 201, r.text
    assert r.json()["remoteSecretSet"] is True and "remoteSecret" not in r.json()
    with Receiver() as rcv:
        hook = httpx.post(
            f"{a_srv.url}/v1/webhooks",
            headers=auth,
            json={"stationAS2Id": station, "url": rcv.url, "eventTypes": ["message.status"]},
        )
        assert hook.status_code == 201, hook.text
        # One message through A's route API, one through its /v1.
        data = b'<invoice id="12345"/>\n'
        sent = httpx.post(
            f"{a_srv.url}/1/send-message",
            headers=Signer(station, station_secret).send(recipient, data, message_id="12345"),
            files={"data": ("invoice-12345.xml", data)},
        )
        assert sent.status_code == 200, (sent.status_code, sent.headers)
        v1 = httpx.post(
            f"{a_srv.url}/v1/message/{station}/{recipient}",
            headers={**auth, "Content-Type": "application/xml", "Name": "order.xml"},
            content=b"<order/>",
        )
        assert v1.status_code == 202, v1.text
        delivered = _events(rcv, 2, "delivered")
        accepted = _events(rcv, 2, "accepted")
    on_b = _mailbox(b_srv, recipient, recipient_secret, 2)
    assert len(on_b) == 2, on_b
    # B has them from A's station, under the sender's message ids (a /v1 send's id is its link)
    # and file names.
    assert {m["from"] for m in on_b} == {station}
    v1_link = v1.headers["link"].rsplit("/", 1)[-1]
    assert sorted((m["message_id"], m["file_name"]) for m in on_b) == sorted(
        [("12345", "invoice-12345.xml"), (v1_link, "order.xml")]
    )
    # B got the bytes as sent, from A's station, with the sender's message ids.
    links = {e["link"]: e for e in delivered}
    assert set(links) == {sent.headers["message-link"], v1_link}
    assert {e["delivery"] for e in delivered + accepted} == {"federation"}
    remote_links = {e["remote_link"] for e in delivered}
    for link in remote_links:
        got = httpx.get(f"{b_srv.url}/1/get-message/{link}", headers=Signer(recipient, recipient_secret).receive())
        assert got.status_code == 200
        assert got.headers["message-from"] == station
        assert got.content in (data, b"<order/>")
        assert got.headers["message-md5"] == hashlib.md5(got.content).hexdigest()
    # A's sender view: both sent, neither in any local mailbox.
    sent_list = httpx.get(f"{a_srv.url}/v1/message/sent?pageLength=10", headers=auth).json()
    assert {m["state"] for m in sent_list["records"]} == {"sent"}


def test_a_refusal_stops_the_push_and_a_retry_restarts_it(pair: tuple[ServerProcess, ServerProcess]) -> None:
    a_srv, b_srv = pair
    email, _ = a_srv.add_account()
    station, _secret = a_srv.add_station(email)
    remote_secret = b_srv.add_route(station)
    missing = f"gone{secrets.token_hex(3)}@test{secrets.token_hex(3)}"  # not a route on B
    auth = {"Authorization": a_srv.token(email)}
    r = httpx.post(
        f"{a_srv.url}/v1/partner",
        headers=auth,
        json={"stationAS2Id": station, "as2Identifier": missing, "uri": b_srv.url, "remoteSecret": remote_secret},
    )
    assert r.status_code == 201, r.text
    with Receiver() as rcv:
        httpx.post(
            f"{a_srv.url}/v1/webhooks",
            headers=auth,
            json={"stationAS2Id": station, "url": rcv.url, "eventTypes": ["message.status"]},
        ).raise_for_status()
        v1 = httpx.post(f"{a_srv.url}/v1/message/{station}/{missing}", headers={**auth, "Name": "x.txt"}, content=b"x")
        assert v1.status_code == 202
        link = v1.headers["link"].rsplit("/", 1)[-1]
        [failed] = _events(rcv, 1, "failed")
    assert failed["link"] == link
    assert failed["reason"] == "refused: HTTP 404 code=201"
    queued = httpx.get(f"{a_srv.url}/v1/message/queued/{link}", headers=auth).json()
    assert queued["state"] == "stopped"
    failures = httpx.get(f"{a_srv.url}/v1/message/failed", headers=auth).json()
    assert [(f["as2MessageId"], f["transportStatusReceived"]) for f in failures["records"]] == [(link, 404)]
    # The remote operator adds the route; a retry by hand delivers.
    b_secret = b_srv.add_route(missing)
    r = httpx.post(f"{a_srv.url}/v1/message/queued/{link}/retry", headers=auth)
    assert r.status_code == 200, r.text
    assert len(_mailbox(b_srv, missing, b_secret, 1)) == 1
