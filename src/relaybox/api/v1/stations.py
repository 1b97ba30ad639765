"""``GET /v1/station``: the caller's stations."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relaybox.api.v1 import entities
from relaybox.api.v1.common import caller, management, q


async def list_stations(request: Request) -> Response:
    who = await caller(request)
    found = management(request).stations(who, q(request, "query"))
    return JSONResponse([entities.station(s, who.email) for s in found])
