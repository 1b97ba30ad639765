"""``relaybox watch --out DIR``: long-poll wait-next-message and land each message in DIR.

Per message, in this order (each step durable before the next):

1. the payload streams into a temporary file in DIR and its MD5 is checked (a mismatch is
   fetched once more with get-message; twice bad stops the watch, exit 1, cursor untouched);
2. the JSON sidecar ``<name>.json`` is renamed into place, then the payload ``<name>`` last,
   with ``<name> = <link>__<cleaned file name>`` (``<link>__<i>__<name>`` per attachment when a
   message has several), so the payload's presence means the message is complete;
3. the link is appended to ``.relaybox-seen`` and written to ``.relaybox-cursor``.

A restart resumes from the cursor. A crash between 2 and 3 makes the server hand the same
message again; its payload already exists, so it is skipped, not written twice. If the
cursor's message has expired off the server (404 code 301), the watch rescans from the start
and skips every link in ``.relaybox-seen``. SIGINT/SIGTERM stop it (exit 0) but never inside
steps 2-3. Network failures and 5xx/429 answers are retried with backoff; 401 stops it (exit 1).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

import httpx
from rich.console import Console

from relaybox.client import ApiError, ChecksumMismatch, Client, Message
from relaybox.client._core import open_temp
from relaybox.wire.files import clean_file_name
from relaybox.wire.ids import START_LINK, is_link
from relaybox.wire.timestamps import format_date

CURSOR_FILE = ".relaybox-cursor"
SEEN_FILE = ".relaybox-seen"
LOCK_FILE = ".relaybox-lock"
TMP_PREFIX = ".relaybox-tmp-"
MAX_NAME_BYTES = 250  # leaves room for ".json" within the usual 255-byte limit
MAX_BACKOFF = 10.0
_NOT_PORTABLE = re.compile(r'[/\\:*?"<>|]')
_GONE = (301, 302)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # a SIGINT/SIGTERM interrupts it by raising _Stop


class _Stop(BaseException):
    """Raised from the signal handler; a BaseException so no ``except Exception`` swallows it."""


class _Fatal(Exception):
    """Stop the watch with exit code 1 and this text."""


class Signals:
    """SIGINT/SIGTERM interrupt a wait at once, but are held back during a commit."""

    def __init__(self) -> None:
        self.requested = False
        self._critical = 0
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self._critical == 0:
            raise _Stop

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
        if self._critical == 0 and self.requested:
            raise _Stop


def payload_name(link: str, file_name: str | None, index: int = 0, count: int = 1) -> str:
    """``<link>__<name>`` (``<link>__<i>__<name>`` when there are several attachments): unique per
    link and attachment, one path component, at most ``MAX_NAME_BYTES`` bytes of UTF-8."""
    if not is_link(link):
        raise _Fatal(f"the server sent an unusable message link {link!r}")
    prefix = f"{link}__" if count <= 1 else f"{link}__{index}__"
    name = _NOT_PORTABLE.sub("_", clean_file_name(file_name))
    budget = MAX_NAME_BYTES - len(prefix.encode())
    name = name.encode()[:budget].decode("utf-8", "ignore") or "data"
    return prefix + name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class Part:
    message: Message
    tmp: Path


class Outbox:
    """DIR and its bookkeeping files: cursor, seen links, temporary files, the lock."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._lock = open(root / LOCK_FILE, "a+b")  # held for the watch's lifetime: the lock
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise _Fatal(f"another watch is writing into {root}") from None
        for stale in root.glob(TMP_PREFIX + "*"):
            stale.unlink(missing_ok=True)
        seen_path = root / SEEN_FILE
        self.seen = set(seen_path.read_text("utf-8").split()) if seen_path.exists() else set()

    def close(self) -> None:
        self._lock.close()

    def cursor(self) -> str | None:
        path = self.root / CURSOR_FILE
        value = path.read_text("utf-8").strip() if path.exists() else ""
        return value if is_link(value) else None

    def temp(self) -> tuple[IO[bytes], Path]:
        return open_temp(self.root, TMP_PREFIX, "")

    def write_atomic(self, name: str, data: bytes) -> None:
        handle, tmp = self.temp()
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.root / name)

    def is_done(self, link: str, name: str) -> bool:
        return link in self.seen or (self.root / name).exists()

    def commit(self, parts: list[Part], sidecar: bytes, names: list[str]) -> None:
        """Sidecar first, the other attachments, attachment 0 last; then seen and cursor."""
        link = parts[0].message.link
        self.write_atomic(names[0] + ".json", sidecar)
        for part, name in list(zip(parts, names, strict=True))[::-1]:
            os.replace(part.tmp, self.root / name)
        _fsync_dir(self.root)
        with open(self.root / SEEN_FILE, "a", encoding="utf-8") as seen:
            seen.write(link + "\n")
            seen.flush()
            os.fsync(seen.fileno())
        self.seen.add(link)
        self.write_atomic(CURSOR_FILE, link.encode() + b"\n")
        _fsync_dir(self.root)


def sidecar_json(parts: list[Part], names: list[str], received: float) -> bytes:
    first = parts[0].message
    doc: dict[str, object] = {
        "link": first.link,
        "from": first.from_route,
        "message_id": first.message_id,
        "file_name": first.file_name,
        "md5": first.md5,
        "size": first.size,
        "received_date": format_date(received),  # when this watch received it (UTC)
        "expiration_date": None if first.expires is None else format_date(first.expires),
        "pay_for_reply": first.pay_for_reply,
        "attachment_count": first.attachment_count,
        "request_id": first.request_id,
        "payload": names[0],
    }
    if len(parts) > 1:
        doc["attachments"] = [
            {"index": i, "file_name": p.message.file_name, "md5": p.message.md5, "size": p.message.size, "payload": n}
            for i, (p, n) in enumerate(zip(parts, names, strict=True))
        ]
    return json.dumps(doc, indent=2, ensure_ascii=False).encode() + b"\n"


