"""A relaybox webhook receiver: Python standard library only.

    WEBHOOK_SECRET=whsec_... PORT=8000 python3 receiver.py

Checks `Signature` on every request and, when the endpoint has `standardWebhooks` on, the
`webhook-signature` too (with its 300-second replay window). Prints "event_type event_id" and
answers 204 to authentic events, 401 to anything else.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ["WEBHOOK_SECRET"]  # whsec_..., shown once when the endpoint was made
KEY = base64.b64decode(SECRET.removeprefix("whsec_"))  # the Standard Webhooks key
PORT = int(os.environ.get("PORT", "8000"))
HOST = os.environ.get("HOST", "127.0.0.1")
TOLERANCE = 300  # seconds webhook-timestamp may be off


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())  # constant time


def authentic(body: bytes, headers) -> bool:
    # Signature: v1=<hex HMAC-SHA256 of the raw body>, keyed with the whole secret text.
    if not same("v1=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(), headers.get("Signature", "")):
        return False
    standard = headers.get("webhook-signature")
    if standard is None:
        return True
    # Standard Webhooks: HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}" keyed with KEY.
    msg_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not (timestamp.isascii() and timestamp.isdigit()) or abs(time.time() - int(timestamp)) > TOLERANCE:
        return False
    mac = hmac.new(KEY, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return any(same("v1," + base64.b64encode(mac).decode(), entry) for entry in standard.split())


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))  # the raw bytes
        if not authentic(body, self.headers):
            self.send_response(401)
            self.end_headers()
            return
        event = json.loads(body)
        # Deliveries are at-least-once: skip an event_id you have already handled.
        print(event["event_type"], event["event_id"], flush=True)
        self.send_response(204)
        self.end_headers()


if __name__ == "__main__":
    print(f"listening on http://{HOST}:{PORT}/", file=sys.stderr, flush=True)
    ThreadingHTTPServer((HOST, PORT), Handler).serve_forever()
