"""The OpenAPI document of /v1 and /1, and the static documentation pages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import warnings
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.routing import Route

from conftest import ServerProcess, Signer, free_port
from receiver import Answer, Receiver
from relaybox import __version__
from relaybox.api.openapi import openapi_document, openapi_json, redoc, swagger_ui

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its TestClient; httpx works and is what the venv has.
    warnings.filterwarnings("ignore", message=".*httpx2", category=UserWarning)
    from starlette.testclient import TestClient

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}

# Every endpoint of management-api.md sections 4-11 (single deletes written per message type)
# and of route-api.md.
EXPECTED_V1 = {
    ("post", "/v1/authorize"),
    ("post", "/v1/message/{as2_station_id}/{as2_partner_id}"),
    ("get", "/v1/message/received"),
    ("get", "/v1/message/sent"),
    ("get", "/v1/message/failed"),
    ("get", "/v1/message/queued"),
    ("get", "/v1/message/received/{as2_message_id}"),
    ("get", "/v1/message/sent/{as2_message_id}"),
    ("get", "/v1/message/failed/{as2_message_id}"),
    ("get", "/v1/message/queued/{as2_message_id}"),
    ("post", "/v1/message/received/{as2_message_id}/markUnread"),
    ("get", "/v1/message/received/{as2_message_id}/attachments"),
    ("get", "/v1/message/received/{as2_message_id}/attachments/{index}"),
    ("get", "/v1/message/sent/{as2_message_id}/attachments"),
    ("get", "/v1/message/sent/{as2_message_id}/attachments/{index}"),
    ("post", "/v1/message/received/batch/attachments"),
    ("get", "/v1/message/received/{as2_message_id}/mdn"),
    ("get", "/v1/message/sent/{as2_message_id}/mdn"),
    ("post", "/v1/message/queued/{as2_message_id}/stop"),
    ("post", "/v1/message/queued/{as2_message_id}/retry"),
    ("delete", "/v1/message/received/{as2_message_id}"),
    ("delete", "/v1/message/sent/{as2_message_id}"),
    ("delete", "/v1/message/queued/{as2_message_id}"),
    ("delete", "/v1/message/stopped/{as2_message_id}"),
    ("delete", "/v1/message/failed/{as2_message_id}"),
    ("delete", "/v1/message/{message_type}"),
    ("get", "/v1/partner"),
    ("post", "/v1/partner"),
    ("get", "/v1/partner/{partnerId}"),
    ("put", "/v1/partner/{partnerId}"),
    ("delete", "/v1/partner/{partnerId}"),
    ("get", "/v1/station"),
    ("get", "/v1/receipt-key"),
}
# webhooks.md "/v1/webhooks" and "Delivery lists and controls" (lists and deletes per type).
EXPECTED_WEBHOOKS = {
    ("get", "/v1/webhooks"),
    ("post", "/v1/webhooks"),
    ("get", "/v1/webhooks/{webhookId}"),
    ("put", "/v1/webhooks/{webhookId}"),
    ("delete", "/v1/webhooks/{webhookId}"),
    ("post", "/v1/webhooks/{webhookId}/rotate-secret"),
    ("post", "/v1/webhooks/{webhookId}/test"),
    ("get", "/v1/webhooks/deliveries/queued"),
    ("get", "/v1/webhooks/deliveries/sent"),
    ("get", "/v1/webhooks/deliveries/failed"),
    ("get", "/v1/webhooks/deliveries/queued/{deliveryId}"),
    ("get", "/v1/webhooks/deliveries/sent/{deliveryId}"),
    ("get", "/v1/webhooks/deliveries/failed/{deliveryId}"),
    ("delete", "/v1/webhooks/deliveries/queued/{deliveryId}"),
    ("delete", "/v1/webhooks/deliveries/stopped/{deliveryId}"),
    ("delete", "/v1/webhooks/deliveries/sent/{deliveryId}"),
    ("delete", "/v1/webhooks/deliveries/failed/{deliveryId}"),
    ("delete", "/v1/webhooks/deliveries/{delivery_type}"),
    ("post", "/v1/webhooks/deliveries/queued/{deliveryId}/stop"),
    ("post", "/v1/webhooks/deliveries/queued/{deliveryId}/retry"),
}
# request-signing.md "API keys": the caller's own keys.
EXPECTED_APIKEYS = {
    ("get", "/v1/apikeys"),
    ("post", "/v1/apikeys"),
    ("delete", "/v1/apikeys/{publicKey}"),
}
# The address book (seed 001's List and Contact Management), each operation once at the seed's
# spelling; relaybox serves every path with and without a trailing slash (compared below).
EXPECTED_ADDRESSBOOK = {
    ("get", "/v1/lists.json"),
    ("post", "/v1/lists.json"),
    ("delete", "/v1/lists.json/{list_id}"),
    ("post", "/v1/lists/{name}"),
    ("get", "/v1/contacts.json/{list_id}/contacts/"),
    ("post", "/v1/contacts.json/{list_id}/contacts/"),
    ("get", "/v1/contacts.json/{list_id}/contact/{contact_id}"),
    ("get", "/v1/contacts.json/{list_id}/contacts/{contact_id}"),
    ("post", "/v1/contacts.json/{list_id}/contacts/{contact_id}"),
    ("delete", "/v1/contacts.json/{list_id}/contacts/{contact_id}"),
}
EXPECTED_ROUTE = {
    ("post", "/1/send-message"),
    ("get", "/1/list-messages"),
    ("get", "/1/get-message/{link}"),
    ("get", "/1/get-next-message/{link}"),
    ("get", "/1/wait-next-message/{link}"),
    ("get", "/1/ping"),
}
UNSECURED = {("post", "/v1/authorize"), ("get", "/v1/receipt-key")}
ALL_V1 = EXPECTED_V1 | EXPECTED_WEBHOOKS | EXPECTED_APIKEYS | EXPECTED_ADDRESSBOOK
V1_SECURITY = [{"token": []}, {"rcws": []}, {"dateDigest": []}]
PROBLEM = "application/problem+json"
# request-signing.md "Errors": the authentication failures of signed requests.
PROBLEM_SLUGS = [
    "auth-required",
    "unsupported-scheme",
    "malformed-authorization",
    "unknown-key",
    "key-revoked",
    "key-expired",
    "missing-timestamp",
    "malformed-timestamp",
    "clock-skew",
    "invalid-signature",
    "replay",
]


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_document()


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): op for path, item in doc["paths"].items() for method, op in item.items() if method in METHODS
    }


def _param_names(doc: dict[str, Any], op: dict[str, Any]) -> set[str]:
    names = set()
    for param in op.get("parameters", []):
        if "$ref" in param:
            param = doc["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]]
        names.add(param["name"])
    return names


def test_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] == "relaybox"
    assert doc["info"]["version"] == __version__
    validate(doc)
    json.dumps(doc)  # plain JSON all the way down


def test_every_endpoint_is_documented_with_its_methods(doc: dict[str, Any]) -> None:
    assert set(_operations(doc)) == ALL_V1 | EXPECTED_ROUTE


def test_v1_operations_declare_security_and_common_errors(doc: dict[str, Any]) -> None:
    ops = _operations(doc)
    schemes = doc["components"]["securitySchemes"]
    assert set(schemes) == {"token", "rcws", "dateDigest"}
    for scheme in schemes.values():
        assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
        assert scheme["description"]
    assert "RCWS <public key>:" in schemes["rcws"]["description"]
    assert "Date" in schemes["dateDigest"]["description"] and "relaybox_api" in schemes["dateDigest"]["description"]
    for key in ALL_V1:
        op = ops[key]
        tag = "address book (/v1)" if key in EXPECTED_ADDRESSBOOK else "management (/v1)"
        assert op["tags"] == [tag], key
        assert op["summary"] and "\n" not in op["summary"], key
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                # The seed's {"message"}, or RFC 9457 for signed requests and clients that ask.
                assert set(response["content"]) == {"application/json", PROBLEM}, (key, status)
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/GenericResponse"}, (key, status)
                assert response["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}, key
        if key in UNSECURED:
            assert not op.get("security"), key
            continue
        assert op["security"] == V1_SECURITY, key
        assert {"401", "429"} <= set(op["responses"]), key
        assert "Retry-After" in op["responses"]["429"]["headers"], key
        unauthorized = op["responses"]["401"]
        assert "WWW-Authenticate" in unauthorized["headers"], key
        assert "urn:relaybox:problem:" in unauthorized["description"], key
        assert unauthorized["content"][PROBLEM]["example"]["status"] == 401, key
    for key in EXPECTED_ROUTE:
        assert ops[key]["tags"] == ["route API (/1)"], key


def test_no_422_and_unique_operation_ids(doc: dict[str, Any]) -> None:
    ops = _operations(doc)
    assert all("422" not in op["responses"] for op in ops.values())
    events = [op for item in doc["webhooks"].values() for method, op in item.items() if method in METHODS]
    ids = [op["operationId"] for op in [*ops.values(), *events]]
    assert len(ids) == len(set(ids))


def test_seed_parameter_names(doc: dict[str, Any]) -> None:
    ops = _operations(doc)
    common = {"sortCol", "sortDir", "partnerType", "pageOffset", "pageLength"}
    filters = {"partnerAS2Id", "stationAS2Id", "as2MessageId", "subject"}
    assert _param_names(doc, ops["get", "/v1/message/received"]) == common | filters | {"unreadOnly"}
    assert _param_names(doc, ops["get", "/v1/message/sent"]) == common | filters
    assert _param_names(doc, ops["get", "/v1/message/failed"]) == common | filters
    assert _param_names(doc, ops["get", "/v1/message/queued"]) == common | {"query"}
    send = ops["post", "/v1/message/{as2_station_id}/{as2_partner_id}"]
    assert _param_names(doc, send) == {"as2_station_id", "as2_partner_id", "partnerType", "subject", "profile", "Name"}
    assert set(send["requestBody"]["content"]) == {"multipart/form-data", "*/*"}
    assert "Link" in send["responses"]["202"]["headers"]
    assert "markAsRead" in _param_names(doc, ops["get", "/v1/message/received/{as2_message_id}"])
    assert "markAsRead" in _param_names(doc, ops["get", "/v1/message/received/{as2_message_id}/attachments/{index}"])
    batch = ops["post", "/v1/message/received/batch/attachments"]
    assert "X-Batch-Truncation-Index" in batch["responses"]["206"]["headers"]
    assert _param_names(doc, ops["get", "/1/wait-next-message/{link}"]) >= {"timeout", "request-key"}
    assert _param_names(doc, ops["get", "/1/get-message/{link}"]) >= {"index", "request-from", "request-timestamp"}


def test_route_api_errors_are_error_headers(doc: dict[str, Any]) -> None:
    ops = _operations(doc)
    for key in EXPECTED_ROUTE:
        for status, response in ops[key]["responses"].items():
            if status.startswith(("4", "5")):
                assert "content" not in response, (key, status)
                assert "error" in response["headers"], (key, status)


def test_entities(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for name in (
        "GenericResponse",
        "AS2Message",
        "MdnMessage",
        "Attachment",
        "Partner",
        "PartnerInput",
        "Station",
        "AS2MessagePage",
        "Token",
        "Credentials",
        "ReceiptKey",
        "Receipt",
        "WebhookEndpoint",
        "WebhookEndpointWithSecret",
        "WebhookEndpointInput",
        "WebhookEndpointUpdate",
        "WebhookEndpointPage",
        "WebhookTestResult",
        "WebhookDelivery",
        "WebhookDeliveryFailure",
        "WebhookEnvelope",
        "MessageReceivedEvent",
        "MessageStatusEvent",
        "PingEvent",
        "ApiKey",
        "ApiKeyInput",
        "ApiKeyWithSecret",
        "ApiKeyPage",
        "Problem",
        "ListAddress",
        "ListMap",
        "CodedResponse",
        "Contact",
        "ContactInput",
        "ContactMap",
        "FanoutResult",
        "FanoutRecipient",
        "RouteFanoutResult",
        "RouteFanoutRecipient",
    ):
        assert name in schemas
    assert "subject" not in schemas["AS2Message"]["required"]
    assert schemas["PartnerInput"]["required"] == ["stationAS2Id", "as2Identifier"]
    assert schemas["PartnerInput"]["additionalProperties"] is True
    assert "null" in schemas["Partner"]["properties"]["uri"]["type"]


def test_callers_get_a_copy() -> None:
    first = openapi_document()
    first["paths"].clear()
    assert openapi_document()["paths"]
    assert openapi_document("https://relaybox.example")["servers"] == [{"url": "https://relaybox.example"}]
    assert "servers" not in openapi_document()


def test_pages_and_json_handlers() -> None:
    app = Starlette(routes=[Route("/openapi.json", openapi_json), Route("/docs", swagger_ui), Route("/redoc", redoc)])
    with TestClient(app) as client:
        spec = client.get("/openapi.json")
        assert spec.status_code == 200
        assert spec.headers["content-type"].startswith("application/json")
        assert spec.json() == openapi_document()
        for page, marker in (("/docs", "swagger-ui"), ("/redoc", "redoc")):
            response = client.get(page)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/html")
            assert "/openapi.json" in response.text
            assert f"cdn.jsdelivr.net/npm/{marker}" in response.text


# -- /v1/webhooks, the Partner's push fields, and the events relaybox sends ------------------------


def _segments_cover(doc_path: str, routed: str) -> bool:
    """Whether a documented path template matches a routed path: a documented ``{param}``
    matches any segment, a routed ``{param}`` only a documented one."""
    doc_parts, routed_parts = doc_path.split("/"), routed.split("/")
    if len(doc_parts) != len(routed_parts):
        return False
    for d, r in zip(doc_parts, routed_parts, strict=True):
        if d.startswith("{"):
            continue
        if r.startswith("{") or d != r:
            return False
    return True


def _routed_webhook_operations() -> set[tuple[str, str]]:
    """(method, path) of every /v1/webhooks route the app serves, ``{kind}`` written out with the
    types its handler accepts for that method (GET: the lists, DELETE: the delete types)."""
    from relaybox.api.v1 import handlers
    from relaybox.api.v1.webhooks import DELETE_KINDS, LISTS

    routed: set[tuple[str, str]] = set()
    for route in handlers():
        if not route.path.startswith("/v1/webhooks"):
            continue
        for method in set(route.methods or ()) - {"HEAD"}:
            kinds = LISTS if method == "GET" else DELETE_KINDS
            paths = [route.path.replace("{kind}", k) for k in kinds] if "{kind}" in route.path else [route.path]
            routed |= {(method.lower(), path) for path in paths}
    return routed


def test_every_routed_webhooks_operation_is_documented_and_no_other(doc: dict[str, Any]) -> None:
    routed = _routed_webhook_operations()
    assert len(routed) >= 19
    documented = {key for key in _operations(doc) if key[1].startswith("/v1/webhooks")}
    assert documented == EXPECTED_WEBHOOKS
    for method, path in routed:
        assert any(m == method and _segments_cover(d, path) for m, d in documented), (method, path)
    for method, path in documented:
        assert any(m == method and _segments_cover(path, r) for m, r in routed), (method, path)
    bulk = _operations(doc)["delete", "/v1/webhooks/deliveries/{delivery_type}"]
    from relaybox.api.v1.webhooks import DELETE_KINDS

    assert bulk["parameters"][0]["schema"]["enum"] == list(DELETE_KINDS)


def _unslashed(path: str) -> str:
    """A routed or documented path without a converter (``{name:path}``) or a trailing slash."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path).rstrip("/")


