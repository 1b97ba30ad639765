"""The OpenAPI 3.1 document of the management API ``/v1`` and the route API ``/1``, and the
handlers of ``/openapi.json``, ``/docs`` (Swagger UI) and ``/redoc``.

The contracts are ``management-api.md``, ``route-api.md``, ``webhooks.md`` and
``request-signing.md`` (API keys, the RCWS and Date+digest schemes, problem+json errors, the
address book and fan-out); parameter names follow the seeds (``{as2_station_id}``,
``{as2_message_id}``, ``pageOffset`` ..., and Migomail's ``pagesize``/``offset``). The document
is built once by small helpers and cached; callers get a copy.
"""

from __future__ import annotations

import copy
import functools
import html
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from relaybox import __version__
from relaybox.api.v1.addressbook import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from relaybox.auth.hmac_request import PROBLEM_PREFIX, PROBLEMS
from relaybox.exchange.identity import MAX_KEY_DAYS
from relaybox.webhooks.signature import SECRET_MAX_BYTES, SECRET_MIN_BYTES
from relaybox.wire.contacts import FIELD_LENGTHS, FIELDS, MAX_LIST_NAME
from relaybox.wire.endpoints import DEFAULT_TIMEOUT, MAX_DESCRIPTION, MAX_URL
from relaybox.wire.events import EVENT_TYPES, PING
from relaybox.wire.push import MAX_CUSTOM_HEADERS, RESERVED_HEADERS
from relaybox.wire.v1 import TRANSPORTS

__all__ = ["openapi_document", "openapi_json", "redoc", "swagger_ui"]

Json = dict[str, Any]

OPENAPI_VERSION = "3.1.0"
TAG_V1 = "management (/v1)"
TAG_ROUTE = "route API (/1)"
TAG_EVENTS = "webhook events (sent by relaybox)"
TAG_BOOK = "address book (/v1)"
# Every secured /v1 operation takes any of the three: a token, or an HMAC-signed request.
V1_SECURITY: list[dict[str, list[str]]] = [{"token": []}, {"rcws": []}, {"dateDigest": []}]
PROBLEM_MEDIA = "application/problem+json"

_SCHEMAS = "#/components/schemas/"
_PARAMS = "#/components/parameters/"
_HEADERS = "#/components/headers/"

_ROUTE_PATTERN = r"^[A-Za-z0-9._-]{1,64}@[A-Za-z0-9._-]{1,64}$"
_LINK_PATTERN = r"^[A-Za-z0-9._~-]{1,128}$"
_NO_CONTROL_CHARS = r"^[^\x00-\x1F\x7F]*$"
_HTTP_TOKEN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$"
_DATE_1 = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"
_MESSAGE_TYPES = ["received", "sent", "queued", "stopped", "failed"]
_PUSH_SECRET = r"^[!-~]{16,128}$"
_ULID = "[0-9A-HJKMNP-TV-Z]{26}"
_WEBHOOK_ID = f"^wh_{_ULID}$"
_EVENT_ID = f"^evt_{_ULID}$"
_DELIVERY_ID = f"^dlv_{_ULID}$"
_EVENT_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"
_LIST_ADDRESS = r"^list:[1-9][0-9]{0,17}$"
_PUBLIC_KEY = r"^rbk_[0-9a-f]{24}$"
_PRIVATE_KEY = r"^rbs_[A-Za-z0-9_-]{43}$"
_REQUEST_ID = "^[0-9]{14}-[0-9a-f]{16}$"
_DELIVERY_LISTS = ["queued", "sent", "failed"]
_DELIVERY_TYPES = ["queued", "stopped", "sent", "failed"]
_ATTEMPT_ERROR = (
    "`HTTP <status>` (or the answer's `error` header) for an answer that is not 2xx; with no complete answer "
    "(`statusCode` null): `timeout`, `connection refused: ...`, `dns failure: ...`, `tls error: ...` or "
    "`connection reset: ...`"
)


