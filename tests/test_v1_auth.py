"""The management API's authentication, rate limit and general rules, through a live server
(``management-api.md``: "Authentication", "Rate limit", "General rules")."""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import math
import re
import secrets
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from conftest import BACKENDS, PgDatabase, ServerProcess, Signer

PASSWORD = "correct horse 1"
REQUEST_ID = re.compile(r"^\d{14}-[0-9a-f]{16}$")
INVALID_LOGIN = {"message": "Invalid username or password"}
RATE_LIMITED = {"message": "Rate limit exceeded"}
DAY_MS = 24 * 3600 * 1000
# One client for the module: making an httpx.Client costs ~40 ms of CPU (its TLS context).
HTTP = httpx.Client(timeout=30)


# -- helpers ---------------------------------------------------------------------------------
def assert_json(r: httpx.Response, status: int) -> Any:
    """Status, a JSON body, and the ``request-id`` every response carries."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].split(";")[0].strip() == "application/json", r.headers
    assert REQUEST_ID.match(r.headers["request-id"]), r.headers
    return r.json()


def assert_message(r: httpx.Response, status: int, message: str | None = None) -> str:
    """A Generic Response ``{"message": TEXT}`` with this status (and text, if given)."""
    body = assert_json(r, status)
    assert isinstance(body, dict) and set(body) == {"message"}, body
    assert isinstance(body["message"], str) and body["message"], body
    if message is not None:
        assert body["message"] == message
    return str(body["message"])


def authorize(url: str, username: str, password: str = PASSWORD) -> httpx.Response:
    return HTTP.post(f"{url}/v1/authorize", json={"username": username, "password": password}, timeout=30)


def get(url: str, path: str, token: str | None, **kw: Any) -> httpx.Response:
    headers = {"Authorization": token} if token is not None else {}
    return HTTP.get(f"{url}{path}", headers=headers, timeout=30, **kw)


@dataclass
class Accounts:
    """Accounts made in one store session (argon2 and opening the store cost ~1 s each time)."""

    emails: list[str]
    stations: dict[str, list[str]]


@functools.cache
def password_hash() -> str:
    """The argon2 hash of ``PASSWORD``, made once with the default cost (the server verifies it at
    that cost): every account made here has this password, and each hash costs ~0.2 s of CPU."""
    from relaybox.auth.passwords import hash_password

    return hash_password(PASSWORD)


def provision(server: ServerProcess, n: int, stations_each: int = 0) -> Accounts:
    emails = [f"a{secrets.token_hex(5)}@example.com" for _ in range(n)]
    stations = {
        e: [f"st{secrets.token_hex(4)}@auth{secrets.token_hex(3)}" for _ in range(stations_each)] for e in emails
    }
    hashed = password_hash()

    async def work(store: Any) -> None:
        now = time.time()
        for email in emails:
            await store.accounts.add(email, hashed, now)
            for route in stations[email]:
                assert await store.add_route(route, secrets.token_hex(24), now)
                await store.accounts.link(email, route, None, None, now)

    server._store_call(work)
    return Accounts(emails, stations)


def server_secret(server: ServerProcess) -> bytes:
    """The token signing secret the server keeps in its database."""
    from relaybox.exchange.identity import TOKEN_KEY

    async def read(store: Any) -> bytes:
        return bytes(await store.accounts.server_key(TOKEN_KEY, lambda: pytest.fail("no token secret yet"), 0.0))

    return server._store_call(read)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def flip(text: str, index: int) -> str:
    """``text`` with the character at ``index`` replaced by another base64url character (a middle
    character: all of its six bits are significant, unlike the last one's)."""
    c = text[index]
    return text[:index] + ("A" if c != "A" else "B") + text[index + 1 :]


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def accts(shared_server: ServerProcess) -> Accounts:
    """0: main, 1: other, 2: for passwd, 3: for remove, 4: spare; each with one station."""
    return provision(shared_server, 5, stations_each=1)


Kit = tuple[str, bytes, dict[str, Any]]  # a real token of the main account, the server secret, its claims


@pytest.fixture(scope="module")
def forge_kit(shared_server: ServerProcess, accts: Accounts) -> Kit:
    token = str(assert_json(authorize(shared_server.url, accts.emails[0]), 200)["token"])
    return token, server_secret(shared_server), jwt.decode(token, options={"verify_signature": False})


@pytest.fixture
def main_token(forge_kit: Kit) -> str:
    """A token of the main account with a fresh ``jti``, so that this module's many requests never
    meet the rate limit (50 per 10 s per token): the claims ``POST /v1/authorize`` gave, signed
    with the server's secret (the control test below shows such a token is accepted)."""
    _, secret, claims = forge_kit
    return jwt.encode({**claims, "jti": secrets.token_urlsafe(16)}, secret, algorithm="HS256")


TOKEN_TTL = 900  # the limited server's token lifetime (not the default 24 h); longer than any test here


@pytest.fixture(scope="module", params=BACKENDS)
def limited(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per backend for this module with a small rate limit, 5 requests per 2 s, and a
    token lifetime of ``TOKEN_TTL`` seconds."""
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(PgDatabase()).url if request.param == "postgresql" else None
        data: Path = tmp_path_factory.mktemp("limited") / "data"
        env = {"RELAYBOX_V1_RATE_LIMIT": "5", "RELAYBOX_V1_RATE_WINDOW": "2", "RELAYBOX_TOKEN_TTL": str(TOKEN_TTL)}
        srv = ServerProcess(data, env, url)
        srv.start()
        stack.callback(srv.stop)
        yield srv


@pytest.fixture(scope="module")
def limited_accts(limited: ServerProcess) -> Accounts:
    """0-4 for the rate limit tests, 5 for the token lifetime."""
    return provision(limited, 6)


# -- POST /v1/authorize ------------------------------------------------------------------------
def test_authorize_returns_a_token_and_expiry_in_milliseconds(shared_server: ServerProcess, accts: Accounts) -> None:
    before = time.time()
    body = assert_json(authorize(shared_server.url, accts.emails[0]), 200)
    after = time.time()
    assert set(body) == {"token", "expiry"}
    assert isinstance(body["token"], str) and isinstance(body["expiry"], int)
    assert (before * 1000 + DAY_MS - 2000) <= body["expiry"] <= (after * 1000 + DAY_MS + 2000)
    # JWT HS256 with the claims the spec names; lifetime 24 h.
    assert jwt.get_unverified_header(body["token"])["alg"] == "HS256"
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert {"sub", "aid", "pwv", "iat", "exp", "jti"} <= set(claims)
    assert claims["sub"] == accts.emails[0]
    assert 24 * 3600 <= claims["exp"] - claims["iat"] <= 24 * 3600 + 1  # exp rounds up: at least 24 h
    assert body["expiry"] == claims["exp"] * 1000
    assert get(shared_server.url, "/v1/station", body["token"]).status_code == 200


def test_authorize_reads_a_json_body_whatever_the_content_type(shared_server: ServerProcess, accts: Accounts) -> None:
    content = json.dumps({"username": accts.emails[4], "password": PASSWORD}).encode()
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded"):
        headers = {"Content-Type": content_type} if content_type else {}
        r = HTTP.post(f"{shared_server.url}/v1/authorize", content=content, headers=headers, timeout=30)
        assert set(assert_json(r, 200)) == {"token", "expiry"}, content_type


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"{",
        b"null",
        b'"a string"',
        b"42",
        b'["someone@example.com", "correct horse 1"]',
        b"{}",
        b'{"username": "someone@example.com"}',
        b'{"password": "correct horse 1"}',
        b'{"username": 1, "password": "correct horse 1"}',
        b'{"username": "someone@example.com", "password": null}',
        b'{"username": ["someone@example.com"], "password": "correct horse 1"}',
        b'{"username": "someone@example.com", "password": 12345678}',
    ],
    ids=lambda b: b.decode()[:30] or "empty",
)
def test_authorize_refuses_bodies_that_are_not_an_object_of_two_strings(
    shared_server: ServerProcess, body: bytes
) -> None:
    r = HTTP.post(f"{shared_server.url}/v1/authorize", content=body, timeout=30)
    assert_message(r, 400)


def test_wrong_password_and_unknown_email_get_the_same_401(shared_server: ServerProcess, accts: Accounts) -> None:
    wrong = authorize(shared_server.url, accts.emails[4], "not the password")
    unknown = authorize(shared_server.url, f"nobody{secrets.token_hex(4)}@example.com")
    invalid = authorize(shared_server.url, "not an email", PASSWORD)
    for r in (wrong, unknown, invalid):
        assert assert_json(r, 401) == INVALID_LOGIN
    assert wrong.content == unknown.content == invalid.content


def test_an_unknown_email_costs_a_password_check_too(shared_server: ServerProcess, accts: Accounts) -> None:
    """Same timing (a dummy hash is verified): an unknown email must not answer much faster."""
    unknown = f"nobody{secrets.token_hex(4)}@example.com"

    def took(email: str, password: str) -> float:
        started = time.perf_counter()
        assert authorize(shared_server.url, email, password).status_code == 401
        return time.perf_counter() - started

    wrong = min(took(accts.emails[4], "not the password") for _ in range(2))
    missing = min(took(unknown, "not the password") for _ in range(2))
    assert missing >= 0.3 * wrong, (missing, wrong)


def test_email_is_case_insensitive(shared_server: ServerProcess, accts: Accounts) -> None:
    email = accts.emails[4]
    body = assert_json(authorize(shared_server.url, email.upper()), 200)
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["sub"] == email  # stored lowercase
    # The password is not case-insensitive.
    assert assert_json(authorize(shared_server.url, email, PASSWORD.upper()), 401) == INVALID_LOGIN


# -- the token on requests ----------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["{}", "Bearer {}", "bearer {}", "Bearer   {}"])
def test_token_works_with_and_without_bearer(
    shared_server: ServerProcess, accts: Accounts, main_token: str, scheme: str
) -> None:
    r = get(shared_server.url, "/v1/station", scheme.format(main_token))
    body = assert_json(r, 200)
    assert [s["as2Identifier"] for s in body] == accts.stations[accts.emails[0]]


def _bad_tokens() -> dict[str, Callable[[str, bytes, dict[str, Any]], str | None]]:
    """Ways to get a token wrong: f(valid token, server secret, its claims) -> Authorization."""

    def part(token: str, i: int) -> str:
        return token.split(".")[i]

    def with_claims(token: str, **changes: Any) -> str:
        claims = {**json.loads(unb64url(part(token, 1))), **changes}
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        return f"{part(token, 0)}.{payload}.{part(token, 2)}"

    def forged(secret: bytes, claims: dict[str, Any], algorithm: str = "HS256", **changes: Any) -> str:
        doc = {k: v for k, v in {**claims, **changes}.items() if v is not None}
        with warnings.catch_warnings():  # PyJWT finds a 32-byte key short for HS384/HS512: that is the point
            warnings.simplefilter("ignore")
            return jwt.encode(doc, secret, algorithm=algorithm)

    def unsigned(claims: dict[str, Any]) -> str:
        header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        return f"{header}.{b64url(json.dumps(claims).encode())}."

    return {
        "missing": lambda t, s, c: None,
        "empty": lambda t, s, c: "",
        "bearer-only": lambda t, s, c: "Bearer",
        "garbage": lambda t, s, c: "garbage",
        "three-dots-garbage": lambda t, s, c: "a.b.c",
        "other-scheme": lambda t, s, c: f"Basic {t}",
        "truncated": lambda t, s, c: t[:-5],
        "payload-char-flipped": lambda t, s, c: ".".join(
            [part(t, 0), flip(part(t, 1), len(part(t, 1)) // 2), part(t, 2)]
        ),
        "signature-char-flipped": lambda t, s, c: ".".join([part(t, 0), part(t, 1), flip(part(t, 2), 10)]),
        "payload-re-encoded-longer-exp": lambda t, s, c: with_claims(t, exp=c["exp"] + 3600),
        "signature-dropped": lambda t, s, c: ".".join([part(t, 0), part(t, 1), ""]),
        "alg-none": lambda t, s, c: unsigned(c),
        "alg-none-unsigned-as-is": lambda t, s, c: unsigned(c)[:-1],
        "hs512-with-the-server-secret": lambda t, s, c: forged(s, c, "HS512"),
        "hs384-with-the-server-secret": lambda t, s, c: forged(s, c, "HS384"),
        "hs256-other-secret": lambda t, s, c: forged(secrets.token_bytes(32), c),
        "expired-a-second-ago": lambda t, s, c: forged(s, c, exp=int(time.time()) - 1),
        "exp-equals-now-no-leeway": lambda t, s, c: forged(s, c, exp=int(time.time())),
        "older-password-version": lambda t, s, c: forged(s, c, pwv=c["pwv"] - 1),
        "newer-password-version": lambda t, s, c: forged(s, c, pwv=c["pwv"] + 1),
        "unknown-account-id": lambda t, s, c: forged(s, c, aid=c["aid"] + 10_000_000),
        "account-id-of-another-email": lambda t, s, c: forged(s, c, sub="someone-else@example.com"),
        "aid-as-string": lambda t, s, c: forged(s, c, aid=str(c["aid"])),
        "aid-as-bool": lambda t, s, c: forged(s, c, aid=True),
        "exp-as-string": lambda t, s, c: forged(s, c, exp=str(c["exp"])),
        "no-jti": lambda t, s, c: forged(s, c, jti=None),
        "no-exp": lambda t, s, c: forged(s, c, exp=None),
        "no-pwv": lambda t, s, c: forged(s, c, pwv=None),
    }


BAD_TOKENS = _bad_tokens()


def test_a_token_forged_with_the_server_secret_is_accepted(shared_server: ServerProcess, forge_kit: Kit) -> None:
    """Control for the cases below: they fail for the reason they name, not for a wrong secret."""
    _, secret, claims = forge_kit
    token = jwt.encode({**claims, "jti": secrets.token_urlsafe(16)}, secret, algorithm="HS256")
    assert_json(get(shared_server.url, "/v1/station", token), 200)
    assert_json(get(shared_server.url, "/v1/station", f"Bearer {token}"), 200)


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_an_invalid_token_is_401(shared_server: ServerProcess, forge_kit: Kit, case: str) -> None:
    value = BAD_TOKENS[case](*forge_kit)
    assert_message(get(shared_server.url, "/v1/station", value), 401)


def test_every_v1_endpoint_but_authorize_and_receipt_key_needs_a_token(shared_server: ServerProcess) -> None:
    url = shared_server.url
    answers = [
        HTTP.get(f"{url}/v1/station"),
        HTTP.get(f"{url}/v1/partner"),
        HTTP.post(f"{url}/v1/partner", json={}),
        HTTP.get(f"{url}/v1/partner/1"),
        HTTP.put(f"{url}/v1/partner/1", json={}),
        HTTP.delete(f"{url}/v1/partner/1"),
        HTTP.get(f"{url}/v1/message/received"),
        HTTP.post(f"{url}/v1/message/a@b/c@d", content=b"x", headers={"Name": "x"}),
    ]
    for r in answers:
        assert_message(r, 401)


def test_the_token_lifetime_is_the_configured_token_ttl(limited: ServerProcess, limited_accts: Accounts) -> None:
    before = time.time()
    body = assert_json(authorize(limited.url, limited_accts.emails[5]), 200)
    after = time.time()
    # The expiry the server announces is the configured lifetime away (and in ms), as is ``exp``.
    assert (before + TOKEN_TTL) * 1000 - 1000 <= body["expiry"] <= (after + TOKEN_TTL) * 1000 + 1000
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert body["expiry"] == claims["exp"] * 1000
    assert TOKEN_TTL <= claims["exp"] - claims["iat"] <= TOKEN_TTL + 1
    assert_json(get(limited.url, "/v1/station", body["token"]), 200)


def test_an_expired_token_is_refused(shared_server: ServerProcess, forge_kit: Kit) -> None:
    """A token the server issued, as it is once its lifetime is over: the claims of ``POST
    /v1/authorize`` signed with the server's secret, issued and expired in the past."""
    _, secret, claims = forge_kit
    now = int(time.time())
    live = jwt.encode({**claims, "jti": secrets.token_urlsafe(16)}, secret, algorithm="HS256")
    expired = jwt.encode(
        {**claims, "iat": now - 60, "exp": now - 30, "jti": secrets.token_urlsafe(16)}, secret, algorithm="HS256"
    )
    assert_json(get(shared_server.url, "/v1/station", live), 200)  # control: only the times differ
    assert_message(get(shared_server.url, "/v1/station", expired), 401)
    assert_message(get(shared_server.url, "/v1/station", f"Bearer {expired}"), 401)


@pytest.mark.parametrize("shared_server", ["sqlite"], indirect=True)
def test_an_accepted_token_is_refused_once_its_time_is_over(shared_server: ServerProcess, forge_kit: Kit) -> None:
    """The same token before and after its ``exp``: the server decides on the clock at each
    request, it does not remember a token it once accepted. One backend: the store plays no part."""
    _, secret, claims = forge_kit
    exp = math.ceil(time.time() + 0.3)  # under 1.3 s from now
    token = jwt.encode({**claims, "exp": exp, "jti": secrets.token_urlsafe(16)}, secret, algorithm="HS256")
    assert_json(get(shared_server.url, "/v1/station", token), 200)
    time.sleep(max(0.0, exp - time.time()) + 0.1)
    assert_message(get(shared_server.url, "/v1/station", token), 401)
    assert_message(get(shared_server.url, "/v1/station", f"Bearer {token}"), 401)


def test_a_password_change_revokes_older_tokens(shared_server: ServerProcess, accts: Accounts) -> None:
    email = accts.emails[2]
    old = str(assert_json(authorize(shared_server.url, email), 200)["token"])
    assert_json(get(shared_server.url, "/v1/station", old), 200)

    async def passwd(store: Any) -> None:
        from relaybox.exchange.identity import set_password

        assert await set_password(store, email, "a brand new password") is None

    shared_server._store_call(passwd)
    assert_message(get(shared_server.url, "/v1/station", old), 401)
    assert assert_json(authorize(shared_server.url, email), 401) == INVALID_LOGIN
    new = str(assert_json(authorize(shared_server.url, email, "a brand new password"), 200)["token"])
    assert_json(get(shared_server.url, "/v1/station", new), 200)
    assert_message(get(shared_server.url, "/v1/station", old), 401)


def test_removing_an_account_fails_its_tokens_at_once(shared_server: ServerProcess, accts: Accounts) -> None:
    email = accts.emails[3]
    token = str(assert_json(authorize(shared_server.url, email), 200)["token"])
    assert_json(get(shared_server.url, "/v1/station", token), 200)

    async def remove(store: Any) -> None:
        assert await store.accounts.remove(email)

    shared_server._store_call(remove)
    assert_message(get(shared_server.url, "/v1/station", token), 401)
    assert assert_json(authorize(shared_server.url, email), 401) == INVALID_LOGIN


def test_a_removed_accounts_token_stays_dead_when_the_email_is_added_again(shared_server: ServerProcess) -> None:
    """An email given to a new account (maybe another person) must not revive the old tokens.
    The account is made here, so that it is the newest one when it is removed and added again."""
    [email] = provision(shared_server, 1).emails
    token = str(assert_json(authorize(shared_server.url, email), 200)["token"])

    async def remove_and_add_again(store: Any) -> None:
        from relaybox.exchange.identity import add_account

        assert await store.accounts.remove(email)
        await add_account(store, email, "someone else's password", time.time())

    shared_server._store_call(remove_and_add_again)
    assert_message(get(shared_server.url, "/v1/station", token), 401)


# -- 403: stations that are not the caller's -----------------------------------------------------
def test_a_foreign_or_unknown_station_is_403_and_they_look_alike(
    shared_server: ServerProcess, accts: Accounts, main_token: str
) -> None:
    [own] = accts.stations[accts.emails[0]]
    [foreign] = accts.stations[accts.emails[1]]
    partner, _ = shared_server.new_route("p")
    unknown = f"nobody{secrets.token_hex(4)}@nowhere{secrets.token_hex(2)}"
    headers = {"Authorization": main_token, "Name": "a.txt", "Content-Type": "text/plain"}

    def send(station: str) -> httpx.Response:
        return HTTP.post(f"{shared_server.url}/v1/message/{station}/{partner}", content=b"hi", headers=headers)

    # A path route of invalid syntax is a path fault: 400, before the 403.
    assert_message(send("not-a-route"), 400)
    answers = [send(foreign), send(unknown), send(foreign.replace("@", "%40"))]
    for r in answers:
        assert_message(r, 403)
    assert answers[0].content == answers[1].content == answers[2].content
    # The same in a stationAS2Id filter.
    for station in (foreign, unknown):
        r = get(shared_server.url, "/v1/message/received", main_token, params={"stationAS2Id": station})
        assert r.status_code == 403 and r.content == answers[0].content
    # Control: the caller's own station is not refused as a station (no partner yet: 404).
    assert_message(send(own), 404)


# -- rate limit ------------------------------------------------------------------------------------
def _retry_after(r: httpx.Response) -> int:
    assert r.status_code == 429
    assert assert_json(r, 429) == RATE_LIMITED
    value = r.headers["Retry-After"]
    assert re.fullmatch(r"[0-9]+", value), value
    assert 1 <= int(value) <= 2  # whole seconds, rounded up, within the 2 s window
    return int(value)


def test_the_request_over_the_limit_is_429_and_refused_ones_do_not_count(
    limited: ServerProcess, limited_accts: Accounts
) -> None:
    token = str(assert_json(authorize(limited.url, limited_accts.emails[0]), 200)["token"])
    with httpx.Client(base_url=limited.url, headers={"Authorization": token}, timeout=30) as c:
        for _ in range(5):
            assert c.get("/v1/station").status_code == 200
        last_accepted = time.monotonic()
        _retry_after(c.get("/v1/station"))
        # Refused requests later on: counted, they would still be in the window checked below.
        time.sleep(max(0.0, last_accepted + 0.6 - time.monotonic()))
        for _ in range(3):
            _retry_after(c.get("/v1/partner"))
        time.sleep(max(0.0, last_accepted + 2.0 + 0.15 - time.monotonic()))
        for _ in range(5):
            assert c.get("/v1/station").status_code == 200
        _retry_after(c.get("/v1/station"))


def test_two_tokens_of_one_account_have_separate_budgets(limited: ServerProcess, limited_accts: Accounts) -> None:
    email = limited_accts.emails[1]
    one = str(assert_json(authorize(limited.url, email), 200)["token"])
    two = str(assert_json(authorize(limited.url, email), 200)["token"])
    assert one != two
    for _ in range(5):
        assert get(limited.url, "/v1/station", one).status_code == 200
    _retry_after(get(limited.url, "/v1/station", one))
    for _ in range(5):
        assert get(limited.url, "/v1/station", two).status_code == 200
    _retry_after(get(limited.url, "/v1/station", two))


def test_route_api_receipt_key_and_docs_are_not_counted(limited: ServerProcess, limited_accts: Accounts) -> None:
    token = str(assert_json(authorize(limited.url, limited_accts.emails[2]), 200)["token"])
    signer = Signer(*limited.new_route("r"))
    with httpx.Client(base_url=limited.url, timeout=30) as c:
        for _ in range(6):
            assert c.get("/v1/receipt-key", headers={"Authorization": token}).status_code == 200
            assert c.get("/v1/receipt-key").status_code == 200
            assert c.get("/1/ping").status_code == 200
            assert c.get("/1/list-messages", headers=signer.receive()).status_code == 200
        assert c.get("/openapi.json").status_code == 200
        # The token's budget is untouched.
        for _ in range(5):
            assert c.get("/v1/station", headers={"Authorization": token}).status_code == 200
        _retry_after(c.get("/v1/station", headers={"Authorization": token}))


def test_authorize_is_counted_per_username(limited: ServerProcess, limited_accts: Accounts) -> None:
    email = limited_accts.emails[3]
    # Concurrently: each wrong password costs an argon2 verification, five in a row could outlast
    # the 2 s window. They are counted when they arrive, before the hash is checked.
    with ThreadPoolExecutor(8) as pool:
        wrong = [pool.submit(authorize, limited.url, email, "wrong password") for _ in range(5)]
        time.sleep(0.5)
        # Even the right password waits now; the same username in capitals is the same username.
        right = pool.submit(authorize, limited.url, email)
        upper = pool.submit(authorize, limited.url, email.upper())
        for f in wrong:
            assert assert_json(f.result(), 401) == INVALID_LOGIN
        _retry_after(right.result())
        _retry_after(upper.result())
    # Another username has its own budget.
    assert_json(authorize(limited.url, limited_accts.emails[4]), 200)


def test_401_wins_over_a_bad_query_and_429_wins_over_a_bad_query(
    limited: ServerProcess, limited_accts: Accounts
) -> None:
    bad_query = {"pageLength": "0", "sortDir": "sideways"}
    assert_message(get(limited.url, "/v1/message/received", "garbage", params=bad_query), 401)
    assert_message(get(limited.url, "/v1/message/received", None, params={"subject": "x" * 1025}), 401)
    token = str(assert_json(authorize(limited.url, limited_accts.emails[0]), 200)["token"])
    # Every request with a valid token counts, whatever its outcome (here: 400 and 404).
    for _ in range(4):
        assert_message(get(limited.url, "/v1/message/received", token, params=bad_query), 400)
    assert_message(get(limited.url, "/v1/partner/999999999", token), 404)
    _retry_after(get(limited.url, "/v1/message/received", token, params=bad_query))
    # Still 401 before 429 for a bad token.
    assert_message(get(limited.url, "/v1/message/received", token + "x", params=bad_query), 401)


def test_a_token_survives_a_server_restart(limited: ServerProcess, limited_accts: Accounts) -> None:
    token = str(assert_json(authorize(limited.url, limited_accts.emails[2]), 200)["token"])
    key = assert_json(get(limited.url, "/v1/receipt-key", None), 200)
    assert_json(get(limited.url, "/v1/station", token), 200)
    limited.kill()  # no graceful shutdown either: the secret must already be in the database
    limited.start()
    assert_json(get(limited.url, "/v1/station", token), 200)
    assert assert_json(get(limited.url, "/v1/receipt-key", None), 200) == key


# -- general rules -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/v1", "/v1/", "/v1/nothing", "/v1/partner/1/extra", "/v1/station/1", "/v1/message/received/a/b/c/d"]
)
def test_an_unknown_v1_path_is_a_json_404(shared_server: ServerProcess, main_token: str, path: str) -> None:
    assert_message(get(shared_server.url, path, main_token), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/authorize"),
        ("DELETE", "/v1/authorize"),
        ("POST", "/v1/receipt-key"),
        ("PUT", "/v1/station"),
        ("DELETE", "/v1/station"),
        ("PATCH", "/v1/partner"),
        ("POST", "/v1/partner/1"),
    ],
)
def test_a_wrong_method_is_a_json_405(shared_server: ServerProcess, main_token: str, method: str, path: str) -> None:
    r = HTTP.request(method, f"{shared_server.url}{path}", headers={"Authorization": main_token}, timeout=30)
    assert_message(r, 405)


