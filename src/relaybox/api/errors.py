"""The one place errors become HTTP: ``error: code=NNN; message=TEXT``, empty body."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from relaybox.errors import ErrorCode, RelayboxError
from relaybox.wire import headers as h


def error_response(error: RelayboxError) -> Response:
    headers = {h.ERROR: f"code={error.code}; message={error.detail}"}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return Response(status_code=error.http_status, headers=headers)


async def relaybox_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RelayboxError)
    return error_response(exc)


async def http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        response = error_response(RelayboxError(ErrorCode.METHOD_NOT_ALLOWED))
        if exc.headers and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    if exc.status_code == 404:
        return error_response(RelayboxError(ErrorCode.UNKNOWN_ENDPOINT))
    if exc.status_code == 413:
        return error_response(RelayboxError(ErrorCode.TOO_LARGE))
    return error_response(RelayboxError(ErrorCode.MISSING_HEADER, exc.detail))
