"""``relaybox db copy``: move routes, the management API's accounts, stations, partners and
server keys, and unexpired messages (with every attachment, receipt, failure entry and read
mark) from one store to another, e.g. SQLite to PostgreSQL. Links, senders, dates and arrival
order are kept, so clients' cursors stay valid; tokens and receipts keep verifying. Every
payload is read back from the target and checked against its MD5 before it counts as copied.
Safe to run again: what is already there is skipped."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from relaybox.errors import ErrorCode, RelayboxError, StoreUnavailable
from relaybox.store.base import BlobWriter, MessageRecord, Store


@dataclass
class CopyReport:
    routes_copied: int = 0
    routes_skipped: int = 0
    directory_rows: int = 0  # accounts, stations, links, partners, server keys added
    messages_copied: int = 0
    messages_skipped: int = 0
    bytes_copied: int = 0
    failures: list[str] = field(default_factory=list)


class CopyError(RelayboxError):
    """A payload failed its MD5 check; nothing of that message is left in the target."""

    def __init__(self, detail: str) -> None:
        super().__init__(ErrorCode.INTERNAL, detail)


async def copy_store(
    source: Store, target: Store, *, on_message: Callable[[MessageRecord], None] | None = None
) -> CopyReport:
    report = CopyReport()
    now = time.time()
    for route in await source.list_routes():
        if await target.add_route(
            route.route, route.secret, route.created_at, require_signature=route.require_signature
        ):
            report.routes_copied += 1
        else:
            report.routes_skipped += 1
    report.directory_rows = await target.accounts.import_directory(await source.accounts.export_directory())
    after = 0
    while True:
        batch = await source.messages_after(after, now)
        if not batch:
            break
        for record in batch:
            after = record.seq
            if await _copy_message(source, target, record):
                report.messages_copied += 1
                report.bytes_copied += record.size
            else:
                report.messages_skipped += 1
            if on_message is not None:
                on_message(record)
    return report


async def _copy_message(source: Store, target: Store, record: MessageRecord) -> bool:
    assert record.payload_id is not None
    extras = await source.views.extras(record.link)
    files = [(record.payload_id, record.md5), *((a.payload_id, a.md5) for a in extras.attachments)]
    blobs: list[BlobWriter] = []
    try:
        for payload_id, md5 in files:
            blob = await _copy_payload(source, target, payload_id)
            if blob is None:
                for b in blobs:
                    await b.discard()
                return False  # purged since it was listed: it expired during the copy
            blobs.append(blob)
            if blob.md5 != md5:
                raise CopyError(f"message {record.link}: source payload does not match its MD5; nothing copied")
    except BaseException:
        for b in blobs:
            await b.discard()
        raise
    if not await target.import_message(record, blobs[0], extras, blobs[1:]):
        return False
    copied = await target.views.by_link(record.link)
    if copied is None or copied.payload_id is None:
        raise StoreUnavailable(f"message {record.link} vanished from the target after copying")
    targets = [copied.payload_id, *(a.payload_id for a in (await target.views.extras(record.link)).attachments)]
    for (_pid, md5), copied_id in zip(files, targets, strict=True):
        digest = hashlib.md5()
        assert copied_id is not None
        async for chunk in (await target.open_payload(copied_id)).chunks():
            digest.update(chunk)
        if digest.hexdigest() != md5:
            raise CopyError(f"message {record.link}: the copy in the target does not match its MD5")
    return True


async def _copy_payload(source: Store, target: Store, payload_id: str | None) -> BlobWriter | None:
    if payload_id is None:
        return None
    try:
        payload = await source.open_payload(payload_id)
    except FileNotFoundError:
        return None
    blob = target.new_blob()
    try:
        async for chunk in payload.chunks():
            await blob.write(chunk)
    except BaseException:
        payload.close()
        await blob.discard()
        raise
    return blob
