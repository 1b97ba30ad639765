"""The one settings object: ``RELAYBOX_*`` environment variables, overridden by CLI flags.

Read once (``Settings()``) by the command that starts; everything below receives it.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from relaybox.auth import hmac_request
from relaybox.auth.sealed import Sealer
from relaybox.wire import push
from relaybox.wire.push import DEFAULT_SCHEDULE as DEFAULT_RETRY_SCHEDULE

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_DATA_DIR = Path("relaybox-data")
# Vendor default limit on the file in the `data` part.
DEFAULT_MAX_MESSAGE_BYTES = 10 * 1024 * 1024
# 30 days: the longest `message-expires-after` the route API accepts by default.
DEFAULT_MAX_EXPIRES_AFTER = 30 * 24 * 3600
# The vendor's clock tolerance (+-300 s); also how long a used request key is remembered.
DEFAULT_TIMESTAMP_WINDOW = 300
DEFAULT_WAIT_TIMEOUT = 60
DEFAULT_WAIT_TIMEOUT_MAX = 300
# Generous on purpose: it stops a runaway client, not ordinary polling.
DEFAULT_RATE_LIMIT = 200.0
DEFAULT_RATE_BURST = 400
DEFAULT_SWEEP_INTERVAL = 10.0
# How long an expired message stays as a tombstone (no payload) so that it still works as a
# get-next/wait-next cursor and answers 410 instead of 404.
DEFAULT_TOMBSTONE_TTL = 7 * 24 * 3600
# PostgreSQL connections per node (pool + overflow): ten nodes at their peak stay within
# PostgreSQL's default max_connections of 100.
DEFAULT_DB_POOL_SIZE = 5
DEFAULT_DB_POOL_OVERFLOW = 5
# Management API (/v1), as the seed: 50 requests per 10 s, 10 files / 10 MiB per message.
DEFAULT_TOKEN_TTL = 24 * 3600
DEFAULT_V1_RATE_LIMIT = 50
DEFAULT_V1_RATE_WINDOW = 10.0
DEFAULT_V1_MAX_FILES = 10
DEFAULT_V1_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_V1_DEFAULT_EXPIRY = 24 * 3600
# Slow-client bounds of the HTTP protocol (api/protocol.py): a head within 20 s, and each 30 s
# of a body at least one byte and 100 bytes/s (far below any real uplink, far above a slow-loris).
DEFAULT_HEAD_TIMEOUT = 20.0
DEFAULT_BODY_TIMEOUT = 30.0
DEFAULT_BODY_MIN_RATE = 100.0
# A client whose receive window stays full this long (it stopped reading a download) is dropped.
DEFAULT_WRITE_TIMEOUT = 60.0


class Settings(BaseSettings):
    """Server settings. Every field is also ``RELAYBOX_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="RELAYBOX_", extra="ignore")

    host: str = DEFAULT_HOST
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    max_message_bytes: int = Field(DEFAULT_MAX_MESSAGE_BYTES, ge=1)
    max_expires_after: int = Field(DEFAULT_MAX_EXPIRES_AFTER, ge=1)
    timestamp_window: int = Field(DEFAULT_TIMESTAMP_WINDOW, ge=1)
    wait_timeout: int = Field(DEFAULT_WAIT_TIMEOUT, ge=0)
    wait_timeout_max: int = Field(DEFAULT_WAIT_TIMEOUT_MAX, ge=0)
    rate_limit: float = Field(DEFAULT_RATE_LIMIT, ge=0, description="requests per second per route; 0 = off")
    rate_burst: int = Field(DEFAULT_RATE_BURST, ge=1)
    sweep_interval: float = Field(DEFAULT_SWEEP_INTERVAL, gt=0)
    tombstone_ttl: int = Field(DEFAULT_TOMBSTONE_TTL, ge=0)
    db_pool_size: int = Field(DEFAULT_DB_POOL_SIZE, ge=1)
    db_pool_overflow: int = Field(DEFAULT_DB_POOL_OVERFLOW, ge=0)
    workers: int = Field(
        default_factory=lambda: min(os.cpu_count() or 1, 64),
        ge=1,
        le=64,
        description="server processes sharing the port",
    )
    log_level: str = "info"
    # -- management API (/v1) --
    token_ttl: int = Field(DEFAULT_TOKEN_TTL, ge=1, description="lifetime of a /v1 token, seconds")
    v1_rate_limit: int = Field(DEFAULT_V1_RATE_LIMIT, ge=0, description="/v1 requests per window per token; 0 = off")
    v1_rate_window: float = Field(DEFAULT_V1_RATE_WINDOW, gt=0)
    v1_max_files: int = Field(DEFAULT_V1_MAX_FILES, ge=1)
    v1_max_bytes: int = Field(DEFAULT_V1_MAX_BYTES, ge=1, description="total attachment bytes per /v1 message")
    v1_batch_max_bytes: int = Field(DEFAULT_V1_MAX_BYTES, ge=1, description="attachment bytes per batch download")
    v1_default_expiry: int = Field(DEFAULT_V1_DEFAULT_EXPIRY, ge=1, description="expiry of /v1 sends, seconds")
    public_url: str | None = Field(None, description="base URL of Link headers (default: the request's)")
    # -- per-route limits (0 = none) --
    route_quota_messages: int = Field(0, ge=0, description="unexpired messages a mailbox may hold; 0 = no limit")
    route_quota_bytes: int = Field(0, ge=0, description="bytes a mailbox may hold; 0 = no limit")
    waiters_per_route: int = Field(
        100, ge=1, description="wait-next-message calls a route may hold at once, per process"
    )
    # -- slow clients (api/protocol.py; 0 = no bound) --
    head_timeout: float = Field(
        DEFAULT_HEAD_TIMEOUT, ge=0, description="seconds a client has to send a request head (then 408, closed)"
    )
    body_timeout: float = Field(
        DEFAULT_BODY_TIMEOUT, ge=0, description="seconds a request body may go without a byte (then closed)"
    )
    body_min_rate: float = Field(
        DEFAULT_BODY_MIN_RATE, ge=0, description="bytes/s a request body must average over each body_timeout"
    )
    write_timeout: float = Field(
        DEFAULT_WRITE_TIMEOUT, ge=0, description="seconds a client may take no response bytes (then dropped)"
    )
    # -- TLS straight from the server, and the audit log (docs/reliability.md) --
    tls_cert: Path | None = Field(None, description="PEM certificate (chain): serve HTTPS without a proxy")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert")
    audit_log: Path | None = Field(None, description="JSON-lines file of authentication failures (else the log)")
    master_key: str | None = Field(
        None, description="Fernet key(s), comma-separated, sealing route secrets at rest (the first seals)"
    )
    # -- HMAC request signing for /v1 (docs/request-signing.md) --
    hmac_providers: str = Field(
        "relaybox_api=sha256,gotom_app_api=sha1", description="Date+digest provider words and their hashes"
    )
    signature_window: int = Field(300, ge=1, description="seconds a signed request's time may be off")
    rcws_require_timestamp: bool = Field(False, description="refuse RCWS requests without request-timestamp")
    path_prefix: str = Field("", description="path prefix a proxy strips, put back before verifying")
    # -- webhooks and outbound push (docs/webhooks.md) --
    webhook_retry_schedule: str = Field(
        DEFAULT_RETRY_SCHEDULE, description="delays after each failed attempt (s, m, h, d); attempts = delays + 1"
    )
    webhook_jitter: float = Field(0.2, ge=0, lt=1, description="each delay varies uniformly by this fraction")
    webhook_require_https: bool = False
    webhook_max_endpoints: int = Field(20, ge=1, description="webhook endpoints per station")
    webhook_disable_after: str = Field("5d", description="failure streak after which an endpoint is disabled")
    webhook_ca_bundle: Path | None = Field(None, description="PEM file of extra CAs trusted for webhooks and pushes")
    webhook_retention: int = Field(7 * 86400, ge=60, description="seconds finished deliveries stay listed")
    outbox_enabled: bool = Field(True, description="run the delivery workers on this node")
    outbox_concurrency: int = Field(16, ge=1, description="attempts in flight per node")
    outbox_poll: float = Field(1.0, gt=0, description="seconds between looks for due deliveries")

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self

    @field_validator("master_key")
    @classmethod
    def _master_key(cls, value: str | None) -> str | None:
        Sealer(value)  # SealError (a ValueError) names the problem
        return value

    @field_validator("hmac_providers")
    @classmethod
    def _providers(cls, value: str) -> str:
        hmac_request.parse_providers(value)
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        push.parse_schedule(value)
        return value

    @field_validator("webhook_disable_after")
    @classmethod
    def _duration(cls, value: str) -> str:
        push.parse_duration(value)
        return value

    @property
    def retry_delays(self) -> tuple[float, ...]:
        return push.parse_schedule(self.webhook_retry_schedule)

    @property
    def store_url(self) -> str:
        """The SQLAlchemy URL of the store: ``database_url`` or SQLite under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'relaybox.db').resolve()}"
