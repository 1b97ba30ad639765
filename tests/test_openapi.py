"""The OpenAPI document of /v1 and /1, and the static documentation pages."""

from __future__ import annotations

import json
import time
import warnings
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
    assert set(_operations(doc)) == EXPECTED_V1 | EXPECTED_WEBHOOKS | EXPECTED_ROUTE


def test_v1_operations_declare_security_and_common_errors(doc: dict[str, Any]) -> None:
    ops = _operations(doc)
    assert doc["components"]["securitySchemes"]["token"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": doc["components"]["securitySchemes"]["token"]["description"],
    }
    for key in EXPECTED_V1 | EXPECTED_WEBHOOKS:
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


def _properties(doc: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """Every property a schema names, through $ref and allOf."""
    schema = _resolve(doc, schema)
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names |= _properties(doc, part)
    return names


def check_answer(doc: dict[str, Any], method: str, path: str, response: httpx.Response, *, exact: bool = True) -> Any:
    """The answer's status is documented for the operation and its JSON body fits that
    response's schema; ``exact``: the body has no field the schema does not name either."""
    op = doc["paths"][path][method]
    assert str(response.status_code) in op["responses"], (method, path, response.status_code, response.text)
    schema = op["responses"][str(response.status_code)]["content"]["application/json"]["schema"]
    body = response.json()
    _validator(doc, schema).validate(body)
    if exact:
        resolved = _resolve(doc, schema)
        for item in body.get("records", [body]) if isinstance(body, dict) else body:
            if "records" in resolved.get("properties", {}):
                item_schema = resolved["properties"]["records"]["items"]
            elif resolved.get("type") == "array":
                item_schema = resolved["items"]
            else:
                item_schema = schema
            assert set(item) <= _properties(doc, item_schema), (method, path, sorted(item))
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
