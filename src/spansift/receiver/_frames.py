"""Spool record framing, and the recovery scan that resynchronises past damaged records.

    magic u16 = 0x5353 | version u8 = 1 | kind u8 | length u32 | crc32 u32 | payload

all little-endian. The CRC covers the first eight header bytes and the payload.
Because every record is self-checking, a scan that meets a damaged record (a
flipped byte, a record torn by a crash or a full disk) can look for the next
offset where a whole, valid record starts and carry on from there: one bad
record costs that record, never the records after it.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

MAGIC = 0x5353
VERSION = 1
HEADER = struct.Struct("<HBBII")
KIND_PROTOBUF = 1
KIND_JSON = 2
KINDS = frozenset({KIND_PROTOBUF, KIND_JSON})
_MARK = struct.pack("<HB", MAGIC, VERSION)  # the bytes a record starts with


def frame(kind: int, payload: bytes) -> bytes:
    """One record: header with CRC, then the payload."""
    head = struct.pack("<HBBI", MAGIC, VERSION, kind, len(payload))
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + struct.pack("<I", crc) + payload


def record_at(data: bytes | memoryview, offset: int, max_record_bytes: int) -> int:
    """The size of the valid record starting at `offset`, or 0 if none starts there."""
    if len(data) - offset < HEADER.size:
        return 0
    magic, version, kind, length, crc = HEADER.unpack_from(data, offset)
    if magic != MAGIC or version != VERSION or kind not in KINDS or length > max_record_bytes:
        return 0
    end = offset + HEADER.size + length
    if end > len(data):
        return 0
    head = bytes(data[offset : offset + 8])
    if zlib.crc32(data[offset + HEADER.size : end], zlib.crc32(head)) != crc:
        return 0
    return HEADER.size + int(length)


@dataclass(frozen=True, slots=True)
class SegmentScan:
    """What a segment holds: its valid records as (offset, size), and what was damaged.

    `skipped` counts damaged stretches followed by a valid record (each is one lost
    record, or more if they ran together); `torn_bytes` is a damaged tail after the
    last valid record, the usual trace of a crash in the middle of an append.
    """

    records: tuple[tuple[int, int], ...]
    skipped: int
    skipped_bytes: int
    torn_bytes: int

    @property
    def clean(self) -> bool:
        return not (self.skipped or self.torn_bytes)

    @property
    def valid_bytes(self) -> int:
        return sum(size for _, size in self.records)


def scan(data: bytes, max_record_bytes: int) -> SegmentScan:
    """Walk a segment's bytes record by record, resynchronising after damage."""
    records: list[tuple[int, int]] = []
    skipped = skipped_bytes = 0
    offset = 0
    while offset < len(data):
        size = record_at(data, offset, max_record_bytes)
        if size:
            records.append((offset, size))
            offset += size
            continue
        found = _next_record(data, offset + 1, max_record_bytes)
        if found < 0:
            break
        skipped += 1
        skipped_bytes += found - offset
        offset = found
    torn = len(data) - offset
    return SegmentScan(tuple(records), skipped, skipped_bytes, torn)


def _next_record(data: bytes, start: int, max_record_bytes: int) -> int:
    """The first offset at or after `start` where a valid record begins, or -1."""
    at = data.find(_MARK, start)
    while at >= 0:
        if record_at(data, at, max_record_bytes):
            return at
        at = data.find(_MARK, at + 1)
    return -1


def rewrite(path: Path, data: bytes, found: SegmentScan) -> None:
    """Replace a damaged segment by its valid records only (write, fsync, rename).

    The consumer reads records back to back without re-checking them, so what
    stays on disk after recovery must be exactly the valid records.
    """
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        for offset, size in found.records:
            chunk = view[offset : offset + size]
            while chunk:
                chunk = chunk[os.write(fd, chunk) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
