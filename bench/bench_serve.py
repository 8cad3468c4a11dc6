"""Benchmark `spansift serve` over loopback: throughput, memory and freshness.

    .venv/bin/python bench/bench_serve.py [--seconds 15] [--long-seconds 30] [--senders 4]
                                          [--judges 0 --judges 1]

Starts `python -m spansift serve` (default rule pack) on free ports in a temp
folder, once per `--judges` value (in-process, then a judge process, by default),
and measures, in one run of each:

- parse-only ceiling: `ExportTraceServiceRequest.ParseFromString` of the same bodies;
- sustained spans/s end to end: several senders POST pre-serialized 512-span
  protobuf requests over keep-alive connections; the clock stops when the
  server reports every span processed and its hits committed;
- ratio of the two (target >= 0.10);
- server memory: VmHWM and VmRSS from /proc after the first run and after a
  longer one (bounded memory means the second is not much larger);
- freshness: time from an export returning until its exception is returned by
  the query endpoint `spansift query` uses, idle and under load (medians).

Only talks to 127.0.0.1; every loop is bounded by time; the server is stopped
with SIGTERM (SIGKILL if it does not exit).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1 import trace_pb2

SPANS_PER_REQUEST = 512
SPANS_PER_TRACE = 64
READY = re.compile(r"otlp grpc [^ ]+:(\d+), otlp http [^ ]+:(\d+), .*; ready")


def _kv(span: Any, key: str, value: str | int) -> None:
    kv = span.attributes.add()
    kv.key = key
    if isinstance(value, int):
        kv.value.int_value = value
    else:
        kv.value.string_value = value


def make_body(rng: random.Random, error_every: int = 20) -> bytes:
    """One 512-span request: traces of 64 spans (an agent root plus tool calls), 1 in 20 failing."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    for key, value in (("service.name", "support-agent"), ("deployment.environment", "bench"),
                       ("service.version", "1.4.2"), ("host.name", "bench-host"),
                       ("process.pid", "4242"), ("telemetry.sdk.name", "opentelemetry"),
                       ("telemetry.sdk.language", "python")):  # fmt: skip
        kv = rs.resource.attributes.add()
        kv.key, kv.value.string_value = key, value
    scope = rs.scope_spans.add()
    scope.scope.name = "bench.agent"
    now = time.time_ns()
    for t in range(SPANS_PER_REQUEST // SPANS_PER_TRACE):
        trace_id = rng.randbytes(16)
        root_id = rng.randbytes(8)
        for i in range(SPANS_PER_TRACE):
            span = scope.spans.add()
            span.trace_id = trace_id
            span.span_id = root_id if i == 0 else rng.randbytes(8)
            span.start_time_unix_nano = now + i * 1000
            span.end_time_unix_nano = now + i * 1000 + 500_000
            if i == 0:
                span.name = "invoke_agent support"
                span.kind = 1
                _kv(span, "gen_ai.operation.name", "invoke_agent")
                _kv(span, "gen_ai.agent.name", "support")
                continue
            span.parent_span_id = root_id
            tool = ("search_docs", "get_order", "refund_order")[i % 3]
            span.name = f"execute_tool {tool}"
            span.kind = 1
            _kv(span, "gen_ai.operation.name", "execute_tool")
            _kv(span, "gen_ai.tool.name", tool)
            _kv(span, "gen_ai.agent.name", "support")
            _kv(span, "gen_ai.provider.name", "openai")
            _kv(span, "gen_ai.request.model", "gpt-4o")
            _kv(span, "gen_ai.usage.input_tokens", 812)
            _kv(span, "gen_ai.usage.output_tokens", 64)
            _kv(span, "gen_ai.tool.call.id", f"call_{t}_{i}")
            _kv(span, "gen_ai.conversation.id", f"conv-{t}")
            _kv(span, "app.note", "x" * 200)
            if (t * SPANS_PER_TRACE + i) % error_every == 0:
                span.status.code = 2
                span.status.message = "TimeoutError: backend did not answer"
                event = span.events.add()
                event.name = "exception"
                event.time_unix_nano = span.end_time_unix_nano
                for key, value in (("exception.type", "TimeoutError"),
                                   ("exception.message", "backend did not answer"),
                                   ("exception.stacktrace", "Traceback ...\n" * 60)):  # fmt: skip
                    kv = event.attributes.add()
                    kv.key, kv.value.string_value = key, value
    body: bytes = request.SerializeToString()
    return body


def probe_body(tag: str) -> tuple[bytes, str]:
    """A one-span request that hits `tool_error`, with a fresh trace id to look for."""
    rng = random.Random(tag)
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = rng.randbytes(16)
    span.span_id = rng.randbytes(8)
    span.name = "execute_tool get_order"
    span.start_time_unix_nano = time.time_ns()
    span.end_time_unix_nano = span.start_time_unix_nano + 1000
    span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
    _kv(span, "gen_ai.operation.name", "execute_tool")
    _kv(span, "gen_ai.tool.name", "get_order")
    return request.SerializeToString(), span.trace_id.hex()


class Client:
    """One keep-alive HTTP connection to the server."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes, str | None]:
        self.conn.request("POST", path, body, {"Content-Type": content_type})
        response = self.conn.getresponse()
        data = response.read()
        return response.status, data, response.getheader("Retry-After")

    def get_json(self, path: str) -> Any:
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        return json.loads(response.read())

    def close(self) -> None:
        self.conn.close()


def parse_only(bodies: list[bytes], seconds: float) -> float:
    spans = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for body in bodies:
            ExportTraceServiceRequest.FromString(body)
            spans += SPANS_PER_REQUEST
    return spans / (time.perf_counter() - started)


def load(port: int, bodies: list[bytes], senders: int, seconds: float) -> dict[str, Any]:
    """Send for `seconds` from `senders` threads; count acknowledged spans and 503s."""
    acked = [0] * senders
    busy = [0] * senders
    stop_at = time.monotonic() + seconds

    def send(n: int) -> None:
        client = Client(port)
        i = n
        try:
            while time.monotonic() < stop_at:
                status, _, retry_after = client.post(
                    "/v1/traces", bodies[i % len(bodies)], "application/x-protobuf"
                )
                if status == 200:
                    acked[n] += SPANS_PER_REQUEST
                    i += senders
                elif status == 503:
                    busy[n] += 1
                    time.sleep(min(float(retry_after or 1), 0.2))
                else:
                    msg = f"unexpected status {status}"
                    raise RuntimeError(msg)
        finally:
            client.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    return {"acked_spans": sum(acked), "busy_503": sum(busy)}


def wait_processed(port: int, spans: int, timeout_s: float) -> float:
    """Seconds until the server's `spans_processed` reaches `spans` and its backlog is empty."""
    client = Client(port)
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout_s:
            stats = client.get_json("/spansift/stats")
            if stats["spans_processed"] >= spans and stats["spool_backlog_requests"] == 0:
                return time.monotonic() - started
            time.sleep(0.01)
    finally:
        client.close()
    msg = f"server did not process {spans} spans within {timeout_s} s"
    raise RuntimeError(msg)


def freshness(port: int, tag: str, timeout_s: float = 10.0) -> float:
    """Seconds from an export's 200 until its exception is returned by the query endpoint."""
    body, trace_id = probe_body(tag)
    client = Client(port)
    try:
        status, _, _ = client.post("/v1/traces", body, "application/x-protobuf")
        while status == 503:  # under load the probe queues like any other request
            time.sleep(0.05)
            status, _, _ = client.post("/v1/traces", body, "application/x-protobuf")
        assert status == 200, status
        returned = time.monotonic()
        query = json.dumps(
            {"sql": "SELECT count(*) FROM exceptions WHERE trace_id = ?", "params": [trace_id]}
        ).encode()
        while time.monotonic() - returned < timeout_s:
            _, data, _ = client.post("/spansift/query", query, "application/json")
            if json.loads(data)["rows"][0][0]:
                return time.monotonic() - returned
            time.sleep(0.005)
    finally:
        client.close()
    msg = f"probe {tag} not visible after {timeout_s} s"
    raise RuntimeError(msg)


def memory(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0]) // 1024
    return fields


