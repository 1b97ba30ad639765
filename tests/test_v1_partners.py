"""``/v1/partner``, ``/v1/station``, ``/v1/receipt-key`` and the API documents, through a live
server (``management-api.md``: "Entities" (Partner, Station), sections 10 and 11, "Receipt key and
documentation")."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest

from conftest import ServerProcess
from relaybox.auth.passwords import hash_password

PASSWORD = "correct horse 1"
REQUEST_ID = re.compile(r"^\d{14}-[0-9a-f]{16}$")
# One client for the module: making an httpx.Client costs ~40 ms of CPU (its TLS context).
HTTP = httpx.Client(timeout=30)
PARTNER_KEYS = {
    "partnerId",
    "stationAS2Id",
    "as2Identifier",
    "name",
    "description",
    "uri",
    "messageSubject",
    "customHeaders",
    "pauseIncoming",
    "pauseOutgoing",
    "sendTimeout",
    "partnerType",
    "requestMdn",
    # push settings (docs/webhooks.md); the secrets only as "is set"
    "transport",
    "remoteRoute",
    "remoteSecretSet",
    "pushSecretSet",
}

PUSH_DEFAULTS = {"transport": "federation", "remoteRoute": None, "remoteSecretSet": False, "pushSecretSet": False}

# The seed's Partner example (section 10.1.2), as is.
SEED_PARTNER: dict[str, Any] = {
    "partnerId": 3,
    "as2Identifier": "foo",
    "compressAfter": False,
    "compressBefore": False,
    "precompressInputFiles": False,
    "encryptCert": {"id": 5},
    "signCert": {"id": 7},
    "useDiffCertAsSignCert": True,
    "encryptMessages": True,
    "name": "Foo",
    "requestAsyncMdn": False,
    "requestMdn": True,
    "requestSignedMdn": True,
    "requestHttpsMdn": False,
    "signMessage": True,
    "uri": "http://as2.foo/bar",
    "encryptionAlgorithm": "AES256_CBC",
    "signDigestAlgorithm": "SHA256",
    "signEncryptAlgorithm": "RSA",
    "isGlobalPartner": False,
    "partnerType": "Production",
    "httpsCert": {"id": 8},
    "pinned": False,
    "customHeaders": [{"headerKey": "key", "headerValue": "value"}],
    "useAs2Restart": False,
    "pauseIncoming": False,
    "pauseOutgoing": False,
    "sendTimeout": 60,
    "flows": ["EDIG"],
}


# -- helpers ---------------------------------------------------------------------------------
def assert_json(r: httpx.Response, status: int) -> Any:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].split(";")[0].strip() == "application/json", r.headers
    assert REQUEST_ID.match(r.headers["request-id"]), r.headers
    return r.json()


def assert_message(r: httpx.Response, status: int, message: str | None = None) -> str:
    body = assert_json(r, status)
    assert isinstance(body, dict) and set(body) == {"message"}, body
    assert isinstance(body["message"], str) and body["message"], body
    if message is not None:
        assert body["message"] == message
    return str(body["message"])


def defaults(station: str, route: str, partner_id: int, **changes: Any) -> dict[str, Any]:
    """The Partner ``POST /v1/partner`` makes from only the two required fields."""
    doc = {
        "partnerId": partner_id,
        "stationAS2Id": station,
        "as2Identifier": route,
        "name": route,
        "description": "",
        "uri": None,
        "messageSubject": None,
        "customHeaders": [],
        "pauseIncoming": False,
        "pauseOutgoing": False,
        "sendTimeout": 60,
        "partnerType": "Production",
        "requestMdn": True,
        "transport": "federation",
        "remoteRoute": None,
        "remoteSecretSet": False,
        "pushSecretSet": False,
    }
    return {**doc, **changes}


def fresh_route(prefix: str = "p") -> str:
    """A route name that exists nowhere (for remote partners and unknown stations)."""
    return f"{prefix}{secrets.token_hex(4)}@far{secrets.token_hex(3)}"


class Caller:
    """Requests of one account (a fresh token) on the module's shared HTTP client."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        return HTTP.request(method, self.base + path, headers={"Authorization": self.token, **(headers or {})}, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    def __enter__(self) -> Caller:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@dataclass
