"""``/v1/webhooks``: endpoints, secrets, test pings, and the deliveries' lists and controls
(docs/webhooks.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relaybox.api.v1.common import caller, generic, json_body, q
from relaybox.errors import not_found
from relaybox.webhooks.manage import Webhooks, render_delivery, render_endpoint, render_ping
from relaybox.wire import v1
from relaybox.wire.events import EVENT_TYPES

_DIRS = {"asc": "asc", "desc": "desc"}
LISTS = ("queued", "sent", "failed")
DELETE_KINDS = ("queued", "stopped", "sent", "failed")
_TYPES = {t: t for t in EVENT_TYPES}


def webhooks(request: Request) -> Webhooks:
    found: Webhooks = request.app.state.webhooks
    return found


def _page(request: Request) -> tuple[int, int]:
    page = v1.parse_int("pageOffset", q(request, "pageOffset"), 0, 0)
    length = v1.parse_int("pageLength", q(request, "pageLength"), 10, 1, 100)
    return page * length, length


async def create(request: Request) -> Response:
    who = await caller(request)
    found, secret = await webhooks(request).create(who, await json_body(request))
    return JSONResponse(
        render_endpoint(found, secret), status_code=201, headers={"Location": f"/v1/webhooks/{found.id}"}
    )


async def list_endpoints(request: Request) -> Response:
    who = await caller(request)
    station = q(request, "stationAS2Id")
    if station is not None:
        station = v1.route_param("stationAS2Id", station)
    offset, limit = _page(request)
    total, found = await webhooks(request).page(who, station, offset, limit)
    return JSONResponse({"totalRecords": total, "records": [render_endpoint(w) for w in found]})


async def endpoint(request: Request) -> Response:
    """GET, PUT or DELETE one endpoint."""
    who = await caller(request)
    wid = request.path_params["id"]
    hooks = webhooks(request)
    if request.method == "GET":
        return JSONResponse(render_endpoint(await hooks.get(who, wid)))
    if request.method == "DELETE":
        await hooks.remove(who, wid)
        return generic(f"Deleted webhook {wid}")
    await hooks.get(who, wid)  # 404 before the body's faults
    return JSONResponse(render_endpoint(await hooks.update(who, wid, await json_body(request))))


async def rotate(request: Request) -> Response:
    who = await caller(request)
    found, secret = await webhooks(request).rotate(who, request.path_params["id"])
    return JSONResponse(render_endpoint(found, secret))


async def test(request: Request) -> Response:
    who = await caller(request)
    return JSONResponse(render_ping(await webhooks(request).test(who, request.path_params["id"])))


# -- deliveries ---------------------------------------------------------------------------------
async def list_deliveries(request: Request) -> Response:
    who = await caller(request)
    kind = request.path_params["kind"]
    if kind not in LISTS:
        raise not_found("Not found")
    offset, limit = _page(request)
    hooks = webhooks(request)
    event_type = q(request, "eventType")
    query = hooks.query(
        who,
        kind,
        webhook_id=q(request, "webhookId") or None,
        event_type=v1.parse_choice("eventType", event_type, _TYPES, "") or None,
        query=q(request, "query") or None,
        descending=v1.parse_choice("sortDir", q(request, "sortDir"), _DIRS, "desc") == "desc",
        offset=offset,
        limit=limit,
    )
    total, found = await hooks.deliveries(query)
    return JSONResponse({"totalRecords": total, "records": [render_delivery(d) for d in found]})


async def delivery(request: Request) -> Response:
    """GET one delivery of a list, or DELETE it."""
    who = await caller(request)
    kind, did = request.path_params["kind"], request.path_params["id"]
    hooks = webhooks(request)
    if request.method == "DELETE":
        if kind not in DELETE_KINDS:
            raise not_found("Not found")
        if not await hooks.delete(who, kind, [did]):
            raise not_found(f"Delivery {did[:64]} not found")
        return generic(f"Deleted delivery {did}")
    if kind not in LISTS:
        raise not_found("Not found")
    return JSONResponse(render_delivery(await hooks.delivery(who, kind, did)))


async def bulk_delete(request: Request) -> Response:
    who = await caller(request)
    kind = request.path_params["kind"]
    if kind not in DELETE_KINDS:
        raise not_found("Not found")
    ids = v1.message_ids(await json_body(request))
    n = await webhooks(request).delete(who, kind, ids)
    return generic(f"Deleted {n} deliveries")


async def stop(request: Request) -> Response:
    who = await caller(request)
    did = request.path_params["id"]
    await webhooks(request).stop(who, did)
    return generic(f"Successfully stopped retrying webhook delivery {did}")


async def retry(request: Request) -> Response:
    who = await caller(request)
    did = request.path_params["id"]
    await webhooks(request).retry(who, did)
    return generic(f"Successfully started retrying webhook delivery {did}")
