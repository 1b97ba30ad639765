"""``POST /v1/authorize`` (a token for an account) and ``GET /v1/receipt-key``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relaybox.api.v1.common import MAX_JSON_BODY, identity, management, read_body


async def authorize(request: Request) -> Response:
    token, expiry = await identity(request).authorize(await read_body(request, MAX_JSON_BODY))
    return JSONResponse({"token": token, "expiry": expiry})


async def receipt_key(request: Request) -> Response:
    return JSONResponse(management(request).receipts.key_document)
