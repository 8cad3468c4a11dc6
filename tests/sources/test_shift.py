"""`ingest --shift-to-now` moves JSON and protobuf input alike and keeps the exception ids."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from spansift.cli import main

OTLP = Path(__file__).parents[1] / "fixtures" / "otlp"


def _rows(db: Path) -> list[tuple[str, datetime]]:
    with duckdb.connect(str(db), read_only=True) as con:
        found = con.execute("SELECT exception_id, occurred_at FROM exceptions ORDER BY 1")
        return [(str(i), t) for i, t in found.fetchall()]


@pytest.mark.parametrize("name", ["agent_trace.json", "agent_trace.pb", "agent_trace.pb.gz"])
def test_shifted_rows_end_now_with_the_same_ids(name: str, tmp_path: Path) -> None:
    """The newest exception lands within a minute of now; ids equal those of the plain ingest;
    the gaps between exceptions are kept."""
    runner = CliRunner()
    plain, moved = tmp_path / "plain.duckdb", tmp_path / "moved.duckdb"
    assert runner.invoke(main, ["ingest", str(OTLP / name), "--db", str(plain)]).exit_code == 0
    args = ["ingest", "--shift-to-now", str(OTLP / name), "--db", str(moved)]
    assert runner.invoke(main, args).exit_code == 0
    before, after = _rows(plain), _rows(moved)
    assert before
    assert [i for i, _ in before] == [i for i, _ in after]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert now - max(t for _, t in after) < timedelta(minutes=1)
    shifts = {a - b for (_, a), (_, b) in zip(after, before, strict=True)}
    assert len(shifts) == 1


def _request(span: Span) -> bytes:
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    )
    return request.SerializeToString()


def test_a_span_held_before_its_trace_is_marked_is_shifted_too(tmp_path: Path) -> None:
    """An HTTP child read before the failed tool call that marks its trace is held as the
    request it came in; with --shift-to-now its evidence times move like the rest."""

    def kv(key: str, value: str) -> KeyValue:
        return KeyValue(key=key, value=AnyValue(string_value=value))

    trace, tool_id = bytes(range(16)), bytes(range(8))
    start = 1_600_000_000_000_000_000  # September 2020
    http = Span(
        trace_id=trace, span_id=bytes(range(8, 16)), parent_span_id=tool_id, name="POST",
        start_time_unix_nano=start + 1_000_000, end_time_unix_nano=start + 2_000_000,
        attributes=[kv("http.request.method", "POST")],
    )  # fmt: skip
    tool = Span(
        trace_id=trace, span_id=tool_id, name="execute_tool refund_order",
        start_time_unix_nano=start, end_time_unix_nano=start + 3_000_000,
        status=Status(code=Status.STATUS_CODE_ERROR, message="upstream timed out"),
        attributes=[kv("gen_ai.operation.name", "execute_tool"),
                    kv("gen_ai.tool.name", "refund_order")],
    )  # fmt: skip
    path = tmp_path / "spans.pb"
    with path.open("wb") as f:
        for body in (_request(http), _request(tool)):
            f.write(len(body).to_bytes(4, "big") + body)
    db = tmp_path / "moved.duckdb"
    result = CliRunner().invoke(main, ["ingest", "--shift-to-now", str(path), "--db", str(db)])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(db), read_only=True) as con:
        starts = dict(con.execute("SELECT name, start_at FROM evidence_spans").fetchall())
    assert set(starts) == {"POST", "execute_tool refund_order"}
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert all(now - t < timedelta(minutes=1) for t in starts.values()), starts
