"""What the hash chain cannot see: the schema readers rely on, and duplicate ids.

The chain proves every chained row is as written. It says nothing about the SQL
around the rows: a view redefined to hide a trace, a primary key dropped so that a
forged row can sit beside the real one with the same id, a table readers join
against with its constraints gone. `check` compares every table and view of the
log with the schema this version of spansift creates (built afresh in memory from
the same migrations, so DuckDB prints both the same way), and looks for duplicate
keys in every keyed table.

`check` only reads, through the same `Fetch` as the chain check, so it works on a
file or through a running receiver.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from spansift.store.chain import Fetch
from spansift.store.migrations import migrations, view_sql

# The key of every table readers rely on (a duplicate key means an edited log).
KEYS = {
    "exception_rows": "exception_id",
    "trace_spans": "trace_id, span_id",
    "trace_evidence": "trace_id",
    "exception_traces": "exception_id, trace_id",
    "decisions": "decision_id",
    "withdrawals": "withdrawal_id",
    "grants": "grant_id",
    "grant_uses": "exception_id",
    "suspensions": "suspension_id",
    "evidence_gaps": "gap_id",
    "rule_fingerprints": "rule_id",
    "log_chain": "seq",
    "log_batches": "seq",
    "schema_version": "version",
}
_OBJECTS = (
    "SELECT 'table', table_name, sql FROM duckdb_tables() "
    "WHERE database_name = current_database() AND schema_name = 'main' AND NOT temporary "
    "UNION ALL SELECT 'view', view_name, sql FROM duckdb_views() "
    "WHERE database_name = current_database() AND schema_name = 'main' "
    "AND NOT internal AND NOT temporary"
)


@dataclass(frozen=True, slots=True)
class SchemaFinding:
    """One way the log's schema or keys differ from what spansift wrote."""

    problem: str  # schema, duplicate
    name: str
    detail: str

    def __str__(self) -> str:
        return f"{self.problem}: {self.name}: {self.detail}"


def reference(version: int) -> dict[tuple[str, str], str]:
    """{(kind, name): sql} of a log at schema `version`, made afresh in memory."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(
            "CREATE TABLE schema_version ("
            " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
        for migration in migrations():
            if migration.version <= version:
                con.execute(migration.sql)
        for statement in view_sql():
            try:
                con.execute(statement)
            except duckdb.Error:
                continue  # a view over tables this older version does not have
        return {(str(k), str(n)): str(s) for k, n, s in con.execute(_OBJECTS).fetchall()}
    finally:
        con.close()


def check(fetch: Fetch) -> tuple[SchemaFinding, ...]:
    """Schema differences and duplicate keys of the log behind `fetch`, most telling first."""
    found = fetch("SELECT max(version) FROM schema_version", [])
    version = int(found[0][0]) if found and found[0][0] is not None else 0
    expected = reference(version)
    actual = {(str(k), str(n)): str(s) for k, n, s in fetch(_OBJECTS, [])}
    findings: list[SchemaFinding] = []
    for (kind, name), sql in sorted(expected.items()):
        stored = actual.get((kind, name))
        if stored is None:
            findings.append(SchemaFinding("schema", name, f"the {kind} is missing"))
        elif _normal(stored) != _normal(sql):
            what = "constraints or columns" if kind == "table" else "definition"
            findings.append(
                SchemaFinding("schema", name, f"the {kind}'s {what} differ from what spansift made")
            )
    present = {name for kind, name in actual if kind == "table"}
    for table, key in KEYS.items():
        if table not in present:
            continue
        for row in fetch(
            f"SELECT {key}, count(*) FROM {table} GROUP BY ALL HAVING count(*) > 1 LIMIT 5", []
        ):
            ident = "/".join(str(v) for v in row[:-1])
            findings.append(
                SchemaFinding("duplicate", table, f"{row[-1]} rows share the key {ident}")
            )
    return tuple(findings)


def _normal(sql: str) -> str:
    return " ".join(sql.split()).rstrip(";")
