"""Attacks on a live server (issue 8, item 6), one test each, on both stores where storage
matters (``shared_server``/``server``/``server_factory`` run once per backend).

Several attacks were already covered by ``tests/test_route_api.py`` and ``tests/test_v1_*.py``;
the tests here extend them rather than repeat them (each docstring names the test it extends
and what it adds). The table of which test covers which attack is in ``docs/reliability.md``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import secrets
import socket
import statistics
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ServerProcess, Signer, error_code
from relaybox.auth.signing import receive_key, send_key
from relaybox.wire.timestamps import format_timestamp

REQUEST_ID = re.compile(r"^\d{14}-[0-9a-f]{16}$")


# -- helpers ------------------------------------------------------------------------------------
@pytest.fixture
def http(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_server.url, timeout=60) as client:
        yield client


@pytest.fixture
def trio(shared_server: ServerProcess) -> tuple[Signer, Signer, Signer]:
    return tuple(Signer(*shared_server.new_route(p)) for p in "abc")  # type: ignore[return-value]


def assert_error(r: httpx.Response, status: int, code: int) -> None:
    assert r.status_code == status, (r.status_code, r.headers.get("error"))
    assert error_code(r) == code, r.headers.get("error")
    assert r.content == b""
    assert REQUEST_ID.match(r.headers["request-id"])


def send(http: httpx.Client, frm: Signer, to: str, data: bytes, name: str = "f.bin", **kw: str) -> httpx.Response:
    return http.post("/1/send-message", headers=frm.send(to, data, **kw), files={"data": (name, data)})


def list_messages(http: httpx.Client, who: Signer) -> list[dict[str, Any]]:
    r = http.get("/1/list-messages", headers=who.receive())
    assert r.status_code == 200, r.headers.get("error")
    return list(r.json())


def raw_request(url: str, request: bytes, timeout: float = 30) -> bytes:
    """Send bytes as they are (no client normalises paths or refuses header values); the
    answer's head, or b"" when the server closed the connection without one."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        try:
            s.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-request: the answer (if any) is still readable
        answer = b""
        while b"\r\n\r\n" not in answer:
            try:
                chunk = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            answer += chunk
        return answer


def status_of(answer: bytes) -> int | None:
    found = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
    return int(found[1]) if found else None