def start_server(
    workdir: Path, rules: list[str] | None = None, judges: int | None = None
) -> tuple[subprocess.Popen[bytes], int, Path]:
    """`spansift serve` on free ports (`judges`: its `--judges`, None for the default)."""
    out = workdir / "serve.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPANSIFT_")}
    with out.open("wb") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "spansift", "serve", "--db", str(workdir / "bench.duckdb"),
             "--grpc-port", "0", "--http-port", "0",
             *(arg for path in rules or () for arg in ("--rules", path)),
             *(("--no-default-rules",) if rules else ()),
             *(("--judges", str(judges)) if judges is not None else ())],
            stdout=f, stderr=subprocess.STDOUT, cwd=workdir, env=env,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = READY.search(out.read_text())
        if found:
            return proc, int(found.group(2)), out
        if proc.poll() is not None:
            msg = f"serve exited: {out.read_text()}"
            raise RuntimeError(msg)
        time.sleep(0.05)
    proc.kill()
    msg = "serve did not become ready"
    raise RuntimeError(msg)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within a minute."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--long-seconds", type=float, default=30.0)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--bodies", type=int, default=32)
    parser.add_argument("--probes", type=int, default=7)
    parser.add_argument(
        "--rules", action="append", help="rule folder or file to serve instead of the built-in pack"
    )
    parser.add_argument(
        "--judges", type=int, action="append",
        help="serve --judges values to measure one after the other [default: 0 and 1]",
    )  # fmt: skip
    args = parser.parse_args()

    rng = random.Random(7)
    bodies = [make_body(rng) for _ in range(args.bodies)]
    size = sum(map(len, bodies)) / len(bodies)
    print(f"requests: {SPANS_PER_REQUEST} spans, {size / 1024:.0f} KiB, {args.bodies} distinct")
    for judges in args.judges or [0, 1]:
        print(f"-- serve --judges {judges}")
        measure(args, bodies, judges)


