"""Route secrets sealed at rest with RELAYBOX_MASTER_KEY (issue 8 item 7): not in the database
file, usable by the server, a clear refusal with no or a wrong key, rotation to a new key."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from conftest import ServerProcess, Signer
from relaybox.auth.sealed import new_key


def relaybox(data: Path, key: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RELAYBOX_MASTER_KEY"}
    if key is not None:
        env["RELAYBOX_MASTER_KEY"] = key
    cmd = [sys.executable, "-m", "relaybox", *args, "--data-dir", str(data)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


def test_sealed_route_secrets(tmp_path: Path) -> None:
    data = tmp_path / "data"
    k1, k2 = new_key(), new_key()
    added = relaybox(data, k1, "route", "add", "seal@test0001")
    assert added.returncode == 0, added.stderr
    secret = next(w for w in added.stdout.split() if len(w) == 48)
    account = relaybox(data, k1, "account", "add", "seal@example.com", "--password", "correct horse 1")
    assert account.returncode == 0, account.stderr
    made = relaybox(data, k1, "apikey", "create", "seal@example.com", "--json")
    assert made.returncode == 0, made.stderr
    private = json.loads(made.stdout)["privateKey"]
    stored = b"".join(p.read_bytes() for p in data.glob("relaybox.db*"))
    assert secret.encode() not in stored and private.encode() not in stored and b"fernet:" in stored
    listed = relaybox(data, k1, "route", "list")
    assert listed.returncode == 0 and secret not in listed.stdout

    srv = ServerProcess(data, {"RELAYBOX_MASTER_KEY": k1})
    srv.start()
    try:
        r = httpx.get(f"{srv.url}/1/list-messages", headers=Signer("seal@test0001", secret).receive())
        assert r.status_code == 200
        public = json.loads(made.stdout)["publicKey"]
        s = 'get::/v1/station::{"posted_data":"[]"}'
        sig = hmac.new(private.encode(), s.encode(), hashlib.sha256).hexdigest()
        r = httpx.get(f"{srv.url}/v1/station", headers={"Authorization": f"RCWS {public}:{sig}"})
        assert r.status_code == 200, r.text
    finally:
        srv.stop()

    for key, words in ((None, "set RELAYBOX_MASTER_KEY"), (k2, "does not open")):
        refused = relaybox(data, key, "route", "list")
        assert refused.returncode == 1 and words in refused.stderr, refused.stderr
        assert secret not in refused.stderr
    bad = relaybox(data, "not-a-key", "route", "list")
    assert bad.returncode == 2 and "master_key" in bad.stderr

    rotated = relaybox(data, f"{k2},{k1}", "keys", "rotate")
    assert rotated.returncode == 0 and "2 secrets sealed" in rotated.stdout, rotated.stderr
    assert relaybox(data, k2, "route", "list").returncode == 0  # the new key alone opens them now
    assert relaybox(data, k1, "route", "list").returncode == 1
    generated = subprocess.run([sys.executable, "-m", "relaybox", "keys", "generate"], capture_output=True, text=True)
    assert generated.returncode == 0 and len(generated.stdout.strip()) == 44
