"""Streaming receipt of uploads straight into ``BlobWriter``s: the route API's multipart
``data`` part, and a /v1 send's files (a raw body, or multipart ``file`` parts).

The body is never held whole in memory: python-multipart parses it chunk by chunk and the
``data`` bytes go to the blob (a temp file) as they arrive. A ``data`` part over the limit is
refused with 413 as soon as the limit is crossed.
"""

from __future__ import annotations

from collections.abc import Callable

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from relaybox.errors import ErrorCode, RelayboxError, V1Error, bad_request
from relaybox.store.base import BlobWriter
from relaybox.store.views import NewFile
from relaybox.wire import v1
from relaybox.wire.files import clean_file_name

DATA_PART = "data"
# Room for multipart boundaries, part headers and small extra fields around the file.
_OVERHEAD = 64 * 1024
# After a 413 we read (and drop) up to this much more so that well-behaved clients still see
# the answer instead of a reset connection; beyond it the connection is simply closed.
_DRAIN_LIMIT = 8 * 1024 * 1024


class _Part:
    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.name: str | None = None
        self.filename: str | None = None


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


def _boundary(request: Request) -> bytes | None:
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data":
        return None
    return params.get(b"boundary") or None


async def receive_data_part(request: Request, blob: BlobWriter, limit: int) -> str:
    """Write the ``data`` part into ``blob``; return the sender's (cleaned) file name."""
    boundary = _boundary(request)
    if boundary is None:
        raise RelayboxError(ErrorCode.NO_DATA_PART, "Body must be multipart/form-data with a 'data' file part")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + _OVERHEAD:
        raise RelayboxError(ErrorCode.TOO_LARGE, f"Message is larger than {limit} bytes")

    collector = _Collector()
    callbacks = {name: getattr(collector, name) for name in dir(collector) if name.startswith("on_")}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    part: _Part | None = None
    found = False
    in_data = False
    file_name = ""
    total = 0
    stream = request.stream()
    try:
        async for chunk in stream:
            total += len(chunk)
            if total > limit + _OVERHEAD:
                raise RelayboxError(ErrorCode.TOO_LARGE, f"Message is larger than {limit} bytes")
            parser.write(chunk)
            for kind, value in collector.events:
                if kind == "begin":
                    part = _Part()
                elif kind == "header" and part is not None:
                    field, _, val = value.partition(b"\x00")
                    part.headers[field] = val
                elif kind == "headers_done" and part is not None:
                    _, params = parse_options_header(part.headers.get(b"content-disposition", b""))
                    name = params.get(b"name")
                    in_data = not found and name is not None and name.decode("latin-1") == DATA_PART
                    if in_data:
                        found = True
                        raw = params.get(b"filename")
                        file_name = clean_file_name(raw.decode("utf-8", "replace") if raw is not None else None)
                elif kind == "data" and in_data:
                    if blob.size + len(value) > limit:
                        raise RelayboxError(ErrorCode.TOO_LARGE, f"Message is larger than {limit} bytes")
                    await blob.write(value)
                elif kind == "end":
                    in_data = False
            collector.events.clear()
        parser.finalize()
    except RelayboxError as exc:
        if exc.error is ErrorCode.TOO_LARGE:
            await _drain(stream)
        raise
    except ClientDisconnect:
        raise
    except Exception as exc:  # python-multipart raises its own errors on malformed bodies
        raise RelayboxError(ErrorCode.NO_DATA_PART, f"Malformed multipart body: {type(exc).__name__}") from None
    if not found:
        raise RelayboxError(ErrorCode.NO_DATA_PART)
    return file_name


async def _drain(stream: object) -> None:
    drained = 0
    try:
        async for chunk in stream:  # type: ignore[attr-defined]
            drained += len(chunk)
            if drained > _DRAIN_LIMIT:
                break
    except Exception:
        pass


# -- /v1 sends: a raw body (``Name`` header) or multipart ``file`` parts --------------------------
FILE_PART = "file"


