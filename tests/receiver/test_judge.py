"""The judge process: killed under load it is started again, and no span is lost or doubled."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpExporter,
)
from opentelemetry.sdk.trace.export import SpanExportResult
from receiver_helpers import Server, post, query_rows, tool_error_spans, wait_for

from spansift.model import Event, Hit, Match, Severity, Span, SpanKind, SpanRecord, StatusCode
from spansift.receiver import RuleSource
from spansift.receiver._judge import EXIT_ON_ENV, JudgedPipeline, JudgeLostError, _Judge
from spansift.receiver._judge_wire import Outcome, pack, unpack
from spansift.receiver._spool import KIND_PROTOBUF
from spansift.rules import load_ruleset
from spansift.traces import AssemblyLimits

BATCHES = 24
SPANS_PER_BATCH = 15  # traces, each a failed tool call under an agent span: one row each


def _stats(server: Server) -> dict[str, Any]:
    status, _, body = post(f"{server.url}/spansift/stats", b"", method="GET")
    assert status == 200
    doc: dict[str, Any] = json.loads(body)
    return doc


def _failed_tool_spans(spans: list[Any]) -> set[tuple[str, str]]:
    return {
        (f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}")
        for s in spans
        if s.name.startswith("execute_tool")
    }


def test_a_killed_judge_is_restarted_and_every_row_arrives_exactly_once(
    make_server: Callable[..., Server],
) -> None:
    """SIGKILL of the judge mid-stream: serve starts another, replays, and writes each row once."""
    server = make_server("--judges", "1")
    first = _stats(server)["judge_pid"]
    assert first and first != server.proc.pid  # type: ignore[union-attr]
    http = HttpExporter(endpoint=f"{server.url}/v1/traces", timeout=20)
    grpc = GrpcExporter(endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True, timeout=20)
    expected: set[tuple[str, str]] = set()
    exported = threading.Event()

    def export() -> None:
        for n in range(BATCHES):
            spans = tool_error_spans(SPANS_PER_BATCH, f"j{n}")
            exporter = http if n % 2 else grpc
            assert exporter.export(spans) == SpanExportResult.SUCCESS
            expected.update(_failed_tool_spans(spans))
            if n == BATCHES // 3:
                exported.set()

    sender = threading.Thread(target=export)
    sender.start()
    exported.wait(30)
    wait_for(lambda: _stats(server)["spans_processed"] > 0, what="the judge to be working")
    os.kill(first, signal.SIGKILL)  # under load: batches in flight, more arriving
    sender.join(120)
    http.shutdown()
    grpc.shutdown()
    assert len(expected) == BATCHES * SPANS_PER_BATCH

    stats = wait_for(lambda: (s := _stats(server))["judge_starts"] == 2 and s, what="a restart")
    assert stats["judge_pid"] not in (None, first)
    assert "the judge process exited with code -9" in stats["last_error"]
    sql = "SELECT trace_id, span_id, count(*) AS n FROM exceptions GROUP BY ALL"
    rows = wait_for(
        lambda: (found := query_rows(server, sql)) and len(found) >= len(expected) and found,
        timeout_s=60, what="a row per failed span",
    )  # fmt: skip
    assert {(r["trace_id"], r["span_id"]) for r in rows} == expected
    assert {r["n"] for r in rows} == {1}, "no row written twice"
    stats = wait_for(lambda: (s := _stats(server))["spool_backlog_requests"] == 0 and s)
    assert stats["worker_alive"]
    assert stats["spool_backlog_bytes"] == 0, "a replayed record is not consumed twice"


def test_judges_0_judges_on_a_thread_of_the_receiver(make_server: Callable[..., Server]) -> None:
    """`--judges 0` starts no judge process and still writes the rows."""
    server = make_server("--judges", "0")
    spans = tool_error_spans(3, "inproc")
    exporter = HttpExporter(endpoint=f"{server.url}/v1/traces", timeout=10)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    exporter.shutdown()
    sql = "SELECT count(*) AS n FROM exceptions"
    wait_for(lambda: query_rows(server, sql) == [{"n": 3}], what="3 rows")
    stats = _stats(server)
    assert (stats["judge_pid"], stats["judge_starts"]) == (None, 0)


def _span(n: int, trace: str = "ab" * 16) -> Span:
    return Span(
        trace, f"{n:016x}", None, f"s{n}", SpanKind.INTERNAL, n, n + 1, StatusCode.ERROR, "boom",
        {"k": n, "t": ("a", 1.5)}, (Event("exception", n, {"exception.type": "E"}),),
        {"service.name": "svc"}, "scope",
    )  # fmt: skip


def test_a_packed_outcome_comes_back_equal_with_its_spans_shared() -> None:
    """Unpacking gives equal hits, and a span two hits show is one value again, not two."""
    spans = [_span(n) for n in range(4)]
    match = Match("tool_error", "tool_error", Severity.HIGH, "tool", "failed")
    hits = [
        Hit(match, spans[0], {"status": "error"}, tuple(spans[1:]), None, ""),
        Hit(match, spans[1], {"status": "error"}, (spans[0], spans[2]), "evicted", "call_1"),
    ]
    run_state = ([("run", "trace", "[]")], ["closed-run"])
    kept = [SpanRecord(spans[0], {"status": "error"}), SpanRecord(_span(9), {}, "call_2")]
    outcome = Outcome(hits, [(2, "bad")], 7, run_state, ("lost", 3), {}, 5, kept)
    back = unpack(pack(outcome))
    assert back == outcome
    assert back.hits[0].context[0] is back.hits[1].span
    assert back.hits[1].context[0] is back.hits[0].span
    assert back.kept[0].span is back.hits[0].span


def test_a_judge_that_loads_other_rules_refuses_to_run() -> None:
    """A judge whose rule files say something else than the receiver's rules does not start."""
    judged = JudgedPipeline(load_ruleset(), RuleSource(default_rules=False), AssemblyLimits())
    try:
        with pytest.raises(JudgeLostError, match="rule files changed"):
            judged.start()
    finally:
        judged.close(5.0)
    assert judged.pid is None


