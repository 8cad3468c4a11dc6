"""The spool on its own: order, durability framing, torn tails, segment cleanup, bounded inflate."""

from __future__ import annotations

import gzip
import threading
import zlib
from pathlib import Path

import pytest

from spansift.receiver._spool import KIND_JSON, KIND_PROTOBUF, Spool
from spansift.receiver._wire import TooLargeError, decompress, token_ok

LIMIT = 1 << 20


def _spool_of(path: Path, count: int) -> tuple[Spool, list[bytes]]:
    """A spool of small segments holding `count` records of 100 bytes, and their payloads."""
    spool = Spool(path, segment_bytes=300, max_record_bytes=LIMIT)
    payloads = [bytes([i]) * 100 for i in range(count)]
    for p in payloads:
        spool.append(KIND_PROTOBUF, p)
    return spool, payloads


def _consume_all(spool: Spool, per_batch: int) -> list[bytes]:
    got = []
    while spool.wait(0):
        batch = spool.read(per_batch, LIMIT)
        got.extend(r.payload for r in batch)
        spool.consume(batch)
    return got


def test_records_come_back_in_order_across_segments(tmp_path: Path) -> None:
    """Records appended over several segments are read back in order and then deleted."""
    spool, payloads = _spool_of(tmp_path / "s", 10)
    assert spool.segment_count() > 3
    assert spool.backlog()[1] == 10
    assert _consume_all(spool, 3) == payloads
    assert spool.backlog() == (0, 0)
    assert list((tmp_path / "s").glob("*.seg")) == []
    spool.close()


def test_rewind_reads_kept_segments_again_without_counting_them_twice(tmp_path: Path) -> None:
    """After `rewind` the kept segments are read again; the backlog ends at zero, not below."""
    spool, payloads = _spool_of(tmp_path / "s", 6)
    first = spool.read(4, LIMIT)
    spool.consume(first[:2], keep_from=first[0].end[0])  # an open trace keeps its segment
    assert spool.backlog()[1] == 4
    spool.rewind()
    assert _consume_all(spool, 2) == payloads
    assert spool.backlog() == (0, 0)
    spool.close()


def test_unconsumed_records_are_replayed_and_torn_tail_cut(tmp_path: Path) -> None:
    """Reopening finds unconsumed records; a garbled tail is truncated and counted."""
    spool = Spool(tmp_path / "s", max_record_bytes=LIMIT)
    spool.append(KIND_PROTOBUF, b"one")
    spool.append(KIND_JSON, b"{}")
    first = spool.read(1, LIMIT)
    spool.consume(first)  # "one" is done; "{}" is not
    spool.close()
    segment = sorted((tmp_path / "s").glob("*.seg"))[-1]
    with segment.open("ab") as f:
        f.write(b"SS\x01\x01\x10\x00\x00\x00\x00\x00\x00\x00short")
    reopened = Spool(tmp_path / "s", max_record_bytes=LIMIT)
    assert reopened.recovery.torn_records == 1
    records = reopened.read(10, LIMIT)
    # The consumed record is still in its (unfinished) segment: replay is at-least-once.
    assert [(r.kind, r.payload) for r in records] == [(KIND_PROTOBUF, b"one"), (KIND_JSON, b"{}")]
    reopened.close()


def test_bit_flip_is_detected_by_crc(tmp_path: Path) -> None:
    """A corrupted payload byte fails the CRC and the record is not replayed."""
    spool = Spool(tmp_path / "s", max_record_bytes=LIMIT)
    spool.append(KIND_PROTOBUF, b"payload-a")
    spool.close()
    segment = next((tmp_path / "s").glob("*.seg"))
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF
    segment.write_bytes(bytes(data))
    reopened = Spool(tmp_path / "s", max_record_bytes=LIMIT)
    assert reopened.recovery.torn_records == 1
    assert reopened.read(10, LIMIT) == []
    reopened.close()


def test_concurrent_appends_all_land(tmp_path: Path) -> None:
    """Appends from many threads (sharing fsyncs) all end up in the spool exactly once."""
    spool = Spool(tmp_path / "s", segment_bytes=4096, max_record_bytes=LIMIT)

    def send(n: int) -> None:
        for i in range(25):
            spool.append(KIND_PROTOBUF, f"{n}-{i}".encode())

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    seen = [r.payload for r in spool.read(1000, LIMIT)]
    assert sorted(seen) == sorted(f"{n}-{i}".encode() for n in range(8) for i in range(25))
    spool.close()


def test_inflate_is_bounded() -> None:
    """gzip, zlib and raw deflate inflate; a bomb stops at the limit instead of filling memory."""
    data = b"span" * 1000
    assert decompress(gzip.compress(data), "gzip", LIMIT) == data
    assert decompress(zlib.compress(data), "deflate", LIMIT) == data
    raw = zlib.compressobj(wbits=-15)
    assert decompress(raw.compress(data) + raw.flush(), "deflate", LIMIT) == data
    with pytest.raises(TooLargeError):
        decompress(gzip.compress(b"\0" * (8 * LIMIT)), "gzip", LIMIT)


def test_token_compare() -> None:
    """The bearer check accepts only the configured token and tolerates no token configured."""
    assert token_ok(None, None)
    assert token_ok("t", "Bearer t")
    assert token_ok("t", "bearer t")
    assert not token_ok("t", "Bearer u")
    assert not token_ok("t", "Basic t")
    assert not token_ok("t", None)
