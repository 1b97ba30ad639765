"""The route API's use cases: send, list, get, get-next, wait-next."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from relaybox.config import Settings
from relaybox.errors import ErrorCode, RelayboxError, StoreUnavailable
from relaybox.exchange.authn import Authenticator
from relaybox.exchange.ratelimit import RateLimiter
from relaybox.exchange.receipts import Receipts
from relaybox.notify.hub import Hub
from relaybox.store.base import AttachmentRecord, BlobWriter, MessageRecord, NewMessage, Payload, SendOutcome, Store
from relaybox.store.fanout import FanoutOutcome
from relaybox.wire import headers as h
from relaybox.wire.ids import START_LINK, is_link


@dataclass(frozen=True, slots=True)
class SendRequest:
    """The validated headers of a send-message call."""

    to: str
    message_id: str
    md5: str
    expires_after: int
    priority: str
    pay_for_reply: bool


class Exchange:
    def __init__(
        self, store: Store, hub: Hub, settings: Settings, receipts: Receipts, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.hub = hub
        self.settings = settings
        self.receipts = receipts
        self.clock = clock
        # Waiters wake as soon as the store makes a message visible (and again, harmlessly,
        # after its send returns, for stores that do not say).
        store.on_commit(hub.notify)
        self._waiting: dict[str, int] = {}  # wait-next-message calls held, per route
        self._draining = False
        self.auth = Authenticator(
            store,
            window=settings.timestamp_window,
            limiter=RateLimiter(settings.rate_limit, settings.rate_burst),
            clock=clock,
        )

    # -- send ------------------------------------------------------------------------------
    def parse_send(self, headers: Mapping[str, str]) -> SendRequest:
        """Header checks after authentication: 100 first, then 205 and 206."""
        to = h.parse_message_to(headers.get(h.MESSAGE_TO))
        message_id = h.parse_message_id(headers.get(h.MESSAGE_ID))
        md5 = h.parse_message_md5(headers.get(h.MESSAGE_MD5))
        pay_for_reply = h.parse_pay_for_reply(headers.get(h.PAY_FOR_REPLY))
        expires_raw = headers.get(h.MESSAGE_EXPIRES_AFTER)
        priority_raw = headers.get(h.MESSAGE_PRIORITY)
        # A malformed priority (100) must win over an out-of-range expiry (205), which is
        # checked first below: 100s come before every other code.
        h.clean_value(h.MESSAGE_PRIORITY, priority_raw, required=False)
        expires_after = h.parse_expires_after(expires_raw, maximum=self.settings.max_expires_after)
        priority = h.parse_priority(priority_raw)
        return SendRequest(to, message_id, md5, expires_after, priority, pay_for_reply)

    async def check_send(self, sender: str, req: SendRequest) -> None:
        """Refusals that need no body: unknown recipient (201), message id taken (204)."""
        list_id = h.list_id(req.to)
        if list_id is not None:
            await self.check_list(sender, list_id)
            return
        recipient = await self.store.get_route(req.to)
        if recipient is None or not recipient.enabled:
            # Not here: a partner record of the sender with a uri makes it a remote route,
            # reached by the outbox (federation or https push).
            partner = await self.store.partners.resolved(sender, req.to)
            if partner is None or partner.uri is None:
                raise RelayboxError(ErrorCode.RECIPIENT_NOT_FOUND)
        await self._check_quota(req.to, 0)
        # A receiver that paused this sender (/v1 partner setting) is refused at commit, in the
        # send's own transaction (one query there resolves both sides' partner records).
        for old in await self.store.find_sent(sender, req.message_id, self.clock()):
            if old.recipient != req.to or old.md5 != req.md5:
                raise RelayboxError(ErrorCode.MESSAGE_ID_CONFLICT)

    async def send(self, sender: str, req: SendRequest, blob: BlobWriter, file_name: str) -> SendOutcome:
        """Commit a received payload as a message; the caller discards ``blob`` on error."""
        if blob.md5 != req.md5:
            raise RelayboxError(ErrorCode.MD5_MISMATCH)
        await self._check_quota(req.to, blob.size)
        now = self.clock()
        new = NewMessage(
            recipient=req.to,
            sender=sender,
            message_id=req.message_id,
            file_name=file_name,
            pay_for_reply=req.pay_for_reply,
            priority=req.priority,
            received_at=now,
            expires_at=now + req.expires_after,
        )
        outcome = await self.store.add_message(new, blob)
        if outcome.created:
            self.hub.notify(req.to)
        return outcome

    async def _check_quota(self, recipient: str, size: int) -> None:
        """507 code 208 when the recipient's mailbox is at its quota (messages or bytes). A soft
        limit: concurrent sends may pass it by what they carry."""
        most_messages, most_bytes = self.settings.route_quota_messages, self.settings.route_quota_bytes
        if not (most_messages or most_bytes):
            return
        count, used = await self.store.mailbox_usage(recipient, self.clock())
        if (most_messages and count + 1 > most_messages) or (most_bytes and used + size > most_bytes):
            raise RelayboxError(ErrorCode.MAILBOX_FULL)

    async def check_list(self, sender: str, list_id: int) -> None:
        """A fan-out's list must belong to an account that has the sending route as a station;
        any other list is unknown (201), as an unknown route is."""
        owner = await self.store.addressbook.list_owner(list_id)
        if owner is None or not any(s.route == sender for s in await self.store.accounts.stations_of(owner)):
            raise RelayboxError(ErrorCode.RECIPIENT_NOT_FOUND, "No such list")

    async def send_list(self, sender: str, req: SendRequest, blob: BlobWriter, file_name: str) -> FanoutOutcome:
        """A fan-out: the payload once, a copy per member route (request-signing.md)."""
        if blob.md5 != req.md5:
            raise RelayboxError(ErrorCode.MD5_MISMATCH)
        list_id = h.list_id(req.to)
        assert list_id is not None
        members = await self.store.addressbook.member_routes(list_id)
        now = self.clock()
        template = MessageRecord(
            seq=0,
            link="",
            recipient=req.to,
            sender=sender,
            message_id=req.message_id,
            md5=req.md5,
            size=0,
            file_name=file_name,
            pay_for_reply=req.pay_for_reply,
            priority=req.priority,
            received_at=now,
            expires_at=now + req.expires_after,
            payload_id=None,
        )
        outcome = await self.store.add_fanout(template, [(blob, file_name, "application/octet-stream")], members)
        for copy in outcome.copies:
            self.hub.notify(copy.recipient)
        return outcome

    # -- receive ---------------------------------------------------------------------------
    async def list(self, route: str) -> list[MessageRecord]:
        return await self.store.list_messages(route, self.clock())

    async def get(self, route: str, link: str) -> MessageRecord:
        record = await self._find(route, link)
        if record.expired(self.clock()):
            raise RelayboxError(ErrorCode.MESSAGE_EXPIRED)
        return record

    async def get_next(self, route: str, link: str) -> MessageRecord:
        after = await self._cursor(route, link)
        record = await self.store.next_message(route, after, self.clock())
        if record is None:
            raise RelayboxError(ErrorCode.NO_NEWER_MESSAGE)
        return record

    async def wait_next(self, route: str, link: str, timeout: float) -> MessageRecord | None:
        """The next message after ``link``, waiting up to ``timeout`` s for one; None on timeout."""
        after = await self._cursor(route, link)
        deadline = time.monotonic() + timeout
        if self._waiting.get(route, 0) >= self.settings.waiters_per_route:
            raise RelayboxError(ErrorCode.RATE_LIMITED, "Too many waiting requests for this route", retry_after=1)
        self._waiting[route] = self._waiting.get(route, 0) + 1
        try:
            return await self._wait(route, after, deadline)
        finally:
            self._waiting[route] -= 1
            if not self._waiting[route]:
                del self._waiting[route]

    def drain(self) -> None:
        """The server is shutting down: held waits end now with their timeout answer (204),
        which a client re-polls, instead of being cancelled at the end of the grace period
        (which answered 500 and logged a traceback per waiter)."""
        if not self._draining:
            self._draining = True
            self.hub.notify_all()

    async def _wait(self, route: str, after: int, deadline: float) -> MessageRecord | None:
        # Subscribe before reading so a commit between the read and the wait still wakes us.
        with self.hub.subscribe(route) as sub:
            record = await self.store.next_message(route, after, self.clock())
            while record is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._draining:
                    return None
                poll = self.hub.poll_interval
                await sub.wait(remaining if poll is None else min(remaining, poll))
                try:
                    record = await self.store.next_message(route, after, self.clock())
                except StoreUnavailable:
                    # A database restart while we hold a long-poll: keep holding it and look
                    # again at the next wake-up or poll; the client sees nothing of a short outage.
                    continue
            return record

    async def open_payload(self, record: MessageRecord, index: int = 0) -> tuple[AttachmentRecord, Payload]:
        """Open attachment ``index`` (404 code 301 past the last) of a message the receiver is
        about to get; a purge that won the race reads as expired (410). This is a download by
        the receiver: a receipt the sender asked for is recorded now."""
        found = await self.store.views.attachment(record, index)
        if found is None:
            raise RelayboxError(ErrorCode.MESSAGE_NOT_FOUND, "No attachment with that index")
        if found.payload_id is None:
            raise RelayboxError(ErrorCode.MESSAGE_EXPIRED)
        try:
            payload = await self.store.open_payload(found.payload_id)
        except FileNotFoundError:
            raise RelayboxError(ErrorCode.MESSAGE_EXPIRED) from None
        try:
            await self.receipts.record_if_due(record)
        except BaseException:
            payload.close()
            raise
        return found, payload

    async def _find(self, route: str, link: str) -> MessageRecord:
        record = await self.store.get_message(route, link) if is_link(link) else None
        if record is None:
            raise RelayboxError(ErrorCode.MESSAGE_NOT_FOUND)
        return record

    async def _cursor(self, route: str, link: str) -> int:
        if link == START_LINK:
            return 0
        # Expired messages (tombstones) still work as cursors.
        return (await self._find(route, link)).seq
