"""The shared middle of every source: spans in, hits out.

Sources hand the pipeline either finished `Span` values (the SDK processor,
OTLP/JSON) or a decoded OTLP protobuf request. For protobuf the pipeline takes a
fast path: it decodes only the attribute keys that normalization and the loaded
rules read, and builds a full `Span` only for spans that hit.

The rule set's `Prefilter` (what any rule needs to see on a span) lets the fast
path skip most clean spans before decoding a single attribute value.

A `Pipeline` is pure computation: no I/O, no clock, no threads. The caller
decides where hits go (DuckDB, an in-memory list in tests).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spansift import attrs
from spansift.model import Hit, Span
from spansift.normalize import canonical_fields, fields_of
from spansift.sources.otlp_proto import count_spans, scan_request

if TYPE_CHECKING:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from spansift.rules import RuleSet


@dataclass(slots=True)
class Counts:
    """Running totals of one pipeline, for summaries and `stats`."""

    spans: int = 0
    hits: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


class Pipeline:
    """Normalize spans and run the span rules of a `RuleSet` over them."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.counts = Counts()
        self._wanted = attrs.NORMALIZE_KEYS | ruleset.wanted_keys
        self._prefixes = attrs.NORMALIZE_PREFIXES

    def spans(self, spans: Iterable[Span]) -> list[Hit]:
        """Hits for fully built spans."""
        hits: list[Hit] = []
        match = self.ruleset.match
        n = 0
        for span in spans:
            n += 1
            fields = fields_of(span)
            for found in match(fields):
                hits.append(Hit(found, span, fields))
        self._count(n, hits)
        return hits

    def request(self, request: ExportTraceServiceRequest) -> list[Hit]:
        """Hits for a decoded OTLP protobuf request, decoding only what rules read."""
        hits: list[Hit] = []
        match = self.ruleset.match
        views = scan_request(request, self._wanted, self._prefixes, self.ruleset.prefilter)
        for view in views:
            fields = canonical_fields(
                name=view.name,
                status=view.status,
                status_message=view.status_message,
                attributes=view.attributes,
                resource=view.resource,
                events=view.events,
                duration_ns=view.duration_ns,
            )
            found = match(fields)
            if found:
                span = view.build()
                hits.extend(Hit(m, span, fields) for m in found)
        self._count(count_spans(request), hits)
        return hits

    def _count(self, spans: int, hits: list[Hit]) -> None:
        counts = self.counts
        counts.spans += spans
        counts.hits += len(hits)
        for hit in hits:
            kind = hit.match.exception_type
            counts.by_type[kind] = counts.by_type.get(kind, 0) + 1
