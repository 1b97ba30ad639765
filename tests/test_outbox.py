"""The outbox workers in-process against real stores (SQLite and PostgreSQL) and a real HTTP
receiver, with the clock injected: the retry schedule, Retry-After, 410, timeouts, refused
connections, auto-disable, stop/retry, and two workers that never deliver an event twice.
(The same machinery through a live server: tests/test_webhooks.py.)"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import PgDatabase
from receiver import Answer, Received, Receiver
from relaybox.config import Settings
from relaybox.store import make_store
from relaybox.store.base import NewMessage, Store
from relaybox.store.views import ViewQuery
from relaybox.webhooks.delivery import Outbox
from relaybox.webhooks.signature import new_secret

T0 = 1_795_626_123.0
NOMINAL = [0, 10, 70, 370, 2170, 5770, 12970, 27370, 56170, 84970]  # the spec's table, seconds


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    store: Store
    settings: Settings
    clock: Clock
    a: str
    b: str
    outboxes: list[Outbox] = field(default_factory=list)

    def outbox(self, store: Store | None = None, **changes: Any) -> Outbox:
        settings = self.settings.model_copy(update=changes) if changes else self.settings
        box = Outbox(store or self.store, settings, clock=self.clock, rand=lambda: 0.5)
        self.outboxes.append(box)
        return box

    async def hook(self, url: str, station: str | None = None, **fields: Any) -> str:
        wid = "wh_" + secrets.token_hex(13).upper()
        doc = {
            "id": wid,
            "station": station or self.b,
            "url": url,
            "event_types": ("message.received", "message.status"),
            "enabled": True,
            "description": "",
            "standard_webhooks": False,
            "timeout": 2,
            "secret": new_secret(),
            "disabled_reason": None,
            "failing_since": None,
            "created_at": self.clock(),
            "updated_at": self.clock(),
            **fields,
        }
        assert await self.store.webhooks.add(doc, 20) is not None
        return wid

    async def send(self, data: bytes = b"<invoice/>", sender: str | None = None, to: str | None = None) -> str:
        blob = self.store.new_blob()
        await blob.write(data)
        now = self.clock()
        new = NewMessage(
            to or self.b, sender or self.a, secrets.token_hex(6), "f.xml", False, "normal", now, now + 3600
        )
        return (await self.store.add_message(new, blob)).message.link

    async def deliveries(self, kind: str = "queued", station: str | None = None) -> list[Any]:
        from relaybox.store.webhooks import DeliveryQuery

        q = DeliveryQuery(kind, (station or self.b, self.a), limit=100)
        return (await self.store.webhooks.deliveries_page(q))[1]


@pytest.fixture(params=["sqlite", "postgresql"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    with contextlib_db(request.param) as url:
        settings = Settings(data_dir=tmp_path / "data", database_url=url, outbox_poll=0.05)
        store = make_store(settings)
        await store.open()
        a, b = f"a{secrets.token_hex(3)}@test0001", f"b{secrets.token_hex(3)}@test0002"
        for route in (a, b):
            await store.add_route(route, secrets.token_hex(8), T0)
        w = World(store, settings, Clock(), a, b)
        try:
            yield w
        finally:
            for box in w.outboxes:
                await box.close()
            await store.close()


def contextlib_db(backend: str) -> Any:
    import contextlib

    if backend == "sqlite":
        return contextlib.nullcontext(None)

    @contextlib.contextmanager
    def pg() -> Any:
        with PgDatabase() as db:
            yield db.url

    return pg()


def status_of(r: Received) -> str:
    return str(json.loads(r.body)["event"].get("status", r.headers["relaybox-event-type"]))


# -- the happy path -------------------------------------------------------------------------------
async def test_an_event_is_delivered_signed_and_byte_identical_on_retry(world: World) -> None:
    answers = iter([Answer(500), Answer(204)])
    with Receiver(lambda _r: next(answers)) as rcv:
        await world.hook(rcv.url, event_types=("message.received",))
        secret = (await world.store.webhooks.list_all(world.b))[0].secret
        link = await world.send()
        box = world.outbox()
        assert await box.run_once() == 1
        world.clock.now += 10
        assert await box.run_once() == 1
        first, second = rcv.requests
    assert first.body == second.body  # the same bytes, so the same Signature
    assert first.headers["signature"] == second.headers["signature"]
    expected = hmac.new(secret.encode(), first.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(first.headers["signature"], "v1=" + expected)
    assert (first.headers["relaybox-attempt"], second.headers["relaybox-attempt"]) == ("1", "2")
    doc = json.loads(first.body)
    assert list(doc) == ["event_id", "event_type", "created_at", "event"]
    assert doc["event"]["link"] == link and doc["event"]["to"] == world.b
    [sent] = await world.deliveries("sent")
    assert (sent.state, sent.attempts, sent.last_status) == ("sent", 2, 204)


# -- the retry schedule ---------------------------------------------------------------------------
async def test_ten_attempts_on_the_documented_schedule_then_stopped(world: World) -> None:
    with Receiver(lambda _r: Answer(500, body=b"x" * 10_000)) as rcv:
        await world.hook(rcv.url, event_types=("message.received",))
        await world.send()
        box = world.outbox()
        times = []
        for nominal in NOMINAL:
            world.clock.now = T0 + nominal - 1
            assert await box.run_once() == 0, f"attempt early at {nominal - 1}"
            world.clock.now = T0 + nominal
            assert await box.run_once() == 1, f"no attempt at {nominal}"
            times.append(world.clock.now - T0)
        world.clock.now += 86400 * 2
        assert await box.run_once() == 0
        assert len(rcv.requests) == 10
    assert times == NOMINAL
    [d] = await world.deliveries("queued")
    assert (d.state, d.stop_reason, d.attempts, d.next_at) == ("stopped", "exhausted", 10, None)
    failures = await world.deliveries("failed")
    assert len(failures) == 10 and {f.status for f in failures} == {500}
    assert all(len((f.excerpt or "").encode()) <= 4096 for f in failures)


async def test_jitter_stays_within_twenty_percent(world: World) -> None:
    with Receiver(lambda _r: Answer(503)) as rcv:
        await world.hook(rcv.url, event_types=("message.received",))
        await world.send()
        for r in (0.0, 1.0):
            box = Outbox(world.store, world.settings, clock=world.clock, rand=lambda r=r: r)
            world.outboxes.append(box)
            await box.run_once()
            [d] = await world.deliveries()
            assert d.next_at is not None
            assert d.next_at - world.clock.now == pytest.approx(
                60 * (0.8 if r == 0.0 else 1.2) if d.attempts == 2 else 10 * 0.8
            )
            world.clock.now = d.next_at


async def test_retry_after_is_honoured_and_capped(world: World) -> None:
    answers = iter([Answer(429, headers={"Retry-After": "120"}), Answer(503, headers={"Retry-After": "999999999"})])
    with Receiver(lambda _r: next(answers)) as rcv:
        await world.hook(rcv.url, event_types=("message.received",))
        await world.send()
        box = world.outbox()
        await box.run_once()
        [d] = await world.deliveries()
        assert d.next_at == pytest.approx(T0 + 120)  # not the schedule's 10 s
        world.clock.now = T0 + 120
        await box.run_once()
        [d] = await world.deliveries()
        assert d.next_at == pytest.approx(world.clock.now + 86400)
        assert len(rcv.requests) == 2


# -- failures of every kind --------------------------------------------------------------------------
async def test_410_disables_the_endpoint_and_stops_its_deliveries(world: World) -> None:
    with Receiver(lambda _r: Answer(410)) as rcv:
        wid = await world.hook(rcv.url)
        await world.send()  # accepted (to a) is not for this endpoint; received is
        await world.send()
        box = world.outbox()
        await box.run_once()
    hook = await world.store.webhooks.get(wid)
    assert hook is not None and (hook.enabled, hook.disabled_reason) == (False, "gone")
    queued = await world.deliveries()
    assert {(d.state, d.stop_reason) for d in queued} == {("stopped", "endpoint disabled")}
    await world.send()  # a disabled endpoint gets no new deliveries
    assert len(await world.deliveries()) == len(queued)


async def test_timeouts_and_refused_connections_are_failed_attempts_without_a_status(world: World) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    with Receiver(lambda _r: Answer(204, delay=2.5)) as slow:
        await world.hook(slow.url, timeout=1, event_types=("message.received",))
        await world.hook(closed, event_types=("message.received",))
        await world.send()
        await world.outbox().run_once()
    failures = await world.deliveries("failed")
    errors = sorted(f.error.split(":")[0] for f in failures)
    assert errors == ["connection refused", "timeout"]
    assert {f.status for f in failures} == {None}
    slow_one = next(f for f in failures if f.error == "timeout")
    assert 900 <= slow_one.duration_ms < 2400


async def test_a_failure_streak_of_five_days_disables_the_endpoint(world: World) -> None:
    with Receiver(lambda _r: Answer(500)) as rcv:
        wid = await world.hook(rcv.url, event_types=("message.received",))
        box = world.outbox(webhook_disable_after="5d")
        await world.send()
        await box.run_once()
        world.clock.now += 5 * 86400 - 1
        await world.send()
        await box.run_once()
        hook = await world.store.webhooks.get(wid)
        assert hook is not None and hook.enabled
        world.clock.now += 1
        await world.send()
        await box.run_once()
    hook = await world.store.webhooks.get(wid)
    assert hook is not None and (hook.enabled, hook.disabled_reason) == (False, "failing")
    # Re-enabling clears the streak and resumes nothing by itself.
    hook = await world.store.webhooks.update(wid, {"enabled": True}, world.clock())
    assert hook is not None and (hook.enabled, hook.disabled_reason, hook.failing_since) == (True, None, None)
    assert {d.state for d in await world.deliveries()} == {"stopped"}


async def test_stop_and_retry_by_hand(world: World) -> None:
    with Receiver(lambda _r: Answer(500)) as rcv:
        await world.hook(rcv.url, event_types=("message.received",))
        await world.send()
        box = world.outbox()
        await box.run_once()
        [d] = await world.deliveries()
        stations = [world.b]
        assert await world.store.webhooks.stop(stations, d.id)
        world.clock.now += 3600
        assert await box.run_once() == 0  # stopped: no attempt
        assert await world.store.webhooks.stop(stations, d.id)  # idempotent
        assert await world.store.webhooks.retry(stations, d.id, world.clock()) is True
        [d] = await world.deliveries()
        assert (d.state, d.attempts) == ("queued", 0)  # the schedule starts over
        rcv.answer = lambda _r: Answer(200)
        assert await box.run_once() == 1
        assert await world.store.webhooks.retry(["other@nowhere01"], d.id, world.clock()) is None
    [d] = await world.deliveries("sent")
    assert d.attempts == 1


async def test_a_crashed_attempt_is_attempted_again_after_its_lease(world: World) -> None:
    with Receiver() as rcv:
        await world.hook(rcv.url, timeout=5, event_types=("message.received",))
        await world.send()
        claimed = await world.store.outbox.claim(world.clock(), 10)
        assert len(claimed) == 1  # ... and the worker died here, before any outcome
        box = world.outbox()
        assert await box.run_once() == 0  # leased
        world.clock.now += 5 + 30 + 1
        assert await box.run_once() == 1
    [d] = await world.deliveries("sent")
    assert d.attempts == 2


# -- two workers ----------------------------------------------------------------------------------------
async def test_two_workers_deliver_each_event_exactly_once(world: World) -> None:
    other = make_store(world.settings)  # a second node: its own connections to the same database
    await other.open()
    try:
        with Receiver(lambda _r: Answer(204, delay=0.01)) as rcv:
            await world.hook(rcv.url, event_types=("message.received",))
            for _ in range(40):
                await world.send()
            boxes = [world.outbox(outbox_concurrency=4), world.outbox(other, outbox_concurrency=4)]

            async def drain(box: Outbox) -> None:
                for _ in range(200):
                    await box.run_once()
                    if len(rcv.requests) >= 40:
                        return
                    await asyncio.sleep(0.005)

            await asyncio.gather(*(drain(b) for b in boxes))
            ids = [json.loads(r.body)["event_id"] for r in rcv.wait_for(40)]
        assert len(ids) == 40 and len(set(ids)) == 40
        assert len(await world.deliveries("sent")) == 40
    finally:
        await other.close()


# -- events of every cause ---------------------------------------------------------------------------------
async def test_download_read_and_expiry_emit_status_events_once(world: World) -> None:
    with Receiver() as rcv:
        await world.hook(rcv.url, station=world.a, event_types=("message.status",))
        box = world.outbox()
        downloaded = await world.send()
        read_first = await world.send()
        expires = await world.send()
        for link in (downloaded, downloaded):  # the second download emits nothing
            m = await world.store.views.by_link(link)
            assert m is not None
            await world.store.views.record_download(link, lambda *_: "", world.clock(), durable=False)
        await world.store.views.mark_read(1, [read_first], world.clock())
        await world.store.views.mark_read(2, [read_first], world.clock())  # another account: nothing new
        world.clock.now = T0 + 7200
        await world.store.sweep(world.clock(), 0)
        while await box.run_once():  # at most 4 attempts at once per endpoint
            pass
        got = [(json.loads(r.body)["event"]["link"], status_of(r)) for r in rcv.requests]
    assert sorted(got) == sorted(
        [(link, "accepted") for link in (downloaded, read_first, expires)]
        + [(downloaded, "delivered"), (read_first, "delivered"), (read_first, "read"), (expires, "expired")]
    )


# -- pushes to remote partners -------------------------------------------------------------------------
async def _remote_partner(world: World, uri: str, **fields: Any) -> str:
    from relaybox.wire.v1 import partner_fields

    remote = f"far{secrets.token_hex(3)}@remote01"
    doc = {"stationAS2Id": world.a, "as2Identifier": remote, "uri": uri, **fields}
    await world.store.partners.add(world.a, remote, partner_fields(doc, create=True), world.clock())
    return remote


async def test_an_https_push_is_signed_refused_at_once_on_404_and_restarted_by_a_retry(world: World) -> None:
    from relaybox.wire import digest

    answers = iter([Answer(404), Answer(202)])
    with Receiver(lambda _r: next(answers)) as rcv:
        remote = await _remote_partner(world, rcv.url + "?source=gw1", transport="https", pushSecret="p" * 32)
        link = await world.send(b"<invoice/>", to=remote)
        m = await world.store.views.by_link(link)
        assert m is not None and m.state == "queued"
        box = world.outbox()
        assert await box.run_once() == 1
        m = await world.store.views.by_link(link)
        assert m is not None and m.state == "stopped"  # 404: refused, no retry by schedule
        world.clock.now += 600
        assert await box.run_once() == 0
        assert await world.store.views.set_state([world.a], link, "queued", world.clock())
        assert await box.run_once() == 1
        first, second = rcv.requests
    m = await world.store.views.by_link(link)
    assert m is not None and (m.state, m.receiver_deleted) == ("sent", True)
    _, [view] = await world.store.views.page(ViewQuery("sent", (world.a,), 0, world.clock()))
    assert view.pushed_status == 202  # the sent list's transportStatusReceived
    assert second.body == b"<invoice/>"
    h = second.headers
    assert (h["message-from"], h["message-to"], h["message-id"]) == (world.a, remote, m.message_id)
    custom = digest.custom_lines((k, v) for k, v in h.items() if k.startswith("message-"))
    d = digest.digest_string(
        "POST", hashlib.md5(second.body).hexdigest(), h["content-type"], h["date"], custom, second.path
    )
    assert h["authorization"] == f"relaybox_api {world.a}:" + digest.sign("p" * 32, d, "sha256")


async def test_pause_outgoing_holds_a_push_without_spending_attempts(world: World) -> None:
    with Receiver() as rcv:
        remote = await _remote_partner(world, rcv.url, transport="https", pushSecret="s" * 16, pauseOutgoing=True)
        link = await world.send(to=remote)
        box = world.outbox()
        for _ in range(3):
            assert await box.run_once() == 0
            world.clock.now += 60
        [d] = (await world.store.outbox.push_state([link])).values()
        assert (d.state, d.attempts) == ("queued", 0)
        partner = await world.store.partners.find(world.a, remote, "Production")
        assert partner is not None
        await world.store.partners.update(partner.id, {"pause_outgoing": False})
        await world.store.views.deliver(link, world.clock())  # what clearing the pause does
        assert await box.run_once() == 1
        assert len(rcv.requests) == 1


async def test_slow_answers_within_the_timeout_succeed_and_an_endpoint_has_at_most_four_in_flight(world: World) -> None:
    with Receiver(lambda _r: Answer(204, delay=0.3)) as rcv:
        await world.hook(rcv.url, timeout=2, event_types=("message.received",))
        for _ in range(6):
            await world.send()
        box = world.outbox()
        assert await box.run_once() == 4  # the other two wait for a free slot
        assert await box.run_once() == 2
    assert len(await world.deliveries("sent")) == 6
    assert await world.deliveries("failed") == []


async def test_finished_deliveries_are_pruned_after_the_retention(world: World) -> None:
    ok = hashlib.md5(b"ok").hexdigest().encode()  # the event names the payload by its MD5
    with Receiver(lambda r: Answer(204 if ok in r.body else 500)) as rcv:
        await world.hook(rcv.url, event_types=("message.received",))
        await world.send(b"ok")
        await world.send(b"fails")
        await world.outbox().run_once()
    assert await world.store.outbox.prune(world.clock() + 1) == 1  # the sent one; the queued one stays
    assert [d.state for d in await world.deliveries("queued")] == ["queued"]
    assert await world.deliveries("sent") == []


async def test_sealed_secrets_sign_deliveries_and_never_rest_in_plaintext(world: World) -> None:
    """With RELAYBOX_MASTER_KEY, endpoint, push and remote secrets are sealed in the database,
    deliveries and pushes are still signed with the plaintext, a wrong key is refused, and a
    rotation re-seals every secret column."""
    from sqlalchemy import select

    from relaybox.auth.sealed import Sealer, new_key
    from relaybox.errors import StoreUnavailable
    from relaybox.store.apikeys import ApiKeyRecord
    from relaybox.store.schema import partners, webhooks
    from relaybox.webhooks.signature import signature_v1
    from relaybox.wire import digest
    from relaybox.wire.push import federation_key

    k1, k2 = new_key(), new_key()
    world.store.sealer = Sealer(k1)
    hook_secret, push_secret, remote_secret = new_secret(), "p" * 32, "r" * 24
    with Receiver(lambda _r: Answer(202)) as rcv:
        await world.hook(rcv.url, secret=hook_secret, event_types=("message.received",))
        https = await _remote_partner(world, rcv.url + "/in", transport="https", pushSecret=push_secret)
        fed = await _remote_partner(world, rcv.url, remoteRoute="me@remote01", remoteSecret=remote_secret)
        for to in (world.b, https, fed):
            await world.send(b"<invoice/>", to=to)
        box = world.outbox()
        while await box.run_once():
            pass
        by_path = {r.path: r for r in rcv.requests}
    hook_req, https_req, fed_req = by_path["/hook"], by_path["/hook/in"], by_path["/hook/1/send-message"]
    assert hook_req.headers["signature"] == signature_v1(hook_req.body, hook_secret)
    h = https_req.headers
    custom = digest.custom_lines((k, v) for k, v in h.items() if k.startswith("message-"))
    d = digest.digest_string(
        "POST", hashlib.md5(https_req.body).hexdigest(), h["content-type"], h["date"], custom, "/hook/in"
    )
    assert h["authorization"] == f"relaybox_api {world.a}:" + digest.sign(push_secret, d, "sha256")
    f = fed_req.headers
    key = federation_key(f["request-timestamp"], "me@remote01", fed, f["message-id"], f["message-md5"], remote_secret)
    assert f["request-key"] == key

    def raw(db: Any) -> list[str]:
        rows = [*db.all(select(webhooks.c.secret)), *db.all(select(partners.c.push_secret, partners.c.remote_secret))]
        return [v for row in rows for v in row if v is not None]

    # An API private key sealed is 147 characters: PostgreSQL refused it before migration 0007.
    private = "rbs_" + "k" * 43
    await world.store.apikeys.add(ApiKeyRecord("rbk_" + "0" * 24, 1, "ci", private, False, T0, None, None, None))
    found = await world.store.apikeys.get("rbk_" + "0" * 24)
    assert found is not None and found.private_key == private
    stored = await world.store._q(raw, write=False)  # type: ignore[attr-defined]
    assert len(stored) == 3 and all(v.startswith("fernet:") for v in stored)
    assert not {hook_secret, push_secret, remote_secret} & set(stored)
    world.store.sealer = Sealer(k2)
    with pytest.raises(StoreUnavailable, match="does not open"):
        await world.store.check_sealed()
    world.store.sealer = Sealer(f"{k2},{k1}")
    assert await world.store.reseal_secrets() == 6  # 2 plaintext route secrets + the API key + the 3 above
    world.store.sealer = Sealer(k2)
    await world.store.check_sealed()
    assert (await world.store.get_route(world.a)) is not None
