"""``/v1/partner``: list/search, get, create, partial update, delete."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relaybox.api.v1 import entities
from relaybox.api.v1.common import caller, generic, json_body, management, q
from relaybox.errors import FORBIDDEN, V1Error, bad_request
from relaybox.exchange.identity import Caller
from relaybox.exchange.management import with_push_secret
from relaybox.wire import v1


def _partner_id(request: Request) -> int:
    number = v1.record_id(request.path_params["partner_id"])
    if number is None:
        raise bad_request("partnerId must be a positive integer")
    return number


def _check_station(who: Caller, doc: object) -> None:
    """A station in the body that is not the caller's is 403, before field checks (400)."""
    station = doc.get("stationAS2Id") if isinstance(doc, dict) else None
    if isinstance(station, str) and not who.owns(station):
        raise V1Error(403, FORBIDDEN)


async def list_partners(request: Request) -> Response:
    who = await caller(request)
    found = await management(request).partners(who, q(request, "query"))
    return JSONResponse([entities.partner(p) for p in found])


async def get_partner(request: Request) -> Response:
    who = await caller(request)
    return JSONResponse(entities.partner(await management(request).partner(who, _partner_id(request))))


async def create_partner(request: Request) -> Response:
    who = await caller(request)
    doc = await json_body(request)
    _check_station(who, doc)
    fields, generated = with_push_secret(v1.partner_fields(doc, create=True), None)
    created = await management(request).create_partner(who, fields)
    return JSONResponse(_shown_once(entities.partner(created), generated), status_code=201)


async def update_partner(request: Request) -> Response:
    who = await caller(request)
    partner_id = _partner_id(request)
    ex = management(request)
    # Fault order: a foreign station in the body (403) before an unknown id (404) before the
    # body's own faults (400, 413).
    try:
        doc, body_fault = await json_body(request), None
    except V1Error as exc:
        doc, body_fault = None, exc
    _check_station(who, doc)
    current = await ex.partner(who, partner_id)
    if body_fault is not None:
        raise body_fault
    fields, generated = with_push_secret(v1.partner_fields(doc, create=False), current)
    return JSONResponse(_shown_once(entities.partner(await ex.update_partner(who, partner_id, fields)), generated))


def _shown_once(doc: dict[str, Any], generated: str | None) -> dict[str, Any]:
    return {**doc, "pushSecret": generated} if generated is not None else doc


async def delete_partner(request: Request) -> Response:
    who = await caller(request)
    partner_id = _partner_id(request)
    await management(request).delete_partner(who, partner_id)
    return generic(f"Deleted partner {partner_id}")


__all__ = ["create_partner", "delete_partner", "get_partner", "list_partners", "update_partner"]
