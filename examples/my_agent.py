"""A small support agent that emits OpenTelemetry GenAI spans: the sidecar quickstart's app.

No agent framework and no model call: the agent's steps are written with the
OpenTelemetry SDK the way GenAI instrumentations write them. The exporter is
configured by environment variables only, like any OpenTelemetry app:

    OTEL_SERVICE_NAME=support \\
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \\
    OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \\
    python examples/my_agent.py

(`OTEL_EXPORTER_OTLP_PROTOCOL=grpc` with `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317`
sends over gRPC; `OTEL_EXPORTER_OTLP_HEADERS`, `..._CERTIFICATE` and the other
standard variables work as usual.)

One run of the agent: it looks the order up, then tries the refund, and the
payment gateway times out. spansift reports the failed refund as `tool_error`:
"tool refund_order failed in support-agent: payment gateway timed out after 30s".
`support-agent` is the `gen_ai.agent.name` on that tool span, and the row's
workflow is the service name, `OTEL_SERVICE_NAME` (`unknown_service:python`
when it is not set).
"""

from __future__ import annotations

import os
import uuid

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

AGENT = "support-agent"


def exporter_from_environment() -> SpanExporter:
    """The OTLP exporter `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` names; it reads the rest itself."""
    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    )
    # Both read OTEL_EXPORTER_OTLP_ENDPOINT, _HEADERS, _CERTIFICATE, _COMPRESSION themselves.
    return GrpcSpanExporter() if protocol == "grpc" else HttpSpanExporter()


def call_tool(tracer: trace.Tracer, name: str, call_id: str, fail: str | None = None) -> None:
    """One tool execution as a GenAI `execute_tool` span; `fail` is the error it ends with."""
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.call.id": call_id,
        "gen_ai.agent.name": AGENT,  # the agent running the tool: spansift's `agent.name`
    }
    with tracer.start_as_current_span(f"execute_tool {name}", attributes=attributes) as span:
        if fail is not None:
            span.set_attribute("error.type", "PaymentGatewayTimeout")
            span.set_status(trace.Status(trace.StatusCode.ERROR, fail))


def run(tracer: trace.Tracer, order: str) -> None:
    """The agent handling one refund request."""
    with tracer.start_as_current_span(
        f"invoke_agent {AGENT}",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": AGENT,
            "gen_ai.conversation.id": str(uuid.uuid4()),
        },
    ):
        with tracer.start_as_current_span(
            "chat gpt-4o",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 812,
                "gen_ai.usage.output_tokens": 64,
            },
        ):
            pass  # the model decided to read the order, then refund it
        call_tool(tracer, "get_order", f"call_get_{order}")
        call_tool(
            tracer, "refund_order", f"call_refund_{order}", "payment gateway timed out after 30s"
        )


def main() -> None:
    # Resource.create() reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(exporter_from_environment()))
    run(provider.get_tracer("support-app"), order="42")
    provider.shutdown()  # flushes the batch before the process exits


if __name__ == "__main__":
    main()
