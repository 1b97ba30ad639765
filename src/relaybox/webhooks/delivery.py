"""The outbox workers: attempt due deliveries (webhook events and pushes to remote partners)
and record each outcome. Every node runs one ``Outbox``; claims are leased in the database, so
nodes never attempt the same delivery at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from relaybox import __version__
from relaybox.config import Settings
from relaybox.store.base import Store, WebhookRecord
from relaybox.store.events import on_deliveries
from relaybox.store.outbox import Job, Outcome, Policy
from relaybox.webhooks.signature import sign
from relaybox.wire import events as ev
from relaybox.wire import headers as h
from relaybox.wire import push
from relaybox.wire.ids import new_event_id

log = logging.getLogger("relaybox.outbox")
# httpx logs every request's URL at INFO; an endpoint's URL may carry a token of its own.
logging.getLogger("httpx").setLevel(logging.WARNING)

EXCERPT_BYTES = 4096
WEBHOOK_AGENT = f"relaybox-webhooks/{__version__}"
PUSH_AGENT = f"relaybox-push/{__version__}"


@dataclass(frozen=True, slots=True)
class PingResult:
    event_id: str
    ok: bool
    status: int | None
    duration_ms: int
    error: str | None


def _tls(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.webhook_ca_bundle is not None:
        context.load_verify_locations(cafile=str(settings.webhook_ca_bundle))
    return context


def new_client(settings: Settings) -> httpx.AsyncClient:
    """No redirects, certificates verified, and a cookie jar that keeps nothing: no endpoint
    ever sees another one's cookies."""
    return httpx.AsyncClient(
        follow_redirects=False,
        verify=_tls(settings),
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        trust_env=False,
        timeout=None,  # each attempt has its own deadline (asyncio.timeout)
    )


