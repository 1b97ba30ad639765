"""The provisioning CLI (``account``, ``station``, ``partner``, ``receipt-key``, ``route remove``)
as an operator runs it, against a live server's store, the effect checked through that server
(``management-api.md``, "Provisioning CLI").

Commands run in this process through click's ``CliRunner`` (separate stdout and stderr, a stdin
that is never a TTY): a ``python -m relaybox`` process costs about two seconds of CPU, mostly
imports. One test runs real processes for what only they show: the exit codes 0, 1 and 2 of
``python -m relaybox``, its stdout and stderr apart, and a password generated when stdin is not
a TTY, printed once. Checks that do not depend on the backend (input rules, refusals, usage
errors) run once, on an embedded store of their own with no server. In-process commands run one
after another in this thread: each opens (and migrates) the store, and Alembic keeps global state."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from conftest import ServerProcess, Signer
from relaybox.auth.passwords import hash_password
from relaybox.cli.main import cli as relaybox_cli

PASSWORD = "correct horse 1"
GENERATED = re.compile(r"[A-Za-z0-9_-]{24}")
HTTP = httpx.Client(timeout=30)  # one client: making one costs ~40 ms of CPU


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def ok_json(self) -> Any:
        """Exit 0 and exactly one JSON document on stdout."""
        assert self.code == 0, self
        return json.loads(self.out)

    def ok(self) -> None:
        assert self.code == 0, self

    def refused(self) -> str:
        """Exit 1 with a one-line reason on stderr and nothing on stdout."""
        assert self.code == 1, self
        assert self.out == "", self
        line = self.err.strip()
        assert line and "\n" not in line, self
        return line


Call = tuple[Sequence[str], str | None]  # (arguments, stdin text; None: an empty stdin)


def relaybox(store_args: Sequence[str], args: Sequence[str], stdin: str | None = None) -> Run:
    """One CLI command in this process; its stdin is never a TTY (without text: empty). An
    exception the command does not turn into an exit code fails the test (no ``catch_exceptions``)."""
    result = CliRunner().invoke(
        relaybox_cli, [*args, *store_args], input=stdin, catch_exceptions=False, prog_name="relaybox"
    )
    return Run(tuple(args), result.exit_code, result.stdout, result.stderr)


def relaybox_process(store_args: Sequence[str], args: Sequence[str], stdin: str | None = None) -> Run:
    """One CLI command as ``python -m relaybox``; its stdin is never a TTY (without text: /dev/null)."""
    proc = subprocess.run(
        [sys.executable, "-m", "relaybox", *args, *store_args],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Run(tuple(args), proc.returncode, proc.stdout, proc.stderr)


def cli(server: ServerProcess, *args: str, stdin: str | None = None) -> Run:
    return relaybox(server.store_args(), args, stdin)


def in_turn(server: ServerProcess, *calls: Sequence[str] | Call) -> list[Run]:
    """Independent commands, one after another; results in call order."""
    normalized = [c if isinstance(c, tuple) else (c, None) for c in calls]
    return [relaybox(server.store_args(), args, stdin) for args, stdin in normalized]


def authorize(server: ServerProcess, email: str, password: str = PASSWORD) -> httpx.Response:
    return HTTP.post(f"{server.url}/v1/authorize", json={"username": email, "password": password}, timeout=30)


def token(server: ServerProcess, email: str, password: str = PASSWORD) -> str:
    r = authorize(server, email, password)
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def api(server: ServerProcess, tok: str, path: str) -> httpx.Response:
    return HTTP.get(f"{server.url}{path}", headers={"Authorization": tok}, timeout=30)


def route_api_works(server: ServerProcess, route: str, secret: str) -> bool:
    """A signed ``/1`` request of the route is accepted."""
    r = HTTP.get(f"{server.url}/1/list-messages", headers=Signer(route, secret).receive(), timeout=30)
    return r.status_code == 200


def new_email(prefix: str = "cli") -> str:
    return f"{prefix}{secrets.token_hex(5)}@example.com"


def unique_route(prefix: str = "c") -> str:
    return f"{prefix}{secrets.token_hex(4)}@cli{secrets.token_hex(3)}"


@dataclass
class Setup:
    """Accounts with stations made straight in the store, in one session."""

    emails: dict[str, str]
    stations: dict[str, list[str]]
    secrets: dict[str, str]  # route -> secret


def make_setup(server: ServerProcess, layout: dict[str, int]) -> Setup:
    emails = {k: new_email(k) for k in layout}
    stations = {k: [unique_route("s") for _ in range(n)] for k, n in layout.items()}
    keys: dict[str, str] = {}
    # One argon2 hash (default cost, as the server verifies it) for all: they share the password,
    # and each hash costs ~0.2 s of CPU.
    hashed = hash_password(PASSWORD)

    async def work(store: Any) -> None:
        now = time.time()
        for key, email in emails.items():
            await store.accounts.add(email, hashed, now)
            for route in stations[key]:
                keys[route] = secrets.token_hex(24)
                assert await store.add_route(route, keys[route], now)
                await store.accounts.link(email, route, None, None, now)

    server._store_call(work)
    return Setup(emails, stations, keys)


@pytest.fixture(scope="module")
def setup(shared_server: ServerProcess) -> Setup:
    return make_setup(shared_server, {"passwd": 0, "list": 2, "remove": 1, "station": 0, "partner": 1, "route": 1})


# -- account -----------------------------------------------------------------------------------
def test_account_add_then_list_and_the_same_email_is_refused(shared_server: ServerProcess, setup: Setup) -> None:
    email = new_email("mixed")
    r = cli(shared_server, "account", "add", email.upper(), "--password", PASSWORD, "--json")
    assert r.ok_json() == {"email": email, "password": None}  # stored lowercase
    assert r.out.count("\n") == 1  # one document
    assert authorize(shared_server, email).status_code == 200

    again, listed = in_turn(
        shared_server,
        ["account", "add", email, "--password", "another password", "--json"],
        ["account", "list", "--json"],
    )
    assert "exist" in again.refused()
    assert authorize(shared_server, email).status_code == 200  # the first password still holds
    assert authorize(shared_server, email, "another password").status_code == 401

    rows = listed.ok_json()
    assert isinstance(rows, list)
    for row in rows:
        assert set(row) == {"email", "created", "stations"}, row
    by_email = {row["email"]: row for row in rows}
    assert by_email[email]["stations"] == []
    assert sorted(by_email[setup.emails["list"]]["stations"]) == sorted(setup.stations["list"])
    created = datetime.fromisoformat(by_email[email]["created"].replace("Z", "+00:00"))
    assert abs(created.timestamp() - time.time()) < 600


def test_account_add_without_a_password_and_no_tty_generates_one(shared_server: ServerProcess) -> None:
    email = new_email("gen")
    doc = cli(shared_server, "account", "add", email, "--json").ok_json()
    assert set(doc) == {"email", "password"} and doc["email"] == email
    assert GENERATED.fullmatch(doc["password"]), doc
    assert authorize(shared_server, email, doc["password"]).status_code == 200


def test_account_passwd_and_remove_end_older_tokens_at_once(shared_server: ServerProcess, setup: Setup) -> None:
    changed, removed = setup.emails["passwd"], setup.emails["remove"]
    [station] = setup.stations["remove"]
    old_changed, old_removed = token(shared_server, changed), token(shared_server, removed)
    assert api(shared_server, old_removed, "/v1/station").json()[0]["as2Identifier"] == station

    passwd, remove = in_turn(
        shared_server,
        ["account", "passwd", changed.upper(), "--json"],  # no password option, no TTY: generated
        ["account", "remove", removed],
    )
    doc = passwd.ok_json()
    assert doc["email"] == changed and GENERATED.fullmatch(doc["password"]), doc
    remove.ok()

    assert api(shared_server, old_changed, "/v1/station").status_code == 401
    assert authorize(shared_server, changed).status_code == 401
    assert api(shared_server, token(shared_server, changed, doc["password"]), "/v1/station").status_code == 200

    assert api(shared_server, old_removed, "/v1/station").status_code == 401
    assert authorize(shared_server, removed).status_code == 401

    # The removed account's links went; its route stays.
    async def links(store: Any) -> list[Any]:
        return list(await store.accounts.links(None))

    assert station not in [route for _, route, _ in shared_server._store_call(links)]
    assert route_api_works(shared_server, station, setup.secrets[station])


# -- station -----------------------------------------------------------------------------------
def test_station_add_creates_a_missing_route_links_an_existing_one_and_twice_is_a_no_op(
    shared_server: ServerProcess, setup: Setup
) -> None:
    email = setup.emails["station"]
    created = unique_route("new")
    existing, existing_secret = shared_server.new_route("old")
    made, linked = in_turn(
        shared_server,
        ["station", "add", email, created, "--name", "Created One", "--comments", "made here", "--json"],
        ["station", "add", email, existing, "--secret", "ignored-secret", "--json"],
    )
    doc = made.ok_json()
    assert set(doc) == {"email", "route", "routeCreated", "secret"}
    assert (doc["email"], doc["route"], doc["routeCreated"]) == (email, created, True)
    assert isinstance(doc["secret"], str) and len(doc["secret"]) >= 16
    assert "warning" not in made.err.lower()
    assert linked.ok_json() == {"email": email, "route": existing, "routeCreated": False, "secret": None}
    assert "warning" in linked.err.lower() and "secret" in linked.err

    assert route_api_works(shared_server, created, doc["secret"])  # the printed secret is the route's
    assert route_api_works(shared_server, existing, existing_secret)  # --secret ignored for an existing route
    assert not route_api_works(shared_server, existing, "ignored-secret")

    twice, listed = in_turn(
        shared_server,
        ["station", "add", email, created, "--json"],
        ["station", "list", email, "--json"],
    )
    assert twice.ok_json() == {"email": email, "route": created, "routeCreated": False, "secret": None}
    assert route_api_works(shared_server, created, doc["secret"])
    assert sorted(listed.ok_json(), key=lambda r: r["route"]) == sorted(
        [
            {"email": email, "route": created, "name": "Created One"},
            {"email": email, "route": existing, "name": existing},
        ],
        key=lambda r: r["route"],
    )
    stations = {s["as2Identifier"]: s for s in api(shared_server, token(shared_server, email), "/v1/station").json()}
    assert sorted(stations) == sorted([created, existing])
    assert (stations[created]["name"], stations[created]["comments"]) == ("Created One", "made here")


def test_station_list_of_everyone_and_station_remove(shared_server: ServerProcess, setup: Setup) -> None:
    email = setup.emails["list"]
    gone, kept = setup.stations["list"]
    partner_route, _ = shared_server.new_route("pr")
    partner = shared_server.add_partner(gone, partner_route)
    tok = token(shared_server, email)
    everyone = cli(shared_server, "station", "list", "--json").ok_json()
    for row in everyone:
        assert set(row) == {"email", "route", "name"}, row
    assert {(email, gone, gone), (email, kept, kept)} <= {(r["email"], r["route"], r["name"]) for r in everyone}

    cli(shared_server, "station", "remove", email, gone).ok()
    assert [s["as2Identifier"] for s in api(shared_server, tok, "/v1/station").json()] == [kept]
    assert api(shared_server, tok, f"/v1/partner/{partner.id}").status_code == 404  # no longer the caller's
    # The route and its partner stay: linked again, the partner is there again.
    assert route_api_works(shared_server, gone, setup.secrets[gone])
    shared_server.add_station(email, gone)
    assert api(shared_server, tok, f"/v1/partner/{partner.id}").json()["as2Identifier"] == partner_route


# -- partner -----------------------------------------------------------------------------------
def test_partner_add_update_list_remove(shared_server: ServerProcess, setup: Setup) -> None:
    [station] = setup.stations["partner"]
    local, _ = shared_server.new_route("pa")
    remote = unique_route("far")
    added, extra = in_turn(
        shared_server,
        [
            "partner",
            "add",
            station,
            local,
            "--type",
            "test",
            "--header",
            "X-Trace:abc:def",
            "--no-request-mdn",
            "--json",
        ],
        ["partner", "add", station, remote, "--uri", "https://remote.example/as2", "--subject", "Hi", "--json"],
    )
    doc = added.ok_json()
    pid = doc["partnerId"]
    assert doc == {
        "partnerId": pid,
        "stationAS2Id": station,
        "as2Identifier": local,
        "name": local,
        "description": "",
        "uri": None,
        "messageSubject": None,
        "customHeaders": [{"headerKey": "X-Trace", "headerValue": "abc:def"}],
        "pauseIncoming": False,
        "pauseOutgoing": False,
        "sendTimeout": 60,
        "partnerType": "Test",
        "requestMdn": False,
        "transport": "federation",
        "remoteRoute": None,
        "remoteSecretSet": False,
        "pushSecretSet": False,
    }
    far = extra.ok_json()
    assert (far["as2Identifier"], far["uri"], far["messageSubject"]) == (remote, "https://remote.example/as2", "Hi")
    assert (far["partnerType"], far["requestMdn"]) == ("Production", True)
    tok = token(shared_server, setup.emails["partner"])
    assert api(shared_server, tok, f"/v1/partner/{pid}").json() == doc

    updated, duplicate, removed = in_turn(
        shared_server,
        ["partner", "update", str(pid), "--pause-outgoing", "--send-timeout", "30", "--name", "Renamed", "--json"],
        ["partner", "add", station, local, "--type", "TEST", "--json"],
        ["partner", "remove", str(far["partnerId"])],
    )
    after = {**doc, "pauseOutgoing": True, "sendTimeout": 30, "name": "Renamed"}
    assert updated.ok_json() == after
    assert "already" in duplicate.refused()
    removed.ok()
    assert api(shared_server, tok, f"/v1/partner/{pid}").json() == after
    assert api(shared_server, tok, f"/v1/partner/{far['partnerId']}").status_code == 404

    assert cli(shared_server, "partner", "list", station, "--json").ok_json() == [after]


# -- receipt-key, route remove -------------------------------------------------------------------
def test_receipt_key_json_equals_the_api_document(shared_server: ServerProcess) -> None:
    doc = cli(shared_server, "receipt-key", "--json").ok_json()
    assert doc == HTTP.get(f"{shared_server.url}/v1/receipt-key", timeout=30).json()
    assert doc["algorithm"] == "Ed25519"


def test_route_remove_removes_its_station_links_and_partners(shared_server: ServerProcess, setup: Setup) -> None:
    email = setup.emails["route"]
    [station] = setup.stations["route"]
    partner_route, _ = shared_server.new_route("rp")
    partner = shared_server.add_partner(station, partner_route)
    tok = token(shared_server, email)
    assert api(shared_server, tok, f"/v1/partner/{partner.id}").status_code == 200
    cli(shared_server, "route", "remove", station).ok()
    assert api(shared_server, tok, "/v1/station").json() == []
    assert api(shared_server, tok, f"/v1/partner/{partner.id}").status_code == 404
    assert not route_api_works(shared_server, station, setup.secrets[station])
    # Gone for good: a new route of that name, linked again, has no old partner.
    shared_server.add_route(station)
    shared_server.add_station(email, station)
    assert api(shared_server, tok, "/v1/partner").json() == []


# -- backend-independent rules: once, on an embedded store of their own (no server) -----------------
@pytest.fixture
def offline(tmp_path: Path) -> ServerProcess:
    """A store that no server serves: ``ServerProcess`` only for its store helpers."""
    store = ServerProcess(tmp_path / "data")
    store.add_route("station@offline")  # creates the store before any command (or process) opens it
    return store


def test_password_stdin_is_the_first_line(offline: ServerProcess) -> None:
    email = new_email("stdin")
    r = cli(offline, "account", "add", email, "--password-stdin", "--json", stdin="from stdin 123\nsecond line\n")
    assert r.ok_json() == {"email": email, "password": None}

    async def check(store: Any) -> bool:
        from relaybox.auth.passwords import verify_password

        account = await store.accounts.get(email)
        return bool(verify_password(account.password_hash, "from stdin 123"))

    assert offline._store_call(check)


def test_refusals_exit_1_with_one_line_on_stderr(offline: ServerProcess) -> None:
    runs = in_turn(
        offline,
        ["account", "add", "not-an-email", "--password", PASSWORD, "--json"],
        ["account", "add", new_email("short"), "--password", "seven77", "--json"],
        ["account", "remove", "nobody@example.com"],
        ["partner", "add", "station@offline", "elsewhere@remote.example"],  # no --uri, not a route here
        ["partner", "add", "nostation@offline", "station@offline"],  # STATION must be an existing route
    )
    for r in runs:
        r.refused()
    assert "uri" in runs[3].err  # the API's message

    async def state(store: Any) -> tuple[int, list[Any]]:
        return len(await store.accounts.list_all()), await store.partners.search(["station@offline"])

    assert offline._store_call(state) == (0, [])


def test_partner_commands_take_json_like_every_command(offline: ServerProcess) -> None:
    """The spec's command table gives ``--json`` output for each command (Partner, [Partner..])."""
    offline.add_route("partner@offline")
    added, listed = in_turn(
        offline,
        ["partner", "add", "station@offline", "partner@offline", "--json"],
        ["partner", "list", "station@offline", "--json"],
    )
    assert added.ok_json()["as2Identifier"] == "partner@offline"
    assert isinstance(listed.ok_json(), list)


