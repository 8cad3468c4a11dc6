"""Evidence is one document per trace: late spans extend it, the chain covers it by segment,
and logs written with one row per span migrate into it and still verify."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from spansift.model import Hit, Match, Severity, Span, SpanKind, SpanRecord, StatusCode
from spansift.normalize import fields_of
from spansift.rules import Contracts
from spansift.runs import resolve
from spansift.store import batch, chain
from spansift.store.log import ExceptionLog
from spansift.store.migrations import migrations

TRACE = "0af7651916cd43dd8448eb211c80319c"
ROOT, TOOL, LATE = "a" * 16, "b" * 16, "c" * 16
_EVIDENCE = (
    "SELECT exception_id, span_id, trace_id, parent_span_id, name, status, start_at, end_at, "
    "offending, span FROM evidence_spans ORDER BY exception_id, span_id"
)


def _span(span_id: str, name: str, parent: str | None = ROOT, start_s: int = 0) -> Span:
    start = 1_763_800_000_000_000_000 + start_s * 1_000_000_000
    return Span(
        trace_id=TRACE,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=SpanKind.INTERNAL,
        start_ns=start,
        end_ns=start + 250_123_456,
        status=StatusCode.ERROR,
        status_message="gateway timeout for ops@example.com",
        attributes={"gen_ai.tool.name": "refund_order", "note": "é" * 600},
        resource={"service.name": "support"},
    )


def _hit(span: Span, *context: Span, rule: str = "tool-error") -> Hit:
    match = Match(rule, "tool_error", Severity.MEDIUM, "tool execution", "refund failed")
    (record,) = resolve([SpanRecord(span, fields_of(span))], Contracts(()), final=True)
    return Hit(match, span, record.fields, context=context)


def _sql(db: Path, sql: str, params: list[object] | None = None) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute(sql, params or [])


def _findings(db: Path) -> list[str]:
    with ExceptionLog(db, read_only=True) as log:
        return [str(f) for f in log.verify().findings]


@pytest.fixture
def reopened(db: Path) -> Path:
    """A trace written with two spans, then reopened by a hit carrying one old, one new."""
    root, tool = _span(ROOT, "invoke_agent support", None), _span(TOOL, "execute_tool refund")
    late = _span(LATE, "execute_tool refund", start_s=5)
    with ExceptionLog(db) as log:
        assert log.write([_hit(tool, root)]) == 1
        assert log.write([_hit(late, root, tool, rule="late-rule")]) == 1
    return db


def test_one_row_per_trace_and_a_late_span_is_appended_once(reopened: Path) -> None:
    with ExceptionLog(reopened) as log:
        _, docs = log.query("SELECT trace_id, spans FROM trace_evidence")
        _, evidence = log.query(
            "SELECT exception_id, span_id, offending FROM evidence_spans ORDER BY 1, 2"
        )
        _, groups = log.query("SELECT groups FROM log_batches ORDER BY seq")
        result = log.verify()
    assert [(t, [e[0] for e in json.loads(s)]) for t, s in docs] == [(TRACE, [TOOL, ROOT, LATE])]
    # Each exception sees every span of its trace, its own marked offending.
    per_row: dict[str, list[tuple[str, bool]]] = {}
    for exception_id, span_id, offending in evidence:
        per_row.setdefault(exception_id, []).append((span_id, offending))
    assert sorted(per_row.values()) == [
        [(ROOT, False), (TOOL, False), (LATE, True)],
        [(ROOT, False), (TOOL, True), (LATE, False)],
    ]
    # The late write chains only what it added: the segment from position 2.
    trace_groups = [g for (text,) in groups for g in json.loads(text) if g[0] == "trace"]
    assert [g[2] for g in trace_groups] == [[f"{TRACE}/0"], [f"{TRACE}/2"]]
    assert result.ok, result.findings
    assert result.rows == 2 * 3  # per write: an exception, a segment, a link


def test_rewriting_the_same_spans_changes_nothing(reopened: Path) -> None:
    with ExceptionLog(reopened) as log:
        _, before = log.query("SELECT spans FROM trace_evidence")
        entries = log.verify().entries
        tool = _span(TOOL, "execute_tool refund")
        assert log.write([_hit(tool, _span(ROOT, "invoke_agent support", None))]) == 0
        _, after = log.query("SELECT spans FROM trace_evidence")
        assert log.verify().entries == entries
    assert before == after


def _edit_document(db: Path, edit: str) -> None:
    with duckdb.connect(str(db)) as con:
        (text,) = con.execute("SELECT spans FROM trace_evidence").fetchone() or ("",)
        elements = json.loads(text)
        if edit == "change late":
            elements[2][2] = "harmless"
        elif edit == "change first":
            elements[0][6] = elements[0][6].replace("refund_order", "lookup_order")
        elif edit == "drop late":
            elements.pop()
        elif edit == "add forged":
            elements.append(["d" * 16, *elements[2][1:]])
        con.execute("UPDATE trace_evidence SET spans = ?", [json.dumps(elements)])


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ("change late", f"changed: trace {TRACE}/2 (chain entry 2)"),
        ("change first", f"changed: trace {TRACE}/0 (chain entry 1)"),
        ("drop late", f"deleted: trace {TRACE}/2 (chain entry 2)"),
        ("add forged", f"changed: trace {TRACE}/2 (chain entry 2)"),
    ],
)
def test_an_edited_document_names_its_trace(reopened: Path, edit: str, expected: str) -> None:
    _edit_document(reopened, edit)
    findings = _findings(reopened)
    assert [f.split(":", 2)[0] + ":" + f.split(":", 2)[1] for f in findings] == [expected]


def test_a_deleted_or_forged_document_is_named(reopened: Path) -> None:
    _sql(
        reopened,
        "INSERT INTO trace_evidence SELECT 'f' || trace_id[2:], spans FROM trace_evidence",
    )
    forged = "f" + TRACE[1:]
    assert _findings(reopened) == [
        f"inserted: trace {forged}/0 (no chain entry): row was never chained"
    ]
    _sql(reopened, "DELETE FROM trace_evidence WHERE trace_id = ?", [TRACE])
    assert sorted(_findings(reopened))[:2] == [
        f"deleted: trace {TRACE}/0 (chain entry 1): row is missing from the log",
        f"deleted: trace {TRACE}/2 (chain entry 2): row is missing from the log",
    ]


def test_an_unreadable_document_is_a_finding(reopened: Path) -> None:
    _sql(reopened, "UPDATE trace_evidence SET spans = '{\"spans\": []}'")
    assert [f.split(" (")[0] for f in _findings(reopened)] == [
        f"changed: trace {TRACE}/0",
        f"changed: trace {TRACE}/2",
    ]


_OLD_VIEW = """CREATE OR REPLACE VIEW evidence_spans AS
SELECT x.exception_id, s.span_id, s.trace_id, s.parent_span_id, s.name, s.status, s.start_at,
       s.end_at, (s.trace_id = e.trace_id AND s.span_id = e.span_id) AS offending, s.span
