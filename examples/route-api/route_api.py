"""relaybox route API (/1) from Python's standard library: no SDK, no third-party package.

    export RELAYBOX_URL=http://127.0.0.1:8080 ROUTE=abcd@abcdef01 KEY_SECRET=...
    python3 route_api.py send TO FILE [MESSAGE_ID]   # send FILE to the route TO; prints the link
    python3 route_api.py list                        # the mailbox, as JSON
    python3 route_api.py get LINK > FILE             # one message's bytes, to stdout

A failure prints the answer's `error: code=NNN; message=...` header and exits 1.
"""

import hashlib
import os
import secrets
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime

URL, ROUTE, SECRET = os.environ["RELAYBOX_URL"], os.environ["ROUTE"], os.environ["KEY_SECRET"]


def call(path: str, signed: str = "", body: bytes | None = None, headers: dict[str, str] | None = None):
    """A /1 request with request-key = hex(sha512(TIMESTAMP + ROUTE + signed + KEY_SECRET)); signed
    is "" for the receive calls, MESSAGE_TO + MESSAGE_ID + MESSAGE_MD5 for send-message."""
    # A fraction in the timestamp: a key is accepted once, and two calls may share a second.
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    key = hashlib.sha512((stamp + ROUTE + signed + SECRET).encode()).hexdigest()
    auth = {"request-timestamp": stamp, "request-from": ROUTE, "request-key": key}
    try:
        return urllib.request.urlopen(urllib.request.Request(URL + path, body, {**(headers or {}), **auth}))
    except urllib.error.HTTPError as e:  # the body of a failure is empty: the reason is a header
        sys.exit(f"HTTP {e.code}: {e.headers.get('error')}")


def send(to: str, file: str, message_id: str = "") -> None:
    with open(file, "rb") as f:
        data = f.read()
    message_id = message_id or secrets.token_hex(8)  # the same id and bytes again: delivered once
    md5 = hashlib.md5(data).hexdigest()
    boundary = secrets.token_hex(16)  # multipart/form-data with the file in the part `data`
    part = f'Content-Disposition: form-data; name="data"; filename="{os.path.basename(file)}"'
    body = f"--{boundary}\r\n{part}\r\n\r\n".encode() + data + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    headers |= {"message-to": to, "message-id": message_id, "message-md5": md5}
    with call("/1/send-message", to + message_id + md5, body, headers) as answer:
        print(answer.headers["message-link"])


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["send", to, file, *message_id]:
            send(to, file, *message_id[:1])
        case ["list"]:
            with call("/1/list-messages") as answer:
                print(answer.read().decode())
        case ["get", link]:  # links are URL-safe: no quoting needed
            with call(f"/1/get-message/{link}") as answer:
                sys.stdout.buffer.write(answer.read())
        case _:
            sys.exit("usage: route_api.py send TO FILE [MESSAGE_ID] | list | get LINK")