class Account:
    email: str
    stations: list[str]
    claims: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    """Accounts made in one store session, and a way to get tokens for them cheaply."""

    server: ServerProcess
    secret: bytes
    accounts: dict[str, Account]

    def token(self, who: str) -> str:
        """A token of the account with a fresh ``jti``: its own rate-limit budget, so that the
        many requests of this module never meet the 50-per-10-s limit. Signed with the server's
        own secret and the claims ``POST /v1/authorize`` gave (that endpoint has its own tests)."""
        now = int(time.time())
        claims = {**self.accounts[who].claims, "iat": now, "exp": now + 3600, "jti": secrets.token_urlsafe(16)}
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def client(self, who: str) -> Caller:
        return Caller(self.server.url, self.token(who))

    def routes(self, n: int, prefix: str = "p") -> list[str]:
        """Fresh local routes (partners on this server)."""
        names = [f"{prefix}{secrets.token_hex(4)}@local{secrets.token_hex(3)}" for _ in range(n)]

        async def add(store: Any) -> None:
            for name in names:
                assert await store.add_route(name, secrets.token_hex(24), time.time())

        self.server._store_call(add)
        return names


# Accounts: a (two stations), b (one station, another account), c (two stations; partner lists),
# d (stations with names; station list), e (shares d's first station), f (no station).
LAYOUT = {"a": 2, "b": 1, "c": 2, "d": 2, "e": 0, "f": 0}


@pytest.fixture(scope="module")
def world(shared_server: ServerProcess) -> World:
    accounts = {
        key: Account(
            f"{key}{secrets.token_hex(5)}@example.com",
            [f"s{key}{secrets.token_hex(4)}@st{secrets.token_hex(3)}" for _ in range(n)],
        )
        for key, n in LAYOUT.items()
    }
    d, e = accounts["d"], accounts["e"]
    e.stations = [d.stations[0]]

    # One argon2 hash (default cost, as the server verifies it) for all: they share the password,
    # and each hash costs ~0.2 s of CPU.
    hashed = hash_password(PASSWORD)

    async def work(store: Any) -> bytes:
        from relaybox.exchange.identity import TOKEN_KEY

        now = time.time()
        for acc in accounts.values():
            await store.accounts.add(acc.email, hashed, now)
        for key, acc in accounts.items():
            for i, route in enumerate(acc.stations):
                if key != "e":
                    assert await store.add_route(route, secrets.token_hex(24), now)
                name, comments = ("Zulu Station", "the second one") if (key, i) == ("d", 1) else (None, None)
                await store.accounts.link(acc.email, route, name, comments, now)
        return bytes(await store.accounts.server_key(TOKEN_KEY, lambda: pytest.fail("no token secret"), now))

    secret = shared_server._store_call(work)

    def authorize(acc: Account) -> httpx.Response:
        return HTTP.post(f"{shared_server.url}/v1/authorize", json={"username": acc.email, "password": PASSWORD})

    # Side by side: the server verifies each password (argon2) in a thread of its own.
    with ThreadPoolExecutor(max_workers=len(accounts)) as pool:
        answers = list(pool.map(authorize, accounts.values()))
    for acc, r in zip(accounts.values(), answers, strict=True):
        acc.claims = jwt.decode(assert_json(r, 200)["token"], options={"verify_signature": False})
    return World(shared_server, secret, accounts)


@pytest.fixture
def a(world: World) -> Iterator[Caller]:
    with world.client("a") as c:
        yield c


def create(c: Caller, station: str, route: str, **fields: Any) -> dict[str, Any]:
    body = assert_json(c.post("/v1/partner", json={"stationAS2Id": station, "as2Identifier": route, **fields}), 201)
    assert set(body) == PARTNER_KEYS, body
    return dict(body)


# -- POST /v1/partner ---------------------------------------------------------------------------
def test_create_with_the_two_required_fields_fills_every_default(world: World, a: Caller) -> None:
    station = world.accounts["a"].stations[0]
    [route] = world.routes(1)
    r = a.post("/v1/partner", json={"stationAS2Id": station, "as2Identifier": route})
    body = assert_json(r, 201)
    assert isinstance(body["partnerId"], int) and not isinstance(body["partnerId"], bool)
    assert body == defaults(station, route, body["partnerId"])
    assert assert_json(a.get(f"/v1/partner/{body['partnerId']}"), 200) == body


def test_partner_id_in_the_body_is_ignored_and_ids_are_distinct(world: World, a: Caller) -> None:
    station = world.accounts["a"].stations[0]
    one, two = world.routes(2)
    first = create(a, station, one, partnerId=987654321)
    second = create(a, station, two, partnerId=first["partnerId"])
    assert first["partnerId"] != 987654321
    assert second["partnerId"] != first["partnerId"]
    assert_message(a.get("/v1/partner/987654321"), 404)


