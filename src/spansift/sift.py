"""Skip what cannot hit: spans of traces that no agent touched never become `Span` values.

When every enabled rule needs an agent field (`RuleSet.agent_only`), a trace matters only
once one of its spans is *marked* (`normalize._markers`). The sifter passes on the spans
of marked traces and holds the others back, as they came (protobuf messages or spans),
in a bounded buffer: if a later span marks their trace, they are passed on with it; if
not, they leave the buffer unconverted and uncounted by the rules. A Collector fanning
all traffic out to the receiver then costs little more than parsing for the ordinary
part of it.

A request whose bytes hold no marking token is not looked at span by span, apart from
status messages and events (the only text generic readers read), which are normalized
for real when present. One thread at a time, like the pipeline.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spansift.model import AttrValue, Span
from spansift.normalize import fields_of
from spansift.normalize._markers import AGENT_FIELDS, body_may_mark, marks_by_shape
from spansift.sources.otlp_proto import proto_span, resource_attributes

if TYPE_CHECKING:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from spansift.model import Signal

MAX_HELD = 20_000  # unmarked spans held back, all traces together
MAX_HELD_PER_TRACE = 256
MAX_MARKED = 100_000  # marked trace ids remembered


@dataclass(slots=True)
class SiftCounts:
    seen: int = 0  # spans offered
    passed: int = 0  # spans handed to the pipeline
    dropped: int = 0  # unmarked spans that left the buffer unconverted


class Sifter:
    """Passes the spans of marked traces; holds back the rest for a while (see module)."""

    def __init__(self, signals: Sequence[Signal] = ()) -> None:
        self._signals = signals
        self._extra_keys = frozenset(s.key for s in signals if getattr(s, "key", None))
        self._marked: OrderedDict[str, None] = OrderedDict()
        # trace id -> held spans: (resource proto or None, scope, protobuf span or Span)
        self._held: OrderedDict[str, list[tuple[Any, str, Any]]] = OrderedDict()
        self._held_count = 0
        self._resources: dict[int, dict[str, AttrValue]] = {}
        self.counts = SiftCounts()

    # -- protobuf requests ------------------------------------------------------

    def request(self, request: ExportTraceServiceRequest, body: bytes | None = None) -> list[Span]:
        """The spans of `request` (and earlier held ones) that belong to marked traces."""
        by_shape = body is None or body_may_mark(body) or bool(self._extra_keys)
        out: list[Span] = []
        self._resources = {}
        for resource_spans in request.resource_spans:
            resource = resource_spans.resource
            for scope_spans in resource_spans.scope_spans:
                scope = scope_spans.scope.name
                for span in scope_spans.spans:
                    self.counts.seen += 1
                    trace = span.trace_id.hex()
                    if trace in self._marked or (
                        by_shape
                        and marks_by_shape(
                            scope, span.name, (kv.key for kv in span.attributes), self._extra_keys
                        )
                    ):
                        self._pass(trace, self._build(resource, scope, span), out)
                    elif span.status.message or span.events:
                        built = self._build(resource, scope, span)
                        if self._has_agent_fields(built):
                            self._pass(trace, built, out)
                        else:
                            self._hold(trace, (None, scope, built))
                    else:
                        self._hold(trace, (resource, scope, span))
        return out

    # -- spans already built ------------------------------------------------------

    def spans(self, spans: Iterable[Span]) -> list[Span]:
        """The same for `Span` values (the in-process processor, OTLP/JSON files)."""
        out: list[Span] = []
        extra = self._extra_keys
        for span in spans:
            self.counts.seen += 1
            trace = span.trace_id
            if (
                trace in self._marked
                or marks_by_shape(span.scope, span.name, span.attributes, extra)
                or ((span.status_message or span.events) and self._has_agent_fields(span))
            ):
                self._pass(trace, span, out)
            else:
                self._hold(trace, (None, span.scope, span))
        return out

    # -- the buffer ---------------------------------------------------------------

    def _pass(self, trace: str, span: Span, out: list[Span]) -> None:
        if trace not in self._marked:
            self._marked[trace] = None
            if len(self._marked) > MAX_MARKED:
                self._marked.popitem(last=False)
            for resource, scope, held in self._held.pop(trace, ()):
                self._held_count -= 1
                out.append(held if resource is None else self._build(resource, scope, held))
                self.counts.passed += 1
        out.append(span)
        self.counts.passed += 1

    def _hold(self, trace: str, item: tuple[Any, str, Any]) -> None:
        held = self._held.get(trace)
        if held is None:
            held = self._held[trace] = []
        if len(held) >= MAX_HELD_PER_TRACE:
            self.counts.dropped += 1
            return
        held.append(item)
        self._held_count += 1
        while self._held_count > MAX_HELD:
            _, gone = self._held.popitem(last=False)
            self._held_count -= len(gone)
            self.counts.dropped += len(gone)

    def _build(self, resource: Any, scope: str, span: Any) -> Span:
        key = id(resource)
        attributes = self._resources.get(key)
        if attributes is None:
            attributes = self._resources[key] = resource_attributes(resource)
        return proto_span(span, attributes, scope)

    def _has_agent_fields(self, span: Span) -> bool:
        fields = fields_of(span, self._signals)
        return any(f in fields for f in AGENT_FIELDS)
