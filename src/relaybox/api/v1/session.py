"""``POST /v1/authorize`` (a token for an account) and ``GET /v1/receipt-key``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relaybox.api.v1.common import MAX_JSON_BODY, identity, management
from relaybox.errors import V1Error


async def authorize(request: Request) -> Response:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BODY:
            raise V1Error(413, f"Request body is larger than {MAX_JSON_BODY} bytes")
    token, expiry = await identity(request).authorize(bytes(body))
    return JSONResponse({"token": token, "expiry": expiry})


async def receipt_key(request: Request) -> Response:
    return JSONResponse(management(request).receipts.key_document)
