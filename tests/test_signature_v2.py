"""``request-signature: v2=<hex>`` (docs/route-api.md, "request-signature v2"): verified when
present, required per route, sent by the SDK and CLI; checked against an implementation of the
formula written here from the docs (hashlib + hmac), not relaybox's."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ROOT, ServerProcess, Signer, error_code
from relaybox.auth.signing import request_signature, signature_header
from relaybox.client import ApiError, AsyncClient, Client
from relaybox.wire.timestamps import format_timestamp

EMPTY = hashlib.md5(b"").hexdigest()

# The worked example of docs/route-api.md.
DOC_SECRET, DOC_STAMP = "s3cret", "2024-10-24T22:51:00Z"
DOC_BODY = b'--b0\r\nContent-Disposition: form-data; name="data"; filename="hello.txt"\r\n\r\nhello\n\r\n--b0--\r\n'
DOC_LIST = "v2=edab0e26bef39fbd6b530f63f003053f2e2ef8a3ff1d18f04f12b6a7f0460476"
DOC_WAIT = "v2=fb21b5c22f49ce1575e493c2c84e8acace7a55fea78705a55251b792b8033e1a"
DOC_SEND = "v2=12a4c5edef43bc498af0011b0c05fadc0b14dbb181866d9d3ff199f9cce411b2"
DOC_BODY_MD5 = "89b0adc85f46282189ee5391846f95fa"


def v2(secret: str, method: str, target: str, stamp: str, body: bytes = b"") -> str:
    """The docs' formula, independently: HMAC-SHA256(secret, METHOD\\nPATH?QUERY\\nTIMESTAMP\\nMD5)."""
    text = "\n".join([method, target, stamp, hashlib.md5(body).hexdigest()])
    return "v2=" + hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def multipart(data: bytes, boundary: str = "b0", name: str = "f.bin", extra: bytes = b"") -> bytes:
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="data"; filename="{name}"\r\n\r\n'.encode()
    return head + data + b"\r\n" + extra + f"--{boundary}--\r\n".encode()


def ctype(boundary: str = "b0") -> dict[str, str]:
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def error_message(r: httpx.Response) -> str:
    return str(r.headers.get("error", "")).split("message=", 1)[-1]


class Route:
    """A route of the server with raw-request helpers that sign (or mis-sign) request-signature."""

    def __init__(self, srv: ServerProcess, prefix: str = "v") -> None:
        self.srv = srv
        self.route, self.secret = srv.new_route(prefix)
        self.signer = Signer(self.route, self.secret)

    def get(self, target: str, *, sign: bool = True, **tamper: Any) -> httpx.Response:
        headers = self.signer.receive()
        if sign:
            headers["request-signature"] = self.sig("GET", target, headers["request-timestamp"], b"", **tamper)
        return httpx.get(self.srv.url + target, headers=headers, timeout=10)

    def send(
        self, to: str, data: bytes, *, sign: bool = True, body: bytes | None = None, **tamper: Any
    ) -> httpx.Response:
        headers = {**self.signer.send(to, data), **ctype()}
        raw = multipart(data) if body is None else body
        if sign:
            headers["request-signature"] = self.sig(
                "POST", "/1/send-message", headers["request-timestamp"], multipart(data), **tamper
            )
        return httpx.post(self.srv.url + "/1/send-message", headers=headers, content=raw, timeout=10)

    def sig(
        self,
        method: str,
        target: str,
        stamp: str,
        body: bytes,
        *,
        as_method: str | None = None,
        as_target: str | None = None,
        as_stamp: str | None = None,
        as_body: bytes | None = None,
        value: str | None = None,
    ) -> str:
        if value is not None:
            return value
        return v2(
            self.secret,
            as_method or method,
            as_target if as_target is not None else target,
            as_stamp or stamp,
            as_body if as_body is not None else body,
        )

    def require(self, on: bool = True) -> None:
        run_cli("route", "require-signature", self.route, "--on" if on else "--off", *self.srv.store_args())


