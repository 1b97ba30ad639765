"""What every /v1 handler shares: the caller, query values, JSON bodies, Generic Responses."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relaybox.errors import UNAUTHORIZED, V1Error, bad_request, not_found
from relaybox.exchange.identity import Caller, Identity
from relaybox.exchange.management import Management
from relaybox.exchange.signed import SignedRequest, refuse
from relaybox.wire import v1

MAX_JSON_BODY = 1024 * 1024
# Text no store can keep: NUL (PostgreSQL text refuses it) and unpaired surrogates (JSON's
# "\ud800" escapes; not encodable as UTF-8, for either store). Refused at the edge, else the
# database error would surface as a 503 (or a 500).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def identity(request: Request) -> Identity:
    found: Identity = request.app.state.identity
    return found


def management(request: Request) -> Management:
    found: Management = request.app.state.management
    return found


async def caller(request: Request) -> Caller:
    """401 / 429 first, before anything else about the request is looked at; then the query
    values' length rule (400). A token (JWT), or an HMAC-signed request (RCWS, Date+digest)."""
    who = identity(request)
    authorization = request.headers.get("authorization")
    if authorization is not None and signed_scheme(request):
        signed = SignedRequest(
            method=request.method,
            path=request.scope.get("raw_path", request.url.path.encode()).decode("latin-1").split("?", 1)[0],
            query=request.scope.get("query_string", b"").decode("latin-1"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]],
            body=await _signed_body(request, who.settings.v1_max_bytes + MAX_JSON_BODY),
        )
        found = await who.authenticate_signed(authorization, signed)
    else:
        kind = who.hmac.kind(authorization)
        if kind == "missing":
            raise refuse("auth-required", UNAUTHORIZED)
        if kind == "unsupported":
            raise refuse("unsupported-scheme", "Unsupported authentication scheme")
        found = await who.authenticate(authorization)
    for name, value in request.query_params.multi_items():
        v1.query_value(request.query_params, name)
        if _UNSTORABLE.search(value):
            raise bad_request(f"Query parameter {name} contains a NUL character")
    if any(_UNSTORABLE.search(str(value)) for value in request.path_params.values()):
        raise not_found("Not found")
    return found


def signed_scheme(request: Request) -> bool:
    """Whether the request's Authorization names an HMAC scheme (its errors are problem+json)."""
    found: bool = identity(request).hmac.names(request.headers.get("authorization"))
    return found


async def _signed_body(request: Request, most: int) -> bytes:
    """The whole body (a signature covers it); kept by Starlette for the handler to read again."""
    request._body = await read_body(request, most)  # Starlette's cache: request.stream() replays it
    return request._body


async def read_body(request: Request, most: int) -> bytes:
    """The whole body, 413 past ``most`` bytes (declared or counted: chunked bodies too)."""
    declared = v1.decimal(request.headers.get("content-length"))
    if declared is not None and declared > most:
        raise V1Error(413, f"Request body is larger than {most} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > most:
            raise V1Error(413, f"Request body is larger than {most} bytes")
    return bytes(body)


def q(request: Request, name: str) -> str | None:
    return v1.query_value(request.query_params, name)


def generic(message: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """The seed's Generic Response: ``{"message": TEXT}``."""
    return JSONResponse({"message": message}, status_code=status, headers=headers)


async def json_body(request: Request) -> Any:
    """The request's JSON document: 413 over 1 MiB, 400 when it is not JSON."""
    body = await read_body(request, MAX_JSON_BODY)
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting too deep ([[[[...), not a 500
        raise bad_request("Body must be JSON") from None
    if not _storable(doc):
        raise bad_request("Body must not contain NUL characters or unpaired surrogates (\\u0000, \\ud800-\\udfff)")
    return doc


def _storable(doc: Any) -> bool:
    """No string of the document, key or value, holds text a store cannot keep (iterative: a
    document may nest as deep as the parser allowed)."""
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True
