"""``serve --workers 2`` on SQLite: two processes share the port, the store, the replay cache and
the wake-ups (loopback datagrams between workers)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx

from conftest import ServerProcess, Signer, error_code


def test_two_workers_share_wake_ups_and_replay_cache(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data", {"RELAYBOX_WORKERS": "2"})
    srv.start()
    try:
        alice = Signer("alice@w", srv.add_route("alice@w"))
        bob = Signer("bob@w", srv.add_route("bob@w"))
        time.sleep(3.5)  # past the workers' start-up polling: wake-ups must come from datagrams
        results: list[httpx.Response] = []

        def wait() -> None:
            # A connection of its own each, so the waiters land on both workers.
            with httpx.Client(timeout=60) as c:
                results.append(c.get(f"{srv.url}/1/wait-next-message/0?timeout=30", headers=bob.receive()))

        waiters = [threading.Thread(target=wait) for _ in range(8)]
        for t in waiters:
            t.start()
        time.sleep(0.5)
        started = time.monotonic()
        r = httpx.post(
            f"{srv.url}/1/send-message", headers=alice.send(bob.route, b"to all"), files={"data": ("f", b"to all")}
        )
        assert r.status_code == 200
        for t in waiters:
            t.join(40)
        assert len(results) == 8 and all(x.status_code == 200 and x.content == b"to all" for x in results)
        assert time.monotonic() - started < 10  # woken, not timed out
        assert (srv.data_dir / "run").is_dir() and len(list((srv.data_dir / "run").glob("*.port"))) == 2

        # A key used on one worker is refused by the other (whichever takes the connection).
        headers = bob.receive()
        answers = []
        for _ in range(4):
            with httpx.Client() as c:  # new connection each time
                answers.append(c.get(f"{srv.url}/1/list-messages", headers=headers))
        assert answers[0].status_code == 200
        assert all(a.status_code == 401 and error_code(a) == 103 for a in answers[1:])
    finally:
        srv.stop()
    assert list((srv.data_dir / "run").glob("*.port")) == []  # workers unregister on shutdown


def test_workers_exit_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data", {"RELAYBOX_WORKERS": "2"})
    srv.start()
    assert srv.proc is not None
    children = Path(f"/proc/{srv.proc.pid}/task/{srv.proc.pid}/children").read_text().split()
    workers = [int(pid) for pid in children]
    try:
        assert len(workers) >= 2
        srv.proc.kill()  # SIGKILL: the supervisor cannot stop its workers itself
        srv.proc.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_running(pid) for pid in workers):
            time.sleep(0.1)
        assert not any(_running(pid) for pid in workers), "orphaned workers still running"
    finally:
        for pid in workers:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        srv.stop()


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