def _secret_pattern() -> str:
    """``whsec_`` + standard base64 (with padding) of SECRET_MIN_BYTES..SECRET_MAX_BYTES bytes:
    whole 4-character groups, the last one possibly padded."""
    fewest, most = -(-SECRET_MIN_BYTES // 3), -(-SECRET_MAX_BYTES // 3)
    b64 = "[A-Za-z0-9+/]"
    return f"^whsec_(?:{b64}{{4}}){{{fewest - 1},{most - 1}}}(?:{b64}{{4}}|{b64}{{3}}=|{b64}{{2}}==)$"


_DESCRIPTION = """\
relaybox is a self-hosted message gateway with two HTTP APIs on one store.

**Management API (`/v1`)**, modelled on the AS2 Gateway REST API v1. Authenticate every call in
one of three ways: a token from `POST /v1/authorize`, sent as `Authorization: <token>` (no scheme;
`Bearer <token>` also works); or a request signed with an API key (`/v1/apikeys`, `relaybox apikey
create`) by the **RCWS** scheme (`Authorization: RCWS <public key>:<hex HMAC-SHA256>`, Migomail's) or
the **Date+digest** scheme (`Authorization: relaybox_api <public key>:<base64 HMAC>` plus a `Date`
header, goTom's). A key acts as its account. See the `rcws` and `dateDigest` security schemes.

Every error body is `{"message": TEXT}`, except that an HMAC-signed request, or one that sends
`Accept: application/problem+json`, gets an RFC 9457 `application/problem+json` body (`Problem`:
`type`, `title`, `status`, `detail`, `request_id`, and `message` = `detail`); the authentication
failures of signed requests have their own `type` (see any 401). Validation failures are 400, never
422. With several faults the first of 401, 429, 400 (path, query, headers), 403, 404, body faults
(400, 413), 409 wins. Query booleans are `true`/`false`/`1`/`0`, enumerations are
case-insensitive, unknown parameters are ignored and a value over 1024 characters is 400. A route
in a path may be written with `@` or `%40`. JSON request bodies are at most 1 MiB (413).
Timestamps are Unix milliseconds. Rate limit: 50 requests per 10 s per token or API key (per
username on `/v1/authorize`); a refused request gets 429 with `Retry-After`. A 403 means a station
is not one of the caller's (unknown stations look the same); a 404 means the message, partner,
webhook endpoint, delivery, API key, contact list or contact is unknown or not visible (they look
the same).

**Address book** (Migomail's List and Contact Management paths and answers): contact lists at
`/v1/lists.json` and their contacts at `/v1/contacts.json/{list_id}/...`. A contact's `route`
makes it a recipient of a **fan-out**: send to `list:<id>` as the partner of
`POST /v1/message/{as2_station_id}/{as2_partner_id}` or as `message-to` of `/1/send-message`, and
every distinct contact route gets its own copy of one stored payload; the answer lists each
recipient's outcome.

**Webhooks.** Stations register endpoints at `/v1/webhooks`; relaybox then POSTs signed events to
them (`message.received`, `message.status`, and `ping` on demand), described under `webhooks`:
snake_case JSON, RFC 3339 timestamps, a `Signature` header and optionally the Standard Webhooks
headers. Delivery is at least once, with retries; `/v1/webhooks/deliveries` lists and controls them.

**Route API (`/1`)**, wire-compatible with the "Go Integrate Me" message API. Requests are signed
with `request-timestamp`, `request-from` and `request-key` headers; a failure has an empty body and
an `error: code=NNN; message=TEXT` header.

Every response carries a `request-id` header."""


# -- small builders ---------------------------------------------------------------------------


def _ref(name: str) -> Json:
    return {"$ref": _SCHEMAS + name}


def _param_ref(name: str) -> Json:
    return {"$ref": _PARAMS + name}


def _header_ref(name: str) -> Json:
    return {"$ref": _HEADERS + name}


def _param(name: str, where: str, schema: Json, description: str, *, required: bool = False) -> Json:
    param: Json = {"name": name, "in": where, "description": description, "schema": schema}
    if required or where == "path":
        param["required"] = True
    return param


def _header(description: str, schema: Json | None = None, *, required: bool = True) -> Json:
    return {"description": description, "required": required, "schema": schema or {"type": "string"}}


def _obj(properties: Json, required: list[str] | None = None, description: str | None = None, **extra: Any) -> Json:
    schema: Json = {"type": "object"}
    if description:
        schema["description"] = description
    schema["properties"] = properties
    if required:
        schema["required"] = required
    schema.update(extra)
    return schema


def _s(description: str, **extra: Any) -> Json:
    return {"type": "string", "description": description, **extra}


def _int(description: str, **extra: Any) -> Json:
    return {"type": "integer", "description": description, **extra}


def _bool(description: str, **extra: Any) -> Json:
    return {"type": "boolean", "description": description, **extra}


def _ms(description: str) -> Json:
    return {"type": "integer", "format": "int64", "description": f"{description} (Unix milliseconds)"}


def _json(schema: Json, example: Any = None) -> Json:
    media: Json = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


def _binary() -> Json:
    return {"type": "string", "format": "binary"}


def _response(description: str, content: Json | None = None, headers: Json | None = None) -> Json:
    response: Json = {
        "description": description,
        "headers": {"request-id": _header_ref("RequestId"), **(headers or {})},
    }
    if content is not None:
        response["content"] = content
    return response


def _message(description: str, example: str | None = None) -> Json:
    """A success answered with a Generic Response."""
    return _response(description, _json(_ref("GenericResponse"), {"message": example} if example else None))


# -- /v1 operations ---------------------------------------------------------------------------

# Default texts of the error responses of /v1; each operation names the statuses that apply.
_V1_ERRORS: dict[int, str] = {
    400: "Invalid path, query or header value (e.g. a query value over 1024 characters)",
    401: "Not authenticated. Token: missing, malformed, expired, revoked by a password change, or its account was "
    "removed (`Missing or invalid token`). HMAC-signed request: a `Problem` whose `type` names the failure "
    "(`urn:relaybox:problem:<slug>`, listed under `Problem`); `WWW-Authenticate` then names the accepted schemes",
    403: "A station named in the request is not one of the caller's (unknown stations look the same)",
    404: "Not found, or not visible to the caller",
    409: "Conflict",
    413: "Request body too large (JSON bodies: at most 1 MiB)",
    429: "Rate limit exceeded (50 requests per 10 s per token); retry after `Retry-After` seconds",
    503: "Storage unavailable",
}
_V1_EXAMPLES: dict[int, str] = {429: "Rate limit exceeded"}


def _problem_types() -> str:
    """The ``type`` values of the signed requests' authentication failures, as Markdown."""
    rows = "; ".join(f"`{slug}` ({title})" for slug, (_status, title) in PROBLEMS.items())
    return (
        f"`{PROBLEM_PREFIX}<slug>` names an authentication failure of a signed request (always 401): "
        + rows
        + ". `invalid-signature` adds `expected_string`. Today a request without `Authorization`, or with a scheme "
        "word the server does not know, is answered as a token request (`Missing or invalid token`, `about:blank`) "
        "rather than with `auth-required` / `unsupported-scheme`. Every other error is `about:blank` with the HTTP "
        "status phrase as `title`."
    )


_PROBLEM_401_EXAMPLE = {
    "type": f"{PROBLEM_PREFIX}invalid-signature",
    "title": "Invalid signature",
    "status": 401,
    "detail": "The RCWS signature does not match the request.",
    "request_id": "20261125170203-4c1d9a7e0b3f2a65",
    "message": "The RCWS signature does not match the request.",
    "expected_string": 'get::/v1/lists.json/::{"posted_data":"[]"}',
}


def _error(status: int, text: str, example: str | None = None, *, signed: bool = False) -> Json:
    """A /v1 error response: a Generic Response, or a Problem for HMAC-signed requests and
    clients that prefer one; ``Retry-After`` on 429, ``WWW-Authenticate`` on 401. ``signed``:
    the operation takes signed requests (its 401 shows a signed request's problem)."""
    headers: Json = {}
    if status == 429:
        headers["Retry-After"] = _header_ref("RetryAfter")
    if status == 401:
        headers["WWW-Authenticate"] = _header_ref("WWWAuthenticate")
    sample = example or _V1_EXAMPLES.get(status)
    content = _json(_ref("GenericResponse"), {"message": sample} if sample else None)
    problem: Json = {"schema": _ref("Problem")}
    if status == 401 and signed:
        problem["example"] = _PROBLEM_401_EXAMPLE
    content[PROBLEM_MEDIA] = problem
    return _response(text, content, headers or None)


def _op(
    op_id: str,
    summary: str,
    *,
    ok: dict[int, Json],
    errors: dict[int, str | tuple[str, str] | None],
    params: list[Json] | None = None,
    body: Json | None = None,
    description: str | None = None,
    secured: bool = True,
    tag: str = TAG_V1,
) -> Json:
    """A /v1 operation. ``errors`` maps a status to its text (None: the default text; a tuple:
    text and example message). Secured operations always list 401, 429 and 503."""
    operation: Json = {"tags": [tag], "summary": summary, "operationId": op_id}
    if description:
        operation["description"] = description
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = body
    all_errors: dict[int, str | tuple[str, str] | None] = {401: None, 429: None, 503: None} if secured else {503: None}
    all_errors.update(errors)
    responses: Json = {str(status): response for status, response in sorted(ok.items())}
    for status in sorted(all_errors):
        spec = all_errors[status]
        if isinstance(spec, tuple):
            responses[str(status)] = _error(status, spec[0], spec[1], signed=secured)
        else:
            responses[str(status)] = _error(status, spec or _V1_ERRORS[status], signed=secured)
    operation["responses"] = responses
    operation["security"] = copy.deepcopy(V1_SECURITY) if secured else []
    return operation


def _json_body(schema: Json, description: str, example: Any = None) -> Json:
    return {"required": True, "description": description, "content": _json(schema, example)}


def _id_array(description: str, *, strict: bool) -> Json:
    items: Json = {"type": "string", "pattern": _LINK_PATTERN} if strict else {"type": "string", "minLength": 1}
    schema: Json = {"type": "array", "items": items, "minItems": 1, "maxItems": 100}
    if strict:
        schema["uniqueItems"] = True
    return _json_body(schema, description, ["message-id-1", "message-id-2"])


_NOT_FOUND = (
    "Message <id> not found: unknown, foreign, expired, deleted or in another category",
    "Message <id> not found",
)


def _authorize() -> Json:
    return _op(
        "authorize",
        "Exchange an account's email and password for a token",
        secured=False,
        description="Any Content-Type; the body must be a JSON object with two strings. Counted by the rate "
        "limit per username. The token lives 24 h; send it as `Authorization: <token>`.",
        body=_json_body(_ref("Credentials"), "Account credentials", {"username": "ops@example.com", "password": "..."}),
        ok={200: _response("A token", _json(_ref("Token")))},
        errors={
            400: "The body is not a JSON object with string `username` and `password`",
            401: ("Unknown email or wrong password (not told apart)", "Invalid username or password"),
            413: None,
            429: "Too many attempts for this username; retry after `Retry-After` seconds",
        },
    )


def _send() -> Json:
    multipart = _obj(
        {"file": {"type": "array", "items": _binary(), "minItems": 1, "maxItems": 10}},
        ["file"],
        "One part named `file` per attachment, each with a distinct filename",
    )
    body = {
        "required": True,
        "description": "Either the raw file (any non-multipart Content-Type, stored with the file; default "
        "`application/octet-stream`) with its name in the `Name` header, or `multipart/form-data` with 1-10 "
        "parts named `file`. File names: 1-255 characters, no control characters, no `/` or `\\`, not `.` or "
        "`..`; multipart filenames must be distinct. At most 10 files and 10 MiB (10,485,760 bytes) in total.",
        "content": {
            "multipart/form-data": {"schema": multipart, "encoding": {"file": {"contentType": "*/*"}}},
            "*/*": {"schema": _binary()},
        },
    }
    return _op(
        "sendMessage",
        "Send (enqueue) a message from a station to one of its partners, or to every contact of a list",
        description="Answers 202 only once payload and metadata are durably committed. A local, unpaused partner "
        "gets the message in the same commit (state `sent`); a partner with `pauseOutgoing` leaves it `queued`; "
        "to a partner with a `uri` it stays `queued` until a push (per the partner's `transport`) succeeds. Every "
        "POST is a new message. `Link` resolves at once for a delivered message.\n\n"
        "**Fan-out**: with `list:<id>` (a list of the caller's account, id from `GET /v1/lists.json`) as "
        "`as2_partner_id`, the payload is stored once and every distinct contact route gets its own copy, each "
        "treated as a direct send from the station to that route (partner record, receipt request, "
        "`pauseIncoming`, push to a `uri` partner). Members are read at send time; a route in several contacts "
        "gets one copy. Contacts that cannot receive are rejected in the answer, not fatal; when none can, the "
        "answer is 404 and nothing is stored. The 202 body is then a `FanoutResult` (no `Link` header); "
        "`partnerType` and `profile` are ignored and an absent `subject` means none.",
        params=[
            _param_ref("as2_station_id"),
            _param(
                "as2_partner_id",
                "path",
                {"anyOf": [_ref("Route"), _ref("ListAddress")]},
                "AS2 identifier (route) of the partner to send to, or `list:<id>` for a fan-out to a contact list",
            ),
            _param(
                "partnerType", "query", _ref("PartnerTypeQuery"), "Which partner record to use (default production)"
            ),
            _param(
                "subject",
                "query",
                _ref("Subject"),
                "Message subject; empty = none; absent = the partner's `messageSubject`, if any (none for a fan-out)",
            ),
            _param("profile", "query", {"type": "string"}, "Accepted and ignored (there are no submission profiles)"),
            _param(
                "Name",
                "header",
                {"type": "string", "minLength": 1, "maxLength": 255},
                "File name (UTF-8) of a raw single-file body; required then (else 400 `Missing Name header`). "
                "Not used with multipart",
            ),
        ],
        body=body,
        ok={
            202: _response(
                "Accepted and committed: a Generic Response; for a fan-out (`list:<id>`) a `FanoutResult`, which has "
                "the same `message`",
                {
                    "application/json": {
                        "schema": {"anyOf": [_ref("GenericResponse"), _ref("FanoutResult")]},
                        "example": {"message": "Successfully added a new outbound entry"},
                    }
                },
                {
                    "Link": _header(
                        "Direct sends only: absolute URL of the message, `<base>/v1/message/sent/{id}`",
                        {"type": "string", "format": "uri"},
                        required=False,
                    )
                },
            )
        },
        errors={
            400: (
                "Bad path route, list address or query value, missing or empty `Name` header, bad file name, no "
                "`file` part, a part without filename or with another name, duplicate filenames, or several files to "
                "a partner with a `uri` (a push carries one file; in a fan-out that recipient is rejected instead)",
                "Missing Name header",
            ),
            403: "The station is not one of the caller's",
            404: "No partner (station, as2_partner_id, partnerType), or a local partner's route is gone. Fan-out: the "
            "list is unknown or another account's (`List <id> not found`), or no contact of it can receive the message "
            "(`No contact of the list can receive the message`; nothing is stored)",
            409: "The receiver's partner record for this station has `pauseIncoming` (in a fan-out that recipient is "
            "rejected instead)",
            413: "More than 10 files or more than 10 MiB in total (a larger declared Content-Length is refused unread)",
        },
    )


_LIST_DESCRIPTIONS = {
    "received": "Receiver views of the caller's stations (from `/1` and `/v1` alike), unexpired, not deleted.",
    "sent": "Sender views in state `sent`.",
    "failed": "One entry per failed delivery attempt, so an id may repeat.",
    "queued": "Sender views in state `queued` or `stopped` (`state` tells them apart). Takes `query` instead of "
    "`partnerAS2Id`, `stationAS2Id`, `as2MessageId` and `subject`.",
}


def _list(kind: str) -> Json:
    params = [_param_ref(n) for n in ("sortCol", "sortDir", "partnerType", "pageOffset", "pageLength")]
    if kind == "queued":
        params.append(_param_ref("query"))
    else:
        params += [_param_ref(n) for n in ("partnerAS2Id", "stationAS2Id", "as2MessageId", "subject")]
    if kind == "received":
        params.append(_param_ref("unreadOnly"))
    errors: dict[int, str | tuple[str, str] | None] = {
        400: "A bad `sortCol`, `sortDir`, `partnerType`, `pageOffset` or `pageLength`, or a query value over 1024 characters"
    }
    if kind != "queued":
        errors[403] = "`stationAS2Id` is not one of the caller's stations"
    return _op(
        f"list{kind.capitalize()}Messages",
        f"List {kind} messages",
        description=_LIST_DESCRIPTIONS[kind] + " Filters are ANDed; past the end: 200 with empty `records`.",
        params=params,
        ok={200: _response("A page of messages", _json(_ref("AS2MessagePage")))},
        errors=errors,
    )


_GET_DESCRIPTIONS = {
    "received": "With `markAsRead=true` the message becomes read for the caller and the answer already shows "
    '`"read": true`.',
    "sent": "A sender view in state `sent`.",
    "failed": "The latest failure entry of the message.",
    "queued": "A sender view in state `queued` or `stopped`.",
}


def _get(kind: str) -> Json:
    params = [_param_ref("as2_message_id")]
    if kind == "received":
        params.append(_param_ref("markAsRead"))
    return _op(
        f"get{kind.capitalize()}Message",
        f"Get one {kind} message",
        description=_GET_DESCRIPTIONS[kind],
        params=params,
        ok={200: _response("The message", _json(_ref("AS2Message")))},
        errors={400: None, 404: _NOT_FOUND},
    )


def _delete_one(kind: str) -> Json:
    removes = {
        "received": "the receiver view, for every account of that station and from its `/1` mailbox",
        "sent": "the sender view of a sent message; the receiver's copy stays",
        "queued": "the undelivered message in state `queued`; it is never delivered",
        "stopped": "the undelivered message in state `stopped`; it is never delivered",
        "failed": "every failure entry with that id",
    }[kind]
    return _op(
        f"delete{kind.capitalize()}Message",
        f"Delete one {kind} message",
        description=f"`DELETE /v1/message/{{message_type}}/{{as2_message_id}}` with `message_type` = `{kind}`: removes "
        f"{removes}. A payload is purged once none of its views is left.",
        params=[_param_ref("as2_message_id")],
        ok={200: _message("Deleted", "Deleted message <id>")},
        errors={400: None, 404: _NOT_FOUND},
    )


def _delete_many() -> Json:
    return _op(
        "deleteMessages",
        "Delete up to 100 messages of one type",
        description="Unknown ids are skipped. `message_type` as for the single delete; any other value is 404.",
        params=[
            _param(
                "message_type",
                "path",
                {"type": "string", "enum": _MESSAGE_TYPES},
                "Which view: `received`, `sent`, `queued`, `stopped` or `failed`",
            )
        ],
        body=_id_array("A JSON array of 1-100 message ids", strict=False),
        ok={200: _message("Deleted N messages (`messages` even for 1)", "Deleted 3 messages")},
        errors={400: "The body is not a JSON array of 1-100 ids", 404: "Unknown `message_type`", 413: None},
    )


def _attachment(kind: str, *, indexed: bool) -> Json:
    params = [_param_ref("as2_message_id")]
    if indexed:
        params.append(
            _param(
                "index",
                "path",
                {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "const": "all"}]},
                "0-based attachment index, or `all` for a zip of every attachment (`<id>.zip`, deflated, entries at "
                "the archive root in index order; `/`, `\\` and control characters in names become `_`)",
            )
        )
    if kind == "received":
        params.append(_param_ref("markAsRead"))
    which = "the attachment at `index` (or the zip of all)" if indexed else "attachment 0"
    note = (
        " The first download of attachment bytes by the receiver records the requested receipt."
        if kind == "received"
        else ""
    )
    return _op(
        f"download{kind.capitalize()}Attachment{'ByIndex' if indexed else ''}",
        f"Download {which} of a {kind} message",
        description=f"Serves {which} as `application/octet-stream` with its file name in `Content-Disposition` "
        f"(RFC 6266/5987).{note}",
        params=params,
        ok={
            200: _response(
                "The attachment bytes (or the zip)",
                {"application/octet-stream": {"schema": _binary()}},
                {
                    "Content-Disposition": _header_ref("ContentDisposition"),
                    "Content-Length": _header_ref("ContentLength"),
                },
            )
        },
        errors={
            400: "`index` is neither a non-negative integer nor `all`" if indexed else None,
            404: ("Unknown or invisible message, or `index` >= the number of attachments", "Message <id> not found")
            if indexed
            else _NOT_FOUND,
        },
    )


def _batch() -> Json:
    zip_content = {"application/octet-stream": {"schema": _binary()}}
    disposition = {"Content-Disposition": _header_ref("ContentDisposition")}
    return _op(
        "downloadReceivedBatchAttachments",
        "Download the attachments of up to 100 received messages as one zip",
        description="`batch.zip` holds a folder `<id>/` per id in request order with its attachments in index order; "
        "an id that cannot be served gets `<id>/.error` holding the error message. At most 10 MiB of attachment "
        "bytes: the attachment that would exceed it is left out, archiving stops and the answer is 206. "
        "`markAsRead` then marks only the messages whose attachments are all in the zip.",
        params=[_param_ref("markAsRead")],
        body=_id_array("A JSON array of 1-100 distinct message ids, each 1-128 of `[A-Za-z0-9._~-]`", strict=True),
        ok={
            200: _response("The zip", zip_content, disposition),
            206: _response(
                "The zip, truncated at the 10 MiB cap",
                zip_content,
                {
                    **disposition,
                    "X-Batch-Truncation-Index": _header(
                        "`(i,j)`: request position and attachment index of the last attachment added (`(-1,-1)` if none)",
                        {"type": "string", "pattern": r"^\((-1|[0-9]+),(-1|[0-9]+)\)$"},
                    ),
                },
            ),
        },
        errors={400: "The body is not a JSON array of 1-100 distinct valid ids", 413: None},
    )


def _mdn(kind: str) -> Json:
    return _op(
        f"get{kind.capitalize()}Mdn",
        f"Download the signed receipt (MDN) of a {kind} message",
        description="The receipt document stored byte for byte when the receiver first downloaded the attachments; "
        "verify it with the key from `/v1/receipt-key`. Served with "
        '`Content-Disposition: attachment; filename="<id>.receipt.json"`.',
        params=[_param_ref("as2_message_id")],
        ok={
            200: _response(
                "The receipt", _json(_ref("Receipt")), {"Content-Disposition": _header_ref("ContentDisposition")}
            )
        },
        errors={
            400: None,
            404: (
                "No receipt yet (`Pending`, `Not Requested`) or the message is not visible",
                "Message <id> not found",
            ),
        },
    )


def _retry_control(action: str) -> Json:
    verb, state, example = {
        "stop": ("Stop", "stopped", "Successfully stopped retrying AS2 message with ID <id>"),
        "retry": ("Resume", "queued", "Successfully started retrying AS2 message with ID <id>"),
    }[action]
    return _op(
        f"{action}QueuedMessage",
        f"{verb} retrying a queued message",
        description=f"Sets the state to `{state}`; idempotent."
        + (" A local, unpaused partner gets the message at once." if action == "retry" else ""),
        params=[_param_ref("as2_message_id")],
        ok={200: _message("Done", example)},
        errors={400: None, 404: ("Not a queued or stopped message of the caller's stations", "Message <id> not found")},
    )


