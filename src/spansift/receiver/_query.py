"""Read-only SQL over the live log, for readers in other processes.

DuckDB lets only one process open the file while it is written, so the
receiver answers queries itself, on cursors of the writer's connection.
Guards, in order: exactly one statement and it must be of type SELECT
(`duckdb.extract_statements`); it runs inside `BEGIN TRANSACTION READ ONLY`;
and the database was opened with `enable_external_access = false`, so table
functions that read or write files (`read_csv`, `read_text`, `glob`, COPY,
ATTACH, INSTALL) fail, except inside the receiver's own export folder.

Results of any size are streamed in batches (`stream`), so neither the receiver
nor the client holds them whole; `run` answers small results in one document and
refuses, rather than cuts, one over `MAX_ROWS`. DuckDB's memory is bounded by the
receiver's `memory_limit` setting.

Threading contract: `run`, `stream` and `export` may be called from many threads;
each call borrows one of a fixed pool of cursors and blocks until it is done or
the timeout interrupts it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import decimal
import os
import queue
import shutil
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

POOL_SIZE = 4
QUERY_TIMEOUT_S = 30.0
MAX_ROWS = 100_000
STREAM_BATCH = 1000
_IDENT_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


class QueryError(Exception):
    """The SQL was refused or failed; the message is safe to show the caller."""


class QueryBusyError(Exception):
    """Every cursor is in use; retry later."""


def lock_down(con: duckdb.DuckDBPyConnection, export_dir: Path, temp_dir: Path) -> None:
    """Forbid file access from SQL except the export and temp folders (irreversible)."""
    export_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    allowed = [f"{export_dir.resolve()}/", f"{temp_dir.resolve()}/"]
    con.execute(f"SET allowed_directories = {allowed!r}")
    con.execute("SET enable_external_access = false")


def check_select(sql: str) -> None:
    """`QueryError` unless `sql` is exactly one SELECT-type statement."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from None
    if len(statements) != 1:
        msg = f"send exactly one statement (got {len(statements)})"
        raise QueryError(msg)
    if statements[0].type != duckdb.StatementType.SELECT:
        msg = f"only SELECT-type statements are allowed, not {statements[0].type.name}"
        raise QueryError(msg)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


@contextmanager
def _query_errors() -> Iterator[None]:
    """DuckDB errors as `QueryError`s whose message is safe to show the caller."""
    try:
        yield
    except duckdb.InterruptException:
        msg = f"query took longer than {QUERY_TIMEOUT_S:.0f} s and was stopped"
        raise QueryError(msg) from None
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from None


class QueryService:
    """A pool of read-only cursors on the writer's connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, export_dir: Path) -> None:
        self._pool: queue.Queue[duckdb.DuckDBPyConnection] = queue.Queue()
        for _ in range(POOL_SIZE):
            self._pool.put(con.cursor())
        self.export_dir = export_dir

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        try:
            cursor = self._pool.get(timeout=1.0)
        except queue.Empty:
            raise QueryBusyError from None
        timer = threading.Timer(QUERY_TIMEOUT_S, cursor.interrupt)
        timer.daemon = True
        timer.start()
        try:
            cursor.execute("BEGIN TRANSACTION READ ONLY")
            try:
                yield cursor
            finally:
                with contextlib.suppress(duckdb.Error):
                    cursor.execute("ROLLBACK")
        finally:
            timer.cancel()
            self._pool.put(cursor)

    def run(self, sql: str, params: Sequence[Any] | None = None) -> dict[str, Any]:
        """Columns, DuckDB type names and JSON-ready rows of one SELECT (at most MAX_ROWS).

        A result with more rows is refused with `QueryError`: a silently cut answer
        reads as the whole truth (use `stream` for large results).
        """
        with self.stream(sql, params) as (columns, types, batches):
            rows: list[list[Any]] = []
            for batch in batches:
                rows.extend(batch)
                if len(rows) > MAX_ROWS:
                    msg = (
                        f"the result has more than {MAX_ROWS:,} rows; add a LIMIT, or ask for "
                        'a streamed answer ("stream": true)'
                    )
                    raise QueryError(msg)
        return {"columns": columns, "types": types, "rows": rows, "truncated": False}

    @contextmanager
    def stream(
        self, sql: str, params: Sequence[Any] | None = None
    ) -> Iterator[tuple[list[str], list[str], Iterator[list[list[Any]]]]]:
        """Columns, type names and an iterator of JSON-ready row batches of one SELECT.

        The cursor is held until the block ends; `QueryError` may come from the
        iterator too (the timeout, or an error found while fetching).
        """
        check_select(sql)
        with self._cursor() as cursor:
            with _query_errors():
                cursor.execute(sql, list(params or []))
            description = cursor.description or []

            def batches() -> Iterator[list[list[Any]]]:
                while True:
                    with _query_errors():
                        rows = cursor.fetchmany(STREAM_BATCH)
                    if not rows:
                        return
                    yield [[_jsonable(v) for v in row] for row in rows]

            yield [d[0] for d in description], [str(d[1]) for d in description], batches()

    def export(self, table: str) -> Path:
        """Write `table` as Parquet into the export folder; the caller streams and deletes it."""
        if not table or set(table) - _IDENT_OK:
            msg = f"not a table name: {table!r}"
            raise QueryError(msg)
        with self._cursor() as cursor:
            found = cursor.execute(
                "SELECT count(*) FROM (SELECT database_name, schema_name, table_name "
                "FROM duckdb_tables() UNION ALL SELECT database_name, schema_name, view_name "
                "FROM duckdb_views()) WHERE database_name = current_database() "
                "AND schema_name = 'main' AND table_name = ?",
                [table],
            ).fetchone()  # views too: `exceptions` is a view over `exception_rows`
            if not found or not found[0]:
                msg = f"no table {table!r}"
                raise QueryError(msg)
            path = self.export_dir / f"{table}-{uuid.uuid4().hex}.parquet"
            try:
                cursor.execute(f"COPY (SELECT * FROM \"{table}\") TO '{path}' (FORMAT parquet)")
            except duckdb.Error as exc:
                path.unlink(missing_ok=True)
                raise QueryError(str(exc)) from None
        return path

    def clear_exports(self) -> None:
        """Remove leftovers of interrupted exports."""
        shutil.rmtree(self.export_dir, ignore_errors=True)
        os.makedirs(self.export_dir, mode=0o700, exist_ok=True)
