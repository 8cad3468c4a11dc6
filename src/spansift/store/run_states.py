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
        now = utc_now()
        con.executemany(
            "INSERT OR REPLACE INTO run_state VALUES (?, ?, ?, ?)",
            [(run, trace, now, text) for run, trace, text in saves],
        )


def load(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """Every saved trace of every open run, oldest first."""
    rows = con.execute(
        "SELECT run_key, trace_id, records FROM run_state ORDER BY updated_at, run_key, trace_id"
    ).fetchall()
    return [(str(r), str(t), str(x)) for r, t, x in rows]
