"""The audit log: one JSON line per authentication failure (route or account side), with who
tried (the route or key it named), from where, why, and the request id that the client also
got. Never a secret, a request key or a signature: only what identifies the attempt.

``RELAYBOX_AUDIT_LOG`` names a file (appended to by every worker); without it the lines go
to the server log as ``relaybox.audit`` warnings."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from starlette.requests import Request

log = logging.getLogger("relaybox.audit")
_MAX_FIELD = 200  # a claimed route or key is attacker-controlled: bounded


def configure(path: Path | None) -> None:
    if path is None:
        return
    target = str(path.resolve())
    if any(getattr(h, "baseFilename", None) == target for h in log.handlers):
        return
    handler = logging.FileHandler(target, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def auth_failure(request: Request, *, api: str, reason: str, code: int | str | None, who: str | None) -> None:
    line = {
        "ts": round(time.time(), 3),
        "event": "auth_failure",
        "api": api,
        "route": who[:_MAX_FIELD] if who else None,
        "address": request.client.host if request.client else None,
        "method": request.method,
        "path": request.url.path[:_MAX_FIELD],
        "reason": reason,
        "code": code,
        "request_id": request.scope.get("state", {}).get("request_id"),
    }
    log.warning(json.dumps(line, ensure_ascii=True))


def claimed_key(authorization: str | None) -> str | None:
    """The public key an HMAC Authorization names (``SCHEME key:signature``), never the rest."""
    if not authorization or " " not in authorization:
        return None
    credentials = authorization.split(" ", 1)[1].strip()
    return credentials.split(":", 1)[0] if ":" in credentials else None
