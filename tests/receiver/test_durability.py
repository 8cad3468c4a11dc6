"""Acknowledged spans survive `kill -9`, torn spool tails, and a SIGTERM drains the spool."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import duckdb
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from receiver_helpers import (
    Server,
    count_exceptions,
    query_rows,
    tool_error_spans,
    trace_ids,
    wait_for,
)


def _export_batches(server: Server, batches: int, tag: str) -> list[str]:
    exporter = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces", timeout=10)
    ids: list[str] = []
    for n in range(batches):
        spans = tool_error_spans(2, f"{tag}{n}")
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        ids.extend(trace_ids(spans))
    exporter.shutdown()
    return ids


def _segments(db: Path) -> list[Path]:
    return sorted(Path(f"{db}.spool").glob("*.seg"))


def test_kill_9_after_ack_loses_nothing(make_server: Callable[..., Server], tmp_path: Path) -> None:
    """Spans acknowledged but unprocessed at SIGKILL are in the log after a restart."""
    pause = tmp_path / "pause"
    pause.touch()
    server = make_server("--test-pause-file", str(pause))
    ids = _export_batches(server, 5, "k")
    server.kill()
    assert _segments(server.db), "acknowledged requests must be in the spool"
    pause.unlink()
    server.start()
    assert "replaying 5 spooled requests" in server.output()
    wait_for(lambda: count_exceptions(server, ids) == 10, what="10 replayed rows")
    sql = "SELECT count(*) AS n, count(DISTINCT exception_id) AS d FROM exceptions"
    rows = query_rows(server, sql)
    assert rows == [{"n": 10, "d": 10}]


def test_kill_9_while_processing_never_duplicates(
    make_server: Callable[..., Server],
) -> None:
    """Killing the server mid-stream and replaying the spool yields each exception exactly once."""
    server = make_server()
    ids = _export_batches(server, 6, "m")
    server.kill()
    server.start()
    wait_for(lambda: count_exceptions(server, ids) == 12, what="12 rows")
    rows = query_rows(server, "SELECT count(*) AS n FROM exceptions")
    assert rows == [{"n": 12}]


def test_torn_tail_is_truncated_and_counted(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    """A half-written record at the end of the spool is cut off; complete records still count."""
    pause = tmp_path / "pause"
    pause.touch()
    server = make_server("--test-pause-file", str(pause))
    ids = _export_batches(server, 2, "t")
    server.kill()
    last = _segments(server.db)[-1]
    with last.open("ab") as f:
        f.write(b"SS\x01\x01\xff\xff\x00\x00garbage")  # a header promising more than follows
    pause.unlink()
    server.start()
    assert "replaying 2 spooled requests (1 torn records truncated" in server.output()
    wait_for(lambda: count_exceptions(server, ids) == 4, what="4 rows")


def test_sigterm_drains_spool_and_exits_zero(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    """SIGTERM processes every acknowledged request, checkpoints, and leaves no spool behind."""
    pause = tmp_path / "pause"
    pause.touch()
    server = make_server("--test-pause-file", str(pause))
    ids = _export_batches(server, 3, "s")
    pause.unlink()
    server.signal(signal.SIGTERM)
    assert server.wait() == 0
    assert "spool empty" in server.output()
    assert _segments(server.db) == []
    assert not Path(f"{server.db}.serve.json").exists()
    assert not Path(f"{server.db}.wal").exists(), "CHECKPOINT folds the WAL on exit"
    with duckdb.connect(str(server.db), read_only=True) as con:
        placeholders = ", ".join("?" for _ in ids)
        found = con.execute(
            f"SELECT count(*) FROM exceptions WHERE trace_id IN ({placeholders})", ids
        ).fetchone()
    assert found == (6,)
