"""Fuzzing (issue 8, item 5): no input makes relaybox answer 5xx or break its error format.

- **schemathesis** against a live server (SQLite), loaded from its own ``/openapi.json``: every
  documented operation of ``/1`` and ``/v1`` gets a bounded number of generated requests, valid
  (positive) and invalid (negative) ones. ``/1`` requests are signed like a real client would
  sign them (a fresh ``request-key`` over the generated headers), sent as generated, or made
  deliverable (the recipient exists, the md5 matches); ``/v1`` requests carry the account's token,
  with or without ``Accept: application/problem+json``, or no credentials. Checked: no 5xx (also
  schemathesis' own ``not_a_server_error``); a ``/1`` error is ``error: code=NNN; message=...``
  with a code of that HTTP status and an empty body; a ``/v1`` error is JSON ``{"message": ...}``,
  or RFC 9457 problem+json when asked for.
- **hypothesis on every parser** of client input not already fuzzed in ``tests/test_wire.py``,
  ``tests/test_auth_pure.py`` and ``tests/test_hmac_schemes.py``: arbitrary text never raises
  anything but the documented refusal (``RelayboxError``, ``V1Error``, ``ValueError``), and what
  is accepted obeys the rule.
- **multipart bodies** on ``/1/send-message`` (signed, so the body is really parsed): random
  bytes, truncated and spliced bodies, wrong boundaries, many parts. Never 5xx; nothing is
  stored for a refused send and no upload is left behind.

What the fuzzing found is kept as plain tests on both stores (``test_text_no_store_can_keep_is_refused``,
``test_ids_beyond_the_database_integer_are_unknown``).

Default run: ``EXAMPLES`` generated requests per operation (well under a minute in all); the
``slow`` variants (``pytest -m slow``) run ``SLOW_EXAMPLES`` and ``SLOW_MULTIPART_EXAMPLES``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from conftest import ServerProcess, Signer
from relaybox.api.openapi import openapi_document
from relaybox.auth import hmac_request, rcws
from relaybox.auth.signing import keys_equal, receive_key, send_key
from relaybox.errors import ErrorCode, RelayboxError, V1Error
from relaybox.wire import contacts, endpoints, events, push, v1
from relaybox.wire import headers as h
from relaybox.wire.digest import custom_lines
from relaybox.wire.ids import is_link
from relaybox.wire.timestamps import TimestampError, format_timestamp, parse_timestamp

EXAMPLES = 21
SLOW_EXAMPLES = 250
MULTIPART_EXAMPLES = 60
SLOW_MULTIPART_EXAMPLES = 600
PARSER_EXAMPLES = 100

ERROR_HEADER = re.compile(r"code=(\d{3}); message=(.+)")
# Generous settings: the server is fuzzed, not rate limited; a wait-next never holds a request.
FUZZ_ENV = {
    "RELAYBOX_RATE_LIMIT": "0",
    "RELAYBOX_V1_RATE_LIMIT": "0",
    "RELAYBOX_WAIT_TIMEOUT": "0",
    "RELAYBOX_WAIT_TIMEOUT_MAX": "0",
    # Generated webhook endpoints and partner URIs are never called.
    "RELAYBOX_OUTBOX_ENABLED": "false",
}
LIVE = settings(
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)
PURE = settings(max_examples=PARSER_EXAMPLES, deadline=None)


def _labels() -> list[str]:
    doc = openapi_document()
    methods = ("get", "put", "post", "patch", "delete")
    return [f"{m.upper()} {path}" for path, ops in doc["paths"].items() for m in ops if m in methods]


LABELS = _labels()


# -- the live server --------------------------------------------------------------------------
@dataclass
class World:
    server: ServerProcess
    station: str
    secret: str
    recipient: str
    recipient_secret: str
    token: str
    schema: Any
    http: httpx.Client
    link: str = ""
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    srv = ServerProcess(tmp_path_factory.mktemp("fuzz") / "data", FUZZ_ENV)
    srv.start()
    try:
        email, _ = srv.add_account()
        station, secret = srv.add_station(email)
        recipient, recipient_secret = srv.add_station(email)
        assert secret is not None and recipient_secret is not None
        srv.add_partner(station, recipient)
        token = srv.token(email)
        # The document the server serves is the one fuzzed.
        schema = schemathesis.openapi.from_url(f"{srv.url}/openapi.json")
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            w = World(srv, station, secret, recipient, recipient_secret, token, schema, http)
            # Something to read: a message for the station.
            sent = _send(w, recipient, recipient_secret, station, b"hello")
            assert sent.status_code == 200
            w.link = sent.headers["message-link"]
            yield w
        by_status: Counter[int] = Counter()
        for (_, status), count in w.statuses.items():
            by_status[status] += count
        operations = len({label for label, _ in w.statuses})
        print(
            f"\nschemathesis: {sum(by_status.values())} requests on {operations} operations, answers "
            + ", ".join(f"{status}: {count}" for status, count in sorted(by_status.items()))
        )
    finally:
        srv.stop()


def _send(w: World, frm: str, secret: str, to: str, data: bytes) -> httpx.Response:
    ts = format_timestamp(time.time())
    mid = secrets.token_hex(8)
    md5 = hashlib.md5(data).hexdigest()
    headers = {
        "request-timestamp": ts,
        "request-from": frm,
        "request-key": send_key(ts, frm, to, mid, md5, secret),
        "message-to": to,
        "message-id": mid,
        "message-md5": md5,
    }
    return w.http.post("/1/send-message", headers=headers, files={"data": ("f.bin", data)})


# -- checks -----------------------------------------------------------------------------------
def check_route_answer(status: int, headers: httpx.Headers | dict[str, str], body: bytes, what: str) -> None:
    """A ``/1`` answer: no 5xx; an error is the ``error`` header with a code of its status and
    an empty body."""
    assert status < 500, f"{what}: {status} {headers.get('error')}"
    if status < 400:
        return
    value = headers.get("error")
    assert value is not None, f"{what}: {status} without an error header"
    found = ERROR_HEADER.fullmatch(value)
    assert found, f"{what}: error header {value!r}"
    code = ErrorCode.from_code(int(found[1]))
    assert code is not None and code.http_status == status, f"{what}: {status} with {value!r}"
    assert body == b"", f"{what}: error with a body {body[:80]!r}"


def check_v1_answer(status: int, headers: Any, body: bytes, problem: bool, what: str) -> None:
    """A ``/v1`` answer: no 5xx; an error is ``{"message": TEXT}``, or problem+json when the
    client asked for it (or signed the request)."""
    assert status < 500, f"{what}: {status} {body[:200]!r}"
    if status < 400:
        return
    ctype = (headers.get("content-type") or "").split(";")[0].strip()
    doc = json.loads(body)
    assert isinstance(doc, dict) and isinstance(doc.get("message"), str) and doc["message"], f"{what}: {doc!r}"
    if problem or ctype == "application/problem+json":
        assert ctype == "application/problem+json", f"{what}: {ctype}"
        assert doc["status"] == status and doc["detail"] == doc["message"], f"{what}: {doc!r}"
        assert isinstance(doc["type"], str) and isinstance(doc["title"], str), f"{what}: {doc!r}"
    else:
        assert ctype == "application/json", f"{what}: {ctype}"


def _first(values: Any) -> str | None:
    """A header of schemathesis' response (lists of values)."""
    if values is None:
        return None
    return str(values[0]) if isinstance(values, list) else str(values)


