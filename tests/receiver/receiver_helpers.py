"""Helpers for the receiver tests: a `spansift serve` subprocess, spans, the CLI, urllib."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

READY = re.compile(r"otlp grpc 127\.0\.0\.1:(\d+), otlp http 127\.0\.0\.1:(\d+), .*; ready")
START_TIMEOUT_S = 20.0
# Content types of OTLP/HTTP requests, and the gRPC method of a trace export.
PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def wait_for(check: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout_s} s waiting for {what}"
            raise AssertionError(msg)
        time.sleep(0.02)


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPANSIFT_", "OTEL_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class Server:
    """One `spansift serve` process on free ports, talking to `db`."""

    db: Path
    workdir: Path
    args: Sequence[str] = ()
    proc: subprocess.Popen[bytes] | None = None
    grpc_port: int = 0
    http_port: int = 0
    runs: int = 0
    out_path: Path = field(default_factory=Path)
    env: Mapping[str, str] = field(default_factory=dict)  # set for serve, on top of ours

    def start(self) -> Server:
        self.runs += 1
        self.out_path = self.workdir / f"serve-{self.runs}.out"
        with self.out_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "spansift", "serve", "--db", str(self.db),
                 "--grpc-port", "0", "--http-port", "0", *self.args],
                stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir, env=_env(self.env),
            )  # fmt: skip
        found = wait_for(self._ready, START_TIMEOUT_S, "the ready line")
        self.grpc_port, self.http_port = int(found.group(1)), int(found.group(2))
        return self

    def _ready(self) -> re.Match[str] | None:
        assert self.proc is not None
        text = self.output()
        if self.proc.poll() is not None:
            msg = f"serve exited with {self.proc.returncode}:\n{text}"
            raise AssertionError(msg)
        return READY.search(text)

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout_s: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout_s)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


def spansift(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess (the receiver holds the file, so no in-process reads)."""
    result = subprocess.run(
        [sys.executable, "-m", "spansift", *args],
        capture_output=True, text=True, cwd=cwd, env=_env(), timeout=60, check=False,
    )  # fmt: skip
    if check and result.returncode != 0:
        msg = f"spansift {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
        raise AssertionError(msg)
    return result


def query_rows(server: Server, sql: str) -> list[dict[str, Any]]:
    """Rows of `spansift query --format json` against the server's database."""
    out = spansift("query", "--db", str(server.db), "--format", "jsonl", sql, cwd=server.workdir)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def count_exceptions(server: Server, trace_ids: Sequence[str]) -> int:
    ids = ", ".join(f"'{t}'" for t in trace_ids)
    rows = query_rows(server, f"SELECT count(*) AS n FROM exceptions WHERE trace_id IN ({ids})")
    return int(rows[0]["n"])


def post(
    url: str, body: bytes, headers: dict[str, str] | None = None, method: str = "POST"
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request with urllib; returns status, headers and body, errors included."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def tool_error_spans(count: int, tag: str) -> list[Any]:
    """`count` finished SDK spans, each a failed `execute_tool` span (hits `tool_error`)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Status, StatusCode

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": f"svc-{tag}"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("receiver-tests")
    for i in range(count):
        with tracer.start_as_current_span("invoke_agent support") as root:
            root.set_attribute("gen_ai.operation.name", "invoke_agent")
            root.set_attribute("gen_ai.agent.name", "support")
            with tracer.start_as_current_span(f"execute_tool get_order_{i}") as span:
                span.set_attribute("gen_ai.operation.name", "execute_tool")
                span.set_attribute("gen_ai.tool.name", f"get_order_{tag}")
                span.set_status(Status(StatusCode.ERROR, "TimeoutError: backend did not answer"))
    spans = list(memory.get_finished_spans())
    provider.shutdown()
    return spans


def trace_ids(spans: Sequence[Any]) -> list[str]:
    return sorted({f"{s.context.trace_id:032x}" for s in spans})


def otlp_json(trace_id: str, span_id: str, tool: str = "get_order") -> bytes:
    """One failed tool span as an OTLP/JSON request (upper-case hex, as the spec example)."""
    doc = {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "j"}}]},
            "scopeSpans": [{"spans": [{
                "traceId": trace_id.upper(), "spanId": span_id.upper(),
                "name": f"execute_tool {tool}", "kind": 1,
                "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": 1700000001000000000,
                "status": {"code": 2, "message": "TimeoutError: boom"},
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}},
                    {"key": "gen_ai.tool.name", "value": {"stringValue": tool}},
                ],
            }]}],
        }]
    }  # fmt: skip
    return json.dumps(doc).encode()


def protobuf_body(spans: Sequence[Any]) -> bytes:
    """Serialized `ExportTraceServiceRequest` of SDK spans, as the exporters build it."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    body: bytes = encode_spans(spans).SerializeToString()
    return body
