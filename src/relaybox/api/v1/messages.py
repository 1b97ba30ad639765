"""``/v1/message/...``: send, lists, one message, read state, attachments, zips, receipts,
retry control and deletion."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from relaybox.api.upload import receive_files
from relaybox.api.v1 import entities
from relaybox.api.v1.common import caller, generic, json_body, management, q
from relaybox.errors import V1Error, bad_request, not_found
from relaybox.exchange.identity import Caller
from relaybox.store.base import Payload
from relaybox.store.views import KINDS
from relaybox.wire import headers as h
from relaybox.wire import v1
from relaybox.wire.files import content_disposition

_SORT = {c.lower(): c for c in ("persistedTimestamp", "receiverId", "senderId", "subject")}
_DIRS = {"asc": "asc", "desc": "desc"}
DELETE_KINDS = ("received", "sent", "queued", "stopped", "failed")


def _unknown() -> V1Error:
    return not_found("Not found")


# -- send ------------------------------------------------------------------------------------
async def send(request: Request) -> Response:
    who = await caller(request)
    ex = management(request)
    station = v1.route_param("station id", request.path_params["kind"])
    list_id = h.list_id(request.path_params["id"])
    if list_id is not None:
        return await _send_list(request, who, station, list_id)
    partner_route = v1.route_param("partner id", request.path_params["id"])
    partner_type = v1.parse_choice("partnerType", q(request, "partnerType"), v1.PARTNER_TYPES, "Production")
    raw_subject = q(request, "subject")
    subject = v1.subject_value(raw_subject)
    is_multipart = request.headers.get("content-type", "").lower().startswith("multipart/")
    if not is_multipart and not request.headers.get("name"):
        raise bad_request("Missing Name header")
    # An absent subject means the partner's default; an empty one means none.
    plan = await ex.plan_send(who, station, partner_route, partner_type, subject, default=raw_subject is None)
    s = ex.settings
    try:
        files = await receive_files(request, ex.store.new_blob, s.v1_max_files, s.v1_max_bytes)
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is listening; nothing was stored
    try:
        stored = await ex.send(plan, files)
    except BaseException:
        for f in files:
            await f.blob.discard()
        raise
    base = (s.public_url or str(request.base_url)).rstrip("/")
    return generic(
        "Successfully added a new outbound entry", 202, headers={"Link": f"{base}/v1/message/sent/{stored.link}"}
    )


async def _send_list(request: Request, who: Caller, station: str, list_id: int) -> Response:
    """``POST /v1/message/{station}/list:<id>``: a copy to every contact's route."""
    ex = management(request)
    subject = v1.subject_value(q(request, "subject"))
    is_multipart = request.headers.get("content-type", "").lower().startswith("multipart/")
    if not is_multipart and not request.headers.get("name"):
        raise bad_request("Missing Name header")
    await ex.check_list(who, station, list_id)
    s = ex.settings
    try:
        files = await receive_files(request, ex.store.new_blob, s.v1_max_files, s.v1_max_bytes)
    except ClientDisconnect:
        return Response(status_code=400)
    try:
        outcome = await ex.send_list(station, list_id, subject, files)
    except BaseException:
        for f in files:
            await f.blob.discard()
        raise
    return JSONResponse({"message": "Successfully added a new outbound entry", **entities.fanout(outcome.result)}, 202)


# -- lists and one message --------------------------------------------------------------------
async def list_messages(request: Request) -> Response:
    who = await caller(request)
    kind = request.path_params["kind"]
    if kind not in KINDS:
        raise _unknown()
    fields: dict[str, object] = {
        "sort_col": v1.parse_choice("sortCol", q(request, "sortCol"), _SORT, "persistedTimestamp"),
        "descending": v1.parse_choice("sortDir", q(request, "sortDir"), _DIRS, "desc") == "desc",
        "partner_type": v1.parse_choice("partnerType", q(request, "partnerType"), v1.PARTNER_TYPES, "Production"),
    }
    page = v1.parse_int("pageOffset", q(request, "pageOffset"), 0, 0)
    length = v1.parse_int("pageLength", q(request, "pageLength"), 10, 1, 100)
    fields["offset"], fields["limit"] = page * length, length
    if kind == "queued":
        fields["query"] = q(request, "query") or None
    else:
        partner = q(request, "partnerAS2Id")
        station = q(request, "stationAS2Id")
        fields["partner"] = v1.route_param("partnerAS2Id", partner) if partner is not None else None
        if station is not None:
            fields["station"] = v1.route_param("stationAS2Id", station)
        fields["message_id"] = q(request, "as2MessageId")
        fields["subject"] = q(request, "subject") or None
        if kind == "received":
            fields["unread_only"] = v1.parse_bool("unreadOnly", q(request, "unreadOnly"))
    ex = management(request)
    total, views = await ex.page(ex.query(who, kind, **fields))
    return JSONResponse(entities.pagination(total, views, kind))


