"""The storage interface. The API and the use cases see only this; SQLite today and
PostgreSQL next implement it. Implementations raise ``StoreUnavailable`` when the database or
the payload directory cannot be used, and ``RelayboxError`` for the few rules enforced by
constraints (a message id reused for other content)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from relaybox.auth.sealed import Sealer
    from relaybox.store.accounts import AccountStore
    from relaybox.store.addressbook import AddressBookStore
    from relaybox.store.apikeys import ApiKeyStore
    from relaybox.store.fanout import FanoutOutcome
    from relaybox.store.outbox import OutboxStore
    from relaybox.store.partners import PartnerStore
    from relaybox.store.views import MessageExtras, ViewStore
    from relaybox.store.webhooks import WebhookStore


@dataclass(frozen=True, slots=True)
class RouteRecord:
    route: str
    secret: str
    enabled: bool
    created_at: float
    require_signature: bool = False  # route-API calls must carry request-signature v2


@dataclass(frozen=True, slots=True)
class MessageRecord:
    seq: int
    link: str
    recipient: str
    sender: str
    message_id: str
    md5: str
    size: int
    file_name: str
    pay_for_reply: bool
    priority: str
    received_at: float
    expires_at: float
    payload_id: str | None
    # Management API (/v1) fields; the defaults describe a route-API message.
    subject: str | None = None
    content_type: str = "application/octet-stream"
    sha256: str | None = None
    attachment_count: int = 1
    state: str = "sent"  # sent | queued | stopped
    sender_deleted: bool = False
    receiver_deleted: bool = False
    sender_type: str = "Production"
    receiver_type: str = "Production"
    receipt_requested: bool = False
    receipt_at: float | None = None
    delivered_at: float | None = None  # first download of attachment bytes by the receiver
    read_at: float | None = None  # first /v1 mark-as-read on the receiver's side
    fanout: str | None = None  # the list this copy was sent to ("list:7")

    def expired(self, now: float) -> bool:
        return self.payload_id is None or self.expires_at <= now


@dataclass(frozen=True, slots=True)
class NewMessage:
    """What a send stores; the store adds seq, link and the payload."""

    recipient: str
    sender: str
    message_id: str
    file_name: str
    pay_for_reply: bool
    priority: str
    received_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class SendOutcome:
    message: MessageRecord
    created: bool  # False for an idempotent re-send that matched an existing message


@dataclass(frozen=True, slots=True)
class AttachmentRecord:
    """One file of a message; index 0 is the message row's own file."""

    index: int
    file_name: str
    size: int
    md5: str
    sha256: str | None
    content_type: str
    payload_id: str | None


@dataclass(frozen=True, slots=True)
class FailureRecord:
    """A failed delivery attempt of a message (the /v1 failed list)."""

    id: int
    link: str
    attempted_at: float
    status: int | None  # None: no answer (timeout, connection error)
    error: str


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: int
    email: str
    password_hash: str
    password_version: int
    created_at: float


@dataclass(frozen=True, slots=True)
class StationRecord:
    id: int
    route: str
    name: str | None
    comments: str | None


