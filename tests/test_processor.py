"""The in-process `ExceptionLogProcessor` on a real SDK `TracerProvider` and DuckDB file."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

from spansift import ExceptionLogProcessor


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _agent_run(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("support-app")
    with tracer.start_as_current_span(
        "invoke_agent support-agent",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support-agent"},
    ):
        with tracer.start_as_current_span(
            "execute_tool get_order",
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_order"},
        ):
            pass
        with tracer.start_as_current_span(
            "execute_tool refund_order",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "refund_order",
                "gen_ai.agent.name": "support-agent",
                "error.type": "TimeoutError",
            },
        ) as span:
            span.set_status(Status(StatusCode.ERROR, "payment gateway timed out"))


def test_failed_tool_span_becomes_an_exception_row(db: Path) -> None:
    """A tool span that ends in ERROR is written as a `tool_error` row with its ids."""
    provider = TracerProvider()
    processor = ExceptionLogProcessor(db=db)
    provider.add_span_processor(processor)
    _agent_run(provider)
    assert processor.force_flush(10_000)
    provider.shutdown()
    rows = _rows(db, "SELECT exception_type, agent, tool, status, length(trace_id) FROM exceptions")
    assert rows == [("tool_error", "support-agent", "refund_order", "open", 32)]


def test_clean_run_writes_nothing(db: Path) -> None:
    """Spans that cross no boundary leave the log empty."""
    provider = TracerProvider()
    provider.add_span_processor(ExceptionLogProcessor(db=db))
    tracer = provider.get_tracer("support-app")
    with tracer.start_as_current_span(
        "execute_tool get_order",
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_order"},
    ):
        pass
    provider.shutdown()
    assert _rows(db, "SELECT count(*) FROM exceptions") == [(0,)]


def test_full_queue_drops_spans_and_records_the_gap(db: Path) -> None:
    """When the queue is full, spans are counted as lost and the gap is in the log."""
    provider = TracerProvider()
    processor = ExceptionLogProcessor(
        db=db, max_queue_size=2, batch_size=10_000, flush_interval_ms=60_000
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("support-app")
    for _ in range(10):
        tracer.start_span("step").end()
    assert processor.dropped_spans == 8
    assert processor.force_flush(10_000)
    provider.shutdown()
    assert _rows(db, "SELECT source, lost_spans FROM evidence_gaps") == [("processor", 8)]


def test_shutdown_processes_queued_spans(db: Path) -> None:
    """Spans still queued at shutdown are processed before the database closes."""
    provider = TracerProvider()
    provider.add_span_processor(ExceptionLogProcessor(db=db, flush_interval_ms=60_000))
    _agent_run(provider)
    provider.shutdown()
    assert _rows(db, "SELECT count(*) FROM exceptions") == [(1,)]


def test_on_end_after_shutdown_never_raises(db: Path) -> None:
    """A span ending after shutdown is dropped quietly, not raised into the app."""
    provider = TracerProvider()
    processor = ExceptionLogProcessor(db=db)
    provider.add_span_processor(processor)
    span = provider.get_tracer("app").start_span("late")
    processor.shutdown()
    span.end()
    assert processor.dropped_spans == 1


def test_a_log_held_elsewhere_is_retried_and_the_loss_recorded(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process holds the file: spans are counted lost (one warning), then it recovers."""
    duckdb.connect(str(db)).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(db)!r}); "
         "print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        provider = TracerProvider()
        processor = ExceptionLogProcessor(db=db, flush_interval_ms=100)
        provider.add_span_processor(processor)
        _agent_run(provider)
        assert processor.force_flush(10_000)
        assert processor.dropped_spans == 3
        _agent_run(provider)
        assert processor.force_flush(10_000)
        warnings = [r for r in caplog.records if "cannot open" in r.getMessage()]
        assert len(warnings) == 1, "the problem is reported once, not per batch"
    finally:
        holder.kill()
        holder.wait(10)
        holder.stdout.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + 15
    while processor.pipeline is None and time.monotonic() < deadline:
        time.sleep(0.1)
    _agent_run(provider)
    assert processor.force_flush(10_000)
    provider.shutdown()
    assert _rows(db, "SELECT count(*) FROM exceptions") == [(1,)]
    assert _rows(db, "SELECT source, lost_spans FROM evidence_gaps") == [("processor", 6)]


def test_a_row_the_database_refuses_is_quarantined_and_the_rest_written(db: Path) -> None:
    """Text DuckDB cannot hold (a lone surrogate from the app) costs that row, not the batch."""
    provider = TracerProvider()
    processor = ExceptionLogProcessor(db=db)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("support-app")
    for tool in ("refund_\ud800order", "get_order"):
        with tracer.start_as_current_span(
            f"execute_tool {tool}",
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool},
        ) as span:
            span.set_status(Status(StatusCode.ERROR, "TimeoutError"))
    assert processor.force_flush(10_000)
    provider.shutdown()
    assert processor.worker_errors == 0
    assert _rows(db, "SELECT tool FROM exceptions") == [("get_order",)]
    ((kind, reason, payload),) = _rows(db, "SELECT kind, reason, payload FROM quarantine")
    assert kind == "exception"
    assert "surrogate" in str(reason)
    assert b'"rule_id": "tool_error"' in bytes(payload)  # type: ignore[arg-type]
    assert _rows(db, "SELECT lost_spans FROM evidence_gaps") == [(1,)]
