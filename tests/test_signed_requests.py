"""HMAC-signed /v1 requests through a live server (request-signing.md): API keys, RCWS and
Date+digest signed by code written here from the spec's formulas (not relaybox's), replay,
clock skew, key states, problem+json answers, and the key management API and CLI."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from conftest import ServerProcess

HTTP = httpx.Client(timeout=30)
PROBLEM = "application/problem+json"


def rcws_sign(
    private: str, method: str, path: str, query: str = "", body: str = '{"posted_data":"[]"}', stamp: str | None = None
) -> str:
    q = "&".join(sorted(i for i in query.split("&") if i))
    s = f"{method}::{path}" + (f"?{q}" if q else "") + f"::{body}" + (f"::{stamp}" if stamp else "")
    lowered = s.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))
    return hmac.new(private.encode(), lowered.encode(), hashlib.sha256).hexdigest()


def digest_sign(
    private: str,
    method: str,
    target: str,
    date: str,
    body: bytes = b"",
    ctype: str = "application/json",
    algo: str = "sha256",
) -> str:
    d = "\n".join([method, hashlib.md5(body).hexdigest(), ctype, date, "", target])
    return base64.b64encode(hmac.new(private.encode(), d.encode(), getattr(hashlib, algo)).digest()).decode()


def now_iso(offset: float = 0.0) -> str:
    return datetime.fromtimestamp(time.time() + offset, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class KeyUser:
    def __init__(self, srv: ServerProcess, **key: Any) -> None:
        self.srv = srv
        self.email, _ = srv.add_account()
        self.station, _ = srv.add_station(self.email)
        self.token = srv.token(self.email)
        r = HTTP.post(f"{srv.url}/v1/apikeys", headers={"Authorization": self.token}, json={"name": "erp", **key})
        assert r.status_code == 201, r.text
        self.key = r.json()
        self.public, self.private = self.key["publicKey"], self.key["privateKey"]

    def rcws(
        self,
        method: str,
        path: str,
        query: str = "",
        *,
        stamp: str | None = None,
        sig: str | None = None,
        word: str = "RCWS",
        **kw: Any,
    ) -> httpx.Response:
        body = kw.pop("json_body", None)
        raw = json.dumps(body).encode() if body is not None else None
        signed_body = (
            json.dumps(body, sort_keys=True, separators=(",", ":")) if body is not None else '{"posted_data":"[]"}'
        )
        signature = sig or rcws_sign(self.private, method, path, query, signed_body, stamp)
        headers = {"Authorization": f"{word} {self.public}:{signature}", "Content-Type": "application/json"}
        if stamp:
            headers["request-timestamp"] = stamp
        url = self.srv.url + path + (f"?{query}" if query else "")
        return HTTP.request(method, url, headers=headers, content=raw, **kw)

    def digest(
        self, method: str, target: str, *, date: str | None = None, provider: str = "relaybox_api", algo: str = "sha256"
    ) -> httpx.Response:
        date = date or now_iso()
        sig = digest_sign(self.private, method, target, date, algo=algo)
        headers = {"Authorization": f"{provider} {self.public}:{sig}", "Date": date, "Content-Type": "application/json"}
        return HTTP.request(method, self.srv.url + target, headers=headers)


def problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    body: dict[str, Any] = r.json()
    assert body["type"] == f"urn:relaybox:problem:{slug}", body
    assert body["status"] == status and body["message"] == body["detail"]
    assert body["request_id"] == r.headers["request-id"]
    if status == 401:
        assert r.headers["www-authenticate"] == "RCWS, relaybox_api, gotom_app_api"
    return body


@pytest.fixture
def user(shared_server: ServerProcess) -> KeyUser:
    return KeyUser(shared_server)


def test_a_new_key_shows_its_private_half_once(user: KeyUser) -> None:
    assert re.fullmatch(r"rbk_[0-9a-f]{24}", user.public) and re.fullmatch(r"rbs_[A-Za-z0-9_-]{43}", user.private)
    assert user.key["account"] == user.email and user.key["expiryTimestamp"] is None
    listed = HTTP.get(f"{user.srv.url}/v1/apikeys", headers={"Authorization": user.token}).json()
    assert listed["totalRecords"] == 1
    [entry] = listed["records"]
    assert entry["publicKey"] == user.public and entry["state"] == "active" and "privateKey" not in entry


def test_rcws_get_acts_as_the_account(user: KeyUser) -> None:
    r = user.rcws("GET", "/v1/station")
    assert r.status_code == 200, r.text
    assert [s["as2Identifier"] for s in r.json()] == [user.station]
    assert user.rcws("GET", "/v1/station").status_code == 200  # a repeated read is fine without a timestamp
    assert user.rcws("GET", "/v1/station", word="mmws").status_code == 200  # the seed's alias, any case
    r = user.rcws("GET", "/v1/message/received", "pageLength=5&pageOffset=0")  # the query is signed sorted
    assert r.status_code == 200, r.text


def test_rcws_writes_and_timestamped_requests_are_accepted_once(user: KeyUser) -> None:
    doc = {
        "stationAS2Id": user.station,
        "as2Identifier": f"x{time.time_ns() % 10**8}@far00001",
        "uri": "https://x.example/in",
    }
    first = user.rcws("POST", "/v1/partner", json_body=doc)
    assert first.status_code == 201, first.text
    again = user.rcws("POST", "/v1/partner", json_body=doc)
    problem(again, 401, "replay")
    stamp = now_iso()
    assert user.rcws("GET", "/v1/station", stamp=stamp).status_code == 200
    problem(user.rcws("GET", "/v1/station", stamp=stamp), 401, "replay")
    problem(user.rcws("GET", "/v1/station", stamp=now_iso(-400)), 401, "clock-skew")
    problem(user.rcws("GET", "/v1/station", stamp="yesterday"), 401, "malformed-timestamp")


def test_a_wrong_signature_says_what_was_expected(user: KeyUser) -> None:
    body = problem(user.rcws("GET", "/v1/station", sig="0" * 64), 401, "invalid-signature")
    assert body["expected_string"] == 'get::/v1/station::{"posted_data":"[]"}'
    assert user.private not in json.dumps(body)
    problem(user.rcws("GET", "/v1/station", sig="zz"), 401, "malformed-authorization")
    other = rcws_sign("rbs_" + "x" * 43, "GET", "/v1/station")
    problem(user.rcws("GET", "/v1/station", sig=other), 401, "invalid-signature")
    r = HTTP.get(
        f"{user.srv.url}/v1/station", headers={"Authorization": "RCWS rbk_000000000000000000000000:" + "0" * 64}
    )
    problem(r, 401, "unknown-key")


def test_date_digest_with_both_providers(user: KeyUser) -> None:
    r = user.digest("GET", "/v1/station")
    assert r.status_code == 200, r.text
    r = user.digest("GET", "/v1/station", provider="gotom_app_api", algo="sha1", date=now_iso(1))
    assert r.status_code == 200, r.text
    date = now_iso(2)
    assert user.digest("GET", "/v1/station", date=date).status_code == 200
    problem(user.digest("GET", "/v1/station", date=date), 401, "replay")
    problem(user.digest("GET", "/v1/station", date=now_iso(-301)), 401, "clock-skew")
    r = HTTP.get(
        f"{user.srv.url}/v1/station", headers={"Authorization": f"relaybox_api {user.public}:" + "A" * 43 + "="}
    )
    problem(r, 401, "missing-timestamp")
    http_date = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert user.digest("GET", "/v1/station?x=1", date=http_date).status_code == 200


def test_revoked_and_expired_keys_are_refused(user: KeyUser, shared_server: ServerProcess) -> None:
    r = HTTP.delete(f"{shared_server.url}/v1/apikeys/{user.public}", headers={"Authorization": user.token})
    assert r.json() == {"message": f"Revoked API key {user.public}"}
    problem(user.rcws("GET", "/v1/station"), 401, "key-revoked")

    async def expired(store: Any) -> Any:
        from relaybox.exchange.identity import create_api_key

        account = await store.accounts.get(user.email)
        return await create_api_key(store, account.id, "old", 1, False, time.time() - 2 * 86400)

    key = shared_server._store_call(expired)
    user.public, user.private = key.public_key, key.private_key
    problem(user.rcws("GET", "/v1/station"), 401, "key-expired")


def test_other_errors_of_signed_requests_are_problems_too(user: KeyUser) -> None:
    r = user.rcws("GET", "/v1/partner/999999")
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert (body["type"], body["title"], body["status"]) == ("about:blank", "Not Found", 404)
    # A token client keeps the seed's {"message"} body, unless it asks for problems.
    r = HTTP.get(f"{user.srv.url}/v1/partner/999999", headers={"Authorization": user.token})
    assert r.headers["content-type"].startswith("application/json") and set(r.json()) == {"message"}
    r = HTTP.get(f"{user.srv.url}/v1/partner/999999", headers={"Authorization": user.token, "Accept": PROBLEM})
    assert r.headers["content-type"].startswith(PROBLEM) and r.json()["status"] == 404


def test_a_key_that_requires_a_timestamp(shared_server: ServerProcess) -> None:
    user = KeyUser(shared_server, requireTimestamp=True)
    problem(user.rcws("GET", "/v1/station"), 401, "missing-timestamp")
    assert user.rcws("GET", "/v1/station", stamp=now_iso()).status_code == 200


def test_keys_are_rate_limited_per_key(server_factory: Any) -> None:
    srv = server_factory(V1_RATE_LIMIT="3", V1_RATE_WINDOW="60")
    user = KeyUser(srv)
    codes = [user.rcws("GET", "/v1/station", stamp=now_iso(i / 1000)).status_code for i in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]


def test_signed_sends_cover_the_body(user: KeyUser) -> None:
    """A /v1 send signed both ways: the body is read once for the signature and again by the
    send (Date+digest: its MD5; RCWS: posted_data_md5)."""
    srv = user.srv
    r = HTTP.post(
        f"{srv.url}/v1/partner",
        headers={"Authorization": user.token},
        json={"stationAS2Id": user.station, "as2Identifier": user.station},
    )
    assert r.status_code == 201, r.text
    path = f"/v1/message/{user.station}/{user.station}"
    target = path.replace("@", "%40")
    data = b"<invoice id='9'/>"
    date = now_iso()
    sig = digest_sign(user.private, "POST", target, date, data, "application/xml")
    headers = {
        "Authorization": f"relaybox_api {user.public}:{sig}",
        "Date": date,
        "Content-Type": "application/xml",
        "Name": "a.xml",
    }
    r = HTTP.post(srv.url + target, headers=headers, content=data)
    assert r.status_code == 202, r.text
    tampered = HTTP.post(srv.url + target, headers={**headers, "Date": now_iso(1)}, content=data + b" ")
    problem(tampered, 401, "invalid-signature")
    md5 = hashlib.md5(data).hexdigest()
    stamp = now_iso()
    s = f'POST::{target}::{{"posted_data_md5":"{md5}"}}::{stamp}'.lower()
    rsig = hmac.new(user.private.encode(), s.encode(), hashlib.sha256).hexdigest()
    r = HTTP.post(
        srv.url + target,
        headers={
            "Authorization": f"RCWS {user.public}:{rsig}",
            "request-timestamp": stamp,
            "Content-Type": "application/xml",
            "Name": "b.xml",
        },
        content=data,
    )
    assert r.status_code == 202, r.text
    received = HTTP.get(f"{srv.url}/v1/message/received", headers={"Authorization": user.token}).json()
    names = sorted(m["attachments"][0]["name"] for m in received["records"])
    assert names == ["a.xml", "b.xml"]


def test_missing_and_unknown_schemes(shared_server: ServerProcess) -> None:
    url = f"{shared_server.url}/v1/station"
    r = HTTP.get(url)
    assert r.status_code == 401 and r.json() == {"message": "Missing or invalid token"}  # the seed's form
    problem(HTTP.get(url, headers={"Accept": PROBLEM}), 401, "auth-required")
    r = HTTP.get(url, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status_code == 401 and r.json() == {"message": "Unsupported authentication scheme"}
    problem(
        HTTP.get(url, headers={"Authorization": "Basic dXNlcjpwYXNz", "Accept": PROBLEM}), 401, "unsupported-scheme"
    )


def test_bad_provider_settings_are_a_clear_refusal(tmp_path: Any) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "relaybox", "serve", "--data-dir", str(tmp_path)],
        env={**__import__("os").environ, "RELAYBOX_HMAC_PROVIDERS": "RCWS=sha256"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "invalid settings: hmac_providers" in proc.stderr and "Traceback" not in proc.stderr
