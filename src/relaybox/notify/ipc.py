"""Wake-ups across the worker processes of one SQLite installation (``serve --workers N``).

Each worker binds a UDP socket on 127.0.0.1 and registers its port as ``<data dir>/run/<pid>.port``.
A commit for route R sends a datagram "R" to every registered worker (its own included, through
the local hub directly). Loopback datagrams are not lost under normal load, but as a safety net
a worker's waiters also re-check the database every ``poll`` seconds during its first seconds
(before the other workers' lists have picked it up).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from pathlib import Path

from relaybox.notify.hub import LocalHub

_REFRESH = 1.0  # how often the list of workers is re-read
_STARTUP_POLL = 3.0  # seconds during which a new worker's waiters also poll


class UdpHub(LocalHub):
    def __init__(self, run_dir: Path, *, poll: float = 0.5) -> None:
        super().__init__()
        self.run_dir = run_dir
        self._poll = poll
        self._sock: socket.socket | None = None
        self._peers: list[int] = []
        self._peers_read = 0.0
        self._started = 0.0
        self._me: Path | None = None

    @property
    def poll_interval(self) -> float | None:
        return self._poll if time.monotonic() - self._started < _STARTUP_POLL else None

    async def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        self._sock = sock
        loop = asyncio.get_running_loop()
        loop.add_reader(sock.fileno(), self._on_readable)
        self._me = self.run_dir / f"{os.getpid()}.port"
        tmp = self._me.with_suffix(".tmp")
        tmp.write_text(str(sock.getsockname()[1]))
        tmp.replace(self._me)
        self._started = time.monotonic()
        self._forget_dead()

    async def stop(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._me is not None:
            with contextlib.suppress(FileNotFoundError):
                self._me.unlink()

    def notify(self, key: str) -> None:
        super().notify(key)
        if self._sock is None:
            return
        payload = key.encode()
        for port in self._peer_ports():
            with contextlib.suppress(OSError):  # a worker that just exited
                self._sock.sendto(payload, ("127.0.0.1", port))

    def _on_readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data = self._sock.recv(1024)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            LocalHub.notify(self, data.decode(errors="replace"))

    def _peer_ports(self) -> list[int]:
        now = time.monotonic()
        if now - self._peers_read >= _REFRESH:
            own = self._sock.getsockname()[1] if self._sock is not None else None
            ports = []
            for f in self.run_dir.glob("*.port"):
                with contextlib.suppress(OSError, ValueError):
                    port = int(f.read_text())
                    if port != own:
                        ports.append(port)
            self._peers, self._peers_read = ports, now
        return self._peers

    def _forget_dead(self) -> None:
        """Registrations of workers that died without unregistering (SIGKILL)."""
        for f in self.run_dir.glob("*.port"):
            with contextlib.suppress(ValueError, OSError):
                pid = int(f.stem)
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    f.unlink()
