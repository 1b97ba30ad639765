"""``relaybox webhook`` (``webhooks.md``, "CLI"): endpoints made, listed, rotated, enabled,
disabled, removed and pinged straight on the store, as an operator runs the commands.

Commands run in this process through click's ``CliRunner`` (stdout and stderr apart, no TTY) on
a store that no server serves, once per backend for what touches the store; refusals and usage
errors, which do not depend on it, run once on SQLite. ``test`` pings a real HTTP receiver, and
the test checks the signatures with ``hmac`` itself, not with the SDK. One test runs
``python -m relaybox`` for what only a real process shows: exit codes, stdout and stderr apart."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import BACKENDS, PgDatabase, ServerProcess, free_port
from receiver import Answer, Receiver
from relaybox.cli.main import cli as relaybox_cli
from relaybox.webhooks import valid_secret

ENDPOINT_KEYS = {
    "id",
    "stationAS2Id",
    "url",
    "eventTypes",
    "enabled",
    "description",
    "standardWebhooks",
    "timeout",
    "disabledReason",
    "createdTimestamp",
    "updatedTimestamp",
}
BOTH = ["message.received", "message.status"]
WEBHOOK_ID = re.compile(r"wh_[0-9A-Z]{26}")


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def ok(self) -> None:
        assert self.code == 0, self

    def ok_json(self) -> Any:
        """Exit 0 and exactly one JSON document on stdout."""
        assert self.code == 0, self
        assert self.out.count("\n") == 1, self
        return json.loads(self.out)

    def refused(self) -> str:
        """Exit 1 with a one-line reason on stderr and nothing on stdout."""
        assert self.code == 1, self
        assert self.out == "", self
        line = self.err.strip()
        assert line.startswith("error: ") and "\n" not in line, self
        return line

    def usage(self) -> None:
        assert self.code == 2, self
        assert self.out == "", self
        assert "Usage" in self.err or "Error" in self.err, self


def run(store: ServerProcess, *args: str, env: Mapping[str, str] | None = None) -> Run:
    """One command in this process on ``store``; an exception it does not turn into an exit
    code fails the test."""
    result = CliRunner().invoke(
        relaybox_cli, [*args, *store.store_args()], env=env, catch_exceptions=False, prog_name="relaybox"
    )
    return Run(args, result.exit_code, result.stdout, result.stderr)


def stored(store: ServerProcess, station: str) -> dict[str, Any]:
    """The station's endpoint records by id, as the store has them (secrets included)."""

    async def read(s: Any) -> dict[str, Any]:
        return {h.id: h for h in await s.webhooks.list_all(station)}

    return store._store_call(read)


def add(store: ServerProcess, station: str, url: str, *options: str) -> dict[str, Any]:
    doc: dict[str, Any] = run(store, "webhook", "add", station, url, *options, "--json").ok_json()
    return doc


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode("ascii")


