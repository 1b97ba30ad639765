"""ASGI middleware at the very edge: a ``request-id`` on every response, and a 500 in the
documented format for anything that escaped the handlers (logged, never shown to the client)."""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relaybox.errors import ErrorCode
from relaybox.wire import headers as h
from relaybox.wire.ids import new_request_id

log = logging.getLogger("relaybox.api")


class EdgeMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (h.REQUEST_ID.encode(), request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("internal error in %s %s (request-id %s)", scope.get("method"), scope.get("path"), request_id)
            if started:
                raise
            err = ErrorCode.INTERNAL
            if str(scope.get("path", "")).startswith("/v1/"):
                # The management API's form: a JSON Generic Response.
                body = json.dumps({"message": err.message}).encode()
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            else:
                body = b""
                headers = [
                    (h.ERROR.encode(), f"code={err.code}; message={err.message}".encode()),
                    (b"content-length", b"0"),
                ]
            await send_with_id({"type": "http.response.start", "status": err.http_status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
