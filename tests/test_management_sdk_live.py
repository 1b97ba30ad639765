"""The management SDK and CLI (``/v1``) against a real ``relaybox serve``, on both backends.

Accounts, stations and partners are made in-process, straight into the server's store
(``ServerProcess.add_account``, ``add_station``, ``add_partner``), with cheap argon2 parameters
that the server then verifies cheaply too; everything else goes through ``ManagementClient``,
``AsyncManagementClient`` or the client CLI (in-process, through click's runner).

Tests that look only at the messages they send share one pair of accounts per backend
(``shared_pair``); tests that count whole lists, or change partners, get a fresh ``pair``. The
two tests of settings share one more server per backend, which starts in the background as the
module begins (``tuned``) and is first needed by the last tests of the module.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from secrets import token_hex

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner, Result

from conftest import ServerProcess, _database
from relaybox.auth import passwords
from relaybox.cli.main import cli
from relaybox.client import (
    AsyncManagementClient,
    Client,
    InvalidReceipt,
    ManagementClient,
    ManagementError,
    Token,
    verify_receipt,
)

REQUEST_ID = re.compile(r"\d{14}-[0-9a-f]{16}")
DAY_MS = 86_400_000
#: What the ``tuned`` server changes: tokens live 2 s, a batch zip stops after 5 bytes of attachments.
TUNED = {"RELAYBOX_TOKEN_TTL": "2", "RELAYBOX_V1_BATCH_MAX_BYTES": "5"}


@dataclass
class Account:
    email: str
    password: str
    station: str  # a route, linked to the account
    secret: str  # the station route's secret, for the route API

    def client(self, server: ServerProcess) -> ManagementClient:
        return ManagementClient(server.url, username=self.email, password=self.password)

    def aclient(self, server: ServerProcess) -> AsyncManagementClient:
        return AsyncManagementClient(server.url, username=self.email, password=self.password)


def new_account(server: ServerProcess) -> Account:
    """An account with one station, a new route."""
    email, password = server.add_account()
    station, secret = server.add_station(email)
    assert secret is not None
    return Account(email, password, station, secret)


def new_pair(server: ServerProcess, partners: bool = True) -> tuple[Account, Account]:
    """Alice and Bob, one station each; Alice's station has Bob's as a (local) partner."""
    alice, bob = new_account(server), new_account(server)
    if partners:
        server.add_partner(alice.station, bob.station)
    return alice, bob


@pytest.fixture(scope="module", autouse=True)
def fast_hasher() -> Iterator[None]:
    """Accounts made here carry cheap argon2 parameters, so the server verifies them quickly too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        yield


@dataclass
class Tuned:
    """The ``TUNED`` server, an account on it, and that account's first token (issued as the
    server came up: expired by the time the last tests of the module run)."""

    server: ServerProcess
    alice: Account
    first_token: Token


@pytest.fixture(scope="module", autouse=True)
def tuned(
    shared_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory, fast_hasher: None
) -> Iterator[Callable[[], Tuned]]:
    """A server of the module's backend with the ``TUNED`` settings. A start costs seconds, so it
    starts in the background as the module begins; ``tuned()`` waits for it."""
    with _database(shared_server.backend) as url, ThreadPoolExecutor(1) as pool:
        server = ServerProcess(tmp_path_factory.mktemp("tuned") / "data", TUNED, url)
        alice = new_account(server)  # straight into the store, before the server runs

        def start() -> Tuned:
            # No store calls in this thread: alembic's migration context is process-global.
            server.start()
            with alice.client(server) as mc:
                return Tuned(server, alice, mc.authorize())

        started = pool.submit(start)
        try:
            yield started.result
        finally:
            pool.shutdown(wait=True)  # a start still under way finishes before the stop
            server.stop()


@pytest.fixture
def server(shared_server: ServerProcess) -> ServerProcess:
    """Accounts, stations and routes are unique per test, so one server per session and backend
    serves every test but those of settings (``tuned``)."""
    return shared_server


@pytest.fixture(scope="module")
def shared_pair(shared_server: ServerProcess) -> tuple[Account, Account]:
    """One Alice and Bob for the tests that look only at the messages they send themselves."""
    return new_pair(shared_server)


@pytest.fixture
def pair(server: ServerProcess) -> tuple[Account, Account]:
    """A fresh Alice and Bob, for tests that count whole lists or change their partners."""
    return new_pair(server)


