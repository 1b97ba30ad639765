"""Process facts from /proc (Linux): RSS and CPU of a server's process tree, an RSS sampler,
core pinning and the open-file limit.

/proc instead of psutil so that the smoke test needs nothing beyond ``.[server,dev]``.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (uvicorn workers, if the server forks any)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in _listdir(f"/proc/{p}/task"):
            with contextlib.suppress(OSError):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
    return out


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def rss_bytes(pid: int) -> int:
    """Resident set size of the whole tree (what the machine pays for the server)."""
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by the tree's live processes."""
    total = 0.0
    for p in tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{p}/stat") as f:
                # The command name may contain spaces: fields start after the last ')'.
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


def wait_idle(pid: int, *, below: float = 0.05, interval: float = 0.25, timeout: float = 60.0) -> float:
    """Block until the tree uses less than ``below`` cores over two intervals in a row (the
    server has finished handling a burst); return the seconds waited."""
    start = time.monotonic()
    quiet = 0
    last = cpu_seconds(pid)
    while time.monotonic() - start < timeout and quiet < 2:
        time.sleep(interval)
        now = cpu_seconds(pid)
        quiet = quiet + 1 if (now - last) / interval < below else 0
        last = now
    return time.monotonic() - start


@dataclass
class RssSampler:
    """Samples the tree's RSS every ``interval`` s in a thread: (monotonic time, bytes)."""

    pid: int
    interval: float = 0.02
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), rss_bytes(self.pid)))
            self._stop.wait(self.interval)

    def peak(self, start: float, end: float) -> int:
        inside = [rss for t, rss in self.samples if start <= t <= end]
        return max(inside) if inside else 0

    def before(self, start: float) -> int:
        """The last sample taken before ``start`` (the baseline of a transfer)."""
        earlier = [rss for t, rss in self.samples if t < start]
        return earlier[-1] if earlier else (self.samples[0][1] if self.samples else 0)


def pin(cpus: set[int] | None) -> None:
    """Restrict this process (and what it starts later) to ``cpus``; None leaves it alone."""
    if cpus:
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setaffinity(0, cpus)


def raise_nofile(wanted: int) -> int:
    """Raise RLIMIT_NOFILE towards ``wanted`` (the hard limit too when allowed: root may);
    return the soft limit in force afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    for new_hard in (max(hard, wanted), hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, new_hard), new_hard))
            break
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@contextlib.contextmanager
def cpu_window(pid: int) -> Iterator[dict[str, float]]:
    """CPU cores used by ``pid``'s tree across the ``with`` block: {'cores': ...}."""
    out: dict[str, float] = {}
    c0, t0 = cpu_seconds(pid), time.monotonic()
    try:
        yield out
    finally:
        wall = max(time.monotonic() - t0, 1e-9)
        out["cores"] = (cpu_seconds(pid) - c0) / wall


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    model = ""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    mem = 0
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_bytes": mem,
        "kernel": os.uname().release,
        "loadavg": list(os.getloadavg()),
    }
