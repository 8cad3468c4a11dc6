"""The shared middle of every source: spans in, hits out.

Sources hand the pipeline either finished `Span` values (the SDK processor,
OTLP/JSON) or a decoded OTLP protobuf request. Span rules run at once on every
span, so their rows appear within a flush interval.

With trace or run rules loaded, every span is also held by an `Assembler` until
its trace (and run) closes; then those rules run, and every exception of the
trace, span-level ones included, is emitted again with the trace's spans as
evidence (rows are idempotent, so only the new evidence is written).

Without them, protobuf takes a fast path: the rule set's `Prefilter` skips
spans no rule can hit before any attribute value is decoded, only the keys
normalization and the rules read are decoded, and a full `Span` is built only
for spans that hit.

A `Pipeline` does no I/O and starts no thread; time comes from the `clock` it is
given, so callers (and tests) decide when traces close. One thread at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spansift import attrs
from spansift.model import Hit, Span, SpanRecord
from spansift.normalize import canonical_fields, fields_of
from spansift.sources.otlp_proto import count_spans, scan_request, spans_from_request
from spansift.traces import Assembler, AssemblyLimits, Group

if TYPE_CHECKING:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from spansift.rules import RuleSet

# Spans kept as evidence beside one exception of a run (a run can be long).
MAX_CONTEXT_SPANS = 500


@dataclass(slots=True)
class Counts:
    """Running totals of one pipeline, for summaries and `stats`."""

    spans: int = 0
    hits: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


class Pipeline:
    """Normalize spans, run span rules at once and trace/run rules when traces close."""

    def __init__(
        self,
        ruleset: RuleSet,
        *,
        limits: AssemblyLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ruleset = ruleset
        self.counts = Counts()
        self._clock = clock
        self._wanted = attrs.NORMALIZE_KEYS | ruleset.wanted_keys
        self._prefixes = attrs.NORMALIZE_PREFIXES
        needs_traces = bool(ruleset.trace_rules or ruleset.run_rules)
        self.assembler: Assembler | None = Assembler(limits) if needs_traces else None
        self._losses = (0, 0, 0)

    # -- input -----------------------------------------------------------------

    def spans(self, spans: Iterable[Span], tag: int | None = None) -> list[Hit]:
        """Hits for fully built spans (plus those of traces that closed meanwhile)."""
        hits: list[Hit] = []
        match = self.ruleset.match
        assembler = self.assembler
        now = self._clock()
        n = 0
        for span in spans:
            n += 1
            fields = fields_of(span)
            found = [Hit(m, span, fields) for m in match(fields)]
            hits.extend(found)
            if assembler is not None:
                assembler.add(SpanRecord(span, fields), found, now, tag)
        self._count(n, hits)
        return hits + self.flush(now)

    def request(self, request: ExportTraceServiceRequest, tag: int | None = None) -> list[Hit]:
        """Hits for a decoded OTLP protobuf request."""
        if self.assembler is not None:
            return self.spans(spans_from_request(request), tag)
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

    # -- closing traces and runs ---------------------------------------------------

    def flush(self, now: float | None = None, *, ended_roots: bool = False) -> list[Hit]:
        """Hits of the traces and runs that have closed by `now` (default: the clock).

        With `ended_roots`, a trace whose root span has ended closes without waiting
        for its quiet period (an explicit flush by the application).
        """
        assembler = self.assembler
        if assembler is None:
            return []
        now = self._clock() if now is None else now
        closed = assembler.closed_traces(now, ended_roots=ended_roots)
        return self._close(closed, now, lambda: assembler.closed_runs(now))

    def finish(self) -> list[Hit]:
        """Close every open trace and run (end of a backfill, shutdown) and return their hits."""
        assembler = self.assembler
        if assembler is None:
            return []
        return self._close(assembler.close_all_traces(), self._clock(), assembler.close_all_runs)

    def take_losses(self) -> tuple[str, int] | None:
        """What trace assembly gave up since the last call: (gap reason, spans lost), or None.

        Callers record it with `ExceptionLog.record_gap`, so a review can count evictions.
        """
        assembler = self.assembler
        if assembler is None:
            return None
        counters = assembler.counters
        now = (counters.traces_evicted, counters.runs_evicted, counters.spans_dropped)
        traces, runs, spans = (a - b for a, b in zip(now, self._losses, strict=True))
        self._losses = now
        if not (traces or runs or spans):
            return None
        reason = (
            f"trace assembly bounds: {traces} traces and {runs} runs evicted early, "
            f"{spans} spans over the per-trace limit not kept"
        )
        return reason, spans

    def oldest_open_tag(self) -> int | None:
        """The oldest source position (spool segment) an open trace still holds spans from."""
        return self.assembler.oldest_tag() if self.assembler is not None else None

    def _close(
        self, traces: list[Group], now: float, closed_runs: Callable[[], list[Group]]
    ) -> list[Hit]:
        """Evaluate closed traces, then the runs closed after they joined theirs."""
        assert self.assembler is not None
        again: list[Hit] = []
        new: list[Hit] = []
        for trace in traces:
            spans = tuple(r.span for r in trace.records)
            incomplete = trace.incomplete()
            # Span-level exceptions again, now with the whole trace as evidence.
            again.extend(
                Hit(h.match, h.span, h.fields, _context(spans, h.span), incomplete)
                for h in trace.span_hits
            )
            new.extend(self._evaluate(trace, "trace"))
            if self.ruleset.run_rules:
                run_key = _run_key(trace.records)
                if run_key is None:
                    new.extend(self._evaluate(trace, "run"))
                else:
                    self.assembler.join_run(trace, run_key, now)
        for run in closed_runs():
            new.extend(self._evaluate(run, "run"))
        self._count(0, new)
        return again + new

    def _evaluate(self, group: Group, scope: str) -> list[Hit]:
        spans = tuple(r.span for r in group.records)
        incomplete = group.incomplete()
        return [
            Hit(found, anchor.span, anchor.fields, _context(spans, anchor.span), incomplete)
            for found, anchor in self.ruleset.match_trace(group.records, scope)
        ]

    def _count(self, spans: int, hits: list[Hit]) -> None:
        counts = self.counts
        counts.spans += spans
        counts.hits += len(hits)
        for hit in hits:
            kind = hit.match.exception_type
            counts.by_type[kind] = counts.by_type.get(kind, 0) + 1


def _context(spans: tuple[Span, ...], anchor: Span) -> tuple[Span, ...]:
    """The other spans kept as evidence: the anchor's trace first, bounded."""
    same = [s for s in spans if s is not anchor and s.trace_id == anchor.trace_id]
    other = [s for s in spans if s.trace_id != anchor.trace_id]
    return tuple((same + other)[:MAX_CONTEXT_SPANS])


def _run_key(records: list[SpanRecord]) -> str | None:
    for record in records:
        session = record.fields.get("session.id")
        if isinstance(session, str) and session:
            return session
    return None