@pytest.mark.parametrize("body", [b"{", b"not json", b"", b"\xff\xfe"], ids=["truncated", "text", "empty", "binary"])
def test_a_body_that_is_not_json_is_400_never_422(
    shared_server: ServerProcess, accts: Accounts, main_token: str, body: bytes
) -> None:
    headers = {"Authorization": main_token, "Content-Type": "application/json"}
    r = HTTP.post(f"{shared_server.url}/v1/partner", content=body, headers=headers, timeout=30)
    assert_message(r, 400)


def test_validation_failures_are_400_never_422(shared_server: ServerProcess, accts: Accounts, main_token: str) -> None:
    [own] = accts.stations[accts.emails[0]]
    with httpx.Client(base_url=shared_server.url, headers={"Authorization": main_token}, timeout=30) as c:
        answers = [
            c.post("/v1/partner", json=[]),
            c.post("/v1/partner", json={"stationAS2Id": own}),
            c.post("/v1/partner", json={"stationAS2Id": own, "as2Identifier": 5}),
            c.get("/v1/message/received", params={"pageLength": "x"}),
            c.get("/v1/partner/abc"),
            c.put("/v1/partner/abc", json={}),
            c.delete("/v1/partner/-1"),
        ]
    for r in answers:
        assert_message(r, 400)


