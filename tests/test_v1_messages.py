"""The management API's message endpoints (management-api.md sections 4-9, "Receipts") through a
live server: send, the four lists, one message, attachments and zips, batch downloads, signed
receipts, retry control and deletion. ``test_v1_cross_api.py`` covers the "Cross-API rules"."""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import re
import secrets
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from conftest import BACKENDS, ServerProcess, Signer, _database, error_code
from relaybox.auth import passwords

PASSWORD = "correct horse 1"
ACCEPTED = {"message": "Successfully added a new outbound entry"}
MIB = 1024 * 1024
# Settings of the module's second server: small limits, a public URL, and a lifetime of /v1
# sends that is not the default (a day).
LIMITED = {
    "V1_MAX_BYTES": "1000",
    "V1_BATCH_MAX_BYTES": "35",
    "PUBLIC_URL": "https://relay.example.com/base",
    "V1_DEFAULT_EXPIRY": "3600",
}


# -- fixtures and helpers ------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def fast_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Accounts made here carry cheap argon2 parameters, so the server verifies them quickly too."""
    monkeypatch.setattr(passwords, "hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture(scope="module", params=BACKENDS)
def limited_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with the ``LIMITED`` settings, kept for the module: each start costs seconds, and
    these few tests are all that use it."""
    with _database(str(request.param)) as url:
        env = {f"RELAYBOX_{k}": v for k, v in LIMITED.items()}
        srv = ServerProcess(tmp_path_factory.mktemp("limited") / "data", env, url)
        srv.start()
        try:
            yield srv
        finally:
            srv.stop()


class Api:
    """``/v1`` as one account. A new token every 40 requests keeps clear of the per-token rate
    limit (50 per 10 s), which the other test file covers."""

    def __init__(self, http: httpx.Client, email: str) -> None:
        self.http = http
        self.email = email
        self._token = ""
        self._used = 40

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        if self._used >= 40:
            r = self.http.post("/v1/authorize", json={"username": self.email, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self._token, self._used = r.json()["token"], 0
        self._used += 1
        return self.http.request(method, path, headers={"Authorization": self._token, **(headers or {})}, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)


@dataclass
class Side:
    route: str
    signer: Signer
    api: Api
    partner_id: int | None  # this station's partner record for the other side


@dataclass
class Pair:
    """Station alpha (account A) and station bravo (account B), partners of each other."""

    srv: ServerProcess
    http: httpx.Client
    a: Side
    b: Side

    def account(self, *stations: str) -> Api:
        """Another account, linked to these stations (e.g. a team sharing bravo)."""
        email = f"u{secrets.token_hex(5)}@example.com"

        async def work(store: Any) -> None:
            from relaybox.exchange.identity import add_account

            await add_account(store, email, PASSWORD, time.time())
            for route in stations:
                await store.accounts.link(email, route, None, None, time.time())

        self.srv._store_call(work)
        return Api(self.http, email)

    def routes(self, n: int, prefix: str = "s") -> list[Signer]:
        """``n`` new plain routes (no account), with their signers."""
        made = [(f"{prefix}{secrets.token_hex(4)}@test{secrets.token_hex(3)}", secrets.token_hex(24)) for _ in range(n)]

        async def work(store: Any) -> None:
            for route, secret in made:
                assert await store.add_route(route, secret, time.time())

        self.srv._store_call(work)
        return [Signer(route, secret) for route, secret in made]

    def partner(self, station: str, route: str, **fields: Any) -> int:
        return int(self.srv.add_partner(station, route, **fields).id)

    def send(self, data: bytes = b"hello", name: str = "a.txt", **params: str) -> str:
        """A raw /v1 send from alpha to bravo; the new message's id."""
        return accepted(send_raw(self.a.api, self.a.route, self.b.route, data, name, **params), self.srv)

    def send_many(self, files: list[tuple[str, bytes]], **params: str) -> str:
        return accepted(send_files(self.a.api, self.a.route, self.b.route, files, **params), self.srv)


def provision(srv: ServerProcess, http: httpx.Client, ab: dict[str, Any] | None, ba: dict[str, Any] | None) -> Pair:
    """Both stations, accounts and partner records (``None``: no record) in one store session."""
    [made] = provision_many(srv, http, ab, ba, 1)
    return made


def provision_many(
    srv: ServerProcess, http: httpx.Client, ab: dict[str, Any] | None, ba: dict[str, Any] | None, n: int
) -> list[Pair]:
    """``n`` Pairs as ``provision`` makes one, all in one store session."""
    names = [
        [(f"{p}{secrets.token_hex(4)}@test{secrets.token_hex(3)}", secrets.token_hex(24)) for p in ("al", "br")]
        for _ in range(n)
    ]
    emails = [[f"{p}{secrets.token_hex(5)}@example.com" for p in ("a", "b")] for _ in range(n)]

    async def work(store: Any) -> list[list[int | None]]:
        from relaybox.exchange.identity import add_account
        from relaybox.wire.v1 import partner_fields

        now = time.time()
        made: list[list[int | None]] = []
        for pair_names, pair_emails in zip(names, emails, strict=True):
            for (route, secret), email in zip(pair_names, pair_emails, strict=True):
                assert await store.add_route(route, secret, now)
                await add_account(store, email, PASSWORD, now)
                await store.accounts.link(email, route, None, None, now)
            pids: list[int | None] = []
            for (station, _), (other, _), fields in (
                (pair_names[0], pair_names[1], ab),
                (pair_names[1], pair_names[0], ba),
            ):
                if fields is None:
                    pids.append(None)
                    continue
                doc = {**fields, "stationAS2Id": station, "as2Identifier": other}
                pids.append((await store.partners.add(station, other, partner_fields(doc, create=True), now)).id)
            made.append(pids)
        return made

    partner_ids = srv._store_call(work)
    pairs: list[Pair] = []
    for pair_names, pair_emails, pair_ids in zip(names, emails, partner_ids, strict=True):
        a, b = (
            Side(route, Signer(route, secret), Api(http, email), pid)
            for (route, secret), email, pid in zip(pair_names, pair_emails, pair_ids, strict=True)
        )
        pairs.append(Pair(srv, http, a, b))
    return pairs


Clients = dict[int, tuple[ServerProcess, httpx.Client]]


@pytest.fixture(scope="module")
def http_clients() -> Iterator[Clients]:
    """One HTTP client per server for the module, not one per test: making an ``httpx.Client``
    costs ~50 ms of CPU (its TLS context). Keyed by the server object, which the entry keeps."""
    clients: Clients = {}
    try:
        yield clients
    finally:
        for _, http in clients.values():
            http.close()


def client_of(clients: Clients, srv: ServerProcess) -> httpx.Client:
    if id(srv) not in clients:
        clients[id(srv)] = (srv, httpx.Client(base_url=srv.url, timeout=60))
    return clients[id(srv)][1]


@pytest.fixture
def provisioner(http_clients: Clients) -> Any:
    """``provisioner(srv, ab=None, ba=None, partners=True)``: a Pair on any server."""

    def make(
        srv: ServerProcess,
        ab: dict[str, Any] | None = None,
        ba: dict[str, Any] | None = None,
        partners: bool = True,
    ) -> Pair:
        http = client_of(http_clients, srv)
        if not partners:
            return provision(srv, http, None, None)
        return provision(srv, http, ab or {}, ba or {})

    return make


@pytest.fixture
def make_pair(shared_server: ServerProcess, provisioner: Any) -> Any:
    """``make_pair(ab=None, ba=None, partners=True)`` on the shared server: ``ab`` are alpha's
    partner record fields for bravo, ``ba`` bravo's for alpha."""
    return functools.partial(provisioner, shared_server)


SPARES = 12  # pairs made per store session for ``pair``


@pytest.fixture(scope="module")
def spare_pairs() -> dict[int, tuple[ServerProcess, list[Pair]]]:
    """Unused default Pairs, by server: ``pair`` makes them ``SPARES`` at a time, since each
    store session costs ~30 ms (SQLite) to ~100 ms (PostgreSQL)."""
    return {}


@pytest.fixture
def pair(
    shared_server: ServerProcess, http_clients: Clients, spare_pairs: dict[int, tuple[ServerProcess, list[Pair]]]
) -> Pair:
    """A new Pair with default partner records both ways on the shared server (as ``make_pair()``)."""
    _, spares = spare_pairs.setdefault(id(shared_server), (shared_server, []))
    if not spares:
        spares.extend(provision_many(shared_server, client_of(http_clients, shared_server), {}, {}, SPARES))
    return spares.pop(0)


def send_raw(
    api: Api, station: str, partner: str, data: bytes, name: str | None, ctype: str | None = None, **params: str
) -> httpx.Response:
    headers = {}
    if name is not None:
        headers["Name"] = name
    if ctype is not None:
        headers["Content-Type"] = ctype
    return api.post(f"/v1/message/{station}/{partner}", content=data, headers=headers, params=params)


def send_files(api: Api, station: str, partner: str, files: list[tuple[str, bytes]], **params: str) -> httpx.Response:
    return api.post(
        f"/v1/message/{station}/{partner}", files=[("file", (n, d, "text/plain")) for n, d in files], params=params
    )


def multipart(*parts: tuple[str, str | None, bytes]) -> tuple[bytes, dict[str, str]]:
    """A hand-made multipart/form-data body: (part name, filename or None, bytes) per part."""
    boundary = "relayboxtest" + secrets.token_hex(8)
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def accepted(r: httpx.Response, srv: ServerProcess, base: str | None = None) -> str:
    """Assert a 202 send; the message id from its Link header."""
    assert r.status_code == 202, (r.status_code, r.text)
    assert r.json() == ACCEPTED
    assert r.headers["content-type"] == "application/json"
    base = base or srv.env.get("RELAYBOX_PUBLIC_URL") or srv.url
    found = re.fullmatch(re.escape(f"{base}/v1/message/sent/") + r"([A-Za-z0-9._~-]{16,})", r.headers["link"])
    assert found, r.headers["link"]
    return found.group(1)


def refused(r: httpx.Response, status: int, message: str | None = None) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert list(body) == ["message"] and isinstance(body["message"], str)
    if message is not None:
        assert body["message"] == message
    assert r.headers.get("request-id")


def not_found(r: httpx.Response, link: str) -> None:
    refused(r, 404, f"Message {link} not found")


def page(api: Api, kind: str, **params: Any) -> dict[str, Any]:
    r = api.get(f"/v1/message/{kind}", params=params)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    assert set(doc) == {"totalRecords", "records"}
    return doc


def ids(api: Api, kind: str, **params: Any) -> list[str]:
    return [m["as2MessageId"] for m in page(api, kind, pageLength=100, **params)["records"]]


def one(api: Api, kind: str, link: str, **params: str) -> dict[str, Any]:
    r = api.get(f"/v1/message/{kind}/{link}", params=params)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")}


def payloads(srv: ServerProcess) -> int:
    srv.sweep()
    return srv.payload_count()


# == 4 Send ======================================================================================
def test_send_raw_single_file(pair: Pair) -> None:
    r = send_raw(pair.a.api, pair.a.route, pair.b.route, b"<invoice/>", "invoice.xml", "application/xml")
    link = accepted(r, pair.srv)
    stored = pair.srv._store_call(lambda s: s.get_message(pair.b.route, link))
    assert (stored.file_name, stored.content_type, stored.size) == ("invoice.xml", "application/xml", 10)
    assert one(pair.a.api, "sent", link)["attachments"] == [{"name": "invoice.xml", "size": 10}]
    got = pair.b.api.get(f"/v1/message/received/{link}/attachments")
    assert got.status_code == 200 and got.content == b"<invoice/>"
    # Without a Content-Type the default is stored.
    plain = accepted(send_raw(pair.a.api, pair.a.route, pair.b.route, b"x", "x.bin"), pair.srv)
    assert pair.srv._store_call(lambda s: s.get_message(pair.b.route, plain)).content_type == "application/octet-stream"
    # Every POST is a new message; "profile" is ignored; a path route may spell @ as %40; the
    # name header is UTF-8.
    again = accepted(send_raw(pair.a.api, pair.a.route, pair.b.route, b"x", "x.bin", profile="any"), pair.srv)
    station, partner = (r.replace("@", "%40") for r in (pair.a.route, pair.b.route))
    r = pair.a.api.post(f"/v1/message/{station}/{partner}", content=b"u", headers={"Name": "Grüße.txt".encode()})
    utf8 = accepted(r, pair.srv)
    assert len({link, plain, again, utf8}) == 4
    assert ids(pair.b.api, "received") == [utf8, again, plain, link]
    assert one(pair.b.api, "received", utf8)["attachments"] == [{"name": "Grüße.txt", "size": 1}]


def test_send_link_uses_public_url(provisioner: Any, limited_server: ServerProcess) -> None:
    p = provisioner(limited_server)
    r = send_raw(p.a.api, p.a.route, p.b.route, b"x", "x.txt")
    link = accepted(r, limited_server, base=LIMITED["PUBLIC_URL"])
    assert one(p.a.api, "sent", link)["as2MessageId"] == link


def test_send_multipart_files_and_empty_file(pair: Pair) -> None:
    files = [("a.txt", b"alpha"), ("b.csv", b"1,2,3\n"), ("empty.bin", b"")]
    link = pair.send_many(files)
    expected = [{"name": n, "size": len(d)} for n, d in files]
    assert one(pair.a.api, "sent", link)["attachments"] == expected
    assert one(pair.b.api, "received", link)["attachments"] == expected
    for i, (_, data) in enumerate(files):
        got = pair.b.api.get(f"/v1/message/received/{link}/attachments/{i}")
        assert got.status_code == 200 and got.content == data and got.headers["content-length"] == str(len(data))
    empty = pair.send(b"", "nothing.txt")
    assert one(pair.b.api, "received", empty)["attachments"] == [{"name": "nothing.txt", "size": 0}]
    assert pair.b.api.get(f"/v1/message/received/{empty}/attachments").content == b""


def test_send_name_header_required(pair: Pair) -> None:
    for name in (None, ""):
        refused(send_raw(pair.a.api, pair.a.route, pair.b.route, b"x", name), 400, "Missing Name header")


def test_send_invalid_names(pair: Pair) -> None:
    bad = ["a/b.txt", "a\\b.txt", "..", ".", "x" * 256, "tab\there"]
    for name in bad:
        refused(send_raw(pair.a.api, pair.a.route, pair.b.route, b"x", name), 400)
    for name in [*bad, "bell\x07.txt", "nul\x00.txt", "del\x7f.txt"]:
        body, headers = multipart(("file", "ok.txt", b"1"), ("file", name, b"2"))
        refused(pair.a.api.post(f"/v1/message/{pair.a.route}/{pair.b.route}", content=body, headers=headers), 400)
    ok = pair.send(b"x", "n" * 255)
    assert one(pair.b.api, "received", ok)["attachments"] == [{"name": "n" * 255, "size": 1}]


def test_send_multipart_part_rules(pair: Pair) -> None:
    url = f"/v1/message/{pair.a.route}/{pair.b.route}"
    for parts in (
        (("file", "same.txt", b"1"), ("file", "same.txt", b"2")),  # equal names
        (("file", "a.txt", b"1"), ("data", "b.txt", b"2")),  # another part name
        (("file", None, b"1"),),  # no filename
        (("other", None, b"1"),),
    ):
        body, headers = multipart(*parts)
        refused(pair.a.api.post(url, content=body, headers=headers), 400)
    body, headers = multipart()
    refused(pair.a.api.post(url, content=body, headers=headers), 400)
    # Names are compared exactly: these two differ.
    link = pair.send_many([("Same.txt", b"1"), ("same.txt", b"2")])
    assert [a["name"] for a in one(pair.b.api, "received", link)["attachments"]] == ["Same.txt", "same.txt"]


def test_send_file_count_limit(pair: Pair) -> None:
    ten = [(f"f{i}.txt", b"%d" % i) for i in range(10)]
    link = pair.send_many(ten)
    assert len(one(pair.b.api, "received", link)["attachments"]) == 10
    before = ids(pair.b.api, "received")
    refused(send_files(pair.a.api, pair.a.route, pair.b.route, [*ten, ("f10.txt", b"x")]), 413)
    assert ids(pair.b.api, "received") == before


def test_send_byte_limit(provisioner: Any, limited_server: ServerProcess) -> None:
    p = provisioner(limited_server)  # V1_MAX_BYTES=1000
    base = LIMITED["PUBLIC_URL"]
    accepted(send_raw(p.a.api, p.a.route, p.b.route, b"r" * 1000, "exact.bin"), limited_server, base)
    refused(send_raw(p.a.api, p.a.route, p.b.route, b"r" * 1001, "over.bin"), 413)
    accepted(send_files(p.a.api, p.a.route, p.b.route, [("a", b"a" * 600), ("b", b"b" * 400)]), limited_server, base)
    refused(send_files(p.a.api, p.a.route, p.b.route, [("a", b"a" * 600), ("b", b"b" * 401)]), 413)
    refused(send_files(p.a.api, p.a.route, p.b.route, [("a", b"a" * 1001)]), 413)
    assert page(p.b.api, "received")["totalRecords"] == 2


def test_send_over_10_mib_is_refused(pair: Pair) -> None:
    before = payloads(pair.srv)
    r = send_files(pair.a.api, pair.a.route, pair.b.route, [("big.bin", b"\0" * (10 * MIB + 1))])
    refused(r, 413)
    r = send_files(
        pair.a.api, pair.a.route, pair.b.route, [("a.bin", b"\0" * (5 * MIB)), ("b.bin", b"\0" * (5 * MIB + 1))]
    )
    refused(r, 413)
    assert page(pair.b.api, "received")["totalRecords"] == 0
    assert payloads(pair.srv) == before
    assert pair.srv.leftovers() == 0


def test_send_from_a_station_not_the_callers(pair: Pair) -> None:
    forbidden = "Station not found in your account"
    refused(send_raw(pair.a.api, pair.b.route, pair.a.route, b"x", "x.txt"), 403, forbidden)
    refused(send_raw(pair.a.api, "nobody@nowhere", pair.b.route, b"x", "x.txt"), 403, forbidden)
    refused(send_raw(pair.a.api, "not-a-route", pair.b.route, b"x", "x.txt"), 400)
    assert page(pair.a.api, "received")["totalRecords"] == 0


def test_send_unknown_partner(pair: Pair) -> None:
    [stranger] = pair.routes(1)
    refused(send_raw(pair.a.api, pair.a.route, stranger.route, b"x", "x.txt"), 404)
    refused(send_raw(pair.a.api, pair.a.route, pair.b.route, b"x", "x.txt", partnerType="test"), 404)
    refused(send_raw(pair.a.api, pair.a.route, pair.b.route, b"x", "x.txt", partnerType="staging"), 400)
    # A local partner whose route is gone.
    pair.partner(pair.a.route, stranger.route)
    pair.srv._store_call(lambda s: s.remove_route(stranger.route))
    refused(send_raw(pair.a.api, pair.a.route, stranger.route, b"x", "x.txt"), 404)


def test_send_fault_order(make_pair: Any) -> None:
    """401, 429, 400 (path, query, headers), 403, 404, body faults (400, 413), 409."""
    p = make_pair(ba={"pauseIncoming": True})
    [stranger] = p.routes(1)
    eleven = [(f"f{i}", b"x") for i in range(11)]
    refused(send_raw(p.a.api, p.b.route, p.a.route, b"x", "x", subject="s" * 256), 400)  # query before 403
    refused(send_raw(p.a.api, p.b.route, p.a.route, b"x", None), 400, "Missing Name header")  # header before 403
    refused(send_raw(p.a.api, p.b.route, p.a.route, b"x", ".."), 403)  # 403 before the body
    refused(send_files(p.a.api, p.b.route, p.a.route, eleven), 403)
    refused(send_files(p.a.api, p.a.route, stranger.route, eleven), 404)  # 404 before the body
    refused(send_raw(p.a.api, p.a.route, stranger.route, b"x", "../x"), 404)
    refused(send_files(p.a.api, p.a.route, p.b.route, eleven), 413)  # body faults before 409
    refused(send_raw(p.a.api, p.a.route, p.b.route, b"x", "a/b"), 400)
    refused(send_raw(p.a.api, p.a.route, p.b.route, b"x", "fine.txt"), 409)
    refused(p.http.post(f"/v1/message/{p.b.route}/{p.a.route}", content=b"x", headers={"Name": "x"}), 401)


def test_partner_type_selects_the_partner_record(make_pair: Any) -> None:
    p = make_pair(ba={"partnerType": "Test"})  # bravo knows alpha only as a Test partner
    p.partner(p.a.route, p.b.route, partnerType="Test", requestMdn=False, messageSubject="T")
    prod = p.send()
    test = p.send(partnerType="TEST")
    sent_test = one(p.a.api, "sent", test)
    assert (sent_test["partnerType"], sent_test["mdnStatus"], sent_test["subject"]) == ("Test", "Not Requested", "T")
    sent_prod = one(p.a.api, "sent", prod)
    assert (sent_prod["partnerType"], sent_prod["mdnStatus"]) == ("Production", "Pending")
    assert "subject" not in sent_prod
    assert ids(p.a.api, "sent") == [prod]
    assert ids(p.a.api, "sent", partnerType="test") == [test]
    # The receiver's view takes the receiver's record for alpha: Test, for both messages.
    assert ids(p.b.api, "received") == []
    assert ids(p.b.api, "received", partnerType="Test") == [test, prod]
    assert one(p.b.api, "received", prod)["partnerType"] == "Test"


def test_subject_query_and_partner_default(make_pair: Any) -> None:
    p = make_pair(ab={"messageSubject": "Invoice"})
    assert one(p.a.api, "sent", p.send())["subject"] == "Invoice"
    assert one(p.b.api, "received", p.send(subject="Rechnung 7"))["subject"] == "Rechnung 7"
    assert one(p.a.api, "sent", p.send(subject="s" * 255))["subject"] == "s" * 255
    url = f"/v1/message/{p.a.route}/{p.b.route}"
    for bad in ("s" * 256, "line\nbreak", "tab\tbed"):
        refused(p.a.api.post(url, params={"subject": bad}, content=b"x", headers={"Name": "x"}), 400)


def test_empty_subject_means_none(make_pair: Any) -> None:
    """ "empty = none; when absent, the partner's messageSubject": an explicit empty subject
    overrides the partner's default."""
    p = make_pair(ab={"messageSubject": "Invoice"})
    link = p.send(subject="")
    assert "subject" not in one(p.a.api, "sent", link)
    assert "subject" not in one(p.b.api, "received", link)


def test_refused_sends_store_nothing(make_pair: Any) -> None:
    p = make_pair(ba={"pauseIncoming": True})
    before = payloads(p.srv)
    url = f"/v1/message/{p.a.route}/{p.b.route}"
    body, headers = multipart(("file", "ok.txt", b"first part is fine"), ("file", "../bad", b"2"))
    refused(p.a.api.post(url, content=body, headers=headers), 400)
    body, headers = multipart(("file", "ok.txt", b"1"), ("file", "ok.txt", b"2"))
    refused(p.a.api.post(url, content=body, headers=headers), 400)
    refused(send_files(p.a.api, p.a.route, p.b.route, [(f"f{i}", b"x") for i in range(11)]), 413)
    refused(send_raw(p.a.api, p.b.route, p.a.route, b"x", "x.txt"), 403)
    refused(send_raw(p.a.api, p.a.route, p.b.route, b"x", "x.txt", subject="s" * 256), 400)
    refused(send_raw(p.a.api, p.a.route, p.b.route, b"paused", "x.txt"), 409)  # bravo paused alpha
    assert payloads(p.srv) == before
    assert p.srv.leftovers() == 0
    assert page(p.a.api, "sent")["totalRecords"] == page(p.a.api, "queued")["totalRecords"] == 0


# == 5 Lists =======================================================================================
def test_received_and_sent_entities(pair: Pair) -> None:
    t0 = int(time.time() * 1000)
    link = pair.send_many([("a.txt", b"alpha"), ("b.txt", b"bravo!")], subject="Hello")
    t1 = int(time.time() * 1000) + 1
    bare = pair.send(b"x", "x.txt")
    common = {
        "as2MessageId": link,
        "messageId": link,
        "compressed": False,
        "encrypted": False,
        "signed": False,
        "subject": "Hello",
        "senderId": pair.a.route,
        "receiverId": pair.b.route,
        "partnerType": "Production",
        "mdnStatus": "Pending",
        "attachments": [{"name": "a.txt", "size": 5}, {"name": "b.txt", "size": 6}],
    }
    listed = page(pair.b.api, "received")
    assert listed["totalRecords"] == 2
    received = listed["records"][1]
    persisted, expiry = received.pop("persistedTimestamp"), received.pop("expiryTimestamp")
    assert t0 <= persisted <= t1 and abs(expiry - persisted - 86_400_000) <= 1
    assert received == {**common, "read": False}
    sent = page(pair.a.api, "sent")["records"][1]
    assert (sent.pop("persistedTimestamp"), sent.pop("expiryTimestamp")) == (persisted, expiry)
    assert sent == {**common, "transportStatusReceived": 200, "deliveryStatus": "Delivered", "state": "sent"}
    assert "subject" not in one(pair.b.api, "received", bare) and "subject" not in one(pair.a.api, "sent", bare)
    assert page(pair.a.api, "received")["totalRecords"] == page(pair.b.api, "sent")["totalRecords"] == 0


def test_queued_entity(make_pair: Any) -> None:
    p = make_pair(ab={"pauseOutgoing": True})
    link = p.send(b"wait", "w.txt", subject="later")
    listed = page(p.a.api, "queued")
    assert listed["totalRecords"] == 1
    record = listed["records"][0]
    assert {k: record[k] for k in ("as2MessageId", "messageId", "state", "deliveryStatus", "mdnStatus")} == {
        "as2MessageId": link,
        "messageId": link,
        "state": "queued",
        "deliveryStatus": "No Status",
        "mdnStatus": "Pending",
    }
    assert "transportStatusReceived" not in record and "read" not in record
    assert record["attachments"] == [{"name": "w.txt", "size": 4}] and record["subject"] == "later"
    assert one(p.a.api, "queued", link) == record


def test_pagination(pair: Pair) -> None:
    links = [pair.send(b"%d" % i, f"{i}.txt") for i in range(5)]
    newest_first = links[::-1]
    assert ids(pair.b.api, "received") == newest_first
    first = page(pair.b.api, "received", pageLength=2)
    assert first["totalRecords"] == 5 and len(first["records"]) == 2
    got = [
        [m["as2MessageId"] for m in page(pair.b.api, "received", pageLength=2, pageOffset=n)["records"]]
        for n in range(4)
    ]
    assert got == [newest_first[0:2], newest_first[2:4], newest_first[4:5], []]
    beyond = page(pair.b.api, "received", pageOffset=7)
    assert beyond == {"totalRecords": 5, "records": []}
    assert len(page(pair.b.api, "received", pageLength=100)["records"]) == 5
    assert len(page(pair.b.api, "received")["records"]) == 5  # default pageLength 10


def test_paging_parameters_are_checked(pair: Pair) -> None:
    for params in (
        {"pageLength": "0"},
        {"pageLength": "101"},
        {"pageLength": "x"},
        {"pageLength": "-1"},
        {"pageLength": "1.5"},
        {"pageOffset": "-1"},
        {"pageOffset": "x"},
    ):
        for kind in ("received", "sent", "queued", "failed"):
            refused(pair.b.api.get(f"/v1/message/{kind}", params=params), 400)
    assert page(pair.b.api, "received", pageLength=100) == {"totalRecords": 0, "records": []}


def test_sorting(pair: Pair) -> None:
    s1, s2 = pair.routes(2)
    order: list[tuple[str, str, str]] = []  # (link, sender, subject) in arrival order

    def v1(subject: str) -> None:
        order.append((pair.send(subject=subject), pair.a.route, subject))

    def route_api(signer: Signer) -> None:
        r = pair.http.post("/1/send-message", headers=signer.send(pair.b.route, b"x"), files={"data": ("d.bin", b"x")})
        assert r.status_code == 200
        order.append((r.headers["message-link"], signer.route, ""))

    v1("b")
    route_api(s2)
    v1("a")
    route_api(s1)
    v1("C")
    v1("a")
    arrival = [link for link, _, _ in order]

    def expect(key: Any, reverse: bool) -> list[str]:
        ranked = sorted(range(len(order)), key=lambda i: (key(order[i]), i), reverse=reverse)
        return [order[i][0] for i in ranked]

    api = pair.b.api
    assert ids(api, "received", sortCol="persistedTimestamp", sortDir="asc") == arrival
    assert ids(api, "received", sortCol="persistedTimestamp", sortDir="desc") == arrival[::-1]
    assert ids(api, "received") == arrival[::-1]
    assert ids(api, "received", sortCol="subject", sortDir="asc") == expect(lambda m: m[2], False)
    assert ids(api, "received", sortCol="subject", sortDir="asc")[2:] == [
        arrival[4],
        arrival[2],
        arrival[5],
        arrival[0],
    ]
    assert ids(api, "received", sortCol="SUBJECT", sortDir="DESC") == expect(lambda m: m[2], True)
    assert ids(api, "received", sortCol="senderId", sortDir="asc") == expect(lambda m: m[1], False)
    assert ids(api, "received", sortCol="senderId") == expect(lambda m: m[1], True)
    # One receiver only: every row ties, so arrival order decides, in the requested direction.
    assert ids(api, "received", sortCol="receiverId", sortDir="asc") == arrival
    assert ids(api, "received", sortCol="receiverId", sortDir="desc") == arrival[::-1]
    # receiverId on the sender's side: alpha also sends to a second partner.
    [c] = pair.routes(1, prefix="c")
    pair.partner(pair.a.route, c.route)
    extra = accepted(send_raw(pair.a.api, pair.a.route, c.route, b"x", "x.txt"), pair.srv)
    sent = [link for link, sender, _ in order if sender == pair.a.route]
    by_receiver = sorted([(pair.b.route, i, link) for i, link in enumerate(sent)] + [(c.route, len(sent), extra)])
    assert ids(pair.a.api, "sent", sortCol="receiverId", sortDir="asc") == [link for _, _, link in by_receiver]


def test_bad_enumerations(pair: Pair) -> None:
    for params in (
        {"sortCol": "size"},
        {"sortCol": ""},
        {"sortDir": "up"},
        {"partnerType": "staging"},
        {"unreadOnly": "yes"},
    ):
        refused(pair.b.api.get("/v1/message/received", params=params), 400)
    assert page(pair.b.api, "received", sortDir="Asc", partnerType="PRODUCTION", unreadOnly="0")["totalRecords"] == 0


def test_filters(pair: Pair) -> None:
    [other] = pair.routes(1)
    pair.partner(pair.a.route, other.route)
    to_b = pair.send(subject="Invoice 42 for Bravo")
    to_other = accepted(send_raw(pair.a.api, pair.a.route, other.route, b"x", "x.txt", subject="invoice 43"), pair.srv)
    r = pair.http.post(
        "/1/send-message",
        headers=pair.a.signer.send(pair.b.route, b"x", message_id="order-7"),
        files={"data": ("d", b"x")},
    )
    from_1 = r.headers["message-link"]
    api = pair.a.api
    assert ids(api, "sent", partnerAS2Id=other.route) == [to_other]
    assert ids(api, "sent", partnerAS2Id=pair.b.route) == [from_1, to_b]
    assert ids(pair.b.api, "received", partnerAS2Id=pair.a.route) == [from_1, to_b]
    assert ids(pair.b.api, "received", partnerAS2Id=other.route) == []
    assert ids(api, "sent", stationAS2Id=pair.a.route) == [from_1, to_other, to_b]
    for station in (pair.b.route, "nobody@nowhere"):
        refused(api.get("/v1/message/sent", params={"stationAS2Id": station}), 403, "Station not found in your account")
        refused(api.get("/v1/message/received", params={"stationAS2Id": station}), 403)
    refused(api.get("/v1/message/sent", params={"stationAS2Id": "no route"}), 400)
    assert ids(api, "sent", as2MessageId=to_b) == [to_b]
    assert ids(api, "sent", as2MessageId="order-7") == [from_1]  # the /1 message-id
    assert ids(api, "sent", as2MessageId=from_1) == [from_1]
    assert ids(pair.b.api, "received", as2MessageId="order-7") == [from_1]
    assert ids(api, "sent", as2MessageId="order") == []
    assert ids(api, "sent", subject="INVOICE") == [to_other, to_b]
    assert ids(api, "sent", subject="42 for b") == [to_b]
    assert ids(api, "sent", subject="%") == [] and ids(api, "sent", subject="_") == []
    assert ids(api, "sent", subject="invoice", partnerAS2Id=other.route) == [to_other]  # ANDed
    assert page(api, "sent", subject="invoice")["totalRecords"] == 2


def test_subject_filter_is_case_insensitive_beyond_ascii(pair: Pair) -> None:
    umlauts = pair.send(subject="Rechnung ÄÖÜ")
    pair.send(subject="Rechnung AOU")
    assert ids(pair.b.api, "received", subject="rechnung äöü") == [umlauts]
    assert ids(pair.b.api, "received", subject="äöü") == [umlauts]
    assert ids(pair.a.api, "sent", subject="ÄÖÜ") == [umlauts]


def test_unread_only(pair: Pair) -> None:
    first, second = pair.send(), pair.send()
    assert ids(pair.b.api, "received", unreadOnly="true") == [second, first]
    one(pair.b.api, "received", first, markAsRead="true")
    assert ids(pair.b.api, "received", unreadOnly="true") == [second]
    assert ids(pair.b.api, "received", unreadOnly="1") == [second]
    assert page(pair.b.api, "received", unreadOnly="true")["totalRecords"] == 1
    assert ids(pair.b.api, "received", unreadOnly="false") == [second, first]
    assert ids(pair.b.api, "received") == [second, first]


def test_queued_query(make_pair: Any) -> None:
    p = make_pair(ab={"pauseOutgoing": True})
    [c] = p.routes(1)
    p.partner(p.a.route, c.route, pauseOutgoing=True)
    to_b = p.send(subject="Quarterly report")
    to_c = accepted(send_raw(p.a.api, p.a.route, c.route, b"x", "x.txt", subject="weekly"), p.srv)
    api = p.a.api
    assert ids(api, "queued") == [to_c, to_b]
    assert ids(api, "queued", query=p.b.route) == [to_b]
    assert ids(api, "queued", query=c.route) == [to_c]
    assert ids(api, "queued", query=p.a.route) == [to_c, to_b]
    assert ids(api, "queued", query=to_b) == [to_b]
    assert ids(api, "queued", query="LY REP") == [to_b]
    assert ids(api, "queued", query="ly") == [to_c, to_b]
    assert ids(api, "queued", query="nothing") == []
    # query replaces the other filters there.
    assert ids(api, "queued", partnerAS2Id=c.route, subject="nothing") == [to_c, to_b]


def test_unknown_parameters_and_long_values(pair: Pair) -> None:
    link = pair.send(subject="x" * 10)
    assert ids(pair.b.api, "received", foo="bar", as2_message_id="zzz") == [link]
    assert ids(pair.b.api, "received", subject="x" * 1024) == []
    refused(pair.b.api.get("/v1/message/received", params={"subject": "x" * 1025}), 400)
    refused(pair.b.api.get("/v1/message/sent", params={"as2MessageId": "x" * 1025}), 400)
    refused(pair.a.api.get("/v1/message/queued", params={"query": "x" * 1025}), 400)


# == 6 Get one ======================================================================================
def test_get_one_matches_the_list_entry(pair: Pair) -> None:
    link = pair.send_many([("a.txt", b"a"), ("b.txt", b"bb")], subject="one")
    assert one(pair.b.api, "received", link) == page(pair.b.api, "received")["records"][0]
    assert one(pair.a.api, "sent", link) == page(pair.a.api, "sent")["records"][0]


def test_mark_as_read_and_unread(pair: Pair) -> None:
    link = pair.send()
    team = pair.account(pair.b.route)  # a second account of station bravo
    assert one(pair.b.api, "received", link)["read"] is False
    assert one(pair.b.api, "received", link, markAsRead="true")["read"] is True
    assert one(pair.b.api, "received", link)["read"] is True
    assert page(pair.b.api, "received")["records"][0]["read"] is True
    assert ids(pair.b.api, "received", unreadOnly="true") == []
    # Read state is per account.
    assert one(team, "received", link)["read"] is False
    assert ids(team, "received", unreadOnly="true") == [link]
    for _ in range(2):
        r = pair.b.api.post(f"/v1/message/received/{link}/markUnread")
        assert r.status_code == 200 and r.json() == {"message": f"Successfully marked message {link} as unread"}
        assert one(pair.b.api, "received", link)["read"] is False
    assert ids(pair.b.api, "received", unreadOnly="true") == [link]
    # markAsRead=false changes nothing.
    assert one(pair.b.api, "received", link, markAsRead="false")["read"] is False
    not_found(pair.b.api.post("/v1/message/received/no-such-id/markUnread"), "no-such-id")
    not_found(pair.a.api.post(f"/v1/message/received/{link}/markUnread"), link)


def test_get_one_not_found(make_pair: Any) -> None:
    p = make_pair()
    link = p.send()
    stranger = p.account()
    for api, kind in (
        (p.b.api, "sent"),
        (p.b.api, "queued"),
        (p.b.api, "failed"),
        (p.a.api, "received"),
        (p.a.api, "queued"),
        (p.a.api, "failed"),
        (stranger, "received"),
        (stranger, "sent"),
    ):
        not_found(api.get(f"/v1/message/{kind}/{link}"), link)
    not_found(p.b.api.get("/v1/message/received/unknown-id"), "unknown-id")
    refused(p.b.api.get(f"/v1/message/bogus/{link}"), 404)
    # A queued message is not under /sent/.
    p.srv._store_call(lambda s: s.partners.update(p.a.partner_id, {"pause_outgoing": True}))
    queued = p.send()
    not_found(p.a.api.get(f"/v1/message/sent/{queued}"), queued)
    not_found(p.b.api.get(f"/v1/message/received/{queued}"), queued)
    assert one(p.a.api, "queued", queued)["state"] == "queued"


def expire(srv: ServerProcess, links: list[str]) -> None:
    """Put these messages' expiry a second in the past, as the passing of their lifetime would."""
    from sqlalchemy import update

    from relaybox.store.schema import messages

    past = time.time() - 1
    stmt = update(messages).where(messages.c.link.in_(links)).values(expires_at=past)

    async def work(store: Any) -> int:
        return int(await store._q(lambda db: db.run(stmt), write=True))

    assert srv._store_call(work) == len(links)


def test_expired_messages_are_not_found(limited_server: ServerProcess, provisioner: Any) -> None:
    srv = limited_server  # V1_DEFAULT_EXPIRY=3600
    p = provisioner(srv)
    [c] = p.routes(1)
    p.partner(p.a.route, c.route, pauseOutgoing=True)
    link = p.send()
    queued = accepted(send_raw(p.a.api, p.a.route, c.route, b"x", "x.txt"), srv)
    # The setting applies from submission, in every state.
    records = srv._store_call(lambda s: s.messages_after(0, 0.0))
    lifetimes = {r.link: round(r.expires_at - r.received_at, 3) for r in records if r.link in (link, queued)}
    assert lifetimes == {link: 3600.0, queued: 3600.0}
    assert ids(p.b.api, "received") == [link] and ids(p.a.api, "queued") == [queued]  # control
    # Their lifetime over (not waited for: the expiry is moved into the past):
    expire(srv, [link, queued])
    for api, kind in ((p.b.api, "received"), (p.a.api, "sent")):
        not_found(api.get(f"/v1/message/{kind}/{link}"), link)
        not_found(api.get(f"/v1/message/{kind}/{link}/attachments"), link)
        not_found(api.get(f"/v1/message/{kind}/{link}/attachments/all"), link)
        assert page(api, kind) == {"totalRecords": 0, "records": []}
    not_found(p.a.api.get(f"/v1/message/queued/{queued}"), queued)
    not_found(p.a.api.post(f"/v1/message/queued/{queued}/stop"), queued)
    assert page(p.a.api, "queued") == {"totalRecords": 0, "records": []}
    not_found(p.b.api.post(f"/v1/message/received/{link}/markUnread"), link)
    got = p.http.get(f"/1/get-message/{link}", headers=p.b.signer.receive())
    assert (got.status_code, error_code(got)) == (410, 302)
    assert p.http.get("/1/list-messages", headers=p.b.signer.receive()).json() == []


# == 7 Attachments and receipts ============================================================================
def test_attachment_downloads(pair: Pair) -> None:
    files = [("a.txt", b"alpha"), ("über x.txt", b"umlaut"), ("c.bin", b"\x00\x01\x02")]
    link = pair.send_many(files)
    api = pair.b.api
    first = api.get(f"/v1/message/received/{link}/attachments")
    assert first.status_code == 200 and first.content == b"alpha"
    assert first.headers["content-type"] == "application/octet-stream"
    assert first.headers["content-length"] == "5"
    assert first.headers["content-disposition"] == "attachment; filename=a.txt"
    second = api.get(f"/v1/message/received/{link}/attachments/1")
    assert second.content == b"umlaut"
    disposition = second.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=") and "/" not in disposition
    assert disposition.endswith("; filename*=UTF-8''%C3%BCber%20x.txt")
    assert api.get(f"/v1/message/received/{link}/attachments/2").content == b"\x00\x01\x02"
    assert api.get(f"/v1/message/received/{link}/attachments/0").content == b"alpha"
    # The sender can download from its sent view.
    assert pair.a.api.get(f"/v1/message/sent/{link}/attachments/2").content == b"\x00\x01\x02"
    refused(api.get(f"/v1/message/received/{link}/attachments/3"), 404)
    refused(api.get(f"/v1/message/received/{link}/attachments/99"), 404)
    not_found(pair.a.api.get(f"/v1/message/received/{link}/attachments"), link)
    not_found(api.get(f"/v1/message/sent/{link}/attachments"), link)
    refused(api.get(f"/v1/message/queued/{link}/attachments"), 404)


def test_attachment_index_must_be_a_decimal_integer(pair: Pair) -> None:
    link = pair.send_many([("a.txt", b"a"), ("b.txt", b"b")])
    assert pair.b.api.get(f"/v1/message/received/{link}/attachments/01").content == b"b"
    # "x", negative, fractional, hex, signed; superscript two, fullwidth one and Arabic-Indic one
    # are Unicode digits but not integers.
    for bad in ("x", "-1", "1.0", "0x1", "+1", "%C2%B2", "%EF%BC%91", "%D9%A1"):
        r = pair.b.api.get(f"/v1/message/received/{link}/attachments/{bad}")
        assert r.status_code == 400, (bad, r.status_code, r.text)
        refused(r, 400)


def test_attachments_all_zip(pair: Pair) -> None:
    files = [("z.txt", b"last letter"), ("a.txt", b"first letter"), ("m.txt", b"")]
    link = pair.send_many(files)
    for api, kind in ((pair.b.api, "received"), (pair.a.api, "sent")):
        r = api.get(f"/v1/message/{kind}/{link}/attachments/all")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["content-disposition"] == f"attachment; filename={link}.zip"
        with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
            assert zf.namelist() == ["z.txt", "a.txt", "m.txt"]
            assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
            assert [zf.read(n) for n in zf.namelist()] == [d for _, d in files]


def test_zip_entry_names_are_sanitized(pair: Pair) -> None:
    """Names the APIs refuse today can still be in the store (older versions, imports)."""

    async def inject(store: Any) -> str:
        from relaybox.store.base import NewMessage

        blob = store.new_blob()
        await blob.write(b"odd")
        now = time.time()
        new = NewMessage(pair.b.route, pair.a.route, "odd-1", "dir/sub\\x\x01y.txt", False, "normal", now, now + 600)
        return str((await store.add_message(new, blob)).message.link)

    link = pair.srv._store_call(inject)
    r = pair.b.api.get(f"/v1/message/received/{link}/attachments/all")
    assert unzip(r.content) == {"dir_sub_x_y.txt": b"odd"}
    r = pair.b.api.post("/v1/message/received/batch/attachments", json=[link])
    assert unzip(r.content) == {f"{link}/dir_sub_x_y.txt": b"odd"}


def test_mark_as_read_on_downloads(pair: Pair) -> None:
    plain, marked, zipped = pair.send(), pair.send(), pair.send()
    pair.b.api.get(f"/v1/message/received/{plain}/attachments")
    pair.b.api.get(f"/v1/message/received/{marked}/attachments/0", params={"markAsRead": "true"})
    pair.b.api.get(f"/v1/message/received/{zipped}/attachments/all", params={"markAsRead": "1"})
    assert ids(pair.b.api, "received", unreadOnly="true") == [plain]


def test_batch_download(pair: Pair) -> None:
    m1 = pair.send_many([("a.txt", b"one-a"), ("b.txt", b"one-b")])
    m2 = pair.send(b"two", "two.txt")
    foreign = pair.account()
    r = pair.b.api.post("/v1/message/received/batch/attachments", json=[m2, "unknown-id", m1])
    assert r.status_code == 200
    assert "x-batch-truncation-index" not in r.headers
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"] == "attachment; filename=batch.zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        files = [n for n in zf.namelist() if not n.endswith("/")]
        assert files == [f"{m2}/two.txt", "unknown-id/.error", f"{m1}/a.txt", f"{m1}/b.txt"]
        assert zf.read("unknown-id/.error").decode("utf-8") == "Message unknown-id not found"
        assert zf.read(f"{m1}/b.txt") == b"one-b"
    # Another account's batch: every id is an error.
    assert unzip(foreign.post("/v1/message/received/batch/attachments", json=[m1]).content) == {
        f"{m1}/.error": f"Message {m1} not found".encode()
    }
    assert ids(pair.b.api, "received", unreadOnly="true") == [m2, m1]
    pair.b.api.post("/v1/message/received/batch/attachments", params={"markAsRead": "true"}, json=[m1])
    assert ids(pair.b.api, "received", unreadOnly="true") == [m2]


def test_batch_request_rules(pair: Pair) -> None:
    link = pair.send()
    url = "/v1/message/received/batch/attachments"
    for body in ([f"id{i}" for i in range(101)], [link, link], [], [""], ["a/b"], [1], {"ids": [link]}, "x" * 129):
        refused(pair.b.api.post(url, json=body), 400)
    refused(pair.b.api.post(url, json=["x" * 129]), 400)
    refused(pair.b.api.post(url, content=b"not json"), 400)
    ok = pair.b.api.post(url, json=[f"id{i}" for i in range(99)] + [link])
    assert ok.status_code == 200 and len(unzip(ok.content)) == 100


def test_batch_truncation(provisioner: Any, limited_server: ServerProcess) -> None:
    p = provisioner(limited_server)  # V1_BATCH_MAX_BYTES=35
    m0 = p.send_many([("a", b"a" * 10), ("b", b"b" * 10)])
    m1 = p.send_many([("c", b"c" * 10), ("d", b"d" * 10), ("e", b"e" * 10)])
    m2 = p.send(b"f", "f")
    url = "/v1/message/received/batch/attachments"
    r = p.b.api.post(url, params={"markAsRead": "true"}, json=["nope", m0, m1, m2])
    assert r.status_code == 206
    assert r.headers["x-batch-truncation-index"] == "(2,0)"
    assert unzip(r.content) == {
        "nope/.error": b"Message nope not found",
        f"{m0}/a": b"a" * 10,
        f"{m0}/b": b"b" * 10,
        f"{m1}/c": b"c" * 10,
    }
    # Only the fully archived message is marked read.
    assert ids(p.b.api, "received", unreadOnly="true") == [m2, m1]
    # Exactly at the cap is not over it.
    exact = p.send_many([("x", b"x" * 30), ("y", b"y" * 5)])
    r = p.b.api.post(url, json=[exact])
    assert r.status_code == 200 and "x-batch-truncation-index" not in r.headers
    assert len(unzip(r.content)) == 2


def test_batch_truncation_before_any_attachment(provisioner: Any, limited_server: ServerProcess) -> None:
    p = provisioner(limited_server)
    big = p.send(b"z" * 36, "big.bin")
    small = p.send(b"s", "small.bin")
    r = p.b.api.post("/v1/message/received/batch/attachments", params={"markAsRead": "true"}, json=[big, small])
    assert r.status_code == 206
    assert r.headers["x-batch-truncation-index"] == "(-1,-1)"
    assert unzip(r.content) == {}
    assert ids(p.b.api, "received", unreadOnly="true") == [small, big]
    assert one(p.a.api, "sent", big)["mdnStatus"] == "Pending"  # no bytes served, no receipt


def receipt_key(http: httpx.Client) -> dict[str, Any]:
    r = http.get("/v1/receipt-key")  # no token needed
    assert r.status_code == 200
    key: dict[str, Any] = r.json()
    assert key["algorithm"] == "Ed25519"
    raw = base64.b64decode(key["publicKey"])
    assert len(raw) == 32 and key["keyId"] == hashlib.sha256(raw).hexdigest()[:16]
    return key


def verify(key: dict[str, Any], doc: dict[str, Any]) -> None:
    """The spec's third-party check, verbatim."""
    signed = json.dumps(doc["receipt"], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    Ed25519PublicKey.from_public_bytes(base64.b64decode(key["publicKey"])).verify(
        base64.b64decode(doc["signature"]), signed
    )


def fetch_receipt(api: Api, kind: str, link: str) -> bytes:
    r = api.get(f"/v1/message/{kind}/{link}/mdn")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["content-disposition"] == f'attachment; filename="{link}.receipt.json"'
    return r.content


def check_receipt(p: Pair, link: str, files: list[tuple[str, bytes]], sender_message_id: str) -> dict[str, Any]:
    """Both sides see the same verified receipt, and the entities agree with it."""
    document = fetch_receipt(p.b.api, "received", link)
    assert fetch_receipt(p.a.api, "sent", link) == document
    doc = json.loads(document)
    assert set(doc) == {"receipt", "signature"}
    key = receipt_key(p.http)
    verify(key, doc)
    receipt = doc["receipt"]
    stamp = receipt.pop("timestamp")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    assert receipt == {
        "version": 1,
        "keyId": key["keyId"],
        "messageId": link,
        "senderMessageId": sender_message_id,
        "senderId": p.a.route,
        "receiverId": p.b.route,
        "attachments": [
            {"index": i, "name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
            for i, (n, d) in enumerate(files)
        ],
        "disposition": "processed",
    }
    for api, kind in ((p.a.api, "sent"), (p.b.api, "received")):
        entity = one(api, kind, link)
        assert entity["mdnStatus"] == "Received"
        mdn = entity["mdnMessage"]
        at = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
        assert abs(mdn.pop("persistedTimestamp") - round(at * 1000)) <= 1
        assert mdn == {
            "mdnError": False,
            "content": f"Message {link} from {p.a.route} to {p.b.route} was downloaded by the receiver at {stamp}; "
            f"SHA-256 of {len(files)} attachment(s) recorded.",
        }
    return doc


def test_receipt_recorded_on_first_v1_download(pair: Pair) -> None:
    files = [("a.txt", b"alpha"), ("b.txt", b"bravo")]
    link = pair.send_many(files)
    for api, kind in ((pair.a.api, "sent"), (pair.b.api, "received")):
        entity = one(api, kind, link)
        assert entity["mdnStatus"] == "Pending" and "mdnMessage" not in entity
        refused(api.get(f"/v1/message/{kind}/{link}/mdn"), 404)
    # The sender's own downloads never record one.
    pair.a.api.get(f"/v1/message/sent/{link}/attachments")
    pair.a.api.get(f"/v1/message/sent/{link}/attachments/all")
    assert one(pair.a.api, "sent", link)["mdnStatus"] == "Pending"
    refused(pair.a.api.get(f"/v1/message/sent/{link}/mdn"), 404)
    # The receiver's first download of one attachment records it, covering both.
    assert pair.b.api.get(f"/v1/message/received/{link}/attachments/1").status_code == 200
    check_receipt(pair, link, files, link)
    first = fetch_receipt(pair.b.api, "received", link)
    before = one(pair.a.api, "sent", link)["mdnMessage"]
    pair.b.api.get(f"/v1/message/received/{link}/attachments/all")
    pair.b.api.post("/v1/message/received/batch/attachments", json=[link])
    assert fetch_receipt(pair.a.api, "sent", link) == first
    assert one(pair.a.api, "sent", link)["mdnMessage"] == before
    # Nobody else's account sees it.
    refused(pair.account().get(f"/v1/message/sent/{link}/mdn"), 404)


def test_receipt_recorded_on_first_1_download(pair: Pair) -> None:
    link = pair.send(b"via route api", "r.txt")
    got = pair.http.get(f"/1/get-message/{link}", headers=pair.b.signer.receive())
    assert got.status_code == 200 and got.content == b"via route api"
    check_receipt(pair, link, [("r.txt", b"via route api")], link)


def test_receipt_recorded_by_batch_and_zip_downloads(pair: Pair) -> None:
    by_batch, by_zip = pair.send(b"b", "b.txt"), pair.send(b"z", "z.txt")
    pair.b.api.post("/v1/message/received/batch/attachments", json=[by_batch])
    pair.b.api.get(f"/v1/message/received/{by_zip}/attachments/all")
    check_receipt(pair, by_batch, [("b.txt", b"b")], by_batch)
    check_receipt(pair, by_zip, [("z.txt", b"z")], by_zip)


def test_tampered_receipt_fails_verification(pair: Pair) -> None:
    link = pair.send(b"genuine", "g.txt")
    pair.b.api.get(f"/v1/message/received/{link}/attachments")
    doc = json.loads(fetch_receipt(pair.a.api, "sent", link))
    key = receipt_key(pair.http)
    verify(key, doc)
    forged = json.loads(json.dumps(doc))
    forged["receipt"]["attachments"][0]["sha256"] = hashlib.sha256(b"forged").hexdigest()
    with pytest.raises(InvalidSignature):
        verify(key, forged)
    forged = json.loads(json.dumps(doc))
    forged["receipt"]["receiverId"] = pair.a.route
    with pytest.raises(InvalidSignature):
        verify(key, forged)
    signature = bytearray(base64.b64decode(doc["signature"]))
    signature[0] ^= 1
    with pytest.raises(InvalidSignature):
        verify(key, {**doc, "signature": base64.b64encode(bytes(signature)).decode()})


def test_receipt_not_requested(make_pair: Any) -> None:
    p = make_pair(ab={"requestMdn": False})
    link = p.send()
    p.b.api.get(f"/v1/message/received/{link}/attachments")
    p.http.get(f"/1/get-message/{link}", headers=p.b.signer.receive())
    for api, kind in ((p.a.api, "sent"), (p.b.api, "received")):
        entity = one(api, kind, link)
        assert entity["mdnStatus"] == "Not Requested" and "mdnMessage" not in entity
        refused(api.get(f"/v1/message/{kind}/{link}/mdn"), 404)


# == 8 Retry control =====================================================================================
def test_paused_outgoing_stop_retry_and_release(make_pair: Any) -> None:
    p = make_pair(ab={"pauseOutgoing": True})
    link = p.send(b"held", "held.txt")
    record = one(p.a.api, "queued", link)
    assert (record["state"], record["deliveryStatus"]) == ("queued", "No Status")
    assert ids(p.a.api, "sent") == [] and ids(p.b.api, "received") == []
    assert p.http.get("/1/list-messages", headers=p.b.signer.receive()).json() == []
    for _ in range(2):
        r = p.a.api.post(f"/v1/message/queued/{link}/stop")
        assert r.status_code == 200
        assert r.json() == {"message": f"Successfully stopped retrying AS2 message with ID {link}"}
        assert one(p.a.api, "queued", link)["state"] == "stopped"
    assert ids(p.a.api, "queued") == [link]
    r = p.a.api.post(f"/v1/message/queued/{link}/retry")
    assert r.status_code == 200
    assert r.json() == {"message": f"Successfully started retrying AS2 message with ID {link}"}
    assert one(p.a.api, "queued", link)["state"] == "queued"  # still paused
    r = p.a.api.put(f"/v1/partner/{p.a.partner_id}", json={"pauseOutgoing": False})
    assert r.status_code == 200 and r.json()["pauseOutgoing"] is False
    # Delivered within that request.
    assert ids(p.a.api, "queued") == []
    sent = one(p.a.api, "sent", link)
    assert (sent["state"], sent["deliveryStatus"], sent["transportStatusReceived"]) == ("sent", "Delivered", 200)
    assert sent["expiryTimestamp"] == record["expiryTimestamp"]  # expiry runs from submission
    assert ids(p.b.api, "received") == [link]
    [entry] = p.http.get("/1/list-messages", headers=p.b.signer.receive()).json()
    assert entry["link"] == link
    for action in ("stop", "retry"):
        not_found(p.a.api.post(f"/v1/message/queued/{link}/{action}"), link)
        not_found(p.a.api.post(f"/v1/message/queued/unknown-id/{action}"), "unknown-id")
        not_found(p.b.api.post(f"/v1/message/queued/{link}/{action}"), link)


def test_stopped_messages_wait_for_retry(make_pair: Any) -> None:
    p = make_pair(ab={"pauseOutgoing": True})
    stopped, queued = p.send(), p.send()
    p.a.api.post(f"/v1/message/queued/{stopped}/stop")
    not_found(p.b.api.post(f"/v1/message/queued/{queued}/stop"), queued)  # not bravo's to stop
    r = p.a.api.put(f"/v1/partner/{p.a.partner_id}", json={"pauseOutgoing": False})
    assert r.status_code == 200
    assert ids(p.b.api, "received") == [queued]
    assert one(p.a.api, "queued", stopped)["state"] == "stopped"
    p.a.api.post(f"/v1/message/queued/{stopped}/retry")  # a local, unpaused partner gets it at once
    assert ids(p.b.api, "received") == [stopped, queued]
    assert ids(p.a.api, "queued") == []


def test_retry_after_the_receiving_route_is_removed(make_pair: Any) -> None:
    p = make_pair(ab={"pauseOutgoing": True})
    link = p.send(b"orphan", "o.txt")
    p.a.api.post(f"/v1/message/queued/{link}/stop")
    assert p.a.api.put(f"/v1/partner/{p.a.partner_id}", json={"pauseOutgoing": False}).status_code == 200
    assert one(p.a.api, "queued", link)["state"] == "stopped"
    assert p.srv._store_call(lambda s: s.remove_route(p.b.route))
    r = p.a.api.post(f"/v1/message/queued/{link}/retry")
    assert r.status_code == 200, r.text
    assert one(p.a.api, "queued", link)["state"] == "stopped"
    listed = page(p.a.api, "failed")
    assert listed["totalRecords"] == 1
    failure = listed["records"][0]
    assert failure["as2MessageId"] == link
    assert (failure["transportStatusReceived"], failure["deliveryStatus"], failure["state"]) == (
        404,
        "Not Delivered",
        "failed",
    )
    assert failure["attachments"] == [{"name": "o.txt", "size": 6}]
    assert one(p.a.api, "failed", link) == failure
    # Each attempt adds an entry; the single view is the latest.
    p.a.api.post(f"/v1/message/queued/{link}/retry")
    again = page(p.a.api, "failed")
    assert again["totalRecords"] == 2 and [m["as2MessageId"] for m in again["records"]] == [link, link]
    assert one(p.a.api, "failed", link)["persistedTimestamp"] == again["records"][0]["persistedTimestamp"]
    assert ids(p.a.api, "failed", sortDir="asc") == [link, link]
    r = p.a.api.delete(f"/v1/message/failed/{link}")
    assert r.status_code == 200 and r.json() == {"message": f"Deleted message {link}"}
    assert page(p.a.api, "failed")["totalRecords"] == 0
    assert one(p.a.api, "queued", link)["state"] == "stopped"  # the message itself stays


# == 9 Delete ============================================================================================
def test_delete_received(pair: Pair) -> None:
    link = pair.send()
    team = pair.account(pair.b.route)
    r = pair.b.api.delete(f"/v1/message/received/{link}")
    assert r.status_code == 200 and r.json() == {"message": f"Deleted message {link}"}
    assert ids(pair.b.api, "received") == [] and ids(team, "received") == []
    not_found(team.get(f"/v1/message/received/{link}"), link)
    assert pair.http.get("/1/list-messages", headers=pair.b.signer.receive()).json() == []
    got = pair.http.get(f"/1/get-message/{link}", headers=pair.b.signer.receive())
    assert (got.status_code, error_code(got)) == (404, 301)
    assert ids(pair.a.api, "sent") == [link]  # the sender's view stays
    not_found(pair.b.api.delete(f"/v1/message/received/{link}"), link)
    not_found(pair.a.api.delete(f"/v1/message/received/{link}"), link)


def test_delete_sent_keeps_the_receivers_copy(pair: Pair) -> None:
    link = pair.send()
    not_found(pair.b.api.delete(f"/v1/message/sent/{link}"), link)
    r = pair.a.api.delete(f"/v1/message/sent/{link}")
    assert r.status_code == 200 and r.json() == {"message": f"Deleted message {link}"}
    assert ids(pair.a.api, "sent") == []
    not_found(pair.a.api.get(f"/v1/message/sent/{link}"), link)
    assert ids(pair.b.api, "received") == [link]
    assert pair.b.api.get(f"/v1/message/received/{link}/attachments").content == b"hello"
    assert pair.http.get(f"/1/get-message/{link}", headers=pair.b.signer.receive()).status_code == 200


def test_delete_queued_and_stopped(make_pair: Any) -> None:
    p = make_pair(ab={"pauseOutgoing": True})
    queued, stopped = p.send(), p.send()
    p.a.api.post(f"/v1/message/queued/{stopped}/stop")
    not_found(p.a.api.delete(f"/v1/message/stopped/{queued}"), queued)
    not_found(p.a.api.delete(f"/v1/message/queued/{stopped}"), stopped)
    not_found(p.a.api.delete(f"/v1/message/sent/{queued}"), queued)
    assert p.a.api.delete(f"/v1/message/queued/{queued}").json() == {"message": f"Deleted message {queued}"}
    assert p.a.api.delete(f"/v1/message/stopped/{stopped}").json() == {"message": f"Deleted message {stopped}"}
    assert ids(p.a.api, "queued") == []
    p.a.api.put(f"/v1/partner/{p.a.partner_id}", json={"pauseOutgoing": False})
    assert ids(p.b.api, "received") == [] and ids(p.a.api, "sent") == []  # never delivered


def test_bulk_delete(make_pair: Any) -> None:
    p = make_pair()
    m1, m2, m3 = p.send(), p.send(), p.send()
    r = p.b.api.delete("/v1/message/received", json=[m1, "unknown-id", m2, m1])
    assert r.status_code == 200 and r.json() == {"message": "Deleted 2 messages"}
    assert ids(p.b.api, "received") == [m3]
    assert p.b.api.delete("/v1/message/received", json=[m1, m2]).json() == {"message": "Deleted 0 messages"}
    assert p.b.api.delete("/v1/message/received", json=[m3]).json() == {"message": "Deleted 1 messages"}
    assert p.a.api.delete("/v1/message/sent", json=[m1, m2, m3]).json() == {"message": "Deleted 3 messages"}
    for body in ([f"id{i}" for i in range(101)], [], "x", [7]):
        refused(p.a.api.delete("/v1/message/sent", json=body), 400)
    refused(p.a.api.delete("/v1/message/everything", json=[m1]), 404)
    refused(p.a.api.delete(f"/v1/message/everything/{m1}"), 404)
    ok = p.a.api.delete("/v1/message/failed", json=[f"id{i}" for i in range(100)])
    assert ok.json() == {"message": "Deleted 0 messages"}


def test_bulk_delete_queued_stopped_failed(make_pair: Any) -> None:
    p = make_pair(ab={"pauseOutgoing": True})
    q1, q2, s1 = p.send(), p.send(), p.send()
    p.a.api.post(f"/v1/message/queued/{s1}/stop")
    assert p.a.api.delete("/v1/message/queued", json=[q1, q2, s1]).json() == {"message": "Deleted 2 messages"}
    assert p.a.api.delete("/v1/message/stopped", json=[q1, s1]).json() == {"message": "Deleted 1 messages"}
    assert ids(p.a.api, "queued") == []


def test_payload_purged_once_both_views_are_deleted(pair: Pair) -> None:
    before = payloads(pair.srv)
    link = pair.send_many([("a.txt", b"a"), ("b.txt", b"b")])
    assert payloads(pair.srv) == before + 2
    assert pair.b.api.delete(f"/v1/message/received/{link}").status_code == 200
    assert payloads(pair.srv) == before + 2
    assert pair.a.api.get(f"/v1/message/sent/{link}/attachments/1").content == b"b"
    assert pair.a.api.delete(f"/v1/message/sent/{link}").status_code == 200
    assert payloads(pair.srv) == before
    # An undelivered message has one view.
    pair.srv._store_call(lambda s: s.partners.update(pair.a.partner_id, {"pause_outgoing": True}))
    queued = pair.send()
    assert payloads(pair.srv) == before + 1
    pair.a.api.delete(f"/v1/message/queued/{queued}")
    assert payloads(pair.srv) == before