def _partner_ops() -> tuple[Json, Json]:
    partner_id = _param_ref("partnerId")
    collection = {
        "get": _op(
            "listPartners",
            "List the partners of all the caller's stations",
            description="A JSON array (not paginated) of both types, by partnerId.",
            params=[_param_ref("query")],
            ok={200: _response("The partners", _json({"type": "array", "items": _ref("Partner")}))},
            errors={400: None},
        ),
        "post": _op(
            "createPartner",
            "Create a partner of one of the caller's stations",
            description="A seed Partner document plus `stationAS2Id` can be posted as is: unknown fields (certificates, "
            "algorithms, ...) and `partnerId` are ignored. Without `uri` the partner is local and its route must "
            "exist on this server.",
            body=_json_body(
                _ref("PartnerInput"), "The partner", {"stationAS2Id": "alpha@bars01", "as2Identifier": "bravo@bars02"}
            ),
            ok={201: _response("Created", _json(_ref("PartnerSaved")))},
            errors={
                400: "A bad field, a missing `stationAS2Id`/`as2Identifier`, or no `uri` and the route is not on this server",
                403: "`stationAS2Id` is not one of the caller's stations",
                409: "(stationAS2Id, as2Identifier, partnerType) already exists",
                413: None,
            },
        ),
    }
    item = {
        "get": _op(
            "getPartner",
            "Get one partner",
            params=[partner_id],
            ok={200: _response("The partner", _json(_ref("Partner")))},
            errors={400: None, 404: "Unknown, or not a partner of the caller's stations"},
        ),
        "put": _op(
            "updatePartner",
            "Update a partner (partial: present fields replace, absent ones stay)",
            description="Clearing `pauseOutgoing` delivers the partner's queued local messages within this request.",
            params=[partner_id],
            body=_json_body(_ref("PartnerUpdate"), "The fields to change", {"pauseOutgoing": False}),
            ok={200: _response("The updated partner", _json(_ref("PartnerSaved")))},
            errors={
                400: "A bad field, or a `stationAS2Id` other than the partner's",
                403: "`stationAS2Id` in the body is not one of the caller's stations",
                404: "Unknown, or not a partner of the caller's stations",
                409: "The change collides with another (stationAS2Id, as2Identifier, partnerType)",
                413: None,
            },
        ),
        "delete": _op(
            "deletePartner",
            "Delete a partner",
            description="Its queued messages become `stopped`; other messages stay.",
            params=[partner_id],
            ok={200: _message("Deleted", "Deleted partner <partnerId>")},
            errors={400: None, 404: "Unknown, or not a partner of the caller's stations"},
        ),
    }
    return collection, item


_WEBHOOK_NOT_FOUND = (
    "Unknown, or an endpoint of a station that is not the caller's (they look the same)",
    "Webhook <id> not found",
)
_DELIVERY_NOT_FOUND = "Delivery <id> not found"


def _webhook_ops() -> Json:
    """``/v1/webhooks``: the endpoints of the caller's stations, their secrets and test pings."""
    webhook_id = _param_ref("webhookId")
    with_secret = _json(_ref("WebhookEndpointWithSecret"))
    collection = {
        "get": _op(
            "listWebhooks",
            "List the webhook endpoints of the caller's stations",
            description="By creation time; past the end: 200 with empty `records`. Secrets are never listed.",
            params=[_param_ref(n) for n in ("stationAS2Id", "pageOffset", "pageLength")],
            ok={200: _response("A page of endpoints", _json(_ref("WebhookEndpointPage")))},
            errors={
                400: "A bad `stationAS2Id`, `pageOffset` or `pageLength`, or a query value over 1024 characters",
                403: "`stationAS2Id` is not one of the caller's stations",
            },
        ),
        "post": _op(
            "createWebhook",
            "Register a webhook endpoint for one of the caller's stations",
            description="The answer is the only place the secret ever shows (it is never listed, logged or shown "
            "again): store it. Without `secret` one is generated (32 random bytes, 50 characters). Every account "
            "linked to the station manages its endpoints.",
            body=_json_body(
                _ref("WebhookEndpointInput"),
                "The endpoint",
                {
                    "stationAS2Id": "alpha@bars01",
                    "url": "https://hooks.example/relaybox",
                    "eventTypes": list(EVENT_TYPES),
                },
            ),
            ok={
                201: _response(
                    "Created: the endpoint and its secret",
                    with_secret,
                    {"Location": _header("`/v1/webhooks/{webhookId}`", {"type": "string"})},
                )
            },
            errors={
                400: "A bad or missing field, an `http://` url while `RELAYBOX_WEBHOOK_REQUIRE_HTTPS` is on, or a "
                "`secret` not of the form `whsec_` + base64",
                403: "`stationAS2Id` is not one of the caller's stations",
                409: (
                    "The station already has the most endpoints allowed (`RELAYBOX_WEBHOOK_MAX_ENDPOINTS`, default 20)",
                    "Station <route> already has 20 webhook endpoints",
                ),
                413: None,
            },
        ),
    }
    item = {
        "get": _op(
            "getWebhook",
            "Get one webhook endpoint",
            params=[webhook_id],
            ok={200: _response("The endpoint (without its secret)", _json(_ref("WebhookEndpoint")))},
            errors={404: _WEBHOOK_NOT_FOUND},
        ),
        "put": _op(
            "updateWebhook",
            "Update a webhook endpoint (partial: present fields replace, absent ones stay)",
            description="`enabled: false` disables the endpoint (`disabledReason` `user`) and stops its queued "
            "deliveries (`stopReason` `endpoint disabled`); `enabled: true` clears `disabledReason` and the failure "
            "streak but resumes nothing by itself (retry the stopped deliveries).",
            params=[webhook_id],
            body=_json_body(_ref("WebhookEndpointUpdate"), "The fields to change", {"enabled": True}),
            ok={200: _response("The updated endpoint", _json(_ref("WebhookEndpoint")))},
            errors={
                400: "A bad field, or `stationAS2Id` or `secret` in the body",
                404: _WEBHOOK_NOT_FOUND,
                413: None,
            },
        ),
        "delete": _op(
            "deleteWebhook",
            "Delete a webhook endpoint",
            description="Its deliveries and their failure entries go with it.",
            params=[webhook_id],
            ok={200: _message("Deleted", "Deleted webhook <webhookId>")},
            errors={404: _WEBHOOK_NOT_FOUND},
        ),
    }
    rotate = _op(
        "rotateWebhookSecret",
        "Replace an endpoint's secret with a new generated one",
        description="The old secret stops at once: attempts from now on are signed with the new one.",
        params=[webhook_id],
        ok={200: _response("The endpoint and its new secret", with_secret)},
        errors={404: _WEBHOOK_NOT_FOUND},
    )
    test = _op(
        "testWebhook",
        "Send a `ping` event to an endpoint now",
        description="One `ping` (see the `ping` webhook), signed like any event, sent at once even to a disabled "
        "endpoint or one not subscribed to anything; never retried and never listed. The answer tells how it went; "
        "an endpoint that cannot be reached is still a 200 with `ok: false`.",
        params=[webhook_id],
        ok={200: _response("The outcome of the ping", _json(_ref("WebhookTestResult")))},
        errors={404: _WEBHOOK_NOT_FOUND},
    )
    return {
        "/v1/webhooks": collection,
        "/v1/webhooks/{webhookId}": item,
        "/v1/webhooks/{webhookId}/rotate-secret": {"post": rotate},
        "/v1/webhooks/{webhookId}/test": {"post": test},
    }


_DELIVERY_LIST_DESCRIPTIONS = {
    "queued": "Deliveries in state `queued` (waiting or in flight) or `stopped` (`state` tells them apart).",
    "sent": "Deliveries in state `sent` (an endpoint answered 2xx), kept `RELAYBOX_WEBHOOK_RETENTION` seconds.",
    "failed": "One entry per failed attempt, so a delivery may appear several times.",
}


def _delivery_ops() -> Json:
    """``/v1/webhooks/deliveries``: the lists and controls of the deliveries (one event to one
    endpoint) of the caller's stations, as ``/v1/message`` does for messages."""
    delivery_id = _param_ref("deliveryId")
    paths: Json = {}
    for kind in _DELIVERY_LISTS:
        entry = "WebhookDeliveryFailure" if kind == "failed" else "WebhookDelivery"
        paths[f"/v1/webhooks/deliveries/{kind}"] = {
            "get": _op(
                f"list{kind.capitalize()}WebhookDeliveries",
                f"List {kind} webhook deliveries",
                description=_DELIVERY_LIST_DESCRIPTIONS[kind] + " Newest first unless `sortDir=asc`; filters are "
                "ANDed; past the end: 200 with empty `records`.",
                params=[
                    _param_ref(n)
                    for n in ("webhookIdFilter", "eventType", "deliveryQuery", "sortDir", "pageOffset", "pageLength")
                ],
                ok={200: _response("A page of deliveries", _json(_ref(f"{entry}Page")))},
                errors={
                    400: "A bad `eventType`, `sortDir`, `pageOffset` or `pageLength`, or a query value over 1024 "
                    "characters"
                },
            )
        }
    for kind in _DELIVERY_TYPES:
        ops: Json = {}
        if kind in _DELIVERY_LISTS:
            entry = "WebhookDeliveryFailure" if kind == "failed" else "WebhookDelivery"
            ops["get"] = _op(
                f"get{kind.capitalize()}WebhookDelivery",
                f"Get one {kind} webhook delivery",
                description="The latest failure entry of the delivery."
                if kind == "failed"
                else "A delivery in this list.",
                params=[delivery_id],
                ok={200: _response("The delivery", _json(_ref(entry)))},
                errors={404: ("Not a delivery of this list of the caller's stations", _DELIVERY_NOT_FOUND)},
            )
        removes = {
            "queued": "a `queued` or `stopped` delivery; a queued one is cancelled (an attempt in flight finishes)",
            "stopped": "a `stopped` delivery",
            "sent": "a `sent` delivery",
            "failed": "every failure entry of the delivery (the delivery itself stays)",
        }[kind]
        ops["delete"] = _op(
            f"delete{kind.capitalize()}WebhookDelivery",
            f"Delete one {kind} webhook delivery",
            description=f"Removes {removes}.",
            params=[delivery_id],
            ok={200: _message("Deleted", "Deleted delivery <deliveryId>")},
            errors={404: ("Not a delivery of this list of the caller's stations", _DELIVERY_NOT_FOUND)},
        )
        paths[f"/v1/webhooks/deliveries/{kind}/{{deliveryId}}"] = ops
    paths["/v1/webhooks/deliveries/{delivery_type}"] = {
        "delete": _op(
            "deleteWebhookDeliveries",
            "Delete up to 100 webhook deliveries of one type",
            description="Unknown ids are skipped. `delivery_type` as for the single delete; any other value is 404.",
            params=[
                _param(
                    "delivery_type",
                    "path",
                    {"type": "string", "enum": _DELIVERY_TYPES},
                    "Which list: `queued`, `stopped`, `sent` or `failed`",
                )
            ],
            body=_json_body(
                {
                    "type": "array",
                    "items": {"type": "string", "pattern": _LINK_PATTERN},
                    "minItems": 1,
                    "maxItems": 100,
                },
                "A JSON array of 1-100 delivery ids",
                ["dlv_01M89TCR40EP6P3WKA8H287175"],
            ),
            ok={200: _message("Deleted N deliveries (`deliveries` even for 1)", "Deleted 3 deliveries")},
            errors={400: "The body is not a JSON array of 1-100 ids", 404: "Unknown `delivery_type`", 413: None},
        )
    }
    controls = {
        "stop": (
            "Stop retrying a queued webhook delivery",
            "Sets the state to `stopped` (`stopReason` `stopped`); idempotent. An attempt in flight finishes; a "
            "failure is not rescheduled.",
            "Successfully stopped retrying webhook delivery <deliveryId>",
        ),
        "retry": (
            "Retry a queued or stopped webhook delivery now",
            "Idempotent. A stopped delivery is queued again and its schedule restarts at attempt 1, now; a queued "
            "one gets its next attempt now.",
            "Successfully started retrying webhook delivery <deliveryId>",
        ),
    }
    for action, (summary, text, example) in controls.items():
        errors: dict[int, str | tuple[str, str] | None] = {
            404: ("Not a queued or stopped delivery of the caller's stations", _DELIVERY_NOT_FOUND)
        }
        if action == "retry":
            errors[409] = (
                "The delivery's endpoint is disabled: enable it first",
                "The endpoint of delivery <deliveryId> is disabled: enable it first",
            )
        paths[f"/v1/webhooks/deliveries/queued/{{deliveryId}}/{action}"] = {
            "post": _op(
                f"{action}WebhookDelivery",
                summary,
                description=text,
                params=[delivery_id],
                ok={200: _message("Done", example)},
                errors=errors,
            )
        }
    return paths


def _apikey_ops() -> Json:
    """``/v1/apikeys``: the caller's own API keys for HMAC request signing."""
    collection = {
        "get": _op(
            "listApiKeys",
            "List the caller's API keys",
            description="Oldest first, with their state; never a private key. Past the end: 200 with empty `records`.",
            params=[_param_ref("pageOffset"), _param_ref("pageLength")],
            ok={200: _response("A page of API keys", _json(_ref("ApiKeyPage")))},
            errors={400: "A bad `pageOffset` or `pageLength`, or a query value over 1024 characters"},
        ),
        "post": _op(
            "createApiKey",
            "Create an API key of the caller's account",
            description="A key pair for the RCWS and Date+digest schemes: the public key names the key in "
            "`Authorization`, the private key is the HMAC key. The answer is the only place the private key ever "
            "shows: store it. The key acts as the account (same stations) and is rate-limited per key. The same as "
            "`relaybox apikey create EMAIL` on the server.",
            body=_json_body(
                _ref("ApiKeyInput"),
                "The key's settings; `{}` for a key with no name, no expiry and an optional timestamp",
                {"name": "erp-prod", "expiresDays": 365, "requireTimestamp": True},
            ),
            ok={201: _response("Created: the key pair", _json(_ref("ApiKeyWithSecret")))},
            errors={
                400: (
                    "The body is not JSON or not an object, `name` is not a string of at most 128 characters without "
                    f"control characters, `expiresDays` is not an integer 1..{MAX_KEY_DAYS} or null, or "
                    "`requireTimestamp` is not a boolean",
                    f"expiry: 1..{MAX_KEY_DAYS} days",
                ),
                413: None,
            },
        ),
    }
    revoke = _op(
        "revokeApiKey",
        "Revoke one of the caller's API keys",
        description="Requests signed with it are refused (401 `key-revoked`) from the next request on. A revoked key "
        "stays listed with `state` `revoked`.",
        params=[_param("publicKey", "path", {"type": "string"}, "The key's public key (`rbk_` + 24 hex digits)")],
        ok={200: _message("Revoked", "Revoked API key <publicKey>")},
        errors={404: ("Unknown, already revoked, or another account's key", "API key <publicKey> not found")},
    )
    return {"/v1/apikeys": collection, "/v1/apikeys/{publicKey}": {"delete": revoke}}


