"""relaybox /v1 with Date+digest signatures (the goTom seed's scheme): Python standard library only.

    export RELAYBOX_URL=http://127.0.0.1:8080 PUBLIC_KEY=rbk_... PRIVATE_KEY=rbs_...
    python3 date_digest.py GET /v1/station
    python3 date_digest.py GET '/v1/message/received?pageLength=5&pageOffset=0'
    echo '{"email_address": "bob@example.com"}' | python3 date_digest.py POST /v1/contacts.json/1/contacts/

Methods other than GET and DELETE send stdin as the body. Prints the answer's body; an HTTP error
prints the problem+json answer and exits 1.
"""

import base64
import hashlib
import hmac
import os
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime

URL, PUBLIC, PRIVATE = os.environ["RELAYBOX_URL"], os.environ["PUBLIC_KEY"], os.environ["PRIVATE_KEY"]
PROVIDER = "relaybox_api"  # HMAC-SHA256 (the seed's word gotom_app_api means HMAC-SHA1)


def call(method: str, uri: str, body: bytes = b"") -> str:
    """uri: path and query exactly as sent (nothing is sorted in this scheme)."""
    # ISO 8601 with a fraction (2026-11-25T17:02:03.123456+00:00): two requests may share a second.
    date = datetime.now(UTC).isoformat(timespec="microseconds")
    content_type = "application/json"
    custom_headers = ""  # Message-* headers as name:value lines, sorted: none here
    # D = METHOD \n MD5 \n CONTENT_TYPE \n DATE \n CUSTOM \n URI, the MD5 over the body's bytes.
    d = "\n".join([method.upper(), hashlib.md5(body).hexdigest(), content_type.lower(), date, custom_headers, uri])
    signature = base64.b64encode(hmac.new(PRIVATE.encode(), d.encode(), hashlib.sha256).digest()).decode()
    headers = {"Authorization": f"{PROVIDER} {PUBLIC}:{signature}", "Content-Type": content_type, "Date": date}
    request = urllib.request.Request(URL + uri, body or None, headers, method=method.upper())
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.read().decode()
    except urllib.error.HTTPError as e:
        sys.exit(f"HTTP {e.code}: {e.read().decode()}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: date_digest.py METHOD PATH  (a body on stdin for POST and PUT)")
    method, uri = sys.argv[1].upper(), sys.argv[2]
    body = b"" if method in ("GET", "DELETE") else sys.stdin.buffer.read()  # the bytes, as they are
    print(call(method, uri, body))
