"""Crash durability (issue 8, item 1): senders push messages under load while the server is
SIGKILLed at random moments (and, on PostgreSQL, while the database itself restarts).

After every restart each message that got a 200 before the kill is listed with its link and
MD5, and none is listed twice. At the end every listed message is downloaded and compared
byte for byte with what was sent, nothing is listed that was never sent, and the store is
inspected directly: no message without its payload, no payload without its message, no bytes
without a payload row (after the orphan cleaning the sweeper would do once ORPHAN_GRACE has
passed; what the crashes left for it is reported as ``crash_leftovers_swept``).

Senders retry a failed request (connection error, 503) with the same message id and bytes,
as any client would; an idempotent re-send must answer the first link, never store a copy.
The short variants run by default; ``pytest -m slow tests/faults`` runs the long ones.
``RELAYBOX_FAULT_SEED`` repeats a run's message sizes, bytes and kill delays (not its timing).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import random
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import PgDatabase, ServerProcess, Signer

SENDER_THREADS = 8
SENDER_ROUTES = 4
RECIPIENTS = 3
MAX_SIZE = 300 * 1024
# A loaded 2-core machine: a start can take seconds, and so can a request during a restart.
START_TIMEOUT = 120.0
GIVE_UP = 120.0  # seconds a sender keeps retrying its last message once the run is over
ENV = {"RELAYBOX_RATE_LIMIT": "0"}  # 8 senders must not meet the per-route rate limit
PG_TOOLS = shutil.which("pg_ctlcluster") is not None and Path("/etc/postgresql").is_dir()


def _seed() -> int:
    return int(os.environ.get("RELAYBOX_FAULT_SEED") or random.SystemRandom().getrandbits(32))


def _size(rng: random.Random) -> int:
    """1 B .. 300 KiB: mostly small (log-uniform), one in five around the 256 KiB boundaries
    (SQLite's inline limit, PostgreSQL's chunk size)."""
    if rng.random() < 0.2:
        return rng.randint(200 * 1024, MAX_SIZE)
    return max(1, int(2 ** rng.uniform(0, math.log2(MAX_SIZE))))


@dataclass
class Sent:
    """One message a sender tried to send; ``link`` is set by its 200. The bytes are made
    again from ``seed`` when needed (a long run sends too much to keep)."""

    sender: str
    recipient: str
    message_id: str
    seed: int
    size: int
    md5: str
    link: str | None = None
    attempts: int = 0
    last_try: float = 0.0  # wall-clock start of the latest attempt

    def data(self) -> bytes:
        return random.Random(self.seed).randbytes(self.size)

    @property
    def key(self) -> tuple[str, str]:
        return self.sender, self.message_id


class Load:
    """``SENDER_THREADS`` senders, each sending one message after the other until stopped."""

    RETRYABLE = (429, 503)

    def __init__(self, srv: ServerProcess, senders: list[Signer], recipients: list[Signer], seed: int) -> None:
        self.srv = srv
        self.senders = senders
        self.recipients = recipients
        self.seed = seed
        self.lock = threading.Lock()
        self.sent: list[Sent] = []
        self.failures: list[str] = []
        self.counts: Counter[str] = Counter()
        self.stop = threading.Event()
        self.halt = threading.Event()  # a failed test: senders give up at once
        self.threads = [
            threading.Thread(target=self._run, args=(i,), name=f"sender-{i}", daemon=True)
            for i in range(SENDER_THREADS)
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        """Stop sending; each sender first gets its last message acknowledged (or gives up)."""
        self.stop.set()
        for t in self.threads:
            t.join(GIVE_UP + 60)
        assert not any(t.is_alive() for t in self.threads), "a sender hangs"

    def ledger(self) -> list[Sent]:
        with self.lock:
            return list(self.sent)

    def acked(self) -> list[Sent]:
        return [m for m in self.ledger() if m.link is not None]

    def wait_for_acks(self, more_than: int, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked()) <= more_than:
            assert time.monotonic() < deadline, f"no message acknowledged in {timeout} s: {dict(self.counts)}"
            assert not self.failures, self.failures[:5]
            time.sleep(0.02)

    def _run(self, i: int) -> None:
        rng = random.Random(f"{self.seed}/{i}")
        signer = self.senders[i % len(self.senders)]
        with httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0)) as client:
            n = 0
            while not (self.stop.is_set() or self.halt.is_set()):
                size = _size(rng)
                seed = rng.getrandbits(64)
                data = random.Random(seed).randbytes(size)
                msg = Sent(
                    sender=signer.route,
                    recipient=rng.choice(self.recipients).route,
                    message_id=f"m{i}-{n}",
                    seed=seed,
                    size=size,
                    md5=hashlib.md5(data).hexdigest(),
                )
                n += 1
                with self.lock:  # in the ledger before its first byte leaves
                    self.sent.append(msg)
                self._deliver(client, signer, msg, data, rng)

    def _deliver(self, client: httpx.Client, signer: Signer, msg: Sent, data: bytes, rng: random.Random) -> None:
        give_up: float | None = None
        while True:
            msg.attempts += 1
            msg.last_try = time.time()
            headers = signer.send(msg.recipient, data, message_id=msg.message_id)  # a fresh request key
            try:
                r = client.post(
                    f"{self.srv.url}/1/send-message", headers=headers, files={"data": (f"{msg.message_id}.bin", data)}
                )
            except httpx.TransportError as exc:
                self._count(f"transport:{type(exc).__name__}")
                if isinstance(exc, httpx.ConnectError):
                    # The server is down: poll gently, its start competes for the same CPUs.
                    time.sleep(rng.uniform(0.05, 0.15))
            else:
                if r.status_code == 200:
                    msg.link = r.headers["message-link"]
                    return
                if r.status_code in self.RETRYABLE:
                    self._count(str(r.status_code))
                else:
                    # 409 (id conflict) here would mean a stored first attempt did not match its
                    # own retry; anything else is as unexpected. Recorded, and the send given up.
                    with self.lock:
                        self.failures.append(
                            f"{msg.message_id} attempt {msg.attempts}: {r.status_code} {r.headers.get('error')!r}"
                        )
                    return
            if self.halt.is_set():
                return
            if self.stop.is_set():
                give_up = give_up or time.monotonic() + GIVE_UP
                if time.monotonic() > give_up:
                    self._count("given_up")
                    return
            time.sleep(rng.uniform(0.01, 0.05))

    def _count(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1


def _retrying(call: Callable[[], httpx.Response], timeout: float = 90.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = call()
            if r.status_code != 503:
                return r
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not answer"
        time.sleep(0.2)


def list_all(srv: ServerProcess, recipients: list[Signer]) -> list[dict[str, Any]]:
    """Every recipient's mailbox through /1/list-messages (each entry with its ``to``)."""
    entries: list[dict[str, Any]] = []
    with httpx.Client(timeout=60) as c:
        for rcpt in recipients:
            r = _retrying(lambda rcpt=rcpt: c.get(f"{srv.url}/1/list-messages", headers=rcpt.receive()))
            assert r.status_code == 200, (r.status_code, r.headers.get("error"))
            entries += [{**e, "to": rcpt.route} for e in r.json()]
    return entries


