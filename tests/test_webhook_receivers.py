"""The receivers of ``examples/webhooks`` (and ``docs/webhooks.md``, which embeds them) run as
their users run them: ``verify.sh`` with bash and openssl, ``receiver.py`` and ``receiver.js``
as HTTP servers on free ports, ``push_receiver.py`` against the plain HTTPS push.

Each is fed the spec's worked example (``webhooks.md``, "Signatures"), forgeries, and fresh
signatures made with ``relaybox.webhooks.sign`` (the Standard Webhooks headers are time-bound:
the worked example's pass only with the receiver's clock pinned to 2026-11-25T17:02:03Z). The
end-to-end tests let a live server deliver real events to ``receiver.js`` and a real HTTPS push
to ``push_receiver.py``. Node parts skip when ``node`` is missing, the bash part without
``bash`` or ``openssl``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from conftest import ServerProcess, Signer, free_port
from relaybox.webhooks import new_secret, sign
from relaybox.wire.push import https_headers

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "webhooks"
DOCS = ROOT / "docs" / "webhooks.md"
NODE = shutil.which("node")
OPENSSL = shutil.which("openssl")
BASH = shutil.which("bash")

needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed: the Node.js example cannot run")
needs_openssl = pytest.mark.skipif(
    OPENSSL is None or BASH is None, reason="bash and openssl are needed to run the bash example"
)
RECEIVERS = ["receiver.py", pytest.param("receiver.js", marks=needs_node)]

from webhook_vectors import BODY, EVENT_ID, SECRET, SIGNATURE, SPEC, STANDARD_T1, STANDARD_T2, T1, T2  # noqa: E402

WORKED_LINE = f"message.received {EVENT_ID}"
TAMPERED = BODY.replace(b'"size":22', b'"size":23')
OTHER_SECRET = "whsec_b3RoZXItc2VjcmV0LW9mLXRoaXJ0eS10d28tYnl0ZXMh"  # another valid secret (33 bytes)


def standard(timestamp: int, signature: str) -> dict[str, str]:
    return {"webhook-id": EVENT_ID, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def ping(event_id: str) -> bytes:
    created = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    event = {"webhook_id": "wh_01M89T9E68PTZQQJ6SDWZAKM9J", "station": "ef01@1234abcd", "message": "test"}
    doc = {"event_id": event_id, "event_type": "ping", "created_at": created, "event": event}
    return json.dumps(doc, separators=(",", ":")).encode()


def test_worked_example_is_the_specs() -> None:
    assert len(BODY) == 447 and b"\n" not in BODY
    assert hmac_hex(SECRET.encode(), BODY) == SIGNATURE.removeprefix("v1=")
    # The time-bound values, recomputed by the SDK (the receivers below are checked with fresh ones).
    assert sign(BODY, SECRET, event_id=EVENT_ID, timestamp=T1)["webhook-signature"] == STANDARD_T1
    assert sign(BODY, SECRET, event_id=EVENT_ID, timestamp=T2) == {"Signature": SIGNATURE, **standard(T2, STANDARD_T2)}
    if SPEC.exists():  # the copy above must stay byte-identical to the spec's
        spec = SPEC.read_text(encoding="utf-8")
        assert BODY.decode() in spec.splitlines()
        for value in (SECRET, SIGNATURE, STANDARD_T1, STANDARD_T2, str(T1), str(T2)):
            assert value in spec


def hmac_hex(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


# --- verify.sh ----------------------------------------------------------------------------------


def verify_sh(tmp_path: Path, secret: str, body: bytes, header: str, **env: str) -> int:
    body_file = tmp_path / "body.json"
    body_file.write_bytes(body)
    done = subprocess.run(
        [BASH or "bash", str(EXAMPLES / "verify.sh"), secret, str(body_file), header],
        env={**os.environ, **env},
        capture_output=True,
        timeout=10,
    )
    return done.returncode


@needs_openssl
def test_verify_sh_accepts_the_worked_example(tmp_path: Path) -> None:
    assert verify_sh(tmp_path, SECRET, BODY, SIGNATURE) == 0
    assert verify_sh(tmp_path, "", BODY, SIGNATURE, WEBHOOK_SECRET=SECRET) == 0  # the secret from the env
    fresh = new_secret()
    body = ping("evt_fresh")
    assert verify_sh(tmp_path, fresh, body, sign(body, fresh, event_id="evt_fresh")["Signature"]) == 0


@needs_openssl
def test_verify_sh_refuses_forgeries(tmp_path: Path) -> None:
    assert verify_sh(tmp_path, SECRET, TAMPERED, SIGNATURE) == 1
    assert verify_sh(tmp_path, SECRET, BODY + b"\n", SIGNATURE) == 1  # an added newline is a change
    assert verify_sh(tmp_path, OTHER_SECRET, BODY, SIGNATURE) == 1
    assert verify_sh(tmp_path, SECRET, BODY, SIGNATURE[:-1] + "5") == 1
    assert verify_sh(tmp_path, SECRET, BODY, SIGNATURE.removeprefix("v1=")) == 1
    assert verify_sh(tmp_path, SECRET, BODY, "") == 1
    assert verify_sh(tmp_path, "", BODY, SIGNATURE) == 2  # no secret at all: a usage error, not "invalid"


# --- the HTTP receivers ---------------------------------------------------------------------------


class Running:
    """An example receiver in a subprocess; ``lines`` collects what it prints on stdout."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []  # stdout
        self.errors: list[str] = []  # stderr (Python's http.server logs every request there)
        self.process = subprocess.Popen(
            argv,
            env={**os.environ, **env, "PORT": str(self.port), "HOST": "127.0.0.1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Both pipes are drained all along, so that neither fills up and blocks the receiver.
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(pipe: IO[str] | None, into: list[str]) -> None:
        assert pipe is not None
        for line in pipe:
            into.append(line.rstrip("\n"))

    def wait_up(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                self.stop()
                raise AssertionError(f"receiver exited early: {self.lines} {self.errors}")
            try:
                httpx.get(self.url, timeout=1.0)  # any answer means it is listening
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.03)

    def wait_line(self, pattern: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if re.fullmatch(pattern, line):
                    return line
            time.sleep(0.03)
        raise AssertionError(f"no line matching {pattern!r} in {self.lines}; stderr: {self.errors[-20:]}")

    def post(self, body: bytes, headers: dict[str, str], path: str = "/hooks/relaybox") -> int:
        return httpx.post(self.url + path, content=body, headers=headers, timeout=5).status_code

    def stop(self) -> None:
        """Terminate it (idempotent); afterwards ``lines`` holds everything it printed."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join(timeout=5)


def command(script: str, tmp_path: Path, now: float | None) -> list[str]:
    """How to run an example; with ``now``, its clock is pinned there (Python's ``time.time``,
    Node's ``Date.now``), so that time-bound signatures of the spec can be checked."""
    path = str(EXAMPLES / script)
    if script.endswith(".js"):
        assert NODE is not None
        if now is None:
            return [NODE, path]
        preload = tmp_path / "pin-clock.js"
        preload.write_text(f"Date.now = () => {now * 1000!r};\n")
        return [NODE, "--require", str(preload), path]
    if now is None:
        return [sys.executable, path]
    pin = "import runpy, sys, time; at = float(sys.argv.pop()); time.time = lambda: at; "
    pin += "runpy.run_path(sys.argv[1], run_name='__main__')"
    return [sys.executable, "-c", pin, path, repr(now)]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """``start(script, now=None, **env)``: a running example, always terminated afterwards."""
    started: list[Running] = []

    def make(script: str, now: float | None = None, **env: str) -> Running:
        env.setdefault("WEBHOOK_SECRET", SECRET)
        receiver = Running(command(script, tmp_path, now), env)
        started.append(receiver)
        receiver.wait_up()
        return receiver

    try:
        yield make
    finally:
        for receiver in started:
            receiver.stop()


@pytest.mark.parametrize("script", RECEIVERS)
def test_receiver_accepts_the_worked_example_and_fresh_events(start: Callable[..., Running], script: str) -> None:
    receiver = start(script)
    assert receiver.post(BODY, {"Content-Type": "application/json", "Signature": SIGNATURE}) == 204
    # Standard Webhooks headers, as an endpoint with standardWebhooks gets them: signed now.
    assert receiver.post(BODY, sign(BODY, SECRET, event_id=EVENT_ID)) == 204
    # Several entries (a sender rotating secrets): one match is enough.
    fresh = sign(BODY, SECRET, event_id=EVENT_ID)
    fresh["webhook-signature"] = "v1,bm90LXRoaXMtb25l " + fresh["webhook-signature"]
    assert receiver.post(BODY, fresh) == 204
    body = ping("evt_01M89TCR40EP6P3WKA8H287175")
    assert receiver.post(body, sign(body, SECRET, event_id="evt_01M89TCR40EP6P3WKA8H287175", standard=False)) == 204
    receiver.stop()
    assert receiver.lines == [WORKED_LINE] * 3 + ["ping evt_01M89TCR40EP6P3WKA8H287175"]


@pytest.mark.parametrize("script", RECEIVERS)
def test_receiver_refuses_forgeries(start: Callable[..., Running], script: str) -> None:
    receiver = start(script)
    now = int(time.time())
    assert receiver.post(TAMPERED, {"Signature": SIGNATURE}) == 401
    assert receiver.post(BODY, {"Signature": sign(BODY, OTHER_SECRET, event_id=EVENT_ID)["Signature"]}) == 401
    assert receiver.post(BODY, {}) == 401  # unsigned
    assert receiver.post(BODY, {"Signature": SIGNATURE.upper()}) == 401  # relaybox sends lowercase hex
    assert receiver.post(BODY, {"Signature": ""}) == 401
    # A valid Signature does not excuse a bad webhook-signature: both are checked when present.
    other = sign(BODY, OTHER_SECRET, event_id=EVENT_ID)
    assert receiver.post(BODY, {"Signature": SIGNATURE, **standard(now, other["webhook-signature"])}) == 401
    good = sign(BODY, SECRET, event_id=EVENT_ID)
    assert receiver.post(TAMPERED, {**good, "Signature": sign(TAMPERED, SECRET, event_id="x")["Signature"]}) == 401
    assert receiver.post(BODY, {**good, "webhook-id": "evt_another"}) == 401
    assert receiver.post(BODY, {**good, "webhook-timestamp": str(int(good["webhook-timestamp"]) + 1)}) == 401
    assert receiver.post(BODY, {**good, "webhook-timestamp": "soon"}) == 401
    # Outside the 300 s window, even when correctly signed; the spec's values are long past.
    for stale in (now - 330, now + 330):
        assert receiver.post(BODY, sign(BODY, SECRET, event_id=EVENT_ID, timestamp=stale)) == 401
    if abs(time.time() - T1) > 330:
        assert receiver.post(BODY, {"Signature": SIGNATURE, **standard(T1, STANDARD_T1)}) == 401
    assert receiver.post(BODY, sign(BODY, SECRET, event_id=EVENT_ID)) == 204  # still serving
    receiver.stop()
    assert receiver.lines == [WORKED_LINE]  # nothing printed for a refused request


@pytest.mark.parametrize("script", RECEIVERS)
def test_receiver_at_the_worked_examples_time(start: Callable[..., Running], script: str) -> None:
    """With the clock at attempt 1 (+ 5 s), the spec's Standard Webhooks values themselves pass."""
    receiver = start(script, now=T1 + 5)
    assert receiver.post(BODY, {"Signature": SIGNATURE, **standard(T1, STANDARD_T1)}) == 204
    assert receiver.post(BODY, {"Signature": SIGNATURE, **standard(T2, STANDARD_T2)}) == 204  # attempt 2
    assert receiver.post(BODY, {"Signature": SIGNATURE, **standard(T2, STANDARD_T1)}) == 401  # swapped
    assert receiver.post(TAMPERED, {"Signature": SIGNATURE, **standard(T1, STANDARD_T1)}) == 401
    receiver.stop()
    assert receiver.lines == [WORKED_LINE] * 2


def test_receiver_with_another_secret_refuses_the_worked_example(start: Callable[..., Running]) -> None:
    receiver = start("receiver.py", now=T1 + 5, WEBHOOK_SECRET=OTHER_SECRET)
    assert receiver.post(BODY, {"Signature": SIGNATURE}) == 401
    assert receiver.post(BODY, {"Signature": SIGNATURE, **standard(T1, STANDARD_T1)}) == 401
    assert receiver.post(BODY, sign(BODY, OTHER_SECRET, event_id=EVENT_ID, timestamp=T1 + 5)) == 204


# --- push_receiver.py: the plain HTTPS push ----------------------------------------------------

# Vector D4 of request-signing.md: a push signed with pushSecret "test-private-key".
PUSH_SECRET = "test-private-key"
D4_TARGET = "/inbound/relaybox?source=gw1"
D4_BODY = b'<invoice id="12345"/>\n'
D4_HEADERS = {
    "Content-Type": "application/octet-stream",
    "Date": "2026-11-25T17:02:03Z",
    "Message-From": "abcd@abcdef01",
    "Message-To": "ef01@1234abcd",
    "Message-Id": "12345",
    "Message-File-Name": "invoice-12345.xml",
    "Message-MD5": "846f571f913b223bc48d90398201ca94",
    "Message-Expires": "2026-11-26T17:02:03Z",
    "Message-Pay-For-Reply": "1",
    "Authorization": "relaybox_api abcd@abcdef01:rjevpnnDa0OAEjjwYeVOfqmvgBQhwmhmoM0Sc68zOb0=",
}


def test_push_receiver_accepts_the_spec_vector(start: Callable[..., Running]) -> None:
    receiver = start("push_receiver.py", now=T1 + 5, PUSH_SECRET=PUSH_SECRET)
    assert hashlib.md5(D4_BODY).hexdigest() == D4_HEADERS["Message-MD5"]
    assert receiver.post(D4_BODY, D4_HEADERS, D4_TARGET) == 204
    assert receiver.post(D4_BODY, D4_HEADERS, D4_TARGET) == 204  # a retry: acknowledged, stored once
    assert receiver.post(D4_BODY, {**D4_HEADERS, "Message-To": "zz99@nowhere01"}, D4_TARGET) == 401
    assert receiver.post(D4_BODY + b"x", D4_HEADERS, D4_TARGET) == 401
    assert receiver.post(D4_BODY, D4_HEADERS, "/inbound/relaybox?source=gw2") == 401  # the target is signed
    assert receiver.post(D4_BODY, {**D4_HEADERS, "Message-Extra": "1"}, D4_TARGET) == 401  # so is every Message-*
    receiver.stop()
    assert receiver.lines == ["abcd@abcdef01 12345 invoice-12345.xml 22"]


def test_push_receiver_accepts_what_relaybox_signs_now(start: Callable[..., Running]) -> None:
    receiver = start("push_receiver.py", PUSH_SECRET=PUSH_SECRET)
    data = "Zoë's invoice".encode()

    def headers(now: float, name: str = "facture n°1.xml", secret: str = PUSH_SECRET) -> dict[str, str]:
        return https_headers(
            now=now,
            sender_route="abcd@abcdef01",
            to="ef01@1234abcd",
            message_id=f"m-{name[:3]}",
            file_name=name,
            md5=hashlib.md5(data).hexdigest(),
            expires_at=now + 3600,
            pay_for_reply=False,
            content_type="text/plain; charset=utf-8",
            body_md5=hashlib.md5(data).hexdigest(),
            uri_path_and_query="/in?x=1",
            push_secret=secret,
        )

    now = time.time()
    assert receiver.post(data, headers(now), "/in?x=1") == 204
    assert receiver.post(data, headers(now - 400, "old.txt"), "/in?x=1") == 401  # Date outside +-300 s
    assert receiver.post(data, headers(now, "key.txt", "another-push-secret"), "/in?x=1") == 401
    receiver.stop()
    assert receiver.lines == ["abcd@abcdef01 m-fac facture%20n%C2%B01.xml 14"]


# --- the docs -----------------------------------------------------------------------------------

FROM_FILE = re.compile(r"<!-- file: (\S+) -->\n```[a-z]*\n(.*?)```\n", re.S)


def test_docs_embed_the_example_files_verbatim() -> None:
    text = DOCS.read_text(encoding="utf-8")
    embedded = {name: block for name, block in FROM_FILE.findall(text)}
    assert set(embedded) >= {f"examples/webhooks/{n}" for n in ("receiver.py", "receiver.js", "verify.sh")}
    for name, block in embedded.items():
        assert block == (ROOT / name).read_text(), f"docs/webhooks.md is out of date for {name}"
    for value in (SECRET, SIGNATURE, STANDARD_T1, STANDARD_T2, BODY.decode()):
        assert value in text
    # management-api.md links to #outbound-push-to-partners-with-a-uri
    assert "\n## Outbound push to partners with a `uri`\n" in text


@needs_openssl
def test_docs_standard_webhooks_openssl_lines(tmp_path: Path) -> None:
    """The bash lines of the docs that compute a webhook-signature give the spec's value."""
    found = re.search(
        r"<!-- test: standard-webhooks-openssl -->\n```bash\n(.*?)```\n", DOCS.read_text(encoding="utf-8"), re.S
    )
    assert found is not None
    (tmp_path / "body.json").write_bytes(BODY)
    env = {**os.environ, "WEBHOOK_SECRET": SECRET, "ID": EVENT_ID, "TS": str(T2)}
    done = subprocess.run(
        [BASH or "bash", "-euo", "pipefail", "-c", found[1] + '\necho "$expected"'],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == STANDARD_T2


# --- end to end: a live relaybox delivering to the examples -----------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the end-to-end tests (each makes its own account and stations)."""
    server = ServerProcess(tmp_path_factory.mktemp("live") / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Account:
    """A /v1 account of the live server, with its token."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.email, _ = server.add_account()
        self.auth = {"Authorization": server.token(self.email)}

    def station(self) -> tuple[str, str]:
        route, secret = self.server.add_station(self.email)
        assert secret is not None
        return route, secret

    def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> dict[str, Any]:
        r = httpx.request(method, self.server.url + path, headers=self.auth, timeout=20, **kwargs)
        assert r.status_code == expect, r.text
        found: dict[str, Any] = r.json()
        return found

    def add_webhook(self, station: str, url: str, *types: str) -> dict[str, Any]:
        doc = {"stationAS2Id": station, "url": url, "eventTypes": list(types), "standardWebhooks": True}
        created = self.call("POST", "/v1/webhooks", 201, json={**doc, "secret": SECRET})
        assert created["secret"] == SECRET and created["disabledReason"] is None
        return created

    def wait_state(self, link: str, state: str, timeout: float = 10.0) -> dict[str, Any]:
        """The sender's view of a message once it reaches ``state`` (pushes are asynchronous)."""
        deadline = time.monotonic() + timeout
        while True:
            r = httpx.get(f"{self.server.url}/v1/message/sent/{link}", headers=self.auth, timeout=10)
            if r.status_code == 200 and r.json()["state"] == state:
                found: dict[str, Any] = r.json()
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"message {link} not {state}: {r.status_code} {r.text}")
            time.sleep(0.05)


def send_v1(account: Account, station: str, partner: str, data: bytes, name: str) -> str:
    r = httpx.post(
        f"{account.server.url}/v1/message/{station}/{partner}",
        headers={**account.auth, "Name": name, "Content-Type": "application/xml"},
        content=data,
        timeout=10,
    )
    assert r.status_code == 202, r.text
    return r.headers["link"].split("/")[-1].strip(">")


@needs_node
def test_live_server_delivers_events_to_receiver_js(live: ServerProcess, start: Callable[..., Running]) -> None:
    receiver = start("receiver.js")
    user = Account(live)
    alpha, alpha_secret = user.station()
    bravo, bravo_secret = user.station()
    hook = user.add_webhook(bravo, receiver.url + "/hooks/relaybox?team=ops", "message.received")
    user.add_webhook(alpha, receiver.url + "/hooks/status", "message.status")

    tested = user.call("POST", f"/v1/webhooks/{hook['id']}/test")
    assert (tested["ok"], tested["statusCode"], tested["error"]) == (True, 204, None), tested
    receiver.wait_line(f"ping {tested['eventId']}")

    data = b'<invoice id="12345"/>\n'
    sent = httpx.post(
        f"{live.url}/1/send-message",
        headers=Signer(alpha, alpha_secret).send(bravo, data, "12345"),
        files={"data": ("invoice-12345.xml", data)},
        timeout=10,
    )
    assert sent.status_code == 200, sent.headers
    received = receiver.wait_line(r"message\.received evt_[0-9A-Z]{26}")
    receiver.wait_line(r"message\.status evt_[0-9A-Z]{26}")  # accepted, to the sender's endpoint
    # The recipient downloads it: "delivered" goes to the sender's endpoint.
    got = httpx.get(
        f"{live.url}/1/get-message/{sent.headers['message-link']}", headers=Signer(bravo, bravo_secret).receive()
    )
    assert got.status_code == 200 and got.content == data
    deadline = time.monotonic() + 10
    while sum(line.startswith("message.status ") for line in receiver.lines) < 2:
        assert time.monotonic() < deadline, receiver.lines
        time.sleep(0.05)

    listed = user.call("GET", "/v1/webhooks/deliveries/sent", params={"webhookId": hook["id"]})
    assert listed["totalRecords"] == 1
    delivery = listed["records"][0]
    assert delivery["eventId"] == received.split()[1] and delivery["eventType"] == "message.received"
    assert (delivery["state"], delivery["attempts"], delivery["lastStatusCode"]) == ("sent", 1, 204)
    assert user.call("GET", "/v1/webhooks/deliveries/failed")["totalRecords"] == 0  # receiver.js refused nothing


def test_live_server_pushes_to_push_receiver(live: ServerProcess, start: Callable[..., Running]) -> None:
    """A partner with ``uri`` and ``transport: https``: the push arrives at push_receiver.py, verified."""
    receiver = start("push_receiver.py", PUSH_SECRET=PUSH_SECRET)
    user = Account(live)
    alpha, _ = user.station()
    partner = {"stationAS2Id": alpha, "as2Identifier": "ab12@partner01", "uri": receiver.url + "/in?x=1"}
    created = user.call("POST", "/v1/partner", 201, json={**partner, "transport": "https", "pushSecret": PUSH_SECRET})
    assert created["transport"] == "https" and "pushSecret" not in created  # write-only
    data = b'<invoice id="777"/>'
    link = send_v1(user, alpha, "ab12@partner01", data, "invoice 777.xml")
    receiver.wait_line(f"{re.escape(alpha)} {re.escape(link)} invoice%20777.xml {len(data)}")
    sent = user.wait_state(link, "sent")
    assert sent["deliveryStatus"] == "Delivered"
    # Without pushSecret an https partner gets one generated, in this answer only.
    other = user.call(
        "POST", "/v1/partner", 201, json={**partner, "as2Identifier": "cd34@partner01", "transport": "https"}
    )
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", other["pushSecret"]) and other["pushSecretSet"] is True
    assert "pushSecret" not in user.call("GET", f"/v1/partner/{other['partnerId']}")
    # A retry of the same push would be acknowledged but not printed again (dedupe on From + Id).
    assert receiver.lines == [f"{alpha} {link} invoice%20777.xml {len(data)}"]


def test_live_federation_between_two_servers(live: ServerProcess, tmp_path: Path) -> None:
    """The docs' step by step: B adds a route for A to sign as; A's partner has uri, remoteSecret."""
    user = Account(live)
    alpha, alpha_secret = user.station()  # server A: the sending station
    b = ServerProcess(tmp_path / "b")
    b.start()
    try:
        bravo, bravo_secret = b.new_route("fed")  # on B: the recipient
        remote_secret = b.add_route(alpha)  # on B: `relaybox route add <A's station route>`
        partner = {"stationAS2Id": alpha, "as2Identifier": bravo, "uri": b.url, "remoteSecret": remote_secret}
        user.call("POST", "/v1/partner", 201, json=partner)
        data = b"<order/>"
        link = send_v1(user, alpha, bravo, data, "order.xml")
        user.wait_state(link, "sent")
        # A route-API send on A to the remote partner is pushed the same way.
        sent = httpx.post(
            f"{live.url}/1/send-message",
            headers=Signer(alpha, alpha_secret).send(bravo, b"<order n='2'/>", "order-2"),
            files={"data": ("order-2.xml", b"<order n='2'/>")},
            timeout=10,
        )
        assert sent.status_code == 200
        user.wait_state(sent.headers["message-link"], "sent")
        listed = httpx.get(f"{b.url}/1/list-messages", headers=Signer(bravo, bravo_secret).receive(), timeout=10)
        assert listed.status_code == 200
        first, second = listed.json()
        assert (first["from"], first["message_id"], first["file_name"]) == (alpha, link, "order.xml")
        assert first["md5"] == hashlib.md5(data).hexdigest()
        assert (second["from"], second["message_id"], second["file_name"]) == (alpha, "order-2", "order-2.xml")
    finally:
        b.stop()


def test_live_failed_delivery_is_listed_stopped_retried_and_deleted(
    live: ServerProcess, start: Callable[..., Running]
) -> None:
    """The delivery lists and controls as the docs show them: a receiver with the wrong secret
    answers 401, the delivery is stopped, pointed at a good receiver, retried and deleted."""
    wrong = start("receiver.py", WEBHOOK_SECRET=OTHER_SECRET)
    right = start("receiver.py")
    user = Account(live)
    alpha, alpha_secret = user.station()
    bravo, _ = user.station()
    hook = user.add_webhook(bravo, wrong.url + "/hooks", "message.received")
    data = b"<order/>"
    sent = httpx.post(
        f"{live.url}/1/send-message",
        headers=Signer(alpha, alpha_secret).send(bravo, data),
        files={"data": ("order.xml", data)},
        timeout=10,
    )
    assert sent.status_code == 200

    deadline = time.monotonic() + 10
    while (failed := user.call("GET", "/v1/webhooks/deliveries/failed"))["totalRecords"] == 0:
        assert time.monotonic() < deadline, "no failed attempt listed"
        time.sleep(0.05)
    [entry] = failed["records"]
    assert (entry["attempt"], entry["statusCode"], entry["error"]) == (1, 401, "HTTP 401")
    did = entry["deliveryId"]
    queued = user.call("GET", f"/v1/webhooks/deliveries/queued/{did}")
    assert (queued["state"], queued["attempts"], queued["lastStatusCode"]) == ("queued", 1, 401)
    wait_ms = queued["nextAttemptTimestamp"] - queued["lastAttemptTimestamp"]
    assert 8000 <= wait_ms <= 12000  # 10 s +- 20 %

    stopped = user.call("POST", f"/v1/webhooks/deliveries/queued/{did}/stop")
    assert stopped == {"message": f"Successfully stopped retrying webhook delivery {did}"}
    queued = user.call("GET", f"/v1/webhooks/deliveries/queued/{did}")
    assert (queued["state"], queued["stopReason"], queued["nextAttemptTimestamp"]) == ("stopped", "stopped", None)

    user.call("PUT", f"/v1/webhooks/{hook['id']}", json={"url": right.url + "/hooks"})
    retried = user.call("POST", f"/v1/webhooks/deliveries/queued/{did}/retry")
    assert retried == {"message": f"Successfully started retrying webhook delivery {did}"}
    right.wait_line(r"message\.received evt_[0-9A-Z]{26}")
    deadline = time.monotonic() + 10
    while (done := user.call("GET", "/v1/webhooks/deliveries/sent", params={"query": did}))["totalRecords"] == 0:
        assert time.monotonic() < deadline, "retry not sent"
        time.sleep(0.05)
    assert done["records"][0]["attempts"] == 1  # the schedule started over
    assert wrong.lines == []

    assert user.call("DELETE", f"/v1/webhooks/deliveries/sent/{did}") == {"message": f"Deleted delivery {did}"}
    user.call("GET", f"/v1/webhooks/deliveries/sent/{did}", 404)
    assert user.call("GET", "/v1/webhooks/deliveries/failed")["totalRecords"] == 0  # its failures went with it