def test_a_seed_partner_document_is_accepted_as_is(world: World, a: Caller) -> None:
    station = world.accounts["a"].stations[0]
    [route] = world.routes(1)
    doc = {**copy.deepcopy(SEED_PARTNER), "as2Identifier": route, "stationAS2Id": station}
    body = assert_json(a.post("/v1/partner", json=doc), 201)
    # Exactly the Partner fields relaybox keeps: the seed's others are ignored and not echoed.
    assert body == {
        "partnerId": body["partnerId"],
        "stationAS2Id": station,
        "as2Identifier": route,
        "name": "Foo",
        "description": "",
        "uri": "http://as2.foo/bar",
        "messageSubject": None,
        "customHeaders": [{"headerKey": "key", "headerValue": "value"}],
        "pauseIncoming": False,
        "pauseOutgoing": False,
        "sendTimeout": 60,
        "partnerType": "Production",
        "requestMdn": True,
        "transport": "federation",
        "remoteRoute": None,
        "remoteSecretSet": False,
        "pushSecretSet": False,
    }
    assert assert_json(a.get(f"/v1/partner/{body['partnerId']}"), 200) == body


def test_every_field_at_its_limit_is_accepted_and_echoed(world: World, a: Caller) -> None:
    station = world.accounts["a"].stations[1]
    route = fresh_route()
    fields = {
        "name": "N" * 128,
        "description": "d" * 1024,
        "uri": "https://example.com/" + "u" * (2048 - len("https://example.com/")),
        "messageSubject": "s" * 255,
        "customHeaders": [{"headerKey": f"X-K{i}", "headerValue": "v" * 1024} for i in range(19)]
        + [{"headerKey": "k" * 64, "headerValue": ""}],
        "pauseIncoming": True,
        "pauseOutgoing": True,
        "sendTimeout": 3600,
        "partnerType": "Test",
        "requestMdn": False,
    }
    body = create(a, station, route, **fields)
    assert body == {
        "partnerId": body["partnerId"],
        "stationAS2Id": station,
        "as2Identifier": route,
        **PUSH_DEFAULTS,
        **fields,
    }
    low = create(a, station, route, sendTimeout=1, name="x", uri="http://h")
    assert (low["sendTimeout"], low["name"], low["partnerType"]) == (1, "x", "Production")


BAD_FIELDS: dict[str, dict[str, Any]] = {
    "name-empty": {"name": ""},
    "name-129": {"name": "n" * 129},
    "name-number": {"name": 5},
    "name-control-char": {"name": "a\x01b"},
    "description-1025": {"description": "d" * 1025},
    "description-number": {"description": 1},
    "uri-ftp": {"uri": "ftp://example.com/in"},
    "uri-relative": {"uri": "/as2/in"},
    "uri-no-scheme": {"uri": "example.com/as2"},
    "uri-no-host": {"uri": "http:///as2"},
    "uri-2049": {"uri": "https://example.com/" + "u" * (2049 - len("https://example.com/"))},
    "uri-number": {"uri": 80},
    "subject-control-char": {"messageSubject": "bad\x07subject"},
    "subject-newline": {"messageSubject": "two\nlines"},
    "subject-256": {"messageSubject": "s" * 256},
    "subject-number": {"messageSubject": 5},
    "headers-21": {"customHeaders": [{"headerKey": f"K{i}", "headerValue": "v"} for i in range(21)]},
    "headers-not-array": {"customHeaders": {"headerKey": "k", "headerValue": "v"}},
    "header-key-space": {"customHeaders": [{"headerKey": "bad key", "headerValue": "v"}]},
    "header-key-colon": {"customHeaders": [{"headerKey": "bad:key", "headerValue": "v"}]},
    "header-key-empty": {"customHeaders": [{"headerKey": "", "headerValue": "v"}]},
    "header-key-65": {"customHeaders": [{"headerKey": "k" * 65, "headerValue": "v"}]},
    "header-value-1025": {"customHeaders": [{"headerKey": "k", "headerValue": "v" * 1025}]},
    "header-value-newline": {"customHeaders": [{"headerKey": "k", "headerValue": "a\r\nInjected: 1"}]},
    "header-value-missing": {"customHeaders": [{"headerKey": "k"}]},
    "header-value-number": {"customHeaders": [{"headerKey": "k", "headerValue": 1}]},
    "header-item-string": {"customHeaders": ["k: v"]},
    "send-timeout-0": {"sendTimeout": 0},
    "send-timeout-3601": {"sendTimeout": 3601},
    "send-timeout-negative": {"sendTimeout": -5},
    "send-timeout-string": {"sendTimeout": "60"},
    "send-timeout-true": {"sendTimeout": True},
    "send-timeout-float": {"sendTimeout": 60.5},
    "partner-type-prod": {"partnerType": "prod"},
    "partner-type-empty": {"partnerType": ""},
    "partner-type-number": {"partnerType": 1},
    "pause-incoming-yes": {"pauseIncoming": "yes"},
    "pause-incoming-1": {"pauseIncoming": 1},
    "pause-outgoing-string": {"pauseOutgoing": "true"},
    "request-mdn-0": {"requestMdn": 0},
    "request-mdn-null": {"requestMdn": None},
    "as2identifier-not-a-route": {"as2Identifier": "not a route"},
    "as2identifier-number": {"as2Identifier": 42},
    "as2identifier-null": {"as2Identifier": None},
    "station-number": {"stationAS2Id": 42},
}


