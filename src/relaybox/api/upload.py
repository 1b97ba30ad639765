"""Streaming receipt of uploads straight into ``BlobWriter``s: the route API's multipart
``data`` part, and a /v1 send's files (a raw body, or multipart ``file`` parts).

The body is never held whole in memory: python-multipart parses it chunk by chunk (``_parts``)
and file bytes go to their blob (memory, then a temp file) as they arrive. A body over its
limit is refused with 413 as soon as the limit is crossed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from relaybox.errors import ErrorCode, RelayboxError, V1Error, bad_request
from relaybox.store.base import BlobWriter
from relaybox.store.views import NewFile
from relaybox.wire import v1
from relaybox.wire.files import clean_file_name

DATA_PART = "data"
FILE_PART = "file"
# Room for multipart boundaries, part headers and small extra fields around the files.
_OVERHEAD = 64 * 1024
# After a 413 we read (and drop) up to this much more so that well-behaved clients still see
# the answer instead of a reset connection; beyond it the connection is simply closed.
_DRAIN_LIMIT = 8 * 1024 * 1024


class _Collector:
    """Parser callbacks append events; the async loop applies them (writes must be awaited)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, bytes]] = []
        self._field = b""
        self._value = b""

    def on_part_begin(self) -> None:
        self.events.append(("begin", b""))

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self.events.append(("header", self._field.lower() + b"\x00" + self._value))
        self._field = b""
        self._value = b""

    def on_headers_finished(self) -> None:
        self.events.append(("headers_done", b""))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.events.append(("data", data[start:end]))

    def on_part_end(self) -> None:
        self.events.append(("end", b""))


@dataclass(frozen=True, slots=True)
class _PartStart:
    name: str | None
    filename: str | None  # as sent (UTF-8 decoded), None when absent
    content_type: str


class _Malformed(Exception):
    pass


class _TooLarge(Exception):
    pass


def _boundary(request: Request) -> bytes | None:
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data":
        return None
    return params.get(b"boundary") or None


def _too_large_declared(request: Request, limit: int) -> bool:
    declared = v1.decimal(request.headers.get("content-length"))
    return declared is not None and declared > limit


async def _parts(
    stream: AsyncIterator[bytes], boundary: bytes, max_body: int
) -> AsyncGenerator[_PartStart | bytes | None, None]:
    """The body as events: a ``_PartStart`` when a part's headers are read, then its bytes,
    then None at its end. ``_TooLarge`` past ``max_body`` body bytes, ``_Malformed`` for a body
    python-multipart cannot parse."""
    collector = _Collector()
    callbacks = {name: getattr(collector, name) for name in dir(collector) if name.startswith("on_")}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    headers: dict[bytes, bytes] = {}
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > max_body:
            raise _TooLarge
        try:
            parser.write(chunk)
        except Exception as exc:
            raise _Malformed(type(exc).__name__) from None
        for kind, value in collector.events:
            if kind == "begin":
                headers = {}
            elif kind == "header":
                field, _, val = value.partition(b"\x00")
                headers[field] = val
            elif kind == "headers_done":
                _, params = parse_options_header(headers.get(b"content-disposition", b""))
                name, filename = params.get(b"name"), params.get(b"filename")
                yield _PartStart(
                    name.decode("latin-1") if name is not None else None,
                    filename.decode("utf-8", "replace") if filename is not None else None,
                    headers.get(b"content-type", b"").decode("latin-1") or "application/octet-stream",
                )
            elif kind == "data":
                yield value
            else:
                yield None
        collector.events.clear()
    try:
        parser.finalize()
    except Exception as exc:
        raise _Malformed(type(exc).__name__) from None


