"""File names chosen by senders: cleaned for display, never used as paths on disk."""

from __future__ import annotations

import re
from urllib.parse import quote

DEFAULT_FILE_NAME = "data"
MAX_FILE_NAME = 255
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def clean_file_name(raw: str | None) -> str:
    """Keep the last path component, drop control characters, bound the length."""
    if not raw:
        return DEFAULT_FILE_NAME
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("", name).strip()
    if name in ("", ".", ".."):
        return DEFAULT_FILE_NAME
    return name[:MAX_FILE_NAME]


def header_file_name(name: str) -> str:
    """A header-safe form of ``name``: ASCII as is, otherwise percent-encoded UTF-8."""
    if name.isascii():
        return name
    return quote(name, safe="")


def content_disposition(name: str) -> str:
    """``attachment; filename=...`` (RFC 6266) with ``filename*`` (RFC 5987) for non-ASCII."""
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace("?", "_")
    ascii_name = ascii_name.replace('"', "_")
    if name.isascii() and re.fullmatch(r"[A-Za-z0-9._~+-]+", name):
        value = f"attachment; filename={name}"
    else:
        value = f'attachment; filename="{ascii_name}"'
    if not name.isascii():
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value