def run_cli(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "relaybox", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


# -- the formula -----------------------------------------------------------------------------------


def test_documented_vectors() -> None:
    assert hashlib.md5(DOC_BODY).hexdigest() == DOC_BODY_MD5 and len(DOC_BODY) == 91
    assert v2(DOC_SECRET, "GET", "/1/list-messages", DOC_STAMP) == DOC_LIST
    assert v2(DOC_SECRET, "GET", "/1/wait-next-message/0?timeout=30", DOC_STAMP) == DOC_WAIT
    assert v2(DOC_SECRET, "POST", "/1/send-message", DOC_STAMP, DOC_BODY) == DOC_SEND
    # relaybox's own implementation agrees, and the docs show the same values.
    assert signature_header(DOC_SECRET, "get", b"/1/list-messages", DOC_STAMP, EMPTY) == DOC_LIST
    assert "v2=" + request_signature(DOC_SECRET, "POST", "/1/send-message", DOC_STAMP, DOC_BODY_MD5) == DOC_SEND
    docs = (ROOT / "docs" / "route-api.md").read_text()
    for value in (DOC_LIST, DOC_WAIT, DOC_SEND, DOC_BODY_MD5):
        assert value in docs


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_documented_shell_recipe_agrees() -> None:
    script = (
        "printf '%s\\n%s\\n%s\\n%s' GET /1/list-messages \"$DATE\" d41d8cd98f00b204e9800998ecf8427e"
        " | openssl dgst -sha256 -hmac \"$KEY_SECRET\" | sed 's/^.* //'"
    )
    out = subprocess.run(
        ["sh", "-c", script],
        env={**os.environ, "DATE": DOC_STAMP, "KEY_SECRET": DOC_SECRET},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "v2=" + out.stdout.strip() == DOC_LIST


@pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("bash", "curl", "openssl", "shasum", "md5sum")),
    reason="needs bash, curl, openssl, shasum and md5sum",
)
def test_the_documented_shell_recipes_work(shared_server: ServerProcess, tmp_path: Path) -> None:
    docs = (ROOT / "docs" / "route-api.md").read_text()
    section = docs[docs.index("## request-signature v2") :]
    list_recipe, send_recipe = re.findall(r"```bash\n(.*?)```", section, re.S)
    alice, bob = Route(shared_server, "a"), Route(shared_server, "b")
    alice.require()
    bob.require()
    (tmp_path / "hello.txt").write_bytes(b"hello from bash\n")

    def bash(script: str, route: Route, *args: str) -> str:
        env = {**os.environ, "HOST": shared_server.url, "ROUTE": route.route, "KEY_SECRET": route.secret}
        done = subprocess.run(
            ["bash", "-c", script, "recipe", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    bash(send_recipe, alice, "hello.txt", bob.route)
    listed = bob.get("/1/list-messages").json()
    assert [m["file_name"] for m in listed] == ["hello.txt"]
    assert bob.get(f"/1/get-message/{listed[0]['link']}").content == b"hello from bash\n"
    assert listed[0]["link"] in bash(list_recipe, bob)


# -- the server ------------------------------------------------------------------------------------


def test_valid_signatures_are_accepted_on_every_call(shared_server: ServerProcess) -> None:
    alice, bob = Route(shared_server, "a"), Route(shared_server, "b")
    data = secrets.token_bytes(3000)
    sent = alice.send(bob.route, data)
    assert sent.status_code == 200, sent.headers
    link = sent.headers["message-link"]

    listed = bob.get("/1/list-messages")
    assert listed.status_code == 200 and [m["link"] for m in listed.json()] == [link]
    for target in (
        f"/1/get-message/{link}",
        f"/1/get-message/{link}?index=0",
        "/1/get-next-message/0",
        "/1/wait-next-message/0?timeout=0",
    ):
        got = bob.get(target)
        assert got.status_code == 200 and got.content == data, (target, got.headers)
    assert bob.get("/1/ping").status_code == 200
    # The path as sent, percent-encoding untouched: %62 is "b" only after decoding.
    encoded = f"/1/get-message/%{ord(link[0]):02X}{link[1:]}"
    assert bob.get(encoded).status_code == 200
    refused = bob.get(encoded, as_target=f"/1/get-message/{link}")
    assert (refused.status_code, error_code(refused)) == (401, 101)
    # Hex in either case; HEAD signs HEAD.
    headers = bob.signer.receive()
    headers["request-signature"] = v2(bob.secret, "GET", "/1/list-messages", headers["request-timestamp"]).upper()
    headers["request-signature"] = "v2=" + headers["request-signature"][3:]
    assert httpx.get(shared_server.url + "/1/list-messages", headers=headers, timeout=10).status_code == 200
    headers = bob.signer.receive()
    headers["request-signature"] = v2(bob.secret, "HEAD", "/1/list-messages", headers["request-timestamp"])
    assert httpx.head(shared_server.url + "/1/list-messages", headers=headers, timeout=10).status_code == 200


OTHER_STAMP = "2030-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "tamper",
    [
        {"as_method": "PUT"},
        {"as_target": "/1/list-messages"},
        {"as_target": "/1/send-message?x=1"},
        {"as_target": "/1/send-message/"},
        {"as_stamp": OTHER_STAMP},
        {"as_body": multipart(b"other bytes")},
        {"value": "v2=" + "0" * 64},
    ],
    ids=["method", "path", "query", "slash", "timestamp", "body", "zeros"],
)
def test_a_mismatching_send_is_refused_and_nothing_is_stored(
    shared_server: ServerProcess, tamper: dict[str, Any]
) -> None:
    alice, bob = Route(shared_server, "a"), Route(shared_server, "b")
    before = shared_server.payload_ids()
    r = alice.send(bob.route, b"payload", **tamper)
    assert (r.status_code, error_code(r)) == (401, 101), r.headers
    assert "request-signature" in error_message(r)
    assert bob.get("/1/list-messages").json() == []
    assert not shared_server.payload_ids() - before


@pytest.mark.parametrize(
    "body",
    [
        multipart(b"payload", boundary="b1"),  # other framing, same file: message-md5 still matches
        multipart(b"payload", extra=b'--b0\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n'),
        multipart(b"payload", name="other.bin"),
    ],
    ids=["boundary", "extra-part", "file-name"],
)
def test_the_whole_raw_body_is_signed(shared_server: ServerProcess, body: bytes) -> None:
    alice, bob = Route(shared_server, "a"), Route(shared_server, "b")
    boundary = "b1" if b"--b1" in body else "b0"
    headers = {**alice.signer.send(bob.route, b"payload"), **ctype(boundary)}
    stamp = headers["request-timestamp"]
    headers["request-signature"] = v2(alice.secret, "POST", "/1/send-message", stamp, multipart(b"payload"))
    r = httpx.post(shared_server.url + "/1/send-message", headers=headers, content=body, timeout=10)
    assert (r.status_code, error_code(r)) == (401, 101)
    # Unsigned, the same body is a valid send: only request-signature refused it.
    headers = {**alice.signer.send(bob.route, b"payload"), **ctype(boundary)}
    assert httpx.post(shared_server.url + "/1/send-message", headers=headers, content=body).status_code == 200
    assert len(bob.get("/1/list-messages").json()) == 1


@pytest.mark.parametrize(
    "tamper",
    [
        {"as_method": "POST"},
        {"as_target": "/1/get-next-message/0"},
        {"as_target": "/1/list-messages?x=1"},
        {"as_stamp": OTHER_STAMP},
        {"as_body": b"x"},
        {"value": "v2=" + "g" * 64},
        {"value": "v2=" + "a" * 63},
        {"value": "v1=" + "a" * 64},
        {"value": "a" * 64},
        {"value": ""},
    ],
)
def test_a_bad_receive_signature_is_refused_without_spending_the_key(
    shared_server: ServerProcess, tamper: dict[str, Any]
) -> None:
    bob = Route(shared_server, "b")
    headers = bob.signer.receive()
    headers["request-signature"] = bob.sig("GET", "/1/list-messages", headers["request-timestamp"], b"", **tamper)
    r = httpx.get(shared_server.url + "/1/list-messages", headers=headers, timeout=10)
    assert (r.status_code, error_code(r)) == (401, 101)
    assert "request-signature" in error_message(r)
    # The request key was not spent: the same call, rightly signed, goes through.
    headers["request-signature"] = v2(bob.secret, "GET", "/1/list-messages", headers["request-timestamp"])
    assert httpx.get(shared_server.url + "/1/list-messages", headers=headers, timeout=10).status_code == 200


def test_request_key_errors_come_first(shared_server: ServerProcess) -> None:
    bob = Route(shared_server, "b")
    headers = {**bob.signer.receive(), "request-signature": "v2=bad"}
    headers["request-key"] = "0" * 128
    r = httpx.get(shared_server.url + "/1/list-messages", headers=headers, timeout=10)
    assert (r.status_code, error_code(r), error_message(r)) == (401, 101, "Request key is invalid")
    stale = format_timestamp(time.time() - 3600)
    headers = bob.signer.receive(stale)
    headers["request-signature"] = v2(bob.secret, "GET", "/1/list-messages", stale)
    assert error_code(httpx.get(shared_server.url + "/1/list-messages", headers=headers, timeout=10)) == 102


def test_absent_is_accepted_unless_the_route_requires_it(shared_server: ServerProcess) -> None:
    alice, bob = Route(shared_server, "a"), Route(shared_server, "b")
    assert alice.send(bob.route, b"one", sign=False).status_code == 200
    assert bob.get("/1/list-messages", sign=False).status_code == 200

    bob.require()
    alice.require()
    assert "required" in run_cli("route", "list", *shared_server.store_args())
    before = shared_server.payload_ids()
    for r in (
        alice.send(bob.route, b"two", sign=False),
        bob.get("/1/list-messages", sign=False),
        bob.get("/1/wait-next-message/0?timeout=0", sign=False),
        httpx.get(shared_server.url + "/1/ping", headers=bob.signer.receive(), timeout=10),
    ):
        assert (r.status_code, error_code(r), error_message(r)) == (401, 101, "request-signature required")
    assert not shared_server.payload_ids() - before
    assert httpx.get(shared_server.url + "/1/ping", timeout=10).status_code == 200  # unsigned ping stays open
    assert alice.send(bob.route, b"three").status_code == 200
    assert len(bob.get("/1/list-messages").json()) == 2
    # Other routes sending to a requiring route are not affected: it is about the caller.
    carol = Route(shared_server, "c")
    assert carol.send(bob.route, b"four", sign=False).status_code == 200

    bob.require(False)
    assert bob.get("/1/list-messages", sign=False).status_code == 200


def test_route_add_can_require_it(server: ServerProcess) -> None:
    route, secret = f"req{secrets.token_hex(3)}@sig", "s" * 20
    out = run_cli("route", "add", route, "--secret", secret, "--require-signature", *server.store_args())
    assert f"route {route} created" in out
    assert re.search(rf"{re.escape(route)}.*required", run_cli("route", "list", *server.store_args()))
    r = httpx.get(server.url + "/1/list-messages", headers=Signer(route, secret).receive(), timeout=10)
    assert (r.status_code, error_message(r)) == (401, "request-signature required")
    with Client(server.url, route, secret) as rb:
        assert rb.list() == []


# -- the SDK and the CLI ---------------------------------------------------------------------------


def test_the_sdk_signs_every_call_for_a_requiring_route(shared_server: ServerProcess) -> None:
    alice, bob = Route(shared_server, "a"), Route(shared_server, "b")
    alice.require()
    bob.require()
    data = secrets.token_bytes(200_000)
    with (
        Client(shared_server.url, alice.route, alice.secret) as a,
        Client(shared_server.url, bob.route, bob.secret) as b,
    ):
        link = a.send(data, to=bob.route, file_name="odd name é.bin")
        link2 = a.send(data[:10], to=bob.route, md5=hashlib.md5(data[:10]).hexdigest())
        assert [m.link for m in b.list()] == [link, link2]
        got = b.get(link)
        assert got.data == data and got.file_name == "odd name é.bin"
        first = b.get_next()
        assert first is not None and first.link == link and b.get(link2, index=0).data == data[:10]
        assert b.wait(link, timeout=0) is not None
    with Client(shared_server.url, bob.route, bob.secret, request_signature=False) as unsigned:
        with pytest.raises(ApiError) as caught:
            unsigned.list()
        assert caught.value.code == 101 and "request-signature" in caught.value.message

    async def run_async() -> list[str]:
        async with AsyncClient(shared_server.url, alice.route, alice.secret) as aa:
            await aa.send(b"async", to=bob.route)
        async with AsyncClient(shared_server.url, bob.route, bob.secret) as ab:
            return [m.link for m in await ab.list()]

    assert len(asyncio.run(run_async())) == 3


def test_the_cli_client_signs(shared_server: ServerProcess, tmp_path: Path) -> None:
    alice, bob = Route(shared_server, "a"), Route(shared_server, "b")
    alice.require()
    bob.require()
    payload = tmp_path / "cli.txt"
    payload.write_bytes(b"from the cli")
    env = {"RELAYBOX_URL": shared_server.url, "RELAYBOX_ROUTE": alice.route, "RELAYBOX_SECRET": alice.secret}
    run_cli("send", str(payload), "--to", bob.route, env=env)
    env = {**env, "RELAYBOX_ROUTE": bob.route, "RELAYBOX_SECRET": bob.secret}
    assert "cli.txt" in run_cli("list", env=env)


def test_what_the_sdk_sends_matches_the_formula() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        if request.url.path.endswith("/send-message"):
            return httpx.Response(200, headers={"message-link": "L"})
        return httpx.Response(200, json=[])

    route, secret = "abcd@abcdef01", "sécret"
    transport = httpx.MockTransport(handler)
    with Client("http://rb.test/prefix", route, secret, transport=transport) as rb:
        rb.send(b"x" * 100_000, to="ef01@1234abcd", file_name="a b.txt")
        rb.send(b"", to="ef01@1234abcd", md5="0" * 32)
        rb.list()

    async def run_async() -> None:
        async with AsyncClient("http://rb.test", route, secret, transport=transport) as ab:
            await ab.send(b"async", to="ef01@1234abcd")

    asyncio.run(run_async())
    assert len(seen) == 4
    for request in seen:
        stamp = request.headers["request-timestamp"]
        target = request.url.raw_path.decode()
        expected = v2(secret, request.method, target, stamp, request.content)
        assert request.headers["request-signature"] == expected, target
    assert seen[0].url.raw_path == b"/prefix/1/send-message"
    assert seen[0].headers["content-length"] == str(len(seen[0].content))
    # The SDK frames the body itself, byte for byte as httpx's files= did before.
    content_type = seen[0].headers["content-type"]
    files = {"data": ("a b.txt", b"x" * 100_000, "application/octet-stream")}
    assert (
        httpx.Request("POST", "http://x", files=files, headers={"Content-Type": content_type}).read() == seen[0].content
    )

    with Client("http://rb.test", route, secret, transport=transport, request_signature=False) as plain:
        plain.send(b"y", to="ef01@1234abcd")
        plain.list()
    assert all("request-signature" not in r.headers for r in seen[4:])


def test_the_vendor_recipe_without_the_header_still_works(shared_server: ServerProcess) -> None:
    """The vendor's own signing (request key only) is untouched; tests/test_vendor_recipes.py runs
    the shell recipes themselves."""
    alice, bob = Route(shared_server, "a"), Route(shared_server, "b")
    files = {"data": ("v.txt", b"vendor")}
    r = httpx.post(shared_server.url + "/1/send-message", headers=alice.signer.send(bob.route, b"vendor"), files=files)
    assert r.status_code == 200 and "request-signature" not in r.headers.get("error", "")


def test_db_copy_keeps_the_setting(tmp_path: Path) -> None:
    from relaybox.config import Settings
    from relaybox.store import make_store
    from relaybox.store.copy import copy_store

    async def work() -> list[tuple[str, bool]]:
        source = make_store(Settings(data_dir=tmp_path / "a"))
        target = make_store(Settings(data_dir=tmp_path / "b"))
        await source.open()
        await target.open()
        try:
            await source.add_route("strict@copy", "s", time.time(), require_signature=True)
            await source.add_route("loose@copy", "s", time.time())
            assert await source.set_require_signature("loose@copy", False)
            assert not await source.set_require_signature("none@copy", True)
            await copy_store(source, target)
            return [(r.route, r.require_signature) for r in await target.list_routes()]
        finally:
            await source.close()
            await target.close()

    assert asyncio.run(work()) == [("loose@copy", False), ("strict@copy", True)]
