"""The address book over /v1, with the Migomail seed's paths and answers (List Management and
Contact Management), so the seed's clients work by changing host and credentials.

============================================================  =====================================
``GET /v1/lists.json``                                        ``{"1":"List 1","2":"List 2"}``
``GET /v1/lists.json?id=N``                                   ``{"N":"List N"}``; 404 unknown
``POST /v1/lists/{name}``                                     201 ``{"code":201,"message":"List
                                                              NAME created with list-id N","id":N}``
``POST /v1/lists.json?id=N&name=NAME``                        201 ``{"code":201,"message":"List
                                                              renamed to NAME"}``
``DELETE /v1/lists.json/{id}``                                200 ``{"code":200,"message":"List
                                                              removed"}``; its contacts go too
``GET /v1/contacts.json/{list}/contacts/?pagesize=&offset=``  ``{"<id>":"<email>",...}``
``GET /v1/contacts.json/{list}/contact/{id}``                 ``{"<id>":"<email>"}``
``POST /v1/contacts.json/{list}/contacts/``                   201 ``{"code":201,"message":"Contact
                                                              added","id":N}``
``POST /v1/contacts.json/{list}/contacts/{id}``               200 ``{"code":200,"message":"Contact
                                                              updated"}`` (partial update)
``DELETE /v1/contacts.json/{list}/contacts/{id}``             200 ``"Contact removed"`` (a JSON string)
============================================================  =====================================

Decisions:

- Every path works with and without a trailing slash (the seed writes both ``/v1/lists.json/``
  and ``/v1/lists.json?id=2``); no redirects, both are served.
- Keys of the list and contact maps are ids as strings, in ascending id order. The HTTP status
  equals the ``code`` of a ``{"code","message"}`` answer (so a rename is 201, as the seed says).
  Both create answers add ``"id"`` (additive: a client need not parse the message).
- ``{name}`` of ``POST /v1/lists/{name}`` is decoded as a form value from the raw path:
  ``List+3`` and ``List%203`` are ``List 3``, ``%2B`` is ``+``, ``%2F`` is ``/``. A trailing
  ``/`` is not part of the name. ``name`` of the rename is a query value (also ``+`` = space).
  Names: 1-128 characters without control characters, unique per account (409 otherwise).
- Paging: ``pagesize`` 1..1000 (default 100), ``offset`` a 0-based row offset (default 0),
  ordered by contact id. A page shorter than ``pagesize`` is the last one.
- ``?full=true`` (or ``1``) on the contact and the contacts list puts the whole contact in place
  of its e-mail: ``{"<id>": {"id","list_id", the seed's fields, "route","created_timestamp",
  "updated_timestamp"}}`` (snake_case as the seed's contact body; timestamps Unix ms). ``GET
  .../contacts/{id}`` answers as ``.../contact/{id}``.
- Contact bodies: ``relaybox.wire.contacts`` (the seed's fields plus ``route``; unknown keys
  ignored, non-strings 400, e-mail required on add).
- Faults, first wins: 401, 429, 400 (path ids, query, list name), 404 (a list or contact that is
  unknown or another account's: they look alike), body 400 / 413, 409.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from relaybox.api.v1.common import caller, json_body, management, q
from relaybox.errors import bad_request
from relaybox.exchange.addressbook import AddressBook
from relaybox.store.addressbook import ContactRecord
from relaybox.wire import contacts as rules
from relaybox.wire import v1

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_LISTS_PREFIX = "/v1/lists/"


def book(request: Request) -> AddressBook:
    """The use cases, made on first use from the management API's store (no app wiring)."""
    found: AddressBook | None = getattr(request.app.state, "addressbook", None)
    if found is None:
        found = AddressBook(management(request).store.addressbook)
        request.app.state.addressbook = found
    return found


def _id(request: Request, name: str, label: str) -> int:
    number = v1.record_id(request.path_params[name])
    if number is None:
        raise bad_request(f"{label} must be a positive integer")
    return number


def _coded(code: int, message: str, **extra: Any) -> Response:
    return JSONResponse({"code": code, "message": message, **extra}, status_code=code)


def contact_entity(c: ContactRecord) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": c.id, "list_id": c.list_id}
    doc.update({name: getattr(c, name) for name in rules.FIELDS})
    doc["created_timestamp"] = round(c.created_at * 1000)
    doc["updated_timestamp"] = round(c.updated_at * 1000)
    return doc


# -- lists -------------------------------------------------------------------------------------
async def get_lists(request: Request) -> Response:
    who = await caller(request)
    wanted = q(request, "id")
    if wanted is None:
        return JSONResponse({str(x.id): x.name for x in await book(request).lists(who)})
    list_id = v1.record_id(wanted)
    if list_id is None:
        raise bad_request("Query parameter id must be a positive integer")
    found = await book(request).own_list(who, list_id)
    return JSONResponse({str(found.id): found.name})


