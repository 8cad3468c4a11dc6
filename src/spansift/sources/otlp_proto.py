"""OTLP protobuf: `ExportTraceServiceRequest` to `Span`, plus a lazy fast path.

`spans_from_request` converts every span fully. The ingest hot path uses
`scan_request` instead: it walks the request once and decodes only the
attribute keys the loaded rules and normalization read, because touching every
attribute from Python costs about fifteen times the parse itself. A rule hit
then calls `ProtoSpanView.build()` for the full `Span`.

Nothing here does I/O or keeps state between calls; all functions are safe to
call from any thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spansift.model import AttrValue, Event, Prefilter, Span, SpanKind, StatusCode

__all__ = [
    "ProtoSpanView",
    "decode_request",
    "key_values",
    "proto_span",
    "resource_attributes",
    "scan_request",
    "spans_from_request",
]

# Index by the protocol number; values outside the enums fall back to the zero value.
_KINDS = tuple(SpanKind)
_STATUSES = tuple(StatusCode)
_SCALARS = frozenset({"string_value", "int_value", "bool_value", "double_value"})


def decode_request(body: bytes) -> ExportTraceServiceRequest:
    """Parse a serialized `ExportTraceServiceRequest`; `ValueError` with a short reason if not."""
    try:
        request: ExportTraceServiceRequest = ExportTraceServiceRequest.FromString(body)
    except DecodeError as exc:
        msg = f"not a valid OTLP protobuf trace request: {exc}"
        raise ValueError(msg) from None
    return request


def spans_from_request(req: ExportTraceServiceRequest) -> list[Span]:
    """Every span of the request, fully converted."""
    out: list[Span] = []
    append = out.append
    for resource_spans in req.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                append(_span(span, resource, scope))
    return out


def resource_attributes(resource: Any) -> dict[str, AttrValue]:
    """The attributes of a protobuf `Resource`."""
    return _attributes(resource.attributes)


def key_values(values: Iterable[Any]) -> dict[str, AttrValue]:
    """Repeated protobuf `KeyValue` (attributes, a map body) as a dict."""
    return _attributes(values)


def proto_span(span: Any, resource: dict[str, AttrValue], scope: str) -> Span:
    """One protobuf span as a `Span` (as `spans_from_request` builds each)."""
    return _span(span, resource, scope)


class ProtoSpanView:
    """A cursor over one protobuf span, holding only what the hot path needs.

    `scan_request` reuses a single view and moves it from span to span, so a
    view is valid only until the iterator advances; keep `build()`'s result,
    not the view. `attributes` holds only the wanted keys; `resource` is shared
    by every span of one `ResourceSpans` and must not be changed.
    """

    __slots__ = (
        "_proto",
        "_scope",
        "attributes",
        "duration_ns",
        "events",
        "name",
        "resource",
        "status",
        "status_message",
    )

    def __init__(self) -> None:
        self._proto: Any = None
        self._scope = ""
        self.name = ""
        self.status = StatusCode.UNSET
        self.status_message = ""
        self.duration_ns = 0
        self.attributes: dict[str, AttrValue] = {}
        self.resource: dict[str, AttrValue] = {}
        self.events: tuple[Event, ...] = ()

    @property
    def trace_id_bytes(self) -> bytes:
        """The raw 16-byte trace id."""
        value: bytes = self._proto.trace_id
        return value

    @property
    def span_id_bytes(self) -> bytes:
        """The raw 8-byte span id."""
        value: bytes = self._proto.span_id
        return value

    def build(self) -> Span:
        """The full `Span` of the current position (same result as `spans_from_request`)."""
        return _span(self._proto, self.resource, self._scope, self.events)


def count_spans(req: ExportTraceServiceRequest) -> int:
    """How many spans `req` holds, without touching them."""
    return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)


def scan_request(
    req: ExportTraceServiceRequest,
    wanted: frozenset[str],
    prefixes: tuple[str, ...],
    prefilter: Prefilter | None = None,
) -> Iterator[ProtoSpanView]:
    """Walk the spans of `req`, decoding only attributes in `wanted` or starting with `prefixes`.

    With a `prefilter`, spans that cannot satisfy it are skipped before any
    attribute value is decoded. Yields the same `ProtoSpanView` object each time,
    repositioned (see its docstring).
    """
    view = ProtoSpanView()
    n_statuses = len(_STATUSES)
    for resource_spans in req.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        view.resource = resource
        for scope_spans in resource_spans.scope_spans:
            view._scope = scope_spans.scope.name
            for span in scope_spans.spans:
                if prefilter is not None and not admits(prefilter, span):
                    continue
                view._proto = span
                view.name = span.name
                status = span.status
                code = status.code
                view.status = _STATUSES[code] if 0 <= code < n_statuses else StatusCode.UNSET
                view.status_message = status.message
                view.duration_ns = span.end_time_unix_nano - span.start_time_unix_nano
                attributes: dict[str, AttrValue] = {}
                for kv in span.attributes:
                    key = kv.key
                    if key in wanted or (prefixes and key.startswith(prefixes)):
                        # Scalars inline: a call per attribute is a large share of this loop.
                        any_value = kv.value
                        which = any_value.WhichOneof("value")
                        if which in _SCALARS:
                            attributes[key] = getattr(any_value, which)
                        else:
                            value = _value(any_value)
                            if value is not None:
                                attributes[key] = value
                view.attributes = attributes
                events = span.events
                view.events = _events(events) if events else ()
                yield view


def admits(prefilter: Prefilter, span: Any) -> bool:
    """Whether a protobuf span carries anything `prefilter` asks for (see `Prefilter`)."""
    status = span.status
    if (prefilter.on_error and status.code == 2) or (
        prefilter.on_status_message and status.message
    ):
        return True
    if prefilter.on_events and span.events:
        return True
    if prefilter.name_test is not None and prefilter.name_test(span.name):
        return True
    keys, prefixes, key_tests = prefilter.keys, prefilter.prefixes, prefilter.key_tests
    for kv in span.attributes:
        key = kv.key
        if key in keys or (prefixes and key.startswith(prefixes)):
            return True
        if key in key_tests and key_tests[key](_value(kv.value)):
            return True
    return False


def _span(
    span: Any,
    resource: dict[str, AttrValue],
    scope: str,
    events: tuple[Event, ...] | None = None,
) -> Span:
    kind = span.kind
    status = span.status
    code = status.code
    parent: bytes = span.parent_span_id
    return Span(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=parent.hex() if parent else None,
        name=span.name,
        kind=_KINDS[kind] if 0 <= kind < len(_KINDS) else SpanKind.UNSPECIFIED,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        status=_STATUSES[code] if 0 <= code < len(_STATUSES) else StatusCode.UNSET,
        status_message=status.message,
        attributes=_attributes(span.attributes),
        events=_events(span.events) if events is None else events,
        resource=resource,
        scope=scope,
    )


def _events(events: Iterable[Any]) -> tuple[Event, ...]:
    return tuple(
        Event(name=e.name, time_ns=e.time_unix_nano, attributes=_attributes(e.attributes))
        for e in events
    )


def _attributes(key_values: Iterable[Any]) -> dict[str, AttrValue]:
    """Decode repeated `KeyValue`; keys with an empty `AnyValue` are left out."""
    out: dict[str, AttrValue] = {}
    for kv in key_values:
        value = _value(kv.value)
        if value is not None:
            out[kv.key] = value
    return out


def _value(any_value: Any) -> AttrValue | None:
    """Decode one `AnyValue`; `None` when no field of the oneof is set."""
    which = any_value.WhichOneof("value")
    if which == "string_value":
        result: AttrValue = any_value.string_value
    elif which == "int_value":
        result = any_value.int_value
    elif which == "bool_value":
        result = any_value.bool_value
    elif which == "double_value":
        result = any_value.double_value
    elif which == "array_value":
        items = (_value(v) for v in any_value.array_value.values)
        result = tuple(v for v in items if v is not None)
    elif which == "kvlist_value":
        result = _attributes(any_value.kvlist_value.values)
    elif which == "bytes_value":
        result = any_value.bytes_value
    else:
        return None
    return result
