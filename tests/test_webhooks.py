"""Webhooks through a live server (webhooks.md): the ``/v1/webhooks`` API, events of a real
exchange reaching a real receiver signed and verifiable (by ``standardwebhooks`` too), the
delivery lists and their controls, one station never seeing another's endpoints, and a crash
between commit and delivery that still delivers."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from conftest import ServerProcess, Signer
from receiver import Answer, Receiver

HTTP = httpx.Client(timeout=30)


class Account:
    def __init__(self, srv: ServerProcess) -> None:
        self.srv = srv
        self.email, _ = srv.add_account()
        self.station, secret = srv.add_station(self.email)
        assert secret is not None
        self.secret = secret
        self.token = srv.token(self.email)

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return HTTP.request(method, self.srv.url + path, headers={"Authorization": self.token}, **kw)

    def hook(self, url: str, **fields: Any) -> dict[str, Any]:
        doc = {"stationAS2Id": self.station, "url": url, "eventTypes": ["message.received", "message.status"], **fields}
        r = self.call("POST", "/v1/webhooks", json=doc)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def send_to(self, other: Account, data: bytes = b"<invoice/>") -> str:
        r = HTTP.post(
            f"{self.srv.url}/1/send-message",
            headers=Signer(self.station, self.secret).send(other.station, data),
            files={"data": ("invoice.xml", data)},
        )
        assert r.status_code == 200, r.headers
        return r.headers["message-link"]


def _events(rcv: Receiver, n: int, **match: Any) -> list[dict[str, Any]]:
    def ok(r: Any) -> bool:
        doc = json.loads(r.body)
        return all(doc["event"].get(k) == v or doc.get(k) == v for k, v in match.items())

    return [json.loads(r.body) for r in rcv.wait_for(n, where=ok) if ok(r)]


# -- the API ----------------------------------------------------------------------------------
def test_endpoint_crud_with_the_secret_shown_once(server: ServerProcess) -> None:
    a = Account(server)
    created = a.hook("https://hooks.example/in?x=1", description="ERP", timeout=30)
    assert created["id"].startswith("wh_") and len(created["id"]) == 29
    assert created["secret"].startswith("whsec_") and len(created["secret"]) == 50
    assert (created["enabled"], created["standardWebhooks"], created["disabledReason"]) == (True, False, None)
    wid = created["id"]
    got = a.call("GET", f"/v1/webhooks/{wid}").json()
    assert "secret" not in got and got == {k: v for k, v in created.items() if k != "secret"}
    listed = a.call("GET", "/v1/webhooks").json()
    assert listed["totalRecords"] == 1 and listed["records"] == [got]
    put = a.call("PUT", f"/v1/webhooks/{wid}", json={"enabled": False, "eventTypes": ["message.status"]}).json()
    assert (put["enabled"], put["disabledReason"], put["eventTypes"]) == (False, "user", ["message.status"])
    put = a.call("PUT", f"/v1/webhooks/{wid}", json={"enabled": True}).json()
    assert (put["enabled"], put["disabledReason"]) == (True, None)
    rotated = a.call("POST", f"/v1/webhooks/{wid}/rotate-secret").json()
    assert rotated["secret"] != created["secret"]
    r = a.call("DELETE", f"/v1/webhooks/{wid}")
    assert r.json() == {"message": f"Deleted webhook {wid}"}
    assert a.call("GET", f"/v1/webhooks/{wid}").status_code == 404


@pytest.mark.parametrize(
    "doc, fragment",
    [
        ({"url": "ftp://x/y", "eventTypes": ["message.status"]}, "url"),
        ({"url": "https://x/" + "a" * 2048, "eventTypes": ["message.status"]}, "url"),
        ({"url": "https://x/y", "eventTypes": []}, "eventTypes"),
        ({"url": "https://x/y", "eventTypes": ["message.deleted"]}, "Unknown event type"),
        ({"url": "https://x/y", "eventTypes": ["message.status"], "timeout": 61}, "timeout"),
        ({"url": "https://x/y", "eventTypes": ["message.status"], "secret": "whsec_c2hvcnQ="}, "secret"),
        ({"url": "https://x/y", "eventTypes": ["message.status"], "description": "x" * 257}, "description"),
        ({"eventTypes": ["message.status"]}, "url is required"),
    ],
)
def test_bad_endpoints_are_400_with_a_message(shared_server: ServerProcess, doc: dict[str, Any], fragment: str) -> None:
    a = Account(shared_server)
    r = a.call("POST", "/v1/webhooks", json={"stationAS2Id": a.station, **doc})
    assert r.status_code == 400 and fragment in r.json()["message"], r.text


def test_a_station_sees_only_its_own_endpoints_and_deliveries(shared_server: ServerProcess) -> None:
    a, b = Account(shared_server), Account(shared_server)
    mine = a.hook("https://hooks.example/a")
    r = b.call(
        "POST", "/v1/webhooks", json={"stationAS2Id": a.station, "url": "https://x/y", "eventTypes": ["message.status"]}
    )
    assert r.status_code == 403
    for method, path in (
        ("GET", f"/v1/webhooks/{mine['id']}"),
        ("PUT", f"/v1/webhooks/{mine['id']}"),
        ("DELETE", f"/v1/webhooks/{mine['id']}"),
        ("POST", f"/v1/webhooks/{mine['id']}/rotate-secret"),
        ("POST", f"/v1/webhooks/{mine['id']}/test"),
    ):
        assert b.call(method, path, json={}).status_code == 404, (method, path)
    assert b.call("GET", "/v1/webhooks").json() == {"totalRecords": 0, "records": []}
    assert b.call("GET", f"/v1/webhooks?stationAS2Id={a.station}").status_code == 403


def test_test_pings_once_signed_even_when_disabled(shared_server: ServerProcess) -> None:
    a = Account(shared_server)
    with Receiver() as rcv:
        hook = a.hook(rcv.url, enabled=False, standardWebhooks=True)
        r = a.call("POST", f"/v1/webhooks/{hook['id']}/test")
        assert r.status_code == 200 and r.json()["ok"] is True and r.json()["statusCode"] == 204
        [ping] = rcv.wait_for(1)
    body = json.loads(ping.body)
    assert body["event_type"] == "ping" and body["event"]["webhook_id"] == hook["id"]
    Webhook(hook["secret"]).verify(ping.body, ping.headers)  # an off-the-shelf verifier
    assert a.call("GET", "/v1/webhooks/deliveries/sent").json()["totalRecords"] == 0  # never listed


# -- events of a real exchange ----------------------------------------------------------------------
def test_an_exchange_reaches_both_sides_signed(server: ServerProcess) -> None:
    a, b = Account(server), Account(server)
    with Receiver() as rcv_a, Receiver() as rcv_b:
        hook_a = a.hook(rcv_a.url, eventTypes=["message.status"])
        hook_b = b.hook(rcv_b.url, eventTypes=["message.received"], standardWebhooks=True)
        link = a.send_to(b, b"<invoice id='1'/>")
        [received] = _events(rcv_b, 1, event_type="message.received")
        [accepted] = _events(rcv_a, 1, status="accepted")
        got = HTTP.get(f"{server.url}/1/get-message/{link}", headers=Signer(b.station, b.secret).receive())
        assert got.status_code == 200
        [delivered] = _events(rcv_a, 1, status="delivered")
        assert b.call("GET", f"/v1/message/received/{link}?markAsRead=true").status_code == 200
        [read] = _events(rcv_a, 1, status="read")
        raw_b = rcv_b.requests[0]
        raw_a = rcv_a.requests[0]
    assert received["event"] | {"received_at": None, "expires_at": None} == {
        "link": link,
        "from": a.station,
        "to": b.station,
        "message_id": received["event"]["message_id"],
        "subject": None,
        "file_name": "invoice.xml",
        "size": 17,
        "md5": hashlib.md5(b"<invoice id='1'/>").hexdigest(),
        "attachment_count": 1,
        "pay_for_reply": False,
        "received_at": None,
        "expires_at": None,
    }
    assert {e["event"]["link"] for e in (accepted, delivered, read)} == {link}
    # Signed by both schemes where asked; verified independently.
    Webhook(hook_b["secret"]).verify(raw_b.body, raw_b.headers)
    mac = hmac.new(hook_a["secret"].encode(), raw_a.body, hashlib.sha256).hexdigest()
    assert raw_a.headers["signature"] == "v1=" + mac and "webhook-signature" not in raw_a.headers
    assert raw_a.headers["user-agent"].startswith("relaybox-webhooks/")


def test_failed_deliveries_are_listed_stopped_retried_and_deleted(server: ServerProcess) -> None:
    a, b = Account(server), Account(server)
    with Receiver(lambda _r: Answer(500, body=b"try later")) as rcv:
        b.hook(rcv.url, eventTypes=["message.received"])
        a.send_to(b)
        rcv.wait_for(1)
        deadline = time.monotonic() + 10
        while not (failed := b.call("GET", "/v1/webhooks/deliveries/failed").json())["records"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        [entry] = failed["records"]
        assert (entry["attempt"], entry["statusCode"], entry["responseExcerpt"]) == (1, 500, "try later")
        did = entry["deliveryId"]
        queued = b.call("GET", f"/v1/webhooks/deliveries/queued/{did}").json()
        assert (queued["state"], queued["attempts"], queued["lastStatusCode"]) == ("queued", 1, 500)
        assert queued["nextAttemptTimestamp"] > queued["lastAttemptTimestamp"]
        r = b.call("POST", f"/v1/webhooks/deliveries/queued/{did}/stop")
        assert r.json() == {"message": f"Successfully stopped retrying webhook delivery {did}"}
        stopped = b.call("GET", f"/v1/webhooks/deliveries/queued/{did}").json()
        assert (stopped["state"], stopped["stopReason"], stopped["nextAttemptTimestamp"]) == (
            "stopped",
            "stopped",
            None,
        )
        rcv.answer = lambda _r: Answer(204)
        r = b.call("POST", f"/v1/webhooks/deliveries/queued/{did}/retry")
        assert r.json() == {"message": f"Successfully started retrying webhook delivery {did}"}
        rcv.wait_for(2)
        deadline = time.monotonic() + 10
        while b.call("GET", f"/v1/webhooks/deliveries/sent/{did}").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert a.call("GET", f"/v1/webhooks/deliveries/sent/{did}").status_code == 404  # not a's
        assert b.call("DELETE", f"/v1/webhooks/deliveries/failed/{did}").json() == {
            "message": f"Deleted delivery {did}"
        }
        assert b.call("GET", "/v1/webhooks/deliveries/failed").json()["totalRecords"] == 0
        r = b.call("DELETE", "/v1/webhooks/deliveries/sent", json=[did, "dlv_unknown"])
        assert r.json() == {"message": "Deleted 1 deliveries"}
        assert b.call("GET", f"/v1/webhooks/deliveries/sent/{did}").status_code == 404


def test_retry_of_a_delivery_whose_endpoint_is_disabled_is_409(server: ServerProcess) -> None:
    a, b = Account(server), Account(server)
    with Receiver(lambda _r: Answer(410)) as rcv:
        hook = b.hook(rcv.url, eventTypes=["message.received"])
        a.send_to(b)
        rcv.wait_for(1)
        deadline = time.monotonic() + 10
        while b.call("GET", f"/v1/webhooks/{hook['id']}").json()["disabledReason"] != "gone":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    [d] = b.call("GET", "/v1/webhooks/deliveries/queued").json()["records"]
    assert (d["state"], d["stopReason"]) == ("stopped", "endpoint disabled")
    r = b.call("POST", f"/v1/webhooks/deliveries/queued/{d['deliveryId']}/retry")
    assert r.status_code == 409


def test_a_crash_between_commit_and_delivery_still_delivers(tmp_path: Any, backend: str) -> None:
    from conftest import _database

    with _database(backend) as url:
        srv = ServerProcess(tmp_path / "data", {"RELAYBOX_OUTBOX_ENABLED": "false"}, url)
        srv.start()
        try:
            a, b = Account(srv), Account(srv)
            with Receiver() as rcv:
                b.hook(rcv.url, eventTypes=["message.received"])
                links = [a.send_to(b) for _ in range(3)]  # committed, answered, not yet delivered
                srv.kill()  # SIGKILL: no shutdown of any kind
                assert rcv.requests == []
                srv.env["RELAYBOX_OUTBOX_ENABLED"] = "true"
                srv.start()
                got = _events(rcv, 3, event_type="message.received")
        finally:
            srv.stop()
    assert sorted(e["event"]["link"] for e in got) == sorted(links)


def test_a_burst_of_downloads_gives_one_delivered_event_each(shared_server: ServerProcess) -> None:
    """Download marks are written in batches beside the responses: none lost, none doubled."""
    a, b = Account(shared_server), Account(shared_server)
    with Receiver() as rcv:
        a.hook(rcv.url, eventTypes=["message.status"])
        links = [a.send_to(b, f"<n>{i}</n>".encode()) for i in range(8)]
        signer = Signer(b.station, b.secret)
        for link in links + links[:3]:  # three fetched twice
            assert HTTP.get(f"{shared_server.url}/1/get-message/{link}", headers=signer.receive()).status_code == 200
        delivered = _events(rcv, 8, status="delivered")
        time.sleep(0.3)  # a doubled event would arrive by now
        delivered = _events(rcv, 8, status="delivered")
    assert sorted(e["event"]["link"] for e in delivered) == sorted(links)