@pytest.mark.parametrize("case", list(BAD_FIELDS))
def test_a_bad_field_is_400(world: World, a: Caller, case: str) -> None:
    station = world.accounts["a"].stations[0]
    doc = {"stationAS2Id": station, "as2Identifier": fresh_route(), "uri": "https://partner.example/as2"}
    doc.update(BAD_FIELDS[case])
    assert_message(a.post("/v1/partner", json=doc), 400)


@pytest.mark.parametrize(
    "doc",
    [
        {"as2Identifier": "x@y"},
        {"stationAS2Id": "STATION"},
        {},
        [],
        ["a", "b"],
        "a partner",
        None,
        7,
    ],
    ids=["no-station", "no-as2identifier", "empty-object", "empty-array", "array", "string", "null", "number"],
)
def test_a_body_that_is_not_a_partner_is_400(world: World, a: Caller, doc: Any) -> None:
    if isinstance(doc, dict) and doc.get("stationAS2Id") == "STATION":
        doc = {"stationAS2Id": world.accounts["a"].stations[0]}
    headers = {"Content-Type": "application/json"}
    assert_message(a.post("/v1/partner", content=json.dumps(doc).encode(), headers=headers), 400)


def test_a_local_partner_must_be_a_route_of_this_server(world: World, a: Caller) -> None:
    station = world.accounts["a"].stations[0]
    far = fresh_route()
    assert_message(a.post("/v1/partner", json={"stationAS2Id": station, "as2Identifier": far}), 400)
    assert_message(a.post("/v1/partner", json={"stationAS2Id": station, "as2Identifier": far, "uri": None}), 400)
    remote = create(a, station, far, uri="https://partner.example/as2")
    assert remote["uri"] == "https://partner.example/as2" and remote["as2Identifier"] == far


def test_a_station_that_is_not_the_callers_is_403_before_field_errors(world: World, a: Caller) -> None:
    foreign = world.accounts["b"].stations[0]
    [route] = world.routes(1)
    bad_fields = {"as2Identifier": "not a route", "name": "", "sendTimeout": 0, "partnerType": "prod"}
    answers = [
        a.post("/v1/partner", json={"stationAS2Id": foreign, "as2Identifier": route}),
        a.post("/v1/partner", json={"stationAS2Id": foreign, **bad_fields}),
        a.post("/v1/partner", json={"stationAS2Id": fresh_route("nobody"), "as2Identifier": route}),
        a.post("/v1/partner", json={"stationAS2Id": fresh_route("nobody"), **bad_fields}),
    ]
    for r in answers:
        assert_message(r, 403)
    # A foreign and an unknown station look alike.
    assert len({r.content for r in answers}) == 1
    with world.client("b") as b:  # nothing was created for b
        assert route not in [p["as2Identifier"] for p in assert_json(b.get("/v1/partner"), 200)]


def test_duplicate_is_409_but_the_same_route_may_be_a_test_partner(world: World, a: Caller) -> None:
    s1, s2 = world.accounts["a"].stations
    [route] = world.routes(1)
    production = create(a, s1, route)
    assert_message(a.post("/v1/partner", json={"stationAS2Id": s1, "as2Identifier": route}), 409)
    doc = {"stationAS2Id": s1, "as2Identifier": route, "partnerType": "Production", "name": "other"}
    assert_message(a.post("/v1/partner", json=doc), 409)
    test = create(a, s1, route, partnerType="Test")
    assert test["partnerType"] == "Test" and test["partnerId"] != production["partnerId"]
    assert_message(a.post("/v1/partner", json={"stationAS2Id": s1, "as2Identifier": route, "partnerType": "Test"}), 409)
    # Unique per station: another station may have the same partner.
    assert create(a, s2, route)["stationAS2Id"] == s2
    # The refused ones left nothing behind.
    mine = [p for p in assert_json(a.get("/v1/partner"), 200) if p["as2Identifier"] == route]
    assert sorted((p["stationAS2Id"], p["partnerType"]) for p in mine) == sorted(
        [(s1, "Production"), (s1, "Test"), (s2, "Production")]
    )


