"""relaybox /v1 with RCWS signatures (the Migomail seed's scheme): Python standard library only.

    export RELAYBOX_URL=http://127.0.0.1:8080 PUBLIC_KEY=rbk_... PRIVATE_KEY=rbs_...
    python3 rcws.py station                            # GET  /v1/station: the account's stations
    python3 rcws.py lists                              # GET  /v1/lists.json: {"id":"name",...}
    python3 rcws.py add-list NAME                      # POST /v1/lists/NAME: answers the list's "id"
    python3 rcws.py add-contact LIST NAME EMAIL ROUTE  # POST /v1/contacts.json/LIST/contacts/
    python3 rcws.py contacts LIST                      # GET  /v1/contacts.json/LIST/contacts/?...

Prints the answer's body; an HTTP error prints the problem+json answer and exits 1.
"""

import hashlib
import hmac
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime

URL, PUBLIC, PRIVATE = os.environ["RELAYBOX_URL"], os.environ["PUBLIC_KEY"], os.environ["PRIVATE_KEY"]
NO_DATA = '{"posted_data":"[]"}'  # what a request without a body is signed with (the seed's stand-in)
SEED_FIELDS = "name first_name last_name email_address company phone address city state zip_code country dob"


def rcws(method: str, path: str, query: str = "", doc: dict | None = None) -> str:
    """Authorization: RCWS PUBLIC_KEY:hex(HMAC-SHA256(PRIVATE_KEY, S)), with
    S = lower(METHOD + "::" + PATH ["?" + sorted QUERY] + "::" + JSON + "::" + TIMESTAMP)."""
    # JSON is signed in canonical form (keys sorted, no spaces, non-ASCII as \uXXXX); sending that
    # very text makes the signed and the sent body the same.
    body = json.dumps(doc, sort_keys=True, separators=(",", ":")) if doc is not None else None
    # The query is signed with its items sorted as bytes, and sent as it is.
    items = sorted(item for item in query.split("&") if item)
    signed_url = path + ("?" + "&".join(items) if items else "")
    # With request-timestamp the signature covers the time and is accepted once.
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    s = f"{method}::{signed_url}::{body or NO_DATA}::{stamp}"
    # lower() of ASCII A-Z only: bytes.lower() does exactly that (str.lower() would also fold É).
    signature = hmac.new(PRIVATE.encode(), s.encode().lower(), hashlib.sha256).hexdigest()
    headers = {
        "Authorization": f"RCWS {PUBLIC}:{signature}",
        "request-timestamp": stamp,
        "Content-Type": "application/json; charset=UTF-8",
    }
    url = URL + path + (f"?{query}" if query else "")
    request = urllib.request.Request(url, body.encode() if body else None, headers, method=method)
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.read().decode()
    except urllib.error.HTTPError as e:
        sys.exit(f"HTTP {e.code}: {e.read().decode()}")


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["station"]:
            print(rcws("GET", "/v1/station"))
        case ["lists"]:
            print(rcws("GET", "/v1/lists.json"))
        case ["add-list", name]:  # the name is part of the path: "Orders 2" goes as Orders+2
            print(rcws("POST", "/v1/lists/" + urllib.parse.quote_plus(name)))
        case ["add-contact", list_id, name, email, route]:
            contact = dict.fromkeys(SEED_FIELDS.split(), "") | {"name": name, "email_address": email, "route": route}
            print(rcws("POST", f"/v1/contacts.json/{list_id}/contacts/", doc=contact))
        case ["contacts", list_id]:  # signed as ?offset=0&pagesize=100
            print(rcws("GET", f"/v1/contacts.json/{list_id}/contacts/", "pagesize=100&offset=0"))
        case _:
            sys.exit(
                "usage: rcws.py station | lists | add-list NAME | add-contact LIST NAME EMAIL ROUTE | contacts LIST"
            )
