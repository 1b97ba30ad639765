"""In-process wake-ups for wait-next-message.

A waiter subscribes *before* it reads the mailbox, so a message committed between its read and
its wait still wakes it (no lost wake-up). ``notify`` costs one dict lookup when nobody waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class Subscription:
    """One waiter's wake-up flag."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> bool:
        """True when woken within ``timeout`` seconds; the flag is reset for the next wait."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        self._event.clear()
        return True

    def wake(self) -> None:
        self._event.set()


class Hub(Protocol):
    def subscribe(self, key: str) -> AbstractContextManager[Subscription]: ...

    def notify(self, key: str) -> None: ...

    def notify_all(self) -> None: ...

    def waiter_count(self) -> int: ...

    @property
    def poll_interval(self) -> float | None:
        """None while wake-ups are reliable; otherwise how often waiters should re-check."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class LocalHub:
    """Waiters keyed by route, in one process."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[Subscription]] = {}

    @contextmanager
    def subscribe(self, key: str) -> Iterator[Subscription]:
        sub = Subscription()
        self._waiters.setdefault(key, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._waiters.get(key)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._waiters[key]

    def notify(self, key: str) -> None:
        for sub in self._waiters.get(key, ()):
            sub.wake()

    def notify_all(self) -> None:
        for subs in self._waiters.values():
            for sub in subs:
                sub.wake()

    def waiter_count(self) -> int:
        return sum(len(s) for s in self._waiters.values())

    @property
    def poll_interval(self) -> float | None:
        return None  # in-process wake-ups cannot be missed

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass
