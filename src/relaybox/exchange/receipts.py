"""Downloads and signed receipts (the seed's MDN): recorded when the receiver first downloads a message
whose sender asked for one, through either API, and served to both sides at ``/mdn``."""

from __future__ import annotations

import time
from collections.abc import Callable

from relaybox.auth import receipts as signing
from relaybox.store.base import AttachmentRecord, MessageRecord, Store

RECEIPT_KEY = "receipt-ed25519"


class Receipts:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._private: bytes | None = None

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
        the download (the sender's ``delivered`` event) and, when asked for, the receipt."""
        if m.delivered_at is None or (m.receipt_requested and m.receipt_at is None):
            await self.store.views.record_download(m.link, self._sign, self.clock(), durable=m.receipt_requested)

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
