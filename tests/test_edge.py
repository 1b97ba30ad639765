"""The HTTP edge in-process: a failure nobody planned for is a 500 in the documented format."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from relaybox.api.app import create_app
from relaybox.api.edge import EdgeMiddleware
from relaybox.config import Settings


async def test_unexpected_exception_is_500_with_request_id(caplog: pytest.LogCaptureFixture) -> None:
    async def boom(_request: Request) -> Response:
        raise RuntimeError("secret-ish internal detail")

    # Built as create_app builds it: EdgeMiddleware inside Starlette's own error middleware.
    app = Starlette(routes=[Route("/boom", boom)], middleware=[Middleware(EdgeMiddleware)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        r = await client.get("/boom")
    assert r.status_code == 500
    assert r.headers["error"] == "code=500; message=Internal error"
    assert "secret-ish" not in r.headers["error"]
    assert r.content == b""
    assert r.headers["request-id"] in caplog.text  # logged with the id the client can quote


async def test_app_routes_have_request_ids(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            r = await client.get("/1/ping")
            assert r.status_code == 200 and r.headers["request-id"]
            r = await client.get("/1/list-messages")
            assert r.status_code == 400 and r.headers["error"].startswith("code=100;")
