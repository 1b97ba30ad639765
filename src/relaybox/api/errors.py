"""The one place errors become HTTP. The route API (/1): ``error: code=NNN; message=TEXT`` with
an empty body. The management API (/v1): the seed's Generic Response ``{"message": TEXT}``, or
RFC 9457 ``application/problem+json`` for HMAC-signed requests and clients that prefer it
(request-signing.md, "Errors")."""

from __future__ import annotations

from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relaybox.api import audit
from relaybox.errors import ErrorCode, RelayboxError, V1Error
from relaybox.wire import headers as h

V1_PREFIX = "/v1/"
_AUTH_CODES = {ErrorCode.INVALID_KEY.code, ErrorCode.TIMESTAMP_SKEW.code, ErrorCode.KEY_REPLAYED.code}


def is_v1(path: str) -> bool:
    return path.startswith(V1_PREFIX) or path == "/v1"


def error_response(error: RelayboxError) -> Response:
    headers = {h.ERROR: f"code={error.code}; message={error.detail}"}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return Response(status_code=error.http_status, headers=headers)


def v1_response(status: int, message: str, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"message": message}, status_code=status, headers=headers)


async def v1_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, V1Error)
    if exc.status == 401:
        who = audit.claimed_key(request.headers.get("authorization"))
        audit.auth_failure(request, api="/v1", reason=exc.problem or exc.message, code=401, who=who)
    if wants_problem(request):
        return problem_response(request, exc)
    return v1_response(exc.status, exc.message, exc.retry_after)


def wants_problem(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    if "application/problem+json" in accept.lower():
        return True
    identity = getattr(request.app.state, "identity", None)
    return identity is not None and bool(identity.hmac.names(request.headers.get("authorization")))


def problem_response(request: Request, exc: V1Error) -> Response:
    extra = dict(exc.extra)
    title = extra.pop("title", None) or HTTPStatus(exc.status).phrase
    body = {
        "type": f"urn:relaybox:problem:{exc.problem}" if exc.problem else "about:blank",
        "title": title,
        "status": exc.status,
        "detail": exc.message,
        "request_id": request.scope.get("state", {}).get("request_id"),
        "message": exc.message,
        **extra,
    }
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
    if exc.status == 401:
        identity = getattr(request.app.state, "identity", None)
        if identity is not None:
            headers["WWW-Authenticate"] = identity.hmac.challenge
    return JSONResponse(body, status_code=exc.status, headers=headers, media_type="application/problem+json")


async def relaybox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RelayboxError)
    if exc.code in _AUTH_CODES:
        who = request.headers.get(h.REQUEST_FROM)
        audit.auth_failure(request, api="/1", reason=exc.detail, code=exc.code, who=who)
    if is_v1(request.url.path):
        return await v1_error(request, V1Error(exc.http_status, exc.detail, retry_after=exc.retry_after))
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error = RelayboxError(ErrorCode.METHOD_NOT_ALLOWED)
    elif exc.status_code == 404:
        error = RelayboxError(ErrorCode.UNKNOWN_ENDPOINT)
    elif exc.status_code == 413:
        error = RelayboxError(ErrorCode.TOO_LARGE)
    else:
        error = RelayboxError(ErrorCode.MISSING_HEADER, exc.detail)
    if is_v1(request.url.path):
        message = "Not found" if exc.status_code == 404 else error.detail
        response = await v1_error(request, V1Error(error.http_status, message))
    else:
        response = error_response(error)
    if exc.status_code == 405 and exc.headers and "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response
