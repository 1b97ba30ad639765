"""``relaybox apikey create|list|revoke`` on a live server's store; the key then signs a request
to that server (request-signing.md, "API keys")."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import httpx

from conftest import ServerProcess
from test_cli_provision import relaybox


def rcws(url: str, public: str, private: str, path: str) -> httpx.Response:
    s = f'get::{path}::{{"posted_data":"[]"}}'
    sig = hmac.new(private.encode(), s.encode(), hashlib.sha256).hexdigest()
    return httpx.get(url + path, headers={"Authorization": f"RCWS {public}:{sig}"})


def test_create_list_revoke(shared_server: ServerProcess) -> None:
    args = shared_server.store_args()
    email, _ = shared_server.add_account()
    station, _ = shared_server.add_station(email)
    made = relaybox(args, ["apikey", "create", email, "--name", "ERP", "--expires", "30", "--json"]).ok_json()
    assert re.fullmatch(r"rbk_[0-9a-f]{24}", made["publicKey"]) and made["privateKey"].startswith("rbs_")
    assert made["account"] == email and made["name"] == "ERP"
    assert made["expiryTimestamp"] - made["createdTimestamp"] == 30 * 86400 * 1000
    text = relaybox(args, ["apikey", "create", email])
    text.ok()
    assert "private key: rbs_" in text.out and "shown only now" in text.err
    r = rcws(shared_server.url, made["publicKey"], made["privateKey"], "/v1/station")
    assert r.status_code == 200 and [s["as2Identifier"] for s in r.json()] == [station]
    listed = relaybox(args, ["apikey", "list", email, "--json"]).ok_json()
    assert [k["publicKey"] for k in listed][0] == made["publicKey"]
    assert all("privateKey" not in k for k in listed) and made["privateKey"] not in json.dumps(listed)
    assert made["publicKey"] in relaybox(args, ["apikey", "list"]).out
    relaybox(args, ["apikey", "revoke", made["publicKey"]]).ok()
    assert "no active API key" in relaybox(args, ["apikey", "revoke", made["publicKey"]]).refused()
    r = rcws(shared_server.url, made["publicKey"], made["privateKey"], "/v1/station")
    assert r.status_code == 401 and r.json()["type"] == "urn:relaybox:problem:key-revoked"
    assert "no account" in relaybox(args, ["apikey", "create", "nobody@example.com"]).refused()
    assert relaybox(args, ["apikey", "create", email, "--expires", "0"]).code == 2