class Watcher:
    def __init__(self, client: Client, box: Outbox, poll: int, out: Callable[[str], None], err: Console) -> None:
        self.client, self.box, self.poll, self.out, self.err = client, box, poll, out, err
        self.signals = Signals()
        self.written = 0
        self.skipped = 0
        self.cursor = START_LINK
        self._backoff = 0.0

    def say(self, text: str) -> None:
        self.err.print(text, markup=False, highlight=False, soft_wrap=True)

    def _fetch_part(self, link: str, index: int, first: Callable[[IO[bytes]], Message | None]) -> Part | None:
        """Stream one attachment into a temporary file; one more try with get-message if corrupt."""
        handle, tmp = self.box.temp()
        try:
            with handle:
                try:
                    message = first(handle)
                except ChecksumMismatch as exc:
                    link = exc.link
                    self.say(f"MD5 mismatch for {link} (expected {exc.expected}, got {exc.actual}); fetching it again")
                    handle.seek(0)
                    handle.truncate()
                    try:
                        message = self.client.get(link, index=index or None, dest=handle)
                    except ChecksumMismatch as again:
                        raise _Fatal(f"{again.detail}; stopping without advancing the cursor") from None
                if message is None:
                    tmp.unlink()
                    return None
                handle.flush()
                os.fsync(handle.fileno())
            return Part(message, tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _get_index(self, link: str, index: int, dest: IO[bytes]) -> Message:
        return self.client.get(link, index=index, dest=dest)

    def step(self, cursor: str) -> str:
        """Wait for one message after ``cursor`` and land it; return the new cursor."""
        first = self._fetch_part(cursor, 0, lambda f: self.client.wait(cursor, timeout=self.poll, dest=f))
        self._backoff = 0.0
        if first is None:
            return cursor
        parts = [first]
        try:
            message = first.message
            count = max(1, message.attachment_count)
            names = [payload_name(message.link, message.file_name, 0, count)]
            if self.box.is_done(message.link, names[0]):
                with self.signals.critical():
                    self.box.write_atomic(CURSOR_FILE, message.link.encode() + b"\n")
                    self.cursor = message.link
                    self.skipped += 1
                    self.say(f"{message.link} already written, skipped")
                return message.link
            for i in range(1, count):
                part = self._fetch_part(message.link, i, functools.partial(self._get_index, message.link, i))
                assert part is not None
                parts.append(part)
                names.append(payload_name(message.link, part.message.file_name, i, count))
            with self.signals.critical():
                self.box.commit(parts, sidecar_json(parts, names, time.time()), names)
                self.cursor = message.link
                self.written += 1
                size = sum(p.message.size for p in parts)
                self.out(f"{message.link}  from {message.from_route or '?'}  {size} bytes -> {names[0]}")
        finally:
            for part in parts:
                part.tmp.unlink(missing_ok=True)
        return message.link

    def retry_later(self, why: str, hint: float | None = None) -> None:
        self._backoff = min(MAX_BACKOFF, max(0.5, self._backoff * 2))
        # A server's Retry-After is honoured as given (up to 5 minutes); our own guess stays short.
        delay = min(300.0, max(hint, self._backoff)) if hint else self._backoff
        self.say(f"{why}; retrying in {delay:.1f} s")
        _sleep(delay)

    def run(self, cursor: str) -> int:
        self.cursor = cursor
        while True:
            try:
                cursor = self.step(cursor)
            except httpx.TransportError as exc:
                self.retry_later(f"server unreachable at {self.client.url} ({type(exc).__name__}: {exc})")
            except ApiError as exc:
                text = f"{exc.code} {exc.message} (HTTP {exc.http_status}, request-id {exc.request_id or '-'})"
                if exc.code in _GONE and cursor != START_LINK:
                    self.say(
                        f"a message is gone from the server ({text}); rescanning from the start, skipping seen ones"
                    )
                    cursor = START_LINK
                elif exc.http_status == 429 or exc.http_status >= 500:
                    self.retry_later(f"server answered {text}", exc.retry_after)
                else:
                    raise _Fatal(text) from None


def run_watch(
    client: Client, out_dir: Path, *, after: str | None, poll: int, out: Callable[[str], None], err: Console
) -> int:
    """The watch loop; returns the exit code (0 after SIGINT/SIGTERM, 1 on a fatal error)."""
    box: Outbox | None = None
    watcher: Watcher | None = None
    try:
        box = Outbox(out_dir)
        watcher = Watcher(client, box, poll, out, err)
        cursor = after or box.cursor() or START_LINK
        watcher.signals.install()
        err.print(
            f"watching {client.url} as {client.route} into {out_dir} after {cursor}", markup=False, soft_wrap=True
        )
        return watcher.run(cursor)
    except (_Stop, KeyboardInterrupt):
        if watcher is not None:
            summary = f"{watcher.written} written, {watcher.skipped} skipped, cursor {watcher.cursor}"
            err.print(f"stopped: {summary}", markup=False)
        return 0
    except _Fatal as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        return 1
    except OSError as exc:
        err.print(f"error: {exc.filename or out_dir}: {exc.strerror or exc}", markup=False, soft_wrap=True)
        return 1
    finally:
        if watcher is not None:
            watcher.signals.restore()
        if box is not None:
            box.close()