_SLASH = " Served with and without a trailing slash (the seed writes both)."
_LIST_NOT_FOUND = ("Unknown list, or another account's (they look the same)", "List <list_id> not found")
_CONTACT_NOT_FOUND = (
    "The list is unknown or another account's (`List <list_id> not found`), or the contact is not in it",
    "Contact <contact_id> not found",
)


def _book(op_id: str, summary: str, **kw: Any) -> Json:
    """An address book operation (Migomail's paths and answers)."""
    op = _op(op_id, summary, tag=TAG_BOOK, **kw)
    op["description"] = op.get("description", "") + _SLASH
    return op


def _coded(status: int, description: str, example: str, **extra: Any) -> Json:
    """A ``{"code", "message"}`` answer; its HTTP status is ``code``."""
    return _response(description, _json(_ref("CodedResponse"), {"code": status, "message": example, **extra}))


def _addressbook_ops() -> Json:
    """The address book: contact lists (``/v1/lists.json``) and contacts (``/v1/contacts.json``)."""
    list_id = _param_ref("list_id")
    contact_id = _param_ref("contact_id")
    full = _param(
        "full",
        "query",
        {"type": "boolean", "default": False},
        "Answer each contact as a whole `Contact` instead of its e-mail address",
    )
    list_ops = {
        "get": _book(
            "getLists",
            "List the caller's contact lists, or get one",
            description='A map of list id (ascending) to list name: `{"1":"List 1","2":"List 2"}`; with '
            "`id`, that list only. Ids are server-wide (also the `<id>` of `list:<id>`).",
            params=[
                _param("id", "query", {"type": "integer", "minimum": 1}, "One list's id; absent: every list"),
            ],
            ok={200: _response("Lists by id", _json(_ref("ListMap"), {"1": "List 1", "2": "List 2"}))},
            errors={400: "`id` is not a decimal integer", 404: _LIST_NOT_FOUND},
        ),
        "post": _book(
            "renameList",
            "Rename a contact list",
            description="Both values in the query, as the seed sends them (`+` is a space). Answers 201, as the seed.",
            params=[
                _param("id", "query", {"type": "integer", "minimum": 1}, "The list's id", required=True),
                _param(
                    "name",
                    "query",
                    _ref("ListName"),
                    "The new name (form-encoded: `Renamed+1` is `Renamed 1`)",
                    required=True,
                ),
            ],
            ok={201: _coded(201, "Renamed", "List renamed to Renamed 1")},
            errors={
                400: "`id` missing or not a decimal integer, or `name` missing, empty, over 128 characters or with "
                "control characters",
                404: _LIST_NOT_FOUND,
                409: ("The account already has a list of that name", "A list named <name> already exists"),
            },
        ),
    }
    create = _book(
        "createList",
        "Create a contact list",
        description="The name is the rest of the path, form-decoded from the raw path: `List+3` and `List%203` are "
        "`List 3`, `%2B` is `+`, `%2F` is `/`; a trailing `/` is not part of it. Names are unique per account. The "
        "answer adds `id` to the seed's.",
        params=[
            _param(
                "name",
                "path",
                {"type": "string", "minLength": 1},
                "The list's name, form-encoded: 1-128 characters (decoded, UTF-8) without control characters",
            )
        ],
        ok={201: _coded(201, "Created", "List List 3 created with list-id 3", id=3)},
        errors={
            400: "The decoded name is empty, over 128 characters, has control characters or is not UTF-8",
            409: ("The account already has a list of that name", "A list named <name> already exists"),
        },
    )
    delete_list = _book(
        "deleteList",
        "Delete a contact list and its contacts",
        description="Messages already sent to the list are not affected.",
        params=[list_id],
        ok={200: _coded(200, "Deleted", "List removed")},
        errors={400: "`list_id` is not a decimal integer", 404: _LIST_NOT_FOUND},
    )
    contacts = {
        "get": _book(
            "listContacts",
            "List a list's contacts, a page at a time",
            description="A map of contact id (ascending) to e-mail address, or to the whole `Contact` with `full`. "
            "`offset` counts rows, not pages; a page shorter than `pagesize` is the last one. Past the end: `{}`.",
            params=[
                list_id,
                _param(
                    "pagesize",
                    "query",
                    {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
                    "Contacts per page",
                ),
                _param("offset", "query", {"type": "integer", "minimum": 0, "default": 0}, "0-based row offset"),
                full,
            ],
            ok={
                200: _response(
                    "Contacts by id",
                    _json(_ref("ContactMap"), {"3": "ann@example.com", "4": "bob@example.com"}),
                )
            },
            errors={400: "A bad `list_id`, `pagesize`, `offset` or `full`", 404: _LIST_NOT_FOUND},
        ),
        "post": _book(
            "addContact",
            "Add a contact to a list",
            description="`email_address` is required; absent fields are empty (`route`: none). A contact with a `route` "
            "receives the list's fan-out sends. The same e-mail or route may appear in several contacts. The answer "
            "adds `id` to the seed's.",
            params=[list_id],
            body=_json_body(
                _ref("ContactInput"),
                "The contact (the seed's fields plus `route`; other keys are ignored)",
                {"email_address": "ann@example.com", "first_name": "Ann", "route": "ann@gw01"},
            ),
            ok={201: _coded(201, "Added", "Contact added", id=7)},
            errors={
                400: (
                    "A bad `list_id`; the body is not JSON or not an object; a field is not a string, too long, has "
                    "control characters; `email_address` missing or not an e-mail address; `route` not a route. "
                    "The message names every faulty field",
                    "Invalid contact: email_address is required",
                ),
                404: _LIST_NOT_FOUND,
                413: None,
            },
        ),
    }
    get_contact = {
        "get": _book(
            "getContact",
            "Get one contact",
            description='`{"<id>": "<email>"}`, or `{"<id>": Contact}` with `full`.',
            params=[list_id, contact_id, full],
            ok={200: _response("The contact", _json(_ref("ContactMap"), {"2": "ann@example.com"}))},
            errors={400: "A bad `list_id`, `contact_id` or `full`", 404: _CONTACT_NOT_FOUND},
        )
    }
    contact = {
        "get": _book(
            "getContactByContactsPath",
            "Get one contact (the same as `.../contact/{contact_id}`)",
            description="An alias of `GET /v1/contacts.json/{list_id}/contact/{contact_id}` on the path that edits and "
            "deletes the contact.",
            params=[list_id, contact_id, full],
            ok={200: _response("The contact", _json(_ref("ContactMap"), {"2": "ann@example.com"}))},
            errors={400: "A bad `list_id`, `contact_id` or `full`", 404: _CONTACT_NOT_FOUND},
        ),
        "post": _book(
            "updateContact",
            "Edit a contact (partial: present fields replace, absent ones stay)",
            description="`email_address` can be changed, not cleared; `route` `null` or empty removes the route.",
            params=[list_id, contact_id],
            body=_json_body(_ref("ContactInput"), "The fields to change", {"first_name": "Zoë", "route": "zoe@gw01"}),
            ok={200: _coded(200, "Updated", "Contact updated")},
            errors={
                400: (
                    "A bad `list_id` or `contact_id`, or a bad field (as on add)",
                    "Invalid contact: email_address is required",
                ),
                404: _CONTACT_NOT_FOUND,
                413: None,
            },
        ),
        "delete": _book(
            "deleteContact",
            "Delete a contact",
            description="The answer is a bare JSON string, as the seed's.",
            params=[list_id, contact_id],
            ok={200: _response("Deleted", _json({"type": "string", "const": "Contact removed"}, "Contact removed"))},
            errors={400: "A bad `list_id` or `contact_id`", 404: _CONTACT_NOT_FOUND},
        ),
    }
    return {
        "/v1/lists.json": list_ops,
        "/v1/lists.json/{list_id}": {"delete": delete_list},
        "/v1/lists/{name}": {"post": create},
        "/v1/contacts.json/{list_id}/contacts/": contacts,
        "/v1/contacts.json/{list_id}/contact/{contact_id}": get_contact,
        "/v1/contacts.json/{list_id}/contacts/{contact_id}": contact,
    }


def _v1_paths() -> Json:
    partners, partner = _partner_ops()
    paths: Json = {
        "/v1/authorize": {"post": _authorize()},
        "/v1/message/{as2_station_id}/{as2_partner_id}": {"post": _send()},
    }
    for kind in ("received", "sent", "failed", "queued"):
        paths[f"/v1/message/{kind}"] = {"get": _list(kind)}
    for kind in ("received", "sent", "failed", "queued"):
        paths[f"/v1/message/{kind}/{{as2_message_id}}"] = {"get": _get(kind), "delete": _delete_one(kind)}
    paths["/v1/message/stopped/{as2_message_id}"] = {"delete": _delete_one("stopped")}
    paths["/v1/message/{message_type}"] = {"delete": _delete_many()}
    paths["/v1/message/received/{as2_message_id}/markUnread"] = {
        "post": _op(
            "markReceivedMessageUnread",
            "Mark a received message unread for the caller",
            description="Idempotent.",
            params=[_param_ref("as2_message_id")],
            ok={200: _message("Marked unread", "Successfully marked message <id> as unread")},
            errors={400: None, 404: _NOT_FOUND},
        )
    }
    for kind in ("received", "sent"):
        paths[f"/v1/message/{kind}/{{as2_message_id}}/attachments"] = {"get": _attachment(kind, indexed=False)}
        paths[f"/v1/message/{kind}/{{as2_message_id}}/attachments/{{index}}"] = {"get": _attachment(kind, indexed=True)}
    paths["/v1/message/received/batch/attachments"] = {"post": _batch()}
    for kind in ("received", "sent"):
        paths[f"/v1/message/{kind}/{{as2_message_id}}/mdn"] = {"get": _mdn(kind)}
    paths["/v1/message/queued/{as2_message_id}/stop"] = {"post": _retry_control("stop")}
    paths["/v1/message/queued/{as2_message_id}/retry"] = {"post": _retry_control("retry")}
    paths["/v1/partner"] = partners
    paths["/v1/partner/{partnerId}"] = partner
    paths["/v1/station"] = {
        "get": _op(
            "listStations",
            "List the caller's stations",
            description="A JSON array by as2Identifier; `query` filters by name or as2Identifier.",
            params=[_param_ref("query")],
            ok={200: _response("The stations", _json({"type": "array", "items": _ref("Station")}))},
            errors={400: None},
        )
    }
    paths["/v1/receipt-key"] = {
        "get": _op(
            "getReceiptKey",
            "Get the public key that verifies receipts",
            description="No token and no rate limit. Verify a receipt's `signature` (Ed25519) over the RFC 8785 "
            "canonical JSON of its `receipt`, after checking that its `keyId` is this key's.",
            secured=False,
            ok={200: _response("The receipt public key", _json(_ref("ReceiptKey")))},
            errors={},
        )
    }
    paths.update(_apikey_ops())
    paths.update(_addressbook_ops())
    paths.update(_webhook_ops())
    paths.update(_delivery_ops())
    return paths


# -- /1 operations ----------------------------------------------------------------------------

_ROUTE_ERRORS: dict[int, str] = {
    400: "code 100: a required header is missing or malformed",
    401: "code 101: request key invalid; 102: timestamp outside the allowed window; 103: request key already used",
    404: "code 301: message not found (unknown link, or not addressed to the caller)",
    410: "code 302: message expired",
    429: "code 104: rate limit exceeded",
    503: "code 503: storage unavailable",
}


def _route_error(status: int, text: str | None = None) -> Json:
    headers: Json = {"error": _header_ref("RouteError")}
    if status == 429:
        headers["Retry-After"] = _header_ref("RetryAfter")
    return _response(f"Error header, empty body. {text or _ROUTE_ERRORS[status]}", None, headers)


def _route_op(
    op_id: str,
    summary: str,
    *,
    ok: dict[int, Json],
    errors: dict[int, str | None],
    params: list[Json] | None = None,
    body: Json | None = None,
    description: str | None = None,
    signed: bool = True,
) -> Json:
    signature = [_param_ref(n) for n in ("request-timestamp", "request-from", "request-key")] if signed else []
    operation: Json = {"tags": [TAG_ROUTE], "summary": summary, "operationId": op_id}
    if description:
        operation["description"] = description
    operation["parameters"] = signature + (params or [])
    if body is not None:
        operation["requestBody"] = body
    responses: Json = {str(status): response for status, response in sorted(ok.items())}
    all_errors: dict[int, str | None] = {400: None, 401: None, 429: None, 503: None} if signed else {}
    all_errors.update(errors)
    for status in sorted(all_errors):
        responses[str(status)] = _route_error(status, all_errors[status])
    operation["responses"] = responses
    operation["security"] = []
    return operation


def _file_response(description: str) -> Json:
    names = ["Message-Link", "Message-File-Name", "Message-From", "Message-Id", "Message-MD5", "Message-Expires"]
    headers = {
        "Content-Disposition": _header_ref("ContentDisposition"),
        "Content-Length": _header_ref("ContentLength"),
        **{name: _header_ref(name) for name in names},
        "Pay-For-Reply": _header_ref("Pay-For-Reply"),
        "Message-Attachment-Count": _header_ref("Message-Attachment-Count"),
    }
    return _response(description, {"application/octet-stream": {"schema": _binary()}}, headers)


def _route_paths() -> Json:
    link = _param(
        "link",
        "path",
        {"type": "string"},
        "A message link (`[A-Za-z0-9._~-]`); `0` means from the start on get-next/wait-next",
    )
    send_headers = [
        _param(
            "message-to",
            "header",
            {"anyOf": [_ref("Route"), _ref("ListAddress")]},
            "The recipient route, or `list:<id>` for a fan-out to a contact list (signed as MESSAGE_TO as written)",
            required=True,
        ),
        _param(
            "message-id",
            "header",
            {"type": "string", "pattern": r"^[\x20-\x7E]{1,128}$"},
            "Sender-chosen id",
            required=True,
        ),
        _param(
            "message-md5",
            "header",
            {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"},
            "Hex MD5 of the file",
            required=True,
        ),
        _param(
            "message-expires-after",
            "header",
            {"type": "integer", "minimum": 1, "maximum": 2592000, "default": 86400},
            "Lifetime in seconds",
        ),
        _param("message-priority", "header", {"type": "string", "enum": ["normal"]}, "Only `normal`"),
        _param("pay-for-reply", "header", {"type": "integer", "enum": [0, 1], "default": 0}, "Shown to the recipient"),
    ]
    next_errors: dict[int, str | None] = {404: "code 301: unknown or foreign link; 303: no newer message", 410: None}
    return {
        "/1/send-message": {
            "post": _route_op(
                "routeSendMessage",
                "Send a message (one file) to a route, or to every contact of a list",
                description="`request-key = hex(sha512(TIMESTAMP + ROUTE + MESSAGE_TO + MESSAGE_ID + MESSAGE_MD5 + "
                "KEY_SECRET))`. Idempotent: the same sender, message-id and md5 again returns the same link.\n\n"
                "**Fan-out**: `message-to: list:<id>` names a contact list of an account that has the sending route "
                "as a station. The payload is stored once and every distinct contact route gets its own copy, as if "
                "sent to it directly; contacts that cannot receive are rejected in the answer, not fatal. The 200 "
                "answer then has a JSON body (`RouteFanoutResult`) and no `message-link`. Idempotent as a direct "
                "send: the same sender, message-id and md5 to the same list answers the stored result again (even "
                "if the list changed) and delivers nothing new.",
                params=send_headers,
                body={
                    "required": True,
                    "content": {"multipart/form-data": {"schema": _obj({"data": _binary()}, ["data"])}},
                },
                ok={
                    200: _response(
                        "Committed. A direct send: empty body and `message-link`. A fan-out: the per-recipient "
                        "result as JSON, no `message-link`",
                        _json(_ref("RouteFanoutResult")),
                        {
                            "message-link": _header(
                                "Direct sends only: the message's link",
                                {"type": "string", "pattern": _LINK_PATTERN},
                                required=False,
                            )
                        },
                    )
                },
                errors={
                    400: "code 100: header missing or malformed (also a `message-to` that is neither a route nor "
                    "`list:<id>`); 202: message-md5 does not match; 205: message-expires-after out of range; 206: "
                    "unsupported priority; 207: no `data` part",
                    404: "code 201: message recipient cannot be found; for a list: unknown, not of an account of the "
                    "sending route, or no contact of it can receive the message (nothing is stored)",
                    409: "code 204: message-id already used by this sender for different content (or another "
                    "recipient)",
                    413: "code 203: message too large (default 10 MiB)",
                },
            )
        },
        "/1/list-messages": {
            "get": _route_op(
                "routeListMessages",
                "List the caller's unexpired messages, oldest first",
                ok={200: _response("The messages", _json({"type": "array", "items": _ref("RouteMessage")}))},
                errors={},
            )
        },
        "/1/get-message/{link}": {
            "get": _route_op(
                "routeGetMessage",
                "Download a message's file",
                params=[
                    link,
                    _param(
                        "index",
                        "query",
                        {"type": "integer", "minimum": 0, "default": 0},
                        "Attachment to serve (0-based)",
                    ),
                ],
                ok={200: _file_response("The file bytes")},
                errors={
                    400: "code 100: a header is missing or malformed, or `index` is not a decimal integer",
                    404: "code 301: unknown or foreign link, or `index` >= the attachment count",
                    410: None,
                },
            )
        },
        "/1/get-next-message/{link}": {
            "get": _route_op(
                "routeGetNextMessage",
                "Download the oldest message that arrived after `link`",
                params=[link],
                ok={200: _file_response("The next message's file bytes")},
                errors=next_errors,
            )
        },
        "/1/wait-next-message/{link}": {
            "get": _route_op(
                "routeWaitNextMessage",
                "As get-next-message, but wait for one to arrive",
                params=[
                    link,
                    _param(
                        "timeout",
                        "query",
                        {"type": "integer", "minimum": 0, "maximum": 300, "default": 60},
                        "Seconds to wait (larger values are clamped to 300)",
                    ),
                ],
                ok={
                    200: _file_response("The next message's file bytes"),
                    204: _response("Nothing arrived within the wait limit; loop"),
                },
                errors=next_errors,
            )
        },
        "/1/ping": {
            "get": _route_op(
                "routePing",
                "Check that the server and its store answer",
                description="No signature needed; request headers, when present, are verified.",
                signed=False,
                params=[
                    _param("request-timestamp", "header", {"type": "string"}, "Optional"),
                    _param("request-from", "header", {"type": "string"}, "Optional"),
                    _param("request-key", "header", {"type": "string"}, "Optional"),
                ],
                ok={200: _response("`ok`", {"text/plain": {"schema": {"type": "string", "const": "ok"}}})},
                errors={401: "code 101-103: the request headers that were sent do not verify", 503: None},
            )
        },
    }


# -- webhooks: the requests relaybox makes ------------------------------------------------------


def _event_op(op_id: str, summary: str, description: str, schema: str, *, ping: bool = False) -> Json:
    """A POST relaybox sends to a registered endpoint (OpenAPI's top-level ``webhooks``)."""

    def h(name: str, value: Json, text: str, *, required: bool = True) -> Json:
        return _param(name, "header", value, text, required=required)

    standard = "Only for an endpoint with `standardWebhooks`: "
    params = [
        h(
            "Signature",
            {"type": "string", "pattern": "^v1=[0-9a-f]{64}$"},
            "`v1=` + lowercase hex HMAC-SHA256 of the raw body, keyed with the UTF-8 bytes of the whole secret text "
            "(`whsec_` included). The same on every attempt. Compare in constant time.",
        ),
        h("User-Agent", {"type": "string", "pattern": "^relaybox-webhooks/"}, "`relaybox-webhooks/<version>`"),
        h("Relaybox-Event-Id", {"type": "string", "pattern": _EVENT_ID}, "The envelope's `event_id` (not signed)"),
        h("Relaybox-Event-Type", {"type": "string"}, "The envelope's `event_type` (not signed)"),
        h(
            "Relaybox-Attempt",
            {"type": "integer", "minimum": 1, "maximum": 1 if ping else 10},
            "Attempt number (not signed)" + ("; a ping is always attempt 1" if ping else ""),
        ),
        h("webhook-id", {"type": "string", "pattern": _EVENT_ID}, standard + "the `event_id`", required=False),
        h(
            "webhook-timestamp",
            {"type": "integer", "minimum": 0},
            standard + "this attempt's time, integer Unix seconds (re-signed on every attempt); refuse "
            "`|now - timestamp| > 300`",
            required=False,
        ),
        h(
            "webhook-signature",
            {"type": "string", "pattern": r"^v1,[A-Za-z0-9+/]+={0,2}$"},
            standard + "`v1,` + base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the "
            "base64-decoded bytes after `whsec_` (what Standard Webhooks libraries verify)",
            required=False,
        ),
    ]
    body = {
        "required": True,
        "description": "The envelope as compact JSON (no spaces), UTF-8, no trailing newline, keys in the order "
        "shown; byte-identical on every attempt. Ignore fields you do not know.",
        "content": {"application/json": {"schema": _ref(schema)}},
    }
    if ping:
        responses: Json = {
            "2XX": {"description": "The test answer reports `ok: true`"},
            "default": {"description": "The test answer reports `ok: false` and the status; a ping is never retried"},
        }
    else:
        retry_after = {
            "Retry-After": {
                "description": "Seconds or an HTTP-date; the next attempt is not sooner (capped at 24 h)",
                "schema": {"type": "string"},
            }
        }
        responses = {
            "2XX": {"description": "Delivered: the delivery becomes `sent`"},
            "410": {"description": "A failed attempt; the endpoint is disabled (`disabledReason` `gone`)"},
            "429": {"description": "A failed attempt, retried not before `Retry-After`", "headers": retry_after},
            "503": {"description": "A failed attempt, retried not before `Retry-After`", "headers": retry_after},
            "default": {
                "description": "Any other answer (1xx, 3xx: redirects are not followed, 4xx, 5xx), no complete answer "
                "within the endpoint's `timeout`, or a connection error: a failed attempt, retried on the schedule "
                "(10 s, 1 min, 5 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h, each +-20 %); after attempt 10 the delivery "
                "is `stopped` (`exhausted`). Up to 4 KiB of the answer body is kept in the failure entry."
            },
        }
    return {
        "post": {
            "tags": [TAG_EVENTS],
            "summary": summary,
            "operationId": op_id,
            "description": description,
            "parameters": params,
            "requestBody": body,
            "responses": responses,
            "security": [],
        }
    }


def _event_webhooks() -> Json:
    delivery = (
        " At least once: one delivery per enabled endpoint of the station subscribed to the event type, written in "
        "the transaction of the cause; no ordering between events. Dedupe on `event_id`."
    )
    return {
        "message.received": _event_op(
            "messageReceivedEvent",
            "A message landed in a station's mailbox",
            "Sent to the endpoints of the recipient station when a message lands in its mailbox (a direct send, a "
            "fan-out copy, or an arrival from a federated gateway)." + delivery,
            "MessageReceivedEvent",
        ),
        "message.status": _event_op(
            "messageStatusEvent",
            "A sent message changed status for one recipient",
            "Sent to the endpoints of the sender station, one event per status per recipient. Order is not "
            "guaranteed: `read` implies `delivered`, both imply `accepted`; `delivered` after `failed` means a "
            "hand retry succeeded." + delivery,
            "MessageStatusEvent",
        ),
        PING: _event_op(
            "pingEvent",
            "A test event from `POST /v1/webhooks/{webhookId}/test`",
            "Sent once, at once, by `POST /v1/webhooks/{webhookId}/test`; never retried and never listed.",
            "PingEvent",
            ping=True,
        ),
    }


# -- components -------------------------------------------------------------------------------


def _schemas() -> Json:
    reserved = ", ".join(f"`{name}`" for name in sorted(RESERVED_HEADERS))
    route = {
        "type": "string",
        "pattern": _ROUTE_PATTERN,
        "description": "A route: `local@domain`",
        "examples": ["alpha@bars01"],
    }
    subject = {
        "type": "string",
        "maxLength": 255,
        "pattern": _NO_CONTROL_CHARS,
        "description": "A subject: at most 255 characters, no control characters",
    }
    custom_header = _obj(
        {
            "headerKey": _s("An HTTP token of 1-64 characters", pattern=_HTTP_TOKEN),
            "headerValue": _s(
                "At most 1024 characters, no control characters", maxLength=1024, pattern=_NO_CONTROL_CHARS
            ),
        },
        ["headerKey", "headerValue"],
    )
    partner_fields: Json = {
        "stationAS2Id": {**_ref("Route"), "description": "The owning station (required on create; immutable)"},
        "as2Identifier": {**_ref("Route"), "description": "The partner's route"},
        "name": _s("1-128 characters; defaults to as2Identifier", minLength=1, maxLength=128),
        "description": _s("At most 1024 characters; defaults to empty", maxLength=1024),
        "uri": {
            "type": ["string", "null"],
            "format": "uri",
            "maxLength": 2048,
            "description": "Absolute http(s) URL of a remote partner, whose messages relaybox pushes there (see "
            "`transport`); null for a local partner (its route lives here)",
        },
        "messageSubject": {
            "type": ["string", "null"],
            "maxLength": 255,
            "pattern": _NO_CONTROL_CHARS,
            "description": "Default subject of messages sent to this partner, or null",
        },
        "customHeaders": {
            "type": "array",
            "items": _ref("CustomHeader"),
            "maxItems": MAX_CUSTOM_HEADERS,
            "description": "Headers added to every push to this partner (names unique regardless of case). Refused "
            "(400): `Message-*` names and the headers relaybox sets or that frame the request (" + reserved + ")",
        },
        "pauseIncoming": _bool("Refuse messages from this partner (default false)"),
        "pauseOutgoing": _bool("Hold messages to this partner as queued (default false)"),
        "sendTimeout": _int("Seconds a push attempt may wait (default 60)", minimum=1, maximum=3600),
        "partnerType": {**_ref("PartnerType"), "description": "Default Production"},
        "requestMdn": _bool("Request a signed receipt (default true)"),
    }
    push_fields: Json = {
        "transport": {
            "type": "string",
            "enum": list(TRANSPORTS),
            "description": "How messages reach a partner with a `uri`: `federation` (default: `POST {uri}/1/send-message`"
            ", signed as `remoteRoute` with `remoteSecret`) or `https` (`POST {uri}` with the file as the body and "
            "`Message-*` headers, signed with `pushSecret`)",
        },
        "remoteRoute": {
            "anyOf": [_ref("Route"), {"type": "null"}],
            "description": "The route relaybox signs federation pushes as on the remote gateway; null: the owning "
            "station's route",
        },
    }
    secret_rule = "16-128 printable ASCII characters without spaces, or null to clear; write-only, never returned"
    partner_answer = {
        **partner_fields,
        **push_fields,
        "remoteSecretSet": _bool("Whether a `remoteSecret` is stored (the secret itself is never returned)"),
        "pushSecretSet": _bool("Whether a `pushSecret` is stored (the secret itself is never returned)"),
    }
    partner_input = {
        **partner_fields,
        **push_fields,
        "remoteSecret": {
            "type": ["string", "null"],
            "pattern": _PUSH_SECRET,
            "writeOnly": True,
            "description": "`remoteRoute`'s KEY_SECRET on the remote gateway (from its operator's `relaybox route "
            f"add`), for federation pushes: {secret_rule}",
        },
        "pushSecret": {
            "type": ["string", "null"],
            "pattern": _PUSH_SECRET,
            "writeOnly": True,
            "description": "`https` transport: the HMAC-SHA256 key shared with the partner for the Date+digest "
            f"signature (`Authorization: relaybox_api ...`): {secret_rule}. An `https` partner without one (none "
            "given, or null) gets a generated one, returned once as `pushSecret` in that answer",
        },
    }
    generated = {
        "pushSecret": {
            "type": "string",
            "description": "Only in the answer of a create or update that made the partner `https` without a "
            "`pushSecret`: the one generated (43 base64url characters), shown this once",
        }
    }
    partner = _obj(
        {"partnerId": _int("Assigned by the server"), **partner_answer},
        ["partnerId", *partner_answer],
        "A trading partner of one station; every field is present (`null` when unset). `remoteSecret` and "
        "`pushSecret` are write-only: `remoteSecretSet` and `pushSecretSet` tell whether they are stored",
    )
    partner_saved = _obj(
        {"partnerId": _int("Assigned by the server"), **partner_answer, **generated},
        ["partnerId", *partner_answer],
        "The Partner as created or updated; `pushSecret` only when this call generated it",
    )
    input_note = (
        "Other fields of the seed's Partner (certificates, algorithms, compression, MDN variants, flows, "
        "useAs2Restart, pinned, isGlobalPartner), `partnerId`, `remoteSecretSet` and `pushSecretSet` are accepted "
        "and ignored."
    )
    page = _obj(
        {
            "totalRecords": _int("Number of matches before paging"),
            "records": {"type": "array", "items": _ref("AS2Message")},
        },
        ["totalRecords", "records"],
        "A page of AS2 Messages",
    )
    return {
        "GenericResponse": _obj(
            {"message": {"type": "string"}}, ["message"], "An acknowledgement or an error description"
        ),
        "Route": route,
        "Subject": subject,
        "PartnerType": {"type": "string", "enum": ["Production", "Test"]},
        "PartnerTypeQuery": {"type": "string", "enum": ["production", "test"], "default": "production"},
        "Credentials": _obj(
            {"username": _s("The account's email (case-insensitive)"), "password": {"type": "string"}},
            ["username", "password"],
        ),
        "Token": _obj(
            {
                "token": _s("A JWT; send it as `Authorization: <token>`"),
                "expiry": _ms("When the token expires"),
            },
            ["token", "expiry"],
        ),
        "Attachment": _obj({"name": {"type": "string"}, "size": _int("Bytes", minimum=0)}, ["name", "size"]),
        "MdnMessage": _obj(
            {
                "persistedTimestamp": _ms("When the receipt was recorded"),
                "mdnError": _bool("Always false", const=False),
                "content": _s("Human-readable summary of the receipt"),
            },
            ["persistedTimestamp", "mdnError", "content"],
            "Present once the receiver's receipt exists; the signed document is at `.../mdn`",
        ),
        "AS2Message": _obj(
            {
                "as2MessageId": _s("The message's link: the `{as2_message_id}` of every message path"),
                "messageId": _s("The `/1` message-id; equals as2MessageId for `/v1` sends"),
                "persistedTimestamp": _ms("Commit time; on a failure entry, the attempt time"),
                "expiryTimestamp": _ms("Expiry time"),
                "compressed": _bool("Always false"),
                "encrypted": _bool("Always false (confidentiality comes from TLS)"),
                "signed": _bool("Always false (integrity comes from the hashes and the signed receipt)"),
                "subject": _s("Omitted when there is none"),
                "senderId": {**_ref("Route"), "description": "The sending route"},
                "receiverId": {**_ref("Route"), "description": "The receiving route"},
                "transportStatusReceived": _int(
                    "Sender views only: HTTP status of the delivery; omitted while queued or stopped"
                ),
                "deliveryStatus": _s("Sender views only", enum=["Delivered", "Not Delivered", "No Status"]),
                "state": _s("Sender views only", enum=["queued", "stopped", "sent", "failed"]),
                "mdnStatus": _s(
                    "Receipt status (`No MDN` is never produced)", enum=["Pending", "Received", "Not Requested"]
                ),
                "partnerType": {**_ref("PartnerType"), "description": "This view's partner type"},
                "read": _bool("Received view only: read by the caller"),
                "mdnMessage": _ref("MdnMessage"),
                "attachments": {"type": "array", "items": _ref("Attachment"), "description": "In index order"},
            },
            [
                "as2MessageId",
                "messageId",
                "persistedTimestamp",
                "expiryTimestamp",
                "compressed",
                "encrypted",
                "signed",
                "senderId",
                "receiverId",
                "mdnStatus",
                "partnerType",
                "attachments",
            ],
            "One view of a message (the failed list has one per failure entry)",
        ),
        "AS2MessagePage": page,
        "CustomHeader": custom_header,
        "Partner": partner,
        "PartnerSaved": partner_saved,
        "PartnerInput": _obj(
            partner_input,
            ["stationAS2Id", "as2Identifier"],
            f"A partner to create. {input_note}",
            additionalProperties=True,
        ),
        "PartnerUpdate": _obj(
            partner_input,
            None,
            f"A partial update: present fields replace, absent ones stay; `stationAS2Id` must be unchanged. {input_note}",
            additionalProperties=True,
        ),
        "Station": _obj(
            {
                "id": {"type": "integer"},
                "as2Identifier": _ref("Route"),
                "name": _s("Defaults to the route"),
                "comments": {"type": ["string", "null"]},
                "email": _s("The calling account's email", format="email"),
            },
            ["id", "as2Identifier", "name", "comments", "email"],
        ),
        "ReceiptKey": _obj(
            {
                "algorithm": {"type": "string", "const": "Ed25519"},
                "keyId": _s("First 16 hex digits of the SHA-256 of the raw key", pattern="^[0-9a-f]{16}$"),
                "publicKey": _s("The raw 32-byte key, standard base64", contentEncoding="base64"),
                "pem": _s("The key as a PEM SubjectPublicKeyInfo"),
            },
            ["algorithm", "keyId", "publicKey", "pem"],
        ),
        "Receipt": _obj(
            {
                "receipt": _obj(
                    {
                        "version": {"type": "integer", "const": 1},
                        "keyId": _s("The signing key's keyId", pattern="^[0-9a-f]{16}$"),
                        "messageId": _s("as2MessageId"),
                        "senderMessageId": _s("messageId"),
                        "senderId": _ref("Route"),
                        "receiverId": _ref("Route"),
                        "attachments": {
                            "type": "array",
                            "items": _obj(
                                {
                                    "index": _int("0-based", minimum=0),
                                    "name": {"type": "string"},
                                    "size": _int("Bytes", minimum=0),
                                    "sha256": _s("Lowercase hex", pattern="^[0-9a-f]{64}$"),
                                },
                                ["index", "name", "size", "sha256"],
                            ),
                        },
                        "disposition": {"type": "string", "const": "processed"},
                        "timestamp": _s("UTC RFC 3339 with milliseconds", format="date-time"),
                    },
                    [
                        "version",
                        "keyId",
                        "messageId",
                        "senderMessageId",
                        "senderId",
                        "receiverId",
                        "attachments",
                        "disposition",
                        "timestamp",
                    ],
                ),
                "signature": _s(
                    "Ed25519 signature (standard base64) over the RFC 8785 canonical JSON of `receipt`",
                    contentEncoding="base64",
                ),
            },
            ["receipt", "signature"],
            "A signed receipt: the receiver downloaded the listed attachments",
        ),
        "RouteMessage": _obj(
            {
                "link": _s("The message link", pattern=_LINK_PATTERN),
                "received_date": _s("UTC `YYYY-MM-DD HH:MM:SS`", pattern=_DATE_1),
                "expiration_date": _s("UTC `YYYY-MM-DD HH:MM:SS`", pattern=_DATE_1),
                "from": _s("Sender route"),
                "message_id": _s("Sender's message-id (the link for `/v1` sends)"),
                "file_name": _s("Name of attachment 0"),
                "size": _int("Size of attachment 0", minimum=0),
                "md5": _s("Lowercase hex MD5 of attachment 0", pattern="^[0-9a-f]{32}$"),
                "attachment_count": _int("Number of attachments", minimum=1),
            },
            ["link", "received_date", "expiration_date"],
            "A `/1/list-messages` entry",
        ),
        **_signing_schemas(),
        **_addressbook_schemas(),
        **_webhook_schemas(),
    }


def _signing_schemas() -> Json:
    """API keys (camelCase, Unix ms) and the RFC 9457 problem body."""
    key_fields: Json = {
        "publicKey": _s("`rbk_` + 24 lowercase hex digits: names the key in `Authorization`", pattern=_PUBLIC_KEY),
        "account": _s("The owning account's email", format="email"),
        "name": _s("What the key is for (may be empty)", maxLength=128, pattern=_NO_CONTROL_CHARS),
        "createdTimestamp": _ms("Creation time"),
        "expiryTimestamp": {
            "type": ["integer", "null"],
            "format": "int64",
            "description": "When the key stops working (Unix milliseconds): creation + `expiresDays` x 86400 s; null: "
            "never",
        },
        "requireTimestamp": _bool("RCWS requests with this key must send `request-timestamp`"),
    }
    listed: Json = {
        **key_fields,
        "lastUsedTimestamp": {
            "type": ["integer", "null"],
            "format": "int64",
            "description": "Last accepted request (Unix milliseconds), recorded at most once a minute; a key never "
            "used shows its creation time",
        },
        "state": _s("`active`, `expired` (past its expiry) or `revoked`", enum=["active", "expired", "revoked"]),
    }
    created: Json = {
        "publicKey": key_fields["publicKey"],
        "privateKey": _s(
            "`rbs_` + 43 base64url characters: the HMAC key (its text as UTF-8, prefix included). Shown only in this "
            "answer",
            pattern=_PRIVATE_KEY,
        ),
        **{k: v for k, v in key_fields.items() if k != "publicKey"},
    }
    problem_types = ["about:blank", *(PROBLEM_PREFIX + slug for slug in PROBLEMS)]
    return {
        "ApiKeyInput": _obj(
            {
                "name": _s(
                    "What the key is for: at most 128 characters without control characters (default empty)",
                    maxLength=128,
                    pattern=_NO_CONTROL_CHARS,
                ),
                "expiresDays": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "maximum": MAX_KEY_DAYS,
                    "description": "Days until the key expires; absent or null: never",
                },
                "requireTimestamp": _bool(
                    "Refuse RCWS requests with this key that do not send `request-timestamp` (default false)"
                ),
            },
            None,
            "A key to create; unknown fields are ignored",
        ),
        "ApiKey": _obj(listed, list(listed), "An API key as listed: never its private key"),
        "ApiKeyWithSecret": _obj(created, list(created), "A new API key with its private key, shown this once"),
        "ApiKeyPage": _obj(
            {"totalRecords": _int("Number of keys"), "records": {"type": "array", "items": _ref("ApiKey")}},
            ["totalRecords", "records"],
            "A page of API keys",
        ),
        "Problem": _obj(
            {
                "type": _s(_problem_types(), enum=problem_types),
                "title": _s("The failure's title, or the HTTP status phrase (`about:blank`)"),
                "status": _int("The HTTP status", minimum=400, maximum=599),
                "detail": _s("What went wrong: the message a token client gets as `message`"),
                "request_id": _s("The `request-id` header's value", pattern=_REQUEST_ID),
                "message": _s("The same as `detail`, so readers of the Generic Response keep working"),
                "expected_string": _s(
                    "`invalid-signature` only: the string the server signed (RCWS `S` or Date+digest `D`), to compare "
                    "with yours; never the key"
                ),
            },
            ["type", "title", "status", "detail", "request_id", "message"],
            "An RFC 9457 problem (`application/problem+json`): every /v1 error of an HMAC-signed request, and of any "
            "request that sends `Accept: application/problem+json`",
            examples=[_PROBLEM_401_EXAMPLE],
        ),
    }


def _addressbook_schemas() -> Json:
    """Contact lists and contacts (the Migomail seed's snake_case), and the fan-out answers."""
    ids = {"pattern": "^[1-9][0-9]*$"}
    contact_text = {
        name: _s(f"At most {most} characters", maxLength=most)
        for name, most in FIELD_LENGTHS.items()
        if name != "route"
    }
    route_field = {
        "anyOf": [_ref("Route"), {"type": "null"}],
        "description": "The relaybox route the contact is reached at by fan-out sends (`list:<id>`); null: none",
    }
    contact = _obj(
        {
            "id": _int("The contact's id (server-wide)", minimum=1),
            "list_id": _int("Its list", minimum=1),
            **contact_text,
            "email_address": _s("The contact's e-mail address", maxLength=FIELD_LENGTHS["email_address"]),
            "route": route_field,
            "created_timestamp": _ms("Creation time"),
            "updated_timestamp": _ms("Last change"),
        },
        None,
        "A whole contact (`?full=true`): every field present, empty strings where unset",
    )
    contact["required"] = list(contact["properties"])
    assert set(contact["required"]) == {"id", "list_id", *FIELDS, "created_timestamp", "updated_timestamp"}
    input_fields: Json = {
        name: {
            "type": ["string", "number"],
            "maxLength": most,
            "description": f"At most {most} characters after trimming, no control characters (a number is kept as "
            "its text)",
        }
        for name, most in FIELD_LENGTHS.items()
        if name != "route"
    }
    input_fields["email_address"] = {
        "type": "string",
        "maxLength": FIELD_LENGTHS["email_address"],
        "description": "Required on add; an e-mail address (ASCII, one `@`, a domain with a dot), case kept",
    }
    input_fields["route"] = {
        "anyOf": [_ref("Route"), {"type": "string", "const": ""}, {"type": "null"}],
        "description": "`local@domain`, or empty/null for none. Whether the route exists is decided at send time",
    }

    def fanout(camel: bool) -> tuple[Json, Json]:
        contact_ids = "contactIds" if camel else "contact_ids"
        recipient = _obj(
            {
                "route": {
                    "anyOf": [_ref("Route"), {"type": "null"}],
                    "description": "A distinct contact route; null for the contacts without one",
                },
                contact_ids: {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1},
                    "minItems": 1,
                    "description": "The contacts with this route, ascending",
                },
                "status": _s(
                    "`accepted`: a copy is in the route's mailbox; `queued`: a copy waits for a push to a remote "
                    "partner (a partner with a `uri`); `rejected`: no copy (see `code` and `reason`)",
                    enum=["accepted", "queued", "rejected"],
                ),
                "link": _s(
                    "accepted/queued only: the copy's link (its `as2MessageId` in `/v1`)", pattern=_LINK_PATTERN
                ),
                "code": {
                    "type": ["integer", "null"],
                    "description": "rejected only: the route-API code (201: no such route, no route, or the receiver "
                    "paused the station), or null where none fits (several files to a remote partner)",
                },
                "reason": _s("rejected only: why, e.g. `Message recipient cannot be found`, `Contact has no route`"),
            },
            ["route", contact_ids, "status"],
            "One recipient of a fan-out",
            allOf=[
                {
                    "if": {"properties": {"status": {"const": "rejected"}}},
                    "then": {"required": ["code", "reason"]},
                    "else": {"required": ["link"]},
                }
            ],
        )
        count = {"type": "integer", "minimum": 0}
        props: Json = {
            "to": _s("The list address as sent", pattern=_LIST_ADDRESS),
            ("messageId" if camel else "message_id"): _s(
                "The message id every copy carries (`/v1`: a new id per POST; `/1`: the `message-id` header)"
            ),
            "accepted": {**count, "description": "Recipients with status `accepted`"},
            "queued": {**count, "description": "Recipients with status `queued`"},
            "rejected": {**count, "description": "Recipients with status `rejected`"},
            "recipients": {
                "type": "array",
                "items": _ref("FanoutRecipient" if camel else "RouteFanoutRecipient"),
                "description": "Sorted by route, the contacts without a route last",
            },
        }
        if camel:
            props = {"message": _s("`Successfully added a new outbound entry`"), **props}
        result = _obj(props, list(props))
        return result, recipient

    v1_result, v1_recipient = fanout(camel=True)
    route_result, route_recipient = fanout(camel=False)
    v1_result["description"] = "The 202 answer of a `/v1` fan-out: a Generic Response plus the per-recipient result"
    v1_result["examples"] = [_V1_FANOUT_EXAMPLE]
    route_result["description"] = "The 200 body of a `/1/send-message` to `list:<id>`"
    route_result["examples"] = [_ROUTE_FANOUT_EXAMPLE]
    return {
        "ListAddress": _s("`list:<id>`: every contact of a contact list (fan-out)", pattern=_LIST_ADDRESS),
        "ListName": _s(
            f"1-{MAX_LIST_NAME} characters without control characters, unique per account",
            minLength=1,
            maxLength=MAX_LIST_NAME,
            pattern=_NO_CONTROL_CHARS,
        ),
        "ListMap": {
            "type": "object",
            "description": "List id (decimal, ascending) -> list name",
            "propertyNames": ids,
            "additionalProperties": _ref("ListName"),
        },
        "CodedResponse": _obj(
            {
                "code": _int("The HTTP status of the answer"),
                "message": {"type": "string"},
                "id": _int("Create answers only: the new list's or contact's id", minimum=1),
            },
            ["code", "message"],
            'The seed\'s acknowledgement `{"code", "message"}`; relaybox adds `id` to create answers',
        ),
        "Contact": contact,
        "ContactInput": _obj(
            input_fields,
            None,
            "A contact to add or the fields to change: the seed's fields plus `route`. Other keys (`id`, "
            "`posted_data`, ...) are ignored; values are trimmed",
        ),
        "ContactMap": {
            "type": "object",
            "description": "Contact id (decimal, ascending) -> e-mail address, or -> the whole `Contact` with `full`",
            "propertyNames": ids,
            "additionalProperties": {"anyOf": [{"type": "string"}, _ref("Contact")]},
        },
        "FanoutResult": v1_result,
        "FanoutRecipient": v1_recipient,
        "RouteFanoutResult": route_result,
        "RouteFanoutRecipient": route_recipient,
    }


