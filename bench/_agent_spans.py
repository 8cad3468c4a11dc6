"""Agent-like OTLP spans for the benchmarks, built directly as protobuf messages.

Each trace has 64 spans: an `invoke_agent` root, then `chat` and `execute_tool`
children carrying ten GenAI attributes, as in the performance baselines. One span
in 20 is an ERROR with an `exception` event (a failed tool call that the default
pack reports as `tool_error`).
"""

from __future__ import annotations

import os
import struct

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

SPANS_PER_TRACE = 64
_TEXT = "lorem ipsum " * 17  # ~200 characters, like a tool description


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _span(trace_id: bytes, index: int, root_id: bytes, start_ns: int) -> Span:
    span_id = os.urandom(8)
    is_root = index == 0
    operation = "invoke_agent" if is_root else ("chat" if index % 4 == 1 else "execute_tool")
    tool = f"tool_{index % 29}"  # a tool seldom repeats within one trace: no loops
    attributes = [
        _kv("gen_ai.operation.name", operation),
        _kv("gen_ai.agent.name", "support-agent"),
        _kv("gen_ai.provider.name", "openai"),
        _kv("gen_ai.request.model", "gpt-5-mini"),
        _kv("gen_ai.usage.input_tokens", 1200 + index),
        _kv("gen_ai.usage.output_tokens", 80 + index),
        _kv("gen_ai.tool.call.id", f"call_{index:04d}"),
        _kv("gen_ai.conversation.id", trace_id.hex()[:12]),
        _kv("gen_ai.tool.description", _TEXT),
    ]
    if operation == "execute_tool":
        attributes.append(_kv("gen_ai.tool.name", tool))
    else:
        attributes.append(_kv("gen_ai.workflow.name", "support"))
    span = Span(
        trace_id=trace_id,
        span_id=span_id if not is_root else root_id,
        parent_span_id=b"" if is_root else root_id,
        name=f"{operation} {tool if operation == 'execute_tool' else 'support-agent'}",
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start_ns + index * 1_000_000,
        end_time_unix_nano=start_ns + index * 1_000_000 + 500_000,
        attributes=attributes,
    )
    if operation == "execute_tool" and index % 20 == 2:
        span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="upstream timed out"))
        span.attributes.append(_kv("error.type", "TimeoutError"))
        event = span.events.add(name="exception", time_unix_nano=span.end_time_unix_nano)
        event.attributes.extend(
            [_kv("exception.type", "TimeoutError"), _kv("exception.stacktrace", "Traceback\n" * 80)]
        )
    return span


def requests(total_spans: int, spans_per_request: int = 512) -> list[ExportTraceServiceRequest]:
    """`total_spans` agent-like spans split into requests of `spans_per_request`."""
    resource = Resource(
        attributes=[_kv("service.name", "support")]
        + [_kv(f"deployment.attr{i}", f"value-{i}") for i in range(6)]
    )
    out: list[ExportTraceServiceRequest] = []
    spans: list[Span] = []
    start_ns = 1_763_800_000_000_000_000
    made = 0
    while made < total_spans:
        trace_id, root_id = os.urandom(16), os.urandom(8)
        for index in range(SPANS_PER_TRACE):
            spans.append(_span(trace_id, index, root_id, start_ns))
            made += 1
            if len(spans) == spans_per_request or made == total_spans:
                scope = ScopeSpans(spans=spans)
                scope.scope.name = "bench"
                out.append(
                    ExportTraceServiceRequest(
                        resource_spans=[ResourceSpans(resource=resource, scope_spans=[scope])]
                    )
                )
                spans = []
            if made == total_spans:
                break
        start_ns += 10**9
    return out


def write_stream(path: str, reqs: list[ExportTraceServiceRequest]) -> int:
    """Write requests as the Collector file exporter's proto stream; returns bytes written."""
    size = 0
    with open(path, "wb") as f:
        for req in reqs:
            body = req.SerializeToString()
            f.write(struct.pack(">I", len(body)))
            f.write(body)
            size += 4 + len(body)
    return size
