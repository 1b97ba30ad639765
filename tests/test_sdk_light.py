"""The SDK and the client CLI must work without the server's dependencies installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SERVER_ONLY = (
    "starlette",
    "sqlalchemy",
    "uvicorn",
    "alembic",
    "pydantic",
    "pydantic_settings",
    "multipart",
    "aiosqlite",
)

PRELUDE = textwrap.dedent(
    f"""
    import sys

    BLOCKED = {SERVER_ONLY!r}

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED or name.startswith("python_multipart"):
                raise ImportError(f"server dependency imported: {{name}}")
            return None

    sys.meta_path.insert(0, Refuse())
    """
)


def run_light(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )


def test_sdk_and_client_cli_import_no_server_package() -> None:
    result = run_light(
        """
        import relaybox
        import relaybox.client
        import relaybox.cli.client_cmds
        import relaybox.cli.watch
        from relaybox.client import ApiError, AsyncClient, Client, Message

        with Client("http://127.0.0.1:9", "abcd@abcdef01", "secret") as client:
            assert client.route == "abcd@abcdef01"
        AsyncClient("http://127.0.0.1:9", "abcd@abcdef01", "secret")
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not loaded, loaded
        print("light")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "light"


def test_top_level_package_re_exports_the_sdk_lazily() -> None:
    result = run_light(
        """
        import relaybox
        assert "httpx" not in sys.modules and "relaybox.client" not in sys.modules
        from relaybox import ApiError, AsyncClient, Client, Message, MessageInfo
        import relaybox.client
        assert Client is relaybox.client.Client and ApiError is relaybox.client.ApiError
        print("lazy")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "lazy"


def test_the_finder_really_blocks() -> None:
    result = run_light("import starlette")
    assert result.returncode != 0 and "server dependency imported: starlette" in result.stderr


@pytest.mark.parametrize("command", ["send", "list", "get", "next", "wait", "ping", "watch"])
def test_client_commands_run_without_server_packages(command: str) -> None:
    result = run_light(
        f"""
        sys.argv = ["relaybox", {command!r}, "--help"]
        from relaybox.cli.main import main
        main()
        """
    )
    assert result.returncode == 0, result.stderr
    assert "--url" in result.stdout
