"""The DuckDB exception log: schema, idempotent writes, views and evidence."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from spansift.errors import SpansiftError
from spansift.model import Event, Hit, Match, Severity, Span, SpanKind, SpanRecord, StatusCode
from spansift.normalize import fields_of
from spansift.rules import Contracts
from spansift.runs import resolve
from spansift.store.log import ExceptionLog
from spansift.store.migrations import latest_version
from spansift.store.rows import COLUMN_NAMES, exception_id

TRACE = "0af7651916cd43dd8448eb211c80319c"


def _hit(span_id: str = "b7ad6b7169203331", rule: str = "tool-error") -> Hit:
    span = Span(
        trace_id=TRACE,
        span_id=span_id,
        parent_span_id=None,
        name="execute_tool refund_order",
        kind=SpanKind.INTERNAL,
        start_ns=1_763_800_000_000_000_000,
        end_ns=1_763_800_000_250_000_000,
        status=StatusCode.ERROR,
        status_message="gateway timeout",
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "refund_order",
            "gen_ai.agent.name": "support-agent",
            "gen_ai.tool.call.arguments": '{"order": "A-1", "card": "4111111111111111"}',
            "note": "x" * 5000,
        },
        events=(Event("exception", 1_763_800_000_200_000_000, {"exception.type": "TimeoutError"}),),
        resource={"service.name": "support"},
    )
    match = Match(rule, "tool_error", Severity.MEDIUM, "tool execution", "refund_order failed")
    (record,) = resolve([SpanRecord(span, fields_of(span))], Contracts(()), final=True)
    return Hit(match, span, record.fields)


def test_new_database_has_latest_schema_and_views(db: Path) -> None:
    """Opening a new file applies every migration and creates the documented views."""
    with ExceptionLog(db) as log:
        assert log.schema_version == latest_version()
        columns, _ = log.query("SELECT * FROM exceptions LIMIT 0")
        assert columns == (*COLUMN_NAMES, "controls")
        _, views = log.query("SELECT view_name FROM duckdb_views() WHERE NOT internal")
    assert {"exception_view", "exceptions_by_workflow_type", "evidence_gap_view"} <= {
        v for (v,) in views
    }


def test_writing_the_same_hits_twice_adds_no_rows(db: Path) -> None:
    """Exception ids are deterministic, so a replayed batch inserts nothing."""
    hits = [_hit("b7ad6b7169203331"), _hit("b7ad6b7169203332")]
    with ExceptionLog(db) as log:
        assert log.write(hits) == 2
        assert log.write(hits) == 0
        assert log.write([*hits, _hit("b7ad6b7169203333")]) == 1
        _, rows = log.query("SELECT count(*) FROM exceptions")
    assert rows == [(3,)]


def test_row_carries_the_design_columns(db: Path) -> None:
    """A written row fills workflow, agent, tool, ids, times and an open status."""
    with ExceptionLog(db) as log:
        log.write([_hit()])
        _, rows = log.query(
            "SELECT exception_id, workflow, agent, tool, trace_id, span_id, status, "
            "strftime(occurred_at, '%Y-%m-%d %H:%M:%S.%f') FROM exceptions"
        )
    assert rows == [
        (
            exception_id("tool-error", TRACE, "b7ad6b7169203331"),
            "support",
            "support-agent",
            "refund_order",
            TRACE,
            "b7ad6b7169203331",
            "open",
            "2025-11-22 08:26:40.250000",
        )
    ]


def test_evidence_is_bounded_and_leaves_out_tool_arguments(db: Path) -> None:
    """Evidence keeps the span's shape but drops prompt-like keys and cuts long values."""
    with ExceptionLog(db) as log:
        log.write([_hit()])
        _, rows = log.query("SELECT evidence FROM exceptions")
    evidence = json.loads(rows[0][0])["span"]
    assert "gen_ai.tool.call.arguments" not in evidence["attributes"]
    assert evidence["attributes"]["gen_ai.tool.name"] == "refund_order"
    assert len(evidence["attributes"]["note"]) < 600
    assert evidence["events"][0]["attributes"] == {"exception.type": "TimeoutError"}


def test_short_view_is_newest_first(db: Path) -> None:
    """`exception_view` lists one line per exception with the newest first."""
    older, newer = _hit("b7ad6b7169203331"), _hit("b7ad6b7169203332")
    newer = Hit(newer.match, replace(newer.span, end_ns=newer.span.end_ns + 10**9), newer.fields)
    with ExceptionLog(db) as log:
        log.write([older, newer])
        _, rows = log.query("SELECT span_id FROM exception_view")
    assert rows == [("b7ad6b7169203332",), ("b7ad6b7169203331",)]


def test_a_newer_schema_is_refused(db: Path) -> None:
    """A file written by a newer spansift gives a clear error instead of being changed."""
    ExceptionLog(db).close()
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO schema_version VALUES (999, 'future', now()::TIMESTAMP)")
    con.close()
    with pytest.raises(SpansiftError, match="newer than this spansift"):
        ExceptionLog(db)


def test_gaps_are_recorded_and_updated(db: Path) -> None:
    """One gap episode is one row, updated as more spans are lost."""
    with ExceptionLog(db) as log:
        log.record_gap("processor", 1_000_000_000, 2_000_000_000, 3, "queue full")
        log.record_gap("processor", 1_000_000_000, 5_000_000_000, 7, "queue full")
        _, rows = log.query('SELECT source, lost_spans, "to" FROM evidence_gap_view')
    assert rows == [("processor", 7, "1970-01-01 00:00:05")]
