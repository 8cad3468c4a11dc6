"""A full disk mid-append and a corrupted record lose nothing that was acknowledged.

The disk is really full: a tiny tmpfs is mounted where the spool lives (the tests
skip where mounting is not allowed), so `os.write` runs out of space part way
through a record exactly as it would on a full volume.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from receiver_helpers import (
    PB,
    Server,
    count_exceptions,
    post,
    protobuf_body,
    query_rows,
    tool_error_spans,
    trace_ids,
    wait_for,
)

from spansift.receiver._frames import HEADER
from spansift.receiver._spool import KIND_PROTOBUF, Spool

LIMIT = 1 << 20


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[Path, int], Path]]:
    """Mount a tmpfs of a given size at a path; unmounted in teardown."""
    mounted: list[Path] = []

    def mount(path: Path, size_kib: int) -> Path:
        path.mkdir(mode=0o700, exist_ok=True)
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0700", "tmpfs", str(path)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(directory: Path, leave_bytes: int) -> Path:
    """Fill a filesystem until about `leave_bytes` are free; returns the filler file."""
    filler = directory / "filler"
    stats = os.statvfs(directory)
    free = stats.f_bavail * stats.f_frsize
    with filler.open("wb") as f, contextlib.suppress(OSError):
        f.write(b"\0" * max(0, free - leave_bytes))
    return filler


def test_failed_append_is_rolled_back(
    tmp_path: Path, small_disk: Callable[[Path, int], Path]
) -> None:
    """ENOSPC in the middle of a record leaves no partial record; appends after it survive."""
    directory = small_disk(tmp_path / "spool", 512)
    spool = Spool(directory, max_record_bytes=LIMIT)
    spool.append(KIND_PROTOBUF, b"before")
    filler = _fill(directory, 8 << 10)
    with pytest.raises(OSError):
        spool.append(KIND_PROTOBUF, b"x" * (64 << 10))
    segment = next(directory.glob("*.seg"))
    assert segment.stat().st_size == HEADER.size + len(b"before")
    filler.unlink()  # space comes back
    after = [f"after-{i}".encode() for i in range(20)]
    for payload in after:
        spool.append(KIND_PROTOBUF, payload)
    spool.close()
    reopened = Spool(directory, max_record_bytes=LIMIT)
    assert reopened.recovery.torn_records == 0
    assert [r.payload for r in reopened.read(100, LIMIT)] == [b"before", *after]
    reopened.close()


def test_flipped_byte_skips_only_its_record(tmp_path: Path) -> None:
    """A corrupted record is skipped and counted; every record after it is replayed."""
    spool = Spool(tmp_path / "s", max_record_bytes=LIMIT)
    payloads = [f"record-{i}".encode() * 10 for i in range(10)]
    for payload in payloads:
        spool.append(KIND_PROTOBUF, payload)
    spool.close()
    segment = next((tmp_path / "s").glob("*.seg"))
    data = bytearray(segment.read_bytes())
    record = HEADER.size + len(payloads[0])
    for at in (record * 3 + 5, record * 6 + 1):  # a payload byte, then a length byte
        data[at] ^= 0x40
    segment.write_bytes(bytes(data))
    reopened = Spool(tmp_path / "s", max_record_bytes=LIMIT)
    assert reopened.recovery.skipped_records == 2
    assert reopened.recovery.skipped_bytes == 2 * record
    assert reopened.recovery.torn_records == 0
    got = [r.payload for r in reopened.read(100, LIMIT)]
    assert got == [p for i, p in enumerate(payloads) if i not in (3, 6)]
    reopened.close()
    again = Spool(tmp_path / "s", max_record_bytes=LIMIT)  # the damage was cut out for good
    assert again.recovery.skipped_records == 0
    assert again.recovery.records == 8
    again.close()


def _send(server: Server, tag: str) -> tuple[int, list[str]]:
    spans = tool_error_spans(1, tag)
    status, _, _ = post(f"{server.url}/v1/traces", protobuf_body(spans), PB)
    return status, trace_ids(spans)


def test_serve_on_a_full_disk_loses_no_acknowledged_request(
    make_server: Callable[..., Server],
    tmp_path: Path,
    small_disk: Callable[[Path, int], Path],
) -> None:
    """503 on a full spool disk; the 20 requests acknowledged after it survive kill -9."""
    db = tmp_path / "log.duckdb"
    spool_dir = small_disk(Path(f"{db}.spool"), 1024)
    pause = tmp_path / "pause"
    pause.touch()
    server = make_server("--test-pause-file", str(pause), db=db)
    status, _ = _send(server, "first")
    assert status == 200
    filler = _fill(spool_dir, 2 << 10)
    big = tool_error_spans(40, "big")  # larger than the space left: the write breaks off
    status, headers, _ = post(f"{server.url}/v1/traces", protobuf_body(big), PB)
    assert status == 503
    assert headers.get("Retry-After")
    filler.unlink()
    acknowledged: list[str] = []
    for n in range(20):
        status, ids = _send(server, f"after{n}")
        assert status == 200
        acknowledged.extend(ids)
    server.kill()
    pause.unlink()
    server.start()
    assert "0 torn records truncated" in server.output()
    wait_for(lambda: count_exceptions(server, acknowledged) == 20, what="20 acknowledged rows")


def test_serve_replays_past_a_corrupted_record(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    """A flipped byte in one spooled request costs that request only, and is counted as a gap."""
    pause = tmp_path / "pause"
    pause.touch()
    server = make_server("--test-pause-file", str(pause))
    sent: list[list[str]] = []
    for n in range(10):
        status, ids = _send(server, f"c{n}")
        assert status == 200
        sent.append(ids)
    server.kill()
    segment = next(Path(f"{server.db}.spool").glob("*.seg"))
    data = bytearray(segment.read_bytes())
    data[HEADER.size + 20] ^= 0x01  # inside the first record's payload
    segment.write_bytes(bytes(data))
    pause.unlink()
    server.start()
    assert "replaying 9 spooled requests" in server.output()
    assert "1 damaged records skipped" in server.output()
    survivors = [t for ids in sent[1:] for t in ids]
    wait_for(lambda: count_exceptions(server, survivors) == 9, what="the 9 intact requests")
    gaps = query_rows(server, "SELECT reason FROM evidence_gaps WHERE source = 'receiver'")
    assert any("skipped 1 damaged records" in g["reason"] for g in gaps)


def test_records_larger_than_a_new_limit_are_still_replayed(tmp_path: Path) -> None:
    """Lowering the body limit between runs does not turn acknowledged records into damage."""
    spool = Spool(tmp_path / "s", max_record_bytes=LIMIT)
    spool.append(KIND_PROTOBUF, b"x" * 5000)
    spool.append(KIND_PROTOBUF, b"small")
    spool.close()
    reopened = Spool(tmp_path / "s", max_record_bytes=1000)
    assert (reopened.recovery.skipped_records, reopened.recovery.torn_records) == (0, 0)
    assert [len(r.payload) for r in reopened.read(10, LIMIT)] == [5000, 5]
    reopened.close()
