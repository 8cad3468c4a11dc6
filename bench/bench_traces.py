"""Memory while many traces are open at once, and trace-rule cost per span.

Feeds the pipeline (default pack, trace and run rules on) `--traces` traces whose
roots have not ended, so all of them stay open and held, then reports the
process's resident memory before and after (VmRSS from /proc), the held spans,
and bytes per held span; then ends every root and closes all traces, reporting
the time per span of the whole assembly + evaluation. Measured in one run.

    python bench/bench_traces.py [--traces 10000] [--spans-per-trace 8]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).parent))
from _agent_spans import requests
from spansift.pipeline import Pipeline
from spansift.rules import load_ruleset
from spansift.sources.otlp_proto import count_spans


def rss_mib() -> float:
    for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=10_000)
    parser.add_argument("--spans-per-trace", type=int, default=8)
    args = parser.parse_args()

    # Requests holding `spans-per-trace` children of each 64-span trace and no root span,
    # so every trace stays open; serialized first so the spans are built by the pipeline.
    bodies: list[bytes] = []
    roots: list[bytes] = []
    kept: dict[bytes, int] = {}
    for request in requests(args.traces * 64):
        for scope in (ss for rs in request.resource_spans for ss in rs.scope_spans):
            spans = list(scope.spans)
            del scope.spans[:]
            root_request = ExportTraceServiceRequest()
            root_request.CopyFrom(request)
            for span in spans:
                if not span.parent_span_id:
                    root_request.resource_spans[0].scope_spans[0].spans.append(span)
                elif kept.get(span.trace_id, 0) < args.spans_per_trace:
                    kept[span.trace_id] = kept.get(span.trace_id, 0) + 1
                    scope.spans.append(span)
            roots.append(root_request.SerializeToString())
        bodies.append(request.SerializeToString())
    gc.collect()

    pipeline = Pipeline(load_ruleset(), clock=lambda: 0.0)
    before = rss_mib()
    start = time.perf_counter()
    n = 0
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        n += count_spans(request)
        pipeline.request(request)
    fed = time.perf_counter() - start
    gc.collect()
    after = rss_mib()
    assert pipeline.assembler is not None
    held = pipeline.assembler.held_spans
    print(
        f"open traces: {pipeline.assembler.open_traces:,}, held spans: {held:,}; "
        f"RSS {before:.0f} -> {after:.0f} MiB (+{after - before:.0f} MiB, "
        f"{(after - before) * 2**20 / max(held, 1):,.0f} bytes per held span)"
    )
    start = time.perf_counter()
    hits: list[object] = []
    for body in roots:
        request = ExportTraceServiceRequest.FromString(body)
        n += count_spans(request)
        hits += pipeline.request(request)
    hits += pipeline.finish()
    closed = time.perf_counter() - start
    print(
        f"assembly + rules: {(fed + closed) / n * 1e6:.1f} us/span over {n:,} spans; "
        f"{len(hits):,} hits; peak-open RSS {after:.0f} MiB"
    )


if __name__ == "__main__":
    main()