def test_partner_push_options_and_write_only_secrets(offline: ServerProcess) -> None:
    """``--transport``, ``--remote-route``, ``--remote-secret``, ``--push-secret`` and
    ``--generate-push-secret`` (``webhooks.md``, "Outbound push"): a generated push secret is
    printed once (JSON ``pushSecret``); the partner documents only say whether a secret is set."""
    remote_secret, push_secret = "remote-route-secret", "a-push-secret-of-ours"
    https, text, federation, short = in_turn(
        offline,
        ["partner", "add", "station@offline", "far@push.example", "--uri", "https://far.example/in",
         "--transport", "https", "--generate-push-secret", "--json"],
        ["partner", "add", "station@offline", "text@push.example", "--uri", "https://far.example/in",
         "--transport", "HTTPS", "--generate-push-secret"],
        ["partner", "add", "station@offline", "fed@push.example", "--uri", "https://gw.example",
         "--remote-route", "me@gw.example", "--remote-secret", remote_secret, "--json"],
        ["partner", "add", "station@offline", "short@push.example", "--uri", "https://gw.example",
         "--remote-secret", "too-short"],
    )  # fmt: skip
    doc = https.ok_json()
    generated = doc.pop("pushSecret")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", generated), generated
    assert https.out.count(generated) == 1 and generated not in https.err
    assert (doc["transport"], doc["remoteRoute"], doc["remoteSecretSet"], doc["pushSecretSet"]) == (
        "https", None, False, True
    )  # fmt: skip
    # Human output: the partner line on stdout, the generated secret once, on stderr.
    [shown] = re.findall(r"push secret: ([A-Za-z0-9_-]{43}) \(shown once", text.err)
    assert shown not in text.out and "via https" in text.out, text
    fed = federation.ok_json()
    assert (fed["transport"], fed["remoteRoute"], fed["remoteSecretSet"], fed["pushSecretSet"]) == (
        "federation", "me@gw.example", True, False
    )  # fmt: skip
    assert remote_secret not in federation.out + federation.err
    assert "remoteSecret" in short.refused()

    # update: set a push secret, switch transport; conflicting secret options are a usage error.
    pid = fed["partnerId"]
    updated, both = in_turn(
        offline,
        ["partner", "update", str(pid), "--transport", "https", "--push-secret", push_secret, "--json"],
        ["partner", "update", str(pid), "--push-secret", push_secret, "--generate-push-secret"],
    )
    after = updated.ok_json()
    assert "pushSecret" not in after and push_secret not in updated.out + updated.err
    assert (after["transport"], after["remoteSecretSet"], after["pushSecretSet"]) == ("https", True, True)
    assert both.code == 2 and "--generate-push-secret" in both.err, both
    regenerated = cli(offline, "partner", "update", str(pid), "--generate-push-secret", "--json").ok_json()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", regenerated["pushSecret"])

    async def stored(store: Any) -> dict[str, Any]:
        return {p.route: p for p in await store.partners.search(["station@offline"])}

    partners = offline._store_call(stored)
    assert partners["far@push.example"].push_secret == generated
    assert partners["text@push.example"].push_secret == shown
    fed_record = partners["fed@push.example"]
    assert (fed_record.remote_secret, fed_record.push_secret) == (remote_secret, regenerated["pushSecret"])
    listed = cli(offline, "partner", "list", "station@offline", "--json")
    assert not any(s in listed.out for s in (generated, shown, remote_secret, regenerated["pushSecret"]))
    assert "short@push.example" not in partners