@dataclass(frozen=True, slots=True)
class PartnerRecord:
    id: int
    station: str
    route: str
    partner_type: str  # Production | Test
    name: str
    description: str
    uri: str | None
    message_subject: str | None
    custom_headers: tuple[tuple[str, str], ...]
    pause_incoming: bool
    pause_outgoing: bool
    send_timeout: int
    request_mdn: bool
    created_at: float
    # Outbound push (a partner with a uri): federation or https, and the secrets it signs
    # with (write-only: never rendered by the API or the CLI; as stored, so sealed when a
    # master key is set: ``Store.sealer.open`` where a push is signed).
    transport: str = "federation"
    remote_route: str | None = None
    remote_secret: str | None = None
    push_secret: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    id: str
    station: str
    url: str
    event_types: tuple[str, ...]
    enabled: bool
    description: str
    standard_webhooks: bool
    timeout: int
    secret: str  # as stored: sealed when a master key is set (``Store.sealer.open``)
    disabled_reason: str | None  # user | gone | failing
    failing_since: float | None
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One event to one endpoint (kind ``webhook``) or one message to a remote partner
    (kind ``push``)."""

    id: str
    kind: str
    webhook_id: str | None
    event_id: str | None
    event_type: str | None
    link: str | None
    state: str  # queued | stopped | sent
    attempts: int
    next_at: float | None
    lease_until: float | None
    lease_token: str | None
    last_at: float | None
    last_status: int | None
    last_error: str | None
    stop_reason: str | None
    remote_link: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class DeliveryFailure:
    delivery_id: str
    webhook_id: str
    event_id: str
    event_type: str
    attempt: int
    attempted_at: float
    status: int | None
    error: str | None
    duration_ms: int
    excerpt: str | None


class Conflict(Exception):
    """A uniqueness rule refused the write (an existing account, partner, ...)."""


@dataclass(frozen=True, slots=True)
class SweepReport:
    purged: int = 0
    tombstones_dropped: int = 0
    payloads_deleted: int = 0
    keys_pruned: int = 0
    orphan_files: int = 0


class BlobWriter(Protocol):
    """A payload being received: written in chunks, durable after ``finish``."""

    @property
    def size(self) -> int: ...

    @property
    def md5(self) -> str: ...

    @property
    def sha256(self) -> str: ...

    async def write(self, chunk: bytes) -> None: ...

    async def finish(self) -> str:
        """Make the bytes durable (fsync + rename) and return the payload id."""
        ...

    async def discard(self) -> None:
        """Forget everything written; safe to call at any point, also after ``finish``."""
        ...


class Payload(Protocol):
    """An opened payload; ``chunks`` closes it when exhausted, ``close`` in any case."""

    @property
    def whole(self) -> bytes | None:
        """All the bytes when they are already in memory (small payloads), else None: the
        HTTP edge then answers with one body instead of a stream."""
        ...

    def chunks(self, chunk_size: int = 65536) -> AsyncIterator[bytes]: ...

    def close(self) -> None: ...


class Store(Protocol):
    # The management API's queries (/v1), on the same database.
    accounts: AccountStore
    partners: PartnerStore
    views: ViewStore
    webhooks: WebhookStore
    outbox: OutboxStore
    addressbook: AddressBookStore
    apikeys: ApiKeyStore
    # Opens the secrets records carry as stored (sealed with RELAYBOX_MASTER_KEY when set).
    sealer: Sealer

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def on_commit(self, listener: Callable[[str], None]) -> None:
        """Have ``listener(recipient)`` called as soon as a new message is visible to readers,
        where a backend knows it before the sender is acknowledged (SQLite: before the WAL
        sync). Backends that cannot tell may never call it."""
        ...

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless database and payload storage answer."""
        ...

    # routes
    async def add_route(self, route: str, secret: str, now: float, *, require_signature: bool = False) -> bool: ...

    async def get_route(self, route: str) -> RouteRecord | None: ...

    async def list_routes(self) -> list[RouteRecord]: ...

    async def set_secret(self, route: str, secret: str) -> bool: ...

    async def set_require_signature(self, route: str, required: bool) -> bool:
        """Whether the route's calls must carry ``request-signature``; False for no such route."""
        ...

    async def remove_route(self, route: str) -> bool: ...

    async def check_sealed(self) -> None:
        """``StoreUnavailable`` when the stored secrets are sealed and the master key cannot open them."""
        ...

    async def reseal_secrets(self) -> int:
        """Seal every stored secret with the first master key; the number rewritten."""
        ...

    # replay cache
    async def use_request_key(self, key: str, expires_at: float) -> bool:
        """Record a used key; False when it was already recorded (a replay)."""
        ...

    # messages
    def new_blob(self) -> BlobWriter: ...

    async def find_sent(self, sender: str, message_id: str, now: float) -> list[MessageRecord]:
        """Unexpired messages this sender already sent with this message id."""
        ...

    async def add_message(self, new: NewMessage, blob: BlobWriter) -> SendOutcome:
        """Commit the message with its finished blob, or return the existing one for an
        idempotent re-send (the caller then discards the blob)."""
        ...

    async def add_fanout(
        self,
        template: MessageRecord,
        blobs: Sequence[tuple[BlobWriter, str, str]],
        members: Sequence[tuple[str | None, int]],
    ) -> FanoutOutcome:
        """One message to every member route of a list (``relaybox.store.fanout``)."""
        ...

    async def mailbox_usage(self, recipient: str, now: float) -> tuple[int, int]:
        """(messages, bytes) in the route's mailbox, unexpired."""
        ...

    async def list_messages(self, recipient: str, now: float) -> list[MessageRecord]: ...

    async def get_message(self, recipient: str, link: str) -> MessageRecord | None:
        """The recipient's message with this link, expired or tombstoned ones included."""
        ...

    async def next_message(self, recipient: str, after_seq: int, now: float) -> MessageRecord | None: ...

    async def open_payload(self, payload_id: str) -> Payload:
        """Open a payload for streaming; ``FileNotFoundError`` when it was purged meanwhile."""
        ...

    async def messages_after(self, after_seq: int, now: float, limit: int = 1000) -> list[MessageRecord]: ...

    async def import_message(
        self,
        record: MessageRecord,
        blob: BlobWriter,
        extras: MessageExtras | None = None,
        extra_blobs: Sequence[BlobWriter] = (),
    ) -> bool: ...

    # housekeeping
    async def sweep(self, now: float, tombstone_ttl: float) -> SweepReport: ...