# -- the route API: the multipart ``data`` part ----------------------------------------------------
async def receive_data_part(request: Request, blob: BlobWriter, limit: int) -> str:
    """Write the ``data`` part into ``blob``; return the sender's (cleaned) file name."""
    boundary = _boundary(request)
    if boundary is None:
        raise RelayboxError(ErrorCode.NO_DATA_PART, "Body must be multipart/form-data with a 'data' file part")
    too_large = RelayboxError(ErrorCode.TOO_LARGE, f"Message is larger than {limit} bytes")
    if _too_large_declared(request, limit + _OVERHEAD):
        raise too_large
    found = in_data = False
    file_name = ""
    stream = request.stream()
    try:
        async with contextlib.aclosing(_parts(stream, boundary, limit + _OVERHEAD)) as events:
            async for event in events:
                if isinstance(event, _PartStart):
                    in_data = not found and event.name == DATA_PART
                    if in_data:
                        found = True
                        file_name = clean_file_name(event.filename)
                elif event is None:
                    in_data = False
                elif in_data:
                    if blob.size + len(event) > limit:
                        raise _TooLarge
                    await blob.write(event)
    except _TooLarge:
        await _drain(stream)
        raise too_large from None
    except _Malformed as exc:
        raise RelayboxError(ErrorCode.NO_DATA_PART, f"Malformed multipart body: {exc}") from None
    if not found:
        raise RelayboxError(ErrorCode.NO_DATA_PART)
    return file_name


# -- /v1 sends: a raw body (``Name`` header) or multipart ``file`` parts ----------------------------
async def receive_files(
    request: Request, new_blob: Callable[[], BlobWriter], max_files: int, max_bytes: int
) -> list[NewFile]:
    """Read a /v1 send's files into blobs; 400 for a malformed body, 413 over the limits.
    The caller discards the returned blobs if it does not commit them; on error they are
    discarded here."""
    files: list[NewFile] = []
    boundary = _boundary(request)
    stream = request.stream()
    try:
        if _too_large_declared(request, max_bytes + (_OVERHEAD if boundary else 0)):
            raise _TooLarge
        if boundary is None:
            await _receive_raw(request, stream, new_blob(), max_bytes, files)
        else:
            await _receive_parts(stream, boundary, new_blob, max_files, max_bytes, files)
    except BaseException as exc:
        for f in files:
            await f.blob.discard()
        if isinstance(exc, _TooLarge | V1Error) and getattr(exc, "status", 413) == 413:
            await _drain(stream)
        if isinstance(exc, _TooLarge):
            raise V1Error(413, f"Message is larger than {max_bytes} bytes") from None
        if isinstance(exc, _Malformed):
            raise bad_request(f"Malformed multipart body: {exc}") from None
        raise
    return files


async def _receive_raw(
    request: Request, stream: AsyncIterator[bytes], blob: BlobWriter, max_bytes: int, files: list[NewFile]
) -> None:
    raw_name = request.headers.get("name")
    if not raw_name:
        raise bad_request("Missing Name header")
    # Header bytes arrive as latin-1; the seed's clients send UTF-8 names.
    name = v1.file_name(raw_name.encode("latin-1").decode("utf-8", "replace"))
    ctype = request.headers.get("content-type") or "application/octet-stream"
    files.append(NewFile(blob, name, ctype[:255]))
    async for chunk in stream:
        if blob.size + len(chunk) > max_bytes:
            raise _TooLarge
        await blob.write(chunk)


async def _receive_parts(
    stream: AsyncIterator[bytes],
    boundary: bytes,
    new_blob: Callable[[], BlobWriter],
    max_files: int,
    max_bytes: int,
    files: list[NewFile],
) -> None:
    current: BlobWriter | None = None
    total = 0
    names: set[str] = set()
    async with contextlib.aclosing(_parts(stream, boundary, max_bytes + _OVERHEAD)) as events:
        async for event in events:
            if isinstance(event, _PartStart):
                if event.name != FILE_PART:
                    raise bad_request("Every part must be a 'file' part")
                if event.filename is None:
                    raise bad_request("Every file part needs a filename")
                name = v1.file_name(event.filename)
                if name in names:
                    raise bad_request(f"Two files are named {name!r}")
                names.add(name)
                if len(files) >= max_files:
                    raise V1Error(413, f"More than {max_files} files")
                current = new_blob()
                files.append(NewFile(current, name, event.content_type[:255]))
            elif event is None:
                current = None
            elif current is not None:
                total += len(event)
                if total > max_bytes:
                    raise _TooLarge
                await current.write(event)
    if not files:
        raise bad_request("No 'file' part in the multipart body")


async def _drain(stream: AsyncIterator[bytes]) -> None:
    drained = 0
    with contextlib.suppress(Exception):
        async for chunk in stream:
            drained += len(chunk)
            if drained > _DRAIN_LIMIT:
                break
