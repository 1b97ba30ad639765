"""The RCWS request-signing scheme of ``/v1`` (``request-signing.md``, "Scheme RCWS", seed 001).

::

    Authorization: RCWS <public_key>:<hex HMAC-SHA256(key = private key, message = S)>
    S = lower(METHOD "::" URL "::" JSON ["::" TIMESTAMP])

The seed only says "JSON-encoded (SORTED-POSTED-DATA)", so the spec pins one canonical JSON form
that any language can produce, and the server tries at most two strings per request (the
rewritten form, then an alias) so that the seed's own clients and PHP-style writers verify too::

    >>> s = candidates("GET", b"/v1/lists.json/", b"", b"", None, None)[0]
    >>> s
    'get::/v1/lists.json/::{"posted_data":"[]"}'
    >>> sign("test-private-key", s)
    'febea5e2dba85f067e9f4f0ae0b33a20c440a70ae72866212c0bed6f2aeded47'

Pure: standard library and ``relaybox.wire`` only, no I/O. The server owns keys, clocks and the
replay store; this module only builds and compares strings.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import NoReturn

from relaybox.wire.digest import ascii_lower

WORDS: frozenset[str] = frozenset({"rcws", "mmws"})
"""First words of an RCWS ``Authorization`` (lowercased); ``MMWS`` is the seed's typo, kept as an alias."""

EMPTY = '{"posted_data":"[]"}'
"""The JSON part of S for a request without data (the seed's GET bodies)."""
EMPTY_ALIAS = '{"posted_data":"null"}'
"""Also accepted for an empty body: the seed's delete-contact example signs this."""

_EMPTY_VALUES: tuple[object, ...] = ({}, [], None, {"posted_data": "[]"}, {"posted_data": "null"})
# JSON's own whitespace (RFC 8259): bytes.strip() would also eat \x0b and \x0c, which make a body
# invalid JSON rather than empty.
_JSON_WS = b" \t\r\n"
_OWS = " \t"
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
# A body that nests deeper than this is refused before Python's recursion limit could be hit.
_MAX_DEPTH = 200


class _Number(str):
    """A JSON number kept as its exact token: ``1.50`` must stay ``1.50`` (and ``1e400`` must
    not become ``inf``), since the client signed the digits it wrote, not a float."""

    __slots__ = ()


class _Refused(Exception):
    """Internal: the body has no canonical form (duplicate key, NaN, too deep)."""


def _pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """``object_pairs_hook``: a duplicate key has no single sorted form, so it has no rewrite."""
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused("duplicate key")
        out[key] = value
    return out


def _refuse_constant(token: str) -> NoReturn:
    """``NaN``/``Infinity`` are not JSON (RFC 8259); Python's parser accepts them by default."""
    raise _Refused(f"{token} is not JSON")


def _parse(text: str) -> object:
    """Strict JSON: duplicate keys, non-JSON constants and absurd nesting raise ``_Refused``;
    syntax errors raise ``ValueError``. Numbers come back as ``_Number`` tokens."""
    return json.loads(
        text,
        object_pairs_hook=_pairs,
        parse_float=_Number,
        parse_int=_Number,
        parse_constant=_refuse_constant,
    )


def _dump(value: object, out: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise _Refused("nested too deeply")
    if isinstance(value, _Number):
        out.append(str(value))
    elif isinstance(value, str):
        # ensure_ascii gives \u00e9 with lowercase hex and leaves "/" alone, as the spec asks.
        out.append(json.dumps(value, ensure_ascii=True))
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif value is None:
        out.append("null")
    elif isinstance(value, list):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _dump(item, out, depth + 1)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        # sorted() on str orders by code point, the spec's rule (and UTF-8 byte order).
        for i, key in enumerate(sorted(value)):
            if i:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=True))
            out.append(":")
            _dump(value[key], out, depth + 1)
        out.append("}")
    else:  # pragma: no cover - json.loads yields nothing else
        raise _Refused(f"unexpected JSON value {type(value).__name__}")