async def receive_files(
    request: Request, new_blob: Callable[[], BlobWriter], max_files: int, max_bytes: int
) -> list[NewFile]:
    """Read a /v1 send's files into blobs; 400 for a malformed body, 413 over the limits.
    The caller discards the returned blobs if it does not commit them; on error they are
    discarded here."""
    files: list[NewFile] = []
    try:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes + (_OVERHEAD if _boundary(request) else 0):
            raise V1Error(413, f"Message is larger than {max_bytes} bytes")
        if _boundary(request) is None:
            await _receive_raw(request, new_blob, max_bytes, files)
        else:
            await _receive_parts(request, new_blob, max_files, max_bytes, files)
    except BaseException:
        for f in files:
            await f.blob.discard()
        raise
    return files


def _too_large(max_bytes: int) -> V1Error:
    return V1Error(413, f"Message is larger than {max_bytes} bytes")


async def _receive_raw(
    request: Request, new_blob: Callable[[], BlobWriter], max_bytes: int, files: list[NewFile]
) -> None:
    raw_name = request.headers.get("name")
    if not raw_name:
        raise bad_request("Missing Name header")
    # Header bytes arrive as latin-1; the seed's clients send UTF-8 names.
    name = v1.file_name(raw_name.encode("latin-1").decode("utf-8", "replace"))
    ctype = request.headers.get("content-type") or "application/octet-stream"
    blob = new_blob()
    files.append(NewFile(blob, name, ctype[:255]))
    stream = request.stream()
    try:
        async for chunk in stream:
            if blob.size + len(chunk) > max_bytes:
                raise _too_large(max_bytes)
            await blob.write(chunk)
    except V1Error:
        await _drain(stream)
        raise


async def _receive_parts(
    request: Request, new_blob: Callable[[], BlobWriter], max_files: int, max_bytes: int, files: list[NewFile]
) -> None:
    boundary = _boundary(request)
    assert boundary is not None
    collector = _Collector()
    callbacks = {name: getattr(collector, name) for name in dir(collector) if name.startswith("on_")}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    part: _Part | None = None
    current: BlobWriter | None = None
    total = 0
    names: set[str] = set()
    stream = request.stream()
    try:
        async for chunk in stream:
            parser.write(chunk)
            for kind, value in collector.events:
                if kind == "begin":
                    part = _Part()
                elif kind == "header" and part is not None:
                    field, _, val = value.partition(b"\x00")
                    part.headers[field] = val
                elif kind == "headers_done" and part is not None:
                    _, params = parse_options_header(part.headers.get(b"content-disposition", b""))
                    pname = params.get(b"name")
                    if pname is None or pname.decode("latin-1") != FILE_PART:
                        raise bad_request("Every part must be a 'file' part")
                    raw = params.get(b"filename")
                    if raw is None:
                        raise bad_request("Every file part needs a filename")
                    name = v1.file_name(raw.decode("utf-8", "replace"))
                    if name in names:
                        raise bad_request(f"Two files are named {name!r}")
                    names.add(name)
                    if len(files) >= max_files:
                        raise V1Error(413, f"More than {max_files} files")
                    ctype = part.headers.get(b"content-type", b"").decode("latin-1") or "application/octet-stream"
                    current = new_blob()
                    files.append(NewFile(current, name, ctype[:255]))
                elif kind == "data" and current is not None:
                    total += len(value)
                    if total > max_bytes:
                        raise _too_large(max_bytes)
                    await current.write(value)
                elif kind == "end":
                    current = None
            collector.events.clear()
        parser.finalize()
    except V1Error as exc:
        if exc.status == 413:
            await _drain(stream)
        raise
    except ClientDisconnect:
        raise
    except Exception as exc:  # python-multipart's own errors on malformed bodies
        raise bad_request(f"Malformed multipart body: {type(exc).__name__}") from None
    if not files:
        raise bad_request("No 'file' part in the multipart body")