def test_every_routed_key_and_address_book_operation_is_documented_and_no_other(doc: dict[str, Any]) -> None:
    """The address book answers every path with and without a trailing slash (the seed writes
    both); the document lists each operation once, at the seed's spelling, and says so. So the
    app's routes and the document are compared without the trailing slash, and the claim that
    both spellings are served is checked against the routes."""
    from relaybox.api.v1 import handlers

    prefixes = ("/v1/apikeys", "/v1/lists", "/v1/contacts.json")
    routed = {
        (method.lower(), route.path)
        for route in handlers()
        if route.path.startswith(prefixes)
        for method in set(route.methods or ()) - {"HEAD"}
    }
    ops = _operations(doc)
    documented = {key for key in ops if key[1].startswith(prefixes)}
    assert documented == EXPECTED_APIKEYS | EXPECTED_ADDRESSBOOK
    plain_routed = {(m, _unslashed(p)) for m, p in routed}
    plain_documented = {(m, _unslashed(p)) for m, p in documented}
    assert len(plain_documented) == len(documented)  # one entry per operation
    for method, path in plain_routed:
        assert any(m == method and _segments_cover(d, path) for m, d in plain_documented), (method, path)
    for method, path in plain_documented:
        assert any(m == method and _segments_cover(path, r) for m, r in plain_routed), (method, path)
    for method, path in routed:
        if path.startswith(("/v1/lists", "/v1/contacts.json")) and ":path}" not in path:
            other = path[:-1] if path.endswith("/") else path + "/"
            assert (method, other) in routed, (method, path)
    for key in EXPECTED_ADDRESSBOOK:
        assert "trailing slash" in ops[key]["description"], key