USAGE_ERRORS = [
    ["account", "add"],
    ["account", "add", "x@example.com", "--password", PASSWORD, "--password-stdin"],
    ["station", "add", "x@example.com", "not a route"],
    ["partner", "add", "a@b", "c@d", "--type", "prod"],
    ["partner", "add", "a@b", "c@d", "--transport", "smtp"],
    ["partner", "update", "not-an-id"],
    ["receipt-key", "--bogus"],
]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    store_args = ["--data-dir", str(tmp_path / "data")]  # never opened: the arguments are refused first
    runs = [relaybox(store_args, args) for args in USAGE_ERRORS]
    for r in runs:
        assert r.code == 2, r
        assert r.out == "", r
        assert "Usage" in r.err or "Error" in r.err, r


# -- what only a real process shows ---------------------------------------------------------------
def test_python_m_relaybox_exit_codes_streams_and_a_generated_password(offline: ServerProcess) -> None:
    """``python -m relaybox`` exits 0, 1 and 2 with stdout and stderr apart; with stdin on
    /dev/null (not a TTY) and no password option, a password is generated and printed once, on
    stdout. The three processes run side by side: each costs about two seconds of CPU."""
    email = new_email("proc")
    calls = [
        ["account", "add", email, "--json"],
        ["account", "remove", "nobody@example.com"],
        ["account", "add"],
    ]
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        made, refused, usage = pool.map(lambda args: relaybox_process(offline.store_args(), args), calls)

    doc = made.ok_json()
    assert set(doc) == {"email", "password"} and doc["email"] == email
    assert GENERATED.fullmatch(doc["password"]), doc
    assert made.out.count("\n") == 1 and made.out.count(doc["password"]) == 1, made  # one document, once
    assert doc["password"] not in made.err, made

    async def check(store: Any) -> bool:
        from relaybox.auth.passwords import verify_password

        account = await store.accounts.get(email)
        return bool(verify_password(account.password_hash, doc["password"]))

    assert offline._store_call(check)  # the printed password is the account's

    assert "nobody@example.com" in refused.refused()

    assert usage.code == 2, usage
    assert usage.out == "", usage
    assert "Usage" in usage.err, usage