# -- GET /v1/partner ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def listed(world: World) -> dict[str, dict[str, Any]]:
    """Partners of account c (two stations), and one of account b that c must never see."""
    s1, s2 = world.accounts["c"].stations
    p1, p2 = world.routes(2)
    with world.client("c") as c:
        out = {
            "alpha": create(c, s1, p1, name="Alpha Corp"),
            "alpha-test": create(c, s1, p1, name="Alpha Corp", partnerType="Test"),
            "plain": create(c, s1, p2),
            "remote": create(c, s2, "bravo.remote@far.example", name="Bravo 100%_Ltd", uri="http://bravo.example/as2"),
        }
    with world.client("b") as b:
        out["foreign"] = create(b, world.accounts["b"].stations[0], p1, name="Alpha Corp")
    return out


def test_list_has_every_partner_of_the_callers_stations_both_types_by_id(world: World, listed: dict[str, Any]) -> None:
    with world.client("c") as c:
        body = assert_json(c.get("/v1/partner"), 200)
    expected = [listed[k] for k in ("alpha", "alpha-test", "plain", "remote")]
    assert body == sorted(expected, key=lambda p: p["partnerId"])
    assert listed["foreign"]["partnerId"] not in [p["partnerId"] for p in body]


@pytest.mark.parametrize(
    ("query", "keys"),
    [
        ("alpha", ["alpha", "alpha-test"]),
        ("ALPHA corp", ["alpha", "alpha-test"]),
        ("bravo.REMOTE@", ["remote"]),  # as2Identifier, not the name
        ("far.example", ["remote"]),
        ("100%_", ["remote"]),  # LIKE wildcards match only themselves
        ("%", ["remote"]),
        ("_", ["remote"]),
        ("no such partner", []),
        ("", ["alpha", "alpha-test", "plain", "remote"]),
    ],
)
def test_list_query_is_a_case_insensitive_substring_of_name_or_as2identifier(
    world: World, listed: dict[str, Any], query: str, keys: list[str]
) -> None:
    with world.client("c") as c:
        body = assert_json(c.get("/v1/partner", params={"query": query}), 200)
    assert body == sorted([listed[k] for k in keys], key=lambda p: p["partnerId"])


def test_list_query_finds_a_route_by_part_of_it(world: World, listed: dict[str, Any]) -> None:
    route = listed["plain"]["as2Identifier"]
    with world.client("c") as c:
        body = assert_json(c.get("/v1/partner", params={"query": route[1:9].upper()}), 200)
    assert body == [listed["plain"]]


def test_list_query_is_case_insensitive_beyond_ascii(world: World, a: Caller) -> None:
    """Names are Unicode: "MÜLLER" finds "Müller" as str.lower() (and /v1/station's query) would."""
    tag = secrets.token_hex(3)
    made = create(
        a, world.accounts["a"].stations[1], fresh_route(), name=f"Müller Überseehandel {tag}", uri="http://m.example"
    )
    for query in (f"müller überseehandel {tag}", f"MÜLLER ÜBERSEEHANDEL {tag.upper()}", f"üBERSEEhandel {tag}"):
        assert assert_json(a.get("/v1/partner", params={"query": query}), 200) == [made], query


def test_query_values_over_1024_characters_are_400_and_unknown_parameters_are_ignored(
    world: World, listed: dict[str, Any]
) -> None:
    with world.client("c") as c:
        for path in ("/v1/partner", "/v1/station"):
            assert_message(c.get(path, params={"query": "x" * 1025}), 400)
            assert assert_json(c.get(path, params={"query": "x" * 1024}), 200) == []
        everything = assert_json(c.get("/v1/partner"), 200)
        assert assert_json(c.get("/v1/partner", params={"pageLength": "nonsense", "other": "1"}), 200) == everything


def test_a_caller_without_stations_has_no_partners(world: World) -> None:
    with world.client("f") as f:
        assert assert_json(f.get("/v1/partner"), 200) == []
        assert assert_json(f.get("/v1/station"), 200) == []


def test_get_one_and_foreign_or_unknown_ids_are_404_alike(world: World, listed: dict[str, Any]) -> None:
    with world.client("c") as c:
        for key in ("alpha", "remote"):
            assert assert_json(c.get(f"/v1/partner/{listed[key]['partnerId']}"), 200) == listed[key]
        foreign = listed["foreign"]["partnerId"]
        unknown = 2_000_000_000
        m1 = assert_message(c.get(f"/v1/partner/{foreign}"), 404)
        m2 = assert_message(c.get(f"/v1/partner/{unknown}"), 404)
        assert m1.replace(str(foreign), "ID") == m2.replace(str(unknown), "ID")
        assert_message(c.get("/v1/partner/0"), 404)
        for bad in ("abc", "1.5", "-1", "1e3", "%20"):
            assert_message(c.get(f"/v1/partner/{bad}"), 400)