FROM exception_traces x JOIN trace_spans s USING (trace_id)
JOIN exception_rows e USING (exception_id)"""


def _schema_eight(db: Path) -> list[tuple[object, ...]]:
    """A log as spansift wrote it before schema 9: span rows chained in one batch entry.
    Returns its evidence_spans rows."""
    root, tool = _span(ROOT, "invoke_agent support", None), _span(TOOL, "execute_tool refund")
    with ExceptionLog(db) as log:  # rows and span JSON as the writer builds them
        log.write([_hit(tool, root)])
        _, exceptions = log.query("SELECT * FROM exception_rows")
        _, links = log.query("SELECT * FROM exception_traces")
        _, spans = log.query(
            "SELECT trace_id, span_id, parent_span_id, name, status, start_at, end_at, span "
            "FROM evidence_spans ORDER BY span_id"
        )
    db.unlink()
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMP NOT NULL)"
    )
    for migration in migrations():
        if migration.version < 9:
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?, ?)",
                [migration.version, migration.name, datetime(2025, 1, 1)],
            )
    for table, rows in (
        ("exception_rows", exceptions),
        ("exception_traces", links),
        ("trace_spans", spans),
    ):
        for row in rows:
            con.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", list(row))
    groups = [
        batch.Group(chain.EXCEPTION, (exceptions[0][0],), (exceptions[0],)),
        batch.Group(chain.SPAN, tuple(chain.pair_id(s[0], s[1]) for s in spans), tuple(spans)),
        batch.Group(chain.LINK, (chain.pair_id(*links[0]),), (links[0],)),
    ]
    entry = batch.extend((0, chain.GENESIS), groups)
    assert entry is not None
    con.execute(
        "INSERT INTO log_chain VALUES (?, ?, ?, ?, ?, ?)",
        [entry.seq, batch.BATCH, entry.row_id, entry.prev_hash, entry.row_hash, T_CHAINED],
    )
    con.execute("INSERT INTO log_batches VALUES (?, ?)", [entry.seq, entry.groups])
    con.execute(_OLD_VIEW)
    evidence = con.execute(_EVIDENCE).fetchall()
    con.close()
    return evidence


T_CHAINED = datetime(2025, 11, 22, 8, 0, 0)


def test_schema_eight_log_migrates_keeps_its_evidence_and_verifies(db: Path) -> None:
    before = _schema_eight(db)
    late = _span(LATE, "execute_tool refund", start_s=5)
    with ExceptionLog(db) as log:
        assert log.schema_version == migrations()[-1].version
        _, tables = log.query("SELECT table_name FROM duckdb_tables() WHERE NOT temporary")
        assert "trace_spans" not in {t for (t,) in tables}
        assert log.query(_EVIDENCE)[1] == before
        assert log.verify().ok
        # A late span of the migrated trace is appended after the migrated spans.
        assert log.write([_hit(late, _span(ROOT, "invoke_agent support", None))]) == 1
        result = log.verify()
        _, docs = log.query("SELECT spans FROM trace_evidence")
    assert result.ok, result.findings
    assert [e[0] for e in json.loads(docs[0][0])] == [ROOT, TOOL, LATE]
    # Migrated spans are still checked against the entry that chained them as span rows.
    _edit_document(db, "change first")
    assert _findings(db)[0].startswith(f"changed: span {TRACE}/{ROOT}")


def test_a_migration_missing_below_the_newest_is_applied(db: Path) -> None:
    """Migrations numbered on separate branches: a database that recorded a later version
    but not an earlier one gets the earlier one on open."""
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMP NOT NULL)"
    )
    skipped = next(m for m in migrations() if m.name == "run_state")
    for migration in migrations():
        if migration is not skipped:
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?, ?)",
                [migration.version, migration.name, T_CHAINED],
            )
    con.close()
    with ExceptionLog(db) as log:
        _, versions = log.query("SELECT version FROM schema_version ORDER BY 1")
        _, tables = log.query("SELECT table_name FROM duckdb_tables() WHERE NOT temporary")
    assert [v for (v,) in versions] == sorted(m.version for m in migrations())
    assert {"run_state", "quarantine"} <= {t for (t,) in tables}


def test_document_keeps_the_redacted_bounded_span(reopened: Path) -> None:
    with ExceptionLog(reopened) as log:
        _, rows = log.query("SELECT span FROM evidence_spans WHERE span_id = ? LIMIT 1", [LATE])
    span = json.loads(rows[0][0])
    assert span["status_message"] == "gateway timeout for [REDACTED:email]"
    assert span["attributes"]["note"].endswith("...[88 more]")


def test_a_changed_document_is_named_among_the_batch(db: Path) -> None:
    """Documents are digested one by one: the changed one is named, not its whole batch."""
    traces = [f"{n:032x}" for n in range(1, 4)]
    hits = [_hit(replace(_span(TOOL, "execute_tool refund"), trace_id=t)) for t in traces]
    with ExceptionLog(db) as log:
        assert log.write(hits) == 3
    with duckdb.connect(str(db)) as con:
        found = con.execute("SELECT spans FROM trace_evidence WHERE trace_id = ?", [traces[1]])
        (original,) = found.fetchone() or ("",)
    edit = "UPDATE trace_evidence SET spans = ?::JSON WHERE trace_id = ?"
    _sql(db, edit, [original.replace("refund_order", "x"), traces[1]])
    assert _findings(db) == [
        f"changed: trace {traces[1]}/0 (chain entry 1): row differs from what was written"
    ]
    with duckdb.connect(str(db)) as con:
        (text,) = con.execute("SELECT groups FROM log_batches").fetchone() or ("",)
        groups = json.loads(text)
        (documents,) = [g for g in groups if g[0] == "trace"]
        documents[3][1] = "0" * 64  # the listed digest of the changed document, forged
        con.execute("UPDATE log_batches SET groups = ?", [json.dumps(groups)])
    assert _findings(db)[0].startswith(f"changed: trace {traces[1]}/0 (chain entry 1)")
    _sql(db, edit, [original, traces[1]])  # the document restored, its listed digest not
    assert _findings(db) == [
        f"broken: trace {traces[1]}/0 (chain entry 1): log_batches digest was edited"
    ]
