"""The OpenTelemetry SDK's `ReadableSpan` to `Span`.

This runs on the in-process processor's worker thread for every span, so it
does the least work that still gives the same `Span` as the OTLP paths:
the SDK already stores attribute sequences as tuples, and a resource's
attributes are converted once and reused while spans keep sharing it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan

from spansift.model import AttrValue, Event, Span, SpanKind, StatusCode

__all__ = ["as_spans", "span_from_readable"]

# The SDK numbers span kinds from 0 (INTERNAL); OTLP and the model from 1.
_KINDS = tuple(SpanKind)[1:]
_STATUSES = tuple(StatusCode)

# The last resource seen and its converted attributes. Spans of one provider
# share one Resource object, so this single entry almost always hits. The tuple
# is replaced in one assignment, so concurrent callers at worst convert twice.
_last_resource: tuple[Resource | None, dict[str, AttrValue]] = (None, {})


def span_from_readable(span: ReadableSpan) -> Span:
    """Convert a finished SDK span; ids become lowercase hex, the SDK kind is shifted by one."""
    global _last_resource  # noqa: PLW0603 - a one-entry cache, see above
    context = span.get_span_context()
    if context is None:  # pragma: no cover - the SDK always sets a context
        msg = "span has no span context"
        raise ValueError(msg)
    parent = span.parent
    status = span.status
    resource_obj = span.resource
    cached, resource = _last_resource
    if cached is not resource_obj:
        resource = _attributes(resource_obj.attributes)
        _last_resource = (resource_obj, resource)
    scope = span.instrumentation_scope
    events = span.events
    return Span(
        trace_id=f"{context.trace_id:032x}",
        span_id=f"{context.span_id:016x}",
        parent_span_id=f"{parent.span_id:016x}" if parent is not None else None,
        name=span.name,
        kind=_KINDS[span.kind.value],
        start_ns=span.start_time or 0,
        end_ns=span.end_time or 0,
        status=_STATUSES[status.status_code.value],
        status_message=status.description or "",
        attributes=_attributes(span.attributes),
        events=tuple(
            Event(name=e.name, time_ns=e.timestamp, attributes=_attributes(e.attributes))
            for e in events
        )
        if events
        else (),
        resource=resource,
        scope=scope.name if scope is not None else "",
    )


def as_spans(items: Iterable[ReadableSpan | Span]) -> list[Span]:
    """Finished SDK spans converted; `Span` values (from adapters) as they are."""
    return [s if isinstance(s, Span) else span_from_readable(s) for s in items]


def _attributes(attributes: Mapping[str, Any] | None) -> dict[str, AttrValue]:
    if not attributes:
        return {}
    out: dict[str, AttrValue] = {}
    for key, value in attributes.items():
        if type(value) in _SCALARS:
            out[key] = value
        else:
            converted = _value(value)
            if converted is not None:
                out[key] = converted
    return out


_SCALARS = frozenset({str, int, bool, float})


def _value(value: Any) -> AttrValue | None:
    """Mirror the OTLP encoder: sequences become tuples, mappings dicts, `None` nothing."""
    # Subclasses (str or int enums) are stored as their plain value, as protobuf does.
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, Mapping):
        return _attributes(value)
    if isinstance(value, Sequence):
        items = (_value(v) for v in value)
        return tuple(v for v in items if v is not None)
    # None or a type the encoder cannot send either: the key is dropped.
    return None
