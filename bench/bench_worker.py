"""The in-process processor's worker: CPU per finished SDK span, by workload.

The application thread only queues spans (`bench_processor.py` measures it against
BatchSpanProcessor); the worker thread then does the work, on the application's CPU.
This measures that work: the same agent-only, ordinary-only and mixed workloads as
`bench_core.py`, turned into finished SDK spans (`ReadableSpan`, outside the measure),
go through `Driver.sdk_spans` as the processor hands them over (batches of 512, wall
clock), and every trace is closed and written to a fresh DuckDB file at the end.

CPU time (`time.process_time`) per span is the figure; the target for spans no rule can
hit (the ordinary workload) is 20 µs.

    python bench/bench_worker.py [--spans 20000] [--repeats 3] [--workload all]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

sys.path.insert(0, str(Path(__file__).parent))
from bench_core import WORKLOADS, arguments
from spansift.drive import Driver
from spansift.rules import RuleSet, load_ruleset
from spansift.store.log import ExceptionLog

BATCH = 512  # the processor's batch


def _value(value: AnyValue) -> Any:
    return getattr(value, value.WhichOneof("value") or "string_value")


def _context(trace_id: bytes, span_id: bytes) -> SpanContext:
    return SpanContext(
        int.from_bytes(trace_id, "big"), int.from_bytes(span_id, "big"), False, TraceFlags(1)
    )


def _readable(
    span: trace_pb2.Span, resource: Resource, scope: InstrumentationScope
) -> ReadableSpan:
    return ReadableSpan(
        name=span.name,
        context=_context(span.trace_id, span.span_id),
        parent=_context(span.trace_id, span.parent_span_id) if span.parent_span_id else None,
        resource=resource,
        attributes={kv.key: _value(kv.value) for kv in span.attributes},
        events=[
            Event(e.name, {kv.key: _value(kv.value) for kv in e.attributes}, e.time_unix_nano)
            for e in span.events
        ],
        kind=SpanKind(max(span.kind - 1, 0)),
        status=Status(StatusCode(span.status.code), span.status.message or None),
        start_time=span.start_time_unix_nano,
        end_time=span.end_time_unix_nano,
        instrumentation_scope=scope,
    )


def finished_spans(workload: str, total: int) -> list[ReadableSpan]:
    out = []
    for request in WORKLOADS[workload](total):
        for resource_spans in request.resource_spans:
            resource = Resource(
                {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
            )
            for scope_spans in resource_spans.scope_spans:
                scope = InstrumentationScope(scope_spans.scope.name)
                out += (_readable(s, resource, scope) for s in scope_spans.spans)
    return out


def worker(spans: list[ReadableSpan], ruleset: RuleSet, log: ExceptionLog) -> int:
    driver = Driver(ruleset, log, source="processor")
    for at in range(0, len(spans), BATCH):
        driver.sdk_spans(spans[at : at + BATCH])
        driver.tick()
    driver.finish()
    driver.commit()
    return driver.done.hits


def main() -> None:
    args, names = arguments(__doc__.splitlines()[0], 20_000)
    ruleset = load_ruleset()
    print(f"{args.spans:,} finished SDK spans per workload, {args.repeats} rounds, CPU time")
    print(f"{'workload':<10} {'worker µs/span':>15} {'hits':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            spans = finished_spans(name, args.spans)
            seconds, hits = [], 0
            for n in range(args.repeats):
                with ExceptionLog(Path(tmp) / f"{name}-{n}.duckdb") as log:
                    start = time.process_time()
                    hits = worker(spans, ruleset, log)
                    seconds.append(time.process_time() - start)
            per_span = statistics.median(seconds) / len(spans) * 1e6
            print(f"{name:<10} {per_span:>15.1f} {hits:>7}")


if __name__ == "__main__":
    main()
