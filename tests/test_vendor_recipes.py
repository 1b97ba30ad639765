"""The vendor document's bash + curl recipes, run literally against a live relaybox.

The only change is the host. The vendor page shows each recipe on one line (its HTML lost the
line breaks); in bash, `A=x B=$A curl ... $A` expands the arguments before the assignments, so
the recipes are meant one assignment per line, which is how they are run here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ServerProcess

VENDOR_HOST = "https://eu-nl.api.go-integrate.me"

SEND = r"""
DATE=$(date -Iseconds)
FILE_MD5=$(md5sum "$1" | head -c 32)
KEY=$(echo -n "$DATE$ROUTE$2$ID$FILE_MD5$KEY_SECRET" | shasum -a 512 | head -c 128)
curl -F "data=@$1" https://eu-nl.api.go-integrate.me/1/send-message \
  --header "request-timestamp: $DATE" \
  --header "request-from: $ROUTE" \
  --header "request-key: $KEY" \
  --header "pay-for-reply: 1" \
  --header "message-id: $ID" \
  --header "message-to: $2" \
  --header "message-priority: normal" \
  --header "message-md5: $FILE_MD5" \
  --header "message-expires-after: 120" \
  -D headers
"""

LIST = r"""
DATE=$(date -Iseconds)
KEY=$(echo -n "$DATE$ROUTE$KEY_SECRET" | shasum -a 512 | head -c 128)
curl "https://eu-nl.api.go-integrate.me/1/list-messages" \
  --header "request-timestamp: $DATE" \
  --header "request-from: $ROUTE" \
  --header "request-key: $KEY" \
  -o data \
  -D headers
"""

GET = r"""
DATE=$(date -Iseconds)
KEY=$(echo -n "$DATE$ROUTE$KEY_SECRET" | shasum -a 512 | head -c 128)
curl "https://eu-nl.api.go-integrate.me/1/{method}/$1" \
  --header "request-timestamp: $DATE" \
  --header "request-from: $ROUTE" \
  --header "request-key: $KEY" \
  -o data \
  -D headers
"""

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("bash", "curl", "md5sum", "shasum", "date")), reason="needs bash, curl, shasum"
)


def run_recipe(recipe: str, server: ServerProcess, cwd: Path, env: dict[str, str], *args: str) -> dict[str, str]:
    script = recipe.replace(VENDOR_HOST, server.url)
    subprocess.run(
        ["bash", "-c", script, "recipe", *args], cwd=cwd, env={**os.environ, **env}, check=True, capture_output=True
    )
    lines = (cwd / "headers").read_text().splitlines()
    headers = {"status": lines[0].split()[1]}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return headers


def test_vendor_recipes_send_list_get(server: ServerProcess, tmp_path: Path) -> None:
    tmp_path = tmp_path / "client"  # the server's data dir is tmp_path/data; curl writes ./data
    tmp_path.mkdir()
    sender_secret = server.add_route("abcd@abcdef01")
    recipient_secret = server.add_route("ef01@1234abcd")
    payload = tmp_path / "your_file.xml"
    payload.write_bytes(b"<?xml version='1.0'?><order id='1'/>\n" + os.urandom(64))
    sender = {"ROUTE": "abcd@abcdef01", "KEY_SECRET": sender_secret, "ID": "12345"}
    recipient = {"ROUTE": "ef01@1234abcd", "KEY_SECRET": recipient_secret}

    sent = run_recipe(SEND, server, tmp_path, sender, str(payload), "ef01@1234abcd")
    assert sent["status"] == "200", sent
    assert "request-id" in sent
    link = sent["message-link"]

    time.sleep(1.05)  # date -Iseconds has one-second resolution: a new second, a new key
    listed = run_recipe(LIST, server, tmp_path, recipient)
    assert listed["status"] == "200"
    import json

    entries = json.loads((tmp_path / "data").read_text())
    assert [e["link"] for e in entries] == [link]
    assert set(entries[0]) >= {"link", "received_date", "expiration_date"}

    for method, arg in (("get-message", link), ("get-next-message", "0"), ("wait-next-message", "0")):
        time.sleep(1.05)
        got = run_recipe(GET.replace("{method}", method), server, tmp_path, recipient, arg)
        assert got["status"] == "200", (method, got)
        assert (tmp_path / "data").read_bytes() == payload.read_bytes()
        assert got["message-link"] == link
        assert got["message-file-name"] == "your_file.xml"
        assert got["content-disposition"] == "attachment; filename=your_file.xml"
        assert got["message-md5"] == hashlib.md5(payload.read_bytes()).hexdigest()

    # An error as the vendor shows it: 404 with `error: code=201; message=...` and a request id.
    time.sleep(1.05)
    sender["ID"] = "12346"
    failed = run_recipe(SEND, server, tmp_path, sender, str(payload), "nobody@1234abcd")
    assert failed["status"] == "404"
    assert failed["error"] == "code=201; message=Message recipient cannot be found"
    assert "request-id" in failed
