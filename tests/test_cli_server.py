"""The server side of the CLI: route management, serve --demo, clear failures."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import Signer, free_port


def relaybox(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "relaybox", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_route_add_list_rotate_remove(tmp_path: Path) -> None:
    d = str(tmp_path / "store")
    out = relaybox("route", "add", "abcd@abcdef01", "--data-dir", d).stdout
    secret = re.search(r"secret: ([0-9a-f]{48})", out)
    assert secret, out
    relaybox("route", "add", "ef01@1234abcd", "--secret", "chosen-secret", "--data-dir", d)
    listing = relaybox("route", "list", "--data-dir", d).stdout
    assert "abcd@abcdef01" in listing and "ef01@1234abcd" in listing
    assert secret.group(1) not in listing and "chosen-secret" not in listing  # never shown again

    rotated = relaybox("route", "rotate-secret", "abcd@abcdef01", "--data-dir", d).stdout
    new_secret = re.search(r"secret: ([0-9a-f]{48})", rotated)
    assert new_secret and new_secret.group(1) != secret.group(1)

    relaybox("route", "remove", "ef01@1234abcd", "--data-dir", d)
    assert "ef01@1234abcd" not in relaybox("route", "list", "--data-dir", d).stdout


def test_route_commands_refuse_bad_input(tmp_path: Path) -> None:
    env = {"RELAYBOX_DATA_DIR": str(tmp_path / "store")}  # the environment works like --data-dir
    bad = relaybox("route", "add", "not-a-route", env=env, check=False)
    assert bad.returncode == 2 and "not a route" in bad.stderr
    relaybox("route", "add", "a@b", env=env)
    dup = relaybox("route", "add", "a@b", env=env, check=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    missing = relaybox("route", "remove", "x@y", env=env, check=False)
    assert missing.returncode == 1 and "no route x@y" in missing.stderr
    assert relaybox("route", "rotate-secret", "x@y", env=env, check=False).returncode == 1


def test_route_changes_reach_a_running_server(server) -> None:  # type: ignore[no-untyped-def]
    where = server.store_args()
    secret = re.search(r"secret: (\S+)", relaybox("route", "add", "live@cli", *where).stdout)
    assert secret
    signer = Signer("live@cli", secret.group(1))
    assert httpx.get(f"{server.url}/1/list-messages", headers=signer.receive()).status_code == 200
    rotated = re.search(r"secret: (\S+)", relaybox("route", "rotate-secret", "live@cli", *where).stdout)
    assert rotated
    assert httpx.get(f"{server.url}/1/list-messages", headers=signer.receive()).status_code == 401
    assert (
        httpx.get(f"{server.url}/1/list-messages", headers=Signer("live@cli", rotated.group(1)).receive()).status_code
        == 200
    )
    relaybox("route", "remove", "live@cli", *where)
    assert (
        httpx.get(f"{server.url}/1/list-messages", headers=Signer("live@cli", rotated.group(1)).receive()).status_code
        == 401
    )


def test_serve_demo_creates_two_routes_once(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "relaybox", "serve", "--demo", "--port", str(port), "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/1/ping").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        env_file = (data / "demo.env").read_text()
        values = dict(re.findall(r"export (\w+)=(\S+)", env_file))
        signer = Signer(values["ROUTE"], values["KEY_SECRET"])
        assert signer.route == "abcd@abcdef01" and values["PARTNER_ROUTE"] == "ef01@1234abcd"
        assert httpx.get(f"http://127.0.0.1:{port}/1/list-messages", headers=signer.receive()).status_code == 200
        assert oct((data / "demo.env").stat().st_mode & 0o777) == "0o600"
        # The demo account of the management API owns both routes, each the other's partner.
        login = {"username": values["RELAYBOX_USER"], "password": values["RELAYBOX_PASSWORD"]}
        token = httpx.post(f"http://127.0.0.1:{port}/v1/authorize", json=login).json()["token"]
        partners = httpx.get(f"http://127.0.0.1:{port}/v1/partner", headers={"Authorization": token}).json()
        assert {(p["stationAS2Id"], p["as2Identifier"]) for p in partners} == {
            ("abcd@abcdef01", "ef01@1234abcd"),
            ("ef01@1234abcd", "abcd@abcdef01"),
        }
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=20)[0]
    assert proc.returncode == 0, out
    assert values["KEY_SECRET"] in out  # printed on first start
    assert "relaybox serving on" in out


def test_serve_refuses_an_unusable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the data dir should be")
    proc = relaybox("serve", "--port", str(free_port()), "--data-dir", str(blocker), check=False)
    assert proc.returncode == 2 and "is a file" in proc.stderr  # caught by the option check
    proc = relaybox("serve", "--port", str(free_port()), "--data-dir", str(blocker / "sub"), check=False)
    assert proc.returncode == 1
    assert "error: cannot open the store" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_refuses_a_port_in_use(tmp_path: Path, server) -> None:  # type: ignore[no-untyped-def]
    proc = relaybox("serve", "--port", str(server.port), "--data-dir", str(tmp_path / "other"), check=False)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    proc = relaybox(
        "route", "list", "--data-dir", str(tmp_path), env={"RELAYBOX_MAX_MESSAGE_BYTES": "lots"}, check=False
    )
    assert proc.returncode == 2 and "max_message_bytes" in proc.stderr
