"""Shared fixtures: a real ``relaybox serve`` process on a free port, and request signing.

``server`` is a fresh server per test (its own data dir); ``shared_server`` is one server per
session for tests that only need their own routes (``new_route()`` makes a unique one).
Both, and ``server_factory``, run every test once per backend: the embedded SQLite store and
PostgreSQL (a database of its own on the machine's server, created and dropped here).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from relaybox.auth.signing import receive_key, send_key
from relaybox.wire.timestamps import format_timestamp

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests decide their own settings: no RELAYBOX_* from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("RELAYBOX_"):
            monkeypatch.delenv(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion in a private loop, also from inside an async test."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(factory()))
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if error:
        raise error[0]
    return result[0]


PG_ADMIN_URL = os.environ.get("RELAYBOX_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    run_async(run)


_pg_state: dict[str, bool] = {}


def require_postgres() -> None:
    """Skip PostgreSQL cases on a developer machine without a server; in CI (CI=true) that is
    a failure instead, so a missing database can never turn the suite green."""
    if "ok" not in _pg_state:
        try:
            _pg_admin("SELECT 1")
            _pg_state["ok"] = True
        except Exception:
            _pg_state["ok"] = False
    if not _pg_state["ok"]:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} (CI needs it)")
        pytest.skip(f"no PostgreSQL at {PG_ADMIN_URL}")


class PgDatabase:
    """A throw-away database on the test PostgreSQL server."""

    def __init__(self) -> None:
        require_postgres()
        self.name = f"relaybox_t_{secrets.token_hex(6)}"
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        self.url = f"{base}/{self.name}"

    def __enter__(self) -> PgDatabase:
        _pg_admin(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *exc: object) -> None:
        _pg_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class ServerProcess:
    """``python -m relaybox serve`` in a subprocess; restartable on the same port and data dir."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, database_url: str | None = None) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.backend = "postgresql" if database_url else "sqlite"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # One process unless a test asks for more: per-process state (rate limits) stays simple.
        self.env = {"RELAYBOX_WORKERS": "1", **(env or {})}
        if database_url:
            self.env["RELAYBOX_DATABASE_URL"] = database_url
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    def start(self, timeout: float = 20.0) -> None:
        env = {**os.environ, **self.env}
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "relaybox", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log()}")
            try:
                if httpx.get(f"{self.url}/1/ping", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        self.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    # -- routes, straight into the store (the CLI commands are tested on their own) ----------
    def _store_call(self, fn: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
        from relaybox.store import make_store

        async def work() -> T:
            store = make_store(self.settings())
            await store.open()
            try:
                return await fn(store)
            finally:
                await store.close()

        return run_async(work)

    def settings(self) -> Any:
        from relaybox.config import Settings

        return Settings(data_dir=self.data_dir, database_url=self.database_url)

    def store_args(self) -> list[str]:
        """CLI flags that point a command at this server's store."""
        return ["--db", self.database_url] if self.database_url else ["--data-dir", str(self.data_dir)]

    def payload_count(self) -> int:
        """Payloads the store holds; each payload row must have its bytes (a file or database
        chunks), and no bytes may lack a row."""
        from sqlalchemy import distinct, func, select

        from relaybox.store.schema import payload_chunks, payloads

        rows = int(self._store_call(lambda store: store._scalars(select(func.count()).select_from(payloads)))[0])
        in_db = int(
            self._store_call(lambda store: store._scalars(select(func.count(distinct(payload_chunks.c.payload_id)))))[0]
        )
        files = [p for p in (self.data_dir / "payloads").rglob("*") if p.is_file()] if self.backend == "sqlite" else []
        assert len(files) + in_db == rows, (files, in_db, rows)
        return rows

    def payload_ids(self) -> set[str]:
        """The ids of the payloads the store holds. Tests on a shared server compare these sets
        (what was added), not counts: the sweeper may purge other tests' expired payloads
        meanwhile."""
        from sqlalchemy import select

        from relaybox.store.schema import payloads

        return set(self._store_call(lambda store: store._scalars(select(payloads.c.id))))

    def leftovers(self) -> int:
        """Bytes of unfinished uploads: temp files (SQLite) or chunks no payload row owns."""
        if self.backend == "sqlite":
            return len(list((self.data_dir / "tmp").iterdir()))
        from sqlalchemy import exists, func, select

        from relaybox.store.schema import payload_chunks, payloads

        query = (
            select(func.count())
            .select_from(payload_chunks)
            .where(~exists().where(payloads.c.id == payload_chunks.c.payload_id))
        )
        return int(self._store_call(lambda store: store._scalars(query))[0])

    def add_route(self, route: str, secret: str | None = None) -> str:
        value = secret or secrets.token_hex(24)

        async def add(store: Any) -> bool:
            return bool(await store.add_route(route, value, time.time()))

        assert self._store_call(add), f"route {route} exists"
        return value

    def new_route(self, prefix: str = "r") -> tuple[str, str]:
        route = f"{prefix}{secrets.token_hex(4)}@test{secrets.token_hex(3)}"
        return route, self.add_route(route)

    # -- management API (/v1) provisioning, straight into the store ------------------------------
    def add_account(self, email: str | None = None, password: str = "correct horse 1") -> tuple[str, str]:
        """A new account (a unique email unless given); (email, password)."""
        email = email or f"u{secrets.token_hex(5)}@example.com"

        async def add(store: Any) -> None:
            from relaybox.exchange.identity import add_account

            await add_account(store, email, password, time.time())

        self._store_call(add)
        return email, password

    def add_station(self, email: str, route: str | None = None, name: str | None = None) -> tuple[str, str | None]:
        """Link a route (new unless given) to the account; (route, its secret if created)."""
        secret = None
        if route is None:
            route, secret = self.new_route("st")

        async def link(store: Any) -> None:
            await store.accounts.link(email, route, name, None, time.time())

        self._store_call(link)
        return route, secret

    def add_partner(self, station: str, partner: str, **fields: Any) -> Any:
        """A partner record as ``POST /v1/partner`` makes it (fields in the Partner's camelCase)."""

        async def add(store: Any) -> Any:
            from relaybox.wire.v1 import partner_fields

            doc = {**fields, "stationAS2Id": station, "as2Identifier": partner}
            return await store.partners.add(station, partner, partner_fields(doc, create=True), time.time())

        return self._store_call(add)

    def token(self, email: str, password: str = "correct horse 1") -> str:
        """A /v1 token for the account (through ``POST /v1/authorize``)."""
        r = httpx.post(f"{self.url}/v1/authorize", json={"username": email, "password": password}, timeout=10)
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    def sweep(self) -> Any:
        """Run one expiry sweep against the store (as the server's sweeper would)."""

        async def sweep(store: Any) -> Any:
            return await store.sweep(time.time(), 0)

        return self._store_call(sweep)


@contextlib.contextmanager
def _database(backend: str) -> Iterator[str | None]:
    if backend == "sqlite":
        yield None
        return
    with PgDatabase() as db:
        yield db.url


def _make_server(tmp: Path, backend: str, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    with _database(backend) as url:
        srv = ServerProcess(tmp / "data", env, url)
        srv.start()
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(tmp_path: Path, backend: str) -> Iterator[ServerProcess]:
    yield from _make_server(tmp_path, backend)


@pytest.fixture
def server_factory(tmp_path: Path, backend: str) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers with extra RELAYBOX_* settings: ``server_factory(MAX_MESSAGE_BYTES="1000")``."""
    started: list[ServerProcess] = []
    with contextlib.ExitStack() as stack:

        def make(**settings: str) -> ServerProcess:
            env = {f"RELAYBOX_{k}": str(v) for k, v in settings.items()}
            url = stack.enter_context(_database(backend))
            srv = ServerProcess(tmp_path / f"data{len(started)}", env, url)
            started.append(srv)
            srv.start()
            return srv

        try:
            yield make
        finally:
            for srv in started:
                srv.stop()


@pytest.fixture(scope="session", params=BACKENDS)
def shared_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from _make_server(tmp_path_factory.mktemp("shared"), str(request.param))


class Signer:
    """Builds the signed headers of the route API for one route (fresh timestamp each time)."""

    def __init__(self, route: str, secret: str) -> None:
        self.route = route
        self.secret = secret

    def receive(self, timestamp: str | None = None) -> dict[str, str]:
        ts = timestamp or format_timestamp(time.time())
        return {
            "request-timestamp": ts,
            "request-from": self.route,
            "request-key": receive_key(ts, self.route, self.secret),
        }

    def send(
        self, to: str, data: bytes, message_id: str | None = None, timestamp: str | None = None, **extra: str
    ) -> dict[str, str]:
        ts = timestamp or format_timestamp(time.time())
        mid = message_id if message_id is not None else secrets.token_hex(8)
        md5 = extra.pop("md5", None) or hashlib.md5(data).hexdigest()
        headers = {
            "request-timestamp": ts,
            "request-from": self.route,
            "request-key": send_key(ts, self.route, to, mid, md5, self.secret),
            "message-to": to,
            "message-id": mid,
            "message-md5": md5,
        }
        headers.update({k.replace("_", "-"): v for k, v in extra.items()})
        return headers


def error_code(response: httpx.Response) -> int | None:
    """The ``code`` of an ``error: code=NNN; message=...`` header, None when absent."""
    value = response.headers.get("error")
    if value is None:
        return None
    return int(value.split(";")[0].split("=")[1])


# Long soak and fault variants are marked ``slow`` and left out of the default run (``make
# test``) unless a ``-m`` expression picks tests: ``pytest -m slow tests/faults`` runs them.
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("markexpr"):
        return  # the caller chose with -m
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]
