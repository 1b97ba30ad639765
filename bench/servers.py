"""The processes the bench starts on loopback: relaybox, the floor app, moto's SQS server.

Each is started pinned to the server core with a raised open-file limit (set in the child
before exec, so uvicorn workers forked later inherit both), logs to a file, and is stopped
with SIGTERM (then SIGKILL) by the bench, whatever happens in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import procfs

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redact_url(url: str) -> str:
    """A database URL without its password, fit for the report."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


@dataclass
class Service:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cpus: set[int] | None = None
    nofile: int = 0
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, ready: Callable[[Service], bool], timeout: float = 30.0) -> None:
        cpus, nofile = self.cpus, self.nofile

        def in_child() -> None:  # runs between fork and exec
            procfs.pin(cpus)
            procfs.raise_nofile(nofile)

        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT, preexec_fn=in_child
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log_tail(15)}")
            with contextlib.suppress(httpx.TransportError):
                if ready(self):
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s: {self.log_tail(15)}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 10 s; returns the exit code (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_problems(self) -> dict[str, object]:
        """How many error lines / tracebacks the log holds, and the last of them."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return {"errors": 0, "tail": []}
        bad = [ln for ln in lines if " ERROR " in ln or "Traceback" in ln or " CRITICAL " in ln]
        tail = lines[-25:] if bad else []
        return {"errors": len(bad), "first": bad[:5], "tail": tail}


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without RELAYBOX_* (a developer's shell must not change the
    measured configuration), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYBOX_")}
    # uvicorn re-raises SIGTERM after its shutdown, which skips flushing a buffered stdout:
    # unbuffered, the log keeps its last lines.
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def _http_ok(path: str) -> Callable[[Service], bool]:
    def check(svc: Service) -> bool:
        return httpx.get(f"http://127.0.0.1:{svc.port}{path}", timeout=1).status_code == 200

    return check


def relaybox(
    workdir: Path,
    *,
    db: str | None,
    cpus: set[int] | None,
    nofile: int,
    max_bytes: int,
    workers: int | None,
    log_level: str | None,
) -> Service:
    data_dir = workdir / "relaybox-data"
    env = clean_env(RELAYBOX_RATE_LIMIT="0", RELAYBOX_MAX_MESSAGE_BYTES=str(max_bytes))
    if log_level:
        env["RELAYBOX_LOG_LEVEL"] = log_level
    svc = Service("relaybox", [], workdir / "relaybox.log", env, cpus, nofile)
    svc.argv = [sys.executable, "-m", "relaybox", "serve", "--port", str(svc.port), "--data-dir", str(data_dir)]
    if db:
        svc.argv += ["--db", db]
    if workers:
        svc.argv += ["--workers", str(workers)]
    return svc


def floor(workdir: Path, *, cpus: set[int] | None, workers: int, log_level: str) -> Service:
    svc = Service("floor", [], workdir / "floor.log", clean_env(), cpus)
    svc.argv = [sys.executable, "-m", "bench.floor_app", "--port", str(svc.port), "--workers", str(workers)]
    svc.argv += ["--log-level", log_level]
    return svc


def moto(workdir: Path, *, cpus: set[int] | None) -> Service:
    svc = Service("moto", [], workdir / "moto.log", clean_env(), cpus)
    svc.argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(svc.port)]
    return svc


def start_relaybox(svc: Service) -> None:
    svc.start(_http_ok("/1/ping"), timeout=60)


def start_floor(svc: Service) -> None:
    svc.start(lambda s: httpx.get(f"http://127.0.0.1:{s.port}/get", timeout=1).status_code == 200)


def start_moto(svc: Service) -> None:
    svc.start(lambda s: httpx.get(f"http://127.0.0.1:{s.port}/moto-api/", timeout=1).status_code < 500)


def new_route(prefix: str) -> tuple[str, str]:
    """A fresh route name and secret; random so that runs on one PostgreSQL never collide."""
    return f"{prefix}{secrets.token_hex(3)}@bench{secrets.token_hex(2)}", secrets.token_hex(24)


def add_routes(data_dir: Path, db: str | None, routes: list[tuple[str, str]]) -> None:
    """Create the routes straight in the store before the server starts (70-odd CLI calls
    would cost a minute; ``store.open()`` also creates the schema, as ``serve`` would)."""
    from relaybox.config import Settings
    from relaybox.store import make_store

    async def work() -> None:
        store = make_store(Settings(data_dir=data_dir, database_url=db))  # type: ignore[call-arg,unused-ignore]
        await store.open()
        try:
            now = time.time()
            for route, secret in routes:
                await store.add_route(route, secret, now)
        finally:
            await store.close()

    data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(work())


def serve_processes(svc: Service) -> int:
    """Processes in the server's tree (1 = one process; more when uvicorn forks workers)."""
    return len(procfs.tree(svc.pid)) if svc.alive() else 0


def supports_workers() -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "relaybox", "serve", "--help"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    return "--workers" in out.stdout