def test_a_json_body_over_1_mib_is_413(shared_server: ServerProcess, accts: Accounts, main_token: str) -> None:
    [own] = accts.stations[accts.emails[0]]
    partner, _ = shared_server.new_route("p")
    doc = {"stationAS2Id": own, "as2Identifier": partner, "padding": "x" * (1024 * 1024)}
    big = json.dumps(doc).encode()
    headers = {"Authorization": main_token, "Content-Type": "application/json"}
    url = f"{shared_server.url}/v1/partner"
    assert_message(HTTP.post(url, content=big, headers=headers, timeout=30), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts what it reads
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    assert_message(HTTP.post(url, content=chunks(), headers=headers, timeout=30), 413)
    # Just under the limit is read (and this body is a valid Partner: the padding is ignored).
    doc["padding"] = "x" * (1024 * 1024 - len(json.dumps({**doc, "padding": ""})))
    exact = json.dumps(doc).encode()
    assert len(exact) == 1024 * 1024
    assert assert_json(HTTP.post(url, content=exact, headers=headers, timeout=30), 201)["as2Identifier"] == partner


def test_an_authorize_body_over_1_mib_is_413(shared_server: ServerProcess) -> None:
    body = json.dumps({"username": "x@example.com", "password": "p" * (1024 * 1024)}).encode()
    assert_message(HTTP.post(f"{shared_server.url}/v1/authorize", content=body, timeout=30), 413)


def test_every_answer_carries_a_request_id(shared_server: ServerProcess, main_token: str) -> None:
    url = shared_server.url
    answers = [
        HTTP.get(f"{url}/v1/station", headers={"Authorization": main_token}),
        HTTP.get(f"{url}/v1/station"),
        HTTP.get(f"{url}/v1/receipt-key"),
        HTTP.post(f"{url}/v1/authorize", content=b"x"),
        HTTP.get(f"{url}/v1/nothing"),
        HTTP.delete(f"{url}/v1/station"),
        HTTP.get(f"{url}/openapi.json"),
        HTTP.get(f"{url}/docs"),
    ]
    for r in answers:
        assert REQUEST_ID.match(r.headers.get("request-id", "")), (r.request.url, r.headers)
    assert len({r.headers["request-id"] for r in answers}) == len(answers)
