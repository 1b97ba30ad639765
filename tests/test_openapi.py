"""The OpenAPI document of /v1 and /1, and the static documentation pages."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.routing import Route

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
EXPECTED_ROUTE = {
    ("post", "/1/send-message"),
    ("get", "/1/list-messages"),
    ("get", "/1/get-message/{link}"),
    ("get", "/1/get-next-message/{link}"),
    ("get", "/1/wait-next-message/{link}"),
    ("get", "/1/ping"),
}
UNSECURED = {("post", "/v1/authorize"), ("get", "/v1/receipt-key")}


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
    assert set(_operations(doc)) == EXPECTED_V1 | EXPECTED_ROUTE


def test_v1_operations_declare_security_and_common_errors(doc: dict[str, Any]) -> None:
    ops = _operations(doc)
    assert doc["components"]["securitySchemes"]["token"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": doc["components"]["securitySchemes"]["token"]["description"],
    }
    for key in EXPECTED_V1:
        op = ops[key]
        assert op["tags"] == ["management (/v1)"], key
        assert op["summary"] and "\n" not in op["summary"], key
        if key in UNSECURED:
            assert not op.get("security"), key
            continue
        assert op["security"] == [{"token": []}], key
        assert {"401", "429"} <= set(op["responses"]), key
        assert "Retry-After" in op["responses"]["429"]["headers"], key
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/GenericResponse"}, (key, status)
    for key in EXPECTED_ROUTE:
        assert ops[key]["tags"] == ["route API (/1)"], key


def test_no_422_and_unique_operation_ids(doc: dict[str, Any]) -> None:
    ops = _operations(doc)
    assert all("422" not in op["responses"] for op in ops.values())
    ids = [op["operationId"] for op in ops.values()]
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
