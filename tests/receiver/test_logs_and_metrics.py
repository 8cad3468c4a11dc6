"""OTLP logs join their spans; OTLP metrics are accepted and dropped. Real SDK exporters."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetrics,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetrics,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import set_span_in_context
from receiver_helpers import Server, post, query_rows, spansift, wait_for

GATE = {
    "spansift.gate.name": "refund_order",
    "spansift.gate.decision": "denied",
    "spansift.gate.approver": "ops@example.com",
}


def _run_with_a_denial_logged(tracers: TracerProvider, logs: LoggerProvider) -> str:
    """An agent asks to refund; the approver's denial arrives as a log event on its span."""
    tracer = tracers.get_tracer("support-app")
    logger = logs.get_logger("support-app")
    with tracer.start_as_current_span("invoke_agent support-agent") as agent:
        agent.set_attribute("gen_ai.operation.name", "invoke_agent")
        agent.set_attribute("gen_ai.agent.name", "support-agent")
        logger.emit(
            event_name="spansift.gate.decision", attributes=GATE,
            context=set_span_in_context(agent),
        )  # fmt: skip
    return f"{agent.get_span_context().trace_id:032x}"


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_a_decision_sent_as_a_log_record_joins_its_span(
    protocol: str, make_server: Callable[..., Server]
) -> None:
    server = make_server()
    if protocol == "http":
        spans = HttpSpans(endpoint=f"{server.url}/v1/traces")
        logs = HttpLogs(endpoint=f"{server.url}/v1/logs")
    else:
        endpoint = f"127.0.0.1:{server.grpc_port}"
        spans = GrpcSpans(endpoint=endpoint, insecure=True)  # type: ignore[assignment]
        logs = GrpcLogs(endpoint=endpoint, insecure=True)  # type: ignore[assignment]
    resource = Resource({"service.name": "support"})
    tracers = TracerProvider(resource=resource)
    tracers.add_span_processor(SimpleSpanProcessor(spans))
    log_provider = LoggerProvider(resource=resource)
    log_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    trace_id = _run_with_a_denial_logged(tracers, log_provider)
    log_provider.shutdown()
    tracers.shutdown()
    sql = f"SELECT exception_type, agent FROM exceptions WHERE trace_id = '{trace_id}'"
    rows = wait_for(lambda: query_rows(server, sql), timeout_s=15, what="the denial row")
    assert rows == [{"exception_type": "approval_denied", "agent": "support-agent"}]


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_metrics_are_accepted_and_dropped(
    protocol: str, make_server: Callable[..., Server]
) -> None:
    """`opentelemetry-instrument`'s default setup exports metrics too: they get 200 / OK."""
    server = make_server()
    exporter = (
        HttpMetrics(endpoint=f"{server.url}/v1/metrics")
        if protocol == "http"
        else GrpcMetrics(endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True)
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
    meters = MeterProvider(metric_readers=[reader])
    meters.get_meter("app").create_counter("requests").add(3)
    assert reader.force_flush(10_000)
    meters.shutdown()
    stats = json.loads(post(f"{server.url}/spansift/stats", b"", method="GET")[2])
    assert stats["requests_rejected"] == {}


def test_bad_logs_get_400(server: Server) -> None:
    status, _, body = post(
        f"{server.url}/v1/logs", b'{"resourceLogs": 7}', {"Content-Type": "application/json"}
    )
    assert status == 400
    assert "resourceLogs" in json.loads(body)["message"]


def test_ingest_reads_log_files_beside_trace_files(tmp_path: Path) -> None:
    """A Collector's file exporter writes logs to their own file: ingest joins both."""
    trace_id, span_id = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b171"
    traces = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [{
        "traceId": trace_id, "spanId": span_id, "name": "invoke_agent support-agent",
        "startTimeUnixNano": "1764000000000000000", "endTimeUnixNano": "1764000001000000000",
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}},
            {"key": "gen_ai.agent.name", "value": {"stringValue": "support-agent"}},
        ]}]}]}]}  # fmt: skip
    logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "timeUnixNano": "1764000000500000000", "traceId": trace_id, "spanId": span_id,
        "eventName": "spansift.gate.decision",
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in GATE.items()],
    }]}]}]}  # fmt: skip
    (tmp_path / "traces.jsonl").write_text(json.dumps(traces) + "\n")
    (tmp_path / "logs.jsonl").write_text(json.dumps(logs) + "\n")
    db = tmp_path / "log.duckdb"
    spansift("ingest", str(tmp_path / "traces.jsonl"), str(tmp_path / "logs.jsonl"),
             "--db", str(db), cwd=tmp_path)  # fmt: skip
    out = spansift("query", "--db", str(db), "--format", "jsonl",
                   "SELECT exception_type FROM exceptions", cwd=tmp_path)  # fmt: skip
    assert [json.loads(line) for line in out.stdout.splitlines()] == [
        {"exception_type": "approval_denied"}
    ]
