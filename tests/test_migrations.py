"""A log written at an older schema opens, migrates, and still verifies (and catches tampering)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
from click.testing import CliRunner

from spansift.cli import main
from spansift.store import chain
from spansift.store.log import ExceptionLog
from spansift.store.migrations import migrations

T0 = datetime(2025, 11, 22, 8, 0, 0)
T1 = datetime(2025, 11, 22, 8, 0, 1)
TRACE = "ab" * 16


def _schema_two(db: Path) -> None:
    """A file as spansift wrote it at schema 2: one exception, two evidence rows, chained."""
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMP NOT NULL)"
    )
    for migration in migrations()[:2]:
        con.execute(migration.sql)
        con.execute("INSERT INTO schema_version VALUES (?, ?, ?)", [migration.version, "m", T0])
    row = (
        "e" * 32, T1, T1, "support", "execute_tool refund_order", TRACE, "1" * 16,
        "tool_error", "medium", "tool_error", "support-agent", "refund_order", "tools",
        "refund failed", "platform", "open", None, "eval_case", json.dumps({"span": {}}),
    )  # fmt: skip
    con.execute(f"INSERT INTO exceptions VALUES ({', '.join('?' * len(row))})", list(row))
    tool, root = "1" * 16, "2" * 16
    evidence = [
        ("e" * 32, tool, TRACE, root, "execute_tool refund_order", "error", T0, T1, True, "{}"),
        ("e" * 32, root, TRACE, None, "invoke_agent support", "ok", T0, T1, False, "{}"),
    ]
    for ev in evidence:
        con.execute(f"INSERT INTO evidence_spans VALUES ({', '.join('?' * len(ev))})", list(ev))
    entries = chain.extend(
        (0, chain.GENESIS),
        [
            (chain.EXCEPTION, row[0], row),
            *((chain.EVIDENCE, chain.evidence_row_id(ev[0], ev[1]), ev) for ev in evidence),
        ],
    )
    for e in entries:
        con.execute(
            "INSERT INTO log_chain VALUES (?, ?, ?, ?, ?, ?)",
            [e.seq, e.kind, e.row_id, e.prev_hash, e.row_hash, T1],
        )
    con.close()


def test_schema_two_log_migrates_and_verifies(db: Path) -> None:
    """Evidence rows chained before schema 4 are checked through the evidence_spans view."""
    _schema_two(db)
    with ExceptionLog(db) as log:
        assert log.schema_version == migrations()[-1].version
        result = log.verify()
        _, spans = log.query("SELECT span_id, offending FROM evidence_spans ORDER BY span_id")
    assert result.ok, result.findings
    assert result.entries == 3
    assert spans == [("1" * 16, True), ("2" * 16, False)]
    verified = CliRunner().invoke(main, ["verify", "--db", str(db)])
    assert verified.exit_code == 0, verified.output


def test_tampered_legacy_evidence_is_caught_after_migration(db: Path) -> None:
    """Renaming a migrated evidence span breaks the legacy chain entry that covers it."""
    _schema_two(db)
    ExceptionLog(db).close()
    with duckdb.connect(str(db)) as con:
        con.execute(
            "UPDATE trace_evidence SET spans = replace(spans::VARCHAR, ?, 'harmless')::JSON",
            ["invoke_agent support"],
        )
    result = CliRunner().invoke(main, ["verify", "--db", str(db)])
    assert result.exit_code == 1
    assert "changed: evidence " in result.stdout