def head(method: str, target: bytes, headers: dict[str, str] | list[tuple[bytes, bytes]], body: bytes = b"") -> bytes:
    pairs = [(k.encode(), v.encode()) for k, v in headers.items()] if isinstance(headers, dict) else headers
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: relaybox"]
    lines += [k + b": " + v for k, v in pairs]
    lines += [b"Content-Length: " + str(len(body)).encode(), b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def multipart(parts: list[tuple[bytes, bytes]], boundary: bytes = b"relayboxattack") -> tuple[str, bytes]:
    """A multipart body from (Content-Disposition value, content) pairs, bytes as given."""
    body = b"".join(
        b"--" + boundary + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + content + b"\r\n"
        for disposition, content in parts
    )
    return f"multipart/form-data; boundary={boundary.decode()}", body + b"--" + boundary + b"--\r\n"


def alive(url: str) -> None:
    assert httpx.get(f"{url}/1/ping", timeout=10).status_code == 200


def concurrently(n: int, call: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """``n`` calls released at the same moment."""
    barrier = threading.Barrier(n)
    results: list[httpx.Response | BaseException] = [RuntimeError("not run")] * n

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except BaseException as exc:  # re-raised below
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results  # type: ignore[return-value]


# -- replay ---------------------------------------------------------------------------------------
def test_replay_within_the_window_races_to_one_success(shared_server: ServerProcess, trio: tuple[Signer, ...]) -> None:
    """test_route_api covers a sequential replay; here the copies arrive at the same moment, so
    only the store's atomic use of the key can refuse them."""
    a, b, _ = trio
    receive = b.receive()
    answers = concurrently(12, lambda: httpx.get(f"{shared_server.url}/1/list-messages", headers=receive, timeout=60))
    assert sorted(r.status_code for r in answers) == [200] + [401] * 11
    for r in answers:
        if r.status_code == 401:
            assert_error(r, 401, 103)
    sent = a.send(b.route, b"raced", message_id="raced")
    answers = concurrently(
        8,
        lambda: httpx.post(
            f"{shared_server.url}/1/send-message", headers=sent, files={"data": ("f", b"raced")}, timeout=60
        ),
    )
    assert sorted(r.status_code for r in answers) == [200] + [401] * 7
    with httpx.Client(base_url=shared_server.url, timeout=30) as http:
        assert [m["message_id"] for m in list_messages(http, b)] == ["raced"]


def test_replay_on_another_endpoint(http: httpx.Client, trio: tuple[Signer, ...]) -> None:
    """test_route_api replays a list-messages key on get-message and ping; here on every other
    receive call, and a send's headers on the receive calls."""
    a, b, _ = trio
    link = send(http, a, b.route, b"once").headers["message-link"]
    used = b.receive()
    assert http.get(f"/1/get-message/{link}", headers=used).status_code == 200
    for target in (
        "/1/list-messages",
        f"/1/get-next-message/{link}",
        "/1/get-next-message/0",
        "/1/wait-next-message/0?timeout=0",
        f"/1/get-message/{link}?index=0",
        "/1/ping",
    ):
        assert_error(http.get(target, headers=used), 401, 103)
    sent = a.send(b.route, b"x", message_id="cross")
    assert http.post("/1/send-message", headers=sent, files={"data": ("f", b"x")}).status_code == 200
    for target in ("/1/list-messages", "/1/ping", "/1/get-next-message/0"):
        r = http.get(target, headers=sent)
        assert r.status_code == 401 and error_code(r) in (101, 103) and r.content == b""


def test_replayed_send_after_a_restart_stores_nothing(server: ServerProcess) -> None:
    """test_route_api restarts with a used receive key; here a used send key, with its body."""
    a, b = Signer(*server.new_route("a")), Signer(*server.new_route("b"))
    headers = a.send(b.route, b"pay 100", message_id="pay-1")
    files = {"data": ("order.txt", b"pay 100")}
    assert httpx.post(f"{server.url}/1/send-message", headers=headers, files=files).status_code == 200
    server.restart()
    assert_error(httpx.post(f"{server.url}/1/send-message", headers=headers, files=files), 401, 103)
    server.kill()
    server.start()
    assert_error(httpx.post(f"{server.url}/1/send-message", headers=headers, files=files), 401, 103)
    with httpx.Client(base_url=server.url) as http:
        assert len(list_messages(http, b)) == 1
    assert server.payload_count() == 1


def test_replay_after_the_window_is_refused_as_stale(server_factory: Callable[..., ServerProcess]) -> None:
    """Used keys are pruned once their timestamp is out of the window: by then the window
    itself refuses them (102), never a second acceptance."""
    srv = server_factory(TIMESTAMP_WINDOW="2", SWEEP_INTERVAL="0.5")
    b = Signer(*srv.new_route())
    used = b.receive()
    assert httpx.get(f"{srv.url}/1/list-messages", headers=used).status_code == 200
    assert_error(httpx.get(f"{srv.url}/1/list-messages", headers=used), 401, 103)
    time.sleep(3.5)
    assert_error(httpx.get(f"{srv.url}/1/list-messages", headers=used), 401, 102)


# -- timestamps -----------------------------------------------------------------------------------
def test_timestamp_window_edges(http: httpx.Client, trio: tuple[Signer, ...]) -> None:
    """test_route_api checks +-290 and +-310 s; here +-299 / +-301 in several spellings, and
    dates no clock can reach."""
    b = trio[1]
    now = time.time()
    for offset in (-299, 299):
        assert http.get("/1/list-messages", headers=b.receive(format_timestamp(now + offset))).status_code == 200
    for offset in (-301, 301):
        assert_error(http.get("/1/list-messages", headers=b.receive(format_timestamp(now + offset))), 401, 102)
    # Whole seconds in other zones, as `date -Iseconds` writes them there (a second coarser).
    for offset, zone, ok in (
        (-298, timezone(timedelta(hours=-8)), True),
        (298, timezone(timedelta(hours=5, minutes=30)), True),
        (-302, timezone(timedelta(hours=23, minutes=59)), False),
        (302, timezone(timedelta(hours=-23, minutes=-59)), False),
    ):
        local = datetime.fromtimestamp(now + offset, zone).isoformat(timespec="seconds")
        r = http.get("/1/list-messages", headers=b.receive(local))
        if ok:
            assert r.status_code == 200, (local, r.headers.get("error"))
        else:
            assert_error(r, 401, 102)
    for stamp in ("0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59.999999999-23:59", "1970-01-01T00:00:00Z"):
        assert_error(http.get("/1/list-messages", headers=b.receive(stamp)), 401, 102)
    for stamp in ("0000-01-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00:00+24:00"):
        assert_error(http.get("/1/list-messages", headers=b.receive(stamp)), 400, 100)
    # A send signed at the edge is accepted once, at the edge.
    a = trio[0]
    edge = format_timestamp(time.time() - 299)
    assert send(http, a, b.route, b"edge", timestamp=edge).status_code == 200


# -- forged signatures ----------------------------------------------------------------------------
def test_signature_of_another_route(http: httpx.Client, trio: tuple[Signer, ...]) -> None:
    """A route signing in another's name, and a valid request with a signed header changed."""
    a, b, c = trio
    link = send(http, c, b.route, b"for b").headers["message-link"]
    posing = Signer(b.route, a.secret)  # a's secret, b's name
    assert_error(http.get("/1/list-messages", headers=posing.receive()), 401, 101)
    assert_error(http.get(f"/1/get-message/{link}", headers=posing.receive()), 401, 101)
    assert_error(send(http, posing, c.route, b"forged"), 401, 101)
    # a's own valid headers, request-from swapped for b.
    swapped = dict(a.receive(), **{"request-from": b.route})
    assert_error(http.get("/1/list-messages", headers=swapped), 401, 101)
    # Every signed header of a send is covered: changing one breaks the key.
    data = b"amount=100"
    for header, value in (
        ("message-to", c.route),
        ("message-id", "other-id"),
        ("message-md5", hashlib.md5(b"amount=999").hexdigest()),
        ("request-timestamp", format_timestamp(time.time() + 1)),
    ):
        headers = a.send(b.route, data, message_id="tamper")
        headers[header] = value
        body = b"amount=999" if header == "message-md5" else data
        assert_error(http.post("/1/send-message", headers=headers, files={"data": ("f", body)}), 401, 101)
    # A receive key is not a send key.
    headers = a.send(b.route, data)
    headers["request-key"] = receive_key(headers["request-timestamp"], a.route, a.secret)
    assert_error(http.post("/1/send-message", headers=headers, files={"data": ("f", data)}), 401, 101)
    assert [m["link"] for m in list_messages(http, b)] == [link]
    assert list_messages(http, c) == []


# -- route enumeration ------------------------------------------------------------------------------
def _shape(r: httpx.Response) -> tuple[Any, ...]:
    names = tuple(sorted(k for k in r.headers if k not in ("request-id", "date")))
    return r.status_code, r.headers.get("error"), r.content, names


def test_route_enumeration_unknown_route_and_wrong_key_look_alike(
    shared_server: ServerProcess, trio: tuple[Signer, ...]
) -> None:
    """test_route_api compares one answer of each; here the whole answer of 200 each, and the
    time taken."""
    a = trio[0]
    probes = {
        "wrong key": Signer(a.route, secrets.token_hex(24)),
        "unknown route": Signer(f"ghost{secrets.token_hex(4)}@nowhere{secrets.token_hex(3)}", secrets.token_hex(24)),
    }
    times: dict[str, list[float]] = {name: [] for name in probes}
    shapes: dict[str, set[tuple[Any, ...]]] = {name: set() for name in probes}
    with httpx.Client(base_url=shared_server.url, timeout=30) as http:
        for signer in probes.values():  # warm the connection and any caches
            http.get("/1/list-messages", headers=signer.receive())
        for i in range(200):
            order = list(probes.items()) if i % 2 else list(probes.items())[::-1]
            for name, signer in order:
                headers = signer.receive()
                started = time.perf_counter()
                r = http.get("/1/list-messages", headers=headers)
                times[name].append(time.perf_counter() - started)
                shapes[name].add(_shape(r))
    assert shapes["wrong key"] == shapes["unknown route"]
    assert len(shapes["wrong key"]) == 1
    status, error, _, _ = next(iter(shapes["wrong key"]))
    assert (status, error) == (401, "code=101; message=Request key is invalid")
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(
        f"\n[{shared_server.backend}] median 401 time: "
        + ", ".join(f"{name} {m * 1000:.2f} ms" for name, m in medians.items())
    )
    gap = abs(medians["wrong key"] - medians["unknown route"])
    assert gap < max(0.005, 0.3 * min(medians.values())), medians


# -- header injection ------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [b"\x00", b"\r", b"\n", b"\x01", b"\x7f", b"\r\n injected: 1"])
def test_control_characters_in_any_signed_header(
    shared_server: ServerProcess, trio: tuple[Signer, ...], bad: bytes
) -> None:
    """test_route_api puts \\x00, \\x01 and \\x7f into message-id and folds a line into
    request-from; here every signed header gets CR, LF, NUL and the others."""
    a, b, _ = trio
    for name in ("request-timestamp", "request-from", "request-key", "message-to", "message-id", "message-md5"):
        headers = a.send(b.route, b"x")
        pairs = [(k.encode(), v.encode() + bad + b"x" if k == name else v.encode()) for k, v in headers.items()]
        ctype, body = multipart([(b'form-data; name="data"; filename="f"', b"x")])
        pairs.append((b"Content-Type", ctype.encode()))
        answer = raw_request(shared_server.url, head("POST", b"/1/send-message", pairs, body))
        status = status_of(answer)
        # The HTTP parser refuses it (400), or relaybox does (400 code 100, 401 code 101).
        assert status in (400, 401), (name, answer[:300])
        assert b"\r\ninjected:" not in answer.lower()
    with httpx.Client(base_url=shared_server.url) as http:
        assert list_messages(http, b) == []
    alive(shared_server.url)


def test_over_long_header_values(http: httpx.Client, trio: tuple[Signer, ...]) -> None:
    """1025 characters in any relaybox header: 400 code 100 naming it (the unit test in
    test_wire.py checks the rule, test_route_api one header)."""
    a, b, _ = trio
    long = "x" * 1025
    for name in ("request-timestamp", "request-from", "request-key"):
        headers = dict(b.receive(), **{name: long})
        r = http.get("/1/list-messages", headers=headers)
        assert_error(r, 400, 100)
        assert name in r.headers["error"]
    for name in ("message-expires-after", "message-priority", "pay-for-reply"):
        r = send(http, a, b.route, b"x", **{name.replace("-", "_"): long})
        assert_error(r, 400, 100)
        assert name in r.headers["error"]
    for name in ("message-to", "message-id", "message-md5"):
        values = {"message-to": b.route, "message-id": "long", "message-md5": hashlib.md5(b"x").hexdigest()}
        values[name] = long
        ts = format_timestamp(time.time())
        headers = {
            "request-timestamp": ts,
            "request-from": a.route,
            "request-key": send_key(
                ts, a.route, values["message-to"], values["message-id"], values["message-md5"], a.secret
            ),
            **values,
        }
        r = http.post("/1/send-message", headers=headers, files={"data": ("f", b"x")})
        assert_error(r, 400, 100)
        assert name in r.headers["error"]
    assert list_messages(http, b) == []


def test_file_names_cannot_inject_response_headers(shared_server: ServerProcess, trio: tuple[Signer, ...]) -> None:
    a, b, _ = trio
    with httpx.Client(base_url=shared_server.url, timeout=30) as http:
        for name in (
            b"evil\r\nX-Injected: 1.txt",
            b"evil\nSet-Cookie: s=1",
            b'q"; filename="other.exe',
            b"\xc3\xa9\r\n\x00.txt",
        ):
            ctype, body = multipart([(b'form-data; name="data"; filename="' + name + b'"', b"payload")])
            headers = dict(a.send(b.route, b"payload"), **{"content-type": ctype})
            r = http.post("/1/send-message", headers=headers, content=body)
            if r.status_code != 200:  # refused as a malformed multipart body is fine too
                assert_error(r, 400, 207)
                continue
            got = http.get(f"/1/get-message/{r.headers['message-link']}", headers=b.receive())
            assert got.status_code == 200
            assert "x-injected" not in got.headers and "set-cookie" not in got.headers
            for value in (got.headers["content-disposition"], got.headers["message-file-name"]):
                assert not re.search(r"[\x00-\x1f\x7f]", value), value
            stored = [m["file_name"] for m in list_messages(http, b) if m["link"] == r.headers["message-link"]]
            assert stored and not re.search(r"[\x00-\x1f\x7f/\\]", stored[0])


# -- path traversal --------------------------------------------------------------------------------
TRAVERSAL_LINKS = [
    b"../../etc/passwd",
    b"..%2f..%2fetc%2fpasswd",
    b"%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    b"%2E%2E/%2E%2E/etc/passwd",
    b"..%5c..%5cetc%5cpasswd",
    b"..\\..\\etc\\passwd",
    b"/etc/passwd",
    b"....//....//etc/passwd",
    b"%252e%252e%252fetc%252fpasswd",
    b"..%00",
    b"..",
    b".",
    b"payloads",
    b"relaybox.db",
]


def test_traversal_links(shared_server: ServerProcess, trio: tuple[Signer, ...]) -> None:
    """test_route_api tries a few links through httpx (which removes dot segments); here the
    raw request lines, also with the on-disk name of a real payload as the link."""
    a, b, _ = trio
    with httpx.Client(base_url=shared_server.url, timeout=30) as http:
        big = secrets.token_bytes(300_000)  # past the inline size: a file on the SQLite store
        assert send(http, a, b.route, big).status_code == 200
    links = list(TRAVERSAL_LINKS)
    if shared_server.backend == "sqlite":
        links += [p.name.encode() for p in (shared_server.data_dir / "payloads").rglob("*") if p.is_file()][:3]
    for link in links:
        for call in (b"get-message/", b"get-next-message/", b"wait-next-message/"):
            target = b"/1/" + call + link + (b"?timeout=0" if call.startswith(b"wait") else b"")
            answer = raw_request(shared_server.url, head("GET", target, b.receive()))
            assert status_of(answer) in (400, 404), (target, answer[:300])
            assert b"root:" not in answer and b"SQLite format" not in answer
            assert re.search(rb"\r\nerror: code=(301|404|100); ", answer), (target, answer[:300])


def test_traversal_links_on_v1(shared_server: ServerProcess) -> None:
    email, _ = shared_server.add_account()
    shared_server.add_station(email)
    token = shared_server.token(email)
    for link in TRAVERSAL_LINKS[:10]:
        for target in (b"/v1/message/received/" + link, b"/v1/message/received/" + link + b"/attachments/0"):
            answer = raw_request(shared_server.url, head("GET", target, {"Authorization": token}))
            assert status_of(answer) in (400, 404), (target, answer[:300])
            assert b"root:" not in answer


TRAVERSAL_NAMES = [
    b"../../../../tmp/pwned-1",
    b"..\\..\\..\\pwned-2",
    b"/etc/pwned-3",
    b"C:\\Windows\\pwned-4",
    b"a/../../pwned-5",
    b"..",
    b".",
    b"%2e%2e%2fpwned-6",
    b"x\x00/../pwned-7",
    b"\xe2\x80\xae/pwned-8",
]


def _stray_files(root: Path, data_dir: Path) -> list[Path]:
    """Files under ``root`` that are not the server's: logs beside the data dir, and in it the
    database, payloads (random names) and the temp dir."""
    stray = []
    for p in root.rglob("*"):
        if not p.is_file():
            continue
        rel = p.relative_to(data_dir).parts if p.is_relative_to(data_dir) else None
        if rel is None:
            ok = p.parent == root and p.name.startswith("server-") and p.suffix == ".log"
        else:
            ok = rel[0] in ("relaybox.db", "relaybox.db-wal", "relaybox.db-shm", "payloads", "tmp")
            ok = ok and "pwned" not in p.name
        if not ok:
            stray.append(p)
    return stray


def test_traversal_file_names_on_send(server: ServerProcess) -> None:
    a, b = Signer(*server.new_route("a")), Signer(*server.new_route("b"))
    big = secrets.token_bytes(300_000)  # a payload file on SQLite, not an inline row
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for name in TRAVERSAL_NAMES:
            ctype, body = multipart([(b'form-data; name="data"; filename="' + name + b'"', big)])
            r = http.post(
                "/1/send-message", headers=dict(a.send(b.route, big), **{"content-type": ctype}), content=body
            )
            assert r.status_code == 200, (name, r.headers.get("error"))
        names = [m["file_name"] for m in list_messages(http, b)]
        assert len(names) == len(TRAVERSAL_NAMES)
        for stored in names:
            assert "/" not in stored and "\\" not in stored and "\x00" not in stored, stored
            assert stored not in ("", ".", "..")
        # /v1 sends refuse such names instead of cleaning them.
        email, _ = server.add_account()
        station, _ = server.add_station(email, a.route)
        server.add_partner(a.route, b.route)
        token = server.token(email)
        url = f"/v1/message/{a.route}/{b.route}"
        for name in (b"../pwned-9", b"..\\pwned-10", b"..", b"x\x00y"):
            if b"\x00" not in name:  # httpx will not send a NUL in a header
                r = http.post(url, headers={"Authorization": token, "Name": name.decode("latin-1")}, content=b"v1")
                assert r.status_code == 400, (name, r.text)
            ctype, body = multipart([(b'form-data; name="file"; filename="' + name + b'"', b"v1")])
            r = http.post(url, headers={"Authorization": token, "content-type": ctype}, content=body)
            assert r.status_code == 400, (name, r.text)
    if server.backend == "sqlite":
        assert _stray_files(server.data_dir.parent, server.data_dir) == []
    assert not list(Path("/tmp").glob("pwned-*")) and not list(Path("/etc").glob("pwned-*"))
    assert server.payload_count() == len(TRAVERSAL_NAMES)


# -- oversized headers and bodies -----------------------------------------------------------------------
def test_oversized_header_blocks_do_not_break_the_server(
    shared_server: ServerProcess, trio: tuple[Signer, ...]
) -> None:
    b = trio[1]
    for extra in (
        [(b"X-Big", b"a" * 8_000_000)],  # one 8 MB header
        [(b"X-%d" % i, b"y") for i in range(20_000)],  # 20,000 headers
        [(b"request-from", b"x@y")] * 2000,  # one relaybox header, repeated
    ):
        pairs = [(k.encode(), v.encode()) for k, v in b.receive().items()] + extra
        answer = raw_request(shared_server.url, head("GET", b"/1/list-messages", pairs))
        status = status_of(answer)
        assert status is None or status in (200, 400, 401, 413, 431), answer[:300]
        alive(shared_server.url)
    # A request line of 1 MB.
    answer = raw_request(shared_server.url, head("GET", b"/1/get-message/" + b"a" * 1_000_000, b.receive()))
    assert status_of(answer) in (None, 400, 404, 414, 431), answer[:300]
    alive(shared_server.url)


def test_oversized_header_blocks_are_refused(shared_server: ServerProcess) -> None:
    """The request head is bounded (64 KiB, api/protocol.py): past it, 431 and the connection
    closes; a head just under it is served."""
    answer = raw_request(shared_server.url, head("GET", b"/1/ping", [(b"X-Big", b"a" * 1_000_000)]))
    assert status_of(answer) == 431
    many = raw_request(shared_server.url, head("GET", b"/1/ping", [(b"X-H%d" % i, b"v") for i in range(20_000)]))
    assert status_of(many) == 431
    fits = raw_request(shared_server.url, head("GET", b"/1/ping", [(b"X-Ok", b"a" * 50_000)]))
    assert status_of(fits) == 200


def _chunked(data: bytes, size: int = 65536) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_oversized_bodies_without_content_length(server_factory: Callable[..., ServerProcess]) -> None:
    """test_route_api sends bodies over the limit with a Content-Length; here chunked ones,
    whose size is only known by counting, on the route API and on /v1."""
    srv = server_factory(MAX_MESSAGE_BYTES="100000", V1_MAX_BYTES="100000")
    a, b = Signer(*srv.new_route("a")), Signer(*srv.new_route("b"))
    big = secrets.token_bytes(3_000_000)
    ctype, body = multipart([(b'form-data; name="data"; filename="big"', big)])
    with httpx.Client(base_url=srv.url, timeout=60) as http:
        headers = dict(a.send(b.route, big), **{"content-type": ctype})
        r = http.post("/1/send-message", headers=headers, content=_chunked(body))
        assert_error(r, 413, 203)
        # A body on a receive call is ignored, whatever its size.
        r = http.request("GET", "/1/list-messages", headers=b.receive(), content=_chunked(big))
        assert r.status_code == 200
        email, _ = srv.add_account()
        srv.add_station(email, a.route)
        srv.add_partner(a.route, b.route)
        token = srv.token(email)
        r = http.post(
            f"/v1/message/{a.route}/{b.route}", headers={"Authorization": token, "Name": "big"}, content=_chunked(big)
        )
        assert r.status_code == 413 and "message" in r.json()
        for url in ("/v1/authorize", "/v1/partner", "/v1/webhooks"):
            r = http.post(
                url,
                headers={"Authorization": token, "content-type": "application/json"},
                content=_chunked(b"[" * 2_000_000),
            )
            assert r.status_code == 413, (url, r.text)
        assert list_messages(http, b) == []
    assert srv.payload_count() == 0
    assert srv.leftovers() == 0


def test_deeply_nested_json_bodies_are_400(shared_server: ServerProcess) -> None:
    """Found by this suite: json.loads raised RecursionError (a 500) for ``[[[[...`` under 1 MiB."""
    email, _ = shared_server.add_account()
    shared_server.add_station(email)
    token = shared_server.token(email)
    with httpx.Client(base_url=shared_server.url, timeout=30) as http:
        for body in (b"[" * 100_000, b'{"a":' * 100_000):
            r = http.post("/v1/authorize", content=body)
            assert r.status_code == 400 and "message" in r.json(), r.text
            for url in ("/v1/partner", "/v1/lists.json", "/v1/webhooks", "/v1/apikeys"):
                r = http.post(url, headers={"Authorization": token, "content-type": "application/json"}, content=body)
                assert r.status_code == 400 and "message" in r.json(), (url, r.status_code, r.text)


# -- zip-bomb-like multipart ------------------------------------------------------------------------------
def test_thousands_of_parts(shared_server: ServerProcess, trio: tuple[Signer, ...]) -> None:
    a, b, _ = trio
    before = shared_server.payload_ids()
    with httpx.Client(base_url=shared_server.url, timeout=60) as http:
        # 20,000 empty fields, then the data part: parsed as a stream, answered in seconds.
        parts = [(b'form-data; name="x%d"' % i, b"") for i in range(20_000)]
        ctype, body = multipart([*parts, (b'form-data; name="data"; filename="last"', b"the data")])
        started = time.monotonic()
        r = http.post(
            "/1/send-message", headers=dict(a.send(b.route, b"the data"), **{"content-type": ctype}), content=body
        )
        elapsed = time.monotonic() - started
        assert r.status_code == 200, r.headers.get("error")
        assert elapsed < 20, elapsed
        # 2,000 data parts: the first one is the message, the others are read and dropped.
        first = b"first" * 200
        ctype, body = multipart([(b'form-data; name="data"; filename="d"', first)] * 2000)
        r = http.post("/1/send-message", headers=dict(a.send(b.route, first), **{"content-type": ctype}), content=body)
        assert r.status_code == 200, r.headers.get("error")
        got = http.get(f"/1/get-message/{r.headers['message-link']}", headers=b.receive())
        assert got.content == first
        # One part with 10,000 header lines.
        lines = b"\r\n".join(b"X-H%d: v" % i for i in range(10_000))
        ctype, body = multipart([(b'form-data; name="data"; filename="h"\r\n' + lines, b"h")])
        r = http.post("/1/send-message", headers=dict(a.send(b.route, b"h"), **{"content-type": ctype}), content=body)
        assert r.status_code in (200, 400, 413), r.headers.get("error")
        stored = 4 + (r.status_code == 200)
        if r.status_code != 200:
            assert error_code(r) in (207, 203)
        # Parts nested in parts are bytes of the outer part, never unpacked.
        inner_type, inner = multipart([(b'form-data; name="data"; filename="inner"', b"inner")] * 1000, b"inner")
        ctype, body = multipart(
            [(b'form-data; name="data"; filename="outer"\r\nContent-Type: ' + inner_type.encode(), inner)]
        )
        r = http.post("/1/send-message", headers=dict(a.send(b.route, inner), **{"content-type": ctype}), content=body)
        assert r.status_code == 200, r.headers.get("error")
        assert http.get(f"/1/get-message/{r.headers['message-link']}", headers=b.receive()).content == inner
        # A gzip bomb (10 MB of zeros in 10 KB) is stored as the bytes sent, never inflated.
        bomb = gzip.compress(bytes(10_000_000))
        ctype, body = multipart([(b'form-data; name="data"; filename="bomb.gz"\r\nContent-Encoding: gzip', bomb)])
        headers = dict(a.send(b.route, bomb), **{"content-type": ctype})
        r = http.post("/1/send-message", headers=headers, content=body)
        assert r.status_code == 200, r.headers.get("error")
        sizes = {m["link"]: m["size"] for m in list_messages(http, b)}
        assert sizes[r.headers["message-link"]] == len(bomb) < 20_000
        # The whole body gzipped: not multipart to relaybox, refused, nothing stored.
        ctype, body = multipart([(b'form-data; name="data"; filename="z"', bytes(1_000_000))])
        headers = dict(a.send(b.route, bytes(1_000_000)), **{"content-type": ctype, "content-encoding": "gzip"})
        r = http.post("/1/send-message", headers=headers, content=gzip.compress(body))
        assert_error(r, 400, 207)
    assert len(shared_server.payload_ids() - before) == stored
    assert shared_server.leftovers() == 0


def test_thousands_of_file_parts_on_v1(shared_server: ServerProcess, trio: tuple[Signer, ...]) -> None:
    a, b, _ = trio
    email, _ = shared_server.add_account()
    shared_server.add_station(email, a.route)
    shared_server.add_partner(a.route, b.route)
    token = shared_server.token(email)
    before = shared_server.payload_ids()
    parts = [(b'form-data; name="file"; filename="f%d"' % i, b"x") for i in range(5000)]
    ctype, body = multipart(parts)
    r = httpx.post(
        f"{shared_server.url}/v1/message/{a.route}/{b.route}",
        headers={"Authorization": token, "content-type": ctype},
        content=body,
        timeout=60,
    )
    assert r.status_code == 413 and "files" in r.json()["message"], r.text
    assert not shared_server.payload_ids() - before
    assert shared_server.leftovers() == 0


# -- cross-route reads --------------------------------------------------------------------------------------
def test_cross_route_reads(shared_server: ServerProcess, trio: tuple[Signer, ...]) -> None:
    """test_route_isolation (test_route_api) and test_get_one_not_found (test_v1_messages)
    cover the plain reads; here the attachment index, the cursors and the /v1 downloads, and
    an answer that does not tell a foreign link from an unknown one."""
    a, b, c = trio
    with httpx.Client(base_url=shared_server.url, timeout=30) as http:
        link = send(http, a, b.route, b"secret for b").headers["message-link"]
        unknown = "A" * len(link)
        for target in (
            "/1/get-message/{}?index=0",
            "/1/get-message/{}?index=1",
            "/1/get-next-message/{}",
            "/1/wait-next-message/{}?timeout=0",
        ):
            foreign = http.get(target.format(link), headers=c.receive())
            missing = http.get(target.format(unknown), headers=c.receive())
            assert_error(foreign, 404, 301)
            assert _shape(foreign) == _shape(missing)
        # c's own cursor from the start never walks into b's mailbox.
        assert_error(http.get("/1/get-next-message/0", headers=c.receive()), 404, 303)
        # /v1: an account of c's station, and one without stations.
        for stations in ([c.route], []):
            email, _ = shared_server.add_account()
            for route in stations:
                shared_server.add_station(email, route)
            token = {"Authorization": shared_server.token(email)}
            for target in (
                f"/v1/message/received/{link}",
                f"/v1/message/received/{link}/attachments",
                f"/v1/message/received/{link}/attachments/0",
                f"/v1/message/sent/{link}",
                f"/v1/message/received/{link}/mdn",
            ):
                r = http.get(target, headers=token)
                assert r.status_code == 404 and "message" in r.json(), (target, r.text)
            r = http.post("/v1/message/received/batch/attachments", headers=token, json=[link])
            assert r.status_code == 200, r.text
            with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
                assert [n for n in zf.namelist() if not n.endswith("/")] == [f"{link}/.error"]
            r = http.delete(f"/v1/message/received/{link}", headers=token)
            assert r.status_code == 404
        got = http.get(f"/1/get-message/{link}", headers=b.receive())
        assert got.status_code == 200 and got.content == b"secret for b"
