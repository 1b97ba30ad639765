"""The background sweeper: purges expired messages, their payloads, old request keys and
finished webhook deliveries."""

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
        self,
        store: Store,
        *,
        interval: float,
        tombstone_ttl: float,
        delivery_retention: float = 7 * 86400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.interval = interval
        self.tombstone_ttl = tombstone_ttl
        self.delivery_retention = delivery_retention
        self.clock = clock

    async def run_once(self) -> SweepReport:
        now = self.clock()
        report = await self.store.sweep(now, self.tombstone_ttl)
        # Finished webhook deliveries (sent or stopped) leave the lists after the retention.
        pruned = await self.store.outbox.prune(now - self.delivery_retention)
        if pruned:
            log.info("sweep: %d finished webhook deliveries pruned", pruned)
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
