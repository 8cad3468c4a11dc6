"""Workloads for the core benchmark: agent-only, ordinary-only and a mixed Collector fan-out.

Ordinary traces look like what a Collector sends besides agents: an HTTP server span,
client calls, database queries and a Kafka publish, with the usual semantic-convention
attributes and no GenAI at all. The mixed workload interleaves agent traces (from
`_agent_spans`) with ordinary ones, about 7% of its spans being GenAI spans, and packs
spans of many traces into each request as a Collector batch does.
"""

from __future__ import annotations

import os
import random

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from _agent_spans import SPANS_PER_TRACE
from _agent_spans import requests as agent_requests

ORDINARY_PER_TRACE = 12
_START = 1_763_800_000_000_000_000


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _ordinary_trace(rng: random.Random, start_ns: int) -> list[Span]:
    trace_id, root_id = os.urandom(16), os.urandom(8)
    route = rng.choice(["/api/orders/{id}", "/api/cart", "/api/users/{id}/profile"])
    root = Span(
        trace_id=trace_id, span_id=root_id, name=f"GET {route}", kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=start_ns, end_time_unix_nano=start_ns + 40_000_000,
        attributes=[
            _kv("http.request.method", "GET"), _kv("http.route", route),
            _kv("url.path", route.replace("{id}", str(rng.randint(1, 10**6)))),
            _kv("url.scheme", "https"), _kv("server.address", "shop.example.com"),
            _kv("http.response.status_code", 200), _kv("user_agent.original", "Mozilla/5.0"),
            _kv("client.address", "10.0.3.17"), _kv("network.protocol.version", "1.1"),
        ],
    )  # fmt: skip
    spans = []
    for i in range(1, ORDINARY_PER_TRACE):
        kind = i % 3
        child_start = start_ns + i * 2_000_000
        if kind == 0:
            span = Span(
                name="SELECT orders", kind=Span.SPAN_KIND_CLIENT,
                attributes=[
                    _kv("db.system.name", "postgresql"), _kv("db.namespace", "shop"),
                    _kv("db.operation.name", "SELECT"), _kv("db.collection.name", "orders"),
                    _kv("db.query.text", "SELECT * FROM orders WHERE id = $1"),
                    _kv("server.address", "db.internal"), _kv("server.port", 5432),
                ],
            )  # fmt: skip
        elif kind == 1:
            span = Span(
                name="POST", kind=Span.SPAN_KIND_CLIENT,
                attributes=[
                    _kv("http.request.method", "POST"),
                    _kv("url.full", "https://payments.internal/v1/charges"),
                    _kv("server.address", "payments.internal"), _kv("server.port", 443),
                    _kv("http.response.status_code", 503 if i % 11 == 4 else 201),
                ],
            )  # fmt: skip
            if i % 11 == 4:
                span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR))
                span.attributes.append(_kv("error.type", "503"))
        else:
            span = Span(
                name="orders publish", kind=Span.SPAN_KIND_PRODUCER,
                attributes=[
                    _kv("messaging.system", "kafka"), _kv("messaging.operation.type", "publish"),
                    _kv("messaging.destination.name", "orders"),
                    _kv("messaging.kafka.message.key", f"order-{rng.randint(1, 10**6)}"),
                ],
            )  # fmt: skip
        span.trace_id = trace_id
        span.span_id = os.urandom(8)
        span.parent_span_id = root_id
        span.start_time_unix_nano = child_start
        span.end_time_unix_nano = child_start + 1_500_000
        spans.append(span)
    return [*spans, root]  # the root ends last


def _pack(spans: list[Span], per_request: int, service: str) -> list[ExportTraceServiceRequest]:
    resource = Resource(
        attributes=[_kv("service.name", service)]
        + [_kv(f"deployment.attr{i}", f"value-{i}") for i in range(6)]
    )
    out = []
    for at in range(0, len(spans), per_request):
        scope = ScopeSpans(spans=spans[at : at + per_request])
        scope.scope.name = "io.opentelemetry.bench"
        out.append(
            ExportTraceServiceRequest(
                resource_spans=[ResourceSpans(resource=resource, scope_spans=[scope])]
            )
        )
    return out


def ordinary_requests(total_spans: int, per_request: int = 512) -> list[ExportTraceServiceRequest]:
    """`total_spans` spans of ordinary traces; several traces per request, in end order."""
    rng = random.Random(7)
    spans: list[Span] = []
    start = _START
    while len(spans) < total_spans:
        spans.extend(_ordinary_trace(rng, start))
        start += 50_000_000
    return _pack(spans[:total_spans], per_request, "shop")


AGENT_SHARE = 0.07


def _both(total_spans: int, per_request: int) -> tuple[list[Span], list[Span]]:
    """Agent spans (whole traces, ~7% of the total) and ordinary spans, each in end order."""
    agent_spans = int(total_spans * AGENT_SHARE) // SPANS_PER_TRACE * SPANS_PER_TRACE
    agents = [
        span
        for req in agent_requests(max(agent_spans, SPANS_PER_TRACE), per_request)
        for span in req.resource_spans[0].scope_spans[0].spans
    ]
    ordinary = [
        span
        for req in ordinary_requests(total_spans - len(agents), per_request)
        for span in req.resource_spans[0].scope_spans[0].spans
    ]
    return agents, ordinary


def mixed_requests(total_spans: int, per_request: int = 512) -> list[ExportTraceServiceRequest]:
    """About 7% GenAI spans: one agent trace per ~70 ordinary traces, all in one scope group
    of shared requests (the hardest packing: every request holds agent spans)."""
    agents, ordinary = _both(total_spans, per_request)
    # Interleave whole traces, as a Collector batch holds spans of many services.
    spans: list[Span] = []
    step = max(1, len(ordinary) // max(1, len(agents) // SPANS_PER_TRACE))
    a = 0
    for at in range(0, len(ordinary), step):
        spans.extend(ordinary[at : at + step])
        if a < len(agents):
            spans.extend(agents[a : a + SPANS_PER_TRACE])
            a += SPANS_PER_TRACE
    spans.extend(agents[a:])
    return _pack(spans, per_request, "mixed")


def collector_requests(total_spans: int, per_request: int = 512) -> list[ExportTraceServiceRequest]:
    """The mixed spans as a Collector batch packs them: each request holds the spans of
    several services, each service's under its own resource and instrumentation scope."""
    agents, ordinary = _both(total_spans, per_request)
    agent_resource = Resource(attributes=[_kv("service.name", "support-agent")])
    shop_resource = Resource(
        attributes=[_kv("service.name", "shop")]
        + [_kv(f"deployment.attr{i}", f"value-{i}") for i in range(6)]
    )
    share = max(1, round(per_request * len(agents) / max(1, len(agents) + len(ordinary))))
    out = []
    a = o = 0
    while a < len(agents) or o < len(ordinary):
        groups = []
        for resource, scope_name, spans, at, count in (
            (shop_resource, "io.opentelemetry.bench", ordinary, o, per_request - share),
            (agent_resource, "agent-app", agents, a, share),
        ):
            chunk = spans[at : at + count]
            if chunk:
                scope = ScopeSpans(spans=chunk)
                scope.scope.name = scope_name
                groups.append(ResourceSpans(resource=resource, scope_spans=[scope]))
        o += per_request - share
        a += share
        out.append(ExportTraceServiceRequest(resource_spans=groups))
    return out