def zip_entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}


def raises(status: int, call: Callable[[], object]) -> ManagementError:
    with pytest.raises(ManagementError) as info:
        call()
    assert info.value.status == status, (info.value.status, info.value.message)
    assert REQUEST_ID.fullmatch(info.value.request_id or ""), info.value.request_id
    return info.value


# -- authentication and stations ---------------------------------------------------------------


def test_authorize_stations_and_refusals(server: ServerProcess, shared_pair: tuple[Account, Account]) -> None:
    alice, bob = shared_pair
    with alice.client(server) as mc:
        token = mc.authorize()
        now_ms = time.time() * 1000
        assert abs(token.expiry_ms - (now_ms + DAY_MS)) < 120_000
        [station] = mc.stations()
        assert (station.as2_identifier, station.name, station.email) == (alice.station, alice.station, alice.email)
        assert mc.stations(query=alice.station[:5].upper())[0].as2_identifier == alice.station
        assert mc.stations(query="no-such-thing") == []
        raises(403, lambda: mc.received(station=bob.station))
        raises(403, lambda: mc.send(bob.station, alice.station, ("a.txt", b"x")))
        assert raises(404, lambda: mc.get_sent("noSuchMessage")).message == "Message noSuchMessage not found"

    with ManagementClient(server.url, token=token.token) as by_token:
        assert [s.as2_identifier for s in by_token.stations()] == [alice.station]

    for user, password in ((alice.email, "wrong-password"), ("nobody@example.com", alice.password)):
        with ManagementClient(server.url) as anonymous:
            error = raises(401, lambda u=user, p=password: anonymous.authorize(u, p))
            assert error.message == "Invalid username or password"
    with ManagementClient(server.url, token="not-a-token") as bad:
        raises(401, bad.stations)
    # The email is case-insensitive.
    with ManagementClient(server.url, username=alice.email.upper(), password=alice.password) as upper:
        assert len(upper.stations()) == 1


def test_rate_limit_answers_429_with_retry_after(server: ServerProcess, shared_pair: tuple[Account, Account]) -> None:
    alice, _ = shared_pair
    with alice.client(server) as mc:
        mc.authorize()  # a new token: a budget of its own, 50 requests per 10 s
        for _ in range(50):
            mc.stations()
        error = raises(429, mc.stations)
        assert error.message == "Rate limit exceeded" and error.retry_after is not None and error.retry_after >= 1
        assert mc.receipt_key()["algorithm"] == "Ed25519"  # not counted


# -- sending, lists, read state -----------------------------------------------------------------


def test_local_send_is_delivered_at_once_and_read_state_is_per_account(
    server: ServerProcess, pair: tuple[Account, Account], tmp_path: Path
) -> None:
    alice, bob = pair
    files = [("a.txt", b"one"), ("b.txt", b"four")]
    with alice.client(server) as a, bob.client(server) as b:
        sent = a.send(alice.station, bob.station, files, subject="Invoices")
        assert sent.message == "Successfully added a new outbound entry"
        assert sent.link == f"{server.url}/v1/message/sent/{sent.message_id}"

        page = a.sent()
        assert page.total_records == 1
        [mine] = page.records
        assert (mine.as2_message_id, mine.message_id, mine.subject) == (sent.message_id, sent.message_id, "Invoices")
        assert (mine.sender_id, mine.receiver_id, mine.partner_type) == (alice.station, bob.station, "Production")
        assert (mine.state, mine.delivery_status, mine.transport_status_received) == ("sent", "Delivered", 200)
        assert mine.mdn_status == "Pending" and mine.read is None
        assert [(x.name, x.size) for x in mine.attachments] == [("a.txt", 3), ("b.txt", 4)]
        assert (mine.compressed, mine.encrypted, mine.signed) == (False, False, False)
        assert mine.persisted_timestamp is not None and abs(mine.persisted_timestamp - time.time() * 1000) < 60_000
        assert (
            mine.expiry_timestamp is not None
            and abs(mine.expiry_timestamp - mine.persisted_timestamp - DAY_MS) < 60_000
        )
        assert a.get_sent(sent.message_id) == mine
        raises(404, lambda: a.get_queued(sent.message_id))
        assert a.received().total_records == 0

        [theirs] = b.received().records
        assert theirs.as2_message_id == sent.message_id and theirs.read is False
        assert theirs.state is None and theirs.delivery_status is None and "state" not in theirs.raw
        assert b.get_received(sent.message_id, mark_as_read=True).read is True
        assert b.received(unread_only=True).total_records == 0
        assert b.received().records[0].read is True
        assert b.mark_unread(sent.message_id) == f"Successfully marked message {sent.message_id} as unread"
        assert b.received(unread_only=True).total_records == 1

        assert b.attachment("received", sent.message_id) == b"one"
        assert b.attachment("received", sent.message_id, 1) == b"four"
        assert a.attachment("sent", sent.message_id, 1) == b"four"
        raises(404, lambda: b.attachment("received", sent.message_id, 2))
        got = b.download_attachment("received", sent.message_id, 1, tmp_path / "x")
        assert (got.file_name, got.size, (tmp_path / "x").read_bytes()) == ("b.txt", 4, b"four")
        zipped = b.attachments_zip("received", sent.message_id)
        assert list(zip_entries(zipped).items()) == [("a.txt", b"one"), ("b.txt", b"four")]
        whole = b.download_attachment("received", sent.message_id, "all", tmp_path / "z")
        assert whole.file_name == f"{sent.message_id}.zip"

    # Cross-API: the message is in Bob's route-API mailbox at once, all attachments counted.
    with Client(server.url, bob.station, bob.secret) as route:
        [info] = route.list()
        assert info.link == sent.message_id and info.from_route == alice.station and info.attachment_count == 2


