"""Two relaybox nodes on one PostgreSQL database: shared mailboxes, cross-node wake-ups, races,
replays across nodes, and a database restart under a waiting long-poll."""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import PgDatabase, ServerProcess, Signer, error_code, free_port, run_async
from faults.test_crash import pg_restart


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with PgDatabase() as db:
        a = ServerProcess(tmp_path / "a", {}, db.url)
        b = ServerProcess(tmp_path / "b", {}, db.url)
        a.start()
        b.start()
        try:
            yield a, b
        finally:
            a.stop()
            b.stop()


def send(url: str, frm: Signer, to: str, data: bytes, **kw: str) -> httpx.Response:
    return httpx.post(f"{url}/1/send-message", headers=frm.send(to, data, **kw), files={"data": ("f.bin", data)})


def test_send_on_one_node_read_on_the_other(nodes: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = nodes
    alice = Signer("alice@corp", a.add_route("alice@corp"))
    bob = Signer("bob@corp", a.add_route("bob@corp"))  # route made through node A's store ...
    data = os.urandom(700_000)  # several payload chunks
    link = send(a.url, alice, bob.route, data).headers["message-link"]
    got = httpx.get(f"{b.url}/1/get-message/{link}", headers=bob.receive())  # ... served by B
    assert got.status_code == 200 and got.content == data
    assert [e["link"] for e in httpx.get(f"{b.url}/1/list-messages", headers=bob.receive()).json()] == [link]


def test_waiter_on_b_is_woken_by_a_send_on_a(
    nodes: tuple[ServerProcess, ServerProcess], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = nodes
    alice = Signer("alice@wake", a.add_route("alice@wake"))
    bob = Signer("bob@wake", a.add_route("bob@wake"))
    latencies = []
    cursor = "0"
    with httpx.Client(base_url=b.url, timeout=60) as waiter_http, httpx.Client(base_url=a.url) as sender_http:
        for i in range(200):
            result: dict[str, httpx.Response] = {}

            def wait(cur: str = cursor, result: dict[str, httpx.Response] = result) -> None:
                result["r"] = waiter_http.get(f"/1/wait-next-message/{cur}?timeout=30", headers=bob.receive())

            t = threading.Thread(target=wait)
            t.start()
            time.sleep(0.02)  # the waiter is parked on node B
            data = f"wake {i}".encode()
            started = time.perf_counter()
            r = sender_http.post("/1/send-message", headers=alice.send(bob.route, data), files={"data": ("f", data)})
            assert r.status_code == 200
            t.join(30)
            latencies.append(time.perf_counter() - started)
            assert result["r"].status_code == 200 and result["r"].content == data
            cursor = result["r"].headers["message-link"]
    latencies.sort()
    p50, p99 = statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]
    with capsys.disabled():
        print(
            f"\ncross-node wake (send on A -> waiter on B has the bytes), 200 messages: "
            f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
        )
    assert p99 < 10  # every one was a wake-up, not the 30 s timeout


def test_same_message_id_raced_to_both_nodes_gives_one_message(nodes: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = nodes
    alice = Signer("alice@race", a.add_route("alice@race"))
    bob = Signer("bob@race", a.add_route("bob@race"))
    for round_ in range(10):
        data = f"order {round_}".encode()
        answers: list[httpx.Response] = []
        barrier = threading.Barrier(4)

        def go(
            node: ServerProcess,
            data: bytes = data,
            round_: int = round_,
            barrier: threading.Barrier = barrier,
            answers: list[httpx.Response] = answers,
        ) -> None:
            headers = alice.send(bob.route, data, message_id=f"ORD-{round_}")
            barrier.wait()
            answers.append(httpx.post(f"{node.url}/1/send-message", headers=headers, files={"data": ("f", data)}))

        threads = [threading.Thread(target=go, args=(n,)) for n in (a, b, a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert [r.status_code for r in answers] == [200] * 4, [r.headers.get("error") for r in answers]
        assert len({r.headers["message-link"] for r in answers}) == 1
    listed = httpx.get(f"{b.url}/1/list-messages", headers=bob.receive()).json()
    assert len(listed) == 10
    assert b.payload_count() == 10  # the losers' payload chunks were discarded


def test_a_key_used_on_one_node_is_refused_on_the_other(nodes: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = nodes
    bob = Signer("bob@replay", a.add_route("bob@replay"))
    headers = bob.receive()
    assert httpx.get(f"{a.url}/1/list-messages", headers=headers).status_code == 200
    replay = httpx.get(f"{b.url}/1/list-messages", headers=headers)
    assert replay.status_code == 401 and error_code(replay) == 103


def test_route_changes_from_the_cli_reach_every_node(nodes: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = nodes
    cli = [sys.executable, "-m", "relaybox", "route"]
    out = subprocess.run([*cli, "add", "new@corp", "--db", a.database_url or ""], capture_output=True, text=True)
    secret = out.stdout.split("secret: ")[1].split()[0]
    for node in (a, b):
        assert httpx.get(f"{node.url}/1/list-messages", headers=Signer("new@corp", secret).receive()).status_code == 200
    subprocess.run([*cli, "remove", "new@corp", "--db", a.database_url or ""], check=True, capture_output=True)
    for node in (a, b):
        assert httpx.get(f"{node.url}/1/list-messages", headers=Signer("new@corp", secret).receive()).status_code == 401


def test_sweepers_on_every_node_share_the_work(nodes: tuple[ServerProcess, ServerProcess]) -> None:
    import asyncio

    from relaybox.store import make_store

    a, _ = nodes
    alice = Signer("alice@sweep", a.add_route("alice@sweep"))
    bob = Signer("bob@sweep", a.add_route("bob@sweep"))
    with httpx.Client(base_url=a.url) as http:
        for i in range(60):
            data = f"{i}".encode()
            headers = alice.send(bob.route, data, message_expires_after="1")
            assert http.post("/1/send-message", headers=headers, files={"data": ("f", data)}).status_code == 200
    time.sleep(1.2)

    async def sweep_twice_at_once() -> int:
        stores = [make_store(a.settings()) for _ in range(3)]
        for s in stores:
            await s.open()
        try:
            reports = await asyncio.gather(*(s.sweep(time.time(), 3600) for s in stores))
        finally:
            for s in stores:
                await s.close()
        return sum(r.purged for r in reports)

    # (the nodes' own sweepers may have taken some already; nobody purges a message twice)
    assert run_async(sweep_twice_at_once) <= 60
    assert a.payload_count() == 0


@pytest.mark.serial  # restarts the machine's PostgreSQL: nothing else may run meanwhile
@pytest.mark.skipif(shutil.which("pg_ctlcluster") is None, reason="needs the local PostgreSQL cluster tools")
def test_database_restart_while_a_waiter_waits(nodes: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = nodes
    alice = Signer("alice@restart", a.add_route("alice@restart"))
    bob = Signer("bob@restart", a.add_route("bob@restart"))
    result: dict[str, httpx.Response] = {}

    def wait() -> None:
        with httpx.Client(timeout=90) as c:
            result["r"] = c.get(f"{b.url}/1/wait-next-message/0?timeout=60", headers=bob.receive())

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.5)
    pg_restart("fast")  # pg_ctlcluster's default mode
    # While the database came back, node A may answer 503 for a moment; the send is retried
    # as any client would, and acknowledged only once it is committed.
    deadline = time.monotonic() + 30
    data = b"after the restart"
    while True:
        r = send(a.url, alice, bob.route, data, message_id="after-restart")
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        assert r.status_code == 503 and error_code(r) == 503
        time.sleep(0.2)
    assert r.status_code == 200
    t.join(60)
    assert result["r"].status_code == 200 and result["r"].content == data
    assert hashlib.md5(result["r"].content).hexdigest() == result["r"].headers["message-md5"]


def test_unreachable_database_at_start_is_a_clear_error(tmp_path: Path) -> None:
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    proc = subprocess.run(
        [sys.executable, "-m", "relaybox", "serve", "--port", str(free_port()), "--db", dead],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "cannot open the store" in proc.stderr and "Traceback" not in proc.stderr


def test_db_upgrade_migrates_a_fresh_database() -> None:
    import asyncpg

    with PgDatabase() as db:
        for _ in range(2):  # the second run finds nothing to do
            proc = subprocess.run(
                [sys.executable, "-m", "relaybox", "db", "upgrade", "--db", db.url], capture_output=True, text=True
            )
            assert proc.returncode == 0, proc.stderr

        async def version() -> str:
            conn = await asyncpg.connect(db.url)
            try:
                return str(await conn.fetchval("SELECT version_num FROM alembic_version"))
            finally:
                await conn.close()

        from relaybox.store.migrations.versions import __path__ as versions

        newest = max(p.name.split("_")[0] for p in Path(versions[0]).glob("[0-9]*.py"))
        assert run_async(version) == newest