def _error_name(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timeout"
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        if "certificate" in text.lower() or "ssl" in text.lower():
            return f"tls error: {text}"[:512]
        if "Name or service not known" in text or "nodename" in text or "getaddrinfo" in text:
            return f"dns failure: {text}"[:512]
        return f"connection refused: {text}"[:512]
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return f"connection reset: {text}"[:512]
    return f"{type(exc).__name__}: {text}"[:512]


class Outbox:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._rand = rand
        self._client = client
        self._own_client = client is None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._unlisten: Callable[[], None] | None = None
        delays = settings.retry_delays
        self.policy = Policy(
            next_delay=lambda n: push.next_delay(delays, n, settings.webhook_jitter, self._rand),
            disable_after=push.parse_duration(settings.webhook_disable_after),
            refused=push.REFUSED_STATUSES,
        )

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = new_client(self.settings)
        return self._client

    # -- running ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._unlisten = on_deliveries(self.nudge)
            self._task = asyncio.create_task(self._loop(), name="relaybox-outbox")

    async def close(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def nudge(self) -> None:
        """Something may be due now (a local commit wrote deliveries, a retry by hand)."""
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once(wait=False)
                wait = self.settings.outbox_poll
                due = await self.store.outbox.next_due()
                if due is not None:
                    wait = min(wait, max(due - self.clock(), 0.0))
            except asyncio.CancelledError:
                raise
            except Exception:  # a database outage: log, keep going, look again later
                log.exception("outbox worker")
                wait = self.settings.outbox_poll
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                # A commit that nudged us may still be finishing on another connection.
                await asyncio.sleep(0.02)
            self._wake.clear()

    async def run_once(self, *, wait: bool = True) -> int:
        """Claim what is due and start the attempts; with ``wait``, finish them (tests drive
        the schedule this way with their own clock). The number of attempts started."""
        room = self.settings.outbox_concurrency - len(self._running)
        if room <= 0:
            return 0
        jobs = await self.store.outbox.claim(self.clock(), room)
        started = [self._spawn(job) for job in jobs]
        if wait and started:
            await asyncio.gather(*started)
        return len(started)

    def _spawn(self, job: Job) -> asyncio.Task[None]:
        task = asyncio.create_task(self._run(job))
        self._running.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._running.discard(t)
            self._wake.set()  # room for more, and this endpoint may have more due

        task.add_done_callback(done)
        return task

    async def _run(self, job: Job) -> None:
        try:
            outcome = await (self._webhook(job) if job.delivery.kind == "webhook" else self._push(job))
        except Exception as exc:  # never lose the lease silently: record it as a failed attempt
            log.exception("delivery %s", job.delivery.id)
            outcome = Outcome(status=None, error=_error_name(exc), duration_ms=0)
        try:
            await self.store.outbox.complete(job, outcome, self.clock(), self.policy)
        except Exception:
            # The lease expires and the delivery is attempted again: at-least-once.
            log.exception("recording the outcome of delivery %s", job.delivery.id)

    # -- one HTTP attempt ----------------------------------------------------------------------------
    async def _post(
        self, url: str, timeout: float, *, content: bytes | None = None, files: Any = None, headers: dict[str, str]
    ) -> tuple[Outcome, httpx.Response | None]:
        started = time.monotonic()
        response: httpx.Response | None = None
        excerpt = bytearray()
        try:
            async with asyncio.timeout(timeout):
                request = self.client.build_request("POST", url, content=content, files=files, headers=headers)
                response = await self.client.send(request, stream=True)
                try:
                    async for chunk in response.aiter_raw():
                        if len(excerpt) < EXCERPT_BYTES:
                            excerpt += chunk[: EXCERPT_BYTES - len(excerpt)]
                        else:
                            break  # the rest is discarded
                finally:
                    await response.aclose()
        except Exception as exc:
            ms = int((time.monotonic() - started) * 1000)
            status = None if response is None or isinstance(exc, TimeoutError) else response.status_code
            return Outcome(status=status, error=_error_name(exc), duration_ms=ms), None
        ms = int((time.monotonic() - started) * 1000)
        status = response.status_code
        if 200 <= status < 300:
            return Outcome(status=status, error=None, duration_ms=ms), response
        retry = push.retry_after(response.headers.get("retry-after"), self.clock())
        text = excerpt.decode("utf-8", "replace")
        return (
            Outcome(
                status=status,
                error=response.headers.get(h.ERROR) or f"HTTP {status}",
                duration_ms=ms,
                excerpt=text or None,
                retry_after=retry,
            ),
            response,
        )

    def _webhook_headers(
        self, hook: WebhookRecord, body: bytes, event_id: str, event_type: str, attempt: int
    ) -> dict[str, str]:
        signed = sign(body, self.store.sealer.open(hook.secret), event_id=event_id, timestamp=int(self.clock()))
        if not hook.standard_webhooks:
            signed = {"Signature": signed["Signature"]}
        return {
            "Content-Type": "application/json",
            "User-Agent": WEBHOOK_AGENT,
            **signed,
            "Relaybox-Event-Id": event_id,
            "Relaybox-Event-Type": event_type,
            "Relaybox-Attempt": str(attempt),
        }

    async def _webhook(self, job: Job) -> Outcome:
        hook, body, d = job.webhook, job.body, job.delivery
        assert hook is not None and body is not None and d.event_id and d.event_type
        headers = self._webhook_headers(hook, body, d.event_id, d.event_type, job.attempt)
        outcome, _ = await self._post(hook.url, hook.timeout, content=body, headers=headers)
        return outcome

    async def ping(self, hook: WebhookRecord) -> PingResult:
        """``POST /v1/webhooks/{id}/test``: one ``ping`` now, never retried or listed."""
        now = self.clock()
        event_id = new_event_id(now)
        event = {"webhook_id": hook.id, "station": hook.station, "message": "relaybox webhook test"}
        body = ev.envelope(event_id, ev.PING, now, event)
        headers = self._webhook_headers(hook, body, event_id, ev.PING, 1)
        outcome, _ = await self._post(hook.url, hook.timeout, content=body, headers=headers)
        return PingResult(event_id, outcome.ok, outcome.status, outcome.duration_ms, outcome.error)

    # -- pushes to remote partners ------------------------------------------------------------------
    async def _push(self, job: Job) -> Outcome:
        m, p = job.message, job.partner
        assert m is not None and p is not None and p.uri is not None and m.payload_id is not None
        payload = await self.store.open_payload(m.payload_id)
        try:
            data = payload.whole
            if data is None:
                data = b"".join([chunk async for chunk in payload.chunks()])
        finally:
            payload.close()
        now = self.clock()
        custom = dict(p.custom_headers)
        if p.transport == "https":
            url = p.uri
            headers = push.https_headers(
                now=now,
                sender_route=m.sender,
                to=m.recipient,
                message_id=m.message_id,
                file_name=m.file_name,
                md5=m.md5,
                expires_at=m.expires_at,
                pay_for_reply=m.pay_for_reply,
                content_type=m.content_type,
                body_md5=m.md5,
                uri_path_and_query=httpx.URL(url).raw_path.decode("ascii"),
                push_secret=self.store.sealer.open(p.push_secret or ""),
                custom=p.custom_headers,
            )
            headers["User-Agent"] = PUSH_AGENT
            outcome, _ = await self._post(url, p.send_timeout, content=data, headers=headers)
            return outcome
        headers = push.federation_headers(
            now=now,
            sender_route=p.remote_route or m.sender,
            to=m.recipient,
            message_id=m.message_id,
            md5=m.md5,
            expires_in=max(int(m.expires_at - now), 1),
            pay_for_reply=m.pay_for_reply,
            secret=self.store.sealer.open(p.remote_secret or ""),
        )
        taken = {name.lower() for name in headers}
        for name, value in custom.items():
            if name.lower() not in taken:  # never replaces a header relaybox sets
                headers[name] = value
        headers["User-Agent"] = PUSH_AGENT
        files = {"data": (m.file_name, data, "application/octet-stream")}
        outcome, response = await self._post(push.federation_url(p.uri), p.send_timeout, files=files, headers=headers)
        if outcome.ok and response is not None:
            return Outcome(
                status=outcome.status,
                error=None,
                duration_ms=outcome.duration_ms,
                remote_link=response.headers.get(h.MESSAGE_LINK),
            )
        return outcome