def test_problem_bodies_and_their_types(doc: dict[str, Any]) -> None:
    from relaybox.auth.hmac_request import PROBLEMS

    assert list(PROBLEMS) == PROBLEM_SLUGS  # the spec's table and the code's agree
    problem = doc["components"]["schemas"]["Problem"]
    assert problem["properties"]["type"]["enum"] == [
        "about:blank",
        *(f"urn:relaybox:problem:{s}" for s in PROBLEM_SLUGS),
    ]
    assert problem["required"] == ["type", "title", "status", "detail", "request_id", "message"]
    assert all(f"`{slug}`" in problem["properties"]["type"]["description"] for slug in PROBLEM_SLUGS)
    ref = {"$ref": "#/components/schemas/Problem"}
    for example in problem["examples"]:
        _validator(doc, ref).validate(example)
    # The spec's example (request-signing.md, "Errors") fits.
    spec_example = {
        "type": "urn:relaybox:problem:invalid-signature",
        "title": "Invalid signature",
        "status": 401,
        "detail": "The RCWS signature does not match the request.",
        "request_id": "20261125170203-4c1d9a7e0b3f2a65",
        "message": "The RCWS signature does not match the request.",
        "expected_string": 'get::/v1/lists.json/::{"posted_data":"[]"}',
    }
    _validator(doc, ref).validate(spec_example)
    assert not _unnamed(doc, ref, spec_example)