# -- PUT /v1/partner/{id} ------------------------------------------------------------------------------
def test_put_is_a_partial_update(world: World, a: Caller) -> None:
    station = world.accounts["a"].stations[0]
    [route] = world.routes(1)
    headers = [{"headerKey": "X-One", "headerValue": "1"}]
    made = create(a, station, route, name="Before", description="old", customHeaders=headers, messageSubject="Hi")
    pid = made["partnerId"]
    url = f"/v1/partner/{pid}"
    changed = assert_json(a.put(url, json={"description": "new"}), 200)
    assert changed == {**made, "description": "new"}
    assert assert_json(a.get(url), 200) == changed
    # An empty update changes nothing; partnerId and the seed's other fields are ignored.
    assert assert_json(a.put(url, json={}), 200) == changed
    assert assert_json(a.put(url, json={"partnerId": pid + 1, "pinned": True, "flows": ["X"]}), 200) == changed
    # Several fields at once, and null where null is allowed.
    update = {
        "name": "After",
        "messageSubject": None,
        "customHeaders": [],
        "pauseIncoming": True,
        "sendTimeout": 5,
        "requestMdn": False,
        "uri": "https://remote.example/as2",
        "partnerType": "Test",
    }
    after = assert_json(a.put(url, json=update), 200)
    assert after == {**changed, **update}
    assert assert_json(a.get(url), 200) == after
    # The same stationAS2Id is no change, hence fine.
    assert assert_json(a.put(url, json={"stationAS2Id": station}), 200) == after


def test_put_with_a_bad_field_changes_nothing(world: World, a: Caller) -> None:
    station = world.accounts["a"].stations[0]
    [route] = world.routes(1)
    made = create(a, station, route)
    url = f"/v1/partner/{made['partnerId']}"
    for doc in (
        {"name": ""},
        {"description": "ok", "sendTimeout": 0},
        {"uri": "ftp://x/y"},
        [],
        {"pauseOutgoing": "no"},
    ):
        assert_message(a.put(url, json=doc), 400)
    assert_message(a.put(url, content=b"{", headers={"Content-Type": "application/json"}), 400)
    assert assert_json(a.get(url), 200) == made


def test_put_can_change_the_partner_route(world: World, a: Caller) -> None:
    """``as2Identifier`` is not immutable (only stationAS2Id is): as a present field it replaces."""
    station = world.accounts["a"].stations[0]
    one, two = world.routes(2)
    made = create(a, station, one)
    url = f"/v1/partner/{made['partnerId']}"
    # A local partner's new route must be on this server.
    assert_message(a.put(url, json={"as2Identifier": fresh_route()}), 400)
    after = assert_json(a.put(url, json={"as2Identifier": two}), 200)
    assert after == {**made, "as2Identifier": two}
    assert assert_json(a.get(url), 200) == after


def test_put_cannot_make_a_remote_partner_local_when_its_route_is_not_here(world: World, a: Caller) -> None:
    station = world.accounts["a"].stations[0]
    made = create(a, station, fresh_route(), uri="https://remote.example/as2")
    url = f"/v1/partner/{made['partnerId']}"
    assert_message(a.put(url, json={"uri": None}), 400)
    assert assert_json(a.get(url), 200) == made


def test_put_refuses_another_station_400_own_403_foreign(world: World, a: Caller) -> None:
    s1, s2 = world.accounts["a"].stations
    [route] = world.routes(1)
    made = create(a, s1, route)
    url = f"/v1/partner/{made['partnerId']}"
    assert_message(a.put(url, json={"stationAS2Id": s2}), 400)
    foreign = world.accounts["b"].stations[0]
    assert_message(a.put(url, json={"stationAS2Id": foreign}), 403)
    assert_message(a.put(url, json={"stationAS2Id": fresh_route("nobody")}), 403)
    assert assert_json(a.get(url), 200) == made


def test_put_to_a_colliding_partner_type_is_409(world: World, a: Caller) -> None:
    station = world.accounts["a"].stations[0]
    [route] = world.routes(1)
    production = create(a, station, route)
    test = create(a, station, route, partnerType="Test")
    assert_message(a.put(f"/v1/partner/{test['partnerId']}", json={"partnerType": "Production"}), 409)
    assert_message(a.put(f"/v1/partner/{production['partnerId']}", json={"partnerType": "Test"}), 409)
    assert assert_json(a.get(f"/v1/partner/{test['partnerId']}"), 200) == test
    # Without a collision the type may change.
    other = create(a, station, world.routes(1)[0])
    assert (
        assert_json(a.put(f"/v1/partner/{other['partnerId']}", json={"partnerType": "Test"}), 200)["partnerType"]
        == "Test"
    )


