"""The `run_state` table: runs still open, kept so a restart forgets none (schema 5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spansift.store.rows import utc_now

if TYPE_CHECKING:
    import duckdb

SINCE = 5  # the schema version that has the table
# What Pipeline.take_run_state() gives: (run, trace, records) to save, runs closed to delete.
RunState = tuple[list[tuple[str, str, str]], list[str]]


def save(con: duckdb.DuckDBPyConnection, run_state: RunState) -> None:
    """Apply one change set inside the caller's transaction."""
    saves, closed = run_state
    if closed:
        marks = ", ".join("?" * len(closed))
        con.execute(f"DELETE FROM run_state WHERE run_key IN ({marks})", list(closed))
    if saves:
        # Through a staging table and the appender: `executemany` runs one statement per
        # row, which a busy receiver with many open sessions feels.
        now = utc_now()
        con.execute(
            "CREATE TEMP TABLE IF NOT EXISTS staged_run_state AS SELECT * FROM run_state LIMIT 0"
        )
        appender = con.appender("staged_run_state")
        appender.append_rows([(run, trace, now, text) for run, trace, text in saves])
        appender.flush()
        con.execute("INSERT OR REPLACE INTO run_state SELECT * FROM staged_run_state")
        con.execute("DELETE FROM staged_run_state")


def load(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """Every saved trace of every open run, oldest first."""
    rows = con.execute(
        "SELECT run_key, trace_id, records FROM run_state ORDER BY updated_at, run_key, trace_id"
    ).fetchall()
    return [(str(r), str(t), str(x)) for r, t, x in rows]
