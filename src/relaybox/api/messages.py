"""Handlers of ``/1/...``: send-message, list-messages, get/get-next/wait-next-message, ping."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from relaybox.api.upload import receive_data_part
from relaybox.exchange.service import Exchange
from relaybox.store.base import MessageRecord
from relaybox.wire import headers as h
from relaybox.wire.files import content_disposition, header_file_name
from relaybox.wire.timestamps import format_date

T = TypeVar("T")


def _exchange(request: Request) -> Exchange:
    ex: Exchange = request.app.state.exchange
    return ex


def _authenticate(request: Request, ex: Exchange) -> Awaitable[str]:
    return ex.auth.authenticate(request.headers, scope=request.scope, path_prefix=ex.settings.path_prefix)


async def send_message(request: Request) -> Response:
    ex = _exchange(request)
    sender, signature = await ex.auth.authenticate_send(
        request.headers, scope=request.scope, path_prefix=ex.settings.path_prefix
    )
    req = ex.parse_send(request.headers)
    await ex.check_send(sender, req)
    if signature is not None:
        # request-signature covers the raw body: hash it as the multipart parser reads it.
        request = Request(request.scope, signature.wrap(request.receive))
    blob = ex.store.new_blob()
    try:
        file_name = await receive_data_part(request, blob, ex.settings.max_message_bytes)
        if signature is not None:
            signature.verify()  # 401 code 101 before anything is committed
        if h.list_id(req.to) is not None:
            # A fan-out answers who got a copy (additive: a direct send's body stays empty).
            fanned = await ex.send_list(sender, req, blob, file_name)
            return JSONResponse(fanned.result)
        outcome = await ex.send(sender, req, blob, file_name)
    except ClientDisconnect:
        await blob.discard()
        return Response(status_code=400)  # nobody is listening; nothing was stored
    except BaseException:
        await blob.discard()
        raise
    return Response(headers={h.MESSAGE_LINK: outcome.message.link})


async def list_messages(request: Request) -> Response:
    ex = _exchange(request)
    route = await _authenticate(request, ex)
    return JSONResponse([_list_entry(m) for m in await ex.list(route)])


def _list_entry(m: MessageRecord) -> dict[str, object]:
    return {
        "link": m.link,
        "received_date": format_date(m.received_at),
        "expiration_date": format_date(m.expires_at),
        "from": m.sender,
        "message_id": m.message_id,
        "file_name": m.file_name,
        "size": m.size,
        "md5": m.md5,
        "attachment_count": m.attachment_count,
    }


async def get_message(request: Request) -> Response:
    ex = _exchange(request)
    route = await _authenticate(request, ex)
    index = h.parse_index(request.query_params.get("index"))
    record = await ex.get(route, request.path_params["link"])
    return await _message_response(ex, record, index)


async def get_next_message(request: Request) -> Response:
    ex = _exchange(request)
    route = await _authenticate(request, ex)
    record = await ex.get_next(route, request.path_params["link"])
    return await _message_response(ex, record)


async def wait_next_message(request: Request) -> Response:
    ex = _exchange(request)
    route = await _authenticate(request, ex)
    timeout = h.parse_timeout(
        request.query_params.get("timeout"), default=ex.settings.wait_timeout, maximum=ex.settings.wait_timeout_max
    )
    waited = await _until_disconnect(request, ex.wait_next(route, request.path_params["link"], timeout))
    if waited is None or waited[0] is None:
        return Response(status_code=204)
    return await _message_response(ex, waited[0])


async def ping(request: Request) -> Response:
    ex = _exchange(request)
    if ex.auth.has_credentials(request.headers):
        await _authenticate(request, ex)
    await ex.store.ping()
    return PlainTextResponse("ok")


async def _message_response(ex: Exchange, m: MessageRecord, index: int = 0) -> Response:
    """Attachment ``index`` of the message (the only one of a route-API send); the headers
    describe that file."""
    a, payload = await ex.open_payload(m, index)
    headers = {
        "Content-Length": str(a.size),
        "Content-Disposition": content_disposition(a.file_name),
        "Content-Description": "File Transfer",
        "Content-Transfer-Encoding": "binary",
        "Cache-Control": "must-revalidate, post-check=0, pre-check=0",
        "Pragma": "public",
        h.R_MESSAGE_LINK: m.link,
        h.R_MESSAGE_FILE_NAME: header_file_name(a.file_name),
        h.R_MESSAGE_FROM: m.sender,
        h.R_MESSAGE_ID: m.message_id,
        h.R_MESSAGE_MD5: a.md5,
        h.R_MESSAGE_EXPIRES: format_date(m.expires_at),
        h.R_PAY_FOR_REPLY: "1" if m.pay_for_reply else "0",
        h.R_ATTACHMENT_COUNT: str(m.attachment_count),
    }
    body = payload.whole
    if body is not None:
        # Already in memory: one body, without the task group a streamed response needs.
        return Response(body, media_type="application/octet-stream", headers=headers)
    return StreamingResponse(payload.chunks(), media_type="application/octet-stream", headers=headers)


async def _until_disconnect(request: Request, work: Awaitable[T]) -> tuple[T] | None:
    """Run ``work`` until it finishes or the client goes away (then cancel it: a long-poll
    must not outlive its connection). None when the client disconnected."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        return None
    return (task.result(),)


async def _disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
