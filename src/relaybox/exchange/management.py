"""The management API's use cases (/v1): send, the four lists, one message, read state,
attachments and zips, receipts, retry control, deletion, partners and stations.

Every call takes the ``Caller`` (an authenticated account and its stations); nothing here
knows HTTP. Refusals are ``V1Error`` with the seed's status codes.
"""

from __future__ import annotations

import asyncio
import io
import secrets
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from relaybox.config import Settings
from relaybox.errors import FORBIDDEN, RelayboxError, V1Error, bad_request, not_found
from relaybox.exchange.identity import Caller
from relaybox.exchange.receipts import Receipts
from relaybox.notify.hub import Hub
from relaybox.store.base import AttachmentRecord, Conflict, MessageRecord, PartnerRecord, Payload, StationRecord, Store
from relaybox.store.fanout import FanoutOutcome
from relaybox.store.views import MessageView, NewFile, ViewQuery
from relaybox.wire import v1
from relaybox.wire.ids import new_link

_ZIP_CHUNK = 65536


ZipEntry = tuple[str, bytes | None]  # a file, or (data None) a folder


def build_zip(entries: Sequence[ZipEntry]) -> bytes:
    """A deflated zip of ``entries`` in order (run in a thread: compressing up to the 10 MiB
    cap would otherwise hold the event loop, and every waiter on it, for a noticeable time)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            if data is None:
                zf.writestr(zipfile.ZipInfo(name), b"")
            else:
                zf.writestr(name, data)
    return buffer.getvalue()


def with_push_secret(fields: dict[str, Any], current: PartnerRecord | None) -> tuple[dict[str, Any], str | None]:
    """An https partner needs a push secret: one is generated when none is given or kept
    (43 base64url characters), and shown once in the answer."""
    transport = fields.get("transport", current.transport if current else "federation")
    kept = current.push_secret if current else None
    if transport != "https" or fields.get("push_secret") is not None or ("push_secret" not in fields and kept):
        return fields, None
    secret = secrets.token_urlsafe(32)
    return {**fields, "push_secret": secret}, secret


def message_not_found(link: str) -> V1Error:
    return not_found(f"Message {link} not found")


@dataclass(frozen=True, slots=True)
class SendPlan:
    """A /v1 send checked before its body is read: who sends to whom, under which partner."""

    station: str
    partner: PartnerRecord
    subject: str | None


@dataclass(frozen=True, slots=True)
class Batch:
    data: bytes
    truncated_at: tuple[int, int] | None  # (request position, attachment index) of the last file added


class Management:
    def __init__(
        self,
        store: Store,
        hub: Hub,
        settings: Settings,
        receipts: Receipts,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.hub = hub
        self.settings = settings
        self.receipts = receipts
        self.clock = clock

    def check_station(self, caller: Caller, station: str) -> None:
        """403 for a station that is not the caller's (an unknown route looks the same)."""
        if not caller.owns(station):
            raise V1Error(403, FORBIDDEN)

    # -- send --------------------------------------------------------------------------------
    async def plan_send(
        self,
        caller: Caller,
        station: str,
        partner_route: str,
        partner_type: str,
        subject: str | None,
        *,
        default: bool = True,
    ) -> SendPlan:
        """``default``: no subject was given, so the partner's messageSubject applies."""
        self.check_station(caller, station)
        partner = await self.store.partners.find(station, partner_route, partner_type)
        if partner is None:
            raise not_found(f"Partner {partner_route} ({partner_type}) not found for station {station}")
        if partner.uri is None:
            route = await self.store.get_route(partner_route)
            if route is None or not route.enabled:
                raise not_found(f"Partner route {partner_route} not found on this server")
        return SendPlan(station, partner, partner.message_subject if default else subject)

    async def send(self, plan: SendPlan, files: Sequence[NewFile]) -> MessageRecord:
        """Commit the message (the caller discards the blobs on error). A local, unpaused
        partner has it in its mailbox at commit."""
        p = plan.partner
        if p.uri is not None and len(files) > 1:
            raise bad_request("A push to a remote partner carries one file: send the attachments one per message")
        incoming = None
        if p.uri is None:
            # The receiver's own partner record for this station: its type, and its pause.
            incoming = await self.store.partners.resolved(p.route, plan.station)
            if incoming is not None and incoming.pause_incoming:
                raise V1Error(409, f"{p.route} has paused incoming messages from {plan.station}")
        state = "sent" if p.uri is None and not p.pause_outgoing else "queued"
        record = replace(
            self._new_record(plan.station, p.route, plan.subject),
            state=state,
            sender_type=p.partner_type,
            receiver_type=incoming.partner_type if incoming else "Production",
            receipt_requested=p.request_mdn,
        )
        stored = await self.store.views.add(record, files, "local" if p.uri is None else p.transport)
        if state == "sent":
            self.hub.notify(p.route)
        return stored

    def _new_record(self, station: str, recipient: str, subject: str | None) -> MessageRecord:
        """A /v1 message before its files are stored: a fresh link, which is also its message
        id (every POST is a new message), and the default expiry; the store fills in the
        file fields."""
        now = self.clock()
        link = new_link()
        return MessageRecord(
            seq=0,
            link=link,
            recipient=recipient,
            sender=station,
            message_id=link,
            md5="",
            size=0,
            file_name="",
            pay_for_reply=False,
            priority="normal",
            received_at=now,
            expires_at=now + self.settings.v1_default_expiry,
            payload_id=None,
            subject=subject,
        )

    # -- fan-out ---------------------------------------------------------------------------------
    async def check_list(self, caller: Caller, station: str, list_id: int) -> None:
        """The station must be the caller's (403) and the list the caller's account's (404)."""
        self.check_station(caller, station)
        if await self.store.addressbook.list_owner(list_id) != caller.account_id:
            raise not_found(f"List {list_id} not found")

    async def send_list(
        self, station: str, list_id: int, subject: str | None, files: Sequence[NewFile]
    ) -> FanoutOutcome:
        """Every POST is a new message (its own id); the payloads are stored once."""
        template = self._new_record(station, f"list:{list_id}", subject)  # each copy gets its own link
        members = await self.store.addressbook.member_routes(list_id)
        try:
            outcome = await self.store.add_fanout(template, [(f.blob, f.name, f.content_type) for f in files], members)
        except RelayboxError as exc:
            raise not_found(exc.detail) from None
        for copy in outcome.copies:
            self.hub.notify(copy.recipient)
        return outcome

    # -- views -------------------------------------------------------------------------------
    def query(self, caller: Caller, kind: str, **fields: Any) -> ViewQuery:
        station = fields.pop("station", None)
        if station is not None:
            self.check_station(caller, station)
            stations: tuple[str, ...] = (station,)
        else:
            stations = tuple(caller.stations)
        return ViewQuery(kind=kind, stations=stations, account_id=caller.account_id, now=self.clock(), **fields)

    async def page(self, q: ViewQuery) -> tuple[int, list[MessageView]]:
        if not q.stations:
            return 0, []
        return await self.store.views.page(q)

    async def get(self, caller: Caller, kind: str, link: str, *, mark_read: bool = False) -> MessageView:
        view = await self.store.views.get(self.query(caller, kind, link=link, partner_type=None))
        if view is None:
            raise message_not_found(link)
        if mark_read and kind == "received" and not view.read:
            await self.store.views.mark_read(caller.account_id, [link], self.clock())
            view = replace(view, read=True)
        return view

    async def mark_unread(self, caller: Caller, link: str) -> None:
        await self.get(caller, "received", link)
        await self.store.views.mark_unread(caller.account_id, link)

    async def open_attachment(
        self, caller: Caller, kind: str, link: str, index: int, *, mark_read: bool = False
    ) -> tuple[AttachmentRecord, Payload]:
        view = await self.get(caller, kind, link)
        if index >= len(view.attachments):
            raise not_found(f"Message {link} has no attachment {index}")
        attachment = view.attachments[index]
        payload = await self._open(attachment, link)
        await self._served(caller, kind, view, mark_read)
        return attachment, payload

    async def _open(self, a: AttachmentRecord, link: str) -> Payload:
        if a.payload_id is None:
            raise message_not_found(link)
        try:
            return await self.store.open_payload(a.payload_id)
        except FileNotFoundError:
            raise message_not_found(link) from None  # purged (expired) meanwhile

    async def _served(self, caller: Caller, kind: str, view: MessageView, mark_read: bool) -> None:
        """Attachment bytes go out: the receiver's first download records the receipt."""
        if kind == "received":
            await self.receipts.record_if_due(view.message)
            if mark_read and not view.read:
                await self.store.views.mark_read(caller.account_id, [view.message.link], self.clock())

    async def zip_all(self, caller: Caller, kind: str, link: str, *, mark_read: bool = False) -> bytes:
        view = await self.get(caller, kind, link)
        entries: list[ZipEntry] = [
            (v1.zip_entry_name(a.file_name), await self._read(a, link)) for a in view.attachments
        ]
        await self._served(caller, kind, view, mark_read)
        return await asyncio.to_thread(build_zip, entries)

    async def _read(self, a: AttachmentRecord, link: str) -> bytes:
        payload = await self._open(a, link)
        try:
            whole = payload.whole
            if whole is not None:
                return whole
            return b"".join([chunk async for chunk in payload.chunks(_ZIP_CHUNK)])
        finally:
            payload.close()

    async def batch(self, caller: Caller, links: Sequence[str], *, mark_read: bool = False) -> Batch:
        """Received messages' attachments in one zip, within the batch byte cap."""
        cap = self.settings.v1_batch_max_bytes
        total = 0
        last = (-1, -1)
        truncated = False
        complete: list[str] = []
        entries: list[ZipEntry] = []
        for i, link in enumerate(links):
            folder = v1.zip_entry_name(link) + "/"
            entries.append((folder, None))
            try:
                view = await self.get(caller, "received", link)
            except V1Error as exc:
                entries.append((folder + ".error", exc.message.encode("utf-8")))
                continue
            added = 0
            for a in view.attachments:
                if total + a.size > cap:
                    truncated = True
                    break
                try:
                    data = await self._read(a, link)
                except V1Error as exc:  # expired while we archived
                    entries.append((folder + ".error", exc.message.encode("utf-8")))
                    break
                entries.append((folder + v1.zip_entry_name(a.file_name), data))
                total += a.size
                added += 1
                last = (i, a.index)
            if added:
                await self.receipts.record_if_due(view.message)
            if added == len(view.attachments):
                complete.append(link)
            if truncated:
                break
        if mark_read and complete:
            await self.store.views.mark_read(caller.account_id, complete, self.clock())
        return Batch(await asyncio.to_thread(build_zip, entries), last if truncated else None)

    async def receipt(self, caller: Caller, kind: str, link: str) -> str:
        view = await self.get(caller, kind, link)
        document = await self.store.views.receipt(view.message.link) if view.message.receipt_at else None
        if document is None:
            raise not_found(f"No receipt for message {link}")
        return document

    # -- retry control ----------------------------------------------------------------------------
    async def stop(self, caller: Caller, link: str) -> None:
        if not await self.store.views.set_state(list(caller.stations), link, "stopped", self.clock()):
            raise message_not_found(link)

    async def retry(self, caller: Caller, link: str) -> None:
        if not await self.store.views.set_state(list(caller.stations), link, "queued", self.clock()):
            raise message_not_found(link)
        await self._deliver([link])

    async def _deliver(self, links: Sequence[str]) -> None:
        # The store wakes the receivers' waiters at commit (SQLite: its listener; PostgreSQL:
        # NOTIFY to every node).
        for link in links:
            await self.store.views.deliver(link, self.clock())

    # -- deletion ------------------------------------------------------------------------------
    async def delete(self, caller: Caller, kind: str, links: Sequence[str]) -> int:
        return await self.store.views.delete(kind, list(caller.stations), links, self.clock())

    # -- partners and stations -----------------------------------------------------------------
    async def partners(self, caller: Caller, query: str | None) -> list[PartnerRecord]:
        if not caller.stations:
            return []
        return await self.store.partners.search(list(caller.stations), query)

    async def partner(self, caller: Caller, partner_id: int) -> PartnerRecord:
        p = await self.store.partners.get(partner_id)
        if p is None or not caller.owns(p.station):
            raise not_found(f"Partner {partner_id} not found")
        return p

    async def create_partner(self, caller: Caller | None, fields: Mapping[str, Any]) -> PartnerRecord:
        """``caller`` None: the CLI (any existing station)."""
        station, route = fields["station"], fields["route"]
        if caller is not None:
            self.check_station(caller, station)
        elif await self.store.get_route(station) is None:
            raise bad_request(f"Station {station} is not a route on this server")
        await self._check_local(fields.get("uri"), route)
        try:
            return await self.store.partners.add(station, route, fields, self.clock())
        except Conflict as exc:
            raise V1Error(409, str(exc)) from None

    async def _check_local(self, uri: str | None, route: str) -> None:
        if uri is None and await self.store.get_route(route) is None:
            raise bad_request(f"{route} is not a route on this server; a remote partner needs a uri")

    async def update_partner(self, caller: Caller | None, partner_id: int, fields: Mapping[str, Any]) -> PartnerRecord:
        current = await self.store.partners.get(partner_id)
        if current is None or (caller is not None and not caller.owns(current.station)):
            raise not_found(f"Partner {partner_id} not found")
        if "station" in fields and fields["station"] != current.station:
            raise bad_request("stationAS2Id cannot change")
        changes = {k: v for k, v in fields.items() if k != "station"}
        if "uri" in changes or "route" in changes:
            await self._check_local(changes.get("uri", current.uri), changes.get("route", current.route))
        try:
            result = await self.store.partners.update(partner_id, changes)
        except Conflict as exc:
            raise V1Error(409, str(exc)) from None
        if result is None:
            raise not_found(f"Partner {partner_id} not found")
        before, after = result
        if before.pause_outgoing and not after.pause_outgoing:
            # Clearing the pause delivers what waited for it, within this request.
            await self._deliver(await self.store.views.queued_links(after.station, after.route, after.partner_type))
        return after

    async def delete_partner(self, caller: Caller | None, partner_id: int) -> None:
        current = await self.store.partners.get(partner_id)
        if current is None or (caller is not None and not caller.owns(current.station)):
            raise not_found(f"Partner {partner_id} not found")
        await self.store.partners.remove(partner_id)

    def stations(self, caller: Caller, query: str | None) -> list[StationRecord]:
        found = sorted(caller.stations.values(), key=lambda s: s.route)
        if query:
            q = query.lower()
            found = [s for s in found if q in s.route.lower() or q in (s.name or s.route).lower()]
        return found