def _decode(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def canonical_json(body: bytes) -> str | None:
    """The spec's rewritten form of a JSON body, or ``None`` when it has none.

    Keys sorted by code point at every depth, arrays in order, no whitespace, strings escaped to
    ASCII (``\\u00e9``, ``/`` kept), numbers as their exact token, ``true``/``false``/``null``.
    ``None`` for invalid UTF-8, invalid JSON, a duplicate key, ``NaN``/``Infinity`` or nesting
    beyond 200 levels: then only the body as sent can match, and the endpoint answers 400 later.
    """
    text = _decode(body)
    if text is None:
        return None
    try:
        value = _parse(text)
        out: list[str] = []
        _dump(value, out, 0)
    except (_Refused, ValueError, RecursionError):
        return None
    return "".join(out)


def is_empty(body: bytes) -> bool:
    """True when the body means "no data" (the spec's "JSON, empty" row).

    Absent or JSON whitespace, or a JSON value equal to ``{}``, ``[]``, ``null``,
    ``{"posted_data":"[]"}`` or ``{"posted_data":"null"}`` whatever its spacing: the seed's
    clients send the last two (``Content-Length: 20``/``22``) on GET and DELETE. The content type
    is not consulted, as the spec's row does not mention it.
    """
    stripped = body.strip(_JSON_WS)
    if not stripped:
        return True
    if len(stripped) > 4096:  # every empty form is short, even generously spaced: do not parse big bodies twice
        return False
    text = _decode(stripped)
    if text is None:
        return False
    try:
        value = _parse(text)
    except (_Refused, ValueError, RecursionError):
        return False
    # _Number is a str, but no empty form contains a number, so == stays exact.
    return any(type(value) is type(empty) and value == empty for empty in _EMPTY_VALUES)


def _as_bytes(raw: bytes | str) -> bytes:
    # surrogateescape: a str that came from bytes.decode(..., "surrogateescape") round-trips.
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw


def _as_text(raw: bytes | str) -> str:
    # The request line should be ASCII; if it is not, keep the exact bytes (HMAC is over UTF-8 of
    # S, so a client that put raw UTF-8 in its path signed exactly these bytes).
    return raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw


def sorted_query(raw_query: bytes | str) -> str:
    """The query part of URL: split at ``&``, empty items dropped, items sorted as byte strings,
    joined with ``&``. Nothing is decoded or re-encoded, so ``name=Renamed+1`` keeps its ``+``
    and two clients that percent-encode differently sign different strings (as the spec says)."""
    items = sorted(item for item in _as_bytes(raw_query).split(b"&") if item)
    return _as_text(b"&".join(items))


def is_json_type(content_type: str | None) -> bool:
    """``application/json`` or any ``*+json`` type, parameters ignored, any case."""
    if not content_type:
        return False
    essence = ascii_lower(content_type.split(";", 1)[0].strip(_OWS))
    if essence == "application/json":
        return True
    kind, slash, subtype = essence.partition("/")
    return bool(kind) and bool(slash) and subtype.endswith("+json") and len(subtype) > len("+json")


def url(raw_path: bytes | str, raw_query: bytes | str) -> str:
    """The URL part of S: the path exactly as on the request line, then ``?`` and the sorted
    query, or nothing when the query has no items."""
    query = sorted_query(raw_query)
    path = _as_text(raw_path)
    return f"{path}?{query}" if query else path


def candidates(
    method: str,
    raw_path: bytes | str,
    raw_query: bytes | str,
    body: bytes,
    content_type: str | None,
    timestamp: str | None,
) -> list[str]:
    """The strings S to try, in order, already lowercased (ASCII ``A``-``Z`` only); never more
    than two, so a forged request costs at most two HMACs.

    - empty body (``is_empty``): ``EMPTY``, then ``EMPTY_ALIAS``;
    - JSON content type: the rewritten JSON, then the body as sent if it differs (PHP escapes
      ``/`` as ``\\/``); only the body as sent when there is no rewritten form;
    - any other body, or a JSON-typed body that is not UTF-8 (hence not JSON and not text):
      ``{"posted_data_md5":"<hex md5>"}``.

    ``timestamp`` is the ``request-timestamp`` header exactly as sent (``None`` when absent);
    the first candidate is the one to show as ``expected_string`` on a mismatch.
    """
    prefix = f"{method}::{url(raw_path, raw_query)}::"
    suffix = "" if timestamp is None else f"::{timestamp}"
    parts: list[str]
    if is_empty(body):
        parts = [EMPTY, EMPTY_ALIAS]
    elif is_json_type(content_type) and (raw := _decode(body)) is not None:
        rewritten = canonical_json(body)
        parts = [raw] if rewritten is None else [rewritten, raw]
    else:
        md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
        parts = [f'{{"posted_data_md5":"{md5}"}}']
    out: list[str] = []
    for part in parts:
        s = ascii_lower(prefix + part + suffix)
        if s not in out:
            out.append(s)
    return out


def parse_authorization(value: str | None) -> tuple[str, str, bytes] | None:
    """``(word, public_key, signature)`` of ``RCWS <public>:<64 hex>`` (word ``RCWS`` or
    ``MMWS``, any case, returned as sent; hex in either case); ``None`` when malformed.

    The public key may not be empty or contain ``:`` or whitespace; the signature must be
    exactly 64 hex digits (``bytes.fromhex`` alone would also accept spaces).
    """
    if value is None:
        return None
    word, space, rest = value.strip(_OWS).partition(" ")
    if not space or ascii_lower(word) not in WORDS:
        return None
    public, colon, hexsig = rest.strip(_OWS).partition(":")
    if not colon or not public or any(c.isspace() for c in public):
        return None
    if not _HEX64.fullmatch(hexsig):
        return None
    return word, public, bytes.fromhex(hexsig)


def _mac(private_key: str, s: str) -> bytes:
    # The key is the private key's text as UTF-8, prefix included (the seeds' clients hand the
    # string to hmac/openssl); S is encoded back to the bytes it came from.
    return hmac.new(private_key.encode("utf-8"), s.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()


def sign(private_key: str, s: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``s`` (for clients and tests; ``s`` from ``candidates``)."""
    return _mac(private_key, s).hex()


def authorization(public_key: str, signature_hex: str, word: str = "RCWS") -> str:
    """The ``Authorization`` value ``RCWS <public>:<hex>``, checked so that it reads back."""
    value = f"{word} {public_key}:{signature_hex}"
    if parse_authorization(value) is None:
        raise ValueError("word must be RCWS/MMWS, public key non-empty without ':'/space, signature 64 hex")
    return value


def verify(private_key: str, candidates: list[str], signature: bytes) -> str | None:
    """The candidate whose HMAC equals ``signature`` (32 bytes from ``parse_authorization``),
    or ``None``. Every candidate is computed and compared with ``hmac.compare_digest`` so the
    time taken does not depend on where the bytes differ."""
    match: str | None = None
    for s in candidates:
        if hmac.compare_digest(_mac(private_key, s), signature) and match is None:
            match = s
    return match