def test_raw_and_multipart_sends_keep_names_and_bytes(
    server: ServerProcess, shared_pair: tuple[Account, Account], tmp_path: Path
) -> None:
    alice, bob = shared_pair
    data = os.urandom(200_000)
    src = tmp_path / "größe.bin"
    src.write_bytes(data)
    with alice.client(server) as a, bob.client(server) as b:
        before = a.sent().total_records
        one = a.send(alice.station, bob.station, src)
        two = a.send(alice.station, bob.station, [("x.bin", data), ("y.txt", b"")])
        assert [x.name for x in b.get_received(one.message_id).attachments] == ["größe.bin"]
        assert b.attachment("received", one.message_id) == data
        assert [(x.name, x.size) for x in b.get_received(two.message_id).attachments] == [
            ("x.bin", 200_000),
            ("y.txt", 0),
        ]
        assert b.attachment("received", two.message_id, 1) == b""
        raises(400, lambda: a.send(alice.station, bob.station, [("same", b"1"), ("same", b"2")]))
        raises(400, lambda: a.send(alice.station, bob.station, ("..", b"1")))
        raises(404, lambda: a.send(alice.station, bob.station, ("a", b"1"), partner_type="test"))
        raises(404, lambda: a.send(alice.station, "stranger@nowhere01", ("a", b"1")))
        error = raises(413, lambda: a.send(alice.station, bob.station, [(f"f{i}", b"x") for i in range(11)]))
        assert error.message
        assert a.sent().total_records == before + 2  # the refused sends left nothing


def test_lists_page_sort_and_filter(server: ServerProcess, pair: tuple[Account, Account]) -> None:
    alice, bob = pair
    with alice.client(server) as a:
        ids = [a.send(alice.station, bob.station, ("f.txt", b"x"), subject=s).message_id for s in ("s1", "S2", "s3")]
        page = a.sent(page_length=2)
        assert page.total_records == 3 and [m.subject for m in page.records] == ["s3", "S2"]
        assert [m.subject for m in a.sent(page_length=2, page_offset=1).records] == ["s1"]
        past = a.sent(page_length=2, page_offset=5)
        assert past.total_records == 3 and past.records == []
        # Code point order: "S2" < "s1" < "s3".
        assert [m.subject for m in a.sent(sort_col="subject", sort_dir="asc").records] == ["S2", "s1", "s3"]
        assert [m.as2_message_id for m in a.sent(sort_dir="asc").records] == ids
        assert [m.subject for m in a.sent(subject="s2").records] == ["S2"]
        assert [m.as2_message_id for m in a.sent(message_id=ids[1]).records] == [ids[1]]
        assert a.sent(partner=bob.station, station=alice.station).total_records == 3
        assert a.sent(partner=alice.station).total_records == 0
        assert a.sent(partner_type="test").total_records == 0
        assert [m.as2_message_id for m in a.iter_messages("sent", page_length=1, sort_dir="asc")] == ids
        for bad in ({"page_length": 0}, {"page_length": 101}, {"page_offset": -1}, {"sort_col": "size"}):
            assert raises(400, lambda kw=bad: a.sent(**kw)).message
        assert a.failed().total_records == 0 and a.queued().total_records == 0


