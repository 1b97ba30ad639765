"""Client processes: run an async workload function in N spawned processes pinned to the
client core(s), start their measuring windows together, collect their results.

Several processes because one Python client process tops out near 3,000 requests/s on one core
(issue 4); each reports its own CPU seconds inside the window, so the report can show whether
the client was the bottleneck.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import multiprocessing as mp
import os
import queue
import time
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from bench import procfs

# Between the barrier and the window: every process is connected and idle by then.
START_DELAY = 0.2
JobFn = Callable[[dict[str, Any], "Window"], Coroutine[Any, Any, dict[str, Any]]]


@dataclass
class Window:
    """The shared measuring window of one child: starts after all children are ready."""

    barrier: Any
    duration: float
    start: float = 0.0

    async def ready(self) -> float:
        """Wait (off the event loop) until every process and the parent are ready."""
        loop = asyncio.get_running_loop()
        if self.barrier is not None:
            await loop.run_in_executor(None, self.barrier.wait, 120)
        self.start = time.monotonic() + START_DELAY
        await asyncio.sleep(max(0.0, self.start - time.monotonic()))
        return self.start

    @property
    def end(self) -> float:
        return self.start + self.duration


def _child(target: str, job: dict[str, Any], cpus: set[int] | None, barrier: Any, duration: float, out: Any) -> None:
    procfs.pin(cpus)
    procfs.raise_nofile(int(job.get("nofile", 0)))
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        pass
    module, _, name = target.partition(":")
    fn: JobFn = getattr(importlib.import_module(module), name)
    window = Window(barrier, duration)
    result: dict[str, Any]
    try:
        result = asyncio.run(fn(job, window))
    except BaseException as exc:  # reported to the parent, which records the failure
        if barrier is not None:
            with contextlib.suppress(Exception):
                barrier.abort()
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]}
    out.put(result)


@dataclass
class ProcResults:
    results: list[dict[str, Any]]
    server_cores: float  # server tree CPU over the window (cores), when a server pid was given
    wall: float


def run_procs(
    target: str,
    jobs: list[dict[str, Any]],
    *,
    cpus: set[int] | None,
    duration: float = 0.0,
    synced: bool = True,
    server_pid: int | None = None,
    timeout: float = 600.0,
) -> ProcResults:
    """Run ``target(job, window)`` once per job, each in its own spawned process.

    With ``synced`` all processes (and this one) meet at a barrier, then measure over the same
    ``duration`` s window; the server's CPU is measured over that window too. Spawn, not fork:
    the parent has threads (RSS sampler) and an imported SQLAlchemy that must not be forked.
    """
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    barrier = ctx.Barrier(len(jobs) + 1) if synced else None
    procs = [ctx.Process(target=_child, args=(target, job, cpus, barrier, duration, out), daemon=True) for job in jobs]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    server_cores = 0.0
    cpu0 = t_cpu0 = 0.0
    if synced and barrier is not None:
        try:
            barrier.wait(120)
            time.sleep(START_DELAY)
            if server_pid is not None:
                cpu0, t_cpu0 = procfs.cpu_seconds(server_pid), time.monotonic()
            if server_pid is not None and duration > 0:
                time.sleep(duration)
                server_cores = (procfs.cpu_seconds(server_pid) - cpu0) / (time.monotonic() - t_cpu0)
                server_pid = None
        except Exception:  # a child failed before the window: its error is in the queue
            server_pid = None
    results: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(results) < len(procs):
        try:
            results.append(out.get(timeout=max(0.1, min(1.0, deadline - time.monotonic()))))
        except queue.Empty:
            if time.monotonic() > deadline or not any(p.is_alive() for p in procs):
                # one more look: a child may have put its result just before exiting
                with contextlib.suppress(queue.Empty):
                    while len(results) < len(procs):
                        results.append(out.get(timeout=0.5))
                break
    if synced and server_pid is not None and t_cpu0:
        # Without a fixed window (a walk, the wake-ups): barrier to the last result.
        server_cores = (procfs.cpu_seconds(server_pid) - cpu0) / max(time.monotonic() - t_cpu0, 1e-9)
    for p in procs:
        p.join(5)
        if p.is_alive():
            p.kill()
            p.join()
    missing = len(procs) - len(results)
    results += [{"error": "client process died without a result"}] * missing
    return ProcResults(results, server_cores, time.monotonic() - t0)


def split(total: int, parts: int) -> list[int]:
    """``total`` spread over ``parts`` as evenly as possible (64 senders over 3 processes)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def client_cpus(pin: bool) -> tuple[set[int] | None, set[int] | None, str]:
    """(client cpus, server cpus, what was done). On 2+ cores: server on the last core, the
    clients on the others, so neither steals the other's core."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not pin:
        return None, None, "not pinned (--no-pin)"
    if n < 2:
        return None, None, "not pinned (a single core)"
    cores = sorted(os.sched_getaffinity(0))
    server, clients = {cores[-1]}, set(cores[:-1])
    return clients, server, f"server on core {cores[-1]}, clients and harness on core(s) {sorted(clients)}"
