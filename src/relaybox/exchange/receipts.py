"""Downloads and signed receipts (the seed's MDN): recorded when the receiver first downloads a message
whose sender asked for one, through either API, and served to both sides at ``/mdn``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from relaybox.auth import receipts as signing
from relaybox.errors import StoreUnavailable
from relaybox.store.base import AttachmentRecord, MessageRecord, Store

log = logging.getLogger("relaybox.receipts")
MARK_DELAY = 0.01  # seconds a download mark waits for others to share its commit
MARK_RETRY = 1.0  # seconds between tries while the store refuses writes
MARKS_HELD = 100_000  # download marks kept in memory while the store refuses writes
RECEIPT_KEY = "receipt-ed25519"


class Receipts:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._private: bytes | None = None
        self._downloaded: dict[str, MessageRecord] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        self._private = await self.store.accounts.server_key(RECEIPT_KEY, signing.new_private_key, self.clock())

    @property
    def key_document(self) -> dict[str, str]:
        return signing.public_key_document(self._key())

    def _key(self) -> bytes:
        if self._private is None:
            raise RuntimeError("receipts not started")
        return self._private

    async def record_if_due(self, m: MessageRecord) -> None:
        """Called before attachment bytes go to the receiver: the first such response records
        the download (the sender's ``delivered`` event) and, when asked for, the receipt.

        A receipt is recorded before the bytes go out (the sender may fetch it at once). Bare
        download marks are written beside the responses instead, the marks of ~10 ms in one
        commit, so a mailbox walk is not slowed by a commit per message; a crash in those
        milliseconds can only mean no ``delivered`` event for those downloads."""
        if m.receipt_requested and m.receipt_at is None:
            await self.store.views.record_download(m.link, self._sign, self.clock(), durable=True)
        elif m.delivered_at is None:
            self._downloaded[m.link] = m
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        delay = MARK_DELAY
        while self._downloaded:  # those added while a batch was being written go next
            await asyncio.sleep(delay)  # gather the downloads of this moment into one commit
            batch, self._downloaded = list(self._downloaded.values()), {}
            try:
                await self.store.views.mark_downloaded(batch, self.clock())
                delay = MARK_DELAY
            except StoreUnavailable as exc:
                if self._closing:  # shutting down: nothing left to wait for
                    log.warning("dropped %d download marks at shutdown: %s", len(batch), exc.detail)
                    return
                # A full disk or a database outage: the downloads went fine, their marks wait
                # (at most MARKS_HELD, the newest kept) and are tried again once a second.
                if delay == MARK_DELAY:
                    log.warning("recording %d downloads: %s (retrying)", len(batch), exc.detail)
                kept = {m.link: m for m in batch[-MARKS_HELD:]}
                self._downloaded = {**kept, **self._downloaded}
                delay = MARK_RETRY
            except Exception:  # only their events are missing
                log.exception("recording %d downloads", len(batch))

    async def settle(self) -> None:
        """Write the download marks still waiting (at shutdown, before the store closes)."""
        self._closing = True
        while self._flusher is not None and not self._flusher.done():
            await self._flusher

    def _sign(self, m: MessageRecord, files: list[AttachmentRecord], now: float) -> str:
        return signing.build_receipt(
            self._key(),
            message_id=m.link,
            sender_message_id=m.message_id,
            sender_id=m.sender,
            receiver_id=m.recipient,
            attachments=[signing.ReceiptAttachment(a.index, a.file_name, a.size, a.sha256 or "") for a in files],
            at=now,
        )