def check_listing(entries: list[dict[str, Any]], ledger: list[Sent], durable: list[Sent], where: str) -> None:
    """Nothing twice, nothing never sent, nothing differing from what was sent; every message
    of ``durable`` (acknowledged before ``where``) there with the link its 200 gave."""
    times = Counter((e["from"], e["message_id"]) for e in entries)
    dup = sorted(k for k, n in times.items() if n > 1)
    assert not dup, f"{where}: {len(dup)} messages listed twice, e.g. {dup[:5]}"
    sent = {m.key: m for m in ledger}
    unknown = [e for e in entries if (e["from"], e["message_id"]) not in sent]
    assert not unknown, f"{where}: listed but never sent: {unknown[:5]}"
    differs = []
    for e in entries:
        m = sent[(e["from"], e["message_id"])]
        if (e["to"], e["md5"], e["size"]) != (m.recipient, m.md5, m.size):
            differs.append(e)
    assert not differs, f"{where}: listed unlike what was sent: {differs[:5]}"
    listed = {(e["from"], e["message_id"]): e["link"] for e in entries}
    lost = [m.key for m in durable if m.key not in listed]
    assert not lost, f"{where}: {len(lost)} acknowledged messages lost, e.g. {lost[:5]}"
    moved = [(m.key, m.link, listed[m.key]) for m in durable if listed[m.key] != m.link]
    assert not moved, f"{where}: acknowledged link differs from the listed one: {moved[:5]}"


def download_all(
    srv: ServerProcess, recipients: list[Signer], entries: list[dict[str, Any]], ledger: list[Sent]
) -> None:
    """GET every listed message: byte-exact, and its MD5 header right."""
    sent = {m.key: m for m in ledger}
    receivers = {s.route: s for s in recipients}
    bad: list[str] = []
    with httpx.Client(timeout=60) as c:
        for e in entries:
            m = sent[(e["from"], e["message_id"])]
            rcpt = receivers[e["to"]]
            r = _retrying(lambda e=e, rcpt=rcpt: c.get(f"{srv.url}/1/get-message/{e['link']}", headers=rcpt.receive()))
            if r.status_code != 200:
                bad.append(f"{m.key}: {r.status_code} {r.headers.get('error')!r}")
            elif r.content != m.data() or r.headers.get("message-md5") != m.md5:
                bad.append(
                    f"{m.key}: {len(r.content)} bytes (sent {m.size}), md5 header {r.headers.get('message-md5')}"
                )
    assert not bad, f"{len(bad)} downloads differ from what was sent: {bad[:5]}"


