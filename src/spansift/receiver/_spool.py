"""The spool: an fsynced, append-only write-ahead log of accepted OTLP requests.

A request is acknowledged only once its bytes are here and on disk. The
directory holds numbered segment files (`0000000000000001.seg`, ...); each is a
run of CRC-framed records (see `_frames`). An append that fails part way (disk
full, I/O error) is cut back off the file before anything else is appended, or,
when even that fails, its segment is sealed and never appended to again, so no
acknowledged record ever sits behind a partial one. Opening the spool skips
damaged records (and counts them) and truncates a torn tail.

Threading contract: `append` may be called from any number of threads; it
blocks until the record is fsynced, and concurrent appends share one fsync
(group commit). `read` and `consume` belong to one consumer thread. Records
are read back in append order; a segment is deleted once the consumer has
committed everything in it, so what is on disk is exactly the unprocessed
backlog (plus, after a crash, records that may be processed twice, which is
harmless because exception ids are deterministic).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from spansift.receiver._frames import HEADER, KIND_JSON, KIND_PROTOBUF, KINDS, frame, rewrite, scan

__all__ = [
    "KINDS", "KIND_JSON", "KIND_PROTOBUF", "Record", "Recovery", "Spool", "SpoolClosedError",
]  # fmt: skip
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
    skipped_records: int = 0  # damaged records inside a segment, skipped (and lost)
    skipped_bytes: int = 0


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
        self._sync_failed = 0  # bytes up to here were in an fsync that failed
        self._end = (0, 0)  # position after the last complete record
        self._closed = False
        self._appended_records = 0
        self._consumed_bytes = 0
        self._consumed_records = 0
        self._consumed_end = (0, 0)  # past the last record consumed: a replay is not counted
        # consumer side
        self._rseg = 0
        self._roff = 0
        self._rfile: BinaryIO | None = None
        self._sizes: dict[int, int] = {}
        self.recovery = self._recover()

    # -- opening ---------------------------------------------------------------

    def _recover(self) -> Recovery:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        for leftover in self.directory.glob(f"*{_SUFFIX}.tmp"):
            leftover.unlink()  # a rewrite interrupted by a crash; the original is intact
        numbers = sorted(
            int(p.stem) for p in self.directory.glob(f"*{_SUFFIX}") if p.stem.isdigit()
        )
        records = total = torn = torn_bytes = skipped = skipped_bytes = 0
        for number in numbers:
            path = self._path(number)
            data = path.read_bytes()
            # Any length that fits in the file: the CRC decides, and a record accepted under
            # a larger --max-body-mib before a restart is still a good record.
            found = scan(data, len(data))
            valid = found.valid_bytes
            if found.torn_bytes:
                torn += 1
                torn_bytes += found.torn_bytes
            skipped += found.skipped
            skipped_bytes += found.skipped_bytes
            if valid == 0:
                path.unlink()
                continue
            if found.skipped:
                rewrite(path, data, found)
            elif found.torn_bytes:
                os.truncate(path, valid)
            self._segments.append(number)
            self._sizes[number] = valid
            records += len(found.records)
            total += valid
        if numbers:
            self._next_segment = numbers[-1] + 1
            self._fsync_dir()
        if self._segments:
            self._end = (self._segments[-1], self._sizes[self._segments[-1]])
            self._rseg = self._segments[0]
        self._written = self._synced = total
        self._appended_records = records
        return Recovery(
            len(self._segments), records, total, torn, torn_bytes, skipped, skipped_bytes
        )

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
        `OSError` (disk full, I/O error) propagates and the record is not acknowledged;
        the spool is left as if the append had never started (see `_undo_locked`).
        """
        record = frame(kind, payload)
        with self._cond:
            if self._closed:
                raise SpoolClosedError
            while self._fd is None or (
                self._active_size and self._active_size + len(record) > self.segment_bytes
            ):
                self._rotate_locked()
            fd = self._fd
            view = memoryview(record)
            try:
                while view:
                    view = view[os.write(fd, view) :]
            except OSError:
                self._undo_locked(fd)
                raise
            self._active_size += len(record)
            self._sizes[self._active] = self._active_size
            self._written += len(record)
            self._end = (self._active, self._active_size)
            self._appended_records += 1
            target = self._written
            self._cond.notify_all()  # wakes the consumer
            self._sync_locked(target)

    def _undo_locked(self, fd: int) -> None:
        """Cut a partly written record off the active segment, or seal the segment.

        Appends are serialized by the lock, so the record being undone is the last
        thing in the file. If the cut fails too, the segment is closed for appends
        and the next record starts a new one: whatever sits at the end of the sealed
        segment is then only a torn tail, which recovery drops without touching
        the records before it or the segments after it.
        """
        try:
            os.ftruncate(fd, self._active_size)
        except OSError:
            self._seal_locked()

    def _seal_locked(self) -> None:
        while self._syncing:
            self._cond.wait()
        if self._fd is not None:
            with contextlib.suppress(OSError):  # the descriptor is released either way
                os.close(self._fd)
            self._fd = None

    def _sync_locked(self, target: int) -> None:
        """Wait until `target` bytes are fsynced, running the fsync if nobody else is."""
        while self._synced < target:
            if self._sync_failed >= target:
                msg = "fsync of the spool failed"
                raise OSError(msg)
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
                else:
                    # After a failed fsync the kernel may have dropped the dirty pages, and
                    # a later fsync can succeed without them: nothing written up to here may
                    # be acknowledged, and nothing more goes into this segment.
                    self._sync_failed = max(self._sync_failed, upto)
                    self._seal_locked()
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
        with self._cond:
            fresh = [r for r in records if r.end > self._consumed_end]
            self._consumed_end = max(self._consumed_end, records[-1].end)
            self._consumed_bytes += sum(HEADER.size + len(r.payload) for r in fresh)
            self._consumed_records += len(fresh)
            self._drop_consumed_locked(records[-1].end, keep_from)

    def rewind(self) -> None:
        """Read again from the oldest segment on disk, as a restart would (the consumer lost
        what it had read); records consumed before are not counted again when re-consumed."""
        with self._cond:
            self._close_reader()
            if self._segments:
                self._rseg, self._roff = self._segments[0], 0

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
