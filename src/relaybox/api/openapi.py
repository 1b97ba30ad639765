"""The OpenAPI 3.1 document of the management API ``/v1`` and the route API ``/1``, and the
handlers of ``/openapi.json``, ``/docs`` (Swagger UI) and ``/redoc``.

The contracts are ``management-api.md`` and ``route-api.md``; parameter names follow the AS2
Gateway seed (``{as2_station_id}``, ``{as2_message_id}``, ``pageOffset`` ...). The document is
built once by small helpers and cached; callers get a copy.
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
from relaybox.webhooks.signature import SECRET_MAX_BYTES, SECRET_MIN_BYTES
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

**Management API (`/v1`)**, modelled on the AS2 Gateway REST API v1. Get a token from
`POST /v1/authorize` and send it as `Authorization: <token>` (no scheme; `Bearer <token>` also
works). Every error body is `{"message": TEXT}`; validation failures are 400, never 422. With
several faults the first of 401, 429, 400 (path, query, headers), 403, 404, body faults (400, 413),
409 wins. Query booleans are `true`/`false`/`1`/`0`, enumerations are case-insensitive, unknown
parameters are ignored and a value over 1024 characters is 400. A route in a path may be written
with `@` or `%40`. JSON request bodies are at most 1 MiB (413). Timestamps are Unix milliseconds.
Rate limit: 50 requests per 10 s per token (per username on `/v1/authorize`); a refused request
gets 429 with `Retry-After`. A 403 means a station is not one of the caller's (unknown stations look
the same); a 404 means the message, partner, webhook endpoint or delivery is unknown or not visible
(they look the same).

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
    401: "No valid token: missing, malformed, expired, revoked by a password change, or its account was removed",
    403: "A station named in the request is not one of the caller's (unknown stations look the same)",
    404: "Not found, or not visible to the caller",
    409: "Conflict",
    413: "Request body too large (JSON bodies: at most 1 MiB)",
    429: "Rate limit exceeded (50 requests per 10 s per token); retry after `Retry-After` seconds",
    503: "Storage unavailable",
}
_V1_EXAMPLES: dict[int, str] = {429: "Rate limit exceeded"}


def _error(status: int, text: str, example: str | None = None) -> Json:
    """A /v1 error response: a Generic Response, plus ``Retry-After`` on 429."""
    headers = {"Retry-After": _header_ref("RetryAfter")} if status == 429 else None
    sample = example or _V1_EXAMPLES.get(status)
    return _response(text, _json(_ref("GenericResponse"), {"message": sample} if sample else None), headers)


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
            responses[str(status)] = _error(status, spec[0], spec[1])
        else:
            responses[str(status)] = _error(status, spec or _V1_ERRORS[status])
    operation["responses"] = responses
    operation["security"] = [{"token": []}] if secured else []
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
        "Send (enqueue) a message from a station to one of its partners",
        description="Answers 202 only once payload and metadata are durably committed. A local, unpaused partner "
        "gets the message in the same commit (state `sent`); a partner with `pauseOutgoing` leaves it `queued`; "
        "to a partner with a `uri` it stays `queued` until a push (per the partner's `transport`) succeeds. Every "
        "POST is a new message. `Link` resolves at once for a delivered message.",
        params=[
            _param_ref("as2_station_id"),
            _param("as2_partner_id", "path", _ref("Route"), "AS2 identifier (route) of the partner to send to"),
            _param(
                "partnerType", "query", _ref("PartnerTypeQuery"), "Which partner record to use (default production)"
            ),
            _param(
                "subject",
                "query",
                _ref("Subject"),
                "Message subject; empty = none; absent = the partner's `messageSubject`, if any",
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
                "Accepted and committed",
                _json(_ref("GenericResponse"), {"message": "Successfully added a new outbound entry"}),
                {
                    "Link": _header(
                        "Absolute URL of the message: `<base>/v1/message/sent/{id}`",
                        {"type": "string", "format": "uri"},
                    )
                },
            )
        },
        errors={
            400: (
                "Bad path route or query value, missing or empty `Name` header, bad file name, no `file` part, a part "
                "without filename or with another name, duplicate filenames, or several files to a partner with a "
                "`uri` (a push carries one file)",
                "Missing Name header",
            ),
            403: "The station is not one of the caller's",
            404: "No partner (station, as2_partner_id, partnerType), or a local partner's route is gone",
            409: "The receiver's partner record for this station has `pauseIncoming`",
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
        _param("message-to", "header", {"type": "string"}, "The recipient route", required=True),
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
                "Send a message (one file) to a route",
                description="`request-key = hex(sha512(TIMESTAMP + ROUTE + MESSAGE_TO + MESSAGE_ID + MESSAGE_MD5 + "
                "KEY_SECRET))`. Idempotent: the same sender, message-id and md5 again returns the same link.",
                params=send_headers,
                body={
                    "required": True,
                    "content": {"multipart/form-data": {"schema": _obj({"data": _binary()}, ["data"])}},
                },
                ok={
                    200: _response(
                        "Committed; empty body",
                        None,
                        {"message-link": _header("The message's link", {"type": "string", "pattern": _LINK_PATTERN})},
                    )
                },
                errors={
                    400: "code 100: header missing or malformed; 202: message-md5 does not match; 205: "
                    "message-expires-after out of range; 206: unsupported priority; 207: no `data` part",
                    404: "code 201: message recipient cannot be found",
                    409: "code 204: message-id already used by this sender for different content",
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
        **_webhook_schemas(),
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
        "RequestId": _header("Request id", {"type": "string", "pattern": "^[0-9]{14}-[0-9a-f]{16}$"}),
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
                }
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
