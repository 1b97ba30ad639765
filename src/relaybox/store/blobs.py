"""Payload files on local disk.

Layout under the data dir::

    payloads/ab/<payload id>   finished payloads (id is random; sender file names never appear)
    tmp/<random>.part          uploads in progress

A payload becomes visible only through a committed ``payloads`` row, which is written after
the file is fsynced and renamed into place. A crash between rename and commit leaves a file
with no row: ``orphans()`` finds those for the sweeper.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import BinaryIO

from relaybox.errors import StoreUnavailable

_CHUNK = 64 * 1024
# Payloads up to this size are stored in the database (one row, inside the message's own
# transaction) instead of as files: most B2B messages are small, and a file costs two extra
# fsyncs (file and directory) per message.
INLINE_MAX = 256 * 1024


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileBlobs:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.payload_dir = root / "payloads"
        self.tmp_dir = root / "tmp"

    def prepare(self) -> None:
        try:
            self.payload_dir.mkdir(parents=True, exist_ok=True)
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create payload directories: {exc.strerror}") from None

    def check(self) -> None:
        for d in (self.payload_dir, self.tmp_dir):
            if not d.is_dir() or not os.access(d, os.W_OK):
                raise StoreUnavailable("payload directory is not usable")
        # A full file system passes the check above, yet no send can store a byte there (nor
        # its database row, which lives on the same disk): ping must not answer "ok" then.
        try:
            st = os.statvfs(self.root)
        except OSError as exc:
            raise StoreUnavailable(f"cannot inspect the data directory: {exc.strerror}") from None
        # root may use the blocks a file system reserves for it (ext4's 5%); others may not.
        blocks = st.f_bfree if os.geteuid() == 0 else st.f_bavail
        if blocks == 0 or (st.f_files and st.f_favail == 0):
            raise StoreUnavailable("no space left in the data directory")

    def path_of(self, payload_id: str) -> Path:
        # Ids are made here (token_hex), so they are safe path components.
        return self.payload_dir / payload_id[:2] / payload_id

    def writer(self) -> FileBlobWriter:
        return FileBlobWriter(self)

    def open(self, payload_id: str) -> FilePayload:
        """Open a payload for reading; ``FileNotFoundError`` when it is gone (purged)."""
        try:
            return FilePayload(open(self.path_of(payload_id), "rb"))
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StoreUnavailable(f"cannot read payload: {exc.strerror}") from None

    def delete(self, payload_id: str) -> None:
        try:
            self.path_of(payload_id).unlink()
        except FileNotFoundError:
            pass

    def stored_ids(self) -> Iterator[tuple[str, float]]:
        """(payload id, mtime) of every finished payload file."""
        if not self.payload_dir.is_dir():
            return
        for sub in self.payload_dir.iterdir():
            if sub.is_dir():
                for f in sub.iterdir():
                    try:
                        yield f.name, f.stat().st_mtime
                    except FileNotFoundError:
                        continue

    def clean_tmp(self, older_than: float) -> int:
        """Remove upload leftovers of crashed or killed processes."""
        removed = 0
        if not self.tmp_dir.is_dir():
            return 0
        for f in self.tmp_dir.iterdir():
            try:
                if f.stat().st_mtime < older_than:
                    f.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed


class MemoryPayload:
    """A payload already in memory (a small one, read from the database)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    @property
    def whole(self) -> bytes | None:
        return self._data

    async def chunks(self, chunk_size: int = _CHUNK) -> AsyncIterator[bytes]:
        for i in range(0, len(self._data), chunk_size):
            yield self._data[i : i + chunk_size]

    def close(self) -> None:
        pass


class FilePayload:
    """An open payload. Opened before the response starts, so a purge racing with a download
    cannot cut it short (an unlinked file stays readable through its open handle)."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh

    whole = None

    async def chunks(self, chunk_size: int = _CHUNK) -> AsyncIterator[bytes]:
        try:
            while True:
                # Page-cache reads of 64 KiB are cheaper inline than a thread hop per chunk.
                chunk = self._fh.read(chunk_size)
                if not chunk:
                    break
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self._fh.close()


class CountingWriter:
    """What every ``BlobWriter`` tracks: a random payload id, the size and MD5 of what it got."""

    def __init__(self) -> None:
        self._id = secrets.token_hex(16)
        self._md5 = hashlib.md5()
        self._sha256 = hashlib.sha256()  # for signed receipts (/v1)
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def md5(self) -> str:
        return self._md5.hexdigest()

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def _count(self, chunk: bytes) -> None:
        self._md5.update(chunk)
        self._sha256.update(chunk)
        self._size += len(chunk)


class FileBlobWriter(CountingWriter):
    """Small payloads stay in memory and are stored in the database row's own transaction
    (``inline``): no file, no extra fsync, and group commit covers them. A payload that grows
    past ``INLINE_MAX`` spills to a temp file that is fsynced and renamed into ``payloads/``."""

    def __init__(self, blobs: FileBlobs) -> None:
        super().__init__()
        self._blobs = blobs
        self._tmp = blobs.tmp_dir / f"{self._id}.part"
        self._final: Path | None = None
        self._fh: BinaryIO | None = None
        self._memory: bytearray | None = bytearray()

    @property
    def inline(self) -> bytes | None:
        """The payload's bytes when it is small enough to live in the database, else None."""
        return bytes(self._memory) if self._memory is not None else None

    async def write(self, chunk: bytes) -> None:
        self._count(chunk)
        if self._memory is not None and len(self._memory) + len(chunk) <= INLINE_MAX:
            self._memory += chunk
            return
        try:
            if self._fh is None:
                self._fh = open(self._tmp, "wb")
                if self._memory:
                    self._fh.write(self._memory)
                self._memory = None
            self._fh.write(chunk)
        except OSError as exc:
            await self.discard()
            raise StoreUnavailable(f"cannot write payload: {exc.strerror}") from None

    async def finish(self) -> str:
        if self._memory is not None:
            return self._id
        try:
            await asyncio.to_thread(self._finish_sync)
        except OSError as exc:
            await self.discard()
            raise StoreUnavailable(f"cannot store payload: {exc.strerror}") from None
        return self._id

    def _finish_sync(self) -> None:
        if self._fh is None:
            self._fh = open(self._tmp, "wb")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        final = self._blobs.path_of(self._id)
        final.parent.mkdir(exist_ok=True)
        os.replace(self._tmp, final)
        self._final = final
        _fsync_dir(final.parent)

    def committed(self) -> None:
        """A committed row now owns the file: ``discard()`` leaves it alone (the sweeper
        removes it with its row, when the message goes)."""
        self._final = None

    async def discard(self) -> None:
        self._memory = None
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:
                pass
            self._fh = None
        for p in (self._tmp, self._final):
            if p is not None:
                try:
                    p.unlink()
                except OSError:
                    pass
        self._final = None
