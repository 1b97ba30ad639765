"""The address book (issue 7): contact lists and contacts over /v1 with the Migomail seed's paths
and answers (``seeds/001``, List and Contact Management), and ``relaybox contacts`` (CSV import
with a per-row report, export, lists), through a live server on both backends.

The ``contacts`` CLI group runs in this process through click's ``CliRunner`` against the
server's store, as ``tests/test_cli_provision.py`` does. List ids are server-wide, so on the
shared server a test reads them from the answers instead of expecting the seed's 1, 2, 3.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from conftest import ServerProcess
from relaybox.cli.contacts_cmds import contacts as contacts_cli
from relaybox.store.schema import contact_lists, contacts
from relaybox.wire import contacts as rules

HTTP = httpx.Client(timeout=30)  # one client: making one costs ~40 ms of CPU
# The seed's add-contact body (its e-mail is redacted in the seed; request-signing.md's B7).
B7 = {
    "address": "",
    "city": "",
    "company": "",
    "country": "india",
    "dob": "",
    "email_address": "test21.fullname@example.com",
    "first_name": "full name",
    "last_name": "seth1",
    "name": "test21_name",
    "phone": "",
    "state": "",
    "zip_code": "4008",
}
NO_DATA = b'{"posted_data":"[]"}'  # what the seed's clients send with a GET or DELETE


class Account:
    """Requests of one new account (token auth) on the module's HTTP client."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.email, _ = server.add_account()
        self.token = server.token(self.email)

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return HTTP.request(method, self.server.url + path, headers={"Authorization": self.token}, **kw)

    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.request(method, path, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json"), r.headers
        return r.json()

    def refused(self, method: str, path: str, status: int, **kw: Any) -> str:
        r = self.request(method, path, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        body = r.json()
        assert set(body) == {"message"}, body
        return str(body["message"])

    def new_list(self, name: str | None = None) -> int:
        name = name or f"L{secrets.token_hex(4)}"
        return int(self.ok("POST", f"/v1/lists/{name}", 201)["id"])

    def add(self, list_id: int, **fields: Any) -> int:
        doc = {"email_address": f"c{secrets.token_hex(4)}@example.com", **fields}
        return int(self.ok("POST", f"/v1/contacts.json/{list_id}/contacts/", 201, json=doc)["id"])


def run_cli(server: ServerProcess, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(contacts_cli, [*args, *server.store_args()], input=stdin, catch_exceptions=False)
    # Undecoded stdout: ``result.stdout`` turns CRLF into LF, and the export writes CRLF.
    return result.exit_code, result.stdout_bytes.decode(), result.stderr


def members(server: ServerProcess, list_id: int) -> list[tuple[str | None, int]]:
    return server._store_call(lambda store: store.addressbook.member_routes(list_id))


# -- the seed's examples ------------------------------------------------------------------------
def test_seed_list_management_examples(shared_server: ServerProcess) -> None:
    a = Account(shared_server)
    assert a.ok("GET", "/v1/lists.json/", content=NO_DATA) == {}
    ids = []
    for n in (1, 2, 3):
        doc = a.ok("POST", f"/v1/lists/List+{n}", 201, content=NO_DATA)
        ids.append(doc["id"])
        assert doc == {"code": 201, "message": f"List List {n} created with list-id {doc['id']}", "id": doc["id"]}
    one, two, three = ids
    assert ids == sorted(ids)
    expected = {str(one): "List 1", str(two): "List 2", str(three): "List 3"}
    for path in ("/v1/lists.json/", "/v1/lists.json"):
        r = a.request("GET", path)
        assert r.status_code == 200 and r.text == json.dumps(expected, separators=(",", ":")), r.text
    assert a.ok("GET", f"/v1/lists.json?id={two}") == {str(two): "List 2"}
    assert a.ok("GET", f"/v1/lists.json/?id={two}") == {str(two): "List 2"}
    assert a.ok("POST", f"/v1/lists.json?id={three}&name=Renamed+1", 201) == {
        "code": 201,
        "message": "List renamed to Renamed 1",
    }
    assert a.ok("GET", f"/v1/lists.json?id={three}") == {str(three): "Renamed 1"}
    assert a.ok("DELETE", f"/v1/lists.json/{three}", content=NO_DATA) == {"code": 200, "message": "List removed"}
    assert a.ok("DELETE", f"/v1/lists.json/{two}/") == {"code": 200, "message": "List removed"}
    assert a.ok("GET", "/v1/lists.json") == {str(one): "List 1"}
    assert a.refused("GET", f"/v1/lists.json?id={three}", 404) == f"List {three} not found"
    # Names are form-decoded from the raw path: %20 and + are spaces, %2B a plus, %2F a slash.
    assert a.ok("POST", "/v1/lists/C%2B%2B%20and%2Fmore/", 201)["message"].startswith("List C++ and/more created")


def test_seed_contact_management_examples(shared_server: ServerProcess) -> None:
    a = Account(shared_server)
    lid = a.new_list()
    base = f"/v1/contacts.json/{lid}"
    added = a.ok("POST", f"{base}/contacts/", 201, json=B7)
    assert added == {"code": 201, "message": "Contact added", "id": added["id"]}
    ids = [added["id"]] + [a.add(lid) for _ in range(6)]
    emails = a.ok("GET", f"{base}/contacts/?pagesize=100")
    assert list(emails) == [str(i) for i in ids] and emails[str(ids[0])] == B7["email_address"]
    page = a.ok("GET", f"{base}/contacts/?pagesize=5&offset=2", content=NO_DATA)
    assert page == {str(i): emails[str(i)] for i in ids[2:7]}
    assert a.ok("GET", f"{base}/contacts?offset=2&pagesize=5") == page
    cid = ids[1]
    assert a.ok("GET", f"{base}/contact/{cid}") == {str(cid): emails[str(cid)]}
    assert a.ok("GET", f"{base}/contact/{cid}/") == {str(cid): emails[str(cid)]}
    # Edit: a partial update, unknown keys ignored.
    edit = {"first_name": "Zoë", "email_address": "zoe@example.org", "route": "zoe@gw01", "rating": "x"}
    assert a.ok("POST", f"{base}/contacts/{cid}", json=edit) == {"code": 200, "message": "Contact updated"}
    full = a.ok("GET", f"{base}/contact/{cid}?full=1")[str(cid)]
    assert full["first_name"] == "Zoë" and full["route"] == "zoe@gw01" and full["email_address"] == "zoe@example.org"
    assert set(full) == {"id", "list_id", *rules.FIELDS, "created_timestamp", "updated_timestamp"}
    assert full["id"] == cid and full["list_id"] == lid and full["updated_timestamp"] >= full["created_timestamp"]
    seed = a.ok("GET", f"{base}/contacts/{ids[0]}?full=true")[str(ids[0])]
    assert {k: seed[k] for k in B7} == B7 and seed["route"] is None
    fulls = a.ok("GET", f"{base}/contacts/?full=1&pagesize=2")
    assert list(fulls) == [str(i) for i in ids[:2]] and fulls[str(cid)] == full
    # Delete answers a bare JSON string, as the seed.
    r = a.request("DELETE", f"{base}/contacts/{ids[6]}", content=b'{"posted_data":"null"}')
    assert r.status_code == 200 and r.json() == "Contact removed"
    assert a.refused("GET", f"{base}/contact/{ids[6]}", 404) == f"Contact {ids[6]} not found"
    expected = [(None, ids[0]), ("zoe@gw01", cid), *[(None, i) for i in ids[2:6]]]
    assert members(shared_server, lid) == expected


# -- paging, validation, isolation ---------------------------------------------------------------
def test_paging_bounds_and_defaults(shared_server: ServerProcess) -> None:
    a = Account(shared_server)
    lid = a.new_list()
    ids = [a.add(lid) for _ in range(12)]
    path = f"/v1/contacts.json/{lid}/contacts/"
    assert list(a.ok("GET", path)) == [str(i) for i in ids]  # default page size 100
    assert list(a.ok("GET", path + "?pagesize=5&offset=10")) == [str(i) for i in ids[10:]]
    assert a.ok("GET", path + "?offset=12") == {}
    assert list(a.ok("GET", path + "?pagesize=1000&offset=0")) == [str(i) for i in ids]
    for bad in ("pagesize=0", "pagesize=1001", "pagesize=x", "offset=-1", "offset=1.5", "full=maybe"):
        assert a.refused("GET", f"{path}?{bad}", 400).startswith("Query parameter")


def test_contact_and_list_validation(shared_server: ServerProcess) -> None:
    a = Account(shared_server)
    lid = a.new_list("Same")
    path = f"/v1/contacts.json/{lid}/contacts/"
    cases: list[tuple[Any, str]] = [
        ({"name": "x"}, "email_address is required"),
        ({"email_address": ""}, "email_address is required"),
        ({"email_address": "no-at-sign"}, "email_address 'no-at-sign' is not an e-mail address"),
        ({"email_address": "a@localhost"}, "not an e-mail address"),
        ({"email_address": "a" * 65 + "@example.com"}, "not an e-mail address"),
        ({"email_address": "a@b.co", "zip_code": [4008]}, "zip_code must be a string"),
        ({"email_address": "a@b.co", "name": None}, "name must be a string"),
        ({"email_address": "a@b.co", "route": "not a route"}, "route 'not a route' is not a route"),
        ({"email_address": "a@b.co", "route": 7}, "route must be a string or null"),
        ({"email_address": "a@b.co", "phone": "1" * 65}, "phone at most 64 characters"),
        ({"email_address": "a@b.co", "city": "a\tb"}, "city must not contain control characters"),
        ({"email_address": "x", "zip_code": {}}, "email_address 'x' is not an e-mail address; zip_code"),
        (["a@b.co"], "Body must be a JSON object (a contact)"),
    ]
    for doc, message in cases:
        assert message in a.refused("POST", path, 400, json=doc), doc
    assert a.refused("POST", path, 400, content=b"{nope") == "Body must be JSON"
    cid = a.add(lid, route=None, phone="  +49 30 1234  ", email_address=" Mixed.Case@Example.COM ")
    full = a.ok("GET", f"/v1/contacts.json/{lid}/contact/{cid}?full=1")[str(cid)]
    assert full["phone"] == "+49 30 1234" and full["email_address"] == "Mixed.Case@Example.COM"
    assert full["name"] == "" and full["route"] is None
    assert a.ok("POST", f"{path}{cid}", json={"route": "r1@gw"})["message"] == "Contact updated"
    assert a.ok("POST", f"{path}{cid}", json={"route": ""})["message"] == "Contact updated"
    assert a.ok("POST", f"{path}{cid}", json={"posted_data": "[]"})["message"] == "Contact updated"
    assert a.ok("GET", f"/v1/contacts.json/{lid}/contact/{cid}?full=1")[str(cid)]["route"] is None
    # The seed's clients send numbers (B8: "zip_code":4008): kept as their text.
    assert a.ok("POST", f"{path}{cid}", json={"zip_code": 4008})["message"] == "Contact updated"
    assert a.ok("GET", f"/v1/contacts.json/{lid}/contact/{cid}?full=1")[str(cid)]["zip_code"] == "4008"
    assert "email_address is required" in a.refused("POST", f"{path}{cid}", 400, json={"email_address": " "})
    # Lists: names 1-128 without control characters, unique per account (409, also on rename).
    assert a.refused("POST", "/v1/lists/Same", 409) == "A list named Same already exists"
    other = a.new_list("Other")
    assert a.refused("POST", f"/v1/lists.json?id={other}&name=Same", 409) == "A list named Same already exists"
    assert a.ok("POST", f"/v1/lists.json?id={lid}&name=Same", 201)["message"] == "List renamed to Same"
    assert Account(shared_server).new_list("Same") > 0  # another account may use the name
    long_name = "n" * 129
    for method, bad in [
        ("POST", f"/v1/lists/{long_name}"),
        ("POST", "/v1/lists/a%01b"),
        ("POST", "/v1/lists/"),
        ("POST", "/v1/lists/%FF"),
        ("POST", f"/v1/lists.json?id={lid}"),
        ("POST", f"/v1/lists.json?id={lid}&name="),
        ("POST", "/v1/lists.json?name=x"),
        ("GET", "/v1/lists.json?id=abc"),
        ("DELETE", "/v1/lists.json/abc"),
        ("GET", "/v1/contacts.json/abc/contacts/"),
        ("GET", f"/v1/contacts.json/{lid}/contact/x1"),
    ]:
        a.refused(method, bad, 400)
    assert a.ok("POST", "/v1/lists/" + "n" * 128, 201)["id"] > 0
    # Fault order: a path 400 before a 404, a 404 before the body's 400.
    assert a.refused("POST", "/v1/contacts.json/999999999/contacts/", 404, content=b"{nope") == (
        "List 999999999 not found"
    )
    assert a.refused("POST", f"{path}999999999", 404, content=b"{nope") == "Contact 999999999 not found"


def test_another_accounts_lists_and_contacts_are_not_found(shared_server: ServerProcess) -> None:
    owner, other = Account(shared_server), Account(shared_server)
    lid = owner.new_list("Mine")
    cid = owner.add(lid)
    unknown = lid + 10_000_000
    assert other.ok("GET", "/v1/lists.json") == {}
    for list_id in (lid, unknown):
        c = f"/v1/contacts.json/{list_id}"
        message = f"List {list_id} not found"
        for method, path, kw in [
            ("GET", f"/v1/lists.json?id={list_id}", {}),
            ("POST", f"/v1/lists.json?id={list_id}&name=Stolen", {}),
            ("DELETE", f"/v1/lists.json/{list_id}", {}),
            ("GET", f"{c}/contacts/", {}),
            ("POST", f"{c}/contacts/", {"json": B7}),
            ("GET", f"{c}/contact/{cid}", {}),
            ("POST", f"{c}/contacts/{cid}", {"json": {"name": "x"}}),
            ("DELETE", f"{c}/contacts/{cid}", {}),
        ]:
            assert other.refused(method, path, 404, **kw) == message, (method, path)
    # A contact id of another list of the same account is not in this list.
    second = owner.new_list()
    assert owner.refused("GET", f"/v1/contacts.json/{second}/contact/{cid}", 404) == f"Contact {cid} not found"
    assert owner.refused("DELETE", f"/v1/contacts.json/{second}/contacts/{cid}", 404) == f"Contact {cid} not found"
    assert owner.ok("GET", f"/v1/lists.json?id={lid}") == {str(lid): "Mine"}
    assert len(owner.ok("GET", f"/v1/contacts.json/{lid}/contacts/")) == 1
    assert HTTP.get(f"{shared_server.url}/v1/lists.json").status_code == 401
    assert shared_server._store_call(lambda s: s.addressbook.list_owner(lid)) is not None
    assert shared_server._store_call(lambda s: s.addressbook.list_owner(unknown)) is None


def test_deleting_a_list_deletes_its_contacts(shared_server: ServerProcess) -> None:
    from sqlalchemy import func, select

    a = Account(shared_server)
    keep, drop = a.new_list(), a.new_list()
    kept = [a.add(keep, route=f"k{i}@gw") for i in range(3)]
    for i in range(4):
        a.add(drop, route=f"d{i}@gw")
    assert len(members(shared_server, drop)) == 4
    a.ok("DELETE", f"/v1/lists.json/{drop}")

    def count(table: Any, column: Any) -> Any:
        stmt = select(func.count()).select_from(table).where(column == drop)
        return lambda store: store._scalars(stmt)

    assert shared_server._store_call(count(contacts, contacts.c.list_id)) == [0]
    assert shared_server._store_call(count(contact_lists, contact_lists.c.id)) == [0]
    assert members(shared_server, drop) == []
    assert members(shared_server, keep) == [(f"k{i}@gw", cid) for i, cid in enumerate(kept)]
    assert a.refused("GET", f"/v1/contacts.json/{drop}/contacts/", 404) == f"List {drop} not found"
    assert a.refused("DELETE", f"/v1/lists.json/{drop}", 404) == f"List {drop} not found"


# -- CSV ---------------------------------------------------------------------------------------
GOOD_AND_BAD = (
    "Email_Address,name,route,zip_code,favourite_colour,id\r\n"  # line 1
    "ann@example.com,Ann,ann@gw01,1010,red,7\r\n"  # 2 ok
    "not-an-email,Bob,bob@gw01,,,\r\n"  # 3 bad email
    "\r\n"  # 4 blank: skipped
    'cy@example.com,"Cy\r\nSecond line",,,,\r\n'  # 5-6 name with a line break
    "dee@example.com,Dee,bad route,,,\r\n"  # 7 bad route
    "eve@example.com,Eve,,,,,extra\r\n"  # 8 too many cells
    "fay@example.com,Fay\r\n"  # 9 ok: missing cells are empty
)


def test_csv_import_reports_bad_rows_and_imports_good_ones(shared_server: ServerProcess, tmp_path: Path) -> None:
    a = Account(shared_server)
    lid = a.new_list()
    file = tmp_path / "in.csv"
    file.write_text(GOOD_AND_BAD, newline="")
    code, out, err = run_cli(shared_server, "import", str(lid), str(file), "--json")
    assert code == 1 and err == "", (code, out, err)
    report = json.loads(out)
    assert report == {
        "list": lid,
        "rows": 6,
        "imported": 2,
        "failed": 4,
        "unknownColumns": ["favourite_colour"],
        "errors": [
            {"line": 3, "field": "email_address", "message": "'not-an-email' is not an e-mail address"},
            {"line": 5, "field": "name", "message": "must not contain control characters"},
            {"line": 7, "field": "route", "message": "'bad route' is not a route (local@domain)"},
            {"line": 8, "field": "", "message": "the row has 7 cells, the header 6"},
        ],
    }
    got = a.ok("GET", f"/v1/contacts.json/{lid}/contacts/?full=1")
    assert [(c["email_address"], c["name"], c["route"], c["zip_code"]) for c in got.values()] == [
        ("ann@example.com", "Ann", "ann@gw01", "1010"),
        ("fay@example.com", "Fay", None, ""),
    ]
    # The text report: a summary and a table, same exit code; stdin as the file.
    code, out, err = run_cli(shared_server, "import", str(lid), "-", stdin=GOOD_AND_BAD)
    assert code == 1 and "imported 2 of 6 rows into list" in out and "4 failed" in out, out
    assert "favourite_colour" in out and "'bad route' is not a route" in out
    assert re.search(r"\b8\b.*the row has 7 cells", out), out
    # All good: exit 0.
    code, out, _ = run_cli(
        shared_server, "import", str(lid), "-", "--json", stdin="email_address\r\ngus@example.com\r\n"
    )
    assert code == 0 and json.loads(out)["imported"] == 1
    assert len(a.ok("GET", f"/v1/contacts.json/{lid}/contacts/")) == 5
    # Refusals of the whole file or the list: exit 1, one line on stderr, nothing imported.
    for stdin, message in [
        ("", "the file is empty"),
        ("name,route\r\nx,y@z\r\n", "the header has no email_address column"),
        ("email_address,Email_Address\r\n", "column 'email_address' appears twice"),
        ("email_address\r\n" + "a" * 140_000 + "\r\n", "line 2: field larger than field limit"),
    ]:
        code, out, err = run_cli(shared_server, "import", str(lid), "-", stdin=stdin)
        assert code == 1 and out == "" and message in err and err.count("\n") == 1, (stdin, code, out, err)
    bad_utf8 = tmp_path / "latin1.csv"
    bad_utf8.write_bytes("email_address\r\nj\xf6rg@example.com\r\n".encode("latin-1"))
    code, _, err = run_cli(shared_server, "import", str(lid), str(bad_utf8))
    assert code == 1 and "is not UTF-8 text (line 2, byte 16)" in err
    code, _, err = run_cli(shared_server, "import", str(lid + 10_000_000), str(file))
    assert code == 1 and err == f"error: no list {lid + 10_000_000}\n"
    assert run_cli(shared_server, "import", "x", str(file))[0] == 2
    assert run_cli(shared_server, "import", str(lid))[0] == 2
    assert len(a.ok("GET", f"/v1/contacts.json/{lid}/contacts/")) == 5


def test_csv_export_round_trip_and_lists(shared_server: ServerProcess, tmp_path: Path) -> None:
    a = Account(shared_server)
    source, copy = a.new_list("Source"), a.new_list("Copy")
    a.ok("POST", f"/v1/contacts.json/{source}/contacts/", 201, json={**B7, "route": "t21@gw01"})
    a.add(source, name='Quote "and", comma', address="Zoë Street 1", route="q@gw01")
    a.add(source)
    out = tmp_path / "out.csv"
    code, stdout, err = run_cli(shared_server, "export", str(source), "-o", str(out))
    assert (code, stdout, err) == (0, "", "")
    exported = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert list(exported[0]) == ["id", *rules.FIELDS]
    assert {k: exported[0][k] for k in B7} == B7 and exported[0]["route"] == "t21@gw01"
    code, _, _ = run_cli(shared_server, "import", str(copy), str(out))
    assert code == 0
    code, again, _ = run_cli(shared_server, "export", str(copy))
    assert code == 0
    copied = list(csv.DictReader(io.StringIO(again, newline="")))
    strip = [{k: v for k, v in row.items() if k != "id"} for row in exported]
    assert [{k: v for k, v in row.items() if k != "id"} for row in copied] == strip
    assert all(int(c["id"]) > int(e["id"]) for c, e in zip(copied, exported, strict=True))
    empty = a.new_list("Empty")
    assert run_cli(shared_server, "export", str(empty))[1] == ",".join(["id", *rules.FIELDS]) + "\r\n"
    assert run_cli(shared_server, "export", str(empty + 10_000_000))[0] == 1
    code, listed, _ = run_cli(shared_server, "lists", a.email.upper(), "--json")
    assert code == 0
    assert [(x["id"], x["name"], x["contacts"]) for x in json.loads(listed)] == [
        (source, "Source", 3),
        (copy, "Copy", 3),
        (empty, "Empty", 0),
    ]
    code, text, _ = run_cli(shared_server, "lists", a.email)
    assert code == 0 and "Source" in text and "Empty" in text
    code, _, err = run_cli(shared_server, "lists", "nobody@example.com")
    assert code == 1 and err == "error: no account nobody@example.com\n"


def test_ten_thousand_contacts_import_and_member_routes(shared_server: ServerProcess, tmp_path: Path) -> None:
    a = Account(shared_server)
    lid = a.new_list("Big")
    n = 10_000
    lines = ["email_address,first_name,route"]
    lines += [f"m{i}@example.com,M{i},{'' if i % 10 == 0 else f'm{i}@gw{i % 7}'}" for i in range(n)]
    file = tmp_path / "big.csv"
    file.write_text("\r\n".join(lines) + "\r\n")
    started = time.perf_counter()
    code, out, err = run_cli(shared_server, "import", str(lid), str(file), "--json")
    imported = time.perf_counter() - started
    assert code == 0 and json.loads(out)["imported"] == n, (out, err)

    async def read(store: Any) -> tuple[float, list[tuple[str | None, int]]]:
        start = time.perf_counter()
        found = await store.addressbook.member_routes(lid)
        return time.perf_counter() - start, found

    took, found = shared_server._store_call(read)
    print(f"\n{shared_server.backend}: import of {n} contacts {imported:.2f} s, member_routes {took * 1000:.0f} ms")
    assert len(found) == n and all(type(t) is tuple for t in found)
    ids = [cid for _, cid in found]
    assert ids == sorted(ids) and len(set(ids)) == n
    assert [r for r, _ in found] == [None if i % 10 == 0 else f"m{i}@gw{i % 7}" for i in range(n)]
    last = a.ok("GET", f"/v1/contacts.json/{lid}/contacts/?pagesize=1000&offset=9990")
    assert list(last) == [str(i) for i in ids[9990:]] and last[str(ids[-1])] == f"m{n - 1}@example.com"


# -- pure rules ---------------------------------------------------------------------------------
def test_field_lengths_mirror_the_schema() -> None:
    columns = {c.name: getattr(c.type, "length", None) for c in contacts.columns}
    assert {name: columns[name] for name in rules.FIELDS} == rules.FIELD_LENGTHS
    assert contact_lists.c.name.type.length == rules.MAX_LIST_NAME  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("test21.fullname@example.com", True),
        ("o'hara+tag@sub.example.co.uk", True),
        ("a@b.co", True),
        ("a@b", False),
        (".a@b.co", False),
        ("a..b@b.co", False),
        ("a@-b.co", False),
        ("a b@b.co", False),
        ("a@b.co.", False),
        ("jörg@example.com", False),
        ("a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 56 + ".com", True),  # 254
        ("a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 57 + ".com", False),  # 255
    ],
)
def test_email_rule(value: str, ok: bool) -> None:
    assert rules.is_email(value) is ok


def test_csv_reading_edges() -> None:
    parsed = rules.read_csv("\ufeff EMAIL_ADDRESS ,,Route\r\na@b.co,x,r@g\r\n\r\nb@b.co\r\n")
    assert parsed.columns == ["email_address", "route"] and parsed.unknown == []
    assert parsed.rows == [(2, {"email_address": "a@b.co", "route": "r@g"}), (4, {"email_address": "b@b.co"})]
    out = io.StringIO()
    rows: Sequence[dict[str, Any]] = [{"id": 1, "email_address": "a@b.co", "route": None, "name": "x,y"}]
    assert rules.write_csv(out, rows) == 1
    assert out.getvalue().splitlines()[1] == '1,"x,y",,,a@b.co,,,,,,,,,'