# -- receipts ------------------------------------------------------------------------------------


def test_receipt_is_recorded_on_the_receivers_first_download_and_verifies(
    server: ServerProcess, shared_pair: tuple[Account, Account]
) -> None:
    alice, bob = shared_pair
    data = b"signed for"
    with alice.client(server) as a, bob.client(server) as b:
        msg = a.send(alice.station, bob.station, ("r.txt", data)).message_id
        raises(404, lambda: a.receipt("sent", msg))
        a.attachment("sent", msg)  # the sender's own download records nothing
        assert a.get_sent(msg).mdn_status == "Pending"
        b.attachment("received", msg)
        mine = a.get_sent(msg)
        assert mine.mdn_status == "Received" and mine.mdn_message is not None
        assert mine.mdn_message.mdn_error is False
        assert (mine.mdn_message.content or "").startswith(
            f"Message {msg} from {alice.station} to {bob.station} was downloaded by the receiver at "
        )
        doc = a.receipt("sent", msg)
        assert b.receipt("received", msg) == doc
        b.attachment("received", msg)
        assert a.receipt("sent", msg) == doc  # later downloads change nothing
        key = a.receipt_key()
    with ManagementClient(server.url) as anonymous:
        assert anonymous.receipt_key() == key
    assert key["algorithm"] == "Ed25519" and key["pem"].startswith("-----BEGIN PUBLIC KEY-----")
    receipt = verify_receipt(doc, key, attachments=[data], message_id=msg)
    assert (receipt["senderId"], receipt["receiverId"], receipt["disposition"]) == (
        alice.station,
        bob.station,
        "processed",
    )
    assert receipt["attachments"][0]["name"] == "r.txt" and receipt["attachments"][0]["size"] == len(data)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", receipt["timestamp"])
    forged = json.loads(json.dumps(doc))
    forged["receipt"]["receiverId"] = alice.station
    with pytest.raises(InvalidReceipt):
        verify_receipt(forged, key)
    with pytest.raises(InvalidReceipt):
        verify_receipt(doc, key, attachments=[b"other bytes"])


def test_partner_without_receipts_and_of_type_test(server: ServerProcess, pair: tuple[Account, Account]) -> None:
    alice, bob = pair
    with alice.client(server) as a, bob.client(server) as b:
        a.create_partner(alice.station, bob.station, partner_type="test", request_mdn=False)
        msg = a.send(alice.station, bob.station, ("t.txt", b"t"), partner_type="test").message_id
        assert a.sent().total_records == 0
        [mine] = a.sent(partner_type="test").records
        assert mine.partner_type == "Test" and mine.mdn_status == "Not Requested"
        # Bob has no partner record for Alice: his view is Production.
        assert b.get_received(msg).partner_type == "Production"
        b.attachment("received", msg)
        assert a.get_sent(msg).mdn_status == "Not Requested"
        raises(404, lambda: a.receipt("sent", msg))


# -- queue control, pauses, deletion --------------------------------------------------------------


