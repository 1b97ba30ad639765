"""``create_app(settings)``: the ASGI application and its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from relaybox.api import audit, errors, messages, openapi, protocol, v1
from relaybox.api.edge import EdgeMiddleware
from relaybox.config import Settings
from relaybox.errors import RelayboxError, V1Error
from relaybox.exchange.expiry import Sweeper
from relaybox.exchange.identity import Identity
from relaybox.exchange.management import Management
from relaybox.exchange.receipts import Receipts
from relaybox.exchange.service import Exchange
from relaybox.notify import make_hub
from relaybox.store import Store, make_store
from relaybox.webhooks.delivery import Outbox
from relaybox.webhooks.manage import Webhooks

log = logging.getLogger("relaybox")

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def app_from_env() -> Starlette:
    """The app of one worker of ``serve --workers N``: settings come from ``RELAYBOX_*``, which
    the parent set from its own resolved settings before starting the workers."""
    _exit_with_parent()
    return create_app(Settings())


def _exit_with_parent() -> None:
    """A worker whose supervisor was killed (SIGKILL, OOM) gets SIGTERM and shuts down instead
    of serving on as an orphan that holds the port and the store (Linux; elsewhere a no-op)."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:  # the parent died before the call above
            os.kill(os.getpid(), signal.SIGTERM)


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    store = store or make_store(settings)
    audit.configure(settings.audit_log)
    hub = make_hub(settings)
    receipts = Receipts(store)
    exchange = Exchange(store, hub, settings, receipts)
    identity = Identity(store, settings)
    management = Management(store, hub, settings, receipts)
    sweeper = Sweeper(
        store,
        interval=settings.sweep_interval,
        tombstone_ttl=settings.tombstone_ttl,
        delivery_retention=settings.webhook_retention,
    )
    outbox = Outbox(store, settings)
    hooks = Webhooks(store, settings, outbox)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open()
        await store.check_sealed()
        await identity.start()
        await receipts.start()
        await hub.start()
        task = asyncio.create_task(sweeper.run_forever(), name="relaybox-sweeper")
        if settings.outbox_enabled:
            outbox.start()
        forget = protocol.on_server_shutdown(exchange.drain)
        try:
            yield
        finally:
            forget()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await outbox.close()
            await receipts.settle()
            await hub.stop()
            await store.close()

    handlers = [
        Route("/1/send-message", messages.send_message, methods=["POST"]),
        Route("/1/list-messages", messages.list_messages, methods=["GET"]),
        Route("/1/get-message/{link:path}", messages.get_message, methods=["GET"]),
        Route("/1/get-next-message/{link:path}", messages.get_next_message, methods=["GET"]),
        Route("/1/wait-next-message/{link:path}", messages.wait_next_message, methods=["GET"]),
        Route("/1/ping", messages.ping, methods=["GET"]),
        *v1.handlers(),
        Route("/openapi.json", openapi.openapi_json, methods=["GET"]),
        Route("/docs", openapi.swagger_ui, methods=["GET"]),
        Route("/redoc", openapi.redoc, methods=["GET"]),
    ]
    app = Starlette(
        routes=handlers,
        middleware=[Middleware(EdgeMiddleware)],
        exception_handlers={
            RelayboxError: errors.relaybox_error,
            V1Error: errors.v1_error,
            HTTPException: errors.http_error,
        },
        lifespan=lifespan,
    )
    app.state.exchange = exchange
    app.state.identity = identity
    app.state.management = management
    app.state.sweeper = sweeper
    app.state.webhooks = hooks
    app.state.settings = settings
    return app
