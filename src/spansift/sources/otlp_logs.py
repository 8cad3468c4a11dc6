"""OTLP log records as span events: how events that arrive as logs join their span.

OpenTelemetry moved events (`gen_ai.evaluation.result`, guardrail results, tool-call
decisions, spansift's gate and human events) from span events to log records tied to a
span. A log record with a trace and span id becomes a small child span of that span,
carrying the record as its one event: the normalizers read it exactly as an event on a
span, attribution finds the agent through the parent, and the spool, back-pressure and
durability of traces apply unchanged. Records without a span to join are dropped; so is
the body unless it is a map, whose keys count as attributes (the record's win).

The child's span id is a digest of the record, so a retried export adds nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from spansift.model import AttrValue, Event, Span, SpanKind, StatusCode
from spansift.sources import otlp_json as j
from spansift.sources.otlp_proto import key_values, resource_attributes

if TYPE_CHECKING:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

__all__ = ["spans_from_logs_json", "spans_from_logs_request"]

DEFAULT_NAME = "log"


def spans_from_logs_request(request: ExportLogsServiceRequest) -> list[Span]:
    """One child span per log record of `request` that names its span."""
    out: list[Span] = []
    for resource_logs in request.resource_logs:
        resource = resource_attributes(resource_logs.resource)
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope.name
            for record in scope_logs.log_records:
                trace, span = record.trace_id, record.span_id
                if len(trace) != 16 or len(span) != 8:
                    continue
                attributes = key_values(record.attributes)
                body = _proto_body(record.body)
                out.append(
                    _child(
                        trace.hex(), span.hex(), record.event_name,
                        record.time_unix_nano or record.observed_time_unix_nano,
                        {**body, **attributes}, resource, scope,
                    )
                )  # fmt: skip
    return out


def spans_from_logs_json(doc: Mapping[str, Any]) -> list[Span]:
    """The same for a parsed OTLP/JSON `ExportLogsServiceRequest`; `ValueError` names the place."""
    out: list[Span] = []
    for i, rl_obj in enumerate(j._list(doc, "resourceLogs", "resourceLogs")):
        where = f"resourceLogs[{i}]"
        rl = j._object(rl_obj, where)
        resource_obj = rl.get("resource")
        resource: dict[str, AttrValue] = {}
        if resource_obj is not None:
            resource_obj = j._object(resource_obj, f"{where}.resource")
            resource = j._attributes(resource_obj.get("attributes"), f"{where}.resource.attributes")
        for k, sl_obj in enumerate(j._list(rl, "scopeLogs", f"{where}.scopeLogs")):
            swhere = f"{where}.scopeLogs[{k}]"
            sl = j._object(sl_obj, swhere)
            scope_obj = sl.get("scope")
            scope = ""
            if scope_obj is not None:
                scope = j._str(j._object(scope_obj, f"{swhere}.scope").get("name"), swhere)
            for n, lr_obj in enumerate(j._list(sl, "logRecords", f"{swhere}.logRecords")):
                span = _json_record(lr_obj, f"{swhere}.logRecords[{n}]", resource, scope)
                if span is not None:
                    out.append(span)
    return out


def _json_record(obj: Any, where: str, resource: dict[str, AttrValue], scope: str) -> Span | None:
    record = j._object(obj, where)
    trace, span = record.get("traceId"), record.get("spanId")
    if not trace or not span:
        return None
    attributes = j._attributes(record.get("attributes"), f"{where}.attributes")
    raw_body = record.get("body")
    body = j._value(raw_body, f"{where}.body") if raw_body is not None else None
    time_ns = j._time(record.get("timeUnixNano"), f"{where}.timeUnixNano") or j._time(
        record.get("observedTimeUnixNano"), f"{where}.observedTimeUnixNano"
    )
    return _child(
        j._hex_id(trace, 32, f"{where}.traceId"), j._hex_id(span, 16, f"{where}.spanId"),
        j._str(record.get("eventName"), f"{where}.eventName"), time_ns,
        {**(body if isinstance(body, dict) else {}), **attributes}, resource, scope,
    )  # fmt: skip


def _child(
    trace: str,
    parent: str,
    event_name: str,
    time_ns: int,
    attributes: dict[str, AttrValue],
    resource: dict[str, AttrValue],
    scope: str,
) -> Span:
    name = event_name or str(attributes.get("event.name") or DEFAULT_NAME)
    digest = hashlib.sha256(
        f"{trace}\x1f{parent}\x1f{name}\x1f{time_ns}\x1f{sorted(attributes.items())}".encode()
    ).hexdigest()
    return Span(
        trace_id=trace,
        span_id=digest[:16],
        parent_span_id=parent,
        name=name,
        kind=SpanKind.INTERNAL,
        start_ns=time_ns,
        end_ns=time_ns,
        status=StatusCode.UNSET,
        status_message="",
        attributes={},
        events=(Event(name, time_ns, attributes),),
        resource=resource,
        scope=scope,
    )


def _proto_body(body: Any) -> dict[str, AttrValue]:
    if body.WhichOneof("value") != "kvlist_value":
        return {}
    return key_values(body.kvlist_value.values)
