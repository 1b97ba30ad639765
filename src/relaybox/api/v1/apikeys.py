"""``/v1/apikeys``: the calling account's API keys for HMAC request signing (request-signing.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relaybox.api.v1.common import caller, generic, identity, json_body, q
from relaybox.errors import bad_request, not_found
from relaybox.exchange.identity import Refused, create_api_key, render_key
from relaybox.wire import v1


async def create(request: Request) -> Response:
    who = await caller(request)
    doc = await json_body(request)
    if not isinstance(doc, dict):
        raise bad_request('Body must be a JSON object {"name", "expiresDays", "requireTimestamp"}')
    name, days, require = doc.get("name", ""), doc.get("expiresDays"), doc.get("requireTimestamp", False)
    if not isinstance(name, str):
        raise bad_request("name must be a string")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool)):
        raise bad_request("expiresDays must be an integer or null")
    if not isinstance(require, bool):
        raise bad_request("requireTimestamp must be true or false")
    ident = identity(request)
    try:
        key = await create_api_key(ident.store, who.account_id, name, days, require, ident.clock())
    except Refused as exc:
        raise bad_request(str(exc)) from None
    return JSONResponse(render_key(key, who.email, ident.clock(), private=True), status_code=201)


async def list_keys(request: Request) -> Response:
    who = await caller(request)
    page = v1.parse_int("pageOffset", q(request, "pageOffset"), 0, 0)
    length = v1.parse_int("pageLength", q(request, "pageLength"), 10, 1, 100)
    ident = identity(request)
    found = await ident.store.apikeys.list(who.account_id)
    now = ident.clock()
    records = [render_key(k, email, now) for k, email in found[page * length : (page + 1) * length]]
    return JSONResponse({"totalRecords": len(found), "records": records})


async def revoke(request: Request) -> Response:
    who = await caller(request)
    public = request.path_params["public_key"]
    ident = identity(request)
    if not await ident.store.apikeys.revoke(public, ident.clock(), account_id=who.account_id):
        raise not_found(f"API key {public[:64]} not found")
    return generic(f"Revoked API key {public}")
