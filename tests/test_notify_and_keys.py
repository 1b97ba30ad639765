"""Wake-ups and the replay cache at the store/notify level (no HTTP)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from relaybox.config import Settings
from relaybox.notify.hub import LocalHub
from relaybox.store import make_store


async def test_wake_up_between_read_and_wait_is_not_lost() -> None:
    hub = LocalHub()
    with hub.subscribe("b@x") as sub:
        # A message commits after the waiter read an empty mailbox but before it waits:
        hub.notify("b@x")
        assert await sub.wait(5) is True  # returns at once, not after 5 s
        assert await sub.wait(0.05) is False  # the flag was reset
        assert hub.waiter_count() == 1
    assert hub.waiter_count() == 0


async def test_notify_wakes_only_that_route() -> None:
    hub = LocalHub()
    with hub.subscribe("a@x") as a, hub.subscribe("b@x") as b:
        task = asyncio.create_task(a.wait(5))
        await asyncio.sleep(0)
        hub.notify("b@x")
        assert await b.wait(1) is True
        assert not task.done()
        hub.notify("a@x")
        assert await task is True


async def test_used_keys_are_refused_until_pruned(tmp_path: Path) -> None:
    store = make_store(Settings(data_dir=tmp_path))
    await store.open()
    try:
        now = time.time()
        assert await store.use_request_key("a" * 128, now + 300) is True
        assert await store.use_request_key("a" * 128, now + 300) is False
        assert await store.use_request_key("b" * 128, now - 1) is True
        report = await store.sweep(now, 0)
        assert report.keys_pruned == 1
        assert await store.use_request_key("a" * 128, now + 300) is False  # still inside its window
    finally:
        await store.close()
    # ... and the cache is on disk: a new store (a restart) still refuses the key.
    again = make_store(Settings(data_dir=tmp_path))
    await again.open()
    try:
        assert await again.use_request_key("a" * 128, time.time() + 300) is False
    finally:
        await again.close()