def _path_name(request: Request) -> str:
    """The list name as sent: the raw path after ``/v1/lists/``, form-decoded."""
    raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    at = path.find(_LISTS_PREFIX)
    encoded = path[at + len(_LISTS_PREFIX) :] if at >= 0 else request.path_params["name"]
    return unquote_plus(encoded.removesuffix("/"), errors="strict")


async def create_list(request: Request) -> Response:
    who = await caller(request)
    try:
        name = rules.list_name(_path_name(request))
    except UnicodeDecodeError:
        raise bad_request("List name must be UTF-8") from None
    created = await book(request).create_list(who, name)
    return _coded(201, f"List {created.name} created with list-id {created.id}", id=created.id)


async def rename_list(request: Request) -> Response:
    who = await caller(request)
    wanted = q(request, "id")
    list_id = v1.record_id(wanted)
    if list_id is None:
        raise bad_request("Query parameter id must be a positive integer")
    name = rules.list_name(q(request, "name"))
    await book(request).rename_list(who, list_id, name)
    return _coded(201, f"List renamed to {name}")


async def delete_list(request: Request) -> Response:
    who = await caller(request)
    list_id = _id(request, "list_id", "List id")
    await book(request).delete_list(who, list_id)
    return _coded(200, "List removed")


# -- contacts ----------------------------------------------------------------------------------
async def list_contacts(request: Request) -> Response:
    who = await caller(request)
    list_id = _id(request, "list_id", "List id")
    size = v1.parse_int("pagesize", q(request, "pagesize"), DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    offset = v1.parse_int("offset", q(request, "offset"), 0, 0)
    if v1.parse_bool("full", q(request, "full")):
        found = await book(request).contacts(who, list_id, offset, size)
        return JSONResponse({str(c.id): contact_entity(c) for c in found})
    return JSONResponse({str(cid): email for cid, email in await book(request).emails(who, list_id, offset, size)})


async def get_contact(request: Request) -> Response:
    who = await caller(request)
    list_id = _id(request, "list_id", "List id")
    contact_id = _id(request, "contact_id", "Contact id")
    full = v1.parse_bool("full", q(request, "full"))
    found = await book(request).contact(who, list_id, contact_id)
    return JSONResponse({str(found.id): contact_entity(found) if full else found.email_address})


async def add_contact(request: Request) -> Response:
    who = await caller(request)
    list_id = _id(request, "list_id", "List id")
    ab = book(request)
    await ab.own_list(who, list_id)  # a 404 wins over the body's faults
    created = await ab.add_contact(who, list_id, rules.contact_fields(await json_body(request), create=True))
    return _coded(201, "Contact added", id=created)


async def update_contact(request: Request) -> Response:
    who = await caller(request)
    list_id = _id(request, "list_id", "List id")
    contact_id = _id(request, "contact_id", "Contact id")
    ab = book(request)
    await ab.contact(who, list_id, contact_id)  # a 404 wins over the body's faults
    fields = rules.contact_fields(await json_body(request), create=False)
    await ab.update_contact(who, list_id, contact_id, fields)
    return _coded(200, "Contact updated")


async def delete_contact(request: Request) -> Response:
    who = await caller(request)
    list_id = _id(request, "list_id", "List id")
    contact_id = _id(request, "contact_id", "Contact id")
    await book(request).delete_contact(who, list_id, contact_id)
    return JSONResponse("Contact removed")


def _both(path: str, endpoint: Any, method: str) -> list[Route]:
    """``path`` with and without a trailing slash."""
    return [Route(path, endpoint, methods=[method]), Route(path + "/", endpoint, methods=[method])]


def routes() -> list[Route]:
    """The address book's routes, for ``relaybox.api.v1.handlers``."""
    lists = "/v1/lists.json"
    one = "/v1/contacts.json/{list_id}"
    return [
        *_both(lists, get_lists, "GET"),
        *_both(lists, rename_list, "POST"),
        *_both(lists + "/{list_id}", delete_list, "DELETE"),
        # ``path``: a name may hold an encoded ``/``; the handler reads it from the raw path.
        Route(_LISTS_PREFIX + "{name:path}", create_list, methods=["POST"]),
        *_both(one + "/contacts", list_contacts, "GET"),
        *_both(one + "/contacts", add_contact, "POST"),
        *_both(one + "/contact/{contact_id}", get_contact, "GET"),
        *_both(one + "/contacts/{contact_id}", get_contact, "GET"),
        *_both(one + "/contacts/{contact_id}", update_contact, "POST"),
        *_both(one + "/contacts/{contact_id}", delete_contact, "DELETE"),
    ]


__all__ = [
    "add_contact",
    "book",
    "contact_entity",
    "create_list",
    "delete_contact",
    "delete_list",
    "get_contact",
    "get_lists",
    "list_contacts",
    "rename_list",
    "routes",
]