def test_remote_partner_queue_stop_retry_delete(server: ServerProcess, pair: tuple[Account, Account]) -> None:
    alice, _ = pair
    remote = f"far{token_hex(3)}@remote01"
    with alice.client(server) as a:
        partner = a.create_partner(alice.station, remote, uri="https://as2.example.invalid/receive")
        assert partner.uri == "https://as2.example.invalid/receive"
        msg = a.send(alice.station, remote, ("q.txt", b"q")).message_id
        assert a.sent().total_records == 0
        [queued] = a.queued().records
        assert (queued.as2_message_id, queued.state, queued.delivery_status) == (msg, "queued", "No Status")
        assert queued.transport_status_received is None and "transportStatusReceived" not in queued.raw
        assert [m.as2_message_id for m in a.queued(query=msg).records] == [msg]
        assert a.queued(query=remote).total_records == 1
        assert a.queued(query="nothing-like-it").total_records == 0
        raises(404, lambda: a.get_sent(msg))

        assert a.stop(msg) == f"Successfully stopped retrying AS2 message with ID {msg}"
        assert a.stop(msg) == f"Successfully stopped retrying AS2 message with ID {msg}"
        assert a.get_queued(msg).state == "stopped"
        assert a.retry(msg) == f"Successfully started retrying AS2 message with ID {msg}"
        assert a.get_queued(msg).state == "queued"

        raises(404, lambda: a.delete("sent", msg))
        assert a.delete("queued", msg) == f"Deleted message {msg}"
        raises(404, lambda: a.get_queued(msg))
        raises(404, lambda: a.stop(msg))

        second = a.send(alice.station, remote, ("q.txt", b"q")).message_id
        a.stop(second)
        assert a.delete_many("stopped", [second, "unknownId1"]) == 1
        assert a.queued().total_records == 0
        raises(400, lambda: a.delete_many("queued", []))
        with pytest.raises(ValueError):  # refused before any request
            a.delete("inbox", second)  # type: ignore[arg-type]


def test_pause_outgoing_queues_until_cleared_and_pause_incoming_refuses(
    server: ServerProcess, pair: tuple[Account, Account]
) -> None:
    alice, bob = pair
    with alice.client(server) as a, bob.client(server) as b:
        [partner] = a.partners()
        paused = a.update_partner(partner.partner_id, pause_outgoing=True)
        assert paused.pause_outgoing is True and paused.name == bob.station
        msg = a.send(alice.station, bob.station, ("p.txt", b"p")).message_id
        assert a.get_queued(msg).state == "queued" and b.received().total_records == 0
        a.update_partner(partner.partner_id, pause_outgoing=False)
        assert a.get_sent(msg).state == "sent"
        assert [m.as2_message_id for m in b.received().records] == [msg]

        b.create_partner(bob.station, alice.station, pause_incoming=True)
        error = raises(409, lambda: a.send(alice.station, bob.station, ("p.txt", b"p")))
        assert error.message


def test_delete_views_and_bulk(server: ServerProcess, shared_pair: tuple[Account, Account]) -> None:
    alice, bob = shared_pair
    with alice.client(server) as a, bob.client(server) as b:
        one, two = (a.send(alice.station, bob.station, ("d.txt", b"d")).message_id for _ in range(2))
        assert b.delete("received", one) == f"Deleted message {one}"
        raises(404, lambda: b.get_received(one))
        assert a.get_sent(one).as2_message_id == one  # the sender's view stays
        assert a.delete_many("sent", [one, two, "neverSent"]) == 2
        raises(404, lambda: a.get_sent(one))
        raises(404, lambda: a.get_sent(two))
        assert b.get_received(two).as2_message_id == two  # the receiver's copy stays
    with Client(server.url, bob.station, bob.secret) as route:
        links = [m.link for m in route.list()]
        assert two in links and one not in links


# -- batches -------------------------------------------------------------------------------------


def test_batch_download_with_an_unknown_id(server: ServerProcess, shared_pair: tuple[Account, Account]) -> None:
    alice, bob = shared_pair
    with alice.client(server) as a, bob.client(server) as b:
        one = a.send(alice.station, bob.station, [("a.txt", b"1"), ("b.txt", b"22")]).message_id
        two = a.send(alice.station, bob.station, ("c.txt", b"333")).message_id
        batch = b.batch_download([two, "unknownId", one], mark_as_read=True)
        assert not batch.partial and batch.truncation_index is None
        entries = zip_entries(batch.zip_bytes)
        assert list(entries) == [f"{two}/c.txt", "unknownId/.error", f"{one}/a.txt", f"{one}/b.txt"]
        assert entries["unknownId/.error"].decode() == "Message unknownId not found"
        assert b.get_received(one).read is True and b.get_received(two).read is True
        raises(400, lambda: b.batch_download([]))
        raises(400, lambda: b.batch_download([one, one]))
        raises(400, lambda: b.batch_download(["bad id"]))


# -- partners ------------------------------------------------------------------------------------


