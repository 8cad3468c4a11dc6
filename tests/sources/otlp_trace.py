"""A small, deterministic agent trace from the real SDK, and an OTLP/JSON writer for it.

`make_fixtures.py` writes the committed files from these; the tests rebuild the
same SDK spans to check that every form converts to equal `Span` values.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

BASE_NS = 1_763_800_000_000_000_000
TRACE_ID = 0x5B8EFFF798038103D269B633813FC60C
SCOPE = "spansift.tests.agent"


class _FixedIds(IdGenerator):
    """Consecutive span ids and one fixed trace id, so the files never change."""

    def __init__(self) -> None:
        self._next = 0xEEE19B7EC3C1B170

    def generate_span_id(self) -> int:
        self._next += 1
        return self._next

    def generate_trace_id(self) -> int:
        return TRACE_ID


def make_agent_spans() -> tuple[ReadableSpan, ...]:
    """The agent trace, finished, in end order (children before their parent)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource({"service.name": "support-agent", "deployment.environment": "test"}),
        id_generator=_FixedIds(),
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer(SCOPE, "1.0")
    t = BASE_NS

    root = tracer.start_span(
        "invoke_agent support-agent",
        kind=SpanKind.INTERNAL,
        start_time=t,
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support-agent",
            "gen_ai.agent.id": "agent-7",
        },
    )
    ctx = trace.set_span_in_context(root)

    chat = tracer.start_span(
        "chat gpt-4o",
        context=ctx,
        kind=SpanKind.CLIENT,
        start_time=t + 1_000_000,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.request.temperature": 0.25,
            "gen_ai.request.stream": False,
            "gen_ai.usage.input_tokens": 812,
            "gen_ai.usage.output_tokens": 64,
            "gen_ai.response.finish_reasons": ["tool_calls"],
            "gen_ai.tool.definitions": '[{"name": "get_order"}, {"name": "refund_order"}]',
        },
    )
    chat.set_status(Status(StatusCode.OK))
    chat.end(end_time=t + 900_000_000)

    lookup = tracer.start_span(
        "execute_tool get_order",
        context=ctx,
        start_time=t + 901_000_000,
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_order",
            "gen_ai.tool.call.id": "call_1",
            "order.ids": [1001, 1002],
        },
    )
    lookup.end(end_time=t + 950_000_000)

    refund = tracer.start_span(
        "execute_tool refund_order",
        context=ctx,
        start_time=t + 951_000_000,
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "refund_order",
            "gen_ai.tool.call.id": "call_2",
            "refund.amount": 1250.5,
        },
    )
    refund.record_exception(PermissionError("refund over limit"), timestamp=t + 990_000_000)
    refund.set_attribute("error.type", "PermissionError")
    refund.set_status(Status(StatusCode.ERROR, "refund over limit"))
    refund.end(end_time=t + 991_000_000)

    retrieve = tracer.start_span(
        "ChatOpenAI",
        context=ctx,
        start_time=t + 992_000_000,
        attributes={
            "openinference.span.kind": "LLM",
            "llm.token_count.prompt": 120,
            "llm.token_count.completion": 30,
            "llm.tools.0.tool.json_schema": '{"name": "search_docs"}',
            "session.id": "sess-42",
            "input.value": "Where is my refund?",
        },
    )
    retrieve.end(end_time=t + 1_500_000_000)

    root.add_event(
        "gen_ai.evaluation.result",
        attributes={"gen_ai.evaluation.name": "helpfulness", "gen_ai.evaluation.score.value": 0.5},
        timestamp=t + 1_600_000_000,
    )
    root.set_status(Status(StatusCode.ERROR, "tool failed"))
    root.end(end_time=t + 1_700_000_000)

    provider.shutdown()
    return exporter.get_finished_spans()


def request_to_json(
    request: Any, *, upper_hex: bool = False, bare_ints: bool = False
) -> dict[str, Any]:
    """OTLP/JSON for an `ExportTraceServiceRequest`, shaped like the Collector's file exporter."""

    def hex_id(raw: bytes) -> str:
        text = raw.hex()
        return text.upper() if upper_hex else text

    def int64(value: int) -> int | str:
        return value if bare_ints else str(value)

    def any_value(v: Any) -> dict[str, Any]:
        which = v.WhichOneof("value")
        if which == "string_value":
            return {"stringValue": v.string_value}
        if which == "bool_value":
            return {"boolValue": v.bool_value}
        if which == "int_value":
            return {"intValue": int64(v.int_value)}
        if which == "double_value":
            return {"doubleValue": v.double_value}
        if which == "bytes_value":
            return {"bytesValue": base64.b64encode(v.bytes_value).decode()}
        if which == "array_value":
            return {"arrayValue": {"values": [any_value(x) for x in v.array_value.values]}}
        if which == "kvlist_value":
            return {"kvlistValue": {"values": key_values(v.kvlist_value.values)}}
        return {}

    def key_values(items: Iterable[Any]) -> list[dict[str, Any]]:
        return [{"key": kv.key, "value": any_value(kv.value)} for kv in items]

    def span(s: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"traceId": hex_id(s.trace_id), "spanId": hex_id(s.span_id)}
        if s.parent_span_id:
            out["parentSpanId"] = hex_id(s.parent_span_id)
        out["flags"] = s.flags
        out["name"] = s.name
        out["kind"] = s.kind
        out["startTimeUnixNano"] = int64(s.start_time_unix_nano)
        out["endTimeUnixNano"] = int64(s.end_time_unix_nano)
        if s.attributes:
            out["attributes"] = key_values(s.attributes)
        if s.events:
            out["events"] = [
                {
                    "timeUnixNano": int64(e.time_unix_nano),
                    "name": e.name,
                    "attributes": key_values(e.attributes),
                }
                for e in s.events
            ]
        status: dict[str, Any] = {}
        if s.status.message:
            status["message"] = s.status.message
        if s.status.code:
            status["code"] = s.status.code
        out["status"] = status
        return out

    return {
        "resourceSpans": [
            {
                "resource": {"attributes": key_values(rs.resource.attributes)},
                "scopeSpans": [
                    {
                        "scope": {"name": ss.scope.name, "version": ss.scope.version},
                        "spans": [span(s) for s in ss.spans],
                    }
                    for ss in rs.scope_spans
                ],
                "schemaUrl": rs.schema_url,
            }
            for rs in request.resource_spans
        ]
    }


def frame(messages: Iterable[bytes]) -> bytes:
    """The Collector file exporter's `format: proto` stream: 4-byte big-endian length, message."""
    return b"".join(len(m).to_bytes(4, "big") + m for m in messages)
