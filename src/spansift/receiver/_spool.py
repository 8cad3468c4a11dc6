"""The spool: an fsynced, append-only write-ahead log of accepted OTLP requests.

A request is acknowledged only once its bytes are here and on disk. The
directory holds numbered segment files (`0000000000000001.seg`, ...); each is
a run of records:

    magic u16 = 0x5353 | version u8 = 1 | kind u8 | length u32 | crc32 u32 | payload

all little-endian. The CRC covers the first eight header bytes and the
payload, so a torn or garbled tail is detected on replay and truncated.

Threading contract: `append` may be called from any number of threads; it
blocks until the record is fsynced, and concurrent appends share one fsync
(group commit). `read` and `consume` belong to one consumer thread. Records
are read back in append order; a segment is deleted once the consumer has
committed everything in it, so what is on disk is exactly the unprocessed
backlog (plus, after a crash, records that may be processed twice, which is
harmless because exception ids are deterministic).
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAGIC = 0x5353
VERSION = 1
HEADER = struct.Struct("<HBBII")
KIND_PROTOBUF = 1
KIND_JSON = 2
KINDS = frozenset({KIND_PROTOBUF, KIND_JSON})
_SUFFIX = ".seg"


class SpoolClosedError(Exception):
    """The spool no longer accepts records (the receiver is shutting down)."""


@dataclass(frozen=True, slots=True)
class Record:
    """One spooled request; `end` is the position just after it, for `Spool.consume`."""

    kind: int
    payload: bytes
    end: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Recovery:
    """What opening the spool found on disk."""

    segments: int
    records: int
    bytes: int
    torn_records: int
    torn_bytes: int


def _frame(kind: int, payload: bytes) -> bytes:
    head = struct.pack("<HBBI", MAGIC, VERSION, kind, len(payload))
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + struct.pack("<I", crc) + payload


def _scan(path: Path, max_record_bytes: int) -> tuple[int, int]:
    """How many valid records a segment starts with, and where the valid part ends."""
    records = 0
    offset = 0
    with path.open("rb") as f:
        while True:
            head = f.read(HEADER.size)
            if len(head) < HEADER.size:
                break
            magic, version, kind, length, crc = HEADER.unpack(head)
            if magic != MAGIC or version != VERSION or kind not in KINDS:
                break
            if length > max_record_bytes:
                break
            payload = f.read(length)
            if len(payload) < length or zlib.crc32(payload, zlib.crc32(head[:8])) != crc:
                break
            records += 1
            offset += HEADER.size + length
    return records, offset


class Spool:
    """Durable FIFO of serialized requests in `directory` (created if missing)."""

    def __init__(
        self, directory: str | Path, *, segment_bytes: int = 16 << 20, max_record_bytes: int
    ) -> None:
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self.max_record_bytes = max_record_bytes
        self._cond = threading.Condition()
        self._segments: deque[int] = deque()  # existing segment numbers, oldest first
        self._next_segment = 1
        self._fd: int | None = None  # active (appendable) segment
        self._active = 0
        self._active_size = 0
        self._written = 0  # bytes appended since open, including recovered ones
        self._synced = 0
        self._syncing = False
        self._end = (0, 0)  # position after the last complete record
        self._closed = False
        self._appended_records = 0
        self._consumed_bytes = 0
        self._consumed_records = 0
        # consumer side
        self._rseg = 0
        self._roff = 0
        self._rfile: BinaryIO | None = None
        self._sizes: dict[int, int] = {}
        self.recovery = self._recover()

    # -- opening ---------------------------------------------------------------

    def _recover(self) -> Recovery:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        numbers = sorted(
            int(p.stem) for p in self.directory.glob(f"*{_SUFFIX}") if p.stem.isdigit()
        )
        records = total = torn = torn_bytes = 0
        for number in numbers:
            path = self._path(number)
            size = path.stat().st_size
            count, valid = _scan(path, self.max_record_bytes)
            if valid < size:
                torn += 1
                torn_bytes += size - valid
                os.truncate(path, valid)
            if valid == 0:
                path.unlink()
                continue
            self._segments.append(number)
            self._sizes[number] = valid
            records += count
            total += valid
        if numbers:
            self._next_segment = numbers[-1] + 1
            self._fsync_dir()
        if self._segments:
            self._end = (self._segments[-1], self._sizes[self._segments[-1]])
            self._rseg = self._segments[0]
        self._written = self._synced = total
        self._appended_records = records
        return Recovery(len(self._segments), records, total, torn, torn_bytes)

    def _path(self, number: int) -> Path:
        return self.directory / f"{number:016d}{_SUFFIX}"

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- producers ---------------------------------------------------------------

    def append(self, kind: int, payload: bytes) -> None:
        """Add one record and return once it is on disk; `SpoolClosedError` after `close`.

        Blocks for one fsync, shared with every append that arrived meanwhile.
        `OSError` (disk full, I/O error) propagates; the record is then not acknowledged.
        """
        record = _frame(kind, payload)
        with self._cond:
            if self._closed:
                raise SpoolClosedError
            while self._fd is None or (
                self._active_size and self._active_size + len(record) > self.segment_bytes
            ):
                self._rotate_locked()
            fd = self._fd
            view = memoryview(record)
            while view:
                view = view[os.write(fd, view) :]
            self._active_size += len(record)
            self._sizes[self._active] = self._active_size
            self._written += len(record)
            self._end = (self._active, self._active_size)
            self._appended_records += 1
            target = self._written
            self._cond.notify_all()  # wakes the consumer
            while self._synced < target:
                if self._syncing:
                    self._cond.wait()
                    continue
                self._syncing = True
                upto = self._written
                sync_fd = self._fd
                ok = False
                self._cond.release()
                try:
                    if sync_fd is not None:
                        os.fsync(sync_fd)
                    ok = True
                finally:
                    self._cond.acquire()
                    self._syncing = False
                    if ok:
                        self._synced = max(self._synced, upto)
                    self._cond.notify_all()

    def _rotate_locked(self) -> None:
        """Seal the active segment (fsynced) and start a new one; caller holds the lock."""
        while self._syncing:
            self._cond.wait()
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            self._synced = self._written
        number = self._next_segment
        self._next_segment += 1
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND
        self._fd = os.open(self._path(number), flags, 0o600)
        self._fsync_dir()
        self._active = number
        self._active_size = 0
        self._sizes[number] = 0
        self._segments.append(number)

    # -- the consumer --------------------------------------------------------------

    def wait(self, timeout_s: float) -> bool:
        """Block until unread records exist or `timeout_s` passes; True if there are some."""
        with self._cond:
            if self._has_unread_locked():
                return True
            self._cond.wait(timeout_s)
            return self._has_unread_locked()

    def _has_unread_locked(self) -> bool:
        return bool(self._segments) and (self._rseg, self._roff) < self._end

    def read(self, max_records: int, max_bytes: int) -> list[Record]:
        """The next unread records, in order (at least one if any is unread)."""
        out: list[Record] = []
        taken = 0
        while len(out) < max_records and taken < max_bytes:
            with self._cond:
                if not self._has_unread_locked():
                    break
                if self._rseg not in self._sizes:
                    later = [n for n in self._segments if n > self._rseg]
                    self._rseg, self._roff = later[0], 0
                    self._close_reader()
                limit = self._sizes[self._rseg]
                if self._roff >= limit:
                    if self._rseg == self._end[0]:
                        break
                    later = [n for n in self._segments if n > self._rseg]
                    self._rseg, self._roff = later[0], 0
                    self._close_reader()
                    continue
            record = self._read_one()
            out.append(record)
            taken += len(record.payload)
        return out

    def _read_one(self) -> Record:
        if self._rfile is None:
            self._rfile = self._path(self._rseg).open("rb")
        f = self._rfile
        f.seek(self._roff)
        head = f.read(HEADER.size)
        _, _, kind, length, _ = HEADER.unpack(head)
        payload = f.read(length)
        self._roff += HEADER.size + length
        return Record(kind, payload, (self._rseg, self._roff))

    def _close_reader(self) -> None:
        if self._rfile is not None:
            self._rfile.close()
            self._rfile = None

    def consume(self, records: list[Record], keep_from: int | None = None) -> None:
        """Mark `records` (the oldest unconsumed ones) as committed; delete finished segments.

        Segments from `keep_from` on are kept even when consumed: open traces still
        hold spans from them, and a restart replays them to reassemble those traces.
        When nothing newer is in the spool, the active segment is removed as well,
        so an idle receiver leaves an empty spool directory.
        """
        if not records:
            return
        size = sum(HEADER.size + len(r.payload) for r in records)
        with self._cond:
            self._consumed_bytes += size
            self._consumed_records += len(records)
            self._drop_consumed_locked(records[-1].end, keep_from)

    def release(self, keep_from: int | None) -> None:
        """Delete consumed segments before `keep_from` (None: every consumed one).

        For when open traces stop needing old segments. Call it only when every
        record read so far has been consumed.
        """
        with self._cond:
            self._drop_consumed_locked((self._rseg, self._roff), keep_from)

    def _drop_consumed_locked(self, end: tuple[int, int], keep_from: int | None) -> None:
        limit = end[0] if keep_from is None else min(end[0], keep_from)
        removed = False
        while self._segments and self._segments[0] < limit:
            removed |= self._drop_segment_locked(self._segments[0])
        if (
            keep_from is None
            and end == self._end
            and self._segments
            and self._segments[0] == end[0]
        ):
            while self._syncing:
                self._cond.wait()
            if end == self._end:  # no append slipped in while waiting
                if self._fd is not None and self._active == end[0]:
                    os.close(self._fd)
                    self._fd = None
                removed |= self._drop_segment_locked(end[0])
                self._roff = 0
                self._rseg = self._next_segment
        if removed:
            self._fsync_dir()

    def _drop_segment_locked(self, number: int) -> bool:
        self._segments.remove(number)
        self._sizes.pop(number, None)
        if number == self._rseg:
            self._close_reader()
        try:
            self._path(number).unlink()
        except FileNotFoundError:
            return False
        return True

    # -- state -----------------------------------------------------------------------

    def backlog(self) -> tuple[int, int]:
        """Unprocessed (bytes, records): appended or recovered but not yet consumed."""
        with self._cond:
            return (
                self._written - self._consumed_bytes,
                self._appended_records - self._consumed_records,
            )

    def segment_count(self) -> int:
        with self._cond:
            return len(self._segments)

    def close_for_appends(self) -> None:
        """Refuse further appends; appends already running finish normally."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def close(self) -> None:
        """Release file handles; unconsumed segments stay on disk for the next start."""
        with self._cond:
            self._closed = True
            while self._syncing:
                self._cond.wait()
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None
            self._close_reader()
