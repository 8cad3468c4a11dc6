"""Helpers for the review loop tests: hits written through the real writer, a real server."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest

from spansift.decide.owners import load_owners, router
from spansift.model import Hit, Match, Severity, Span, SpanKind, StatusCode
from spansift.store.log import ExceptionLog

DAY_NS = 86_400 * 10**9
READY = re.compile(r"otlp http 127\.0\.0\.1:(\d+), .*; ready")


def hit(
    n: int,
    *,
    rule: str = "tool-failed",
    kind: str = "tool_error",
    workflow: str = "support",
    agent: str = "support-agent",
    tool: str = "refund_order",
    severity: Severity = Severity.MEDIUM,
    age_days: float = 1.0,
    owner: str | None = None,
) -> Hit:
    """A hit on span number `n`, `age_days` before now."""
    end_ns = time.time_ns() - int(age_days * DAY_NS)
    trace_id = hashlib.md5(f"t{n}".encode()).hexdigest()
    span_id = hashlib.md5(f"s{n}".encode()).hexdigest()[:16]
    span = Span(
        trace_id, span_id, None, f"execute_tool {tool}", SpanKind.INTERNAL, end_ns - 10**6,
        end_ns, StatusCode.ERROR, "failed", {"gen_ai.tool.name": tool},
    )  # fmt: skip
    match = Match(rule, kind, severity, "tool", f"{tool} failed in {agent}", owner=owner)
    fields = {"workflow": workflow, "agent.name": agent, "tool.name": tool}
    return Hit(match, span, fields)


def seed(db: Path, hits: Sequence[Hit], owners: Path | None = None) -> int:
    """Write hits through `ExceptionLog.write`, as the pipeline does (routing owners if given)."""
    with ExceptionLog(db) as log:
        if owners is not None:
            log.route_owner = router(load_owners(owners))
        return log.write(hits)


def rows(db: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def ids(db: Path, where: str = "true") -> list[str]:
    return [r[0] for r in rows(db, f"SELECT exception_id FROM exceptions WHERE {where} ORDER BY 1")]


class Serve:
    """A `spansift serve` subprocess on free ports, stopped at the end of the test."""

    def __init__(self, db: Path, cwd: Path, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("SPANSIFT_TOKEN", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spansift", "serve", "--db", str(db), "--grpc-port", "0",
             "--http-port", "0", *args],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        self.port = 0
        deadline = time.monotonic() + 30
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            found = READY.search(line)
            if found:
                self.port = int(found.group(1))
                return
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        pytest.fail("spansift serve did not become ready")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


def scenario(db: Path, owners: Path | None = None) -> None:
    """A week of activity: support grows without controls, billing regresses after a fix."""
    from click.testing import CliRunner

    from spansift.cli import main
    from spansift.model import Severity as S

    seed(db, [hit(1, age_days=6), hit(2, age_days=6, tool="search_docs")], owners)
    seed(db, [hit(n, age_days=1, severity=S.HIGH) for n in range(3, 7)], owners)
    override = hit(7, age_days=1, kind="human_override", rule="human-override", tool="edit")
    seed(db, [override], owners)
    seed(db, [hit(10, age_days=5, workflow="billing", tool="charge", owner="payments")], owners)
    CliRunner().invoke(
        main,
        ["resolve", "--workflow", "billing", "--by", "carol", "--resolution", "idempotency key",
         "--follow-up", "eval_case", "--db", str(db)],
    )  # fmt: skip
    seed(db, [hit(11, age_days=0, workflow="billing", tool="charge", owner="payments")], owners)
    seed(db, [hit(20, age_days=2, workflow="ops", agent="cron-agent", tool="shell")], owners)


class WebhookSink(ThreadingHTTPServer):
    """A local webhook target answering `fail_first` requests with 503, then 200.

    `fail_first` may be changed while it runs (a target that comes back up).
    """

    daemon_threads = True

    def __init__(self, fail_first: int) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.fail_first = fail_first
        self.requests: list[tuple[dict[str, str], Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def bodies(self, status: int = 200) -> list[Any]:
        """Bodies of the requests answered with `status`."""
        return [body for headers, body in self.requests if headers["x-answered"] == str(status)]


class _SinkHandler(BaseHTTPRequestHandler):
    server: WebhookSink

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        headers = {k.lower(): v for k, v in self.headers.items()}
        failing = len(self.server.requests) < self.server.fail_first
        headers["x-answered"] = "503" if failing else "200"
        headers.update(dict(self.headers))
        self.server.requests.append((headers, body))
        self.send_response(503 if failing else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def send_failed_tool(endpoint: str, tool: str, service: str = "shop") -> tuple[str, str]:
    """Send one failed `execute_tool` root span with the real OTLP/HTTP span exporter."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Status, StatusCode

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    with provider.get_tracer("t").start_as_current_span(f"execute_tool {tool}") as span:
        span.set_attribute("gen_ai.operation.name", "execute_tool")
        span.set_attribute("gen_ai.tool.name", tool)
        span.set_status(Status(StatusCode.ERROR, "gateway timed out"))
        context = span.get_span_context()
        ids = (f"{context.trace_id:032x}", f"{context.span_id:016x}")
    provider.shutdown()
    return ids
