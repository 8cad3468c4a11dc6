"""One chain entry per write batch: `verify` still finds any changed, deleted or inserted row
of every chained table, an edited or removed entry, and old per-row chains still verify."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from spansift.cli import main
from spansift.store import batch, chain
from spansift.store.log import ExceptionLog
from spansift.store.migrations import migrations

ROOT = Path(__file__).parents[1]
SAMPLE = str(ROOT / "examples" / "agent-traces.jsonl")
T0 = datetime(2025, 11, 22, 8, 0, 0, 123456)
T1 = T0 + timedelta(days=1)

# One row for each table written through `append`, in the column order of its kind.
REVIEW_ROWS = {
    chain.DECISION: ("d1", "e" * 32, T0, "alice", "ack", "acknowledged", None, None, None,
                     "looked at it", None),
    chain.GRANT: ("g1", "support-agent", "refund_order", "*", T0, T1, "alice,bob", "why"),
    chain.GRANT_USE: ("u" * 32, "g1", T0, T0, "support", "support-agent", "refund_order",
                      "wrong_tool", "wrong_tool", "ab" * 16, "12" * 8),
    chain.SUSPENSION: ("s1", "agent", "rogue-agent", "suspend", "alice", "stop", T0),
    chain.PATTERN_DECISION: ("p1", "f" * 16, T0, "alice", "suppress", T1, None, None, "noise"),
    chain.REVOCATION: ("r1", "g1", T0, "alice", "no longer needed"),
}  # fmt: skip

# The first span's name in a trace document, renamed.
RENAMED = (
    'regexp_replace(spans::VARCHAR, \'^(\\[\\[[^,]*,[^,]*,)"[^"]*"\', \'\\1"tampered"\')::JSON'
)
# table -> (a column to edit, the key column(s) a copy gets a new value in)
TABLES = {
    "exception_rows": ("summary", "exception_id"),
    "exception_controls": ("controls", "exception_id"),
    "trace_evidence": ("spans", "trace_id"),
    "exception_traces": ("trace_id", "exception_id"),
    "decisions": ("note", "decision_id"),
    "grants": ("justification", "grant_id"),
    "grant_uses": ("workflow", "exception_id"),
    "suspensions": ("reason", "suspension_id"),
    "pattern_decisions": ("note", "decision_id"),
    "grant_revocations": ("reason", "revocation_id"),
}


@pytest.fixture
def full(runner: CliRunner, db: Path) -> Path:
    """A log with rows in every chained table: an ingest, then one append per review table."""
    assert runner.invoke(main, ["ingest", SAMPLE, "--db", str(db)]).exit_code == 0
    with ExceptionLog(db) as log:
        for kind, row in REVIEW_ROWS.items():
            table = chain.SINGLE_KEY_KINDS[kind][0]
            assert log.append(kind, table, [row]) == 1
    return db


def _sql(db: Path, sql: str) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute(sql)


def _findings(db: Path) -> list[str]:
    with ExceptionLog(db, read_only=True) as log:
        return [str(f) for f in log.verify().findings]


def _cli(db: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["verify", "--db", str(db)])
    return result.exit_code, result.stdout


def test_one_entry_per_batch_covers_every_row(full: Path) -> None:
    """The ingest is one entry, each append another; verify counts the rows they cover."""
    with duckdb.connect(str(full)) as con:
        kinds = con.execute("SELECT kind, row_id FROM log_chain ORDER BY seq").fetchall()
        groups = con.execute("SELECT groups FROM log_batches ORDER BY seq").fetchall()
    assert kinds == [("batch", "12 rows"), *[("batch", "1 rows")] * len(REVIEW_ROWS)]
    assert [g[0] for g in json.loads(groups[0][0])] == ["exception", "controls", "trace", "link"]
    with ExceptionLog(full, read_only=True) as log:
        result = log.verify()
    assert result.ok, result.findings
    assert (result.entries, result.rows) == (1 + len(REVIEW_ROWS), 12 + len(REVIEW_ROWS))
    assert _cli(full) == (
        0,
        f"ok: {12 + len(REVIEW_ROWS)} chained rows, head {result.head_hash[:16]}\n",
    )


@pytest.mark.parametrize("table", TABLES)
def test_changed_row_is_caught(full: Path, table: str) -> None:
    column, _ = TABLES[table]
    value = {"controls": "['x:y']", "spans": RENAMED}.get(column, "'tampered'")
    _sql(
        full,
        f"UPDATE {table} SET {column} = {value} WHERE rowid = (SELECT min(rowid) FROM {table})",
    )
    findings = _findings(full)
    assert findings
    assert any(f.startswith(("changed: ", "deleted: ")) for f in findings), findings
    assert _cli(full)[0] == 1


@pytest.mark.parametrize("table", TABLES)
def test_deleted_row_is_caught(full: Path, table: str) -> None:
    _sql(full, f"DELETE FROM {table} WHERE rowid = (SELECT min(rowid) FROM {table})")
    findings = _findings(full)
    assert len(findings) == 1, findings
    assert findings[0].startswith("deleted: ")
    assert _cli(full)[0] == 1


@pytest.mark.parametrize("table", TABLES)
def test_inserted_row_is_caught(full: Path, table: str) -> None:
    _, key = TABLES[table]
    with duckdb.connect(str(full)) as con:
        con.execute(f"CREATE TEMP TABLE copy AS SELECT * FROM {table} LIMIT 1")
        con.execute(f"UPDATE copy SET {key} = 'forged' || {key}")
        con.execute(f"INSERT INTO {table} SELECT * FROM copy")
    findings = _findings(full)
    assert len(findings) == 1, findings
    assert findings[0].startswith("inserted: ") and "forged" in findings[0]


def test_changed_exception_row_names_its_kind(full: Path) -> None:
    """A changed row is named by kind and by its batch (and by id when alone in its kind)."""
    _sql(full, "UPDATE grants SET scope = 'uses=1000'")
    assert _findings(full) == [
        "changed: grant g1 (chain entry 3): row differs from what was written"
    ]
    _sql(full, "UPDATE exception_rows SET summary = 'nothing to see' WHERE tool = 'refund_order'")
    first = _findings(full)[0]
    assert first.startswith("changed: exception ") and "(chain entry 1)" in first


def test_deleted_or_edited_chain_entry_is_caught(full: Path) -> None:
    _sql(full, "DELETE FROM log_chain WHERE seq = 2")
    findings = _findings(full)
    assert findings[0].startswith("broken: ") and "jumps from 1 to 3" in findings[0]
    assert any(f.startswith("inserted: decision d1") for f in findings)


def test_edited_batch_listing_is_caught(full: Path) -> None:
    """Editing what a batch lists (or its digests) cannot hide a row."""
    with duckdb.connect(str(full)) as con:
        groups = json.loads(
            con.execute("SELECT groups FROM log_batches WHERE seq = 1").fetchone()[0]
        )
        groups[0][2] = groups[0][2][1:]  # drop an exception row from the listing
        con.execute("UPDATE log_batches SET groups = ? WHERE seq = 1", [json.dumps(groups)])
    findings = _findings(full)
    assert any(f.startswith("changed: exception ") for f in findings), findings
    assert any(f.startswith("inserted: exception ") for f in findings), findings
    _sql(full, "DELETE FROM log_batches WHERE seq = 2")
    assert any(f.startswith("deleted: batch 1 rows (chain entry 2)") for f in _findings(full))


def test_malformed_batch_listing_is_a_finding(full: Path) -> None:
    """A listing edited into something else is reported, not a crash."""
    _sql(full, "UPDATE log_batches SET groups = '[1, 2]' WHERE seq = 2")
    findings = _findings(full)
    assert (
        findings[0] == "deleted: batch 1 rows (chain entry 2): log_batches does not list its rows"
    )
    assert "inserted: decision d1 (no chain entry): row was never chained" in findings


def test_edited_digest_is_caught(full: Path) -> None:
    with duckdb.connect(str(full)) as con:
        groups = json.loads(
            con.execute("SELECT groups FROM log_batches WHERE seq = 3").fetchone()[0]
        )
        groups[0][1] = "0" * 64
        con.execute("UPDATE log_batches SET groups = ? WHERE seq = 3", [json.dumps(groups)])
    assert _findings(full) == ["broken: grant g1 (chain entry 3): log_batches digest was edited"]


def test_digest_is_the_same_from_the_writer_and_read_back(db: Path) -> None:
    """Timestamps, NULLs, lists and JSON text hash alike as written and as read back by SQL."""
    row = ("x", T0, None, ["a", "b"], '{"k": [1, 2.5, null]}', datetime(2025, 1, 1))
    with duckdb.connect(str(db)) as con:
        con.execute(
            "CREATE TABLE t (a VARCHAR, b TIMESTAMP, c VARCHAR, d VARCHAR[], e JSON, f TIMESTAMP)"
        )
        con.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", list(row))
        back = con.execute(
            "SELECT a, strftime(b, '%Y-%m-%dT%H:%M:%S.%f'), c, d, e, "
            "strftime(f, '%Y-%m-%dT%H:%M:%S.%f') FROM t"
        ).fetchall()
    assert batch.digest([row]) == batch.digest(back)
    assert batch.digest([row]) != batch.digest([(*row[:2], "", *row[3:])])


def _per_row_log(db: Path) -> None:
    """A file as spansift wrote it at schema 6: rows chained one entry each."""
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMP NOT NULL)"
    )
    for migration in migrations():
        if migration.version <= 6:
            con.execute(migration.sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?, ?)", [migration.version, "m", T0])
    trace, span = "ab" * 16, "12" * 8
    exception = (
        "e" * 32, T0, T1, "support", "execute_tool refund_order", trace, span, "tool_error",
        "medium", "tool_error", "support-agent", "refund_order", "tools", "refund failed",
        "platform", "open", None, "eval_case", json.dumps({"span": {}}),
    )  # fmt: skip
    span_row = (trace, span, None, "execute_tool refund_order", "error", T0, T1, "{}")
    link = ("e" * 32, trace)
    rows = [
        ("exception_rows", chain.EXCEPTION, exception[0], exception),
        ("trace_spans", chain.SPAN, chain.pair_id(trace, span), span_row),
        ("exception_traces", chain.LINK, chain.pair_id(*link), link),
        ("decisions", chain.DECISION, "d1", REVIEW_ROWS[chain.DECISION]),
    ]
    for table, _, _, row in rows:
        con.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", list(row))
    for e in chain.extend((0, chain.GENESIS), [(k, i, r) for _, k, i, r in rows]):
        con.execute(
            "INSERT INTO log_chain VALUES (?, ?, ?, ?, ?, ?)",
            [e.seq, e.kind, e.row_id, e.prev_hash, e.row_hash, T1],
        )
    con.close()


def test_per_row_chain_verifies_after_migration_and_new_batches(db: Path) -> None:
    """A schema-6 log migrates, verifies, and new batches chain on after its per-row entries."""
    _per_row_log(db)
    with ExceptionLog(db) as log:
        assert log.schema_version == migrations()[-1].version
        assert log.append(chain.GRANT, "grants", [REVIEW_ROWS[chain.GRANT]]) == 1
        result = log.verify()
    assert result.ok, result.findings
    assert (result.entries, result.rows) == (5, 5)
    assert _cli(db) == (0, f"ok: 5 chained rows, head {result.head_hash[:16]}\n")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (f"UPDATE trace_evidence SET spans = {RENAMED}", "changed: span "),
        ("DELETE FROM decisions", "deleted: decision d1 (chain entry 4)"),
        ("DELETE FROM log_chain WHERE seq = 2", "broken: "),
    ],
)
def test_per_row_entries_still_catch_tampering(db: Path, sql: str, expected: str) -> None:
    _per_row_log(db)
    with ExceptionLog(db) as log:
        log.append(chain.GRANT, "grants", [REVIEW_ROWS[chain.GRANT]])
    _sql(db, sql)
    findings = _findings(db)
    assert findings and findings[0].startswith(expected), findings
