"""Skip what cannot hit: spans of traces that no agent touched never become `Span` values.

When every enabled rule needs an agent field (`RuleSet.agent_only`), a trace matters only
once one of its spans is *marked* (`normalize._markers`). The sifter passes on the spans
of marked traces and holds the others back: if a later span marks their trace, they are
passed on with it; if not, they leave the buffer unconverted and uncounted by the rules.

A request's bytes are looked at first (`BodyScan`, one pass): when nothing in them can
mark a trace and none of their traces is marked already, the request is held back as it
came, as bytes, after only reading its trace ids. A Collector fanning all traffic out to
the receiver then costs little more than parsing for the ordinary part of it. A request
that may mark is sorted span by span; its unmarked traces are held back as its bytes
too. Held bytes are bounded (`MAX_HELD_BYTES`); a trace marked later is cut out of the
requests that hold it. One thread at a time, like the pipeline.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spansift.model import AttrValue, Span
from spansift.normalize import fields_of
from spansift.normalize._markers import AGENT_FIELDS, SCOPES, BodyScan, ShapeTest
from spansift.sources.otlp_proto import proto_span, resource_attributes
from spansift.sources.sdk import as_spans, span_from_readable

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from spansift.model import Signal

MAX_HELD = 20_000  # unmarked spans held back one by one (in-process, JSON)
MAX_HELD_PER_TRACE = 256
MAX_HELD_BYTES = 32 << 20  # unmarked requests held back as bytes
MAX_MARKED = 100_000  # marked trace ids remembered

_TRACE_ID = attrgetter("trace_id")
_SCOPE_LOOK = 8  # spans of a scope from which one look at its bytes beats span by span


@dataclass(slots=True)
class SiftCounts:
    seen: int = 0  # spans offered
    passed: int = 0  # spans handed to the pipeline
    dropped: int = 0  # unmarked spans that left the buffer unconverted


@dataclass(slots=True)
class _HeldRequest:
    body: bytes
    spans: dict[str, int]  # its unmarked traces (hex id) -> how many spans each


@lru_cache(maxsize=8)
def _scan(extra_keys: frozenset[str]) -> BodyScan:
    return BodyScan(extra_keys)


class Sifter:
    """Passes the spans of marked traces; holds back the rest for a while (see module)."""

    def __init__(self, signals: Sequence[Signal] = ()) -> None:
        self._signals = signals
        self._extra_keys = frozenset(s.key for s in signals if getattr(s, "key", None))
        self._scan = _scan(self._extra_keys)
        self._shape = ShapeTest(self._extra_keys)
        self._marked: OrderedDict[str, None] = OrderedDict()
        # Spans not in request bytes (in-process, JSON): trace id -> its held spans.
        self._held: OrderedDict[str, list[Span | ReadableSpan]] = OrderedDict()
        self._held_count = 0
        # Requests held as bytes, oldest first, and which of them hold each trace.
        self._requests: OrderedDict[int, _HeldRequest] = OrderedDict()
        self._holding: dict[str, list[int]] = {}
        self._held_bytes = 0
        self._next = 0
        self._parsed: tuple[int, ExportTraceServiceRequest] | None = None
        self._resources: dict[int, tuple[Any, dict[str, AttrValue]]] = {}
        self.counts = SiftCounts()

    # -- protobuf requests ------------------------------------------------------

    def request(self, request: ExportTraceServiceRequest, body: bytes | None = None) -> list[Span]:
        """The spans of `request` (and earlier held ones) that belong to marked traces.

        `body` is the request serialized, when at hand: it allows the quick look.
        """
        self._resources = {}
        if body is not None and not self._scan.may_mark(body):
            counted: Counter[bytes] = Counter()
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    counted.update(map(_TRACE_ID, scope_spans.spans))
            spans = {trace.hex(): n for trace, n in counted.items()}
            if self._marked.keys().isdisjoint(spans):
                self.counts.seen += sum(spans.values())
                self._hold_request(body, spans)
                return []
            return self._sort(request, body, by_shape=False)
        return self._sort(request, body, by_shape=True)

    def _sort(
        self, request: ExportTraceServiceRequest, body: bytes | None, *, by_shape: bool
    ) -> list[Span]:
        """Span by span: pass marked traces' spans, hold the request for the rest."""
        out: list[Span] = []
        waiting: dict[str, list[tuple[Any, str, Any]]] = {}  # unmarked traces' spans here
        for resource_spans in request.resource_spans:
            resource = resource_spans.resource
            for scope_spans in resource_spans.scope_spans:
                scope = scope_spans.scope.name
                # A Collector batch groups spans by resource and scope: an ordinary
                # instrumentation's group is looked at as bytes once, not span by span.
                shaped = by_shape and (
                    scope in SCOPES
                    or len(scope_spans.spans) < _SCOPE_LOOK
                    or self._scan.may_mark(scope_spans.SerializeToString())
                )
                for span in scope_spans.spans:
                    self.counts.seen += 1
                    trace = span.trace_id.hex()
                    if trace in self._marked:
                        out.append(self._build(resource, scope, span))
                        self.counts.passed += 1
                        continue
                    if shaped:
                        if self._shape(scope, span.name, [kv.key for kv in span.attributes]):
                            self._pass(trace, self._build(resource, scope, span), out, waiting)
                            continue
                        if span.status.message or span.events:
                            built = self._build(resource, scope, span)
                            if self._has_agent_fields(built):
                                self._pass(trace, built, out, waiting)
                                continue
                    waiting.setdefault(trace, []).append((resource, scope, span))
        if waiting:
            held = body if body is not None else request.SerializeToString()
            self._hold_request(held, {trace: len(items) for trace, items in waiting.items()})
        return out

    # -- spans already built ------------------------------------------------------

    def spans(self, spans: Iterable[Span]) -> list[Span]:
        """The same for `Span` values (the in-process processor, OTLP/JSON files)."""
        out: list[Span] = []
        for span in spans:
            self.counts.seen += 1
            trace = span.trace_id
            if (
                trace in self._marked
                or self._shape(span.scope, span.name, span.attributes)
                or ((span.status_message or span.events) and self._has_agent_fields(span))
            ):
                self._pass(trace, span, out)
            else:
                self._hold(trace, span)
        return out

    def sdk_spans(self, spans: Iterable[ReadableSpan | Span]) -> list[Span]:
        """The same for finished SDK spans (the processor): converted only when they pass."""
        out: list[Span] = []
        for item in spans:
            if isinstance(item, Span):
                out += self.spans((item,))
                continue
            self.counts.seen += 1
            trace = f"{item.context.trace_id:032x}" if item.context is not None else ""
            scope = item.instrumentation_scope
            if trace in self._marked or self._shape(
                scope.name if scope is not None else "", item.name, item.attributes or ()
            ):
                self._pass(trace, span_from_readable(item), out)
            elif item.status.description or item.events:
                built = span_from_readable(item)
                if self._has_agent_fields(built):
                    self._pass(trace, built, out)
                else:
                    self._hold(trace, built)
            else:
                self._hold(trace, item)
        return out

    # -- marking and the buffers -------------------------------------------------------

    def _pass(
        self,
        trace: str,
        span: Span,
        out: list[Span],
        waiting: dict[str, list[tuple[Any, str, Any]]] | None = None,
    ) -> None:
        """Pass `span` on, first marking its trace and releasing what was held of it."""
        if trace not in self._marked:
            self._marked[trace] = None
            if len(self._marked) > MAX_MARKED:
                self._marked.popitem(last=False)
            held = self._held.pop(trace, [])
            self._held_count -= len(held)
            released = as_spans(held)
            released += self._release_requests(trace)
            if waiting is not None:
                released += (self._build(*item) for item in waiting.pop(trace, ()))
            out += released
            self.counts.passed += len(released)
        out.append(span)
        self.counts.passed += 1

    def _hold(self, trace: str, span: Span | ReadableSpan) -> None:
        held = self._held.get(trace)
        if held is None:
            held = self._held[trace] = []
        if len(held) >= MAX_HELD_PER_TRACE:
            self.counts.dropped += 1
            return
        held.append(span)
        self._held_count += 1
        while self._held_count > MAX_HELD:
            _, gone = self._held.popitem(last=False)
            self._held_count -= len(gone)
            self.counts.dropped += len(gone)

    def _hold_request(self, body: bytes, spans: dict[str, int]) -> None:
        number = self._next
        self._next += 1
        self._requests[number] = _HeldRequest(body, spans)
        self._held_bytes += len(body)
        holding = self._holding
        for trace in spans:
            numbers = holding.get(trace)
            if numbers is None:
                holding[trace] = [number]
            else:
                numbers.append(number)
        while self._held_bytes > MAX_HELD_BYTES:
            gone_number, gone = self._requests.popitem(last=False)
            self._forget(gone_number, gone)
            self.counts.dropped += sum(gone.spans.values())

    def _forget(self, number: int, held: _HeldRequest) -> None:
        self._held_bytes -= len(held.body)
        for trace in held.spans:
            numbers = self._holding.get(trace)
            if numbers is not None:
                numbers.remove(number)
                if not numbers:
                    del self._holding[trace]

    def _release_requests(self, trace: str) -> list[Span]:
        """The spans of `trace` cut out of the held requests that hold it, in arrival order."""
        numbers = self._holding.pop(trace, None)
        if numbers is None:
            return []
        wanted = bytes.fromhex(trace)
        out: list[Span] = []
        for number in numbers:
            held = self._requests[number]
            del held.spans[trace]
            if not held.spans:
                del self._requests[number]
                self._held_bytes -= len(held.body)
            request = self._parse(number, held.body)
            for resource_spans in request.resource_spans:
                resource = resource_spans.resource
                for scope_spans in resource_spans.scope_spans:
                    scope = scope_spans.scope.name
                    out += (
                        self._build(resource, scope, span)
                        for span in scope_spans.spans
                        if span.trace_id == wanted
                    )
        return out

    def _parse(self, number: int, body: bytes) -> ExportTraceServiceRequest:
        """A held request decoded (the last one is kept: its other traces may follow)."""
        if self._parsed is None or self._parsed[0] != number:
            self._parsed = (number, ExportTraceServiceRequest.FromString(body))
        return self._parsed[1]

    def _build(self, resource: Any, scope: str, span: Any) -> Span:
        # Keyed by identity, the resource kept alive beside its attributes so no other
        # message can take its id while the entry lives.
        found = self._resources.get(id(resource))
        if found is None:
            found = self._resources[id(resource)] = (resource, resource_attributes(resource))
        return proto_span(span, found[1], scope)

    def _has_agent_fields(self, span: Span) -> bool:
        fields = fields_of(span, self._signals)
        return any(f in fields for f in AGENT_FIELDS)
