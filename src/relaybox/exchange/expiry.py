"""The background sweeper: purges expired messages, their payloads and old request keys."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from relaybox.errors import RelayboxError
from relaybox.store.base import Store, SweepReport

log = logging.getLogger("relaybox.expiry")


class Sweeper:
    def __init__(
        self, store: Store, *, interval: float, tombstone_ttl: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.interval = interval
        self.tombstone_ttl = tombstone_ttl
        self.clock = clock

    async def run_once(self) -> SweepReport:
        report = await self.store.sweep(self.clock(), self.tombstone_ttl)
        if report.purged or report.payloads_deleted or report.orphan_files:
            log.info(
                "sweep: %d expired, %d payloads deleted, %d tombstones dropped, %d keys pruned, %d orphan files",
                report.purged,
                report.payloads_deleted,
                report.tombstones_dropped,
                report.keys_pruned,
                report.orphan_files,
            )
        return report

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except RelayboxError as exc:
                log.warning("sweep failed: %s", exc.detail)
            except Exception:  # a sweep must never take the server down
                log.exception("sweep failed")
            await asyncio.sleep(self.interval)
