"""A receiver for relaybox's plain HTTPS pushes (a partner with `transport: https`).

    PUSH_SECRET=... PORT=8000 python3 push_receiver.py

The body is the file; `Authorization: relaybox_api <Message-From>:<base64>` is an HMAC-SHA256,
keyed with the partner's pushSecret, over the request's method, body MD5, Content-Type, Date,
Message-* headers and target. Answers 204 to an authentic push (and to a repeat of one), 401
to anything else; prints "Message-From Message-Id Message-File-Name size" once per message.
"""

import base64
import hashlib
import hmac
import os
import sys
import time
from calendar import timegm
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ["PUSH_SECRET"].encode()  # the partner's pushSecret, shown once
PORT = int(os.environ.get("PORT", "8000"))
HOST = os.environ.get("HOST", "127.0.0.1")
TOLERANCE = 300  # seconds Date may be off
seen = set()  # (Message-From, Message-Id) already stored: a retry of a push delivered before


def authentic(method: str, target: str, headers, body: bytes) -> bool:
    names = sorted(k.lower() for k in headers.keys() if k.lower().startswith("message-"))
    if len(names) != len(set(names)):
        return False  # a repeated Message-* header is never relaybox's
    date = headers.get("Date", "")
    try:
        sent = timegm(time.strptime(date, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return False
    if abs(time.time() - sent) > TOLERANCE:
        return False
    signed = "\n".join(
        [
            method,
            hashlib.md5(body).hexdigest(),
            headers.get("Content-Type", "").strip().lower(),
            date,
            *(f"{name}:{headers[name].strip()}" for name in names),
            target,  # path and query exactly as on the request line
        ]
    )
    expected = base64.b64encode(hmac.new(SECRET, signed.encode(), hashlib.sha256).digest()).decode()
    given = headers.get("Authorization", "").removeprefix("relaybox_api ").rpartition(":")[2]
    return hmac.compare_digest(expected.encode(), given.encode())  # constant time


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not authentic("POST", self.path, self.headers, body):
            self.send_response(401)
            self.end_headers()
            return
        key = (self.headers["Message-From"], self.headers["Message-Id"])
        if key not in seen:  # store the file here; Message-File-Name is percent-encoded UTF-8
            seen.add(key)
            print(*key, self.headers["Message-File-Name"], len(body), flush=True)
        self.send_response(204)
        self.end_headers()


if __name__ == "__main__":
    print(f"listening on http://{HOST}:{PORT}/", file=sys.stderr, flush=True)
    ThreadingHTTPServer((HOST, PORT), Handler).serve_forever()