_ROUTE_FANOUT_EXAMPLE = {
    "to": "list:7",
    "message_id": "12345",
    "accepted": 1,
    "queued": 1,
    "rejected": 2,
    "recipients": [
        {"route": "ab12@partner01", "contact_ids": [4], "status": "queued", "link": "1f393c2d-23e3-T95JhiPqLl"},
        {"route": "ef01@1234abcd", "contact_ids": [3], "status": "accepted", "link": "1f393c2d-23e3-JZ0TstJk39"},
        {
            "route": "zz99@nowhere01",
            "contact_ids": [5, 9],
            "status": "rejected",
            "code": 201,
            "reason": "Message recipient cannot be found",
        },
        {"route": None, "contact_ids": [6], "status": "rejected", "code": 201, "reason": "Contact has no route"},
    ],
}
_V1_FANOUT_EXAMPLE = {
    "message": "Successfully added a new outbound entry",
    "to": "list:7",
    "messageId": "uMQIizaD4XM2DMiRyg13EQ",
    "accepted": 1,
    "queued": 0,
    "rejected": 1,
    "recipients": [
        {"route": "ef01@1234abcd", "contactIds": [3], "status": "accepted", "link": "vPweAg3kGB8jNL1utny6-Q"},
        {"route": None, "contactIds": [6], "status": "rejected", "code": 201, "reason": "Contact has no route"},
    ],
}