def test_partner_crud_and_ownership(server: ServerProcess) -> None:
    alice, bob = new_pair(server, partners=False)
    with alice.client(server) as a, bob.client(server) as b:
        existing = a.create_partner(alice.station, bob.station)
        assert a.partners() == [existing]
        assert (existing.station_as2_id, existing.as2_identifier, existing.name) == (
            alice.station,
            bob.station,
            bob.station,
        )
        assert (existing.description, existing.uri, existing.message_subject) == ("", None, None)
        assert (existing.custom_headers, existing.send_timeout, existing.partner_type) == ([], 60, "Production")
        assert (existing.request_mdn, existing.pause_incoming, existing.pause_outgoing) == (True, False, False)
        for key in ("partnerId", "stationAS2Id", "as2Identifier", "uri", "messageSubject", "customHeaders"):
            assert key in existing.raw

        raises(409, lambda: a.create_partner(alice.station, bob.station))
        raises(403, lambda: a.create_partner(bob.station, alice.station))
        raises(400, lambda: a.create_partner(alice.station, "not-here@nowhere01"))
        raises(400, lambda: a.create_partner(alice.station, bob.station, partner_type="test", send_timeout=0))

        test = a.create_partner(
            alice.station,
            bob.station,
            partner_type="test",
            name="Bravo (test)",
            description="QA",
            message_subject="From Alpha",
            custom_headers={"X-Trace": "1"},
            send_timeout=120,
            extra={"signCert": {"id": 3}, "partnerId": 999},  # seed fields are ignored
        )
        assert test.partner_id != 999 and test.partner_type == "Test" and test.custom_headers == [("X-Trace", "1")]
        assert "signCert" not in test.raw
        updated = a.update_partner(test.partner_id, description="QA 2")
        assert (updated.description, updated.name, updated.send_timeout) == ("QA 2", "Bravo (test)", 120)
        # Moving a partner to another station of one's own is a bad field; to a foreign one, 403 wins.
        other, _ = server.add_station(alice.email)
        raises(400, lambda: a.update_partner(test.partner_id, extra={"stationAS2Id": other}))
        raises(403, lambda: a.update_partner(test.partner_id, extra={"stationAS2Id": bob.station}))
        raises(409, lambda: a.update_partner(test.partner_id, partner_type="production"))
        assert a.partner(test.partner_id) == updated
        assert [p.partner_id for p in a.partners(query="bravo (")] == [test.partner_id]
        assert [p.partner_id for p in a.partners()] == sorted([existing.partner_id, test.partner_id])

        raises(404, lambda: b.partner(test.partner_id))
        raises(404, lambda: b.delete_partner(test.partner_id))
        assert a.delete_partner(test.partner_id) == f"Deleted partner {test.partner_id}"
        raises(404, lambda: a.partner(test.partner_id))

        # The partner's subject is the default subject of a send.
        a.update_partner(existing.partner_id, message_subject="Default subject")
        msg = a.send(alice.station, bob.station, ("s.txt", b"s")).message_id
        assert a.get_sent(msg).subject == "Default subject"


# -- the async client -----------------------------------------------------------------------------


async def test_async_client_round_trip(server: ServerProcess, pair: tuple[Account, Account], tmp_path: Path) -> None:
    alice, bob = pair
    async with alice.aclient(server) as a, bob.aclient(server) as b:
        sent = await a.send(alice.station, bob.station, [("a.txt", b"one"), ("b.txt", b"two")])
        assert [m.as2_message_id async for m in b.iter_messages("received")] == [sent.message_id]
        assert await b.attachment("received", sent.message_id, 1, mark_as_read=True) == b"two"
        assert (await b.get_received(sent.message_id)).read is True
        got = await b.download_attachment("received", sent.message_id, 0, tmp_path / "a")
        assert got.file_name == "a.txt" and (tmp_path / "a").read_bytes() == b"one"
        doc, key = await a.receipt("sent", sent.message_id), await a.receipt_key()
        verify_receipt(doc, key, attachments=[b"one", b"two"])


# -- the client CLI -------------------------------------------------------------------------------


def relaybox(*args: str, env: dict[str, str]) -> Result:
    """``relaybox ARGS`` in this process (click's runner: stdout and stderr apart)."""
    return CliRunner().invoke(cli, list(args), env=env)


