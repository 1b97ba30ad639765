"""The client commands: usage checks in-process, the rest as ``python -m relaybox`` subprocesses."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from relaybox.cli.client_cmds import register, safe_local_name
from relaybox.client import Client

ROUTE = "abcd@abcdef01"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def cli() -> click.Group:
    @click.group()
    def group() -> None:
        """test group"""

    register(group)
    return group


def invoke(cli: click.Group, *args: str, **env: str) -> Any:
    base = {"RELAYBOX_URL": closed_port_url(), "RELAYBOX_ROUTE": ROUTE, "RELAYBOX_SECRET": "s"}
    return CliRunner().invoke(cli, list(args), env={**base, **env})


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["send", "no/such/file", "--to", "ef01@1234abcd"], {}, "does not exist"),
        (["send", "{file}", "--to", "not a route"], {}, "not a route"),
        (["send", "{file}", "--to", "ef01@1234abcd", "--id", "é"], {}, "printable ASCII"),
        (["send", "{file}", "--to", "ef01@1234abcd"], {"RELAYBOX_ROUTE": ""}, "--route is missing"),
        (["list"], {"RELAYBOX_ROUTE": "no-at-sign"}, "not a route"),
        (["list"], {"RELAYBOX_SECRET": ""}, "--secret is missing"),
        (["get", "../../etc/passwd"], {}, "not a message link"),
        (["wait", "--after", "a/b"], {}, "not a message link"),
        (["list"], {"RELAYBOX_URL": "ftp://x"}, "not an http"),
    ],
)
def test_usage_errors_exit_2_before_any_network_call(
    cli: click.Group, tmp_path: Path, args: list[str], env: dict[str, str], needle: str
) -> None:
    payload = tmp_path / "payload.txt"
    payload.write_text("hi")
    result = invoke(cli, *[a.replace("{file}", str(payload)) for a in args], **env)
    assert result.exit_code == 2, result.output
    assert needle in result.output


def test_connection_refused_is_a_clear_error(cli: click.Group, tmp_path: Path) -> None:
    payload = tmp_path / "payload.txt"
    payload.write_text("hi")
    sends = [["send", str(payload), "--to", to] for to in ("ef01@1234abcd", "list:7")]
    for args in (["list"], ["ping"], *sends, ["get", "L1"], ["next", "0"], ["wait", "--timeout", "1"]):
        result = invoke(cli, *args)
        assert result.exit_code == 1, (args, result.output)
        assert "cannot connect to http://127.0.0.1:" in result.output


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        (".bashrc", "_bashrc"),
        ("..", "data"),
        ("a\x00b\nc.txt", "abc.txt"),
        (None, "LINK"),
        ("", "LINK"),
    ],
)
def test_safe_local_name(name: str | None, expected: str) -> None:
    result = safe_local_name(name, "LINK")
    assert result == expected
    assert Path(result).name == result and not result.startswith(".")


# -- against a live server ---------------------------------------------------------------------


def run(
    args: list[str], env: dict[str, str], cwd: Path, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "relaybox", *args],
        env={**os.environ, **env},
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
def routes(shared_server: Any) -> dict[str, dict[str, str]]:
    out = {}
    for who in ("alice", "bob"):
        route, secret = shared_server.new_route(who)
        out[who] = {"RELAYBOX_URL": shared_server.url, "RELAYBOX_ROUTE": route, "RELAYBOX_SECRET": secret}
    return out


def test_send_list_get_next_wait_ping(routes: dict[str, dict[str, str]], tmp_path: Path) -> None:
    alice, bob = routes["alice"], routes["bob"]
    src = tmp_path / "invoice 1.xml"
    src.write_bytes(b"<invoice>\x00\xff</invoice>")
    sent = run(["send", str(src), "--to", bob["RELAYBOX_ROUTE"], "--id", "inv-1", "--pay-for-reply"], alice, tmp_path)
    assert sent.returncode == 0, sent.stderr
    link = sent.stdout.decode().strip()

    listed = run(["list", "--json"], bob, tmp_path)
    [entry] = json.loads(listed.stdout)
    assert entry["link"] == link and entry["file_name"] == "invoice 1.xml" and entry["message_id"] == "inv-1"
    table = run(["list"], bob, tmp_path)
    assert table.returncode == 0 and link in table.stdout.decode()

    down = tmp_path / "down"
    down.mkdir()
    got = run(["get", link], bob, down)
    assert got.returncode == 0, got.stderr
    assert got.stdout.decode().strip() == link
    assert (down / "invoice 1.xml").read_bytes() == src.read_bytes()
    again = run(["get", link], bob, down)  # never clobbers a file it did not name itself
    assert again.returncode == 0 and (down / "invoice 1.xml.1").read_bytes() == src.read_bytes()

    to_stdout = run(["get", link, "-o", "-"], bob, tmp_path)
    assert to_stdout.returncode == 0 and to_stdout.stdout == src.read_bytes()
    nxt = run(["next", "0", "-o", str(tmp_path / "n.bin")], bob, tmp_path)
    assert nxt.stdout.decode().strip() == link and (tmp_path / "n.bin").read_bytes() == src.read_bytes()
    none = run(["next", link], bob, tmp_path)
    assert none.returncode == 1 and b"no message after" in none.stderr

    waited = run(["wait", "--after", link, "--timeout", "1"], bob, tmp_path)
    assert waited.returncode == 1 and b"no message within" in waited.stderr
    waited = run(["wait", "-o", "-"], bob, tmp_path)
    assert waited.returncode == 0 and waited.stdout == src.read_bytes()

    ping = run(["ping"], {"RELAYBOX_URL": alice["RELAYBOX_URL"]}, tmp_path)
    assert ping.returncode == 0 and ping.stdout.strip() == b"ok"


def test_send_from_stdin_and_progress_for_big_files(routes: dict[str, dict[str, str]], tmp_path: Path) -> None:
    alice, bob = routes["alice"], routes["bob"]
    data = os.urandom(2 * 1024 * 1024)
    sent = run(["send", "-", "--to", bob["RELAYBOX_ROUTE"], "--name", "blob.bin"], alice, tmp_path, stdin=data)
    assert sent.returncode == 0, sent.stderr
    link = sent.stdout.decode().strip()
    got = run(["get", link, "-o", "blob.out"], bob, tmp_path)
    assert got.returncode == 0 and (tmp_path / "blob.out").read_bytes() == data
    assert b"MB" in got.stderr  # the rich progress bar went to stderr


def test_sender_file_names_cannot_escape_cwd(routes: dict[str, dict[str, str]], tmp_path: Path) -> None:
    alice, bob = routes["alice"], routes["bob"]
    down = tmp_path / "a" / "b"
    down.mkdir(parents=True)
    with Client(alice["RELAYBOX_URL"], alice["RELAYBOX_ROUTE"], alice["RELAYBOX_SECRET"]) as client:
        links = [client.send(b"x", to=bob["RELAYBOX_ROUTE"], file_name=n) for n in ("../../evil.txt", ".profile")]
    for link in links:
        assert run(["get", link], bob, down).returncode == 0
    assert sorted(p.name for p in down.iterdir()) == ["_profile", "evil.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_server_errors_print_code_message_and_request_id(routes: dict[str, dict[str, str]], tmp_path: Path) -> None:
    bad = {**routes["bob"], "RELAYBOX_SECRET": "wrong"}
    result = run(["list"], bad, tmp_path)
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "101" in err and "request-id 2" in err and not result.stdout
    missing = run(["get", "NoSuchLink0123456789"], routes["bob"], tmp_path)
    assert missing.returncode == 1 and "301" in missing.stderr.decode()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary file left behind
