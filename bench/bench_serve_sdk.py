"""`spansift serve` fed by real OTel SDK exporters: latency from a span's end to its row.

Sender processes each run an SDK `TracerProvider` with `BatchSpanProcessor` (200 ms
schedule delay) and the OTLP/HTTP protobuf exporter against a real `serve` (default
pack, loopback), ending agent traces at `--rate` spans a second in total for `--seconds`:
8 spans a trace (an `invoke_agent` root, `chat` and `execute_tool` children with GenAI
attributes, a conversation id each), one tool call in 20 failing. Run it at about half of
what `bench_serve.py` sustains to see latency below capacity.

Afterwards it reports the spans ended, the spans the server processed (the difference is
what the senders' SDK queues dropped), and, over every `tool_error` row, the time from the
failed span's end to its row being written (`detected_at - occurred_at`): p50, p99, max.
That includes the exporter's batching delay, the trace's quiet period and the commit.

    python bench/bench_serve_sdk.py [--rate 2000] [--seconds 20] [--senders 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_serve import Client, start_server, stop_server, wait_processed

SPANS_PER_TRACE = 8


def send(port: int, rate: float, seconds: float, index: int, done: Any) -> None:
    """One sender process: paced agent traces through the SDK's real exporter."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import Status, StatusCode

    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=30)
    provider = TracerProvider(resource=Resource({"service.name": f"agent-{index}"}))
    provider.add_span_processor(
        BatchSpanProcessor(exporter, schedule_delay_millis=200, max_queue_size=8192)
    )
    tracer = provider.get_tracer("bench-agent")
    error = Status(StatusCode.ERROR, "upstream timed out")
    per_s = rate / SPANS_PER_TRACE
    traces, calls, started = 0, 0, time.monotonic()
    while time.monotonic() - started < seconds:
        conversation = f"conv-{index}-{traces}"
        common = {"gen_ai.agent.name": "support-agent", "gen_ai.conversation.id": conversation}
        root = {**common, "gen_ai.operation.name": "invoke_agent"}
        with tracer.start_as_current_span("invoke_agent support-agent", attributes=root):
            for j in range(SPANS_PER_TRACE - 1):
                if j % 3 == 0:
                    attrs = {**common, "gen_ai.operation.name": "chat"}
                    attrs.update(
                        {"gen_ai.usage.input_tokens": 900, "gen_ai.usage.output_tokens": 60}
                    )
                    with tracer.start_as_current_span("chat gpt-5-mini", attributes=attrs):
                        pass
                    continue
                attrs = {**common, "gen_ai.operation.name": "execute_tool"}
                attrs.update({"gen_ai.tool.name": f"tool_{j}", "gen_ai.tool.call.id": f"c{j}"})
                with tracer.start_as_current_span(f"execute_tool tool_{j}", attributes=attrs) as s:
                    calls += 1
                    if calls % 20 == 3:
                        s.set_status(error)
        traces += 1
        time.sleep(max(0.0, traces / per_s - (time.monotonic() - started)))
    provider.force_flush(60_000)
    provider.shutdown()
    done.put(traces * SPANS_PER_TRACE)


_LATENCY_SQL = """
SELECT count(*), quantile_cont(x, 0.5), quantile_cont(x, 0.99), max(x) FROM (
    SELECT epoch(detected_at) - epoch(occurred_at) AS x FROM exceptions
    WHERE rule_id = 'tool_error')
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000.0, help="spans a second, in all")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--senders", type=int, default=2)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="spansift-bench-") as tmp:
        proc, port, _ = start_server(Path(tmp))
        try:
            done = context.Queue()
            senders = [
                context.Process(
                    target=send, args=(port, args.rate / args.senders, args.seconds, i, done)
                )
                for i in range(args.senders)
            ]
            for sender in senders:
                sender.start()
            ended = sum(done.get(timeout=args.seconds + 120) for _ in senders)
            for sender in senders:
                sender.join(30)
            # What the senders dropped never arrives (reported below): waiting gives up.
            with contextlib.suppress(RuntimeError):
                wait_processed(port, ended, 60)
            time.sleep(3.0)  # the last traces close once quiet
            client = Client(port)
            stats = client.get_json("/spansift/stats")
            _, body, _ = client.post(
                "/spansift/query", json.dumps({"sql": _LATENCY_SQL}).encode(), "application/json"
            )
            client.close()
            rows, p50, p99, worst = json.loads(body)["rows"][0]
        finally:
            stop_server(proc)
    processed = stats["spans_processed"]
    print(
        f"{args.senders} SDK senders, {args.rate:,.0f} spans/s for {args.seconds:g} s: "
        f"{ended:,} spans ended, {processed:,} processed ({ended - processed:,} lost before serve)"
    )
    print(
        f"span end -> row over {rows:,} tool_error rows: p50 {p50 * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {worst * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