# request-signing.md "Fan-out addressing", the answer's example.
SPEC_FANOUT: dict[str, Any] = {
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


def test_fan_out_forms_of_both_sends(doc: dict[str, Any]) -> None:
    ops = _operations(doc)
    send = ops["post", "/v1/message/{as2_station_id}/{as2_partner_id}"]
    route_send = ops["post", "/1/send-message"]
    partner = next(p for p in send["parameters"] if p.get("name") == "as2_partner_id")
    to = next(p for p in route_send["parameters"] if p.get("name") == "message-to")
    for param in (partner, to):
        check = _validator(doc, param["schema"])
        assert all(check.is_valid(v) for v in ("ef01@1234abcd", "list:7", "list:123456789012345678")), param
        assert not any(check.is_valid(v) for v in ("list:0", "list:07", "list:x", "list:", "ef01")), param
    accepted = send["responses"]["202"]
    assert {"$ref": "#/components/schemas/FanoutResult"} in accepted["content"]["application/json"]["schema"]["anyOf"]
    assert accepted["headers"]["Link"]["required"] is False
    ok = route_send["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RouteFanoutResult"}
    assert ok["headers"]["message-link"]["required"] is False
    route_result = {"$ref": "#/components/schemas/RouteFanoutResult"}
    _validator(doc, route_result).validate(SPEC_FANOUT)
    assert not _unnamed(doc, route_result, SPEC_FANOUT)
    camel = {
        "message": "Successfully added a new outbound entry",
        **{("messageId" if k == "message_id" else k): v for k, v in SPEC_FANOUT.items() if k != "recipients"},
        "recipients": [
            {("contactIds" if k == "contact_ids" else k): v for k, v in r.items()} for r in SPEC_FANOUT["recipients"]
        ],
    }
    _validator(doc, {"$ref": "#/components/schemas/FanoutResult"}).validate(camel)
    for name in ("FanoutResult", "RouteFanoutResult"):
        for example in doc["components"]["schemas"][name]["examples"]:
            _validator(doc, {"$ref": f"#/components/schemas/{name}"}).validate(example)
    # A rejection names its code and reason; a copy has its link.
    recipient = _validator(doc, {"$ref": "#/components/schemas/RouteFanoutRecipient"})
    assert not recipient.is_valid({"route": "a@b", "contact_ids": [1], "status": "accepted"})
    assert not recipient.is_valid({"route": None, "contact_ids": [1], "status": "rejected", "code": 201})
    assert recipient.is_valid({"route": "a@b", "contact_ids": [1], "status": "rejected", "code": None, "reason": "x"})


def test_partner_push_fields_answer_and_request(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    answer = schemas["Partner"]["properties"]
    assert {"transport", "remoteRoute", "remoteSecretSet", "pushSecretSet"} <= set(answer)
    assert set(answer) == set(schemas["Partner"]["required"])
    assert not {"remoteSecret", "pushSecret"} & set(answer)  # write-only
    assert answer["transport"]["enum"] == ["federation", "https"]
    for name in ("PartnerInput", "PartnerUpdate"):
        body = schemas[name]["properties"]
        assert {"transport", "remoteRoute", "remoteSecret", "pushSecret"} <= set(body)
        assert not {"remoteSecretSet", "pushSecretSet"} & set(body)
        for secret in ("remoteSecret", "pushSecret"):
            assert body[secret]["writeOnly"] is True
            assert body[secret]["type"] == ["string", "null"]
    assert "Message-*" in answer["customHeaders"]["description"]


def test_events_are_documented_as_webhooks(doc: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator

    events = doc["webhooks"]
    assert set(events) == {"message.received", "message.status", "ping"}
    for name, schema in (
        ("message.received", "MessageReceivedEvent"),
        ("message.status", "MessageStatusEvent"),
        ("ping", "PingEvent"),
    ):
        op = events[name]["post"]
        assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{schema}"}
        headers = {p["name"]: p for p in op["parameters"]}
        assert headers["Signature"]["required"] is True
        assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(headers)
        assert not headers["webhook-signature"].get("required")
        assert "2XX" in op["responses"]
        # The spec's worked examples (webhooks.md) are the schemas' examples, and fit them.
        examples = doc["components"]["schemas"][schema]["examples"]
        assert examples and examples[0]["event_type"] == name
        for example in examples:
            _validator(doc, {"$ref": f"#/components/schemas/{schema}"}).validate(example)
        Draft202012Validator.check_schema(doc["components"]["schemas"][schema])


# -- live answers --------------------------------------------------------------------------------


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    from jsonschema import Draft202012Validator

    # The refs are "#/components/...": give the schema the document's components as its root.
    return Draft202012Validator(
        {**schema, "components": doc["components"]}, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _branches(doc: dict[str, Any], schema: dict[str, Any], value: Any) -> list[dict[str, Any]]:
    """The schemas that describe ``value``: ``schema`` itself, its allOf parts and the anyOf /
    oneOf alternatives ``value`` fits, through $ref."""
    schema = _resolve(doc, schema)
    found = [schema]
    for part in schema.get("allOf", []):
        found += _branches(doc, part, value)
    for part in [*schema.get("anyOf", []), *schema.get("oneOf", [])]:
        if _validator(doc, part).is_valid(value):
            found += _branches(doc, part, value)
    return found


def _unnamed(doc: dict[str, Any], schema: dict[str, Any], value: Any, at: str = "$") -> list[str]:
    """Where ``value`` has a member no schema names: an object is checked when a branch lists
    ``properties`` or maps its members (``additionalProperties`` schema), at every depth."""
    branches = _branches(doc, schema, value)
    found: list[str] = []
    if isinstance(value, dict):
        named: dict[str, list[dict[str, Any]]] = {}
        for branch in branches:
            for name, sub in branch.get("properties", {}).items():
                named.setdefault(name, []).append(sub)
        maps = [b["additionalProperties"] for b in branches if isinstance(b.get("additionalProperties"), dict)]
        if maps or any("properties" in b for b in branches):
            for name, item in value.items():
                subs = named.get(name) or maps
                if not subs:
                    found.append(f"{at}.{name}")
                for sub in subs:
                    found += _unnamed(doc, sub, item, f"{at}.{name}")
    elif isinstance(value, list):
        for branch in branches:
            if isinstance(branch.get("items"), dict):
                for i, item in enumerate(value):
                    found += _unnamed(doc, branch["items"], item, f"{at}[{i}]")
    return found


def check_answer(doc: dict[str, Any], method: str, path: str, response: httpx.Response, *, exact: bool = True) -> Any:
    """The answer's status is documented for the operation, its media type (``application/json``
    or ``application/problem+json``) for that status, and its JSON body fits that schema;
    ``exact``: no object in the body has a member its schema does not name either."""
    op = doc["paths"][path][method]
    assert str(response.status_code) in op["responses"], (method, path, response.status_code, response.text)
    content = op["responses"][str(response.status_code)]["content"]
    media = response.headers.get("content-type", "").split(";")[0].strip()
    assert media in content, (method, path, response.status_code, media)
    schema = content[media]["schema"]
    body = response.json()
    _validator(doc, schema).validate(body)
    if exact:
        unnamed = _unnamed(doc, schema, body)
        assert not unnamed, (method, path, unnamed)
    return body


def check_event(doc: dict[str, Any], name: str, got: Any) -> dict[str, Any]:
    """A request relaybox made fits the ``webhooks`` entry ``name``: its headers and body."""
    op = doc["webhooks"][name]["post"]
    for param in op["parameters"]:
        value = got.headers.get(param["name"].lower())
        if value is None:
            assert not param.get("required"), param["name"]
            continue
        typed: Any = int(value) if param["schema"].get("type") == "integer" else value
        _validator(doc, param["schema"]).validate(typed)
    assert got.headers["content-type"] == "application/json"
    body = json.loads(got.body)
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    _validator(doc, schema).validate(body)
    assert list(body) == ["event_id", "event_type", "created_at", "event"]
    inner = next(part for part in _resolve(doc, schema)["allOf"] if "$ref" not in part)
    assert set(body["event"]) == set(inner["properties"]["event"]["properties"])
    return dict(body)


def _poll(fetch: Any, ready: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = fetch()
        if ready(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_live_webhooks_answers_and_events_match_the_document(shared_server: ServerProcess) -> None:
    from relaybox.webhooks import verify

    srv = shared_server
    doc = httpx.get(f"{srv.url}/openapi.json", timeout=30).json()
    email, _ = srv.add_account()
    alpha, alpha_secret = srv.add_station(email)
    bravo, _ = srv.add_station(email)
    assert alpha_secret is not None
    api = httpx.Client(base_url=srv.url, headers={"Authorization": srv.token(email)}, timeout=30)
    closed = f"http://127.0.0.1:{free_port()}/nobody-here"
    with api, Receiver() as ok, Receiver(lambda _r: Answer(500, body=b"try later")) as failing:
        # Endpoints: bravo hears what it receives; alpha hears the status of what it sends (and fails).
        made = api.post(
            "/v1/webhooks",
            json={
                "stationAS2Id": bravo,
                "url": ok.url,
                "eventTypes": ["message.received"],
                "standardWebhooks": True,
                "description": "bravo's inbox",
            },
        )
        hook = check_answer(doc, "post", "/v1/webhooks", made)
        assert made.status_code == 201 and made.headers["location"] == f"/v1/webhooks/{hook['id']}"
        status_hook = check_answer(
            doc,
            "post",
            "/v1/webhooks",
            api.post(
                "/v1/webhooks", json={"stationAS2Id": alpha, "url": failing.url, "eventTypes": ["message.status"]}
            ),
        )
        nobody = check_answer(
            doc,
            "post",
            "/v1/webhooks",
            api.post(
                "/v1/webhooks",
                json={"stationAS2Id": bravo, "url": closed, "eventTypes": ["message.status"], "enabled": False},
            ),
        )
        assert nobody["disabledReason"] == "user"
        # List, get, PUT, rotate-secret.
        listed = check_answer(doc, "get", "/v1/webhooks", api.get("/v1/webhooks", params={"pageLength": 2}))
        assert listed["totalRecords"] == 3 and len(listed["records"]) == 2
        check_answer(doc, "get", "/v1/webhooks", api.get("/v1/webhooks", params={"stationAS2Id": bravo}))
        one = check_answer(doc, "get", "/v1/webhooks/{webhookId}", api.get(f"/v1/webhooks/{hook['id']}"))
        assert one == {k: v for k, v in hook.items() if k != "secret"}
        changed = check_answer(
            doc,
            "put",
            "/v1/webhooks/{webhookId}",
            api.put(f"/v1/webhooks/{nobody['id']}", json={"enabled": True, "timeout": 2}),
        )
        assert (changed["enabled"], changed["disabledReason"], changed["timeout"]) == (True, None, 2)
        rotated = check_answer(
            doc, "post", "/v1/webhooks/{webhookId}/rotate-secret", api.post(f"/v1/webhooks/{hook['id']}/rotate-secret")
        )
        assert rotated["secret"] != hook["secret"]
        # Test pings: one that lands (its request fits the ping webhook), one to a closed port.
        pinged = check_answer(doc, "post", "/v1/webhooks/{webhookId}/test", api.post(f"/v1/webhooks/{hook['id']}/test"))
        assert (pinged["ok"], pinged["statusCode"], pinged["error"]) == (True, 204, None)
        (ping,) = ok.wait_for(1)
        assert check_event(doc, "ping", ping)["event"]["webhook_id"] == hook["id"]
        assert verify(ping.body, ping.headers, rotated["secret"])["event_id"] == pinged["eventId"]
        refused = check_answer(
            doc, "post", "/v1/webhooks/{webhookId}/test", api.post(f"/v1/webhooks/{nobody['id']}/test")
        )
        assert (refused["ok"], refused["statusCode"]) == (False, None) and refused["error"]
        # A message alpha -> bravo: message.received to bravo's endpoint (2xx: sent), and
        # message.status (accepted) to alpha's (500: failed attempt, still queued).
        data = b"<order/>"
        sent = httpx.post(
            f"{srv.url}/1/send-message",
            headers=Signer(alpha, alpha_secret).send(bravo, data, "order-1"),
            files={"data": ("order.xml", data)},
            timeout=30,
        )
        assert sent.status_code == 200, sent.headers
        received = ok.wait_for(2)[1]
        event = check_event(doc, "message.received", received)
        assert (event["event"]["link"], event["event"]["message_id"]) == (sent.headers["message-link"], "order-1")
        assert verify(received.body, received.headers, rotated["secret"]) == event
        (accepted,) = failing.wait_for(1)
        assert check_event(doc, "message.status", accepted)["event"]["status"] == "accepted"

        def deliveries(kind: str, **params: Any) -> httpx.Response:
            return api.get(f"/v1/webhooks/deliveries/{kind}", params=params)

        def settled() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
            return deliveries("sent"), deliveries("failed"), deliveries("queued")

        answers = _poll(settled, lambda rs: all(r.json()["totalRecords"] >= 1 for r in rs))
        for kind, answer in zip(("sent", "failed", "queued"), answers, strict=True):
            page = check_answer(doc, "get", f"/v1/webhooks/deliveries/{kind}", answer)
            assert page["totalRecords"] == 1, (kind, page)
            entry = page["records"][0]
            again = check_answer(
                doc,
                "get",
                f"/v1/webhooks/deliveries/{kind}/{{deliveryId}}",
                api.get(f"/v1/webhooks/deliveries/{kind}/{entry['deliveryId']}"),
            )
            assert again["deliveryId"] == entry["deliveryId"]
        sent_entry, failure, queued = (a.json()["records"][0] for a in answers)
        assert (sent_entry["state"], sent_entry["lastStatusCode"], sent_entry["webhookId"]) == ("sent", 204, hook["id"])
        assert (failure["statusCode"], failure["attempt"], failure["webhookId"]) == (500, 1, status_hook["id"])
        assert failure["responseExcerpt"] == "try later"
        assert (queued["state"], queued["attempts"], queued["deliveryId"]) == ("queued", 1, failure["deliveryId"])
        filtered = deliveries(
            "queued", webhookId=status_hook["id"], eventType="message.status", query=queued["eventId"], sortDir="asc"
        )
        assert check_answer(doc, "get", "/v1/webhooks/deliveries/queued", filtered)["totalRecords"] == 1
        # Controls: stop (the delivery stays listed as stopped), then the deletes.
        did = queued["deliveryId"]
        check_answer(
            doc,
            "post",
            "/v1/webhooks/deliveries/queued/{deliveryId}/stop",
            api.post(f"/v1/webhooks/deliveries/queued/{did}/stop"),
        )
        stopped = check_answer(
            doc,
            "get",
            "/v1/webhooks/deliveries/queued/{deliveryId}",
            api.get(f"/v1/webhooks/deliveries/queued/{did}"),
        )
        assert (stopped["state"], stopped["stopReason"], stopped["nextAttemptTimestamp"]) == (
            "stopped",
            "stopped",
            None,
        )
        check_answer(
            doc,
            "delete",
            "/v1/webhooks/deliveries/stopped/{deliveryId}",
            api.delete(f"/v1/webhooks/deliveries/stopped/{did}"),
        )
        gone = api.post(f"/v1/webhooks/deliveries/queued/{did}/retry")
        assert check_answer(doc, "post", "/v1/webhooks/deliveries/queued/{deliveryId}/retry", gone) == {
            "message": f"Delivery {did} not found"
        }
        bulk = api.request("DELETE", "/v1/webhooks/deliveries/sent", json=[sent_entry["deliveryId"], "dlv_unknown"])
        assert check_answer(doc, "delete", "/v1/webhooks/deliveries/{delivery_type}", bulk) == {
            "message": "Deleted 1 deliveries"
        }
        # Errors are the /v1 body, with a documented status.
        check_answer(doc, "get", "/v1/webhooks/{webhookId}", api.get("/v1/webhooks/wh_unknown"))
        check_answer(doc, "post", "/v1/webhooks", api.post("/v1/webhooks", json={"stationAS2Id": alpha}))
        check_answer(
            doc, "put", "/v1/webhooks/{webhookId}", api.put(f"/v1/webhooks/{hook['id']}", json={"secret": "x"})
        )
        check_answer(doc, "get", "/v1/webhooks", httpx.get(f"{srv.url}/v1/webhooks", timeout=30))
        # A push partner: the secrets are accepted, never answered; only whether they are set shows.
        partner = {
            "stationAS2Id": alpha,
            "as2Identifier": "remote@elsewhere",
            "uri": "https://partner.example/inbox",
            "transport": "https",
            "remoteRoute": alpha,
            "remoteSecret": "r" * 16,
            "pushSecret": "p" * 128,
            "customHeaders": [{"headerKey": "X-Tenant", "headerValue": "7"}],
        }
        created = check_answer(doc, "post", "/v1/partner", api.post("/v1/partner", json=partner))
        assert (created["transport"], created["remoteRoute"]) == ("https", alpha)
        assert created["remoteSecretSet"] is created["pushSecretSet"] is True
        cleared = api.put(f"/v1/partner/{created['partnerId']}", json={"pushSecret": None, "remoteRoute": None})
        cleared_body = check_answer(doc, "put", "/v1/partner/{partnerId}", cleared)
        # An https partner cannot go without a push secret: clearing it makes a new one, shown once.
        assert (cleared_body["pushSecretSet"], cleared_body["remoteRoute"]) == (True, None)
        assert len(cleared_body["pushSecret"]) == 43 and cleared_body["pushSecret"] != "p" * 128
        reserved = {**partner, "customHeaders": [{"headerKey": "Message-Id", "headerValue": "x"}]}
        assert api.post("/v1/partner", json=reserved).status_code == 400
        removed = api.delete(f"/v1/webhooks/{nobody['id']}")
        assert check_answer(doc, "delete", "/v1/webhooks/{webhookId}", removed) == {
            "message": f"Deleted webhook {nobody['id']}"
        }


# -- API keys, signed requests, the address book and fan-out, live ---------------------------------


class KeyClient:
    """Requests signed with an API key, by the spec's formulas written out here (not relaybox's)."""

    def __init__(self, url: str, public: str, private: str) -> None:
        self.url, self.public, self.private = url, public, private

    def rcws(self, method: str, path: str, query: str = "", body: Any = None, *, sig: str | None = None) -> Any:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # single use, so a fraction
        raw = None if body is None else json.dumps(body).encode()
        data = '{"posted_data":"[]"}' if body is None else json.dumps(body, sort_keys=True, separators=(",", ":"))
        items = "&".join(sorted(i for i in query.split("&") if i))
        s = f"{method}::{path}" + (f"?{items}" if items else "") + f"::{data}::{stamp}"
        lowered = s.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))
        mac = sig or hmac.new(self.private.encode(), lowered.encode(), hashlib.sha256).hexdigest()
        headers = {
            "Authorization": f"RCWS {self.public}:{mac}",
            "request-timestamp": stamp,
            "Content-Type": "application/json",
        }
        target = self.url + path + (f"?{query}" if query else "")
        return httpx.request(method, target, headers=headers, content=raw, timeout=30)

    def digest(self, method: str, target: str) -> Any:
        date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        d = "\n".join([method, hashlib.md5(b"").hexdigest(), "application/json", date, "", target])
        mac = base64.b64encode(hmac.new(self.private.encode(), d.encode(), hashlib.sha256).digest()).decode()
        headers = {
            "Authorization": f"relaybox_api {self.public}:{mac}",
            "Date": date,
            "Content-Type": "application/json",
        }
        return httpx.request(method, self.url + target, headers=headers, timeout=30)


def test_live_keys_address_book_and_fan_out_answers_match_the_document(shared_server: ServerProcess) -> None:
    srv = shared_server
    doc = httpx.get(f"{srv.url}/openapi.json", timeout=30).json()
    email, _ = srv.add_account()
    station, station_secret = srv.add_station(email)
    assert station_secret is not None
    member, _ = srv.new_route("m")
    api = httpx.Client(base_url=srv.url, headers={"Authorization": srv.token(email)}, timeout=30)
    with api:
        # API keys: create (the private key once), list (never it), bad input.
        made = check_answer(
            doc, "post", "/v1/apikeys", api.post("/v1/apikeys", json={"name": "erp", "expiresDays": 30})
        )
        assert api.post("/v1/apikeys", json={}).status_code == 201
        page = check_answer(doc, "get", "/v1/apikeys", api.get("/v1/apikeys", params={"pageLength": 1}))
        assert page["totalRecords"] == 2 and page["records"][0]["publicKey"] == made["publicKey"]
        assert "privateKey" not in page["records"][0] and page["records"][0]["state"] == "active"
        bad = check_answer(doc, "post", "/v1/apikeys", api.post("/v1/apikeys", json={"expiresDays": 0}))
        assert bad == {"message": "expiry: 1..36500 days"}
        assert api.get("/v1/apikeys", params={"pageLength": 0}).status_code == 400
        key = KeyClient(srv.url, made["publicKey"], made["privateKey"])

        # The address book over RCWS-signed requests (errors of signed requests are problems).
        lists = "/v1/lists.json"
        created = check_answer(doc, "post", "/v1/lists/{name}", key.rcws("POST", "/v1/lists/Docs+list"))
        lid = created["id"]
        assert created == {"code": 201, "message": f"List Docs list created with list-id {lid}", "id": lid}
        dup = key.rcws("POST", "/v1/lists/Docs%20list/")
        assert (dup.status_code, dup.headers["content-type"]) == (409, PROBLEM)
        assert check_answer(doc, "post", "/v1/lists/{name}", dup)["type"] == "about:blank"
        assert check_answer(doc, "get", lists, key.rcws("GET", lists)) == {str(lid): "Docs list"}
        assert check_answer(doc, "get", lists, key.rcws("GET", lists, f"id={lid}")) == {str(lid): "Docs list"}
        assert check_answer(doc, "get", lists, key.rcws("GET", lists, "id=999999999"))["status"] == 404
        renamed = key.rcws("POST", lists, f"name=Fan+out&id={lid}")
        assert check_answer(doc, "post", lists, renamed) == {"code": 201, "message": "List renamed to Fan out"}
        contacts = "/v1/contacts.json/{list_id}/contacts/"
        base = f"/v1/contacts.json/{lid}"
        ids = []
        for doc_body in (
            {"email_address": "m@example.com", "first_name": "Mo", "route": member, "zip_code": 4008},
            {"email_address": "none@example.com"},
            {"email_address": "ghost@example.com", "route": "zz99@nowhere01"},
        ):
            added = check_answer(doc, "post", contacts, key.rcws("POST", f"{base}/contacts/", body=doc_body))
            ids.append(added["id"])
        no_email = key.rcws("POST", f"{base}/contacts/", body={"name": "no e-mail"})
        assert check_answer(doc, "post", contacts, no_email)["status"] == 400
        page_one = check_answer(doc, "get", contacts, key.rcws("GET", f"{base}/contacts/", "pagesize=2&offset=0"))
        assert list(page_one) == [str(i) for i in ids[:2]]
        whole = check_answer(doc, "get", contacts, api.get(f"{base}/contacts/", params={"full": "true"}))
        assert whole[str(ids[0])]["route"] == member and whole[str(ids[0])]["zip_code"] == "4008"
        too_big = api.get(f"{base}/contacts/", params={"pagesize": 1001})
        assert check_answer(doc, "get", contacts, too_big) == {
            "message": "Query parameter pagesize must be an integer 1..1000"
        }
        one = "/v1/contacts.json/{list_id}/contact/{contact_id}"
        assert check_answer(doc, "get", one, key.digest("GET", f"{base}/contact/{ids[0]}")) == {
            str(ids[0]): "m@example.com"
        }
        item = "/v1/contacts.json/{list_id}/contacts/{contact_id}"
        full = check_answer(doc, "get", item, api.get(f"{base}/contacts/{ids[0]}", params={"full": 1}))
        assert full[str(ids[0])]["id"] == ids[0]
        edit = key.rcws("POST", f"{base}/contacts/{ids[1]}", body={"last_name": "Doe"})
        assert check_answer(doc, "post", item, edit) == {"code": 200, "message": "Contact updated"}
        assert check_answer(doc, "get", one, api.get(f"{base}/contact/999999999")) == {
            "message": "Contact 999999999 not found"
        }
        spare = check_answer(doc, "post", contacts, api.post(f"{base}/contacts/", json={"email_address": "x@y.org"}))
        assert check_answer(doc, "delete", item, key.rcws("DELETE", f"{base}/contacts/{spare['id']}")) == (
            "Contact removed"
        )

        # Fan-out on /1 (snake_case, 200) and on /v1 (camelCase plus "message", 202).
        data = b"<prices/>"
        sent = httpx.post(
            f"{srv.url}/1/send-message",
            headers=Signer(station, station_secret).send(f"list:{lid}", data, "prices-1"),
            files={"data": ("prices.xml", data)},
            timeout=30,
        )
        result = check_answer(doc, "post", "/1/send-message", sent)
        assert "message-link" not in sent.headers
        assert [(r["route"], r["status"]) for r in result["recipients"]] == [
            (member, "accepted"),
            ("zz99@nowhere01", "rejected"),
            (None, "rejected"),
        ]
        send = "/v1/message/{as2_station_id}/{as2_partner_id}"
        fanned = key.rcws("POST", f"/v1/message/{station}/list:{lid}")  # no Name header
        assert check_answer(doc, "post", send, fanned)["detail"] == "Missing Name header"
        fanned = api.post(f"/v1/message/{station}/list:{lid}", headers={"Name": "prices.xml"}, content=data)
        body = check_answer(doc, "post", send, fanned)
        assert body["message"] == "Successfully added a new outbound entry" and "link" not in fanned.headers
        assert (body["accepted"], body["rejected"], body["recipients"][0]["contactIds"]) == (1, 2, [ids[0]])
        unknown = api.post(f"/v1/message/{station}/list:999999999", headers={"Name": "x"}, content=b"x")
        assert check_answer(doc, "post", send, unknown) == {"message": "List 999999999 not found"}

        # Authentication failures of signed requests: problems with their own type.
        wrong = key.rcws("GET", lists, sig="0" * 64)
        problem = check_answer(doc, "get", lists, wrong)
        assert problem["type"] == "urn:relaybox:problem:invalid-signature" and problem["expected_string"]
        assert problem["request_id"] == wrong.headers["request-id"] and "www-authenticate" in wrong.headers
        revoked = api.delete(f"/v1/apikeys/{made['publicKey']}")
        assert check_answer(doc, "delete", "/v1/apikeys/{publicKey}", revoked) == {
            "message": f"Revoked API key {made['publicKey']}"
        }
        again = api.delete(f"/v1/apikeys/{made['publicKey']}")
        assert check_answer(doc, "delete", "/v1/apikeys/{publicKey}", again)["message"].endswith("not found")
        refused = check_answer(doc, "get", lists, key.rcws("GET", lists))
        assert refused["type"] == "urn:relaybox:problem:key-revoked"
        token_problem = api.get(lists, headers={"Authorization": "nope", "Accept": PROBLEM})
        assert check_answer(doc, "get", lists, token_problem)["type"] == "about:blank"

        # Deleting the list (its contacts go with it).
        gone = check_answer(doc, "delete", "/v1/lists.json/{list_id}", api.delete(f"/v1/lists.json/{lid}/"))
        assert gone == {"code": 200, "message": "List removed"}
        assert api.delete(f"/v1/lists.json/{lid}").status_code == 404
