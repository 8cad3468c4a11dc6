"""OTLP over HTTP (protobuf, JSON, gzip, deflate) and gRPC into a running `spansift serve`."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable
from pathlib import Path

import duckdb
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace.export import SpanExportResult
from receiver_helpers import (
    Server,
    count_exceptions,
    otlp_json,
    post,
    protobuf_body,
    query_rows,
    spansift,
    tool_error_spans,
    trace_ids,
    wait_for,
)


def test_http_exporter_spans_become_queryable_while_serving(server: Server) -> None:
    """Failed tool spans sent by the real OTLP/HTTP exporter show up in `spansift query`."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    spans = tool_error_spans(3, "http")
    exporter = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces", timeout=10)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    exporter.shutdown()
    ids = trace_ids(spans)
    wait_for(lambda: count_exceptions(server, ids) == 3, what="3 tool_error rows")
    rows = query_rows(server, "SELECT DISTINCT exception_type, tool FROM exceptions")
    assert rows == [{"exception_type": "tool_error", "tool": "get_order_http"}]


def test_grpc_exporter_spans_become_queryable_while_serving(server: Server) -> None:
    """Failed tool spans sent by the real OTLP/gRPC exporter (gzip) show up in `spansift ls`."""
    from grpc import Compression
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    spans = tool_error_spans(2, "grpc")
    exporter = OTLPSpanExporter(
        endpoint=f"127.0.0.1:{server.grpc_port}",
        insecure=True,
        timeout=10,
        compression=Compression.Gzip,
    )
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    exporter.shutdown()
    wait_for(lambda: count_exceptions(server, trace_ids(spans)) == 2, what="2 rows")
    out = spansift("ls", "--db", str(server.db), "--type", "tool_error", cwd=server.workdir)
    assert "get_order_grpc" in out.stdout


def test_json_gzip_and_deflate_bodies_are_accepted(server: Server) -> None:
    """OTLP/JSON plain, gzip and deflate bodies each answer 200 with a JSON response body."""
    trace = "5b8efff798038103d269b633813fc60c"
    bodies = {
        "": otlp_json(trace, "eee19b7ec3c1b171"),
        "gzip": gzip.compress(otlp_json(trace, "eee19b7ec3c1b172")),
        "deflate": zlib.compress(otlp_json(trace, "eee19b7ec3c1b173")),
    }
    for encoding, body in bodies.items():
        headers = {"Content-Type": "application/json"}
        if encoding:
            headers["Content-Encoding"] = encoding
        status, response_headers, answer = post(f"{server.url}/v1/traces", body, headers)
        assert (status, answer) == (200, b"{}"), encoding
        assert response_headers["Content-Type"] == "application/json"
    wait_for(lambda: count_exceptions(server, [trace]) == 3, what="3 JSON rows")


def test_protobuf_response_is_a_valid_export_response(server: Server) -> None:
    """A protobuf request gets a protobuf `ExportTraceServiceResponse`, partial_success unset."""
    status, headers, body = post(
        f"{server.url}/v1/traces",
        protobuf_body(tool_error_spans(1, "pb")),
        {"Content-Type": "application/x-protobuf"},
    )
    assert status == 200
    assert headers["Content-Type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(body).HasField("partial_success")


def test_replayed_request_adds_no_duplicate_rows(server: Server) -> None:
    """Sending the same request three times leaves one row per span."""
    spans = tool_error_spans(2, "dup")
    body = protobuf_body(spans)
    for _ in range(3):
        status, _, _ = post(
            f"{server.url}/v1/traces", body, {"Content-Type": "application/x-protobuf"}
        )
        assert status == 200
    ids = trace_ids(spans)
    wait_for(lambda: _stats(server)["spans_processed"] >= 12, what="all copies processed")
    # Rows appear when the traces close, a moment after their spans are processed.
    wait_for(lambda: count_exceptions(server, ids) >= 2, what="the rows")
    assert count_exceptions(server, ids) == 2


def _stats(server: Server) -> dict[str, int]:
    status, _, body = post(f"{server.url}/spansift/stats", b"", method="GET")
    assert status == 200
    doc: dict[str, int] = json.loads(body)
    return doc


def test_stats_command_prints_receiver_section(server: Server) -> None:
    """`spansift stats` adds a receiver section with the live counters."""
    post(
        f"{server.url}/v1/traces",
        protobuf_body(tool_error_spans(1, "stats")),
        {"Content-Type": "application/x-protobuf"},
    )
    wait_for(lambda: _stats(server)["exceptions_written"] == 1, what="one row written")
    out = spansift("stats", "--db", str(server.db), cwd=server.workdir).stdout
    assert "exceptions: 1 (1 open)" in out
    assert "receiver: pid" in out
    assert "spans received 2, rejected 0, processed 2" in out


def test_export_parquet_works_with_and_without_server(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    """`spansift export --parquet` writes readable Parquet through the server and from the file."""
    server = make_server()
    post(
        f"{server.url}/v1/traces",
        protobuf_body(tool_error_spans(2, "pq")),
        {"Content-Type": "application/x-protobuf"},
    )
    wait_for(lambda: _stats(server)["exceptions_written"] == 2, what="two rows written")
    live, offline = tmp_path / "live", tmp_path / "offline"
    spansift("export", "--db", str(server.db), "--parquet", str(live), cwd=tmp_path)
    server.signal(15)
    assert server.wait() == 0
    spansift("export", "--db", str(server.db), "--parquet", str(offline), cwd=tmp_path)
    for folder in (live, offline):
        count = duckdb.sql(f"SELECT count(*) FROM '{folder}/exceptions.parquet'").fetchall()
        assert count == [(2,)]
        assert (folder / "evidence_gaps.parquet").exists()
        offending = duckdb.sql(
            f"SELECT count(*) FROM '{folder}/evidence_spans.parquet' WHERE offending"
        ).fetchall()
        assert offending == [(2,)]