class _Headers(dict[str, str]):
    @classmethod
    def of(cls, raw: Any) -> _Headers:
        return cls({k.lower(): v for k in raw if (v := _first(raw[k])) is not None})


# -- schemathesis -------------------------------------------------------------------------------
ROUTE_MODES = ("signed", "deliverable", "as generated")
V1_MODES = ("token", "token+problem", "as generated")


def _data_of(body: Any) -> bytes:
    value = body.get("data") if isinstance(body, dict) else None
    value = getattr(value, "data", value)  # schemathesis' Binary
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return b""


def _route_headers(w: World, case: Any, mode: str) -> dict[str, str]:
    """Headers that make a generated ``/1`` request pass (or deliberately not pass) the
    signature check: the key is computed over the headers exactly as they will be sent."""
    headers = {k: str(v) for k, v in (case.headers or {}).items()}
    if mode == "as generated" or (case.operation.path == "/1/ping" and mode == "deliverable"):
        return headers
    for name in list(headers):
        if name.lower() in (h.REQUEST_TIMESTAMP, h.REQUEST_FROM, h.REQUEST_KEY):
            del headers[name]
    ts = format_timestamp(time.time())
    if case.operation.path == "/1/send-message":
        if mode == "deliverable":
            headers = {k: v for k, v in headers.items() if k.lower() not in (h.MESSAGE_TO, h.MESSAGE_MD5)}
            headers[h.MESSAGE_TO] = w.recipient
            headers[h.MESSAGE_MD5] = hashlib.md5(_data_of(case.body)).hexdigest()
            headers.setdefault(h.MESSAGE_ID, secrets.token_hex(8))
        lowered = {k.lower(): v for k, v in headers.items()}
        key = send_key(
            ts,
            w.station,
            lowered.get(h.MESSAGE_TO, ""),
            lowered.get(h.MESSAGE_ID, ""),
            lowered.get(h.MESSAGE_MD5, ""),
            w.secret,
        )
    else:
        key = receive_key(ts, w.station, w.secret)
    headers.update({h.REQUEST_TIMESTAMP: ts, h.REQUEST_FROM: w.station, h.REQUEST_KEY: key})
    return headers