def measure(args: argparse.Namespace, bodies: list[bytes], judges: int) -> None:
    """One server, one full round of the measurements, printed."""
    with tempfile.TemporaryDirectory(prefix="spansift-bench-") as tmp:
        proc, port, _ = start_server(Path(tmp), args.rules, judges)
        try:
            ceiling = parse_only(bodies, 3.0)
            idle = [freshness(port, f"idle-{i}") for i in range(args.probes)]

            started = time.monotonic()
            sent = load(port, bodies, args.senders, args.seconds)
            drain = wait_processed(port, sent["acked_spans"], 120)
            elapsed = time.monotonic() - started
            sustained = sent["acked_spans"] / elapsed
            mem_short = memory(proc.pid)
            ceiling_after = parse_only(bodies, 3.0)
            ceiling = (ceiling + ceiling_after) / 2

            loaded: list[float] = []
            runner = threading.Thread(
                target=lambda: sent.update(long=load(port, bodies, args.senders, args.long_seconds))
            )
            long_started = time.monotonic()
            runner.start()
            time.sleep(min(3.0, args.long_seconds / 4))  # let the load reach steady state
            for i in range(args.probes):
                if not runner.is_alive():
                    break
                loaded.append(freshness(port, f"load-{i}"))
                time.sleep(0.5)
            runner.join(args.long_seconds + 120)
            wait_processed(port, sent["acked_spans"] + sent["long"]["acked_spans"], 120)
            long_sustained = sent["long"]["acked_spans"] / (time.monotonic() - long_started)
            mem_long = memory(proc.pid)
            stats = Client(port).get_json("/spansift/stats")
            judge_mem = memory(stats["judge_pid"]) if stats.get("judge_pid") else None
        finally:
            stop_server(proc)

    print(f"parse-only ceiling (ParseFromString): {ceiling:,.0f} spans/s")
    print(
        f"serve, HTTP protobuf, {args.senders} senders, {args.seconds:.0f} s: "
        f"{sent['acked_spans']:,} spans acked, drained {drain:.2f} s after the last send; "
        f"sustained {sustained:,.0f} spans/s end to end ({sent['busy_503']} x 503)"
    )
    print(f"ratio serve / parse-only: {sustained / ceiling:.3f} (target >= 0.10)")
    print(
        f"server memory: after {args.seconds:.0f} s VmHWM {mem_short['VmHWM']} MiB, "
        f"VmRSS {mem_short['VmRSS']} MiB; after a further {args.long_seconds:.0f} s "
        f"({sent['long']['acked_spans']:,} spans) VmHWM {mem_long['VmHWM']} MiB, "
        f"VmRSS {mem_long['VmRSS']} MiB"
        + (f"; judge process VmHWM {judge_mem['VmHWM']} MiB" if judge_mem else "")
    )
    print(
        f"sustained over the further {args.long_seconds:.0f} s (probes included): "
        f"{long_sustained:,.0f} spans/s"
    )
    print(
        f"freshness idle: median {statistics.median(idle) * 1000:.0f} ms "
        f"(min {min(idle) * 1000:.0f}, max {max(idle) * 1000:.0f}, n={len(idle)}; target <= 1000)"
    )
    if loaded:
        print(
            f"freshness under load: median {statistics.median(loaded) * 1000:.0f} ms "
            f"(min {min(loaded) * 1000:.0f}, max {max(loaded) * 1000:.0f}, n={len(loaded)}; "
            "target <= 2000)"
        )
    print(
        f"server totals: {stats['spans_processed']:,} spans processed, "
        f"{stats['exceptions_written']:,} exceptions written, "
        f"rejected {stats['requests_rejected'] or 'none'}"
    )


if __name__ == "__main__":
    main()
