"""Exceptions out, in OTel: a real OTLP collector receives the log records and metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from otlp_collector import HttpCollector, grpc_collector
from review_helpers import Serve, send_failed_tool


def _wait(check: Callable[[], object], what: str, timeout_s: float = 20.0) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_serve_emits_exceptions_and_decisions_over_grpc(
    db: Path,
    cli: Callable[..., Result],
    serve: Callable[..., Serve],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`serve --otel-export`: each new row and each decision reaches an OTLP/gRPC collector."""
    collector, port, received = grpc_collector()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")
        monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "50")
        server = serve(db, "--otel-export")
        trace_id, span_id = send_failed_tool(f"{server.url}/v1/traces", "refund_order")

        def exception_records() -> list[object]:
            return [r for r in received.log_records() if r.event_name == "spansift.exception"]

        (record,) = _wait(exception_records, "the exception's log record")  # type: ignore[misc]
        assert (record.trace_id.hex(), record.span_id.hex()) == (trace_id, span_id)
        assert (record.severity_text, record.severity_number) == ("MEDIUM", 13)  # WARN
        attributes = {a.key: a.value for a in record.attributes}
        assert attributes["spansift.exception.type"].string_value == "tool_error"
        assert attributes["spansift.exception.tool"].string_value == "refund_order"
        assert "gateway timed out" in record.body.string_value
        assert "spansift.exception.evidence" not in attributes

        ack = cli("ack", "--type", "tool_error", "--by", "alice", "--db", str(db))
        assert ack.exit_code == 0, ack.output

        def decision_records() -> list[object]:
            return [r for r in received.log_records() if r.event_name == "spansift.decision"]

        (decision,) = _wait(decision_records, "the decision's log record")  # type: ignore[misc]
        assert decision.trace_id.hex() == trace_id  # in the trace context of its exception
        actor = {a.key: a.value for a in decision.attributes}["spansift.decision.actor"]
        assert actor.string_value == "alice"

        _wait(lambda: received.metric_points("spansift.exception.time_to_acknowledge"), "ack time")
        counted = received.metric_points("spansift.exceptions")
        assert counted[-1].as_int == 1
        labels = {a.key: a.value.string_value for a in counted[-1].attributes}
        assert labels == {
            "spansift.exception.type": "tool_error",
            "spansift.exception.workflow": "shop",
            "spansift.exception.severity": "medium",
        }
        assert received.metric_points("spansift.exceptions.open") is not None
        assert server.stop() == 0
    finally:
        collector.stop(None)


def test_processor_emits_over_http_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-process processor exports over OTLP/HTTP when on, and sends nothing by default."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Status, StatusCode

    from spansift.processor import ExceptionLogProcessor

    collector = HttpCollector()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        for on in (False, True):
            provider = TracerProvider()
            db = tmp_path / f"log-{on}.duckdb"
            provider.add_span_processor(ExceptionLogProcessor(db=str(db), otel_export=on))
            with provider.get_tracer("t").start_as_current_span("execute_tool charge") as span:
                span.set_attribute("gen_ai.operation.name", "execute_tool")
                span.set_attribute("gen_ai.tool.name", "charge")
                span.set_status(Status(StatusCode.ERROR, "card declined"))
            provider.shutdown()  # flushes the processor, then the exporters
            records = [r for r in collector.received.log_records()]
            assert len(records) == (1 if on else 0)
        assert collector.received.metric_points("spansift.exceptions")[-1].as_int == 1
    finally:
        collector.shutdown()
        collector.server_close()