def _v1_headers(w: World, case: Any, mode: str) -> tuple[dict[str, str], bool]:
    headers = {k: str(v) for k, v in (case.headers or {}).items()}
    problem = "problem+json" in " ".join(v for k, v in headers.items() if k.lower() == "accept").lower()
    if mode == "as generated" or not case.operation.definition.raw.get("security", [{}]):
        return headers, problem
    headers = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "accept")}
    headers["Authorization"] = w.token
    if mode == "token+problem":
        headers["Accept"] = "application/problem+json"
        problem = True
    return headers, problem


def fuzz_operation(w: World, label: str, examples: int) -> None:
    operation = w.schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the served /openapi.json"
    route_api = operation.path.startswith("/1/")
    strategies = [
        operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
    ]
    # Real stations, partners and links in the path too, so that fuzzed queries and bodies get
    # past the 403/404 of unknown ones.
    known = {"as2_station_id": w.station, "as2_partner_id": w.recipient, "link": w.link}
    pinned = {name: known[name] for name in re.findall(r"{(\w+)}", operation.path) if name in known}
    if pinned:
        strategies.append(operation.as_strategy(path_parameters=pinned))
    strategy = st.one_of(strategies)

    modes = ROUTE_MODES if route_api else V1_MODES

    # One run per mode (not a drawn mode): each gets its share of the examples.
    @settings(LIVE, max_examples=-(-examples // len(modes)))
    @given(case=strategy)
    def run(case: Any, mode: str) -> None:
        if route_api:
            case.headers = _route_headers(w, case, mode)
            problem = False
        else:
            case.headers, problem = _v1_headers(w, case, mode)
        response = case.call(base_url=w.url, timeout=30)
        what = f"{label} [{mode}]\n{case.as_curl_command(base_url=w.url)}"
        w.statuses[(label, response.status_code)] += 1
        case.validate_response(response, checks=[not_a_server_error])
        headers = _Headers.of(response.headers)
        if route_api:
            check_route_answer(response.status_code, headers, response.content, what)
        else:
            check_v1_answer(response.status_code, headers, response.content, problem, what)

    for mode in modes:
        run(mode=mode)


@pytest.mark.parametrize("label", LABELS)
def test_schemathesis(world: World, label: str) -> None:
    fuzz_operation(world, label, EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("label", LABELS)
def test_schemathesis_long(world: World, label: str) -> None:
    fuzz_operation(world, label, SLOW_EXAMPLES)


def test_every_documented_operation_is_fuzzed(world: World) -> None:
    """The labels come from the code's document; the served one has the same operations."""
    served = {op.ok().label for op in world.schema.get_all_operations()}
    assert served == set(LABELS)
    assert any(label.startswith("POST /1/") for label in served) and any(" /v1/" in label for label in served)


# -- what the fuzzing found, on both stores ------------------------------------------------------------
def _v1_user(srv: ServerProcess) -> tuple[str, str, dict[str, str]]:
    email, _ = srv.add_account()
    station, _ = srv.add_station(email)
    partner, _ = srv.add_station(email)
    srv.add_partner(station, partner)
    return station, partner, {"Authorization": srv.token(email)}


def test_text_no_store_can_keep_is_refused(shared_server: ServerProcess) -> None:
    """NUL (which PostgreSQL text cannot hold) in a path or query value, and NUL or an unpaired
    surrogate (a JSON ``\\ud800`` escape, not encodable as UTF-8) in a JSON body: a 4xx, never the
    503 (PostgreSQL) or 500 (SQLite) the database error used to become."""
    station, partner, token = _v1_user(shared_server)
    with httpx.Client(base_url=shared_server.url, headers=token, timeout=30) as http:
        for path in (
            "/v1/message/received/a%00b",
            "/v1/message/sent/a%00b/attachments/0",
            "/v1/webhooks/a%00b",
            "/v1/webhooks/deliveries/sent/a%00b",
            "/v1/apikeys/a%00b",
        ):
            r = http.get(path) if "apikeys" not in path else http.delete(path)
            check_v1_answer(r.status_code, r.headers, r.content, False, path)
            assert r.status_code == 404, (path, r.text)
        r = http.get("/v1/partner", params={"query": "a\x00b"})
        assert r.status_code == 400, r.text
        for bad in ("\\u0000", "\\ud800", "\\udfff"):
            for method, path, body in (
                ("POST", "/v1/apikeys", f'{{"name": "k{bad}"}}'),
                (
                    "POST",
                    "/v1/partner",
                    f'{{"stationAS2Id": "{station}", "as2Identifier": "{partner}", "name": "p{bad}"}}',
                ),
                (
                    "POST",
                    "/v1/webhooks",
                    f'{{"stationAS2Id": "{station}", "url": "https://example.com/h", "description{bad}": "d{bad}"}}',
                ),
            ):
                r = http.request(method, path, content=body.encode(), headers={"content-type": "application/json"})
                check_v1_answer(r.status_code, r.headers, r.content, False, f"{path} {body}")
                assert r.status_code == 400, (path, body, r.text)


BIG_IDS = ("2147483648", "999999999999999999")


def test_ids_beyond_the_database_integer_are_unknown(shared_server: ServerProcess) -> None:
    """Ids of contact lists, contacts and partners are 32-bit integers in PostgreSQL: a larger
    one (up to the 18 digits the API reads) must be "not found", not a 503."""
    station, _, token = _v1_user(shared_server)
    failures = []
    with httpx.Client(base_url=shared_server.url, headers=token, timeout=30) as http:
        for big in BIG_IDS:
            for method, path in (
                ("GET", f"/v1/partner/{big}"),
                ("DELETE", f"/v1/partner/{big}"),
                ("DELETE", f"/v1/lists.json/{big}"),
                ("GET", f"/v1/contacts.json/{big}/contacts/"),
                ("GET", f"/v1/lists.json?id={big}"),
                ("POST", f"/v1/contacts.json/{big}/contacts/"),
                ("GET", f"/v1/contacts.json/1/contact/{big}"),
            ):
                r = http.request(method, path)
                if r.status_code >= 500:
                    failures.append((method, path, r.status_code))
        sender = Signer(*shared_server.new_route("big"))
        for big in BIG_IDS:
            r = http.post("/1/send-message", headers=sender.send(f"list:{big}", b"x"), files={"data": ("f", b"x")})
            if r.status_code >= 500:
                failures.append(("POST", f"/1/send-message to list:{big}", r.status_code))
            else:
                check_route_answer(r.status_code, r.headers, r.content, f"list:{big}")
    assert failures == []


# -- multipart bodies on /1/send-message ------------------------------------------------------------
BOUNDARY_CHARS = string.ascii_letters + string.digits + "'()+_,-./:=?"
_names = st.sampled_from(["data", "data", "x", "", "DATA", "data\x00", 'da"ta']) | st.text(max_size=8)
_filenames = st.none() | st.sampled_from(["f.bin", "../../etc/passwd", "a\\b", "\x00", "..", ""]) | st.text(max_size=20)


@st.composite
def _part(draw: st.DrawFn) -> tuple[str, bytes, bytes]:
    name = draw(_names)
    filename = draw(_filenames)
    disposition = f'form-data; name="{name}"' + ("" if filename is None else f'; filename="{filename}"')
    lines = [b"Content-Disposition: " + disposition.encode("utf-8")]
    if draw(st.booleans()):
        lines.append(b"Content-Type: " + draw(st.sampled_from([b"application/octet-stream", b"text/plain", b"\xff"])))
    lines += [b"X-" + str(i).encode() + b": " + b"y" * draw(st.integers(0, 50)) for i in range(draw(st.integers(0, 3)))]
    content = draw(st.binary(max_size=300))
    return name, b"\r\n".join(lines), content


@dataclass
class Body:
    content_type: str
    raw: bytes
    data: bytes  # the first data part as well-formed; what message-md5 signs
    mutation: str


@st.composite
def multipart_bodies(draw: st.DrawFn) -> Body:
    boundary = draw(st.text(BOUNDARY_CHARS, min_size=1, max_size=70))
    parts = draw(st.lists(_part(), max_size=12))
    b = boundary.encode()
    raw = b"".join(b"--" + b + b"\r\n" + head + b"\r\n\r\n" + content + b"\r\n" for _, head, content in parts)
    raw += b"--" + b + b"--\r\n"
    data = next((content for name, _, content in parts if name == "data"), b"")
    mutation = draw(st.sampled_from(["none", "truncate", "splice", "no close", "other boundary", "random", "many"]))
    if mutation == "truncate" and raw:
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif mutation == "splice" and raw:
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=40)) + raw[at:]
    elif mutation == "no close":
        raw = raw[: -len(b"--" + b + b"--\r\n")]
    elif mutation == "other boundary":
        boundary = boundary + "x"
    elif mutation == "random":
        raw = draw(st.binary(max_size=2000))
    elif mutation == "many":
        filler = b"--" + b + b'\r\nContent-Disposition: form-data; name="x"\r\n\r\nx\r\n'
        raw = filler * draw(st.integers(100, 2000)) + raw
    ctype = draw(
        st.sampled_from(
            [
                f"multipart/form-data; boundary={boundary}",
                f'multipart/form-data; boundary="{boundary}"',
                "multipart/form-data",
                "multipart/form-data; boundary=",
                f"multipart/mixed; boundary={boundary}",
                "application/octet-stream",
            ]
        )
    )
    return Body(ctype, raw, data, mutation)


def fuzz_multipart(w: World, examples: int) -> None:
    before = w.server.payload_count()
    accepted: list[str] = []

    @settings(LIVE, max_examples=examples)
    @given(body=multipart_bodies())
    def run(body: Body) -> None:
        ts = format_timestamp(time.time())
        mid = secrets.token_hex(8)
        md5 = hashlib.md5(body.data).hexdigest()
        headers = {
            "request-timestamp": ts,
            "request-from": w.station,
            "request-key": send_key(ts, w.station, w.recipient, mid, md5, w.secret),
            "message-to": w.recipient,
            "message-id": mid,
            "message-md5": md5,
            "content-type": body.content_type,
        }
        r = w.http.post("/1/send-message", headers=headers, content=body.raw)
        what = f"multipart ({body.mutation}, {body.content_type!r}, {len(body.raw)} bytes)"
        check_route_answer(r.status_code, r.headers, r.content, what)
        if r.status_code == 200:
            accepted.append(r.headers["message-link"])

    run()
    # Every accepted send stored one payload; a refused one stored nothing, left nothing behind.
    assert w.server.payload_count() - before == len(accepted)
    assert w.server.leftovers() == 0
    for link in accepted[:20]:
        ts = format_timestamp(time.time())
        got = w.http.get(
            f"/1/get-message/{link}",
            headers={
                "request-timestamp": ts,
                "request-from": w.recipient,
                "request-key": receive_key(ts, w.recipient, w.recipient_secret),
            },
        )
        assert got.status_code == 200 and hashlib.md5(got.content).hexdigest() == got.headers["message-md5"]
    print(f"\nmultipart fuzz: {len(accepted)} of {examples} accepted")


def test_multipart_bodies_on_send_message(world: World) -> None:
    fuzz_multipart(world, MULTIPART_EXAMPLES)


@pytest.mark.slow
def test_multipart_bodies_on_send_message_long(world: World) -> None:
    fuzz_multipart(world, SLOW_MULTIPART_EXAMPLES)


# -- hypothesis on the parsers ----------------------------------------------------------------------
# Header values reach relaybox as latin-1 text; the rest of the alphabet is fuzzed too.
latin1 = st.text(st.characters(max_codepoint=255))
texts = st.text() | latin1 | st.sampled_from(["", " ", "\x00", "\r\n", "\u2028", "٣", "²", "\ufeff"])
maybe_texts = st.none() | texts


def refuses_only(fn: Callable[[], Any], *allowed: type[BaseException]) -> Any:
    """Call ``fn``; a documented refusal is returned as None, anything else propagates."""
    try:
        return fn()
    except allowed:
        return None


# headers.py: every send header, the query values of the receive calls
@PURE
@given(value=maybe_texts)
def test_header_parsers_refuse_with_relaybox_errors_only(value: str | None) -> None:
    to = refuses_only(lambda: h.parse_message_to(value), RelayboxError)
    if to is not None:
        assert h.is_route(to) or h.list_id(to) is not None
        assert not h.has_control_chars(to) and len(to) <= h.MAX_HEADER_VALUE
    mid = refuses_only(lambda: h.parse_message_id(value), RelayboxError)
    if mid is not None:
        assert 1 <= len(mid) <= 128 and all(" " <= c <= "~" for c in mid)
    md5 = refuses_only(lambda: h.parse_message_md5(value), RelayboxError)
    if md5 is not None:
        assert re.fullmatch(r"[0-9a-f]{32}", md5)
    expires = refuses_only(lambda: h.parse_expires_after(value, maximum=2592000), RelayboxError)
    if expires is not None:
        assert 1 <= expires <= 2592000
    assert refuses_only(lambda: h.parse_priority(value), RelayboxError) in (None, "normal")
    assert refuses_only(lambda: h.parse_pay_for_reply(value), RelayboxError) in (None, True, False)
    timeout = refuses_only(lambda: h.parse_timeout(value, default=60, maximum=300), RelayboxError)
    assert timeout is None or 0 <= timeout <= 300
    index = refuses_only(lambda: h.parse_index(value), RelayboxError)
    assert index is None or 0 <= index < 10**9
    if value is not None:
        assert isinstance(h.is_route(value), bool) and isinstance(h.is_md5(value), bool)
        list_id = h.list_id(value)
        assert list_id is None or 0 < list_id < 10**18


@PURE
@given(value=texts, required=st.booleans())
def test_every_header_value_is_bounded_and_free_of_control_characters(value: str, required: bool) -> None:
    got = refuses_only(lambda: h.clean_value("x", value, required=required), RelayboxError)
    if got is not None:
        assert got == value and len(got) <= h.MAX_HEADER_VALUE
        assert not re.search(r"[\x00-\x1f\x7f]", got)


@PURE
@given(value=texts | st.from_regex(r"[0-9]{1,5}-[0-9]{1,3}-[0-9]{1,3}T[0-9:.]{1,20}[Z+-]?[0-9:]{0,6}", fullmatch=True))
def test_request_timestamp_parser(value: str) -> None:
    # test_wire.py fuzzes short text; this adds near-misses of the grammar (years 0000-99999,
    # 60th seconds, fractions of 10+ digits, offsets of 24:00 ...).
    when = refuses_only(lambda: parse_timestamp(value), TimestampError)
    assert when is None or isinstance(when, float)


@PURE
@given(value=texts | st.from_regex(r"[A-Za-z0-9._~-]{1,130}", fullmatch=True))
def test_links(value: str) -> None:
    if is_link(value):
        assert 1 <= len(value) <= 128 and "/" not in value and "\\" not in value and "%" not in value


@PURE
@given(value=texts, digits=st.integers(1, 30))
def test_v1_query_rules(value: str, digits: int) -> None:
    number = v1.decimal(value, digits)
    assert number is None or 0 <= number < 10**digits
    refuses_only(lambda: v1.query_value({"q": value}, "q"), V1Error)
    assert refuses_only(lambda: v1.parse_bool("b", value), V1Error) in (None, True, False)
    assert refuses_only(lambda: v1.parse_choice("c", value, v1.PARTNER_TYPES, "Production"), V1Error) in (
        None,
        "Production",
        "Test",
    )
    got = refuses_only(lambda: v1.parse_int("i", value, 0, 1, 100), V1Error)
    assert got is None or 1 <= got <= 100
    route = refuses_only(lambda: v1.route_param("r", value), V1Error)
    assert route is None or h.is_route(route)
    subject = refuses_only(lambda: v1.subject_value(value), V1Error)
    assert subject is None or (len(subject) <= 255 and not h.has_control_chars(subject))
    name = refuses_only(lambda: v1.file_name(value), V1Error)
    if name is not None:
        assert "/" not in name and "\\" not in name and name not in (".", "..") and not h.has_control_chars(name)
    entry = v1.zip_entry_name(value)
    assert "/" not in entry and "\\" not in entry and not h.has_control_chars(entry)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
PARTNER_KEYS = [
    "stationAS2Id",
    "as2Identifier",
    "name",
    "description",
    "uri",
    "messageSubject",
    "customHeaders",
    "pauseIncoming",
    "pauseOutgoing",
    "sendTimeout",
    "partnerType",
    "requestMdn",
    "transport",
    "remoteRoute",
    "remoteSecret",
    "pushSecret",
]
header_lists = st.lists(
    st.fixed_dictionaries({"headerKey": texts | st.sampled_from(["Message-X", "Host", "X-A"]), "headerValue": texts})
    | json_values,
    max_size=25,
)


@PURE
@given(
    doc=json_values
    | st.dictionaries(st.sampled_from(PARTNER_KEYS), json_values | texts | header_lists, max_size=len(PARTNER_KEYS)),
    create=st.booleans(),
)
def test_v1_partner_bodies(doc: Any, create: bool) -> None:
    fields = refuses_only(lambda: v1.partner_fields(doc, create=create), V1Error)
    if fields is not None and create:
        assert h.is_route(fields["station"]) and h.is_route(fields["route"])


@PURE
@given(doc=json_values, most=st.integers(1, 100))
def test_v1_message_id_arrays(doc: Any, most: int) -> None:
    ids = refuses_only(lambda: v1.message_ids(doc, most), V1Error)
    assert ids is None or 1 <= len(ids) <= most


@PURE
@given(
    doc=json_values | st.dictionaries(st.sampled_from([*contacts.FIELDS, "id"]), json_values, max_size=14),
    create=st.booleans(),
)
def test_contact_bodies(doc: Any, create: bool) -> None:
    fields = refuses_only(lambda: contacts.contact_fields(doc, create=create), V1Error)
    if fields is not None:
        for name, value in fields.items():
            assert value is None or (len(value) <= contacts.FIELD_LENGTHS[name] and not h.has_control_chars(value))
        if create:
            assert contacts.is_email(fields["email_address"] or "")


@PURE
@given(value=maybe_texts)
def test_list_names_and_emails(value: str | None) -> None:
    name = refuses_only(lambda: contacts.list_name(value), V1Error)
    assert name is None or 1 <= len(name) <= contacts.MAX_LIST_NAME
    if value is not None:
        assert not contacts.is_email(value) or (len(value) <= 254 and value.isascii())


csv_texts = texts | st.lists(
    st.lists(texts | st.sampled_from(contacts.FIELDS), max_size=6).map(lambda cells: ",".join(cells)), max_size=6
).map("\r\n".join)


@PURE
@given(text=csv_texts)
def test_contacts_csv(text: str) -> None:
    parsed = refuses_only(lambda: contacts.read_csv(text), contacts.CsvRefused)
    if parsed is not None:
        assert "email_address" in parsed.columns


@PURE
@given(
    value=texts
    | st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,12})?Z?", fullmatch=True)
)
def test_rfc3339(value: str) -> None:
    when = refuses_only(lambda: events.parse_rfc3339(value), ValueError)
    if when is not None and re.fullmatch(r".*\.[0-9]{3}Z", value):
        assert events.format_rfc3339(when) == value


