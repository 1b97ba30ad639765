"""``relaybox watch``: the loop in-process against a scripted transport, then as a real subprocess."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from relaybox.cli import watch
from relaybox.client import Client

ROUTE, SECRET, PEER = "b@test", "s", "a@test"


def msg(body: bytes, link: str, name: str = "a.txt", md5: str | None = None, **extra: str) -> httpx.Response:
    headers = {
        "Message-Link": link,
        "Message-File-Name": name,
        "Message-From": PEER,
        "Message-Id": f"id-{link}",
        "Message-MD5": md5 or hashlib.md5(body).hexdigest(),
        "Message-Expires": "2026-11-26 18:00:00",
        **extra,
    }
    return httpx.Response(200, headers=headers, content=body)


def failure(status: int, code: int) -> httpx.Response:
    return httpx.Response(status, headers={"request-id": "R", "error": f"code={code}; message=m{code}"})


Step = httpx.Response | BaseException


class Scripted:
    """Answers each request with the next scripted step (keyed by path); stops the watch at the end."""

    def __init__(self, steps: list[tuple[str, Step]]) -> None:
        self.steps = steps
        self.paths: list[str] = []
        self.delays: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path + (f"?{request.url.query.decode()}" if request.url.query else ""))
        if not self.steps:
            raise watch._Stop
        expected, step = self.steps.pop(0)
        assert request.url.path == expected, (request.url.path, expected)
        if isinstance(step, BaseException):
            raise step
        return step


def run(out_dir: Path, steps: list[tuple[str, Step]], after: str | None = None) -> tuple[int, list[str], str, Scripted]:
    script = Scripted(steps)
    lines: list[str] = []
    err = io.StringIO()
    with (
        pytest.MonkeyPatch.context() as mp,
        Client("http://watch.test", ROUTE, SECRET, transport=httpx.MockTransport(script)) as client,
    ):
        mp.setattr(watch, "_sleep", script.delays.append)
        code = watch.run_watch(client, out_dir, after=after, poll=1, out=lines.append, err=Console(file=err))
    return code, lines, err.getvalue(), script


def payloads(out_dir: Path) -> list[str]:
    return sorted(p.name for p in out_dir.iterdir() if not p.name.startswith(".") and not p.name.endswith(".json"))


W = "/1/wait-next-message/"


def test_payload_names_are_safe_unique_and_bounded() -> None:
    assert watch.payload_name("L1", "report.pdf") == "L1__report.pdf"
    assert watch.payload_name("L1", "../../x/y.txt") == "L1__y.txt"
    assert watch.payload_name("L1", 'a:b*c?"<>|.txt') == "L1__a_b_c_____.txt"
    assert watch.payload_name("L1", None) == "L1__data"
    assert watch.payload_name("L1", "a.txt", 1, 2) == "L1__1__a.txt"
    long = watch.payload_name("L" * 100, "é" * 300)
    assert len(long.encode()) <= watch.MAX_NAME_BYTES and long.startswith("L" * 100 + "__é")
    with pytest.raises(watch._Fatal):
        watch.payload_name("../x", "a")


def test_writes_payload_then_sidecar_then_cursor(tmp_path: Path) -> None:
    out = tmp_path / "inbox"
    code, lines, err, _ = run(
        out, [(W + "0", httpx.Response(204)), (W + "0", msg(b"one", "A")), (W + "A", msg(b"2", "B", "b.bin"))]
    )
    assert code == 0 and "stopped: 2 written, 0 skipped, cursor B" in err
    assert payloads(out) == ["A__a.txt", "B__b.bin"]
    assert (out / "A__a.txt").read_bytes() == b"one"
    side = json.loads((out / "A__a.txt.json").read_text())
    assert side["link"] == "A" and side["from"] == PEER and side["message_id"] == "id-A"
    assert side["md5"] == hashlib.md5(b"one").hexdigest() and side["size"] == 3 and side["file_name"] == "a.txt"
    assert side["expiration_date"] == "2026-11-26 18:00:00" and side["payload"] == "A__a.txt"
    assert (out / ".relaybox-cursor").read_text().strip() == "B"
    assert len(lines) == 2 and lines[0].startswith("A  from a@test  3 bytes -> A__a.txt")
    assert not list(out.glob(".relaybox-tmp-*"))


def test_restart_resumes_from_the_cursor(tmp_path: Path) -> None:
    run(tmp_path, [(W + "0", msg(b"one", "A"))])
    code, _, _, script = run(tmp_path, [(W + "A", msg(b"two", "B"))])
    assert code == 0 and script.paths[0] == W + "A?timeout=1"
    assert payloads(tmp_path) == ["A__a.txt", "B__a.txt"]


def test_crash_after_rename_before_cursor_does_not_write_twice(tmp_path: Path) -> None:
    (tmp_path / "A__a.txt").write_bytes(b"already here")  # renamed, then the process died
    code, lines, err, _ = run(tmp_path, [(W + "0", msg(b"one", "A")), (W + "A", msg(b"two", "B"))])
    assert code == 0 and "A already written, skipped" in err
    assert (tmp_path / "A__a.txt").read_bytes() == b"already here"
    assert payloads(tmp_path) == ["A__a.txt", "B__a.txt"] and len(lines) == 1


def test_md5_mismatch_is_fetched_again_once(tmp_path: Path) -> None:
    steps: list[tuple[str, Step]] = [
        (W + "0", msg(b"corrupt", "A", md5=hashlib.md5(b"good").hexdigest())),
        ("/1/get-message/A", msg(b"good", "A")),
    ]
    code, _, err, _ = run(tmp_path, steps)
    assert code == 0 and "MD5 mismatch for A" in err
    assert (tmp_path / "A__a.txt").read_bytes() == b"good"


def test_md5_mismatch_twice_stops_without_advancing(tmp_path: Path) -> None:
    (tmp_path / ".relaybox-cursor").write_text("X0\n")
    bad = hashlib.md5(b"good").hexdigest()
    code, _, err, _ = run(
        tmp_path, [(W + "X0", msg(b"bad", "A", md5=bad)), ("/1/get-message/A", msg(b"bad", "A", md5=bad))]
    )
    assert code == 1 and "stopping without advancing the cursor" in err
    assert payloads(tmp_path) == [] and (tmp_path / ".relaybox-cursor").read_text() == "X0\n"
    assert not list(tmp_path.glob(".relaybox-tmp-*"))


def test_unauthorized_exits_1(tmp_path: Path) -> None:
    code, _, err, _ = run(tmp_path, [(W + "0", failure(401, 101))])
    assert code == 1 and "101 m101 (HTTP 401" in err


def test_unreachable_server_is_retried_with_capped_backoff(tmp_path: Path) -> None:
    refused = httpx.ConnectError("Connection refused")
    limited = httpx.Response(429, headers={"error": "code=104; message=slow", "Retry-After": "30"})
    steps: list[tuple[str, Step]] = [(W + "0", refused)] * 7 + [(W + "0", failure(503, 503)), (W + "0", msg(b"x", "A"))]
    steps += [(W + "A", limited), (W + "A", msg(b"y", "B"))]
    code, lines, err, script = run(tmp_path, steps)
    assert code == 0 and len(lines) == 2 and "server unreachable" in err and "503" in err
    assert script.delays == [0.5, 1, 2, 4, 8, 10, 10, 10, 30]  # a success resets the backoff; Retry-After wins


def test_vanished_cursor_rescans_and_skips_what_was_seen(tmp_path: Path) -> None:
    (tmp_path / ".relaybox-cursor").write_text("OLD\n")
    (tmp_path / ".relaybox-seen").write_text("OLD\nA\n")  # A's files were moved away by a consumer
    steps: list[tuple[str, Step]] = [
        (W + "OLD", failure(404, 301)),
        (W + "0", msg(b"a", "A")),
        (W + "A", msg(b"b", "B")),
    ]
    code, _, err, _ = run(tmp_path, steps)
    assert code == 0 and "rescanning" in err
    assert payloads(tmp_path) == ["B__a.txt"]


def test_every_attachment_of_a_multi_file_message(tmp_path: Path) -> None:
    steps: list[tuple[str, Step]] = [
        (W + "0", msg(b"first", "A", "one.txt", **{"Message-Attachment-Count": "2"})),
        ("/1/get-message/A", msg(b"second", "A", "two.txt", **{"Message-Attachment-Count": "2"})),
    ]
    code, _, _, script = run(tmp_path, steps)
    assert code == 0 and "/1/get-message/A?index=1" in script.paths
    assert payloads(tmp_path) == ["A__0__one.txt", "A__1__two.txt"]
    side = json.loads((tmp_path / "A__0__one.txt.json").read_text())
    assert [a["payload"] for a in side["attachments"]] == ["A__0__one.txt", "A__1__two.txt"]


def test_a_signal_during_commit_waits_for_the_commit() -> None:
    signals = watch.Signals()
    done = []
    with pytest.raises(watch._Stop), signals.critical():
        signals._handle(signal.SIGTERM, None)
        done.append(True)
    assert done == [True]
    with pytest.raises(watch._Stop):
        watch.Signals()._handle(signal.SIGINT, None)


def test_one_watch_per_directory_and_stale_temp_files_go(tmp_path: Path) -> None:
    (tmp_path / ".relaybox-tmp-deadbeef").write_bytes(b"half")
    box = watch.Outbox(tmp_path)
    try:
        assert not (tmp_path / ".relaybox-tmp-deadbeef").exists()
        with pytest.raises(watch._Fatal, match="another watch"):
            watch.Outbox(tmp_path)
    finally:
        box.close()


# -- the real thing: `python -m relaybox watch` against `relaybox serve` -------------------------


def wait_for(cond: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def live(
    server: Any, tmp_path: Path
) -> Iterator[tuple[Any, Client, dict[str, str], Callable[..., subprocess.Popen[bytes]]]]:
    sender = "alice@test01"
    sender_secret = server.add_route(sender)
    route = "bob@test01"
    env = {
        **os.environ,
        "RELAYBOX_URL": server.url,
        "RELAYBOX_ROUTE": route,
        "RELAYBOX_SECRET": server.add_route(route),
    }
    procs: list[subprocess.Popen[bytes]] = []

    def start(out_dir: Path, *extra: str, **env_over: str) -> subprocess.Popen[bytes]:
        n = len(procs)
        proc = subprocess.Popen(
            [sys.executable, "-m", "relaybox", "watch", "--out", str(out_dir), "--timeout", "5", *extra],
            env={**env, **env_over},
            stdout=open(tmp_path / f"watch{n}.out", "wb"),
            stderr=open(tmp_path / f"watch{n}.err", "wb"),
        )
        procs.append(proc)
        return proc

    with Client(server.url, sender, sender_secret) as client:
        yield server, client, {"route": route}, start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigkill_and_restart_lose_nothing_and_write_nothing_twice(live: Any, tmp_path: Path) -> None:
    server, alice, info, start = live
    out = tmp_path / "inbox"
    bodies: dict[str, bytes] = {}

    def send(i: int) -> None:
        data = os.urandom(1000 + i) + bytes(range(256))
        bodies[alice.send(data, to=info["route"], file_name=f"m{i}.bin")] = data

    first = start(out)
    for i in range(3):
        send(i)
    wait_for(lambda: len(payloads(out)) == 3 if out.exists() else False, what="3 payload files")
    first.send_signal(signal.SIGKILL)
    first.wait()
    for i in range(3, 5):
        send(i)
    second = start(out)
    wait_for(lambda: len(payloads(out)) == 5, what="5 payload files")
    second.send_signal(signal.SIGINT)
    assert second.wait(15) == 0
    assert b"stopped:" in (tmp_path / "watch1.err").read_bytes()

    names = payloads(out)
    assert sorted(names) == sorted(f"{link}__m{i}.bin" for i, link in enumerate(bodies))
    for link, data in bodies.items():
        [name] = [n for n in names if n.startswith(link + "__")]
        assert (out / name).read_bytes() == data
        side = json.loads((out / f"{name}.json").read_text())
        assert side["link"] == link and side["from"] == "alice@test01" and side["size"] == len(data)
        assert side["md5"] == hashlib.md5(data).hexdigest()
    assert (out / ".relaybox-cursor").read_text().strip() == list(bodies)[-1]
    lines = (tmp_path / "watch0.out").read_text().splitlines() + (tmp_path / "watch1.out").read_text().splitlines()
    written = [line.split()[0] for line in lines]
    # SIGKILL may land after message 3 was renamed but before the cursor moved: the restart
    # finds its file and skips it instead of writing it again. Or after the cursor moved but
    # before its line was printed: then it is on disk (checked above) and in no report. Never
    # written twice, never reported twice, at most the one in flight unreported.
    err = (tmp_path / "watch1.err").read_text().splitlines()
    skipped = [line.split()[0] for line in err if line.endswith("already written, skipped")]
    reported = written + skipped
    assert len(reported) == len(set(reported)) and set(reported) <= set(bodies)
    assert len(set(bodies) - set(reported)) <= 1, (reported, list(bodies))
    assert not list(out.glob(".relaybox-tmp-*"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_stop_cleanly_with_exit_0(live: Any, tmp_path: Path, sig: signal.Signals) -> None:
    _, _, _, start = live
    proc = start(tmp_path / "inbox")
    wait_for(lambda: b"watching" in (tmp_path / "watch0.err").read_bytes(), what="watch to start")
    time.sleep(0.3)  # now inside the long poll
    proc.send_signal(sig)
    assert proc.wait(15) == 0
    assert b"stopped: 0 written" in (tmp_path / "watch0.err").read_bytes()


def test_wrong_secret_exits_non_zero(live: Any, tmp_path: Path) -> None:
    _, _, _, start = live
    proc = start(tmp_path / "inbox", RELAYBOX_SECRET="wrong")
    assert proc.wait(30) == 1
    assert b"101" in (tmp_path / "watch0.err").read_bytes()


def test_server_outage_is_waited_out(live: Any, tmp_path: Path) -> None:
    server, alice, info, start = live
    out = tmp_path / "inbox"
    proc = start(out)
    wait_for(lambda: b"watching" in (tmp_path / "watch0.err").read_bytes(), what="watch to start")
    server.stop()
    wait_for(lambda: b"unreachable" in (tmp_path / "watch0.err").read_bytes(), what="a retry notice")
    server.start()
    alice.send(b"after the outage", to=info["route"], file_name="late.txt")
    wait_for(lambda: len(payloads(out)) == 1, what="the message after the outage")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