def audit(
    srv: ServerProcess, *, clean: bool, read_bytes: bool
) -> tuple[dict[str, int], dict[tuple[str, str], tuple[str, float]]]:
    """Look into the store itself (the server is down): counts of what must not be there, and
    {(sender, message id): (link, received at)} of its messages. ``clean`` first removes crash leftovers the
    way the sweeper does once they are older than ORPHAN_GRACE (``swept``)."""
    from sqlalchemy import select

    from relaybox.store.schema import attachments, messages, payload_chunks, payloads
    from relaybox.store.sql import ORPHAN_GRACE

    sqlite = srv.backend == "sqlite"

    async def look(store: Any) -> tuple[dict[str, int], dict[tuple[str, str], tuple[str, float]]]:
        report: dict[str, int] = {}
        if clean:
            report["swept"] = int(await store._clean_orphans(time.time() + ORPHAN_GRACE + 60))
        rows = await store._all(
            select(
                messages.c.sender,
                messages.c.message_id,
                messages.c.link,
                messages.c.md5,
                messages.c.size,
                messages.c.payload_id,
                messages.c.state,
                messages.c.received_at,
            ).order_by(messages.c.seq)
        )
        rows_by_payload = {
            pid: (size, md5)
            for pid, size, md5 in await store._all(select(payloads.c.id, payloads.c.size, payloads.c.md5))
        }
        owners = set(await store._scalars(select(payload_chunks.c.payload_id).distinct()))
        extra = set(await store._scalars(select(attachments.c.payload_id)))
        files: set[str] = set()
        tmp = 0
        if sqlite:
            files = {p.name for p in (srv.data_dir / "payloads").rglob("*") if p.is_file()}
            tmp = sum(1 for _ in (srv.data_dir / "tmp").iterdir())
        referenced = {r[5] for r in rows} | extra
        report["not_sent_state"] = sum(1 for r in rows if r[6] != "sent")
        report["message_without_payload"] = sum(1 for r in rows if r[5] is None or r[5] not in rows_by_payload)
        report["payload_without_message"] = len(set(rows_by_payload) - referenced)
        report["payload_without_bytes"] = len(set(rows_by_payload) - owners - files)
        report["payload_bytes_twice"] = len(owners & files)
        report["orphan_files"] = len(files - set(rows_by_payload))
        report["orphan_chunks"] = len(owners - set(rows_by_payload))
        report["tmp_files"] = tmp
        report["payload_row_mismatch"] = sum(
            1 for r in rows if r[5] in rows_by_payload and rows_by_payload[r[5]] != (r[4], r[3])
        )
        if read_bytes:
            bad = 0
            for r in rows:
                if r[5] not in rows_by_payload:
                    continue
                md5, size = hashlib.md5(), 0
                try:
                    payload = await store.open_payload(r[5])
                except FileNotFoundError:
                    bad += 1
                    continue
                try:
                    async for chunk in payload.chunks():
                        md5.update(chunk)
                        size += len(chunk)
                finally:
                    payload.close()
                bad += (md5.hexdigest(), size) != (r[3], r[4])
            report["half_written"] = bad
        return report, {(r[0], r[1]): (r[2], r[7]) for r in rows}

    return srv._store_call(look)


ORPHANS = (
    "message_without_payload",
    "payload_without_message",
    "payload_without_bytes",
    "payload_bytes_twice",
    "orphan_files",
    "orphan_chunks",
    "tmp_files",
    "payload_row_mismatch",
)


@pytest.fixture
def crash_server(tmp_path: Path, backend: str) -> Iterator[ServerProcess]:
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(PgDatabase()).url if backend == "postgresql" else None
        srv = ServerProcess(tmp_path / "data", ENV, url)
        stack.callback(srv.stop)
        srv.start(START_TIMEOUT)
        yield srv


def routes(srv: ServerProcess) -> tuple[list[Signer], list[Signer]]:
    senders = [Signer(r, s) for r, s in (srv.new_route("snd") for _ in range(SENDER_ROUTES))]
    recipients = [Signer(r, s) for r, s in (srv.new_route("rcv") for _ in range(RECIPIENTS))]
    return senders, recipients


