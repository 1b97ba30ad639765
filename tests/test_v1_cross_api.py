"""One store behind two APIs: management-api.md "Cross-API rules" 1-7 through a live server, the
route API (``/1``, signed requests) on one side and the management API (``/v1``) on the other."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from typing import Any

import httpx

import test_v1_messages as base
from conftest import Signer, error_code
from test_v1_messages import Pair, accepted, ids, not_found, one, page, refused, send_raw

# The fixtures of test_v1_messages.py, shared here.
fast_hasher = base.fast_hasher
http_clients = base.http_clients
provisioner = base.provisioner
make_pair = base.make_pair
spare_pairs = base.spare_pairs
pair = base.pair


def send1(p: Pair, frm: Signer, to: str, data: bytes, name: str = "d.bin", message_id: str | None = None) -> str:
    r = p.http.post("/1/send-message", headers=frm.send(to, data, message_id), files={"data": (name, data)})
    assert r.status_code == 200, r.headers
    return r.headers["message-link"]


def list1(p: Pair, who: Signer) -> list[dict[str, Any]]:
    r = p.http.get("/1/list-messages", headers=who.receive())
    assert r.status_code == 200
    found: list[dict[str, Any]] = r.json()
    return found


# -- rule 1: a /1 send is one message in both /v1 views ------------------------------------------
def test_1_send_appears_in_v1_received_and_sent(pair: Pair) -> None:
    team = pair.account(pair.b.route)  # every account of station bravo sees it
    link = send1(pair, pair.a.signer, pair.b.route, b"<order/>", "order.xml", message_id="order-1")
    for api in (pair.b.api, team):
        listed = page(api, "received")
        assert listed["totalRecords"] == 1
        received = listed["records"][0]
        assert received["as2MessageId"] == link and received["messageId"] == "order-1"
        assert received["attachments"] == [{"name": "order.xml", "size": 8}]
        assert "subject" not in received
        assert (received["senderId"], received["receiverId"]) == (pair.a.route, pair.b.route)
        assert received["read"] is False and received["partnerType"] == "Production"
    sent = one(pair.a.api, "sent", link)
    assert (sent["state"], sent["deliveryStatus"], sent["transportStatusReceived"]) == ("sent", "Delivered", 200)
    assert sent["messageId"] == "order-1" and "subject" not in sent
    assert sent["mdnStatus"] == "Pending"  # alpha's record for bravo asks for receipts (default)
    assert ids(pair.a.api, "sent") == [link]
    # An idempotent re-send (same id and bytes, fresh timestamp) adds nothing.
    assert send1(pair, pair.a.signer, pair.b.route, b"<order/>", "order.xml", message_id="order-1") == link
    assert ids(pair.b.api, "received") == [link] and ids(pair.a.api, "sent") == [link]
    assert len(list1(pair, pair.b.signer)) == 1
    # A /1 download records the receipt, naming the /1 message-id.
    got = pair.http.get("/1/get-next-message/0", headers=pair.b.signer.receive())
    assert got.status_code == 200 and got.headers["message-attachment-count"] == "1"
    base.check_receipt(pair, link, [("order.xml", b"<order/>")], "order-1")


def test_1_send_takes_the_resolved_partner_records(make_pair: Any) -> None:
    p = make_pair(partners=False)
    link = send1(p, p.a.signer, p.b.route, b"x")
    sent, received = one(p.a.api, "sent", link), one(p.b.api, "received", link)
    assert (sent["partnerType"], sent["mdnStatus"]) == ("Production", "Not Requested")
    assert (received["partnerType"], received["mdnStatus"]) == ("Production", "Not Requested")
    p.b.api.get(f"/v1/message/received/{link}/attachments")
    refused(p.a.api.get(f"/v1/message/sent/{link}/mdn"), 404)
    # Test-only records on both sides: both views are Test; alpha's record decides the receipt.
    q = make_pair(ab={"partnerType": "Test", "requestMdn": False}, ba={"partnerType": "Test"})
    link = send1(q, q.a.signer, q.b.route, b"y")
    assert ids(q.a.api, "sent") == [] and ids(q.a.api, "sent", partnerType="test") == [link]
    assert ids(q.b.api, "received") == [] and ids(q.b.api, "received", partnerType="test") == [link]
    assert one(q.a.api, "sent", link)["mdnStatus"] == "Not Requested"


# -- rules 2 and 3: a /v1 send in the /1 mailbox, attachment N -----------------------------------
def test_v1_send_in_the_1_mailbox(pair: Pair) -> None:
    files = [("first.txt", b"one"), ("second.csv", b"2,2"), ("third.bin", b"")]
    link = pair.send_many(files)
    [entry] = list1(pair, pair.b.signer)
    assert entry["link"] == link
    assert (entry["from"], entry["message_id"]) == (pair.a.route, link)
    assert (entry["file_name"], entry["size"], entry["md5"]) == ("first.txt", 3, hashlib.md5(b"one").hexdigest())
    assert entry["attachment_count"] == 3
    assert list1(pair, pair.a.signer) == []
    got = pair.http.get(f"/1/get-message/{link}", headers=pair.b.signer.receive())
    assert got.status_code == 200 and got.content == b"one"
    assert got.headers["message-attachment-count"] == "3"
    assert got.headers["message-file-name"] == "first.txt"
    assert got.headers["message-from"] == pair.a.route and got.headers["message-id"] == link
    assert got.headers["pay-for-reply"] == "0"
    assert got.headers["message-expires"] == entry["expiration_date"]
    for index, (name, data) in enumerate(files):
        got = pair.http.get(f"/1/get-message/{link}", params={"index": str(index)}, headers=pair.b.signer.receive())
        assert got.status_code == 200 and got.content == data
        assert got.headers["message-file-name"] == name
        assert got.headers["message-md5"] == hashlib.md5(data).hexdigest()
        assert got.headers["content-length"] == str(len(data))
        assert got.headers["message-attachment-count"] == "3"
    for index, status, code in (("3", 404, 301), ("5", 404, 301), ("x", 400, 100), ("-1", 400, 100), ("", 400, 100)):
        got = pair.http.get(f"/1/get-message/{link}", params={"index": index}, headers=pair.b.signer.receive())
        assert (got.status_code, error_code(got)) == (status, code), index
        assert got.content == b""
    # The sender cannot read it through /1.
    got = pair.http.get(f"/1/get-message/{link}", headers=pair.a.signer.receive())
    assert (got.status_code, error_code(got)) == (404, 301)


def test_get_next_walks_messages_of_both_apis(pair: Pair) -> None:
    [other] = pair.routes(1)
    order = [
        pair.send(b"v1-a", "a.txt"),
        send1(pair, other, pair.b.route, b"route-b"),
        pair.send_many([("c1", b"v1-c"), ("c2", b"v1-c2")]),
        send1(pair, pair.a.signer, pair.b.route, b"route-d"),
    ]
    cursor, walked, bodies = "0", [], []
    for _ in order:
        got = pair.http.get(f"/1/get-next-message/{cursor}", headers=pair.b.signer.receive())
        assert got.status_code == 200
        cursor = got.headers["message-link"]
        walked.append(cursor)
        bodies.append(got.content)
    assert walked == order
    assert bodies == [b"v1-a", b"route-b", b"v1-c", b"route-d"]
    got = pair.http.get(f"/1/get-next-message/{cursor}", headers=pair.b.signer.receive())
    assert (got.status_code, error_code(got)) == (404, 303)
    assert [m["link"] for m in list1(pair, pair.b.signer)] == order


def test_wait_next_wakes_for_a_v1_send(pair: Pair) -> None:
    result: dict[str, Any] = {}

    def wait() -> None:
        with httpx.Client(base_url=pair.srv.url, timeout=30) as http:
            start = time.monotonic()
            result["response"] = http.get(
                "/1/wait-next-message/0", params={"timeout": "20"}, headers=pair.b.signer.receive()
            )
            result["elapsed"] = time.monotonic() - start

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.4)
    link = pair.send_many([("w.txt", b"woken"), ("x.txt", b"too")])
    waiter.join(30)
    got = result["response"]
    assert got.status_code == 200 and got.content == b"woken"
    assert got.headers["message-link"] == link and got.headers["message-attachment-count"] == "2"
    assert result["elapsed"] < 10


# -- rule 5: read state is /v1-only ---------------------------------------------------------------
def test_read_state_is_v1_only(pair: Pair) -> None:
    read, downloaded = pair.send(), pair.send()
    one(pair.b.api, "received", read, markAsRead="true")
    assert [m["link"] for m in list1(pair, pair.b.signer)] == [read, downloaded]
    assert pair.http.get(f"/1/get-message/{downloaded}", headers=pair.b.signer.receive()).status_code == 200
    assert pair.http.get(f"/1/get-next-message/{read}", headers=pair.b.signer.receive()).status_code == 200
    assert ids(pair.b.api, "received", unreadOnly="true") == [downloaded]
    assert one(pair.b.api, "received", downloaded)["read"] is False


# -- rule 6: deletion through /v1 leaves the /1 mailbox --------------------------------------------
def test_v1_deletion_of_a_1_message(pair: Pair) -> None:
    link = send1(pair, pair.a.signer, pair.b.route, b"x", message_id="gone-1")
    assert pair.b.api.delete("/v1/message/received", json=[link]).json() == {"message": "Deleted 1 messages"}
    assert list1(pair, pair.b.signer) == []
    for path in (f"/1/get-message/{link}", "/1/get-next-message/0"):
        got = pair.http.get(path, headers=pair.b.signer.receive())
        assert got.status_code == 404 and error_code(got) in (301, 303)
    assert ids(pair.a.api, "sent", as2MessageId="gone-1") == [link]


# -- rule 7: the receiver's pauseIncoming ---------------------------------------------------------
def test_pause_incoming_refuses_both_apis(make_pair: Any) -> None:
    p = make_pair(ba={"pauseIncoming": True})
    before = base.payloads(p.srv)
    r = p.http.post("/1/send-message", headers=p.a.signer.send(p.b.route, b"x"), files={"data": ("d.bin", b"x")})
    assert (r.status_code, error_code(r)) == (404, 201)
    refused(send_raw(p.a.api, p.a.route, p.b.route, b"x", "x.txt"), 409)
    assert list1(p, p.b.signer) == [] and ids(p.b.api, "received") == [] and ids(p.a.api, "sent") == []
    assert base.payloads(p.srv) == before
    # Other senders still get through, and bravo may still send to alpha.
    [other] = p.routes(1)
    send1(p, other, p.b.route, b"ok")
    accepted(send_raw(p.b.api, p.b.route, p.a.route, b"x", "x.txt"), p.srv)
    # Resolution takes the Production record: a paused Test record alone does not refuse.
    q = make_pair()
    q.partner(q.b.route, q.a.route, partnerType="Test", pauseIncoming=True)
    q.send()
    send1(q, q.a.signer, q.b.route, b"x")
    assert len(ids(q.b.api, "received")) == 2


def test_release_after_pause_arrives_after_walked_messages(make_pair: Any) -> None:
    p = make_pair(ab={"pauseOutgoing": True})
    held = p.send(b"held", "held.txt")
    assert list1(p, p.b.signer) == []
    walked = send1(p, p.a.signer, p.b.route, b"direct")  # /1 sends are not held by pauseOutgoing
    got = p.http.get("/1/get-next-message/0", headers=p.b.signer.receive())
    assert got.headers["message-link"] == walked
    got = p.http.get(f"/1/get-next-message/{walked}", headers=p.b.signer.receive())
    assert (got.status_code, error_code(got)) == (404, 303)
    assert p.a.api.put(f"/v1/partner/{p.a.partner_id}", json={"pauseOutgoing": False}).status_code == 200
    got = p.http.get(f"/1/get-next-message/{walked}", headers=p.b.signer.receive())
    assert got.status_code == 200 and got.headers["message-link"] == held and got.content == b"held"
    assert [m["link"] for m in list1(p, p.b.signer)] == [walked, held]


# -- rule 2: a remote partner's message sits in no mailbox ------------------------------------------
def test_remote_partner_messages_are_pushed_never_delivered_locally(make_pair: Any) -> None:
    """A partner with a uri is remote even when its route exists here: the message goes to the
    outbox (docs/webhooks.md), never into the local mailbox; a refused connection is a failed
    attempt, and the message stays queued until stopped or retried."""
    p = make_pair(partners=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    p.partner(p.a.route, p.b.route, uri=closed)
    link = p.send()
    assert one(p.a.api, "queued", link)["state"] == "queued"
    deadline = time.monotonic() + 10
    while (failed := page(p.a.api, "failed"))["totalRecords"] < 1:
        assert time.monotonic() < deadline, "no push attempt"
        time.sleep(0.05)
    assert failed["records"][0]["as2MessageId"] == link and "transportStatusReceived" not in failed["records"][0]
    assert list1(p, p.b.signer) == [] and ids(p.b.api, "received") == []
    p.a.api.post(f"/v1/message/queued/{link}/stop")
    assert one(p.a.api, "queued", link)["state"] == "stopped"
    assert p.a.api.post(f"/v1/message/queued/{link}/retry").status_code == 200
    assert one(p.a.api, "queued", link)["state"] == "queued"  # the outbox's again
    assert list1(p, p.b.signer) == [] and ids(p.a.api, "sent") == []
    not_found(p.b.api.get(f"/v1/message/received/{link}"), link)