class _Clock:
    """The judge's clock, moved by hand: closing depends on time, not on this machine's load."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _failed_tool_request(tag: str) -> tuple[int, bytes, int]:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return KIND_PROTOBUF, encode_spans(tool_error_spans(1, tag)).SerializeToString(), 1


def _traces(outcome: Outcome) -> set[str]:
    return {hit.span.trace_id for hit in outcome.hits}


def test_the_judge_keeps_each_trace_quiet_for_its_whole_period_and_closes_in_steps() -> None:
    clock = _Clock()
    judge = _Judge(load_ruleset(), AssemblyLimits(quiet_s=0.5), keep=False, clock=clock)
    clock.now += 0.45
    assert judge.batch([_failed_tool_request("a")]).hits == []
    clock.now += 0.3  # a flush is due, but the trace has been quiet 0.3 s, not 0.5
    assert judge.batch([]).hits == []
    clock.now += 0.21  # quiet long enough, but the last flush was 0.21 s ago (steps of 0.25)
    assert judge.batch([]).hits == []
    clock.now += 0.05
    closed = judge.batch([_failed_tool_request("b")])
    assert {h.fields.get("service.name") for h in closed.hits} == {"svc-a"}
    assert {h.match.exception_type for h in closed.hits} == {"tool_error"}
    clock.now += 0.6  # idle: a tick closes what went quiet without waiting for a step
    ticked = judge.tick(ended_roots=False, forget=False)
    assert {h.fields.get("service.name") for h in ticked.hits} == {"svc-b"}


def test_a_request_that_kills_the_judge_is_quarantined_and_the_rest_flows(tmp_path: Path) -> None:
    """A request the judge dies on (twice) is set aside unjudged; nothing else is lost."""
    marker = "kills-the-judge-7f3a"
    server = Server(tmp_path / "log.duckdb", tmp_path, ("--judges", "1"), env={EXIT_ON_ENV: marker})
    server.start()
    try:
        http = HttpExporter(endpoint=f"{server.url}/v1/traces", timeout=20)
        before, poison, after = (tool_error_spans(4, tag) for tag in ("before", marker, "after"))
        for spans in (before, poison, after):
            assert http.export(spans) == SpanExportResult.SUCCESS  # each acknowledged
        http.shutdown()
        expected = _failed_tool_spans(before) | _failed_tool_spans(after)
        sql = "SELECT trace_id, span_id FROM exceptions"
        rows = wait_for(
            lambda: (found := query_rows(server, sql)) and len(found) >= len(expected) and found,
            timeout_s=60, what="the rows of the requests around the poison one",
        )  # fmt: skip
        assert {(r["trace_id"], r["span_id"]) for r in rows} == expected
        [set_aside] = query_rows(server, "SELECT reason, payload_bytes FROM quarantine")
        assert "the judge process died on it twice" in set_aside["reason"]
        assert set_aside["payload_bytes"] > 0
        stats = wait_for(lambda: (s := _stats(server))["spool_backlog_requests"] == 0 and s)
        assert stats["judge_starts"] == 3 and stats["worker_alive"]
        more = tool_error_spans(2, "later")  # and the receiver goes on as before
        exporter = HttpExporter(endpoint=f"{server.url}/v1/traces", timeout=20)
        assert exporter.export(more) == SpanExportResult.SUCCESS
        exporter.shutdown()
        later = _failed_tool_spans(more)
        wait_for(
            lambda: {(r["trace_id"], r["span_id"]) for r in query_rows(server, sql)} >= later,
            timeout_s=30, what="rows after the poison request",
        )  # fmt: skip
    finally:
        server.kill()
