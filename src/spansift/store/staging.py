"""Batched inserts through temporary staging tables: append many rows, keep the new ones.

DuckDB's appender is the cheap way in; `INSERT ... ON CONFLICT DO NOTHING RETURNING`
from the staging table then skips rows already in the log (writes are idempotent) and
names the rows that were new, which are the ones the chain covers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from spansift.store.rows import COLUMNS

if TYPE_CHECKING:
    import duckdb


def create(con: duckdb.DuckDBPyConnection) -> None:
    """The staging tables of `ExceptionLog.write` (temporary: one set per connection)."""
    # JSON columns are staged as text: the insert validates them once, and appending
    # text costs less than appending JSON.
    columns = ", ".join(f"{name} {'VARCHAR' if kind == 'JSON' else kind}" for name, kind in COLUMNS)
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS staged_exceptions ({columns})")
    for staged, table, select in (
        ("staged_documents", "trace_evidence", "* REPLACE (spans::VARCHAR AS spans)"),
        ("staged_links", "exception_traces", "*"),
        ("staged_controls", "exception_controls", "*"),
    ):
        con.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {staged} AS SELECT {select} FROM {table} LIMIT 0"
        )


def insert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    staging: str,
    rows: Iterable[tuple[Any, ...]],
    key: str,
) -> set[tuple[Any, ...]]:
    """Append rows through a staging table; returns the keys that were new."""
    appender = con.appender(staging)
    appender.append_rows(list(rows))
    appender.flush()
    inserted = con.execute(
        f"INSERT INTO {table} SELECT * FROM {staging} ON CONFLICT DO NOTHING RETURNING {key}"
    ).fetchall()
    con.execute(f"DELETE FROM {staging}")
    return {tuple(r) for r in inserted}