@PURE
@given(body=st.binary() | texts.map(str.encode) | json_values.map(lambda v: json.dumps(v).encode()))
def test_canonical_json_of_any_bytes(body: bytes) -> None:
    canonical = rcws.canonical_json(body)
    assert canonical is None or canonical.isascii()
    assert isinstance(rcws.is_empty(body), bool)


def test_canonical_json_of_absurd_nesting() -> None:
    for body in (b"[" * 100_000, b'{"a":' * 50_000, b"[" * 1000 + b"]" * 1000):
        assert rcws.canonical_json(body) is None
        assert rcws.is_empty(body) is False


@PURE
@given(
    method=st.sampled_from(["GET", "POST", "DELETE"]),
    path=texts | st.binary(),
    query=texts | st.binary(),
    body=st.binary(max_size=64),
    ctype=maybe_texts,
    timestamp=maybe_texts,
)
def test_rcws_candidates_of_any_request(
    method: str, path: str | bytes, query: str | bytes, body: bytes, ctype: str | None, timestamp: str | None
) -> None:
    assert 1 <= len(rcws.candidates(method, path, query, body, ctype, timestamp)) <= 2


@PURE
@given(value=maybe_texts | st.from_regex(r"(RCWS|mmws|Bearer) [^:]{0,10}:[0-9a-fA-F ]{60,68}", fullmatch=True))
def test_authorization_parsers(value: str | None) -> None:
    parsed = rcws.parse_authorization(value)
    if parsed is not None:
        assert len(parsed[2]) == 32 and ":" not in parsed[1]
    for algorithm, size in hmac_request.DIGEST_SIZES.items():
        digest = hmac_request.parse_digest_authorization(value, algorithm)
        assert digest is None or (len(digest[2]) == size and digest[1] and ":" not in digest[1])
    providers = hmac_request.parse_providers(hmac_request.DEFAULT_PROVIDERS)
    assert isinstance(hmac_request.classify(value, providers), hmac_request.Classified)
    refuses_only(lambda: hmac_request.parse_providers(value or ""), ValueError)