def _webhook_schemas() -> Json:
    """The ``/v1/webhooks`` entities (camelCase, Unix ms) and the event envelopes (snake_case,
    RFC 3339)."""
    event_type = {"type": "string", "enum": list(EVENT_TYPES)}
    url = _s(
        f"Absolute `http://` or `https://` URL (its query is kept), at most {MAX_URL} characters; `http` is refused "
        "while `RELAYBOX_WEBHOOK_REQUIRE_HTTPS` is on",
        format="uri",
        minLength=1,
        maxLength=MAX_URL,
    )
    settings: Json = {
        "url": url,
        "eventTypes": {
            "type": "array",
            "items": _ref("WebhookEventType"),
            "minItems": 1,
            "description": "The event types sent to this endpoint (`ping` needs no subscription)",
        },
        "enabled": _bool("Whether events are sent (default true)"),
        "description": _s(
            f"At most {MAX_DESCRIPTION} characters, no control characters (default empty)",
            maxLength=MAX_DESCRIPTION,
            pattern=_NO_CONTROL_CHARS,
        ),
        "standardWebhooks": _bool(
            "Also send the Standard Webhooks headers `webhook-id`, `webhook-timestamp`, `webhook-signature` "
            "(default false)"
        ),
        "timeout": _int(
            f"Seconds per attempt (default {DEFAULT_TIMEOUT})", minimum=1, maximum=60, default=DEFAULT_TIMEOUT
        ),
    }
    endpoint_props: Json = {
        "id": _s("`wh_` + a 26-character ULID, made by the server", pattern=_WEBHOOK_ID),
        "stationAS2Id": {**_ref("Route"), "description": "The station whose events are sent; fixed after creation"},
        **settings,
        "eventTypes": {**settings["eventTypes"], "uniqueItems": True},
        "disabledReason": {
            "type": ["string", "null"],
            "enum": ["user", "gone", "failing", None],
            "description": "Why the endpoint is disabled: `user` (set `enabled: false`), `gone` (it answered 410), "
            "`failing` (a failure streak of `RELAYBOX_WEBHOOK_DISABLE_AFTER`, default 5 days); null when enabled",
        },
        "createdTimestamp": _ms("Creation time"),
        "updatedTimestamp": _ms("Last change"),
    }
    secret = _s(
        f"`whsec_` + standard base64 (with `=` padding) of {SECRET_MIN_BYTES}..{SECRET_MAX_BYTES} bytes (the "
        "Standard Webhooks bounds); generated from 32 random bytes. `Signature` is keyed with the whole text, "
        "`webhook-signature` with the decoded bytes",
        pattern=_secret_pattern(),
        examples=["whsec_cmVsYXlib3gtZXhhbXBsZS13ZWJob29rLXNlY3JldCE="],
    )
    delivery_common: Json = {
        "deliveryId": _s("`dlv_` + a 26-character ULID", pattern=_DELIVERY_ID),
        "webhookId": _s("The endpoint", pattern=_WEBHOOK_ID),
        "eventId": _s("The event's `event_id`", pattern=_EVENT_ID),
        "eventType": _ref("WebhookEventType"),
    }
    nullable_ms: Json = {"type": ["integer", "null"], "format": "int64"}
    delivery = _obj(
        {
            **delivery_common,
            "state": _s("`queued` (waiting or in flight), `stopped` or `sent`", enum=["queued", "stopped", "sent"]),
            "attempts": _int("Attempts made so far", minimum=0),
            "nextAttemptTimestamp": {
                **nullable_ms,
                "description": "When the next attempt is due (Unix milliseconds); null unless `queued`",
            },
            "lastAttemptTimestamp": {**nullable_ms, "description": "The latest attempt (Unix milliseconds), or null"},
            "lastStatusCode": {
                "type": ["integer", "null"],
                "description": "HTTP status of the latest attempt, or null",
            },
            "lastError": {
                "type": ["string", "null"],
                "description": f"Why the latest attempt failed ({_ATTEMPT_ERROR}); null after a 2xx or before any attempt",
            },
            "stopReason": {
                "type": ["string", "null"],
                "enum": ["exhausted", "stopped", "endpoint disabled", None],
                "description": "Why a `stopped` delivery stopped: `exhausted` (attempt 10 failed), `stopped` (by "
                "hand), `endpoint disabled`; else null",
            },
            "persistedTimestamp": _ms("When the event was written"),
        },
        None,
        "One event to one endpoint; every field is present (`null` when unset)",
    )
    delivery["required"] = list(delivery["properties"])
    failure = _obj(
        {
            **delivery_common,
            "attempt": _int("Attempt number", minimum=1),
            "persistedTimestamp": _ms("The attempt's time"),
            "statusCode": {"type": ["integer", "null"], "description": "The endpoint's HTTP status, or null"},
            "error": {
                "type": ["string", "null"],
                "description": f"Why the attempt failed: {_ATTEMPT_ERROR}",
            },
            "durationMs": _int("How long the attempt took", minimum=0),
            "responseExcerpt": {
                "type": ["string", "null"],
                "description": "Up to 4 KiB of the answer body, or null",
            },
        },
        None,
        "One failed attempt of a delivery (a delivery may have several)",
    )
    failure["required"] = list(failure["properties"])

    def page(item: str, what: str) -> Json:
        return _obj(
            {
                "totalRecords": _int("Number of matches before paging"),
                "records": {"type": "array", "items": _ref(item)},
            },
            ["totalRecords", "records"],
            f"A page of {what}",
        )

    time_text = "UTC, RFC 3339 with milliseconds and `Z`"
    routes = {"from": _ref("Route"), "to": _ref("Route")}
    received = _obj(
        {
            "link": _s("The recipient's link, for `/1/get-message/{link}`", pattern=_LINK_PATTERN),
            "from": {**_ref("Route"), "description": "The sender"},
            "to": {**_ref("Route"), "description": "The recipient: the endpoint's station"},
            "message_id": _s("The sender's message-id (a `/v1` send's is its link)", pattern=r"^[\x20-\x7E]{1,128}$"),
            "subject": {"type": ["string", "null"], "description": "The subject (`/v1` sends only), or null"},
            "file_name": _s("Name of the first attachment"),
            "size": _int("Bytes of the first attachment", minimum=0),
            "md5": _s("Lowercase hex MD5 of the first attachment", pattern="^[0-9a-f]{32}$"),
            "attachment_count": _int("Number of attachments", minimum=1),
            "pay_for_reply": _bool("As sent"),
            "received_at": {**_ref("EventTimestamp"), "description": "When it landed"},
            "expires_at": {**_ref("EventTimestamp"), "description": "When it expires"},
        },
        None,
        "`event` of `message.received`",
    )
    received["required"] = list(received["properties"])
    status = _obj(
        {
            "status": _s(
                "`accepted`: committed for this recipient; `delivered`: a local recipient first downloaded attachment "
                "bytes, or the remote gateway or URL answered 2xx; `read`: first `/v1` mark-as-read by the recipient "
                "station; `expired`: expired never downloaded (local recipients); `failed`: a push to a remote partner "
                "stopped",
                enum=["accepted", "delivered", "read", "expired", "failed"],
            ),
            "link": _s("The message's link (its `as2MessageId` in `/v1`)", pattern=_LINK_PATTERN),
            "message_id": _s("The sender's message-id", pattern=r"^[\x20-\x7E]{1,128}$"),
            **routes,
            "list": {
                "type": ["string", "null"],
                "pattern": "^list:[0-9]+$",
                "description": "`list:<n>` for a fan-out send, else null",
            },
            "size": _int("Bytes of the first attachment", minimum=0),
            "md5": _s("Lowercase hex MD5 of the first attachment", pattern="^[0-9a-f]{32}$"),
            "delivery": _s("How it travels to this recipient", enum=["local", *TRANSPORTS]),
            "remote_link": {
                "type": ["string", "null"],
                "description": "The link a federated gateway answered, else null",
            },
            "reason": {
                "type": ["string", "null"],
                "description": "For `failed`: `exhausted`, `refused: HTTP <status>` (plus ` code=<NNN>` when the remote "
                "gave a route-API code), `stopped` or `expired before delivery`; else null",
            },
        },
        None,
        "`event` of `message.status`",
    )
    status["required"] = list(status["properties"])
    ping = _obj(
        {
            "webhook_id": _s("The endpoint tested", pattern=_WEBHOOK_ID),
            "station": {**_ref("Route"), "description": "The endpoint's station"},
            "message": _s("A fixed text", examples=["relaybox webhook test"]),
        },
        ["webhook_id", "station", "message"],
        "`event` of `ping`",
    )

    def event(name: str, payload: Json, example: Any) -> Json:
        return {
            "description": f"The body of a `{name}` request",
            "allOf": [
                _ref("WebhookEnvelope"),
                _obj({"event_type": {"const": name}, "event": payload}, ["event_type", "event"]),
            ],
            "examples": [example],
        }

    return {
        "WebhookEventType": {**event_type, "description": "An event type an endpoint can subscribe to"},
        "WebhookSecret": secret,
        "WebhookEndpoint": _obj(
            endpoint_props,
            list(endpoint_props),
            "A webhook endpoint of one station; every field is present (`null` when unset). Never the secret",
        ),
        "WebhookEndpointWithSecret": {
            "description": "An endpoint plus its secret: only in the answers of create and rotate-secret",
            "allOf": [
                _ref("WebhookEndpoint"),
                _obj({"secret": _ref("WebhookSecret")}, ["secret"]),
            ],
        },
        "WebhookEndpointInput": _obj(
            {
                "stationAS2Id": {**_ref("Route"), "description": "One of the caller's stations"},
                **settings,
                "secret": {
                    **_ref("WebhookSecret"),
                    "description": "Your own secret in the generated form; absent: one is generated",
                },
            },
            ["stationAS2Id", "url", "eventTypes"],
            "An endpoint to create; unknown fields are ignored",
        ),
        "WebhookEndpointUpdate": _obj(
            settings,
            None,
            "A partial update: present fields replace, absent ones stay. `stationAS2Id` (fixed) and `secret` (use "
            "rotate-secret) are refused (400); unknown fields are ignored",
        ),
        "WebhookEndpointPage": page("WebhookEndpoint", "webhook endpoints"),
        "WebhookTestResult": _obj(
            {
                "eventId": _s("The ping's `event_id`", pattern=_EVENT_ID),
                "ok": _bool("The endpoint answered 2xx"),
                "statusCode": {"type": ["integer", "null"], "description": "The endpoint's HTTP status, or null"},
                "durationMs": _int("How long the ping took", minimum=0),
                "error": {
                    "type": ["string", "null"],
                    "description": f"Why the ping failed ({_ATTEMPT_ERROR}); null after a 2xx",
                },
            },
            ["eventId", "ok", "statusCode", "durationMs", "error"],
            "The outcome of a test ping",
        ),
        "WebhookDelivery": delivery,
        "WebhookDeliveryPage": page("WebhookDelivery", "webhook deliveries"),
        "WebhookDeliveryFailure": failure,
        "WebhookDeliveryFailurePage": page("WebhookDeliveryFailure", "failure entries"),
        "EventTimestamp": _s(time_text, format="date-time", pattern=_EVENT_TIME),
        "WebhookEnvelope": _obj(
            {
                "event_id": _s(
                    "`evt_` + a 26-character ULID; one per event, the same on every attempt and at every endpoint",
                    pattern=_EVENT_ID,
                ),
                "event_type": _s("The event type", enum=[*EVENT_TYPES, PING]),
                "created_at": {**_ref("EventTimestamp"), "description": "When the event's cause was committed"},
                "event": {
                    "type": "object",
                    "description": "The event's fields; each is always present (null where it does not apply)",
                },
            },
            ["event_id", "event_type", "created_at", "event"],
            "What relaybox POSTs to an endpoint: `{event_id, event_type, created_at, event}`, always this shape",
        ),
        "MessageReceivedEvent": event("message.received", received, _RECEIVED_EXAMPLE),
        "MessageStatusEvent": event("message.status", status, _STATUS_EXAMPLE),
        "PingEvent": event(PING, ping, _PING_EXAMPLE),
    }