async def message(request: Request) -> Response:
    """``/v1/message/{a}/{b}``: GET one message, DELETE one, or POST a send (a = station)."""
    if request.method == "POST":
        return await send(request)
    who = await caller(request)
    kind, link = request.path_params["kind"], request.path_params["id"]
    ex = management(request)
    if request.method == "DELETE":
        if kind not in DELETE_KINDS:
            raise _unknown()
        if not await ex.delete(who, kind, [link]):
            raise not_found(f"Message {link} not found")
        return generic(f"Deleted message {link}")
    if kind not in KINDS:
        raise _unknown()
    mark = kind == "received" and v1.parse_bool("markAsRead", q(request, "markAsRead"))
    view = await ex.get(who, kind, link, mark_read=mark)
    return JSONResponse(entities.as2_message(view, kind))


async def bulk_delete(request: Request) -> Response:
    who = await caller(request)
    kind = request.path_params["kind"]
    if kind not in DELETE_KINDS:
        raise _unknown()
    links = v1.message_ids(await json_body(request))
    n = await management(request).delete(who, kind, links)
    return generic(f"Deleted {n} messages")


async def mark_unread(request: Request) -> Response:
    who = await caller(request)
    link = request.path_params["id"]
    await management(request).mark_unread(who, link)
    return generic(f"Successfully marked message {link} as unread")


# -- attachments, zips, receipts ----------------------------------------------------------------
def _viewer_kind(request: Request) -> str:
    kind = str(request.path_params["kind"])
    if kind not in ("received", "sent"):
        raise _unknown()
    return kind


async def attachment(request: Request) -> Response:
    who = await caller(request)
    kind = _viewer_kind(request)
    link = request.path_params["id"]
    raw = request.path_params.get("index", "0")
    mark = kind == "received" and v1.parse_bool("markAsRead", q(request, "markAsRead"))
    ex = management(request)
    if raw == "all":
        data = await ex.zip_all(who, kind, link, mark_read=mark)
        return _download(data, f"{link}.zip")
    index = v1.decimal(raw, 9)
    if index is None:
        raise bad_request("Attachment index must be a non-negative integer or 'all'")
    found, payload = await ex.open_attachment(who, kind, link, index, mark_read=mark)
    return _stream(payload, found.file_name, found.size)


async def batch(request: Request) -> Response:
    who = await caller(request)
    mark = v1.parse_bool("markAsRead", q(request, "markAsRead"))
    links = v1.message_ids(await json_body(request))
    if len(set(links)) != len(links):
        raise bad_request("Message ids must be distinct")
    result = await management(request).batch(who, links, mark_read=mark)
    response = _download(result.data, "batch.zip")
    if result.truncated_at is not None:
        response.status_code = 206
        i, j = result.truncated_at
        response.headers["X-Batch-Truncation-Index"] = f"({i},{j})"
    return response


async def receipt(request: Request) -> Response:
    who = await caller(request)
    kind = _viewer_kind(request)
    link = request.path_params["id"]
    document = await management(request).receipt(who, kind, link)
    return Response(
        document.encode("utf-8"),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{link}.receipt.json"'},
    )


def _download(data: bytes, name: str) -> Response:
    return Response(
        data, media_type="application/octet-stream", headers={"Content-Disposition": content_disposition(name)}
    )


def _stream(payload: Payload, name: str, size: int) -> Response:
    headers = {"Content-Length": str(size), "Content-Disposition": content_disposition(name)}
    whole = payload.whole
    if whole is not None:
        payload.close()
        return Response(whole, media_type="application/octet-stream", headers=headers)
    return StreamingResponse(payload.chunks(), media_type="application/octet-stream", headers=headers)


# -- retry control ------------------------------------------------------------------------------
async def stop(request: Request) -> Response:
    who = await caller(request)
    link = request.path_params["id"]
    await management(request).stop(who, link)
    return generic(f"Successfully stopped retrying AS2 message with ID {link}")


async def retry(request: Request) -> Response:
    who = await caller(request)
    link = request.path_params["id"]
    await management(request).retry(who, link)
    return generic(f"Successfully started retrying AS2 message with ID {link}")