@PURE
@given(
    value=maybe_texts
    | st.from_regex(
        r"[A-Z][a-z]{2}, [0-9]{1,2} [A-Z][a-z]{2} [0-9]{1,6} [0-9:]{5,9} ([A-Z]{3}|[+-][0-9]{4})", fullmatch=True
    )
    | st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{8,14}(Z|[+-][0-9]{2}:[0-9]{2})?", fullmatch=True)
)
def test_date_headers(value: str | None) -> None:
    # The Date of signed /v1 requests; the Retry-After relaybox reads from partners.
    when = hmac_request.parse_date(value)
    assert when is None or isinstance(when, float)
    wait = push.retry_after(value, time.time())
    assert wait is None or 0 <= wait <= push.MAX_RETRY_AFTER


@PURE
@given(value=texts | st.from_regex(r"-?[0-9]{1,400}(\.[0-9]{1,3})?[a-z]{0,2}", fullmatch=True))
def test_durations_and_schedules(value: str) -> None:
    seconds = refuses_only(lambda: push.parse_duration(value), ValueError)
    assert seconds is None or 0 <= seconds < float("inf")
    refuses_only(lambda: push.parse_schedule(value), ValueError)


@PURE
@given(value=json_values | texts | st.from_regex(r"https?://[^/ ]{0,20}(:[0-9a-z]{0,8})?/.{0,10}", fullmatch=True))
def test_webhook_urls(value: Any) -> None:
    url = refuses_only(lambda: endpoints.check_url(value, require_https=False), V1Error)
    assert url is None or url.startswith(("http://", "https://"))


@PURE
@given(pairs=st.lists(st.tuples(texts | st.sampled_from(["Message-A", "message-a"]), texts), max_size=6))
def test_message_header_lines(pairs: list[tuple[str, str]]) -> None:
    lines = refuses_only(lambda: custom_lines(pairs), ValueError)
    assert lines is None or isinstance(lines, str)


@PURE
@given(expected=st.text(), given_key=texts, timestamp=texts, route=texts)
def test_request_keys_of_any_text(expected: str, given_key: str, timestamp: str, route: str) -> None:
    assert isinstance(keys_equal(expected, given_key), bool)
    assert len(receive_key(timestamp, route, "s")) == 128
    assert len(send_key(timestamp, route, given_key, expected, "", "s")) == 128
