"""Application-thread cost per span: spansift's processor vs. BatchSpanProcessor.

Both run on a real SDK `TracerProvider`; each span is `start_span` + `end` with ten
GenAI attributes, one in 20 an ERROR tool span. Configurations are measured
round-robin in one process (the machine is shared and noisy), many short
repeats each, and the medians are compared:

- SDK + BatchSpanProcessor with a no-op exporter (the baseline),
- SDK + spansift's ExceptionLogProcessor (default pack, DuckDB file),
- the same with the default pack's span rules only (no trace assembly).

Wall time includes waiting for the GIL while spansift's worker thread runs rules,
assembles traces and writes DuckDB; application-thread CPU does not. The worker wakes
when a quarter of its queue (2,048 spans) is full or each second, so bursts of the
default 2,000 spans leave its work to the flush between repeats; `--spans 6000` makes it
run inside the timed region, which shows its share of the GIL under sustained load.

The figure is CPU time of the application thread (`time.thread_time`) and wall
time, per span, and their ratio (target: spansift / BSP <= 1.2). Background work
is flushed between repeats, outside the timed region.

With `--rate N` it instead ends N spans a second for `--seconds` (in bursts every 10 ms,
as a busy agent fleet would) into spansift's processor alone, then flushes, and reports
the spans dropped (target: none at 2,000 spans/s) and the process CPU per span.

    python bench/bench_processor.py [--spans 2000] [--repeats 31]
    python bench/bench_processor.py --rate 2000 [--seconds 10]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Status, StatusCode

from spansift import ExceptionLogProcessor
from spansift.rules import RuleSet, load_ruleset


class NoopExporter(SpanExporter):
    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS


def _attributes(i: int) -> dict[str, str | int]:
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": f"tool_{i % 7}",
        "gen_ai.agent.name": "support-agent",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-5-mini",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 80,
        "gen_ai.tool.call.id": f"call_{i}",
        "gen_ai.conversation.id": "conv-1",
        "gen_ai.tool.description": "lorem ipsum " * 17,
    }


def run(provider: TracerProvider, n: int) -> tuple[float, float]:
    tracer = provider.get_tracer("bench")
    attrs = [_attributes(i) for i in range(n)]
    error = Status(StatusCode.ERROR, "upstream timed out")
    wall, cpu = time.perf_counter(), time.thread_time()
    for i in range(n):
        span = tracer.start_span("execute_tool", attributes=attrs[i])
        if i % 20 == 2:
            span.set_status(error)
        span.end()
    return (time.perf_counter() - wall) / n * 1e6, (time.thread_time() - cpu) / n * 1e6


def paced(rate: int, seconds: float) -> None:
    """End `rate` spans a second for `seconds` into the processor; report drops and CPU."""
    with tempfile.TemporaryDirectory() as tmp:
        processor = ExceptionLogProcessor(db=Path(tmp) / "paced.duckdb")
        provider = TracerProvider()
        provider.add_span_processor(processor)
        tracer = provider.get_tracer("bench")
        attrs = [_attributes(i) for i in range(rate)]
        error = Status(StatusCode.ERROR, "upstream timed out")
        per_tick, tick_s = max(1, rate // 100), 0.01
        sent, cpu, started = 0, time.process_time(), time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            for _ in range(per_tick):
                span = tracer.start_span("execute_tool", attributes=attrs[sent % rate])
                if sent % 20 == 2:
                    span.set_status(error)
                span.end()
                sent += 1
            time.sleep(max(0.0, (sent / per_tick) * tick_s - elapsed))
        achieved = sent / (time.monotonic() - started)
        processor.force_flush()
        cpu = time.process_time() - cpu
        provider.shutdown()
        print(
            f"paced {achieved:,.0f} spans/s for {seconds:g} s: {sent:,} ended, "
            f"{processor.dropped_spans:,} dropped; process CPU {cpu / sent * 1e6:.1f} us/span"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--rate", type=int, default=0, help="spans a second (paced mode)")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if args.rate:
        paced(args.rate, args.seconds)
        return

    with tempfile.TemporaryDirectory() as tmp:
        bsp_exporter = NoopExporter()
        bsp: SpanProcessor = BatchSpanProcessor(bsp_exporter, max_queue_size=8192)
        spansift = ExceptionLogProcessor(db=Path(tmp) / "bench.duckdb", max_queue_size=8192)
        pack = load_ruleset()
        span_rules = RuleSet([r for r in pack.all_rules if r.spec.scope == "span"])
        spans_only = ExceptionLogProcessor(
            db=Path(tmp) / "spans.duckdb", rules=span_rules, max_queue_size=8192
        )
        configs: dict[str, tuple[TracerProvider, SpanProcessor]] = {}
        for name, processor in (
            ("BatchSpanProcessor", bsp),
            ("spansift", spansift),
            ("spansift span rules", spans_only),
        ):
            provider = TracerProvider()
            provider.add_span_processor(processor)
            configs[name] = (provider, processor)

        results: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in configs}
        for provider, processor in configs.values():  # warm up
            run(provider, args.spans)
            processor.force_flush()
        for _ in range(args.repeats):
            for name, (provider, processor) in configs.items():
                wall, cpu = run(provider, args.spans)
                results[name][0].append(wall)
                results[name][1].append(cpu)
                processor.force_flush()

        median = {n: (statistics.median(w), statistics.median(c)) for n, (w, c) in results.items()}
        for name, (wall, cpu) in median.items():
            print(f"{name:>18}: {wall:6.1f} us/span wall, {cpu:6.1f} us/span app-thread CPU")
        base_wall, base_cpu = median["BatchSpanProcessor"]
        for name, processor in (("spansift", spansift), ("spansift span rules", spans_only)):
            wall, cpu = median[name]
            print(
                f"ratio {name}/BSP: wall {wall / base_wall:.2f}, app-thread CPU "
                f"{cpu / base_cpu:.2f} (target <= 1.2); dropped {processor.dropped_spans} spans"
            )
        for provider, _ in configs.values():
            provider.shutdown()


if __name__ == "__main__":
    main()