_RECEIVED_EXAMPLE = {
    "event_id": "evt_01M89TGFVKE6SV5M7KQPEE1N9G",
    "event_type": "message.received",
    "created_at": "2026-11-25T17:02:03.123Z",
    "event": {
        "link": "1f393c2d-23e3-JZ0TstJk39",
        "from": "abcd@abcdef01",
        "to": "ef01@1234abcd",
        "message_id": "12345",
        "subject": None,
        "file_name": "invoice-12345.xml",
        "size": 22,
        "md5": "846f571f913b223bc48d90398201ca94",
        "attachment_count": 1,
        "pay_for_reply": True,
        "received_at": "2026-11-25T17:02:03.123Z",
        "expires_at": "2026-11-26T17:02:03.123Z",
    },
}
_STATUS_EXAMPLE = {
    "event_id": "evt_01M89TQ4TQ0WY1CD64JV6VCJEH",
    "event_type": "message.status",
    "created_at": "2026-11-25T17:05:41.207Z",
    "event": {
        "status": "delivered",
        "link": "1f393c2d-23e3-JZ0TstJk39",
        "message_id": "12345",
        "from": "abcd@abcdef01",
        "to": "ef01@1234abcd",
        "list": None,
        "size": 22,
        "md5": "846f571f913b223bc48d90398201ca94",
        "delivery": "local",
        "remote_link": None,
        "reason": None,
    },
}
_PING_EXAMPLE = {
    "event_id": "evt_01M89TCR40EP6P3WKA8H287175",
    "event_type": "ping",
    "created_at": "2026-11-25T17:00:00.512Z",
    "event": {
        "webhook_id": "wh_01M89T9E68PTZQQJ6SDWZAKM9J",
        "station": "ef01@1234abcd",
        "message": "relaybox webhook test",
    },
}