def test_put_unknown_or_foreign_id_is_404_and_a_non_integer_id_400(
    world: World, a: Caller, listed: dict[str, Any]
) -> None:
    foreign = listed["foreign"]["partnerId"]
    for pid in (2_000_000_000, foreign):
        assert_message(a.put(f"/v1/partner/{pid}", json={"name": "mine now"}), 404)
        # 404 comes before body faults.
        assert_message(a.put(f"/v1/partner/{pid}", json={"name": ""}), 404)
    with world.client("b") as b:
        assert assert_json(b.get(f"/v1/partner/{foreign}"), 200) == listed["foreign"]
    for bad in ("abc", "1.5", "-3"):
        assert_message(a.put(f"/v1/partner/{bad}", json={"name": "x"}), 400)


def test_put_a_foreign_station_on_an_unknown_id_is_403(world: World, a: Caller) -> None:
    """With several faults 403 comes before 404 ("General rules"): a station in a partner body
    that is not the caller's is a 403 fault, not a body fault."""
    foreign = world.accounts["b"].stations[0]
    assert_message(a.put("/v1/partner/2000000000", json={"stationAS2Id": foreign}), 403)


# -- DELETE /v1/partner/{id} ---------------------------------------------------------------------------
def test_delete_then_it_is_gone(world: World, a: Caller) -> None:
    station = world.accounts["a"].stations[0]
    [route] = world.routes(1)
    made = create(a, station, route)
    pid = made["partnerId"]
    assert assert_json(a.delete(f"/v1/partner/{pid}"), 200) == {"message": f"Deleted partner {pid}"}
    assert_message(a.get(f"/v1/partner/{pid}"), 404)
    assert_message(a.delete(f"/v1/partner/{pid}"), 404)
    assert_message(a.put(f"/v1/partner/{pid}", json={"name": "x"}), 404)
    assert pid not in [p["partnerId"] for p in assert_json(a.get("/v1/partner"), 200)]
    # The pair is free again.
    assert create(a, station, route)["as2Identifier"] == route


def test_delete_foreign_or_unknown_is_404_and_keeps_it(world: World, a: Caller, listed: dict[str, Any]) -> None:
    foreign = listed["foreign"]["partnerId"]
    assert_message(a.delete(f"/v1/partner/{foreign}"), 404)
    assert_message(a.delete("/v1/partner/2000000000"), 404)
    assert_message(a.delete("/v1/partner/x"), 400)
    with world.client("b") as b:
        assert assert_json(b.get(f"/v1/partner/{foreign}"), 200) == listed["foreign"]


# -- GET /v1/station ------------------------------------------------------------------------------------
def test_stations_of_the_caller_by_as2identifier(world: World) -> None:
    d = world.accounts["d"]
    with world.client("d") as c:
        body = assert_json(c.get("/v1/station"), 200)
    assert [s["as2Identifier"] for s in body] == sorted(d.stations)
    by_route = {s["as2Identifier"]: s for s in body}
    for s in body:
        assert set(s) == {"id", "as2Identifier", "name", "comments", "email"}
        assert isinstance(s["id"], int) and s["email"] == d.email
    first, second = d.stations
    assert by_route[first]["name"] == first  # the default name is the route
    assert by_route[first]["comments"] is None
    assert by_route[second]["name"] == "Zulu Station"
    assert by_route[second]["comments"] == "the second one"
    assert by_route[first]["id"] != by_route[second]["id"]


def test_a_shared_station_shows_each_callers_email(world: World) -> None:
    d, e = world.accounts["d"], world.accounts["e"]
    with world.client("d") as c:
        mine = {s["as2Identifier"]: s for s in assert_json(c.get("/v1/station"), 200)}
    with world.client("e") as c:
        theirs = assert_json(c.get("/v1/station"), 200)
    assert theirs == [{**mine[d.stations[0]], "email": e.email}]


@pytest.mark.parametrize(
    ("query", "which"),
    [("zulu", [1]), ("ZULU STATION", [1]), ("", [0, 1]), ("nothing like it", []), ("%", []), ("@", [0, 1])],
)
def test_station_query_is_a_case_insensitive_substring_of_name_or_as2identifier(
    world: World, query: str, which: list[int]
) -> None:
    stations = world.accounts["d"].stations
    with world.client("d") as c:
        body = assert_json(c.get("/v1/station", params={"query": query}), 200)
        assert [s["as2Identifier"] for s in body] == sorted(stations[i] for i in which)
        part = stations[0][2:8].upper()
        assert [s["as2Identifier"] for s in assert_json(c.get("/v1/station", params={"query": part}), 200)] == [
            stations[0]
        ]


