"""Storage faults (issue 8, item 2): the data dir fills up or turns read-only under a live
server, on a real tmpfs mounted for the test (we run as root; without mount rights the tests
skip and say so).

SQLite: the whole data dir (database, WAL, payloads, tmp) is a small tmpfs. A filler file
written until ENOSPC makes it full; every send is then refused with 503 code 503 (a large
payload cannot get its temp file, a small one cannot get its database row: SQLite answers
"database or disk is full"), never 500 and never a hang. Nothing is half-stored, reads go on
(list, fetch of earlier messages, /v1 lists), ``/1/ping`` says 503, and once the filler is gone
the same server takes sends again and every earlier message is byte-exact.

Read-only: a tmpfs cannot be remounted read-only while SQLite holds its database, WAL and
shared-memory files open for writing (the kernel answers EBUSY), and no real file system lets
a writer come back from a forced read-only state without an unmount. So the payload side
(``payloads/`` and ``tmp/``) is made read-only by read-only bind mounts over those two
directories, while the database stays writable; a database that cannot write is the full-disk
case above.

PostgreSQL keeps payloads in the database: its node's data dir holds no message data, so a full
or read-only data dir must change nothing there (checked once).

The near-full run (several senders in parallel while the disk fills) checks that every 200 is
listed and byte-exact afterwards and that the store passes the crash tests' audit.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import random
import secrets
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import PgDatabase, ServerProcess, Signer, error_code, run_async
from faults.test_crash import ORPHANS, Sent, audit, check_listing, download_all, list_all

MOUNT_KIB = 16 * 1024
LARGE = 600 * 1024  # past INLINE_MAX (256 KiB): a payload file on SQLite
SMALL = 3 * 1024  # inline in the SQLite database
# A send must be answered within this; a hang fails the test instead of stalling it.
TIMEOUT = httpx.Timeout(20.0, connect=5.0)
ENV = {"RELAYBOX_RATE_LIMIT": "0"}
PASSWORD = "correct horse 1"


# -- mounts ----------------------------------------------------------------------------------------
def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


def _umount(path: Path) -> None:
    """Unmount; lazily when something still holds it (the test has failed by then anyway)."""
    if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


class Disk:
    """The tmpfs under a server's data dir, and the faults made on it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / "filler.bin"
        self.binds: list[Path] = []
        self.ro = False

    def mount(self, size_kib: int) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        r = _mount("-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(self.root))
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs for the data dir (needs root and mount rights): {r.stderr.strip()}")

    def release(self) -> None:
        """Undo every fault and unmount (the server is stopped first)."""
        self.writable()
        if self.ro:
            _mount("-o", "remount,rw", str(self.root))
        _umount(self.root)

    def free_bytes(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def fill(self, leave: int = 0) -> int:
        """Write the filler until ENOSPC (or until ``leave`` bytes are left); bytes written."""
        written = 0
        with open(self.filler, "ab", buffering=0) as f:
            if leave:
                while (room := self.free_bytes() - leave) > 0:
                    written += f.write(b"\0" * min(room, 1 << 20))
                return written
            for size in (1 << 20, 64 << 10, 4096, 1):
                chunk = b"\0" * size
                while True:
                    try:
                        n = f.write(chunk)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
                    written += n or 0
        assert self.free_bytes() == 0
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def remount(self, mode: str) -> None:
        """The whole tmpfs read-only (``ro``) or writable again (``rw``)."""
        r = _mount("-o", f"remount,{mode}", str(self.root))
        assert r.returncode == 0, r.stderr
        self.ro = mode == "ro"

    def readonly(self) -> None:
        """Read-only bind mounts over ``payloads/`` and ``tmp/`` (see the module docstring)."""
        for name in ("payloads", "tmp"):
            path = self.root / name
            for args in (("--bind", str(path), str(path)), ("-o", "remount,bind,ro", str(path))):
                r = _mount(*args)
                assert r.returncode == 0, r.stderr
            self.binds.append(path)

    def writable(self) -> None:
        """Drop the read-only binds (a rename from tmp/ into payloads/ needs them gone: two
        mounts, even of one file system, refuse a rename between them)."""
        while self.binds:
            _umount(self.binds.pop())


@pytest.fixture
def disk_server(tmp_path: Path, backend: str) -> Iterator[tuple[ServerProcess, Disk]]:
    """A server whose data dir is a fresh ``MOUNT_KIB`` tmpfs (PostgreSQL: the database elsewhere)."""
    disk = Disk(tmp_path / "data")
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(PgDatabase()).url if backend == "postgresql" else None
        disk.mount(MOUNT_KIB)
        srv = ServerProcess(disk.root, ENV, url)
        try:
            srv.start()
            yield srv, disk
        finally:
            srv.stop()
            disk.release()


# -- HTTP helpers ----------------------------------------------------------------------------------
def send(http: httpx.Client, frm: Signer, to: str, data: bytes, message_id: str | None = None) -> httpx.Response:
    headers = frm.send(to, data, message_id=message_id)
    return http.post("/1/send-message", headers=headers, files={"data": ("file.bin", data)})


def assert_503(r: httpx.Response) -> None:
    """503 code 503 in the route API's form: an ``error`` header, an empty body."""
    assert r.status_code == 503, (r.status_code, r.headers.get("error"))
    assert error_code(r) == 503, r.headers.get("error")
    assert r.content == b""
    assert r.headers.get("request-id")


def assert_v1_503(r: httpx.Response) -> None:
    """503 in the management API's form: ``{"message": TEXT}``."""
    assert r.status_code == 503, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert list(body) == ["message"] and isinstance(body["message"], str), body
    assert r.headers.get("request-id")


class Mailbox:
    """What a test sent to one recipient and got a 200 for: link -> bytes."""

    def __init__(self, srv: ServerProcess, http: httpx.Client, sender: Signer, recipient: Signer) -> None:
        self.srv = srv
        self.http = http
        self.sender = sender
        self.recipient = recipient
        self.kept: dict[str, bytes] = {}
        self.refused: Counter[str] = Counter()  # by the error's message

    def send(self, data: bytes) -> httpx.Response:
        r = send(self.http, self.sender, self.recipient.route, data)
        if r.status_code == 200:
            self.kept[r.headers["message-link"]] = data
        return r

    def must_send(self, data: bytes) -> str:
        r = self.send(data)
        assert r.status_code == 200, (r.status_code, r.headers.get("error"))
        return str(r.headers["message-link"])

    def must_refuse(self, data: bytes) -> None:
        r = self.send(data)
        assert_503(r)
        self.refused[r.headers["error"].split("message=", 1)[1]] += 1

    def check_reads(self) -> None:
        """The listing is exactly what got a 200, and each message downloads byte for byte."""
        r = self.http.get("/1/list-messages", headers=self.recipient.receive())
        assert r.status_code == 200, (r.status_code, r.headers.get("error"))
        listed = {e["link"]: e for e in r.json()}
        assert set(listed) == set(self.kept), (sorted(listed), sorted(self.kept))
        for link, data in self.kept.items():
            assert listed[link]["md5"] == hashlib.md5(data).hexdigest()
            got = self.http.get(f"/1/get-message/{link}", headers=self.recipient.receive())
            assert got.status_code == 200, (got.status_code, got.headers.get("error"))
            assert got.content == data


def delivered(srv: ServerProcess, link: str) -> bool:
    async def read(store: Any) -> bool:
        m = await store.views.by_link(link)
        return m is not None and m.delivered_at is not None

    return srv._store_call(read)


def v1_station(srv: ServerProcess, route: str) -> str:
    """An account with ``route`` as its station; its /v1 token (taken while the disk has room)."""
    email, password = srv.add_account(password=PASSWORD)
    srv.add_station(email, route=route)
    return srv.token(email, password)


def v1_send(http: httpx.Client, token: str, station: str, partner: str, data: bytes) -> httpx.Response:
    return http.post(
        f"/v1/message/{station}/{partner}", content=data, headers={"Authorization": token, "Name": "f.bin"}
    )


def v1_list(http: httpx.Client, token: str, kind: str) -> list[str]:
    r = http.get(f"/v1/message/{kind}", params={"pageLength": 100}, headers={"Authorization": token})
    assert r.status_code == 200, (r.status_code, r.text)
    return [m["as2MessageId"] for m in r.json()["records"]]


def assert_store_clean(srv: ServerProcess) -> dict[str, int]:
    """The crash tests' audit with the server stopped: no message without its payload, no
    payload or bytes without an owner, no temp file left (after a sweep), every payload's bytes
    intact."""
    srv.sweep()
    assert srv.leftovers() == 0
    srv.stop()
    report, _ = audit(srv, clean=False, read_bytes=True)
    bad = {k: v for k, v in report.items() if k in (*ORPHANS, "half_written", "not_sent_state") and v}
    assert not bad, report
    return report


# -- SQLite: the data dir fills up ----------------------------------------------------------------
@pytest.mark.parametrize("backend", ["sqlite"])
def test_full_disk_refuses_sends_keeps_reads_and_recovers(disk_server: tuple[ServerProcess, Disk]) -> None:
    srv, disk = disk_server
    a, b, c = (Signer(*srv.new_route(p)) for p in ("a", "b", "c"))
    token_a, token_b = v1_station(srv, a.route), v1_station(srv, b.route)
    srv.add_partner(a.route, c.route)  # /v1 sends go to c, /1 sends to b
    began = time.monotonic()
    with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as http:
        box = Mailbox(srv, http, a, b)
        for data in (os.urandom(SMALL), os.urandom(LARGE), b""):
            box.must_send(data)
        v1_before = v1_list(http, token_a, "sent")
        payloads = srv.payload_count()
        first = list(box.kept)  # downloaded for the first time while the disk is full

        filled = disk.fill()
        for data in (os.urandom(LARGE), os.urandom(SMALL), os.urandom(8 << 20), b"x", os.urandom(LARGE)):
            box.must_refuse(data)
        assert_v1_503(v1_send(http, token_a, a.route, c.route, os.urandom(SMALL)))
        assert_v1_503(v1_send(http, token_a, a.route, c.route, os.urandom(LARGE)))
        assert_503(http.get("/1/ping"))  # the truth: nothing can be written
        box.check_reads()
        assert v1_list(http, token_a, "sent") == v1_before
        assert len(v1_list(http, token_b, "received")) == len(box.kept)
        assert srv.leftovers() == 0
        assert disk.free_bytes() == 0  # still full: the refusals left nothing behind
        # Request keys cannot be stored now, yet a replayed one is still refused.
        spent = b.receive()
        assert http.get("/1/list-messages", headers=spent).status_code == 200
        assert error_code(http.get("/1/list-messages", headers=spent)) == 103

        disk.free()
        assert http.get("/1/ping").status_code == 200
        assert error_code(http.get("/1/list-messages", headers=spent)) == 103
        assert srv.payload_count() == payloads  # nothing half-stored
        for data in (os.urandom(LARGE), os.urandom(SMALL)):
            box.must_send(data)
        r = v1_send(http, token_a, a.route, c.route, os.urandom(SMALL))
        assert r.status_code == 202, (r.status_code, r.text)
        box.check_reads()
        assert len(v1_list(http, token_a, "sent")) == len(v1_before) + 3
        # The download marks of the fault were held and written once writes worked again.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(delivered(srv, link) for link in first):
            time.sleep(0.2)
        assert all(delivered(srv, link) for link in first)
    srv.restart()  # the keys spent during the fault were stored once writes worked again
    with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as http:
        assert error_code(http.get("/1/list-messages", headers=spent)) == 103
    report = assert_store_clean(srv)
    print(
        f"\nfull disk[sqlite]: filler={filled // 1024} KiB refused={sum(box.refused.values())}+2 (/v1) "
        f"accepted={len(box.kept)}+1 (/v1) audit={report} {time.monotonic() - began:.1f}s {dict(box.refused)}"
    )


# -- SQLite: the payload side turns read-only ------------------------------------------------------
@pytest.mark.parametrize("backend", ["sqlite"])
def test_read_only_payload_dir_refuses_large_sends_keeps_reads_and_recovers(
    disk_server: tuple[ServerProcess, Disk],
) -> None:
    srv, disk = disk_server
    a, b = (Signer(*srv.new_route(p)) for p in ("a", "b"))
    token_b = v1_station(srv, b.route)
    began = time.monotonic()
    with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as http:
        box = Mailbox(srv, http, a, b)
        for data in (os.urandom(SMALL), os.urandom(LARGE)):
            box.must_send(data)
        payloads = srv.payload_count()

        disk.readonly()
        for data in (os.urandom(LARGE), os.urandom(3 * LARGE), os.urandom(LARGE)):
            box.must_refuse(data)
        # The database is writable: a payload small enough to live in it is still taken.
        box.must_send(os.urandom(SMALL))
        assert_503(http.get("/1/ping"))  # the payload directory is not writable
        box.check_reads()
        assert len(v1_list(http, token_b, "received")) == len(box.kept)
        assert srv.leftovers() == 0

        disk.writable()
        assert http.get("/1/ping").status_code == 200
        assert srv.payload_count() == payloads + 1
        for data in (os.urandom(LARGE), os.urandom(SMALL)):
            box.must_send(data)
        box.check_reads()
    assert_store_clean(srv)
    print(
        f"\nread-only payloads[sqlite]: refused={sum(box.refused.values())} accepted={len(box.kept)} "
        f"{time.monotonic() - began:.1f}s {dict(box.refused)}"
    )


# -- PostgreSQL: the data dir holds no message data -----------------------------------------------
@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgresql_node_is_untouched_by_a_full_or_read_only_data_dir(disk_server: tuple[ServerProcess, Disk]) -> None:
    """Payloads live in the database (chunks): a full data dir, then a read-only one (a real
    remount: nothing of the node is open there), changes no answer."""
    srv, disk = disk_server
    a, b, c = (Signer(*srv.new_route(p)) for p in ("a", "b", "c"))
    token_a = v1_station(srv, a.route)
    srv.add_partner(a.route, c.route)
    with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as http:
        box = Mailbox(srv, http, a, b)
        box.must_send(os.urandom(LARGE))
        for fault in ("full", "read-only"):
            if fault == "full":
                disk.fill()
            else:
                disk.remount("ro")
            for data in (os.urandom(LARGE), os.urandom(SMALL), b""):
                box.must_send(data)
            r = v1_send(http, token_a, a.route, c.route, os.urandom(LARGE))
            assert r.status_code == 202, (fault, r.status_code, r.text)
            assert http.get("/1/ping").status_code == 200, fault
            box.check_reads()
        disk.remount("rw")
        disk.free()
    assert srv.leftovers() == 0
    assert_store_clean(srv)


# -- SQLite: parallel senders while the disk fills ------------------------------------------------
SENDERS = 6


def _near_full_size(rng: random.Random) -> int:
    """Half small (inline in the database), half files of 200-500 KiB."""
    return rng.randint(0, 8 * 1024) if rng.random() < 0.5 else rng.randint(200 * 1024, 500 * 1024)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_near_full_parallel_senders_keep_every_acknowledged_message(disk_server: tuple[ServerProcess, Disk]) -> None:
    """Senders in parallel on a disk with 3 MiB left: they fill it and get 503s (each message is
    tried once). After the filler goes, one more send each succeeds; then every 200 is listed
    and byte-exact, nothing refused is listed, and the store passes the crash tests' audit."""
    srv, disk = disk_server
    seed = random.SystemRandom().getrandbits(32)
    senders = [Signer(*srv.new_route("snd")) for _ in range(3)]
    recipients = [Signer(*srv.new_route("rcv")) for _ in range(2)]
    disk.fill(leave=3 * 1024 * 1024)
    lock = threading.Lock()
    ledger: list[Sent] = []
    counts: Counter[str] = Counter()
    failures: list[str] = []
    stop = threading.Event()

    def deliver(client: httpx.Client, signer: Signer, msg: Sent) -> None:
        data = msg.data()
        try:
            r = client.post(
                f"{srv.url}/1/send-message",
                headers=signer.send(msg.recipient, data, message_id=msg.message_id),
                files={"data": ("f.bin", data)},
            )
        except httpx.TransportError as exc:  # a hang (timeout) or a cut connection
            with lock:
                failures.append(f"{msg.message_id} ({msg.size} B): {type(exc).__name__}")
            return
        with lock:
            if r.status_code == 200:
                msg.link = r.headers["message-link"]
                counts["200"] += 1
            elif r.status_code == 503 and error_code(r) == 503 and r.content == b"":
                counts["503"] += 1
                counts["503 " + ("database" if "database" in r.headers["error"] else "file")] += 1
            else:
                failures.append(f"{msg.message_id} ({msg.size} B): {r.status_code} {r.headers.get('error')!r}")

    def run(i: int) -> None:
        rng = random.Random(f"{seed}/{i}")
        signer = senders[i % len(senders)]
        with httpx.Client(timeout=TIMEOUT) as client:
            n = 0
            while not stop.is_set():
                size = _near_full_size(rng)
                msg_seed = rng.getrandbits(64)
                data = random.Random(msg_seed).randbytes(size)
                msg = Sent(
                    signer.route,
                    rng.choice(recipients).route,
                    f"m{i}-{n}",
                    msg_seed,
                    size,
                    hashlib.md5(data).hexdigest(),
                )
                n += 1
                with lock:
                    ledger.append(msg)
                deliver(client, signer, msg)

    began = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(SENDERS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while counts["503"] < 4 * SENDERS and not failures and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(TIMEOUT.read or 20.0 + 10)
    assert not any(t.is_alive() for t in threads), "a sender hangs"
    assert not failures, failures[:10]
    assert counts["503"] >= 4 * SENDERS, f"the disk did not fill: {dict(counts)}"
    full = dict(counts)

    disk.free()
    with httpx.Client(timeout=TIMEOUT) as client:
        for i, signer in enumerate(senders):  # the same server takes sends again
            msg = Sent(signer.route, recipients[0].route, f"after-{i}", seed + i, LARGE if i % 2 else SMALL, "")
            msg.md5 = hashlib.md5(msg.data()).hexdigest()
            ledger.append(msg)
            deliver(client, signer, msg)
            assert msg.link is not None, failures
    entries = list_all(srv, recipients)
    acked = [m for m in ledger if m.link is not None]
    check_listing(entries, ledger, acked, f"after recovery (seed {seed})")
    assert len(entries) == len(acked), "a refused send was stored"
    download_all(srv, recipients, entries, ledger)
    report = assert_store_clean(srv)
    print(
        f"\nnear full[sqlite]: senders={SENDERS} sent={len(ledger)} acked={len(acked)} refused={full.get('503', 0)} "
        f"listed={len(entries)} ({full}) audit_clean={not any(report[k] for k in ORPHANS)} "
        f"{time.monotonic() - began:.1f}s seed={seed}"
    )


# -- SQLite: the WAL sync fails after the commit ---------------------------------------------------
def test_failed_wal_sync_keeps_the_committed_payload_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a real disk a full or failing device can surface only at fdatasync (ENOSPC, EIO after
    delayed allocation): the send answers 503, yet its commit stands and the message is visible.
    Its payload file must then stay with its row (a patched fdatasync, in process: a tmpfs never
    fails a sync). A retry with the same message id gets the stored message's link."""
    from relaybox.config import Settings
    from relaybox.errors import StoreUnavailable
    from relaybox.store import make_store
    from relaybox.store.base import NewMessage

    data = os.urandom(LARGE)
    real_sync = os.fdatasync

    def failing_sync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    async def work() -> None:
        store = make_store(Settings(data_dir=tmp_path / "data"))
        await store.open()
        try:
            for route in ("a@sync", "b@sync"):
                await store.add_route(route, secrets.token_hex(24), time.time())
            now = time.time()
            new = NewMessage("b@sync", "a@sync", "m1", "f.bin", False, "normal", now, now + 3600)
            blob = store.new_blob()
            await blob.write(data)
            monkeypatch.setattr(os, "fdatasync", failing_sync)
            try:
                with pytest.raises(StoreUnavailable):
                    await store.add_message(new, blob)
                await blob.discard()  # as the route handler does on any error
            finally:
                monkeypatch.setattr(os, "fdatasync", real_sync)
            [stored] = await store.find_sent("a@sync", "m1", time.time())
            payload = await store.open_payload(stored.payload_id)
            got = b"".join([chunk async for chunk in payload.chunks()])
            assert got == data
            retry = store.new_blob()
            await retry.write(data)
            outcome = await store.add_message(new, retry)
            assert not outcome.created and outcome.message.link == stored.link
        finally:
            await store.close()

    run_async(work)