def test_cli_login_inbox_outbox_download(server: ServerProcess, pair: tuple[Account, Account], tmp_path: Path) -> None:
    alice, bob = pair
    with alice.client(server) as a:
        msg = a.send(alice.station, bob.station, [("a.txt", b"one"), ("b.txt", b"two")], subject="CLI").message_id
    base = {"RELAYBOX_URL": server.url}
    bob_env = {**base, "RELAYBOX_USER": bob.email, "RELAYBOX_PASSWORD": bob.password}

    login = relaybox("login", "--json", env=bob_env)
    assert login.exit_code == 0, login.output
    issued = json.loads(login.stdout)
    assert set(issued) == {"token", "expiry"} and issued["expiry"] > time.time() * 1000
    plain = relaybox("login", env=bob_env)
    assert plain.exit_code == 0 and plain.stdout.strip().count(".") == 2  # a JWT
    token_env = {**base, "RELAYBOX_TOKEN": issued["token"]}

    listed = relaybox("inbox", "--json", env=token_env)
    assert listed.exit_code == 0, listed.output
    page = json.loads(listed.stdout)
    assert page["totalRecords"] == 1 and page["records"][0]["as2MessageId"] == msg
    table = relaybox("inbox", "--unread", env=bob_env)
    assert table.exit_code == 0 and msg in table.stdout and "a.txt, b.txt" in table.stdout and "CLI" in table.stdout

    out = tmp_path / "out"
    out.mkdir()
    one = relaybox("download", msg, "--index", "1", "--mark-read", "-o", str(out), env=token_env)
    assert one.exit_code == 0, one.output
    assert Path(one.stdout.strip()) == out / "b.txt" and (out / "b.txt").read_bytes() == b"two"
    zipped = relaybox("download", msg, "--all", "-o", str(out), env=token_env)
    assert zipped.exit_code == 0 and Path(zipped.stdout.strip()) == out / f"{msg}.zip"
    assert zip_entries((out / f"{msg}.zip").read_bytes()) == {"a.txt": b"one", "b.txt": b"two"}
    unread = relaybox("inbox", "--unread", "--json", env=token_env)
    assert json.loads(unread.stdout)["totalRecords"] == 0

    alice_env = {**base, "RELAYBOX_USER": alice.email, "RELAYBOX_PASSWORD": alice.password}
    outbox = relaybox("outbox", env=alice_env)
    assert outbox.exit_code == 0 and msg in outbox.stdout and "sent" in outbox.stdout
    assert json.loads(relaybox("outbox", "--queued", "--json", env=alice_env).stdout)["totalRecords"] == 0

    missing = relaybox("download", "noSuchMessage", env=token_env)
    assert missing.exit_code == 1 and "HTTP 404" in missing.stderr and "request-id" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    refused = relaybox("inbox", env={**bob_env, "RELAYBOX_PASSWORD": "wrong-password"})
    assert refused.exit_code == 1 and "Invalid username or password" in refused.stderr


# -- settings (the tuned server; last, so that it had time to start) -------------------------------


def test_batch_download_stops_at_the_cap(tuned: Callable[[], Tuned]) -> None:
    server = tuned().server  # V1_BATCH_MAX_BYTES=5
    alice, bob = new_pair(server)
    with alice.client(server) as a, bob.client(server) as b:
        one = a.send(alice.station, bob.station, ("a.txt", b"123")).message_id
        two = a.send(alice.station, bob.station, ("b.txt", b"456")).message_id
        batch = b.batch_download([one, two], mark_as_read=True)
        assert batch.partial and batch.truncation_index == (0, 0)
        assert list(zip_entries(batch.zip_bytes)) == [f"{one}/a.txt"]
        assert [m.as2_message_id for m in b.received(unread_only=True).records] == [two]
        big = a.send(alice.station, bob.station, ("c.txt", b"123456")).message_id
        nothing = b.batch_download([big])
        assert nothing.partial and nothing.truncation_index == (-1, -1)


def test_expired_token_is_renewed_by_a_client_with_credentials(tuned: Callable[[], Tuned]) -> None:
    setup = tuned()  # TOKEN_TTL=2
    server, alice, old = setup.server, setup.alice, setup.first_token
    time.sleep(max(0.0, old.expiry_ms / 1000 + 0.1 - time.time()))  # normally long past already
    with ManagementClient(server.url, token=old.token) as stale:
        raises(401, stale.stations)
    with ManagementClient(server.url, token=old.token, username=alice.email, password=alice.password) as renewing:
        assert [s.as2_identifier for s in renewing.stations()] == [alice.station]
        assert renewing.token != old.token