# -- receipt key and documentation (no token) ---------------------------------------------------------
def test_receipt_key_document(shared_server: ServerProcess) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

    r = HTTP.get(f"{shared_server.url}/v1/receipt-key", timeout=30)
    doc = assert_json(r, 200)
    assert set(doc) == {"algorithm", "keyId", "publicKey", "pem"}
    assert doc["algorithm"] == "Ed25519"
    raw = base64.b64decode(doc["publicKey"], validate=True)
    assert len(raw) == 32
    assert base64.b64encode(raw).decode() == doc["publicKey"]  # standard base64 with padding
    assert doc["keyId"] == hashlib.sha256(raw).hexdigest()[:16]
    key = load_pem_public_key(doc["pem"].encode())
    assert isinstance(key, Ed25519PublicKey)
    assert key.public_bytes(Encoding.Raw, PublicFormat.Raw) == raw
    Ed25519PublicKey.from_public_bytes(raw)  # usable as the spec's verification snippet does
    # No token needed, and a bad one does not matter; the key is stable.
    again = HTTP.get(f"{shared_server.url}/v1/receipt-key", headers={"Authorization": "garbage"}, timeout=30)
    assert assert_json(again, 200) == doc


_VALID_OPENAPI: set[str] = set()  # documents validate() passed, as canonical JSON


def test_openapi_document_is_valid_and_covers_the_partner_and_station_paths(shared_server: ServerProcess) -> None:
    from openapi_spec_validator import validate

    doc = assert_json(HTTP.get(f"{shared_server.url}/openapi.json", timeout=30), 200)
    # Validation costs ~1 s of CPU: a document equal to one already validated (the other
    # backend's, normally) is valid for the same reasons.
    canonical = json.dumps(doc, sort_keys=True)
    if canonical not in _VALID_OPENAPI:
        validate(doc)
        _VALID_OPENAPI.add(canonical)
    paths = doc["paths"]
    for path in ("/v1/authorize", "/v1/receipt-key", "/v1/partner", "/v1/partner/{partnerId}", "/v1/station"):
        assert path in paths, sorted(paths)
    assert {"get", "post"} <= set(paths["/v1/partner"])
    assert {"get", "put", "delete"} <= set(paths["/v1/partner/{partnerId}"])
    schemes = doc["components"]["securitySchemes"].values()
    assert any(
        s.get("type") == "apiKey" and s.get("in") == "header" and s.get("name") == "Authorization" for s in schemes
    )


def test_live_partner_and_station_answers_match_the_openapi_schemas(world: World, listed: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator

    doc = HTTP.get(f"{world.server.url}/openapi.json", timeout=30).json()

    def validator(name: str) -> Draft202012Validator:
        # The refs are "#/components/...": give the schema the document's components as its root.
        return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": doc["components"]})

    # ... and the push secret generated for an https partner, in the one answer that made it.
    assert set(doc["components"]["schemas"]["Partner"]["properties"]) == PARTNER_KEYS
    assert set(doc["components"]["schemas"]["PartnerSaved"]["properties"]) == PARTNER_KEYS | {"pushSecret"}
    with world.client("c") as c:
        for partner in c.get("/v1/partner").json():
            validator("Partner").validate(partner)
        for station in c.get("/v1/station").json():
            validator("Station").validate(station)
        validator("GenericResponse").validate(c.get("/v1/partner/2000000000").json())
    ops = doc["paths"]
    for path, method, statuses in [
        ("/v1/partner", "get", {"200", "401"}),
        ("/v1/partner", "post", {"201", "400", "401", "403", "409", "413"}),
        ("/v1/partner/{partnerId}", "get", {"200", "400", "401", "404"}),
        ("/v1/partner/{partnerId}", "put", {"200", "400", "401", "403", "404", "409"}),
        ("/v1/partner/{partnerId}", "delete", {"200", "400", "401", "404"}),
        ("/v1/station", "get", {"200", "401"}),
    ]:
        op = ops[path][method]
        assert statuses <= set(op["responses"]), (path, method)
        assert op.get("security", doc.get("security")), (path, method)  # the token is required
    assert not ops["/v1/receipt-key"]["get"].get("security", doc.get("security"))


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_are_html(shared_server: ServerProcess, path: str) -> None:
    r = HTTP.get(f"{shared_server.url}{path}", timeout=30)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "openapi.json" in r.text
    assert REQUEST_ID.match(r.headers["request-id"])