def _parameters() -> Json:
    def q(name: str, schema: Json, description: str) -> Json:
        return _param(name, "query", schema, description)

    return {
        "as2_station_id": _param(
            "as2_station_id", "path", _ref("Route"), "AS2 identifier (route) of the caller's station"
        ),
        "as2_message_id": _param("as2_message_id", "path", {"type": "string"}, "The message's as2MessageId (its link)"),
        "partnerId": _param("partnerId", "path", {"type": "integer"}, "The partner's partnerId"),
        "markAsRead": q("markAsRead", {"type": "boolean", "default": False}, "Mark the message(s) read for the caller"),
        "query": q("query", {"type": "string"}, "Case-insensitive substring of name or as2Identifier"),
        "sortCol": q(
            "sortCol",
            {
                "type": "string",
                "enum": ["persistedTimestamp", "receiverId", "senderId", "subject"],
                "default": "persistedTimestamp",
            },
            "Sort column; ties keep arrival order",
        ),
        "sortDir": q("sortDir", {"type": "string", "enum": ["asc", "desc"], "default": "desc"}, "Sort direction"),
        "partnerType": q("partnerType", _ref("PartnerTypeQuery"), "The view's partner type"),
        "pageOffset": q(
            "pageOffset",
            {"type": "integer", "minimum": 0, "default": 0},
            "Page number: skips pageOffset x pageLength records",
        ),
        "pageLength": q("pageLength", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}, "Page size"),
        "partnerAS2Id": q(
            "partnerAS2Id", _ref("Route"), "The other side, exact: sender in received, receiver in sent and failed"
        ),
        "stationAS2Id": q("stationAS2Id", _ref("Route"), "The caller's side, exact; another account's station: 403"),
        "as2MessageId": q("as2MessageId", {"type": "string"}, "Exact as2MessageId or messageId"),
        "subject": q("subject", {"type": "string"}, "Case-insensitive substring of the subject"),
        "list_id": _param(
            "list_id", "path", {"type": "integer", "minimum": 1}, "A contact list's id (`GET /v1/lists.json`)"
        ),
        "contact_id": _param("contact_id", "path", {"type": "integer", "minimum": 1}, "A contact's id in that list"),
        "webhookId": _param("webhookId", "path", {"type": "string"}, "The endpoint's id (`wh_` + ULID)"),
        "deliveryId": _param("deliveryId", "path", {"type": "string"}, "The delivery's id (`dlv_` + ULID)"),
        "webhookIdFilter": q("webhookId", {"type": "string"}, "Only the deliveries of this endpoint"),
        "eventType": q("eventType", _ref("WebhookEventType"), "Only events of this type (case-insensitive)"),
        "deliveryQuery": q("query", {"type": "string"}, "An exact event id (`evt_...`) or delivery id (`dlv_...`)"),
        "unreadOnly": q(
            "unreadOnly", {"type": "boolean", "default": False}, "Leave out messages the caller marked read"
        ),
        "request-timestamp": _param(
            "request-timestamp",
            "header",
            {"type": "string"},
            "ISO 8601 time (offset honoured, none = UTC) within +-300 s of the server's",
            required=True,
        ),
        "request-from": _param(
            "request-from",
            "header",
            _ref("Route"),
            "The caller's route (an invalid one is a wrong key: 401 code 101)",
            required=True,
        ),
        "request-key": _param(
            "request-key",
            "header",
            {"type": "string", "pattern": "^[0-9a-fA-F]{128}$"},
            "`hex(sha512(TIMESTAMP + ROUTE + KEY_SECRET))` (send-message adds more fields); accepted once; "
            "anything but 128 hex digits is a wrong key (401 code 101)",
            required=True,
        ),
    }


def _headers() -> Json:
    return {
        "RequestId": _header("Request id", {"type": "string", "pattern": _REQUEST_ID}),
        "WWWAuthenticate": _header(
            "On a `application/problem+json` 401: the schemes this server takes, `RCWS` and the configured Date+digest "
            "provider words (default `RCWS, relaybox_api, gotom_app_api`)",
            required=False,
        ),
        "RetryAfter": _header("Whole seconds until a request would be accepted", {"type": "integer", "minimum": 1}),
        "RouteError": _header("`code=NNN; message=TEXT`", {"type": "string", "pattern": "^code=[0-9]{3}; message=.*$"}),
        "ContentDisposition": _header("`attachment; filename=...` (RFC 6266, RFC 5987 `filename*` for non-ASCII)"),
        "ContentLength": _header("Size in bytes", {"type": "integer", "minimum": 0}),
        "Message-Link": _header("The message link"),
        "Message-File-Name": _header("File name; non-ASCII names percent-encoded UTF-8"),
        "Message-From": _header("Sender route"),
        "Message-Id": _header("Sender's message-id"),
        "Message-MD5": _header("Lowercase hex MD5 of the served file", {"type": "string", "pattern": "^[0-9a-f]{32}$"}),
        "Message-Expires": _header("UTC `YYYY-MM-DD HH:MM:SS`", {"type": "string", "pattern": _DATE_1}),
        "Pay-For-Reply": _header("`0` or `1`", {"type": "integer", "enum": [0, 1]}),
        "Message-Attachment-Count": _header("Number of attachments of the message", {"type": "integer", "minimum": 1}),
    }


_RCWS_SCHEME = """\
An HMAC request signature with an API key (Migomail's RCWS scheme):
`Authorization: RCWS <public key>:<hex HMAC-SHA256(private key, S)>` (`MMWS` is accepted as an alias).

`S = lower(METHOD + "::" + PATH + ["?" + SORTED_QUERY] + "::" + JSON [+ "::" + request-timestamp])`:
the path as on the request line; the query's `&`-separated items sorted as bytes, nothing decoded;
JSON is `{"posted_data":"[]"}` for no data; for a JSON body (`application/json` or `*+json`) the
body with keys sorted at every depth and no whitespace (ASCII escapes, numbers as written); for any
other body `{"posted_data_md5":"<hex md5>"}`. `lower` lowercases ASCII A-Z only.
`request-timestamp` (optional unless the key requires it) must be within the signature window
(+-300 s, `RELAYBOX_SIGNATURE_WINDOW`) and makes the signature single-use; without it GET/HEAD
signatures may repeat and others are accepted once per 600 s. Failures are 401
`application/problem+json`."""

_DIGEST_SCHEME = """\
An HMAC request signature with an API key (goTom's Date+digest scheme):
`Authorization: <provider> <public key>:<base64 HMAC(private key, D)>` plus a `Date` header.
Provider words pick the hash (`RELAYBOX_HMAC_PROVIDERS`, default `relaybox_api` = HMAC-SHA256,
`gotom_app_api` = HMAC-SHA1).

`D = METHOD + "\\n" + hex MD5 of the body + "\\n" + Content-Type (lowercased) + "\\n" + Date + "\\n" +
Message-* headers (`name:value`, sorted, one per line; usually empty) + "\\n" + path and query as sent`.
`Date` (ISO 8601 or the HTTP form) must be within the signature window (+-300 s,
`RELAYBOX_SIGNATURE_WINDOW`); every signature is accepted once. Failures are 401
`application/problem+json`."""


@functools.lru_cache(maxsize=1)
def _build() -> Json:
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "relaybox",
            "version": __version__,
            "description": _DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "tags": [
            {
                "name": TAG_V1,
                "description": "Token-authenticated management API, modelled on the AS2 Gateway REST API v1",
            },
            {
                "name": TAG_BOOK,
                "description": "Contact lists and contacts with Migomail's paths and answers; a list is a fan-out "
                "address (`list:<id>`)",
            },
            {"name": TAG_ROUTE, "description": "Signed-request route API, wire-compatible with Go Integrate Me"},
            {
                "name": TAG_EVENTS,
                "description": "Signed POST requests relaybox makes to the endpoints registered at `/v1/webhooks`",
            },
        ],
        "paths": {**_v1_paths(), **_route_paths()},
        "webhooks": _event_webhooks(),
        "components": {
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "The JWT from `POST /v1/authorize`, sent with no scheme (`Authorization: <token>`); "
                    "`Bearer <token>` is accepted too.",
                },
                "rcws": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": _RCWS_SCHEME,
                },
                "dateDigest": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": _DIGEST_SCHEME,
                },
            },
            "schemas": _schemas(),
            "parameters": _parameters(),
            "headers": _headers(),
        },
    }


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``/v1`` and ``/1`` (a fresh copy; mutate it freely).
    ``server_url``, when given, becomes the document's only server."""
    document = copy.deepcopy(_build())
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


@functools.lru_cache(maxsize=8)
def _document_bytes(server_url: str | None) -> bytes:
    return json.dumps(openapi_document(server_url), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# -- handlers ---------------------------------------------------------------------------------

_SWAGGER_UI = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>relaybox API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js" crossorigin></script>
<script>window.ui = SwaggerUIBundle({url: __SPEC_JS__, dom_id: "#swagger-ui", deepLinking: true});</script>
</body></html>
"""

_REDOC = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>relaybox API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
</head><body><redoc spec-url="__SPEC_ATTR__"></redoc>
<script src="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js" crossorigin></script>
</body></html>
"""


def _root_path(request: Request) -> str:
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def _spec_url(request: Request) -> str:
    return f"{_root_path(request)}/openapi.json"


async def openapi_json(request: Request) -> Response:
    """``GET /openapi.json``: the document (with the mount prefix as server, if any)."""
    return Response(_document_bytes(_root_path(request) or None), media_type="application/json")


async def swagger_ui(request: Request) -> HTMLResponse:
    """``GET /docs``: Swagger UI (swagger-ui-dist from the jsDelivr CDN) over ``/openapi.json``."""
    # json.dumps makes a JS string literal; "</" is escaped so it cannot close the script.
    spec = json.dumps(_spec_url(request)).replace("</", "<\\/")
    return HTMLResponse(_SWAGGER_UI.replace("__SPEC_JS__", spec))


async def redoc(request: Request) -> HTMLResponse:
    """``GET /redoc``: Redoc (standalone bundle from the jsDelivr CDN) over ``/openapi.json``."""
    return HTMLResponse(_REDOC.replace("__SPEC_ATTR__", html.escape(_spec_url(request), quote=True)))