def finish_and_verify(srv: ServerProcess, load: Load, recipients: list[Signer], label: str, **figures: Any) -> None:
    """After the faults: the senders' last messages, the final listing, every download, and the
    store audit (before and after the orphan cleaning). Prints one summary line."""
    load.finish()
    assert not load.failures, f"{label}: unexpected answers: {load.failures[:10]}"
    entries = list_all(srv, recipients)
    ledger = load.ledger()
    acked = [m for m in ledger if m.link is not None]
    check_listing(entries, ledger, acked, f"{label} at the end")
    download_all(srv, recipients, entries, ledger)
    srv.kill()  # the store is inspected with nothing running
    before, _ = audit(srv, clean=False, read_bytes=False)
    assert all(
        before[k] == 0
        for k in ("message_without_payload", "payload_without_message", "payload_row_mismatch", "not_sent_state")
    ), before
    after, stored = audit(srv, clean=True, read_bytes=True)
    bad = {k: v for k, v in after.items() if k in (*ORPHANS, "half_written", "not_sent_state") and v}
    assert not bad, f"{label}: after the orphan cleaning: {after}"
    listed = {(e["from"], e["message_id"]): e["link"] for e in entries}
    assert {k: v[0] for k, v in stored.items()} == listed, f"{label}: the store's messages differ from the listed ones"
    # Stored by an attempt whose answer the kill swallowed; a retry got the same link back.
    resent = sum(1 for m in acked if m.attempts > 1 and stored[m.key][1] < m.last_try)
    leftovers = sum(before[k] for k in ("orphan_files", "orphan_chunks", "tmp_files"))
    unacked_stored = sum(1 for m in ledger if m.link is None and m.key in listed)
    retried = sum(1 for m in ledger if m.attempts > 1)
    errors = ",".join(f"{k}={v}" for k, v in sorted(load.counts.items()))
    fig = " ".join(f"{k}={v}" for k, v in figures.items())
    print(
        f"\n{label}: {fig} sent={len(ledger)} acked={len(acked)} listed={len(entries)} lost=0 dup=0 "
        f"unacked_stored={unacked_stored} retried={retried} answered_by_resend={resent} orphans=0 crash_leftovers_swept={leftovers} "
        f"({errors}) seed={load.seed}"
    )


@pytest.mark.parametrize("kills", [pytest.param(4, id="short"), pytest.param(25, id="long", marks=pytest.mark.slow)])
def test_sigkill_under_load_loses_no_acknowledged_message(crash_server: ServerProcess, kills: int) -> None:
    srv = crash_server
    seed = _seed()
    rng = random.Random(seed)
    senders, recipients = routes(srv)
    load = Load(srv, senders, recipients, seed)
    began = time.monotonic()
    load.start()
    try:
        load.wait_for_acks(0)
        for k in range(kills):
            time.sleep(rng.uniform(0.05, 0.6))
            srv.kill()
            durable = load.acked()  # every 200 before this point was answered by the dead process
            srv.start(START_TIMEOUT)
            entries = list_all(srv, recipients)
            check_listing(entries, load.ledger(), durable, f"after kill {k + 1} (seed {seed})")
            load.wait_for_acks(len(durable))  # load again before the next kill
    except BaseException:
        load.halt.set()
        raise
    finish_and_verify(
        srv, load, recipients, f"crash[{srv.backend}]", kills=kills, duration=f"{time.monotonic() - began:.1f}s"
    )


def pg_restart(mode: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", "-m", mode, version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=300,
    )


@pytest.mark.serial  # restarts the machine's PostgreSQL: nothing else may run meanwhile
@pytest.mark.skipif(not PG_TOOLS, reason="needs the local PostgreSQL cluster tools")
@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.parametrize("restarts", [pytest.param(1, id="short"), pytest.param(6, id="long", marks=pytest.mark.slow)])
def test_database_restart_under_load_loses_no_acknowledged_message(crash_server: ServerProcess, restarts: int) -> None:
    """The node stays up while PostgreSQL restarts: ``immediate`` (a crash of the database and
    its recovery) and ``fast`` by turns, starting with immediate. Senders see 503 or connection
    errors and retry."""
    srv = crash_server
    seed = _seed()
    rng = random.Random(seed)
    senders, recipients = routes(srv)
    load = Load(srv, senders, recipients, seed)
    began = time.monotonic()
    modes: list[str] = []
    load.start()
    try:
        load.wait_for_acks(0)
        for k in range(restarts):
            time.sleep(rng.uniform(0.2, 1.0))
            mode = ("immediate", "fast")[k % 2]
            durable = load.acked()
            pg_restart(mode)
            modes.append(mode)
            load.wait_for_acks(len(load.acked()))  # the node serves again
            entries = list_all(srv, recipients)
            check_listing(entries, load.ledger(), durable, f"after database restart {k + 1} ({mode}, seed {seed})")
    except BaseException:
        load.halt.set()
        raise
    finish_and_verify(
        srv,
        load,
        recipients,
        "dbrestart[postgresql]",
        restarts=restarts,
        modes="/".join(modes),
        duration=f"{time.monotonic() - began:.1f}s",
    )