@pytest.fixture(scope="module", params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One store per backend that no server serves (``ServerProcess`` only for its helpers)."""
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(PgDatabase()).url if request.param == "postgresql" else None
        yield ServerProcess(tmp_path_factory.mktemp("webhooks") / "data", database_url=url)


@pytest.fixture
def offline(tmp_path: Path) -> ServerProcess:
    """An embedded store of its own, with the station ``station@offline``."""
    s = ServerProcess(tmp_path / "data")
    s.add_route("station@offline")  # creates the store before any command opens it
    return s


# -- add ----------------------------------------------------------------------------------------
def test_add_with_defaults_prints_the_id_and_the_secret_once(store: ServerProcess) -> None:
    station, _ = store.new_route("st")
    text = run(store, "webhook", "add", station, "https://erp.example/hooks?k=1")
    text.ok()
    [hook_id] = WEBHOOK_ID.findall(text.out)
    [secret] = re.findall(r"^secret: (\S+)$", text.out, re.MULTILINE)
    assert valid_secret(secret) and len(secret) == 50
    assert text.out.count(secret) == 1 and secret not in text.err
    assert "shown once" in text.err

    doc = add(store, station, "http://127.0.0.1:9/x")
    assert set(doc) == ENDPOINT_KEYS | {"secret"}
    assert WEBHOOK_ID.fullmatch(doc["id"]) and valid_secret(doc["secret"])
    assert {k: v for k, v in doc.items() if k not in ("id", "secret", "createdTimestamp", "updatedTimestamp")} == {
        "stationAS2Id": station,
        "url": "http://127.0.0.1:9/x",
        "eventTypes": BOTH,
        "enabled": True,
        "description": "",
        "standardWebhooks": False,
        "timeout": 15,
        "disabledReason": None,
    }
    assert doc["createdTimestamp"] == doc["updatedTimestamp"]

    hooks = stored(store, station)
    assert sorted(hooks) == sorted([hook_id, doc["id"]])
    assert (hooks[hook_id].secret, hooks[doc["id"]].secret) == (secret, doc["secret"])
    assert hooks[hook_id].url == "https://erp.example/hooks?k=1"


def test_add_takes_every_option(store: ServerProcess) -> None:
    station, _ = store.new_route("st")
    secret = new_secret()
    options = ["--event", "message.status", "--disabled", "--standard-webhooks", "--timeout", "7"]
    doc = add(store, station, "https://erp.example/in", *options, "--secret", secret, "--description", "ERP")
    assert {k: v for k, v in doc.items() if k not in ("id", "createdTimestamp", "updatedTimestamp")} == {
        "stationAS2Id": station,
        "url": "https://erp.example/in",
        "eventTypes": ["message.status"],
        "enabled": False,
        "description": "ERP",
        "standardWebhooks": True,
        "timeout": 7,
        "disabledReason": "user",
        "secret": secret,
    }
    # Both types given (in any order, repeated) are both; a secret given is not echoed back.
    text = run(store, "webhook", "add", station, "https://erp.example/2", "--event", "message.status", "--event",
               "message.received", "--event", "message.status", "--secret", secret)  # fmt: skip
    text.ok()
    assert secret not in text.out + text.err
    [second] = WEBHOOK_ID.findall(text.out)
    hooks = stored(store, station)
    assert hooks[doc["id"]].secret == secret and hooks[second].event_types == tuple(BOTH)


# -- list ---------------------------------------------------------------------------------------
def test_list_shows_endpoints_but_never_a_secret(store: ServerProcess) -> None:
    station, _ = store.new_route("st")
    other, _ = store.new_route("ot")
    mine = [add(store, station, f"https://a.example/{i}") for i in range(2)]
    theirs = add(store, other, "https://b.example/", "--disabled")
    everyone, listed, table = (
        run(store, "webhook", "list", "--json"),
        run(store, "webhook", "list", station, "--json"),
        run(store, "webhook", "list", station),
    )
    secrets_ = [d["secret"] for d in [*mine, theirs]]
    for r in (everyone, listed, table):
        r.ok()
        assert not any(s in r.out + r.err for s in secrets_), r

    assert listed.ok_json() == [{k: v for k, v in d.items() if k != "secret"} for d in mine]  # oldest first
    rows = {d["id"]: d for d in everyone.ok_json()}
    for d in rows.values():
        assert set(d) == ENDPOINT_KEYS, d
    assert {d["id"] for d in [*mine, theirs]} <= set(rows)
    assert rows[theirs["id"]]["disabledReason"] == "user"

    for d in mine:
        assert d["id"] in table.out  # never cut, however narrow the table
    assert theirs["id"] not in table.out
    assert run(store, "webhook", "list", "nobody@nowhere.example", "--json").ok_json() == []


# -- rotate, disable, enable, remove -----------------------------------------------------------------
def test_rotate_disable_enable_remove(store: ServerProcess) -> None:
    station, _ = store.new_route("st")
    created = add(store, station, "https://erp.example/in")
    hook_id, old = created["id"], created["secret"]

    rotated = run(store, "webhook", "rotate", hook_id, "--json").ok_json()
    assert set(rotated) == ENDPOINT_KEYS | {"secret"} and rotated["id"] == hook_id
    assert valid_secret(rotated["secret"]) and rotated["secret"] != old
    assert stored(store, station)[hook_id].secret == rotated["secret"]  # the old one is gone

    text = run(store, "webhook", "rotate", hook_id)
    [latest] = re.findall(r"^secret: (\S+)$", text.out, re.MULTILINE)
    assert "shown once" in text.err and latest not in text.err
    assert latest not in (old, rotated["secret"]) and stored(store, station)[hook_id].secret == latest

    disabled = run(store, "webhook", "disable", hook_id, "--json").ok_json()
    assert (disabled["enabled"], disabled["disabledReason"]) == (False, "user")
    assert "secret" not in disabled
    again = run(store, "webhook", "disable", hook_id)  # idempotent
    assert again.out == f"webhook {hook_id} disabled: user\n", again
    enabled = run(store, "webhook", "enable", hook_id, "--json").ok_json()
    assert (enabled["enabled"], enabled["disabledReason"]) == (True, None)
    assert run(store, "webhook", "enable", hook_id).out == f"webhook {hook_id} enabled\n"
    assert stored(store, station)[hook_id].secret == latest  # enabling keeps the secret

    removed = run(store, "webhook", "remove", hook_id)
    assert removed.out == f"webhook {hook_id} removed\n", removed
    assert run(store, "webhook", "list", station, "--json").ok_json() == []
    for verb in ("remove", "rotate", "enable", "disable", "test"):
        assert "not found" in run(store, "webhook", verb, hook_id).refused()


# -- test: a ping to a real receiver -----------------------------------------------------------------
def test_test_sends_a_ping_signed_with_the_current_secret(store: ServerProcess) -> None:
    station, _ = store.new_route("st")
    with Receiver() as rcv:
        hook_id = add(store, station, rcv.url, "--standard-webhooks", "--timeout", "5")["id"]
        old = stored(store, station)[hook_id].secret
        secret = run(store, "webhook", "rotate", hook_id, "--json").ok_json()["secret"]
        run(store, "webhook", "disable", hook_id).ok()  # a disabled endpoint is pinged all the same

        pinged = run(store, "webhook", "test", hook_id)
        pinged.ok()
        match = re.fullmatch(r"ping (evt_[0-9A-Z]{26}): HTTP 204 in [0-9]+ ms\n", pinged.out)
        assert match, pinged
        [request] = rcv.wait_for(1)

        as_json = run(store, "webhook", "test", hook_id, "--json").ok_json()
        assert set(as_json) == {"eventId", "ok", "statusCode", "durationMs", "error"}
        assert (as_json["ok"], as_json["statusCode"], as_json["error"]) == (True, 204, None)
        assert len(rcv.wait_for(2)) == 2

    body, headers = request.body, request.headers
    expected = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["signature"], expected)
    assert headers["signature"] != "v1=" + hmac.new(old.encode(), body, hashlib.sha256).hexdigest()
    envelope = json.loads(body)
    assert list(envelope) == ["event_id", "event_type", "created_at", "event"]
    assert (envelope["event_id"], envelope["event_type"]) == (match[1], "ping")
    assert envelope["event"] == {"webhook_id": hook_id, "station": station, "message": "relaybox webhook test"}
    assert body == json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()  # compact
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("relaybox-webhooks/")
    assert (headers["relaybox-event-id"], headers["relaybox-event-type"]) == (match[1], "ping")
    # --standard-webhooks: the Standard Webhooks headers too, keyed with the decoded secret.
    assert headers["webhook-id"] == match[1]
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    key = base64.b64decode(secret.removeprefix("whsec_"))
    standard = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(headers["webhook-signature"], standard)


def test_test_exits_1_when_the_ping_fails(offline: ServerProcess) -> None:
    with Receiver(lambda _r: Answer(status=500, body=b"down")) as rcv:
        failing = add(offline, "station@offline", rcv.url)["id"]
        answered = run(offline, "webhook", "test", failing)
        as_json = run(offline, "webhook", "test", failing, "--json")
        assert len(rcv.requests) == 2  # never retried
    assert re.fullmatch(r"error: ping evt_\w+ answered HTTP 500 in [0-9]+ ms", answered.refused())
    assert as_json.code == 1, as_json
    assert json.loads(as_json.out)["ok"] is False and json.loads(as_json.out)["statusCode"] == 500

    closed = add(offline, "station@offline", f"http://127.0.0.1:{free_port()}/hook")["id"]
    line = run(offline, "webhook", "test", closed).refused()
    assert "failed" in line and "connection refused" in line, line


# -- refusals (exit 1) and usage errors (exit 2), once ------------------------------------------------
def test_refusals_exit_1_with_the_reason(offline: ServerProcess) -> None:
    station = "station@offline"
    refusals = {
        "url": ["ftp://erp.example/in"],
        "absolute": ["/relative/path"],
        "secret": ["https://erp.example/in", "--secret", "not-a-whsec-secret"],
        "description": ["https://erp.example/in", "--description", "x" * 257],
    }
    for needle, args in refusals.items():
        assert needle in run(offline, "webhook", "add", station, *args).refused()
    unknown = run(offline, "webhook", "add", "nobody@offline", "https://erp.example/in")
    assert "nobody@offline is not a route on this server" in unknown.refused()

    https_only = {"RELAYBOX_WEBHOOK_REQUIRE_HTTPS": "true"}
    assert "https" in run(offline, "webhook", "add", station, "http://erp.example/", env=https_only).refused()
    one = {"RELAYBOX_WEBHOOK_MAX_ENDPOINTS": "1"}
    run(offline, "webhook", "add", station, "https://erp.example/1", env=one).ok()
    assert "already has 1" in run(offline, "webhook", "add", station, "https://erp.example/2", env=one).refused()
    assert [h.url for h in stored(offline, station).values()] == ["https://erp.example/1"]


USAGE_ERRORS = [
    ["webhook", "add", "station@offline", "https://erp.example/", "--event", "message.deleted"],
    ["webhook", "add", "station@offline", "https://erp.example/", "--timeout", "0"],
    ["webhook", "add", "station@offline", "https://erp.example/", "--timeout", "61"],
    ["webhook", "add", "not a route", "https://erp.example/"],
    ["webhook", "add", "station@offline"],
    ["webhook", "list", "not a route"],
    ["webhook", "test"],
    ["webhook", "rotate", "--bogus"],
]
LISTEN_USAGE_ERRORS = [
    ["webhook", "listen", "--secret", "whsec_cmVsYXlib3gtZXhhbXBsZS13ZWJob29rLXNlY3JldCE="],  # no --port
    ["webhook", "listen", "--port", "1", "--secret", "not-a-whsec-secret"],  # refused before binding
]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    store_args = ["--data-dir", str(tmp_path / "data")]  # never opened: the arguments are refused first
    runs = [(args, [*args, *store_args]) for args in USAGE_ERRORS] + [(args, args) for args in LISTEN_USAGE_ERRORS]
    for args, argv in runs:
        result = CliRunner().invoke(relaybox_cli, argv, catch_exceptions=False, prog_name="relaybox")
        Run(tuple(args), result.exit_code, result.stdout, result.stderr).usage()
    assert not (tmp_path / "data").exists()


# -- what only a real process shows ---------------------------------------------------------------
def test_python_m_relaybox_webhook_add(offline: ServerProcess) -> None:
    """``python -m relaybox webhook add ... --json``: exit 0 and one JSON document on stdout
    with the secret once; a refusal exits 1 with stdout empty. Side by side (~2 s CPU each)."""
    calls = [
        ["webhook", "add", "station@offline", "https://erp.example/in", "--event", "message.received", "--json"],
        ["webhook", "add", "station@offline", "gopher://erp.example/"],
    ]

    def process(args: list[str]) -> Run:
        proc = subprocess.run(
            [sys.executable, "-m", "relaybox", *args, *offline.store_args()],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return Run(tuple(args), proc.returncode, proc.stdout, proc.stderr)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        made, refused = pool.map(process, calls)
    doc = made.ok_json()
    assert set(doc) == ENDPOINT_KEYS | {"secret"} and doc["eventTypes"] == ["message.received"]
    assert made.out.count(doc["secret"]) == 1 and doc["secret"] not in made.err
    assert stored(offline, "station@offline")[doc["id"]].secret == doc["secret"]
    assert "url" in refused.refused()
